"""Datasets in their public on-disk formats, their transforms, and synthetic copies.

``build_dataset(name, root, split, transform=None, **options)`` loads a split by registry name
(``cub``, ``cub_retrieval``, ``market1501``, ``compcars``, ``cars196``);
``build_transform(name, train)`` gives the paper's transforms; ``check_dataset(name, root)``
checks a copy against the public release. Items follow :mod:`a3m.data.base`.
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
    build_dataset,
    dataset_names,
    dataset_options,
    dataset_splits,
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
]
