"""Tiny copies of the four public datasets, in their exact on-disk formats, written per test.

Each ``make_<dataset>`` fixture is a factory: call it (with keyword options for the variants a
test needs) to get the root a loader takes. Values are chosen so tests can check them by hand;
each writer's docstring lists them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.io
from PIL import Image

IMAGE_W, IMAGE_H = 40, 30


def _factory(writer: Callable[..., Path], name: str):
    """The fixture ``name``: ``make(**options)`` writes a copy with ``writer`` into a new
    folder and returns its root."""

    def make(tmp_path_factory):
        return lambda **options: writer(tmp_path_factory.mktemp(name), **options)

    return pytest.fixture(make, name=name)


def write_image(path: Path, size: tuple[int, int] = (IMAGE_W, IMAGE_H), shade: int = 90) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (shade, 255 - shade, 128)).save(path)


# --------------------------------------------------------------------------------------------
# CUB-200-2011

CUB_ATTRIBUTE_NAMES = [
    "has_bill_shape::curved_(up_or_down)",
    "has_bill_shape::dagger",
    "has_bill_shape::hooked",
    "has_wing_color::blue",
    "has_wing_color::brown",
    "has_size::small_(5_-_9_in)",
    "has_size::large_(16_-_32_in)",
]
"""Three groups: bill shape (3 values -> 4 classes), wing colour (2 -> 3), size (2 -> 3)."""

CUB_PRESENT = {
    1: [(2, 4)],  # bill: dagger -> 2; wing: none -> 0; size: none -> 0
    2: [(4, 3), (5, 2), (7, 4)],  # wing: blue AND brown -> the last, brown -> 2; size large -> 2
    3: [(1, 4), (3, 1), (6, 3)],  # bill: curved and hooked -> hooked (3), certainty 1 on hooked
}
"""image id -> present (attribute id, certainty); other images: attribute (id % 7) + 1."""


def write_cub(
    out: Path,
    *,
    num_classes: int = 4,
    images_per_class: int = 3,
    names_beside: bool = True,
    extra_field_line: bool = True,
) -> Path:
    """Write ``out/CUB_200_2011`` (+ ``out/attributes.txt`` beside it, as the archive does).

    Images 1..N are class ``(i - 1) // images_per_class + 1``; odd ids train, even ids test;
    each image 40x30 with box ``x=5 y=4 w=20 h=10`` (crop 20x10); attributes per
    :data:`CUB_PRESENT`. With ``extra_field_line`` one line carries the public file's extra
    field quirk.
    """
    base = out / "CUB_200_2011"
    (base / "attributes").mkdir(parents=True)
    n = num_classes * images_per_class
    classes = [f"{c:03d}.Bird_{c}" for c in range(1, num_classes + 1)]
    images, labels, split, boxes = [], [], [], []
    for i in range(1, n + 1):
        c = (i - 1) // images_per_class + 1
        rel = f"{classes[c - 1]}/Bird_{c}_{i:04d}.jpg"
        write_image(base / "images" / rel, shade=10 * c)
        images.append(f"{i} {rel}")
        labels.append(f"{i} {c}")
        split.append(f"{i} {i % 2}")
        boxes.append(f"{i} 5.0 4.0 20.0 10.0")
    (base / "images.txt").write_text("\n".join(images) + "\n")
    (base / "image_class_labels.txt").write_text("\n".join(labels) + "\n")
    (base / "train_test_split.txt").write_text("\n".join(split) + "\n")
    (base / "bounding_boxes.txt").write_text("\n".join(boxes) + "\n")
    (base / "classes.txt").write_text("".join(f"{c} {name}\n" for c, name in enumerate(classes, 1)))
    names = "".join(f"{a} {name}\n" for a, name in enumerate(CUB_ATTRIBUTE_NAMES, 1))
    (out if names_beside else base / "attributes").joinpath("attributes.txt").write_text(names)
    lines = []
    for i in range(1, n + 1):
        present = dict(CUB_PRESENT.get(i, [((i % 7) + 1, 3)]))
        for a in range(1, len(CUB_ATTRIBUTE_NAMES) + 1):
            flag = int(a in present)
            cert = present.get(a, 1)
            if extra_field_line and i == 1 and a == 4:
                lines.append(f"{i} {a} {flag} {cert} 0 12.5")  # the public file's extra field
            else:
                lines.append(f"{i} {a} {flag} {cert} 3.25")
    (base / "attributes" / "image_attribute_labels.txt").write_text("\n".join(lines) + "\n")
    return out


make_cub = _factory(write_cub, "make_cub")


# --------------------------------------------------------------------------------------------
# Market-1501

MARKET_TRAIN = [
    "0002_c1s1_000451_03.jpg",
    "0002_c2s1_000301_01.jpg",
    "0007_c1s1_000001_01.jpg",
    "0007_c3s2_010101_02.jpg",
    "0011_c6s4_002202_01.jpg",
]
MARKET_QUERY = ["0003_c1s1_000100_00.jpg", "0005_c2s1_000200_00.jpg"]
MARKET_GALLERY = [
    "0003_c2s1_000150_01.jpg",
    "0003_c1s1_000160_01.jpg",
    "0005_c3s1_000250_02.jpg",
    "0000_c1s1_000999_01.jpg",
    "0000_c4s2_000111_02.jpg",
    "-1_c1s1_000401_03.jpg",
    "-1_c5s3_000402_03.jpg",
]
"""Train ids 2, 7, 11 (11 absent from the mat file); gallery: 2 distractors, 2 junk."""

MARKET_TRAIN_ATTRS = {
    # id: (age, backpack, bag, handbag, clothes, down, up, hair, hat, gender, up colour, down
    # colours marked): colours are index lists into UPPER_COLORS / LOWER_COLORS
    "0002": (1, 2, 1, 1, 2, 1, 2, 1, 1, 2, [2], [8]),
    "0007": (4, 1, 2, 1, 1, 2, 1, 2, 2, 1, [], [0, 6]),
}
MARKET_TEST_ATTRS = {
    "0003": (2, 1, 1, 2, 2, 1, 1, 1, 1, 1, [0], [1]),
    "0005": (3, 2, 2, 2, 1, 1, 2, 2, 1, 2, [7], []),
}


def _market_part(attrs: dict, reverse: bool) -> dict:
    from a3m.data.market1501 import BINARY_HEADS, LOWER_COLORS, UPPER_COLORS

    ids = list(attrs)
    part: dict = {}
    part["age"] = [attrs[i][0] for i in ids]
    for h, name in enumerate(BINARY_HEADS, start=1):
        part[name] = [attrs[i][h] for i in ids]
    for c, name in enumerate(UPPER_COLORS):
        part[name] = [2 if c in attrs[i][10] else 1 for i in ids]
    for c, name in enumerate(LOWER_COLORS):
        part[name] = [2 if c in attrs[i][11] else 1 for i in ids]
    part = {k: np.array(v, dtype=np.uint8).reshape(1, -1) for k, v in part.items()}
    cell = np.empty((1, len(ids)), dtype=object)
    for j, pid in enumerate(ids):
        cell[0, j] = pid
    part["image_index"] = cell
    keys = sorted(part, reverse=reverse)  # field order differs between train and test
    return {k: part[k] for k in keys}


def write_market_mat(path: Path, train: dict | None = None, test: dict | None = None) -> Path:
    train = MARKET_TRAIN_ATTRS if train is None else train
    test = MARKET_TEST_ATTRS if test is None else test
    content = {"market_attribute": {"test": _market_part(test, True)}}
    content["market_attribute"]["train"] = _market_part(train, False)
    scipy.io.savemat(str(path), content)
    return path


def write_market(out: Path, *, mat: str = "beside", thumbs: bool = True) -> Path:
    """Write ``out/Market-1501-v15.09.15`` with :data:`MARKET_TRAIN` etc. and the mat file.

    ``mat``: ``"inside"`` (in the dataset folder), ``"beside"`` (in ``out``) or ``"none"``.
    """
    base = out / "Market-1501-v15.09.15"
    for folder, names in (
        ("bounding_box_train", MARKET_TRAIN),
        ("query", MARKET_QUERY),
        ("bounding_box_test", MARKET_GALLERY),
    ):
        for name in names:
            write_image(base / folder / name, size=(16, 32))
        if thumbs:
            (base / folder / "Thumbs.db").write_bytes(b"\x00" * 8)
    if mat != "none":
        write_market_mat((base if mat == "inside" else out) / "market_attribute.mat")
    return out


make_market = _factory(write_market, "make_market")


@pytest.fixture
def market_mat():
    """The mat-file helpers, for tests that write variants: ``.write(path, train, test)`` and
    ``.part(attrs, reverse)`` (one part as a dict of fields)."""
    return SimpleNamespace(write=write_market_mat, part=_market_part)


# --------------------------------------------------------------------------------------------
# CompCars

COMPCARS_TRAIN = [
    "1/10/2012/aa01.jpg",
    "1/10/2012/aa02.jpg",
    "1/11/2013/bb01.jpg",
    "1/11/2013/bb02.jpg",
    "2/20/2014/cc01.jpg",
    "2/20/2014/cc02.jpg",
]
COMPCARS_TEST = ["1/10/2012/aa03.jpg", "1/11/2013/bb03.jpg", "2/20/2014/cc03.jpg"]
COMPCARS_MISSING = "2/20/2014/cc02.jpg"
"""Listed in train.txt but not written: the known missing-file quirk."""
COMPCARS_ATTRIBUTES = """model_id maximum_speed displacement door_number seat_number type
10 160 1.6 5 5 3
11 159 0 2 8 12
20 250 4.0 4 7 0
999 180 2.0 4 5 1
"""
"""Model 10 sits on bin edges (speed 160 -> 1, displacement 1.6 -> 2, doors 5 -> 3, seats
5 -> 2, type 3 -> 2); 11 just below/at the extremes (159 -> 0, 0 -> IGNORE, 2 -> 0, 8 -> 5,
12 -> 11); 20: 250 -> 5, 4.0 -> 6, 4 -> 2, 7 -> 4, type 0 -> IGNORE."""


def write_compcars(out: Path, *, nested: bool = True) -> Path:
    """Write ``out/data`` (``nested``) or the ``data/`` layout directly in ``out``."""
    base = out / "data" if nested else out
    split_dir = base / "train_test_split" / "classification"
    split_dir.mkdir(parents=True)
    (split_dir / "train.txt").write_text("\n".join(COMPCARS_TRAIN) + "\n")
    (split_dir / "test.txt").write_text("\n".join(COMPCARS_TEST) + "\n")
    for rel in COMPCARS_TRAIN + COMPCARS_TEST:
        if rel == COMPCARS_MISSING:
            continue
        write_image(base / "image" / rel)
        label = base / "label" / Path(rel).with_suffix(".txt")
        label.parent.mkdir(parents=True, exist_ok=True)
        label.write_text("2\n1\n3 4 22 13\n")  # 1-based inclusive: a 20x10 crop
    (base / "misc").mkdir()
    (base / "misc" / "attributes.txt").write_text(COMPCARS_ATTRIBUTES)
    return out


make_compcars = _factory(write_compcars, "make_compcars")


# --------------------------------------------------------------------------------------------
# CARS196


def write_cars196(out: Path, *, num_classes: int = 4, images_per_class: int = 3) -> Path:
    """Write ``out/cars_annos.mat`` + ``out/car_ims/``: image i has class
    ``(i - 1) // images_per_class + 1``, box (3, 4)-(22, 13) 1-based (a 20x10 crop), and a
    ``test`` flag alternating (unused by the retrieval split)."""
    n = num_classes * images_per_class
    fields = ["relative_im_path", "bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "test"]
    ann = np.zeros((1, n), dtype=[(f, object) for f in fields])
    for i in range(1, n + 1):
        rel = f"car_ims/{i:06d}.jpg"
        write_image(out / rel, shade=5 * i)
        ann["relative_im_path"][0, i - 1] = np.array([rel])
        for f, v in zip(fields[1:5], (3, 4, 22, 13), strict=True):
            ann[f][0, i - 1] = np.array([[v]], dtype=np.uint16)
        ann["class"][0, i - 1] = np.array([[(i - 1) // images_per_class + 1]], dtype=np.uint8)
        ann["test"][0, i - 1] = np.array([[i % 2]], dtype=np.uint8)
    names = np.empty((1, num_classes), dtype=object)
    for c in range(num_classes):
        names[0, c] = f"Maker Model {c + 1} 2012"
    scipy.io.savemat(str(out / "cars_annos.mat"), {"annotations": ann, "class_names": names})
    return out


make_cars196 = _factory(write_cars196, "make_cars196")
