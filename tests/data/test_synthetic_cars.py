"""Synthetic CompCars and CARS196: split/label/attribute files and ``cars_annos.mat``."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

from a3m.data.synthetic import write_synthetic

MODELS, PER_MODEL, HEIGHT = 8, 6, 48


@pytest.fixture(scope="module")
def compcars(synthetic_copy) -> Path:
    params = {"num_classes": MODELS, "images_per_class": PER_MODEL, "image_size": HEIGHT}
    return synthetic_copy("compcars", seed=2, **params) / "data"


def _split(data: Path, name: str) -> list[str]:
    return (data / "train_test_split/classification" / f"{name}.txt").read_text().splitlines()


def test_compcars_split_paths_are_relative_to_image(compcars):
    train, test = _split(compcars, "train"), _split(compcars, "test")
    assert len(train) + len(test) == MODELS * PER_MODEL and not set(train) & set(test)
    for rel in train + test:
        assert re.fullmatch(r"\d+/\d+/\d{4}/[0-9a-f]{14}\.jpg", rel), rel
    counts = Counter(int(rel.split("/")[1]) for rel in train + test)  # class = model id
    assert len(counts) == MODELS and set(counts.values()) == {PER_MODEL}
    missing = [rel for rel in train + test if not (compcars / "image" / rel).exists()]
    assert len(missing) == 2  # like the real release, a few listed files are absent
    for rel in missing:
        assert not (compcars / "label" / rel.replace(".jpg", ".txt")).exists()


def test_compcars_labels(compcars):
    for rel in _split(compcars, "train")[:10]:
        image = compcars / "image" / rel
        if not image.exists():
            continue
        lines = (compcars / "label" / rel.replace(".jpg", ".txt")).read_text().splitlines()
        assert len(lines) == 3 and int(lines[0]) in {-1, 1, 2, 3, 4, 5} and lines[1] == "1"
        x1, y1, x2, y2 = map(int, lines[2].split())
        with Image.open(image) as im:
            w, h = im.size
        assert h == HEIGHT and 1 <= x1 < x2 <= w and 1 <= y1 < y2 <= h


def test_compcars_attributes(compcars):
    lines = (compcars / "misc/attributes.txt").read_text().splitlines()
    assert lines[0] == "model_id maximum_speed displacement door_number seat_number type"
    rows = [line.split() for line in lines[1:]]
    listed = _split(compcars, "train") + _split(compcars, "test")
    models = {int(rel.split("/")[1]) for rel in listed}
    assert {int(r[0]) for r in rows} == models
    for _model_id, speed, disp, doors, seats, car_type in rows:
        assert int(speed) == 0 or 100 <= int(speed) <= 350
        assert 0.0 <= float(disp) <= 8.0
        assert int(doors) in {0, 2, 3, 4, 5} and 0 <= int(seats) <= 9 and 0 <= int(car_type) <= 12
    names = scipy.io.loadmat(compcars / "misc/make_model_name.mat")
    assert names["make_names"].shape == (163, 1) and names["model_names"].shape == (2004, 1)


@pytest.fixture(scope="module")
def cars196(synthetic_copy) -> Path:
    return synthetic_copy("cars196", seed=4, num_classes=6, images_per_class=5, image_size=32)


def test_cars196_annotations(cars196):
    mat = scipy.io.loadmat(cars196 / "cars_annos.mat")
    annotations = mat["annotations"]
    assert annotations.shape == (1, 30)
    assert set(annotations.dtype.names) == {
        "relative_im_path", "bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "test",
    }  # fmt: skip
    classes, tests = [], []
    for i, a in enumerate(annotations[0]):
        path = str(a["relative_im_path"][0])
        assert path == f"car_ims/{i + 1:06d}.jpg" and (cars196 / path).is_file()
        with Image.open(cars196 / path) as im:
            w, h = im.size
        x1, y1, x2, y2 = (int(a[f][0, 0]) for f in ("bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2"))
        assert 1 <= x1 < x2 <= w and 1 <= y1 < y2 <= h
        classes.append(int(a["class"][0, 0]))
        tests.append(int(a["test"][0, 0]))
    assert Counter(classes) == {c: 5 for c in range(1, 7)}
    assert set(tests) == {0, 1}
    names = mat["class_names"]
    assert names.shape == (1, 6) and all(isinstance(str(n[0]), str) for n in names[0])
    assert len({str(n[0]) for n in names[0]}) == 6


def test_cars196_needs_an_even_class_count(tmp_path):
    with pytest.raises(ValueError, match="even"):
        write_synthetic("cars196", tmp_path, num_classes=5, images_per_class=1)


def test_car_models_differ_in_attributes():
    from a3m.data.synthetic.compcars import sample_car_models

    models = sample_car_models(np.random.default_rng(0), 40)
    types = {m.spec.type for m in models}
    assert len(types) >= 6 and len({m.spec for m in models}) == 40
