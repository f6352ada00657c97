"""CUB-200-2011 (Wah et al. 2011) as it unpacks from ``CUB_200_2011.tgz``.

Format (``docs/reproduction.md``, "Dataset formats"; space separated, ids 1-based), all under
``CUB_200_2011/``:

- ``images.txt``: ``<image_id> <path under images/>``;
- ``image_class_labels.txt``: ``<image_id> <class_id>``; ``classes.txt``: ``<class_id> <name>``;
- ``train_test_split.txt``: ``<image_id> <1 train | 0 test>`` (5,994 / 5,794 on the real data);
- ``bounding_boxes.txt``: ``<image_id> <x> <y> <width> <height>`` (floats, pixels);
- ``attributes/image_attribute_labels.txt``: ``<image_id> <attribute_id> <is_present>
  <certainty_id> <time>``; a few lines of the public file carry more than five fields (a known
  quirk, which common readers skip or cut: the first four fields are used and the lines
  counted);
- ``attributes.txt``: ``<attribute_id> <group>::<value>`` (312 lines), which the README places in
  ``attributes/`` but the archive unpacks beside ``CUB_200_2011/``: both are looked in.

Two tasks read it:

- ``cub`` (classification, paper Sec. 4.1/Table 2): the official split, 0-based labels in the
  order of ``classes.txt``, and the 28 multi-class attributes the paper uses. The 312 binary
  attributes are grouped by the name before ``::`` (groups in order of first appearance; sizes
  9,15,15,15,4,15,6,15,11,15,15,14,3,15,15,15,15,5,5,14,4,4,4,15,15,15,15,4 on the real data);
  each group is a (size+1)-way label: 0 = no value of the group marked present, ``v`` = the
  group's ``v``-th value (1-based, in attribute-id order). **Rule when several values of a group
  are present: the last one in file order wins** (the file lists each image's attributes by
  increasing id, so it is the present value with the highest id), as the authors'
  ``tools/attributes_process.py`` does. ``min_certainty`` (default 1, i.e. every mark counts,
  as the authors) drops present marks whose certainty id (1 not visible, 2 guessing,
  3 probably, 4 definitely) is lower. An image without any attribute line gets
  ``IGNORE_INDEX`` in every head (counted as a quirk).
- ``cub_retrieval`` (paper Table 4): the first half of the classes (1-100 on the real data,
  5,864 images) train, the second half (101-200, 5,924 images) test, labels 0-based within each
  split, no attributes (K = 0). The official train/test flag is ignored.

``bbox_crop=True`` crops each image to its bounding box (``x, y, x + w, y + h``), as the paper
does; it is off by default so the loader gives the image as published.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from a3m.data._io import (
    SOURCES,
    ImageDataset,
    check_split,
    format_error,
    parse_floats,
    parse_int,
    read_rows,
    require_dir,
    require_file,
    retrieval_half,
)
from a3m.data.base import IGNORE_INDEX, DatasetFormatError, DatasetInfo

FOLDER = "CUB_200_2011"
INPUT_SIZE = (224, 224)
"""Default network input (height, width), paper Sec. 4.2."""
SPLITS = ("train", "test")
QUIRK_EXTRA_FIELDS = "lines of image_attribute_labels.txt (whole file) with extra fields"
QUIRK_NO_ATTRIBUTES = "images without attribute lines (IGNORE_INDEX in every head)"


def resolve_root(root: str | Path) -> Path:
    """Return the ``CUB_200_2011/`` folder given it or the folder that contains it."""
    root = Path(root).expanduser()
    require_dir(root, f"a folder containing {FOLDER}/ (or {FOLDER}/ itself)", "cub")
    if (root / FOLDER).is_dir():
        return root / FOLDER
    if (root / "images.txt").is_file():
        return root
    raise FileNotFoundError(
        f"{root / FOLDER} not found: expected {FOLDER}/ (with images.txt, images/, ...) "
        f"in {root}, or {root} to be {FOLDER}/ itself (it has no images.txt). {SOURCES['cub']}."
    )


def _read_id_table(path: Path, what: str, ncols: int, expected: str) -> dict[int, list[str]]:
    """Read ``<id> <field>...`` lines into ``{id: fields}``, rejecting malformed or repeated ids."""
    require_file(path, what, "cub")
    table: dict[int, list[str]] = {}
    for lineno, fields, line in read_rows(path):
        key = parse_int(fields[0])
        if key is None or len(fields) < ncols:
            raise format_error(path, lineno, expected, line)
        if key in table:
            raise format_error(path, lineno, f"a new id ({key} is listed twice)", line)
        table[key] = fields[1:]
    if not table:
        raise DatasetFormatError(f"{path} is empty: expected {what}")
    return table


def _read_int_column(path: Path, what: str, expected: str) -> dict[int, int]:
    table = _read_id_table(path, what, 2, expected)
    out: dict[int, int] = {}
    for key, fields in table.items():
        value = parse_int(fields[0])
        if value is None:
            raise DatasetFormatError(f"{path}: id {key}: expected {expected}, got {fields!r}")
        out[key] = value
    return out


def find_attribute_names(base: Path) -> Path:
    """Locate ``attributes.txt`` in ``attributes/`` or beside ``CUB_200_2011/``."""
    candidates = [base / "attributes" / "attributes.txt", base.parent / "attributes.txt"]
    candidates.append(base / "attributes.txt")
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(
        "attributes.txt (the 312 attribute names) not found: looked in "
        + ", ".join(str(p) for p in candidates)
        + ". The CUB-200-2011 archive unpacks it beside CUB_200_2011/ (or pass "
        f"attributes=False to load CUB without attributes). {SOURCES['cub']}."
    )


def group_attributes(names: dict[int, str]) -> tuple[list[str], dict[int, tuple[int, int]]]:
    """Group binary attributes by the name before ``::``.

    Args:
        names: attribute id -> full name, e.g. ``has_bill_shape::dagger``.

    Returns:
        the group names in order of first appearance (by attribute id), and for each attribute
        id its ``(group index, value)``, value 1-based within the group in attribute-id order.
    """
    groups: list[str] = []
    index: dict[str, int] = {}
    sizes: list[int] = []
    mapping: dict[int, tuple[int, int]] = {}
    for attr_id in sorted(names):
        group = names[attr_id].split("::", 1)[0]
        if group not in index:
            index[group] = len(groups)
            groups.append(group)
            sizes.append(0)
        g = index[group]
        sizes[g] += 1
        mapping[attr_id] = (g, sizes[g])
    return groups, mapping


@lru_cache(maxsize=4)
def _parse_image_attributes(
    path: Path, stamp: tuple[int, int], min_certainty: int
) -> tuple[dict[int, list[tuple[int, int, int]]], int]:
    """Read the present marks of ``image_attribute_labels.txt`` (3.7 M lines on the real data).

    Cached (by path, modification time and size) because the train and test splits each need
    it and parsing takes seconds. Returns ``({image_id: [(attribute_id, line, certainty)]},
    lines with extra fields)``; images with lines but no present mark map to ``[]``.
    """
    del stamp  # a cache key only: a rewritten file is parsed again
    present: dict[int, list[tuple[int, int, int]]] = {}
    extra = 0
    expected = "'<image_id> <attribute_id> <is_present 0|1> <certainty_id 1-4> <time>'"
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, start=1):
            fields = line.split()
            n = len(fields)
            if n == 0:
                continue
            if n < 4:
                raise format_error(path, lineno, expected, line)
            if n > 5:
                extra += 1
            flag = fields[2]
            if flag == "0":
                # Most lines are "not present": only check the image id and move on.
                image_id = parse_int(fields[0])
                if image_id is None:
                    raise format_error(path, lineno, expected, line)
                present.setdefault(image_id, [])
                continue
            if flag != "1":
                raise format_error(path, lineno, expected, line)
            image_id = parse_int(fields[0])
            attr_id = parse_int(fields[1])
            certainty = parse_int(fields[3])
            if image_id is None or attr_id is None or certainty is None:
                raise format_error(path, lineno, expected, line)
            marks = present.setdefault(image_id, [])
            if certainty >= min_certainty:
                marks.append((attr_id, lineno, certainty))
    return present, extra


def read_multiclass_attributes(
    base: Path, image_ids: list[int], *, min_certainty: int = 1
) -> tuple[list[str], list[int], np.ndarray, int, int, int]:
    """Build the multi-class attribute labels of ``image_ids``.

    Args:
        base: the ``CUB_200_2011/`` folder.
        image_ids: CUB image ids (1-based) in item order.
        min_certainty: lowest certainty id (1-4) for which a present mark counts.

    Returns:
        ``(group names, classes per group (size + 1), labels (N, K) int64, binary attributes
        read, lines with extra fields, images without any attribute line)``. The last
        present value of a group in file order wins; 0 = none present; ``IGNORE_INDEX`` for
        unannotated images.
    """
    names_path = find_attribute_names(base)
    names: dict[int, str] = {}
    for lineno, fields, line in read_rows(names_path):
        attr_id = parse_int(fields[0])
        if attr_id is None or len(fields) < 2 or "::" not in fields[1]:
            raise format_error(names_path, lineno, "'<attribute_id> <group>::<value>'", line)
        names[attr_id] = fields[1]
    if not names:
        raise DatasetFormatError(f"{names_path} is empty: expected the 312 attribute names")
    groups, mapping = group_attributes(names)
    classes = [0] * len(groups)
    for g, value in mapping.values():
        classes[g] = max(classes[g], value + 1)

    labels_path = require_file(
        base / "attributes" / "image_attribute_labels.txt",
        "the per-image attribute labels of CUB-200-2011",
        "cub",
    )
    stat = labels_path.stat()
    present, extra = _parse_image_attributes(
        labels_path.resolve(), (stat.st_mtime_ns, stat.st_size), min_certainty
    )
    out = np.zeros((len(image_ids), len(groups)), dtype=np.int64)
    unannotated = 0
    for row, image_id in enumerate(image_ids):
        marks = present.get(image_id)
        if marks is None:
            out[row] = IGNORE_INDEX
            unannotated += 1
            continue
        for attr_id, lineno, _ in marks:  # file order: a later mark overwrites an earlier one
            if attr_id not in mapping:
                raise DatasetFormatError(
                    f"{labels_path}, line {lineno}: attribute id {attr_id} is not in "
                    f"{names_path} (ids {min(names)}-{max(names)})"
                )
            g, value = mapping[attr_id]
            out[row, g] = value
    return groups, classes, out, len(names), extra, unannotated


def _read_boxes(base: Path, image_ids: list[int]) -> np.ndarray:
    path = base / "bounding_boxes.txt"
    table = _read_id_table(
        path, "the bounding boxes of CUB-200-2011", 5, "'<image_id> <x> <y> <width> <height>'"
    )
    boxes = np.zeros((len(image_ids), 4), dtype=np.float64)
    for row, image_id in enumerate(image_ids):
        if image_id not in table:
            raise DatasetFormatError(f"{path}: no box for image id {image_id}")
        values = parse_floats(table[image_id][:4])
        if values is None or values[2] <= 0 or values[3] <= 0:
            raise DatasetFormatError(
                f"{path}: image id {image_id}: expected x y width height (positive sizes), "
                f"got {table[image_id]!r}"
            )
        x, y, w, h = values
        boxes[row] = (x, y, x + w, y + h)
    return boxes


def _read_common(base: Path) -> tuple[dict[int, str], dict[int, int], list[int], list[str]]:
    """Images, their class ids, and the class ids/names in ``classes.txt`` order."""
    images = _read_id_table(
        base / "images.txt", "the image list of CUB-200-2011", 2, "'<image_id> <path>'"
    )
    class_of = _read_int_column(
        base / "image_class_labels.txt",
        "the image class labels of CUB-200-2011",
        "'<image_id> <class_id>'",
    )
    class_table = _read_id_table(
        base / "classes.txt", "the class names of CUB-200-2011", 2, "'<class_id> <name>'"
    )
    class_ids = sorted(class_table)
    class_names = [class_table[c][0] for c in class_ids]
    for image_id in images:
        if image_id not in class_of:
            raise DatasetFormatError(
                f"{base / 'image_class_labels.txt'}: no class for image id {image_id}"
            )
        if class_of[image_id] not in class_table:
            raise DatasetFormatError(
                f"{base / 'image_class_labels.txt'}: image id {image_id} has class "
                f"{class_of[image_id]}, which {base / 'classes.txt'} does not list"
            )
    return {k: v[0] for k, v in images.items()}, class_of, class_ids, class_names


def _check_images_exist(base: Path, paths: list[Path]) -> None:
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} image(s) listed in {base / 'images.txt'} are missing, e.g. "
            f"{missing[0]}: expected every listed image under {base / 'images'}. "
            f"{SOURCES['cub']}."
        )


class CUB(ImageDataset):
    """CUB-200-2011 classification with the 28 multi-class attributes (registry name ``cub``).

    Args:
        root: the folder containing ``CUB_200_2011/``, or ``CUB_200_2011/`` itself.
        split: ``"train"`` or ``"test"`` (official ``train_test_split.txt``).
        transform: applied to the RGB PIL image; ``None`` gives a float tensor in [0, 1].
        bbox_crop: crop each image to its bounding box (the paper does).
        attributes: read the 28 attribute labels (``False``: K = 0, skips a 3.7 M-line file).
        min_certainty: lowest certainty id (1-4) for which a present attribute mark counts.
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        transform: Callable[[Image.Image], Any] | None = None,
        *,
        bbox_crop: bool = False,
        attributes: bool = True,
        min_certainty: int = 1,
    ) -> None:
        check_split("cub", split, SPLITS)
        if not 1 <= min_certainty <= 4:
            raise ValueError(f"cub: min_certainty must be 1-4, got {min_certainty}")
        base = resolve_root(root)
        images, class_of, class_ids, class_names = _read_common(base)
        split_path = base / "train_test_split.txt"
        is_train = _read_int_column(
            split_path, "the train/test split of CUB-200-2011", "'<image_id> <1 | 0>'"
        )
        wanted = 1 if split == "train" else 0
        ids = []
        for image_id in sorted(images):
            flag = is_train.get(image_id)
            if flag not in (0, 1):
                raise DatasetFormatError(
                    f"{split_path}: image id {image_id}: expected flag 1 (train) or 0 (test), "
                    f"got {flag}"
                )
            if flag == wanted:
                ids.append(image_id)
        label_of = {c: i for i, c in enumerate(class_ids)}
        samples = [base / "images" / images[i] for i in ids]
        if samples:
            _check_images_exist(base, samples)
        quirks: dict[str, int] = {}
        if attributes:
            groups, att_classes, att, num_binary, extra, unannotated = read_multiclass_attributes(
                base, ids, min_certainty=min_certainty
            )
            quirks[QUIRK_EXTRA_FIELDS] = extra
            quirks[QUIRK_NO_ATTRIBUTES] = unannotated
        else:
            groups, att_classes, att = [], [], np.zeros((len(ids), 0), dtype=np.int64)
            num_binary = 0
        info = DatasetInfo(
            name="cub",
            task="classification",
            num_classes=len(class_ids),
            attribute_names=tuple(groups),
            attribute_classes=tuple(att_classes),
            input_size=INPUT_SIZE,
        )
        super().__init__(
            info=info,
            split=split,
            root=base,
            samples=samples,
            labels=np.array([label_of[class_of[i]] for i in ids], dtype=np.int64),
            classes=class_names,
            attributes=att,
            boxes=_read_boxes(base, ids) if bbox_crop else None,
            transform=transform,
            quirks=quirks,
            source_file=split_path,
        )
        self.image_ids = np.array(ids, dtype=np.int64)
        """CUB image ids (1-based, as in the files) of the items."""
        self.num_binary_attributes = num_binary
        """Binary attributes in ``attributes.txt`` (312 on the real data; 0 if not read)."""


class CUBRetrieval(ImageDataset):
    """CUB-200-2011 retrieval split (registry name ``cub_retrieval``), paper Table 4.

    The first half of the classes (in ``classes.txt`` order; 1-100 on the real data) form
    ``train``, the rest ``test``; labels are 0-based within each split; no attributes (K = 0).

    Args:
        root: the folder containing ``CUB_200_2011/``, or ``CUB_200_2011/`` itself.
        split: ``"train"`` or ``"test"``.
        transform: applied to the RGB PIL image; ``None`` gives a float tensor in [0, 1].
        bbox_crop: crop each image to its bounding box (the usual retrieval protocol does not).
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        transform: Callable[[Image.Image], Any] | None = None,
        *,
        bbox_crop: bool = False,
    ) -> None:
        check_split("cub_retrieval", split, SPLITS)
        base = resolve_root(root)
        images, class_of, class_ids, class_names = _read_common(base)
        split_ids = retrieval_half(class_ids, split)
        split_names = retrieval_half(class_names, split)
        label_of = {c: i for i, c in enumerate(split_ids)}
        ids = [i for i in sorted(images) if class_of[i] in label_of]
        samples = [base / "images" / images[i] for i in ids]
        if samples:
            _check_images_exist(base, samples)
        info = DatasetInfo(
            name="cub_retrieval",
            task="retrieval",
            num_classes=len(retrieval_half(class_ids, "train")),
            attribute_names=(),
            attribute_classes=(),
            input_size=INPUT_SIZE,
        )
        super().__init__(
            info=info,
            split=split,
            root=base,
            samples=samples,
            labels=np.array([label_of[class_of[i]] for i in ids], dtype=np.int64),
            classes=split_names,
            attributes=np.zeros((len(ids), 0), dtype=np.int64),
            boxes=_read_boxes(base, ids) if bbox_crop else None,
            transform=transform,
            source_file=base / "classes.txt",
        )
        self.image_ids = np.array(ids, dtype=np.int64)
        """CUB image ids (1-based, as in the files) of the items."""
