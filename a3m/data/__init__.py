"""Datasets in their public on-disk formats, their transforms, and synthetic copies.

``build_dataset(name, root, split, transform=None, **options)`` loads a split by registry name
(``cub``, ``cub_retrieval``, ``market1501``, ``compcars``, ``cars196``);
``build_transform(name, train)`` gives the paper's transforms; ``check_dataset(name, root)``
checks a copy against the public release. Items follow :mod:`a3m.data.base`. What each dataset
is (task, protocol, input size, synthetic copy, ...) is its :class:`DatasetEntry`
(``get_entry(name)``); the tasks' protocols are :data:`a3m.data.tasks.TASKS`.
"""

from a3m.data._io import ImageDataset, ImageReadError
from a3m.data.base import IGNORE_INDEX, DatasetFormatError, DatasetInfo
from a3m.data.cars196 import Cars196
from a3m.data.check import CheckReport, check_dataset
from a3m.data.compcars import CompCars
from a3m.data.cub import CUB, CUBRetrieval
from a3m.data.market1501 import Market1501
from a3m.data.registry import (
    DATASETS,
    DatasetEntry,
    build_dataset,
    dataset_names,
    dataset_options,
    dataset_splits,
    get_entry,
)
from a3m.data.transforms import build_transform

__all__ = [
    "CUB",
    "DATASETS",
    "IGNORE_INDEX",
    "Cars196",
    "CheckReport",
    "CompCars",
    "CUBRetrieval",
    "DatasetEntry",
    "DatasetFormatError",
    "DatasetInfo",
    "ImageDataset",
    "ImageReadError",
    "Market1501",
    "build_dataset",
    "build_transform",
    "check_dataset",
    "dataset_names",
    "dataset_options",
    "dataset_splits",
    "get_entry",
]
