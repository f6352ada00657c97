"""Datasets by name: ``build_dataset(name, root, split, transform=None, **options)``.

One entry per task on a public release; each names its loader class, its splits and its task.
Loader options (``bbox_crop``, ``attributes``, ...) pass through ``**options``; an unknown name,
split or option raises ``ValueError`` listing the valid ones.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from a3m.data._io import ImageDataset
from a3m.data.cars196 import Cars196
from a3m.data.compcars import CompCars
from a3m.data.cub import CUB, CUBRetrieval
from a3m.data.market1501 import Market1501


@dataclass(frozen=True)
class DatasetEntry:
    """A registered dataset.

    Attributes:
        name: registry name.
        loader: the :class:`~a3m.data._io.ImageDataset` subclass that reads it.
        splits: valid split names, the training split first.
        task: ``"classification"``, ``"reid"`` or ``"retrieval"``.
        root_hint: what ``root`` should point at.
    """

    name: str
    loader: type[ImageDataset]
    splits: tuple[str, ...]
    task: str
    root_hint: str


DATASETS: dict[str, DatasetEntry] = {
    "cub": DatasetEntry(
        "cub", CUB, ("train", "test"), "classification", "folder containing CUB_200_2011/"
    ),
    "cub_retrieval": DatasetEntry(
        "cub_retrieval",
        CUBRetrieval,
        ("train", "test"),
        "retrieval",
        "folder containing CUB_200_2011/",
    ),
    "market1501": DatasetEntry(
        "market1501",
        Market1501,
        ("train", "query", "gallery"),
        "reid",
        "folder containing Market-1501-v15.09.15/",
    ),
    "compcars": DatasetEntry(
        "compcars",
        CompCars,
        ("train", "test"),
        "classification",
        "CompCars folder containing data/",
    ),
    "cars196": DatasetEntry(
        "cars196", Cars196, ("train", "test"), "retrieval", "folder containing cars_annos.mat"
    ),
}


def dataset_names() -> tuple[str, ...]:
    """Registered dataset names."""
    return tuple(DATASETS)


def get_entry(name: str) -> DatasetEntry:
    """The registry entry of ``name``; ``ValueError`` listing the valid names if unknown."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}")
    return DATASETS[name]


def dataset_splits(name: str) -> tuple[str, ...]:
    """Valid splits of dataset ``name``, the training split first."""
    return get_entry(name).splits


def dataset_options(name: str) -> dict[str, Any]:
    """Keyword options of dataset ``name``'s loader with their defaults."""
    signature = inspect.signature(get_entry(name).loader.__init__)
    return {
        p.name: p.default
        for p in signature.parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }


def build_dataset(
    name: str,
    root: str | Path,
    split: str,
    transform: Callable[[Image.Image], Any] | None = None,
    **options: Any,
) -> ImageDataset:
    """Load one split of a registered dataset.

    Args:
        name: one of :func:`dataset_names` (``cub``, ``cub_retrieval``, ``market1501``,
            ``compcars``, ``cars196``).
        root: the dataset as the public release unpacks (see each loader's docstring).
        split: one of :func:`dataset_splits` for ``name``.
        transform: applied to each RGB PIL image, e.g. from
            :func:`a3m.data.transforms.build_transform`.
        **options: loader options, e.g. ``bbox_crop=True``, ``attributes=False``.

    Returns:
        the split as an :class:`~a3m.data._io.ImageDataset` (``.info``, ``.labels``, ...).
    """
    entry = get_entry(name)
    if split not in entry.splits:
        raise ValueError(
            f"unknown split {split!r} of {name}; valid splits: {', '.join(entry.splits)}"
        )
    valid = dataset_options(name)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(unknown)} for {name}; valid options: "
            + (", ".join(f"{k}={v!r}" for k, v in valid.items()) or "none")
        )
    return entry.loader(root, split, transform, **options)
