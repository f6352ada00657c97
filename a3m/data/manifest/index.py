"""Reading a manifest and checking it against its card, without opening an image.

:func:`load_index` reads the table (CSV with pandas; Parquet with pandas and pyarrow), and
:func:`index_problems` lists, one line each naming the row (``manifest.csv, line N``: the
header is line 1) or the column, what would make a run fail or mean nothing: missing columns,
empty cells, split values, labels and attribute values the card does not list, image files that
do not exist, classes with too few images to train and evaluate, constant attribute columns,
an image listed in a training and an evaluation split, and re-id queries whose identity has no
image in the gallery (from another camera). The checks that open the images (unreadable
files, copies by content) are :mod:`a3m.data.manifest.check`'s.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from a3m.data.base import IGNORE_INDEX, DatasetFormatError
from a3m.data.manifest.card import Card, read_card

ATTR_PREFIX = "attr:"
"""An attribute ``x`` of the card is the manifest's column ``attr:x``."""
REQUIRED = ("path", "split", "label")
MIN_TRAIN_IMAGES = 2
"""Training images a class (an identity) needs: one image teaches a class nothing it can
generalise, and a held-out part (``val_fraction``) takes pairs."""
MIN_EVAL_IMAGES = {"classification": 1, "retrieval": 2, "reid": 1}
"""Evaluation images a class needs: retrieval queries each image against the others of its
class, so one alone is never found."""
MAX_LISTED = 5
"""Rows listed per kind of problem; the rest are counted in one more line."""


@dataclass(frozen=True)
class Index:
    """A manifest's rows as arrays, with what :func:`index_problems` found.

    Attributes:
        card: the dataset card.
        frame: the manifest as read, every cell text ('' = empty).
        split: protocol split of each row ('' where the row's split value is not the card's).
        attributes: int64 (N, K): each row's value id per card attribute, ``IGNORE_INDEX``
            where empty or not one of the card's values.
        problems: one line each.
    """

    card: Card
    frame: pd.DataFrame
    split: np.ndarray
    attributes: np.ndarray
    problems: tuple[str, ...]

    def where(self, row: int) -> str:
        """``manifest.csv, line N`` (the header is line 1) or ``manifest.parquet, row N``."""
        return where(self.card, row)

    def image_path(self, row: int) -> Path:
        """The image file of a row: its ``path`` under the manifest's folder."""
        return self.card.manifest.parent / self.frame["path"].iat[row]


def where(card: Card, row: int) -> str:
    """A row (0-based) as a person finds it: ``manifest.csv, line N`` or ``..., row N``."""
    name = card.manifest.name
    return f"{name}, line {row + 2}" if card.manifest.suffix == ".csv" else f"{name}, row {row + 1}"


def _as_text(column: pd.Series) -> pd.Series:
    """Cells as stripped text, '' where empty: Parquet's numbers as written (1, not 1.0)."""

    def text(value: object) -> str:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return ""
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value).strip()

    return column.map(text).astype(object)


def read_manifest(card: Card) -> pd.DataFrame:
    """The manifest of ``card``, every cell as text ('' where empty).

    Raises:
        DatasetFormatError: a file pandas cannot parse, or Parquet without pyarrow.
    """
    path = card.manifest
    try:
        if path.suffix.lower() == ".parquet":
            try:
                import pyarrow  # noqa: F401  (pandas' Parquet engine)
            except ImportError:
                raise DatasetFormatError(
                    f"{path}: reading Parquet needs pyarrow (pip install "
                    "pyarrow), or write the manifest as CSV"
                ) from None
            frame = pd.read_parquet(path)
            return frame.apply(_as_text) if len(frame.columns) else frame
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (ValueError, OSError, pd.errors.ParserError, UnicodeDecodeError) as err:
        if isinstance(err, DatasetFormatError):
            raise
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DatasetFormatError(f"{path}: not a readable manifest table ({reason})") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame.apply(lambda c: c.str.strip()) if len(frame) else frame


class _Problems:
    """Problem lines by kind: the first :data:`MAX_LISTED` rows of a kind, then a count."""

    def __init__(self, card: Card) -> None:
        self.card = card
        self.lines: list[str] = []

    def rows(self, rows: np.ndarray | list[int], say: Callable[[int], str]) -> None:
        rows = list(rows)
        self.lines += [f"{where(self.card, r)}: {say(r)}" for r in rows[:MAX_LISTED]]
        if len(rows) > MAX_LISTED:
            first = f"{where(self.card, rows[MAX_LISTED])}: {say(rows[MAX_LISTED])}"
            self.lines.append(f"... and {len(rows) - MAX_LISTED} more rows like {first!r}")

    def add(self, line: str) -> None:
        self.lines.append(f"{self.card.manifest.name}: {line}")


def _shown(values: tuple[str, ...] | list[str]) -> str:
    listed = ", ".join(values[:8])
    return listed + (f", ... ({len(values)} in all)" if len(values) > 8 else "")


def _columns(card: Card, frame: pd.DataFrame, found: _Problems) -> bool:
    """Required and attribute columns; False when a missing one stops the row checks."""
    needed = [*REQUIRED, *(["camera"] if card.task == "reid" else [])]
    needed += [ATTR_PREFIX + a for a in card.attribute_names]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        found.add(f"missing column(s) {', '.join(missing)}; found: {', '.join(frame.columns)}")
    stray = [
        c
        for c in frame.columns
        if c.startswith(ATTR_PREFIX) and c[len(ATTR_PREFIX) :] not in card.attribute_names
    ]
    if stray:
        found.add(
            f"column(s) {', '.join(stray)} name attributes the card does not list "
            f"({_shown(card.attribute_names) or 'none'}): add them to its 'attributes' "
            "or rename the columns"
        )
    if not len(frame):
        found.add("no rows: expected one row per image")
    return not missing and len(frame) > 0


def _cells(card: Card, frame: pd.DataFrame, found: _Problems) -> np.ndarray:
    """Empty cells, split values and labels outside the card; returns each row's split."""
    for column in ("path", "split", "label", *(["camera"] if card.task == "reid" else [])):
        empty = np.flatnonzero((frame[column] == "").to_numpy())
        found.rows(empty, lambda r, c=column: f"empty {c}; expected a value in every row")
    values = card.split_values
    split = frame["split"].map(lambda v: values.get(v, "")).to_numpy(dtype=object)
    bad = np.flatnonzero((split == "") & (frame["split"] != "").to_numpy())
    found.rows(
        bad,
        lambda r: (
            f"split {frame['split'].iat[r]!r} is not one of the card's split "
            f"values ({', '.join(values)})"
        ),
    )
    if card.classes is not None:
        allowed = set(card.classes)
        outside = np.flatnonzero([v != "" and v not in allowed for v in frame["label"]])
        found.rows(
            outside,
            lambda r: (
                f"label {frame['label'].iat[r]!r} is not one of the card's "
                f"classes ({_shown(card.classes)})"
            ),
        )
    return split


def _attribute_codes(card: Card, frame: pd.DataFrame, found: _Problems) -> np.ndarray:
    """Each row's value id per attribute (IGNORE_INDEX: empty or outside the card)."""
    codes = np.full((len(frame), len(card.attributes)), IGNORE_INDEX, dtype=np.int64)
    for k, (name, values) in enumerate(card.attributes):
        column = frame[ATTR_PREFIX + name]
        ids = column.map({v: i for i, v in enumerate(values)})
        known = ids.notna().to_numpy()
        codes[known, k] = ids[known].astype(np.int64)
        outside = np.flatnonzero(~known & (column != "").to_numpy())
        found.rows(
            outside,
            lambda r, c=column, n=name, v=values: (
                f"{ATTR_PREFIX}{n} {c.iat[r]!r} is not one of the card's values ({_shown(v)})"
            ),
        )
    return codes


def _images_exist(card: Card, frame: pd.DataFrame, found: _Problems) -> None:
    base = card.manifest.parent
    missing = [r for r, p in enumerate(frame["path"]) if p and not os.path.isfile(base / p)]
    found.rows(
        missing,
        lambda r: (
            f"image {frame['path'].iat[r]} does not exist "
            f"({os.path.normpath(base / frame['path'].iat[r])})"
        ),
    )


def _first_rows(rows: np.ndarray, keys: np.ndarray) -> dict[str, int]:
    """key -> the first row (0-based) holding it."""
    out: dict[str, int] = {}
    for r, key in zip(rows, keys, strict=True):
        out.setdefault(key, int(r))
    return out


def _class_sizes(card: Card, frame: pd.DataFrame, split: np.ndarray, found: _Problems) -> None:
    """Classes (identities) with too few images to train on, or to evaluate; each named by
    its first training row (a class of the card without one: by the file)."""
    labels = frame["label"].to_numpy(dtype=object)
    train = (split == "train") & (labels != "")
    counts = pd.Series(labels[train]).value_counts()
    first = _first_rows(np.flatnonzero(train), labels[train])
    for label in card.classes or () if card.task == "classification" else ():
        if label not in first:
            found.add(f"class {label!r} of the card has no training image")
    few = [first[c] for c in counts.index if counts[c] < MIN_TRAIN_IMAGES]
    found.rows(
        sorted(few),
        lambda r: (
            f"class {labels[r]!r} has {counts[labels[r]]} training "
            f"image; a class needs at least {MIN_TRAIN_IMAGES} to train"
        ),
    )
    for name in card.eval_splits if card.task != "reid" else ():
        rows = np.flatnonzero((split == name) & (labels != ""))
        held = pd.Series(labels[rows]).value_counts()
        if card.task == "classification":
            unseen = [r for r in rows if labels[r] not in first]
            found.rows(
                unseen,
                lambda r, s=name: (
                    f"label {labels[r]!r} ({s}) has no training "
                    "image: the classifier cannot predict it"
                ),
            )
            empty = sorted(first[c] for c in counts.index if c not in held.index)
            found.rows(
                empty, lambda r, s=name: f"class {labels[r]!r} has no {s} image to evaluate it"
            )
        else:
            lone = _first_rows(rows, labels[rows])
            few = sorted(lone[c] for c in held.index if held[c] < MIN_EVAL_IMAGES[card.task])
            found.rows(
                few,
                lambda r, s=name: (
                    f"class {labels[r]!r} has 1 {s} image: "
                    f"retrieval needs at least {MIN_EVAL_IMAGES['retrieval']} per class (a "
                    "query finds the others)"
                ),
            )


def _constant_attributes(
    card: Card, codes: np.ndarray, split: np.ndarray, found: _Problems
) -> None:
    train = codes[split == "train"]
    for k, (name, values) in enumerate(card.attributes):
        known = train[:, k][train[:, k] != IGNORE_INDEX]
        if len(np.unique(known)) <= 1:
            what = f"every known value is {values[int(known[0])]!r}" if len(known) else "no value"
            found.add(
                f"column {ATTR_PREFIX}{name} is constant in the training split ({what}): "
                "an attribute that never varies teaches nothing; drop it from the card"
            )


def _shared_paths(card: Card, frame: pd.DataFrame, split: np.ndarray, found: _Problems) -> None:
    """The same file listed in a training and an evaluation split (copies by content:
    :mod:`a3m.data.manifest.check`)."""
    paths = frame["path"].map(os.path.normpath).to_numpy(dtype=object)
    train_rows = np.flatnonzero(split == "train")
    first_train = _first_rows(train_rows, paths[train_rows])
    leaked = [
        r for r in np.flatnonzero(np.isin(split, card.eval_splits)) if paths[r] in first_train
    ]
    found.rows(
        leaked,
        lambda r: (
            f"image {frame['path'].iat[r]} ({split[r]}) is also a training "
            f"image ({where(card, first_train[paths[r]])}): evaluation must see new images"
        ),
    )


def _queries_found(card: Card, frame: pd.DataFrame, split: np.ndarray, found: _Problems) -> None:
    """Re-id: every query identity has a gallery image from another camera (the protocol
    drops the gallery images of the query's identity taken by the query's camera)."""
    labels, cameras = frame["label"].to_numpy(dtype=object), frame["camera"].to_numpy(dtype=object)
    gallery = split == "gallery"
    seen: dict[str, set[str]] = {}
    for label, camera in zip(labels[gallery], cameras[gallery], strict=True):
        seen.setdefault(label, set()).add(camera)
    queries = np.flatnonzero((split == "query") & (labels != ""))
    absent = [r for r in queries if labels[r] not in seen]
    found.rows(
        absent,
        lambda r: (
            f"query identity {labels[r]!r} has no image in the gallery: "
            "the query can never be matched"
        ),
    )
    same = [r for r in queries if labels[r] in seen and seen[labels[r]] <= {cameras[r]}]
    found.rows(
        same,
        lambda r: (
            f"query identity {labels[r]!r} is in the gallery only from its "
            f"own camera {cameras[r]!r}, which the protocol leaves out: never matched"
        ),
    )


def index_problems(card: Card, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Check a manifest against its card without opening an image.

    Returns:
        (each row's protocol split, the attribute value ids (N, K), the problem lines).
    """
    found = _Problems(card)
    empty = np.zeros((len(frame), len(card.attributes)), dtype=np.int64)
    if not _columns(card, frame, found):
        return np.full(len(frame), "", dtype=object), empty, found.lines
    split = _cells(card, frame, found)
    codes = _attribute_codes(card, frame, found)
    _images_exist(card, frame, found)
    for name, _ in card.splits:
        if not (split == name).any():
            value = dict(card.splits)[name]
            found.add(
                f"no row of the {name} split (split value {value!r}); the {card.task} "
                f"protocol needs {', '.join(s for s, _ in card.splits)}"
            )
    _class_sizes(card, frame, split, found)
    _constant_attributes(card, codes, split, found)
    _shared_paths(card, frame, split, found)
    if card.task == "reid":
        _queries_found(card, frame, split, found)
    return split, codes, found.lines


def load_index(path: str | Path) -> Index:
    """The manifest of the card at ``path`` read and checked (once per process while the card
    and the manifest stay the same): ``index.problems`` says what :func:`index_problems` found.

    Raises:
        FileNotFoundError, DatasetFormatError: no card or manifest, a bad card, a manifest
            pandas cannot parse.
    """
    card = read_card(path)
    stamps = tuple((s.st_mtime_ns, s.st_size) for s in (card.path.stat(), card.manifest.stat()))
    return _load(card, stamps)


@lru_cache(maxsize=4)
def _load(card: Card, stamps: tuple[tuple[int, int], ...]) -> Index:
    del stamps  # a cache key only
    frame = read_manifest(card)
    split, codes, problems = index_problems(card, frame)
    return Index(card, frame, split, codes, tuple(problems))
