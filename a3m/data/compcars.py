"""CompCars (Yang et al. 2015), web-nature classification subset, with its five car attributes.

Format (``docs/reproduction.md``, "Dataset formats"), under the release's ``data/`` folder:

- ``image/<make_id>/<model_id>/<year>/<name>.jpg``;
- ``train_test_split/classification/{train,test}.txt``: one path relative to ``image/`` per line
  (e.g. ``78/1/2014/3ac218c0c6c378.jpg``); the class is the model id (second component).
  Listed files that are missing from ``image/`` are a known quirk of some copies: they are
  skipped and counted, not an error;
- ``label/<same path>.txt``: viewpoint, number of boxes, then ``x1 y1 x2 y2`` (1-based pixels);
- ``misc/attributes.txt``: a header line, then ``model_id maximum_speed displacement
  door_number seat_number type`` per model (1,716 models; 0 = unknown).

Classes: the model ids listed in ``train.txt`` (431 on the real data; 36,456 train / 15,627
test images), sorted, mapped to 0..C-1; a test line of a model absent from ``train.txt`` is a
:class:`~a3m.data.base.DatasetFormatError`.

Attributes (K = 5, 0 in the file = unknown = ``IGNORE_INDEX``). A value ``v`` falls in class
``i`` = the number of edges ``<= v`` (edges belong to the upper bin):

==================  =============================  =======================================
head                edges (:data:`SPEED_EDGES`...)  classes
==================  =============================  =======================================
maximum_speed       160 180 200 220 250 km/h        <160, 160-179, 180-199, 200-219,
                                                    220-249, >=250 (6)
displacement        1.4 1.6 2.0 2.5 3.0 4.0 L      <1.4, 1.4-1.59, 1.6-1.99, 2.0-2.49,
                                                    2.5-2.99, 3.0-3.99, >=4.0 (7)
door_number         3 4 5                           <=2, 3, 4, >=5 (4)
seat_number         4 5 6 7 8                       <=3, 4, 5, 6, 7, >=8 (6)
type                1..12                           type - 1 (12 car types, named in
                                                    ``misc/car_type.mat``)
==================  =============================  =======================================

Edges, not observed values, define the classes so that the head sizes do not depend on the copy
(a synthetic one included). ``bbox_crop=True`` crops each image to its ``label/`` box.
"""

from __future__ import annotations

from collections.abc import Callable
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
)
from a3m.data.base import IGNORE_INDEX, DatasetFormatError, DatasetInfo

INPUT_SIZE = (448, 448)
"""Default network input (height, width), paper Sec. 4.2."""
SPLITS = ("train", "test")

SPEED_EDGES = (160.0, 180.0, 200.0, 220.0, 250.0)
"""Maximum-speed bin edges in km/h (6 classes)."""
DISPLACEMENT_EDGES = (1.4, 1.6, 2.0, 2.5, 3.0, 4.0)
"""Displacement bin edges in litres (7 classes)."""
DOOR_EDGES = (3.0, 4.0, 5.0)
"""Door-number bin edges: <=2, 3, 4, >=5 (4 classes)."""
SEAT_EDGES = (4.0, 5.0, 6.0, 7.0, 8.0)
"""Seat-number bin edges: <=3, 4, 5, 6, 7, >=8 (6 classes)."""
NUM_CAR_TYPES = 12
"""Car types in the real release (1-12; names in ``data/misc/car_type.mat``)."""

ATTRIBUTE_NAMES = ("maximum_speed", "displacement", "door_number", "seat_number", "type")
ATTRIBUTE_EDGES = (SPEED_EDGES, DISPLACEMENT_EDGES, DOOR_EDGES, SEAT_EDGES)
ATTRIBUTE_CLASSES = (*(len(e) + 1 for e in ATTRIBUTE_EDGES), NUM_CAR_TYPES)

QUIRK_MISSING = "listed images missing from image/ (skipped)"
QUIRK_NO_ATTRIBUTES = "models without a line in misc/attributes.txt (IGNORE_INDEX)"


def resolve_root(root: str | Path) -> Path:
    """Return the release's ``data/`` folder given it or the CompCars folder containing it."""
    root = Path(root).expanduser()
    require_dir(root, "the CompCars folder containing data/ (or data/ itself)", "compcars")
    if (root / "data" / "train_test_split").is_dir() or (root / "data" / "image").is_dir():
        return root / "data"
    if (root / "train_test_split").is_dir() or (root / "image").is_dir():
        return root
    raise FileNotFoundError(
        f"{root / 'data'} not found: expected the CompCars data/ folder (with image/, "
        f"train_test_split/, label/, misc/) in {root}, or {root} to be data/ itself. "
        f"{SOURCES['compcars']}."
    )


def bin_value(value: float, edges: tuple[float, ...]) -> int:
    """Class of ``value`` given increasing ``edges``: the number of edges ``<= value``."""
    return int(np.searchsorted(np.asarray(edges), value, side="right"))


def encode_attributes(
    speed: float, displacement: float, doors: float, seats: float, car_type: int
) -> np.ndarray:
    """The five head class ids of one model; a 0 (unknown) input gives ``IGNORE_INDEX``."""
    out = np.full(len(ATTRIBUTE_NAMES), IGNORE_INDEX, dtype=np.int64)
    for h, (value, edges) in enumerate(
        zip((speed, displacement, doors, seats), ATTRIBUTE_EDGES, strict=True)
    ):
        if value > 0:
            out[h] = bin_value(value, edges)
    if car_type > 0:
        out[4] = car_type - 1
    return out


def read_attribute_file(path: Path) -> dict[int, np.ndarray]:
    """Parse ``misc/attributes.txt`` into ``{model_id: int64 array (5,)}`` of head class ids."""
    require_file(path, "the CompCars model attributes (misc/attributes.txt)", "compcars")
    expected = (
        "'<model_id> <maximum_speed> <displacement> <door_number> <seat_number> <type>' "
        "(numbers, 0 = unknown, type 0-12)"
    )
    table: dict[int, np.ndarray] = {}
    first_line: dict[int, int] = {}
    for row, (lineno, fields, line) in enumerate(read_rows(path)):
        if row == 0 and parse_int(fields[0]) is None:
            continue  # the header line (model_id maximum_speed ...)
        if len(fields) != 6:
            raise format_error(path, lineno, expected, line)
        model_id = parse_int(fields[0])
        numbers = parse_floats(fields[1:])
        if model_id is None or numbers is None or min(numbers) < 0:
            raise format_error(path, lineno, expected, line)
        speed, displacement, doors, seats, car_type = numbers
        if car_type != int(car_type) or car_type > NUM_CAR_TYPES:
            raise format_error(path, lineno, expected, line)
        if model_id in first_line:
            again = f"each model once (model {model_id} is on line {first_line[model_id]} too)"
            raise format_error(path, lineno, again, line)
        first_line[model_id] = lineno
        table[model_id] = encode_attributes(speed, displacement, doors, seats, int(car_type))
    if not table:
        raise DatasetFormatError(f"{path} has no model lines: expected {expected}")
    return table


def _read_split_file(path: Path) -> list[tuple[str, int, int]]:
    """``(relative path, model id, line number)`` for each line of a split file."""
    require_file(path, "a CompCars classification split list (paths under image/)", "compcars")
    expected = "'<make_id>/<model_id>/<year>/<name>.jpg' (a path relative to image/)"
    out = []
    for lineno, fields, line in read_rows(path):
        parts = fields[0].split("/") if len(fields) == 1 else []
        model_id = parse_int(parts[1]) if len(parts) >= 3 else None
        if model_id is None or ".." in parts:
            raise format_error(path, lineno, expected, line)
        out.append((fields[0], model_id, lineno))
    return out


def read_box(path: Path) -> tuple[float, float, float, float]:
    """Crop box ``(left, top, right, bottom)`` (PIL, 0-based, exclusive) of a ``label/`` file.

    The file holds the viewpoint, the number of boxes, then ``x1 y1 x2 y2`` 1-based inclusive.
    """
    require_file(path, "the CompCars label file (viewpoint, box count, x1 y1 x2 y2)", "compcars")
    rows = list(read_rows(path))
    expected = "'x1 y1 x2 y2' (1-based pixel box) on the third line"
    if len(rows) < 3:
        raise DatasetFormatError(
            f"{path}: {len(rows)} line(s); expected 3: viewpoint, box count, x1 y1 x2 y2"
        )
    lineno, fields, line = rows[2]
    values = parse_floats(fields[:4])
    if len(fields) < 4 or values is None:
        raise format_error(path, lineno, expected, line)
    x1, y1, x2, y2 = values
    if x2 < x1 or y2 < y1:
        raise format_error(path, lineno, expected + " with x1 <= x2, y1 <= y2", line)
    return (x1 - 1, y1 - 1, x2, y2)


class CompCars(ImageDataset):
    """CompCars classification with five attribute heads (registry name ``compcars``).

    Args:
        root: the CompCars folder containing ``data/``, or ``data/`` itself.
        split: ``"train"`` or ``"test"``.
        transform: applied to the RGB PIL image; ``None`` gives a float tensor in [0, 1].
        bbox_crop: crop each image to the box of its ``label/`` file.
        attributes: read ``misc/attributes.txt`` (``False``: K = 0).

    Extra attributes: ``model_ids`` (CompCars model id of each item), ``missing`` (the listed
    paths that were not found).
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        transform: Callable[[Image.Image], Any] | None = None,
        *,
        bbox_crop: bool = False,
        attributes: bool = True,
    ) -> None:
        check_split("compcars", split, SPLITS)
        base = resolve_root(root)
        split_dir = base / "train_test_split" / "classification"
        train_rows = _read_split_file(split_dir / "train.txt")
        rows = train_rows if split == "train" else _read_split_file(split_dir / f"{split}.txt")
        model_ids = sorted({model for _, model, _ in train_rows})
        label_of = {model: i for i, model in enumerate(model_ids)}
        image_dir = require_dir(base / "image", "the CompCars image/ folder", "compcars")

        samples: list[Path] = []
        kept: list[tuple[str, int]] = []
        self.missing: list[Path] = []
        for rel, model, lineno in rows:
            if model not in label_of:
                raise DatasetFormatError(
                    f"{split_dir / (split + '.txt')}, line {lineno}: model {model} of {rel!r} "
                    f"is not in {split_dir / 'train.txt'}, so it has no class"
                )
            path = image_dir / rel
            if not path.is_file():
                self.missing.append(path)
                continue
            samples.append(path)
            kept.append((rel, model))

        if not samples and self.missing:
            raise FileNotFoundError(
                f"all {len(self.missing)} images listed in {split_dir / (split + '.txt')} are "
                f"missing, e.g. {self.missing[0]}: expected them under {image_dir}. "
                f"{SOURCES['compcars']}."
            )
        quirks = {QUIRK_MISSING: len(self.missing)}
        if attributes:
            table = read_attribute_file(base / "misc" / "attributes.txt")
            unknown = np.full(len(ATTRIBUTE_NAMES), IGNORE_INDEX, dtype=np.int64)
            att = np.stack([table.get(m, unknown) for _, m in kept]) if kept else None
            quirks[QUIRK_NO_ATTRIBUTES] = sum(m not in table for m in model_ids)
            names, classes = ATTRIBUTE_NAMES, ATTRIBUTE_CLASSES
        else:
            att, names, classes = None, (), ()
        if att is None:
            att = np.zeros((len(kept), len(names)), dtype=np.int64)
        boxes = None
        if bbox_crop:
            label_dir = base / "label"
            boxes = np.array(
                [read_box(label_dir / Path(rel).with_suffix(".txt")) for rel, _ in kept],
                dtype=np.float64,
            ).reshape(-1, 4)
        info = DatasetInfo(
            name="compcars",
            task="classification",
            num_classes=len(model_ids),
            attribute_names=tuple(names),
            attribute_classes=tuple(classes),
            input_size=INPUT_SIZE,
        )
        super().__init__(
            info=info,
            split=split,
            root=base,
            samples=samples,
            labels=np.array([label_of[m] for _, m in kept], dtype=np.int64),
            classes=[str(m) for m in model_ids],
            attributes=att,
            boxes=boxes,
            transform=transform,
            quirks=quirks,
            source_file=split_dir / f"{split}.txt",
        )
        self.model_ids = np.array([m for _, m in kept], dtype=np.int64)
