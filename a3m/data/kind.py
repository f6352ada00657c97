"""What a run's data is: the paper's public release, a synthetic copy, your own data, or a dry
run's made-up numbers (:class:`DataKind`).

Decided when a run starts (:func:`dataset_kind`; the study layer logs it on every training run as
the tag :data:`KIND_TAG`) and read back by whatever reports the run (:func:`kind_of_run`): the
paper's numbers and claims are about its public release, and are held against a run only when
its data is that release.

A copy is the release when every count the release states of its images, classes and
identities (the registry's ``public_counts``, as ``a3m data check`` compares them) is what the
copy holds. The attribute counts are left out: telling a copy apart needs only the split
indexes, not CUB's 3.7 million lines of attribute labels. A listed image that a copy lacks
(CompCars' copies lack a few; the loader skips and counts them) still counts as listed, up to
:data:`MISSING_TOLERANCE` of a split: such a copy is the release (docs/reproduction.md,
"CompCars"). Runs logged before the tag get what their other records say: the dry-run
fingerprint prefix, the ``synthetic`` param, else :attr:`DataKind.UNRECORDED`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from typing import Any

from a3m.data.check import found_facts
from a3m.data.compcars import QUIRK_MISSING
from a3m.data.registry import DATASETS, build_dataset, get_entry
from a3m.data.synthetic import MANIFEST_NAME

KIND_TAG = "a3m.data.kind"
"""The tag of a training run that says what its data is (a :class:`DataKind` value)."""

DRY_RUN_PREFIX = "dry-run-"
"""Put before a dataset's fingerprint in a dry run (:mod:`a3m.study.dry_run`): a made-up run
never has the identity of a trained one, and a report tells it by this prefix."""


class DataKind(str, Enum):
    """What a run's data is; the value is what the tag :data:`KIND_TAG` holds."""

    PAPER = "paper_release"
    SYNTHETIC = "synthetic"
    OWN = "own_data"
    DRY_RUN = "dry_run"
    UNRECORDED = "unrecorded"

    @property
    def label(self) -> str:
        """The kind in words: ``"the paper's public release"``, ``"your own data"``, ..."""
        return _LABELS[self]

    @property
    def compares_with_paper(self) -> bool:
        """Whether the paper's numbers and claims are about this data: its public release, or
        real data logged before the kind was recorded (taken as before, and said so)."""
        return self in (DataKind.PAPER, DataKind.UNRECORDED)


_LABELS = {
    DataKind.PAPER: "the paper's public release",
    DataKind.SYNTHETIC: "synthetic copy",
    DataKind.OWN: "your own data",
    DataKind.DRY_RUN: "dry run (made-up numbers)",
    DataKind.UNRECORDED: "real data, kind not recorded",
}

MISSING_TOLERANCE = 0.01
"""The share of a split's listed images a copy may lack and still be the release."""

PRECEDENCE = (DataKind.DRY_RUN, DataKind.SYNTHETIC, DataKind.OWN, DataKind.UNRECORDED,
              DataKind.PAPER)  # fmt: skip
"""Runs of several kinds are reported as the first of them here: the least comparable."""


def release_counts(name: str) -> dict[str, int]:
    """The counts of images, classes and identities that the public release of dataset ``name``
    states (its attribute counts and counts it does not state left out)."""
    counts = get_entry(name).public_counts
    return {k: v for k, v in counts.items() if v is not None and "attribute" not in k}


def copy_counts(name: str, root: str | Path) -> dict[str, int]:
    """The counts of :func:`release_counts` as a copy at ``root`` holds them: every split's
    index loaded (no image opened, no attribute label parsed), a listed image the copy lacks
    counted as listed (up to :data:`MISSING_TOLERANCE` of its split).

    Raises:
        OSError, ValueError: a split does not load (``DatasetFormatError`` is a ValueError).
    """
    entry = get_entry(name)
    options = {"attributes": False} if "attributes" in entry.options else {}
    splits = {split: build_dataset(name, root, split, **options) for split in entry.splits}
    counts = found_facts(entry, splits)
    for split, dataset in splits.items():
        missing = dataset.quirks.get(QUIRK_MISSING, 0)
        if missing <= MISSING_TOLERANCE * (len(dataset) + missing):
            counts[f"{split} images"] += missing
    return counts


def is_release(name: str, counts: Mapping[str, int]) -> bool:
    """Whether ``counts`` (:func:`copy_counts`) are those of the public release of ``name``."""
    return all(counts.get(what) == value for what, value in release_counts(name).items())


def decide_kind(
    name: str,
    counts: Mapping[str, int] | None,
    *,
    synthetic: bool = False,
    dry_run: bool = False,
) -> DataKind:
    """The kind of a run's data: a dry run first (its numbers are made up whatever it read),
    then a synthetic copy, then the release when ``counts`` are its own, else your own data
    (``counts`` None: the copy could not be counted; a dataset the registry does not hold, such
    as a manifest of your own, has no public release)."""
    if dry_run:
        return DataKind.DRY_RUN
    if synthetic:
        return DataKind.SYNTHETIC
    if counts is None or name not in DATASETS:
        return DataKind.OWN
    return DataKind.PAPER if is_release(name, counts) else DataKind.OWN


@functools.lru_cache(maxsize=32)
def counts_or_none(name: str, root: str) -> dict[str, int] | None:
    """:func:`copy_counts`, or None where the copy does not load; kept for the process (a
    worker running several trials on one copy counts it once)."""
    try:
        return copy_counts(name, root)
    except (OSError, ValueError):
        return None


def dataset_kind(
    name: str, root: str | Path, *, fingerprint: str = "", synthetic: bool = False
) -> DataKind:
    """What the copy of dataset ``name`` at ``root`` is, for a run that reads it.

    Args:
        name: registry name.
        root: the folder the run's loader reads.
        fingerprint: the run's data fingerprint; :data:`DRY_RUN_PREFIX` marks a dry run.
        synthetic: the run asked for a synthetic copy; a folder holding the synthetic cache's
            manifest is one too.
    """
    dry_run = fingerprint.startswith(DRY_RUN_PREFIX)
    synthetic = synthetic or (Path(root) / MANIFEST_NAME).is_file()
    if dry_run or synthetic:
        return decide_kind(name, None, synthetic=synthetic, dry_run=dry_run)
    counted = name in DATASETS  # a dataset of your own has no release to count against
    return decide_kind(name, counts_or_none(name, str(root)) if counted else None)


def kind_of_run(recorded: Any = None, fingerprint: Any = None, synthetic: Any = None) -> DataKind:
    """A run's kind from its records: the tag :data:`KIND_TAG` (``recorded``) where it has one;
    else, for runs logged before it, a dry-run fingerprint, the ``synthetic`` param, else
    :attr:`DataKind.UNRECORDED`. Missing values may be None or NaN (a runs frame's)."""
    if isinstance(recorded, str) and recorded in {k.value for k in DataKind}:
        return DataKind(recorded)
    if isinstance(fingerprint, str) and fingerprint.startswith(DRY_RUN_PREFIX):
        return DataKind.DRY_RUN
    if str(synthetic).strip().lower() == "true":
        return DataKind.SYNTHETIC
    return DataKind.UNRECORDED


def dataset_title(name: str) -> str:
    """``"CUB-200-2011 (cub)"``: a dataset by its release's name and its registry name."""
    try:
        title = get_entry(name).title or name
    except (OSError, ValueError):  # a name this code does not know (a run of other code)
        title = name
    return f"{title} ({name})" if title != name else name


def describe_data(name: str, kind: DataKind) -> str:
    """``"CUB-200-2011 (cub): your own data"``: the dataset by name and what it is."""
    return f"{dataset_title(name)}: {kind.label}"
