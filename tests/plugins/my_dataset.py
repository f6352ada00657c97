"""A user's dataset registered from outside a3m: here CUB's format under a name of its own
(a loader of the user's own format would go in a DatasetEntry the same way)."""

import dataclasses

from a3m.data.registry import DATASETS, register_dataset

register_dataset(dataclasses.replace(DATASETS["cub"], name="my_birds"))
