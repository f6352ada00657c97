"""From a folder per class (torchvision's ImageFolder layout) and an attribute table to a
manifest dataset (:mod:`a3m.data.manifest`).

The layout: ``ROOT/<class>/<image>`` (one folder per class; files with an image suffix, in any
depth below it), or ``ROOT/train/<class>/...`` beside ``ROOT/test/<class>/...`` (or ``val/``)
when the split is already made. The attribute table is a CSV with **one row per class**: a
``class`` column (the class folder's name) and one column per attribute; its distinct
non-empty values, sorted, are the attribute's values in the card; an empty cell is unknown.
(Per-image attributes: write the manifest directly, docs/your_data.md.)

Without split folders, each class's images are split at random (seeded) into train and test by
``test_fraction``. The images stay where they are: the manifest's paths lead from its folder to
them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from a3m.data.base import DatasetFormatError
from a3m.data.manifest.card import CARD_NAME, MANIFEST_NAMES, NAME_PATTERN, card_json
from a3m.data.manifest.index import ATTR_PREFIX

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
"""torchvision's ``IMG_EXTENSIONS``: what ImageFolder takes for an image."""
SPLIT_FOLDERS = {"train": ("train",), "test": ("test", "val")}
"""Split folders a ROOT may hold instead of the class folders themselves."""
TASKS = ("classification", "retrieval")
"""The tasks a folder per class can be (re-id needs a camera per image, which it has not)."""


@dataclass(frozen=True)
class Converted:
    """What :func:`convert_imagefolder` wrote.

    Attributes:
        card: the card's path (``--dataset manifest:<card's folder>``).
        images: rows of the manifest, by split.
        classes: class folders found.
    """

    card: Path
    images: dict[str, int]
    classes: int


def _images_of(folder: Path) -> list[Path]:
    """The image files below ``folder``, in sorted order (ImageFolder's)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames.sort()
        found += [
            Path(dirpath) / n for n in sorted(filenames) if n.lower().endswith(IMAGE_SUFFIXES)
        ]
    return found


def _class_folders(root: Path) -> dict[str, Path]:
    folders = {
        p.name: p for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith(".")
    }
    if not folders:
        raise DatasetFormatError(
            f"{root}: no class folder: expected ROOT/<class>/<images> "
            "(torchvision's ImageFolder layout)"
        )
    return folders


def scan_imagefolder(root: str | Path) -> tuple[dict[str, dict[str, list[Path]]], bool]:
    """``{split or '': {class: [image paths]}}`` and whether ROOT had split folders."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"{root} not found: expected a folder per class (ImageFolder)")
    split_dirs = {
        s: next((root / n for n in names if (root / n).is_dir()), None)
        for s, names in SPLIT_FOLDERS.items()
    }
    if all(split_dirs.values()):
        tree = {
            s: {c: _images_of(p) for c, p in _class_folders(d).items()}
            for s, d in split_dirs.items()
            if d is not None
        }
        return tree, True
    return {"": {c: _images_of(p) for c, p in _class_folders(root).items()}}, False


def read_class_attributes(path: str | Path, classes: list[str]) -> dict[str, dict[str, str]]:
    """``{attribute: {class: value}}`` from a CSV with one row per class.

    Raises:
        DatasetFormatError: no ``class`` column, a class repeated, a class folder without a
            row or a row without a class folder (one line, naming the file and the class).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: expected the attribute table (CSV, a row per class)"
        )
    table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    table.columns = [str(c).strip() for c in table.columns]
    if "class" not in table.columns or len(table.columns) < 2:
        raise DatasetFormatError(
            f"{path}: expected a 'class' column (the class folder's name) "
            f"and one column per attribute; found {', '.join(table.columns)}"
        )
    table = table.apply(lambda c: c.str.strip())
    repeated = table["class"][table["class"].duplicated()]
    if len(repeated):
        line = int(repeated.index[0]) + 2
        raise DatasetFormatError(
            f"{path}, line {line}: class {repeated.iat[0]!r} has a row "
            "already: expected one row per class"
        )
    rows = set(table["class"])
    for c in classes:
        if c not in rows:
            raise DatasetFormatError(f"{path}: no row for the class folder {c!r}")
    for line, c in enumerate(table["class"], start=2):
        if c not in set(classes):
            raise DatasetFormatError(f"{path}, line {line}: class {c!r} has no folder")
    for name in table.columns[1:]:
        if not NAME_PATTERN.match(name):
            raise DatasetFormatError(
                f"{path}: column {name!r}: an attribute name of letters, digits, '_', '.' or '-'"
            )
    return {a: dict(zip(table["class"], table[a], strict=True)) for a in table.columns[1:]}


def _split_rows(
    tree: dict[str, dict[str, list[Path]]], task: str, test_fraction: float, seed: int
) -> list[tuple[Path, str, str]]:
    """(image, split, class) rows: the split folders', or a seeded split per class
    (classification) or by class (retrieval: the first part of the sorted classes trains)."""
    if "" not in tree:
        return [(p, s, c) for s, classes in tree.items() for c, ps in classes.items() for p in ps]
    classes = tree[""]
    rows = []
    if task == "retrieval":
        names = sorted(classes)
        n_test = max(1, round(len(names) * test_fraction))
        held = set(names[len(names) - n_test :])
        return [(p, "test" if c in held else "train", c) for c in names for p in classes[c]]
    for k, (c, paths) in enumerate(sorted(classes.items())):
        order = np.random.default_rng([seed, k]).permutation(len(paths))
        n_test = round(len(paths) * test_fraction) if len(paths) > 2 else 0
        rows += [(p, "test" if order[i] < n_test else "train", c) for i, p in enumerate(paths)]
    return rows


def convert_imagefolder(
    root: str | Path,
    out: str | Path,
    *,
    attributes: str | Path | None = None,
    name: str | None = None,
    task: str = "classification",
    input_size: tuple[int, int] = (224, 224),
    test_fraction: float = 0.3,
    seed: int = 0,
) -> Converted:
    """Write ``out/manifest.csv`` and ``out/card.json`` for an ImageFolder tree.

    Args:
        root: the folder per class (or with ``train/`` and ``test/`` or ``val/`` inside).
        out: where the manifest and the card go (created); the images are not copied.
        attributes: the attribute table, one row per class (None: no attributes).
        name: the dataset's name (default: ``root``'s folder name).
        task: ``classification`` or ``retrieval`` (retrieval takes no attribute table).
        input_size: (height, width) the runs train at.
        test_fraction: without split folders, each class's share of test images
            (retrieval: the share of classes).
        seed: seed of that split.
    """
    _check_options(task, test_fraction, attributes)
    root, out = Path(root).expanduser().resolve(), Path(out).expanduser().resolve()
    tree, _ = scan_imagefolder(root)
    classes = sorted({c for split in tree.values() for c in split})
    table = read_class_attributes(attributes, classes) if attributes is not None else {}
    rows = _split_rows(tree, task, test_fraction, seed)
    frame = pd.DataFrame({
        "path": [os.path.relpath(p, out) for p, _, _ in rows],
        "split": [s for _, s, _ in rows],
        "label": [c for _, _, c in rows],
    })  # fmt: skip
    for attribute, of_class in table.items():
        frame[f"{ATTR_PREFIX}{attribute}"] = frame["label"].map(of_class)
    values = _attribute_values(table, attributes)
    out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out / MANIFEST_NAMES[0], index=False, lineterminator="\n")
    text = card_json(name or _safe_name(root.name), task, input_size, values,
                     description=f"converted from the folder per class {root}")  # fmt: skip
    (out / CARD_NAME).write_text(text, encoding="utf-8")
    counts = frame["split"].value_counts()
    images = {s: int(counts.get(s, 0)) for s in ("train", "test")}
    return Converted(out / CARD_NAME, images, len(classes))


def _check_options(task: str, test_fraction: float, attributes: str | Path | None) -> None:
    """ValueError, one line, for options the converter cannot honour."""
    if task not in TASKS:
        raise ValueError(
            f"task must be one of {', '.join(TASKS)} (re-id needs cameras: write "
            f"its manifest directly), got {task!r}"
        )
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    if attributes is not None and task == "retrieval":
        raise ValueError(
            "the retrieval protocol trains without attribute labels: leave out "
            "the attribute table, or convert for classification"
        )


def _attribute_values(
    table: dict[str, dict[str, str]], source: str | Path | None
) -> dict[str, list[str]]:
    """Each attribute's values for the card: its distinct non-empty values, sorted.

    Raises:
        DatasetFormatError: an attribute with fewer than two values (it cannot teach).
    """
    values = {a: sorted({v for v in of_class.values() if v}) for a, of_class in table.items()}
    for attribute, found in values.items():
        if len(found) < 2:
            raise DatasetFormatError(
                f"{source}: column {attribute!r} has {len(found)} distinct value(s) "
                f"({', '.join(found) or 'none'}) across the classes: an attribute must vary "
                "to teach anything; drop the column"
            )
    return values


def _safe_name(text: str) -> str:
    """A folder's name as a dataset name (letters, digits, ``_ . -``)."""
    safe = "".join(ch if ch.isalnum() or ch in "_.-" else "_" for ch in text).strip("_.-")
    return safe or "my_data"
