"""Market-1501 (Zheng et al. 2015) with the identity attributes of Lin et al. (2019).

Format (``docs/reproduction.md``, "Dataset formats"): ``Market-1501-v15.09.15/`` holds
``bounding_box_train/`` (12,936 images of 751 ids), ``query/`` (3,368) and ``bounding_box_test/``
(the gallery: 15,913 images once the junk is dropped). A file ``0002_c1s1_000451_03.jpg`` is person
0002, camera 1, sequence 1, frame 451, box 3; names are parsed with the strict pattern
:data:`NAME_PATTERN` and a ``.jpg`` that does not match is a
:class:`~a3m.data.base.DatasetFormatError`. Files that are not ``.jpg`` (some copies carry
``Thumbs.db`` files) are skipped and counted.

- person ``-1`` is junk: dropped everywhere (counted);
- person ``0000`` is a distractor: kept in the gallery (a wrong match for every query), dropped
  from train and query (counted);
- train ids are relabelled 0..N-1 in increasing order of raw id; query/gallery items are
  labelled the same way within their own split; every item also gives the raw ``pid`` and the
  ``camid`` (the camera number as in the file name, 1-6) that re-id evaluation needs.

Attributes come from ``market_attribute.mat`` (found in the dataset folder, its parent, the
parent's ``Market-1501_Attribute/``, or the ``attributes_path`` option), read with
``scipy.io.loadmat``: a struct ``market_attribute`` with ``train`` (751 ids) and ``test``
(750 ids), each holding 27 arrays 1xN (1 = no / first value, 2 = yes / second value; ``age``
1-4) and ``image_index`` (1xN cell of 4-digit ids). Fields are looked up by name (their order
differs between train and test). The 27 binary/4-way annotations become K = 12 heads:

====  ===========  =======  ==================================================================
head  name         classes  class = ...
====  ===========  =======  ==================================================================
0     age          4        age - 1 (young, teenager, adult, old)
1-9   backpack,    2 each   value - 1 (0 = first value / no, 1 = second value / yes);
      bag, handbag,         clothes: dress/pants, down/up: long/short lower/upper clothing,
      clothes,              hair: short/long, hat: no/yes, gender: male/female
      down, up,
      hair, hat,
      gender
10    upcolor      8        the one upper colour marked yes, in the order of
                            :data:`UPPER_COLORS`; ``IGNORE_INDEX`` when none or several
11    downcolor    9        the same over :data:`LOWER_COLORS`
====  ===========  =======  ==================================================================

Labels are per identity. Train ids absent from the mat file get ``IGNORE_INDEX`` in every head
(counted as a quirk); query/gallery items take the ``test`` part the same way (distractors are
``IGNORE_INDEX``), so every split has K = 12 unless ``attributes=False`` (K = 0).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from a3m.data._io import SOURCES, ImageDataset, check_split, require_dir
from a3m.data.base import IGNORE_INDEX, DatasetFormatError, DatasetInfo

FOLDER = "Market-1501-v15.09.15"
INPUT_SIZE = (448, 224)
"""Default network input (height, width), paper Sec. 4.2."""
SPLIT_DIRS = {"train": "bounding_box_train", "query": "query", "gallery": "bounding_box_test"}
SPLITS = tuple(SPLIT_DIRS)
ATTRIBUTE_FILE = "market_attribute.mat"
NAME_PATTERN = re.compile(r"^(-1|\d{4})_c(\d)s(\d)_(\d{6})_(\d{2})\.jpg$")
"""``<pid>_c<camera>s<sequence>_<frame>_<box>.jpg``, pid 4 digits or -1 (junk)."""

BINARY_HEADS = ("backpack", "bag", "handbag", "clothes", "down", "up", "hair", "hat", "gender")
UPPER_COLORS = (
    "upblack",
    "upwhite",
    "upred",
    "uppurple",
    "upyellow",
    "upgray",
    "upblue",
    "upgreen",
)
LOWER_COLORS = (
    "downblack",
    "downwhite",
    "downpink",
    "downpurple",
    "downyellow",
    "downgray",
    "downblue",
    "downgreen",
    "downbrown",
)
ATTRIBUTE_NAMES = ("age", *BINARY_HEADS, "upcolor", "downcolor")
ATTRIBUTE_CLASSES = (4, *([2] * len(BINARY_HEADS)), len(UPPER_COLORS), len(LOWER_COLORS))
MAT_FIELDS = ("age", *BINARY_HEADS, *UPPER_COLORS, *LOWER_COLORS)
"""The 27 annotation fields of ``market_attribute.mat`` (plus ``image_index``)."""

QUIRK_NON_IMAGES = "non-.jpg files skipped (e.g. Thumbs.db)"
QUIRK_JUNK = "junk images (person -1) dropped"
QUIRK_DISTRACTORS = "distractor images (person 0000) dropped outside the gallery"
QUIRK_NO_ATTRIBUTES = "ids without attributes in market_attribute.mat (IGNORE_INDEX)"
QUIRK_UNKNOWN_UP = "ids with no or several upper colours marked (upcolor IGNORE_INDEX)"
QUIRK_UNKNOWN_DOWN = "ids with no or several lower colours marked (downcolor IGNORE_INDEX)"


def resolve_root(root: str | Path) -> Path:
    """Return the ``Market-1501-v15.09.15/`` folder given it or the folder that contains it."""
    root = Path(root).expanduser()
    require_dir(root, f"a folder containing {FOLDER}/ (or {FOLDER}/ itself)", "market1501")
    if (root / FOLDER).is_dir():
        return root / FOLDER
    if (root / SPLIT_DIRS["train"]).is_dir() or (root / SPLIT_DIRS["query"]).is_dir():
        return root
    raise FileNotFoundError(
        f"{root / FOLDER} not found: expected {FOLDER}/ (with bounding_box_train/, query/, "
        f"bounding_box_test/) in {root}, or {root} to be that folder itself. "
        f"{SOURCES['market1501']}."
    )


def parse_name(name: str) -> tuple[int, int] | None:
    """``(pid, camid)`` of a Market-1501 file name, ``None`` if it does not match the pattern."""
    match = NAME_PATTERN.match(name)
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2))


def scan_split(
    folder: Path, keep_distractors: bool
) -> tuple[list[Path], list[int], list[int], dict[str, int]]:
    """List a split folder: ``(paths, pids, camids, quirk counts)`` in file-name order.

    Raises:
        FileNotFoundError: the folder is missing.
        DatasetFormatError: a ``.jpg`` whose name does not match :data:`NAME_PATTERN`.
    """
    require_dir(folder, f"the Market-1501 split folder {folder.name}/ of .jpg images", "market1501")
    paths: list[Path] = []
    pids: list[int] = []
    camids: list[int] = []
    quirks = {QUIRK_NON_IMAGES: 0, QUIRK_JUNK: 0, QUIRK_DISTRACTORS: 0}
    for name in sorted(os.listdir(folder)):
        if not name.lower().endswith(".jpg"):
            quirks[QUIRK_NON_IMAGES] += 1
            continue
        parsed = parse_name(name)
        if parsed is None:
            raise DatasetFormatError(
                f"{folder / name}: file name does not match the Market-1501 pattern "
                "<pid 4 digits or -1>_c<camera>s<sequence>_<frame 6 digits>_<box 2 digits>.jpg "
                "(e.g. 0002_c1s1_000451_03.jpg)"
            )
        pid, camid = parsed
        if pid == -1:
            quirks[QUIRK_JUNK] += 1
            continue
        if pid == 0 and not keep_distractors:
            quirks[QUIRK_DISTRACTORS] += 1
            continue
        paths.append(folder / name)
        pids.append(pid)
        camids.append(camid)
    return paths, pids, camids, quirks


def find_attribute_file(base: Path, attributes_path: str | Path | None) -> Path:
    """Locate ``market_attribute.mat``: the explicit path, else beside or above the dataset."""
    if attributes_path is not None:
        path = Path(attributes_path).expanduser()
        if path.is_dir():
            path = path / ATTRIBUTE_FILE
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} not found: expected the Market-1501 attribute file {ATTRIBUTE_FILE} "
                f"(attributes_path option). {SOURCES['market1501_attributes']}."
            )
        return path
    candidates = [
        base / ATTRIBUTE_FILE,
        base.parent / ATTRIBUTE_FILE,
        base.parent / "Market-1501_Attribute" / ATTRIBUTE_FILE,
    ]
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"{ATTRIBUTE_FILE} not found: looked in "
        + ", ".join(str(p) for p in candidates)
        + f". {SOURCES['market1501_attributes']}; put it beside {FOLDER}/, pass "
        "attributes_path=..., or attributes=False to load Market-1501 without attributes."
    )


def _struct_field(struct: Any, name: str, where: str, available: list[str]) -> Any:
    """Field ``name`` of a loadmat struct (a 1x1 record array), by name."""
    names = list(struct.dtype.names or ())
    if name not in names:
        raise DatasetFormatError(
            f"{where}: no field {name!r}; fields found: {', '.join(names) or 'none'}"
            + (f" (expected {', '.join(available)})" if available else "")
        )
    return struct[name].reshape(-1)[0]


def _cell_strings(cell: np.ndarray) -> list[str]:
    """Strings of a loadmat cell array (each element a 1-element str array)."""
    out = []
    for element in np.asarray(cell, dtype=object).reshape(-1):
        value = element
        while isinstance(value, np.ndarray):
            value = value.reshape(-1)[0] if value.size else ""
        out.append(str(value).strip())
    return out


def read_attribute_table(path: Path, part: str) -> dict[int, np.ndarray]:
    """Read one part (``"train"`` or ``"test"``) of ``market_attribute.mat``.

    Returns:
        ``{raw pid: int64 array (12,)}`` of head class ids (see the module docstring).
    """
    import scipy.io

    try:
        mat = scipy.io.loadmat(str(path))
    except Exception as err:  # scipy raises several types for a corrupt or non-MAT file
        raise DatasetFormatError(f"{path}: cannot read as a MATLAB file: {err}") from err
    if "market_attribute" not in mat:
        keys = ", ".join(k for k in mat if not k.startswith("__"))
        raise DatasetFormatError(f"{path}: no 'market_attribute' struct (variables: {keys})")
    root_struct = mat["market_attribute"]
    where = f"{path}: market_attribute"
    table = _struct_field(root_struct, part, where, ["train", "test"])
    where = f"{where}.{part}"
    expected = [*MAT_FIELDS, "image_index"]
    names = set(table.dtype.names or ())
    absent = [f for f in expected if f not in names]
    if absent:
        raise DatasetFormatError(
            f"{where}: missing field(s) {', '.join(absent)}; fields found: "
            f"{', '.join(sorted(names))}"
        )
    ids_text = _cell_strings(_struct_field(table, "image_index", where, expected))
    ids = []
    for i, text in enumerate(ids_text):
        if not text.isdigit():
            raise DatasetFormatError(
                f"{where}.image_index entry {i + 1}: expected a person id like '0002', got {text!r}"
            )
        ids.append(int(text))
    n = len(ids)
    values: dict[str, np.ndarray] = {}
    for field in MAT_FIELDS:
        array = np.asarray(_struct_field(table, field, where, expected)).reshape(-1)
        if array.size != n:
            raise DatasetFormatError(
                f"{where}.{field}: {array.size} values for {n} ids in image_index"
            )
        top = 4 if field == "age" else 2
        bad = np.flatnonzero((array < 1) | (array > top))
        if bad.size:
            i = int(bad[0])
            raise DatasetFormatError(
                f"{where}.{field} entry {i + 1} (id {ids[i]}): expected 1-{top}, got {array[i]}"
            )
        values[field] = array.astype(np.int64)

    heads = np.empty((n, len(ATTRIBUTE_NAMES)), dtype=np.int64)
    heads[:, 0] = values["age"] - 1
    for h, field in enumerate(BINARY_HEADS, start=1):
        heads[:, h] = values[field] - 1
    for h, colors in ((10, UPPER_COLORS), (11, LOWER_COLORS)):
        marked = np.stack([values[c] == 2 for c in colors], axis=1)  # (n, colours)
        one = marked.sum(axis=1) == 1
        heads[:, h] = np.where(one, marked.argmax(axis=1), IGNORE_INDEX)
    return {pid: heads[i] for i, pid in enumerate(ids)}


class Market1501(ImageDataset):
    """Market-1501 re-id splits with the 12 attribute heads (registry name ``market1501``).

    Args:
        root: the folder containing ``Market-1501-v15.09.15/``, or that folder itself.
        split: ``"train"``, ``"query"`` or ``"gallery"``.
        transform: applied to the RGB PIL image; ``None`` gives a float tensor in [0, 1].
        attributes: read ``market_attribute.mat`` (``False``: K = 0, no file needed).
        attributes_path: explicit path of ``market_attribute.mat`` (or its folder).

    Extra attributes: ``pids`` (raw person ids, 0 = distractor), ``camids`` (camera 1-6) and
    ``num_train_ids`` (size of the training label space).
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        transform: Callable[[Image.Image], Any] | None = None,
        *,
        attributes: bool = True,
        attributes_path: str | Path | None = None,
    ) -> None:
        check_split("market1501", split, SPLITS)
        base = resolve_root(root)
        folder = base / SPLIT_DIRS[split]
        paths, pids, camids, quirks = scan_split(folder, keep_distractors=split == "gallery")
        if split == "train":
            num_train_ids = len(set(pids))
        else:
            train_folder = base / SPLIT_DIRS["train"]
            num_train_ids = len(set(scan_split(train_folder, keep_distractors=False)[1]))
        label_of = {pid: i for i, pid in enumerate(sorted(set(pids)))}

        if attributes:
            mat_path = find_attribute_file(base, attributes_path)
            table = read_attribute_table(mat_path, "train" if split == "train" else "test")
            att = np.full((len(pids), len(ATTRIBUTE_NAMES)), IGNORE_INDEX, dtype=np.int64)
            unlabelled: set[int] = set()
            for row, pid in enumerate(pids):
                if pid in table:
                    att[row] = table[pid]
                elif pid != 0:  # distractors have no identity to annotate
                    unlabelled.add(pid)
            split_ids = set(pids) & set(table)
            quirks[QUIRK_NO_ATTRIBUTES] = len(unlabelled)
            quirks[QUIRK_UNKNOWN_UP] = sum(table[p][10] == IGNORE_INDEX for p in split_ids)
            quirks[QUIRK_UNKNOWN_DOWN] = sum(table[p][11] == IGNORE_INDEX for p in split_ids)
            names, classes = ATTRIBUTE_NAMES, ATTRIBUTE_CLASSES
        else:
            att = np.zeros((len(pids), 0), dtype=np.int64)
            names, classes = (), ()
        info = DatasetInfo(
            name="market1501",
            task="reid",
            num_classes=num_train_ids,
            attribute_names=tuple(names),
            attribute_classes=tuple(classes),
            input_size=INPUT_SIZE,
        )
        super().__init__(
            info=info,
            split=split,
            root=base,
            samples=paths,
            labels=np.array([label_of[p] for p in pids], dtype=np.int64),
            classes=[f"{pid:04d}" for pid in sorted(label_of)],
            attributes=att,
            transform=transform,
            quirks=quirks,
            extra={"pid": np.array(pids), "camid": np.array(camids)},
            source_file=folder,
        )
        self.pids = self.extra["pid"]
        self.camids = self.extra["camid"]
        self.num_train_ids = num_train_ids
