"""CARS196 loader on tiny copies in the public format (see conftest.write_cars196)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io

from a3m.data import DatasetFormatError, build_dataset
from a3m.data.cars196 import Cars196


def test_retrieval_split(make_cars196):
    root = make_cars196()
    train, test = Cars196(root, "train"), Cars196(root, "test")
    assert len(train) == 6 and len(test) == 6
    assert train.class_ids.tolist() == [1, 1, 1, 2, 2, 2]  # classes 1-2 of 4
    assert test.class_ids.tolist() == [3, 3, 3, 4, 4, 4]
    assert train.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert test.labels.tolist() == [0, 0, 0, 1, 1, 1]  # 0-based within the test split
    assert test.classes == ["Maker Model 3 2012", "Maker Model 4 2012"]
    assert [p.name for p in test.samples[:2]] == ["000007.jpg", "000008.jpg"]
    info = train.info
    assert info.task == "retrieval" and info.num_classes == 2 and info.num_attributes == 0
    assert info.input_size == (224, 224)
    image, target = test[0]
    assert image.shape == (3, 30, 40) and target["attributes"].shape == (0,)


def test_odd_class_count(make_cars196):
    root = make_cars196(num_classes=5, images_per_class=1)
    assert build_dataset("cars196", root, "train").class_ids.tolist() == [1, 2, 3]
    assert build_dataset("cars196", root, "test").class_ids.tolist() == [4, 5]


def test_the_mat_file_as_root(make_cars196):  # the box crop: test_dataset_registry.py
    root = make_cars196()
    assert len(Cars196(root / "cars_annos.mat", "train")) == len(Cars196(root, "train"))


# -- bad input --------------------------------------------------------------------------------


def test_missing_image(make_cars196):
    root = make_cars196()
    (root / "car_ims" / "000008.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="000008.jpg"):
        Cars196(root, "test")
    assert len(Cars196(root, "train")) == 6


def test_missing_field(make_cars196):
    root = make_cars196()
    mat = scipy.io.loadmat(str(root / "cars_annos.mat"))
    ann = mat["annotations"]
    fields = [f for f in ann.dtype.names if f != "class"]
    stripped = np.zeros(ann.shape, dtype=[(f, object) for f in fields])
    for f in fields:
        stripped[f] = ann[f]
    scipy.io.savemat(str(root / "cars_annos.mat"), {"annotations": stripped})
    with pytest.raises(DatasetFormatError, match="lack field.*class"):
        Cars196(root)


def test_not_a_mat_file(make_cars196):
    root = make_cars196()
    (root / "cars_annos.mat").write_bytes(b"garbage")
    with pytest.raises(DatasetFormatError, match="cars_annos.mat"):
        Cars196(root)


def test_unknown_split():
    with pytest.raises(ValueError, match="train, test"):
        Cars196("/nowhere", "query")
