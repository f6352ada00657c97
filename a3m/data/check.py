"""Check a dataset copy before training: counts against the public release, images decodable.

``check_dataset(name, root)`` loads every split, compares what it found with the public release's
counts (the registry entry's ``public_counts``; ``docs/reproduction.md``, "Dataset formats", and
the paper Sec. 4.1), lists the known quirks the loaders handled, and opens every image (or a
random sample) so a corrupt file fails here rather than an hour into training. Count differences
are notes, not problems: a synthetic or partial copy is smaller by design. Problems are what
would break a run: a split that does not load (missing file, malformed line) or an image that
cannot be decoded.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from a3m.data._io import ImageDataset, ImageReadError
from a3m.data.registry import DatasetEntry, build_dataset, get_entry

MAX_LISTED = 10
"""Unreadable images listed one by one in a report; the rest are counted."""


@dataclass
class CheckReport:
    """What :func:`check_dataset` found.

    Attributes:
        name: registry name.
        root: the root that was checked.
        counts: count name -> ``(found, expected)``; found is ``None`` when its split failed.
        quirks: known quirks the loaders handled, as lines ``"<split>: <count> <what>"``.
        problems: what would break a run (failed splits, unreadable images).
        images_checked: images opened.
        images_total: images in all loaded splits.
    """

    name: str
    root: Path
    counts: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)
    quirks: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    images_checked: int = 0
    images_total: int = 0

    @property
    def ok(self) -> bool:
        """No problems (count differences and quirks do not count)."""
        return not self.problems

    @property
    def matches_public_release(self) -> bool:
        """Every count with a public value was found and equals it."""
        return all(found == exp for found, exp in self.counts.values() if exp is not None)

    def format(self) -> str:
        """A plain-text report: counts against the public release, quirks, problems."""
        lines = [f"{self.name} at {self.root}"]
        width = max((len(k) for k in self.counts), default=10)
        lines.append(f"  {'':<{width}}  {'found':>9}  {'public':>9}")
        for what, (found, expected) in self.counts.items():
            shown = "-" if found is None else f"{found:,}"
            public = "?" if expected is None else f"{expected:,}"
            differs = found is not None and expected is not None and found != expected
            mark = "  (differs)" if differs else ""
            lines.append(f"  {what:<{width}}  {shown:>9}  {public:>9}{mark}")
        if self.images_total:
            lines.append(f"  images opened: {self.images_checked:,} of {self.images_total:,}")
        if not self.matches_public_release and self.counts:
            lines.append(
                "  note: counts differ from the public release; expected for a synthetic or "
                "partial copy, not an error"
            )
        for quirk in self.quirks:
            lines.append(f"  quirk: {quirk}")
        if self.problems:
            lines.append(f"PROBLEMS ({len(self.problems)}):")
            lines.extend(f"  - {p}" for p in self.problems)
        else:
            lines.append("no problems found")
        return "\n".join(lines)


def _count(what: str, entry: DatasetEntry, splits: dict[str, ImageDataset]) -> int | None:
    """One count of :attr:`DatasetEntry.public_counts` as found in the loaded splits; None
    when they do not tell (a split that failed, no attribute labels)."""
    first = next(iter(splits.values()))
    split, _, unit = what.partition(" ")
    if split in splits:  # "<split> images", "<split> classes", "<split> ids"
        ds = splits[split]
        if unit == "images":
            return len(ds)
        if unit == "classes":
            return len(ds.classes)
        if unit == "ids":
            return len(set(ds.pids.tolist()))
    if what in ("classes", "models"):  # CompCars counts car models
        return first.info.num_classes
    if what == "images":  # over all the splits, when all loaded
        return sum(len(ds) for ds in splits.values()) if len(splits) == len(entry.splits) else None
    if what == "binary attributes":
        return max(getattr(ds, "num_binary_attributes", 0) for ds in splits.values()) or None
    if what == "attribute heads":
        return first.info.num_attributes or None
    return None


def found_facts(entry: DatasetEntry, splits: dict[str, ImageDataset]) -> dict[str, int]:
    """The loaded splits' image counts, and the entry's public counts as found in them (also
    what :mod:`a3m.data.kind` holds against the release to tell a copy of it)."""
    facts = {f"{split} images": len(ds) for split, ds in splits.items()}
    if not splits:
        return facts
    for what in entry.public_counts:
        value = _count(what, entry, splits)
        if value is not None:
            facts[what] = value
    return facts


def _verify(dataset: ImageDataset, indices: list[int], workers: int) -> tuple[list[str], int]:
    """Open (decode, crop) the images at ``indices``; return (error messages, images opened)."""

    def open_one(index: int) -> str | None:
        try:
            dataset.load_image(index)
        except ImageReadError as err:
            return str(err)
        return None

    if workers > 1:  # PIL releases the GIL while decoding, so threads overlap well
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(open_one, indices))
    else:
        results = [open_one(i) for i in indices]
    return [r for r in results if r is not None], len(indices)


def check_dataset(
    name: str,
    root: str | Path,
    *,
    verify_images: bool = True,
    max_images: int | None = None,
    workers: int = 4,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
    **options: Any,
) -> CheckReport:
    """Load every split of a dataset copy and report what it found.

    Args:
        name: registry name (``cub``, ``cub_retrieval``, ``market1501``, ``compcars``,
            ``cars196``).
        root: the dataset root, as for :func:`a3m.data.registry.build_dataset`.
        verify_images: open every image (decode, crop) to find corrupt files.
        max_images: open at most this many randomly chosen images per split (``None``: all).
        workers: threads used to open images.
        seed: seed of the random sample.
        progress: called with a short line before each slow step (e.g. ``print``).
        **options: loader options (``bbox_crop``, ``attributes_path``, ...).

    Returns:
        a :class:`CheckReport`; ``report.ok`` is false when a split failed to load or an image
        could not be read.
    """
    entry = get_entry(name)  # an unknown name raises ValueError listing the valid ones
    report = CheckReport(name=name, root=Path(root))
    loaded: dict[str, ImageDataset] = {}
    quirk_splits: dict[tuple[str, int], list[str]] = {}
    for split in entry.splits:
        if progress:
            progress(f"loading {name}/{split}")
        try:
            loaded[split] = build_dataset(name, root, split, **options)
        except (OSError, ValueError) as err:  # DatasetFormatError is a ValueError
            report.problems.append(f"{split}: {type(err).__name__}: {err}")
            continue
        for what, count in loaded[split].quirks.items():
            quirk_splits.setdefault((what, count), []).append(split)
    # The same count in several splits (a file they share, like CUB's attribute labels) is
    # reported once.
    for (what, count), splits in quirk_splits.items():
        where = ", ".join(splits) + (" (each)" if len(splits) > 1 else "")
        report.quirks.append(f"{where}: {count:,} {what}")

    facts = found_facts(entry, loaded)
    for what, value in entry.public_counts.items():
        report.counts[what] = (facts.get(what), value)
    for what, value in facts.items():
        report.counts.setdefault(what, (value, None))

    rng = random.Random(seed)
    for split, ds in loaded.items():
        report.images_total += len(ds)
        if not verify_images:
            continue
        indices = list(range(len(ds)))
        if max_images is not None and max_images < len(indices):
            indices = sorted(rng.sample(indices, max_images))
        if progress:
            progress(f"opening {len(indices):,} {split} images")
        errors, opened = _verify(ds, indices, workers)
        report.images_checked += opened
        report.problems.extend(f"{split}: {e}" for e in errors[:MAX_LISTED])
        if len(errors) > MAX_LISTED:
            report.problems.append(
                f"{split}: ... and {len(errors) - MAX_LISTED} more unreadable images"
            )
    return report
