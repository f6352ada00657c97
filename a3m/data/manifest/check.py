"""``a3m data check`` of a manifest dataset, and the same check before a run trains on one.

:func:`check_manifest` reads the card and the manifest, lists what
:func:`~a3m.data.manifest.index.index_problems` finds, then reads every listed image once:
its bytes are hashed (SHA-256), so that the same image under two names in a training and an
evaluation split is found, and decoded, so that a file that is not an image, or a truncated
one, is found before a run meets it. :func:`check_before_training` runs it where a study or
``a3m train`` starts, before anything is written to MLflow: a manifest with problems stops
them with one line.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from a3m.data.base import DatasetFormatError
from a3m.data.check import CheckReport
from a3m.data.manifest.card import PREFIX, is_manifest_name, read_card
from a3m.data.manifest.index import MAX_LISTED, Index, load_index


class ManifestReport(CheckReport):
    """A :class:`~a3m.data.check.CheckReport` of a manifest: counts found (there is no public
    release to hold them against), problems each naming its row or file."""

    def format(self) -> str:
        """A plain-text report: the counts, the images opened, the problems."""
        lines = [f"{self.name} at {self.root}"]
        width = max((len(k) for k in self.counts), default=10)
        for what, (found, _) in self.counts.items():
            lines.append(f"  {what:<{width}}  {'-' if found is None else f'{found:,}':>9}")
        if self.images_total:
            lines.append(f"  images opened: {self.images_checked:,} of {self.images_total:,}")
        lines += [f"  note: {q}" for q in self.quirks]
        if self.problems:
            lines.append(f"PROBLEMS ({len(self.problems)}):")
            lines.extend(f"  - {p}" for p in self.problems)
        else:
            lines.append("no problems found")
        return "\n".join(lines)


def _counts(index: Index) -> dict[str, tuple[int | None, int | None]]:
    """Images per split, then classes (identities) per split, then attribute heads."""
    card, labels = index.card, index.frame["label"].to_numpy(dtype=object)
    unit = "identities" if card.task == "reid" else "classes"
    counts: dict[str, tuple[int | None, int | None]] = {}
    for split, _ in card.splits:
        counts[f"{split} images"] = (int((index.split == split).sum()), None)
    for split, _ in card.splits:
        counts[f"{split} {unit}"] = (len(set(labels[index.split == split])), None)
    counts["attribute heads"] = (len(card.attributes), None)
    return counts


def _read_one(path: Path, decode: bool) -> tuple[str | None, str | None]:
    """(SHA-256 of the file, the error) of one image; decoded too when ``decode``."""
    try:
        data = path.read_bytes()
        if decode:
            with Image.open(io.BytesIO(data)) as im:
                im.convert("RGB")  # decodes the whole file: a truncated one fails here
    except UnidentifiedImageError:
        return None, f"cannot read image {path}: not an image file PIL can decode"
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        return None, f"cannot read image {path}: {err}"
    return hashlib.sha256(data).hexdigest(), None


def _read_images(
    index: Index, rows: list[int], decode: set[int], workers: int
) -> dict[int, tuple[str | None, str | None]]:
    """Row -> (hash, error) for ``rows``, decoding the rows in ``decode``; the files are read
    in threads (reading and PIL's decoding release the GIL)."""
    jobs = [(index.image_path(r), r in decode) for r in rows]
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = list(pool.map(lambda job: _read_one(*job), jobs))
    return dict(zip(rows, results, strict=True))


def _copies_across_splits(index: Index, hashes: dict[int, str]) -> list[str]:
    """The same content in a training and an evaluation row (under another name: the same
    name is :func:`~a3m.data.manifest.index.index_problems`'s)."""
    first_train: dict[str, int] = {}
    for row in sorted(hashes):
        if index.split[row] == "train":
            first_train.setdefault(hashes[row], row)
    paths = index.frame["path"]
    found = []
    for row in sorted(hashes):
        twin = first_train.get(hashes[row])
        if index.split[row] in index.card.eval_splits and twin is not None:
            if paths.iat[twin] != paths.iat[row]:
                found.append(
                    f"{index.where(row)}: image {paths.iat[row]} ({index.split[row]}) "
                    f"has the content of the training image {paths.iat[twin]} "
                    f"({index.where(twin)}, sha256 {hashes[row][:12]}): evaluation must "
                    "see new images"
                )
    return found


def _image_problems(
    index: Index, report: ManifestReport, max_images: int | None, workers: int, seed: int
) -> None:
    """Read every listed image that exists (hash), decode all or ``max_images`` of them."""
    exists = [r for r in range(len(index.frame)) if index.image_path(r).is_file()]
    decode = set(exists)
    if max_images is not None and max_images < len(exists):
        decode = set(random.Random(seed).sample(exists, max_images))
    results = _read_images(index, exists, decode, workers)
    report.images_checked = len(decode)
    errors = [f"{index.where(r)}: {err}" for r, (_, err) in results.items() if err]
    report.problems += errors[:MAX_LISTED]
    if len(errors) > MAX_LISTED:
        report.problems.append(f"... and {len(errors) - MAX_LISTED} more unreadable images")
    hashes = {r: h for r, (h, _) in results.items() if h is not None}
    copies = _copies_across_splits(index, hashes)
    report.problems += copies[:MAX_LISTED]
    if len(copies) > MAX_LISTED:
        report.problems.append(
            f"... and {len(copies) - MAX_LISTED} more evaluation images "
            "with the content of a training image"
        )
    paths = index.frame["path"].map(os.path.normpath)
    named = {(h, paths.iat[r]) for r, h in hashes.items()}  # one content under one name
    repeated = len(named) - len({h for h, _ in named})
    if repeated:
        report.quirks.append(
            f"{repeated} image file(s) repeat the content of another file "
            "listed (the same image under two names)"
        )


def check_manifest(
    root: str | Path,
    *,
    verify_images: bool = True,
    max_images: int | None = None,
    workers: int = 4,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> ManifestReport:
    """Check a manifest dataset: its card, every row against the card, and its images.

    Args:
        root: the card, the manifest or their folder.
        verify_images: read every image (hash) and decode it; off: only the files' existence.
        max_images: decode at most this many randomly chosen images (all are still hashed).
        workers: threads reading the images.
        seed: seed of the random sample.
        progress: called with a short line before each slow step (e.g. ``print``).

    Returns:
        the report; ``report.ok`` is false when it lists problems (each one line naming the
        card, the manifest's row or column, or the image).
    """
    report = ManifestReport(name=f"{PREFIX}{root}", root=Path(root))
    try:
        card = read_card(root)
        report.name, report.root = f"{PREFIX}{card.path}", card.path.parent
        if progress:
            progress(f"reading {card.manifest.name}")
        index = load_index(card.path)
    except (OSError, ValueError) as err:  # DatasetFormatError is a ValueError
        report.problems.append(f"{type(err).__name__}: {err}")
        return report
    report.counts = _counts(index)
    report.problems += index.problems
    report.images_total = len(index.frame)
    if verify_images and len(index.frame):
        if progress:
            progress(f"reading {len(index.frame):,} images (hash, decode)")
        _image_problems(index, report, max_images, workers, seed)
    return report


def manifest_problem(dataset: str, *, workers: int = 4) -> str | None:
    """The check a study or ``a3m train`` runs before it writes anything, for a manifest
    dataset (None for a registered one, whose copy the study's preflight loads): one line,
    the first problem, how many more and the command that lists them all; None when there
    is none."""
    if not is_manifest_name(dataset):
        return None
    try:
        card = read_card(dataset[len(PREFIX) :])
    except (OSError, ValueError) as err:  # no card, a bad card
        return str(err)
    report = check_manifest(card.path, workers=workers)
    if not report.problems:
        return None
    more = len(report.problems) - 1
    also = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return (
        f"{card.path}: {report.problems[0]}{also}; `a3m data check --dataset "
        f"{PREFIX}{card.path}` lists every problem"
    )


def check_before_training(dataset: str, *, workers: int = 4) -> None:
    """:func:`manifest_problem` as an error.

    Raises:
        DatasetFormatError: its line.
    """
    problem = manifest_problem(dataset, workers=workers)
    if problem:
        raise DatasetFormatError(problem)
