"""CompCars loader on tiny copies in the public format (see conftest.write_compcars)."""

from __future__ import annotations

import pytest

from a3m.data import IGNORE_INDEX, DatasetFormatError, build_dataset
from a3m.data.compcars import (
    ATTRIBUTE_CLASSES,
    DISPLACEMENT_EDGES,
    DOOR_EDGES,
    SEAT_EDGES,
    SPEED_EDGES,
    CompCars,
    bin_value,
)

I = IGNORE_INDEX
MISSING_QUIRK = "listed images missing from image/ (skipped)"


def test_counts_classes_and_missing_file_quirk(make_compcars):
    root = make_compcars()
    train, test = CompCars(root, "train"), CompCars(root, "test")
    assert len(train) == 5 and len(test) == 3  # one of the 6 listed train files is missing
    assert train.quirks[MISSING_QUIRK] == 1
    assert [p.name for p in train.missing] == ["cc02.jpg"]
    assert MISSING_QUIRK not in test.quirks
    assert train.classes == ["10", "11", "20"]  # model ids of train.txt, sorted
    assert train.model_ids.tolist() == [10, 10, 11, 11, 20]
    assert train.labels.tolist() == [0, 0, 1, 1, 2]
    assert test.labels.tolist() == [0, 1, 2]
    info = train.info
    assert info.num_classes == 3 and info.input_size == (448, 448)
    assert info.attribute_names == (
        "maximum_speed",
        "displacement",
        "door_number",
        "seat_number",
        "type",
    )
    assert info.attribute_classes == ATTRIBUTE_CLASSES == (6, 7, 4, 6, 12)


def test_attribute_binning_hand_checked(make_compcars):
    test = CompCars(make_compcars(), "test")
    assert test.attributes[0].tolist() == [1, 2, 3, 2, 2]  # 160 1.6 5 5 3 (edges: upper bin)
    assert test.attributes[1].tolist() == [0, I, 0, 5, 11]  # 159 0 2 8 12
    assert test.attributes[2].tolist() == [5, 6, 2, 4, I]  # 250 4.0 4 7 0
    _, target = test[2]
    assert target["attributes"].tolist() == [5, 6, 2, 4, I]


@pytest.mark.parametrize(
    ("value", "edges", "expected"),
    [
        (100, SPEED_EDGES, 0),
        (159.9, SPEED_EDGES, 0),
        (160, SPEED_EDGES, 1),
        (249, SPEED_EDGES, 4),
        (250, SPEED_EDGES, 5),
        (400, SPEED_EDGES, 5),
        (1.0, DISPLACEMENT_EDGES, 0),
        (1.4, DISPLACEMENT_EDGES, 1),
        (float("1.60"), DISPLACEMENT_EDGES, 2),
        (1.99, DISPLACEMENT_EDGES, 2),
        (2.0, DISPLACEMENT_EDGES, 3),
        (3.99, DISPLACEMENT_EDGES, 5),
        (4.0, DISPLACEMENT_EDGES, 6),
        (2, DOOR_EDGES, 0),
        (3, DOOR_EDGES, 1),
        (4, DOOR_EDGES, 2),
        (5, DOOR_EDGES, 3),
        (6, DOOR_EDGES, 3),
        (2, SEAT_EDGES, 0),
        (4, SEAT_EDGES, 1),
        (5, SEAT_EDGES, 2),
        (7, SEAT_EDGES, 4),
        (8, SEAT_EDGES, 5),
        (9, SEAT_EDGES, 5),
    ],
)
def test_bin_edges(value, edges, expected):
    assert bin_value(value, edges) == expected


def test_data_folder_as_root_and_without_attributes(make_compcars):
    root = make_compcars(nested=False)
    ds = build_dataset("compcars", root, "train", attributes=False)
    assert len(ds) == 5 and ds.info.num_attributes == 0


def test_model_without_attribute_line(make_compcars):
    root = make_compcars()
    path = root / "data" / "misc" / "attributes.txt"
    path.write_text("\n".join(ln for ln in path.read_text().splitlines() if ln[:3] != "20 "))
    ds = CompCars(root, "test")
    assert ds.attributes[2].tolist() == [I] * 5
    assert ds.quirks["models without a line in misc/attributes.txt (IGNORE_INDEX)"] == 1


# -- bad input --------------------------------------------------------------------------------


def test_missing_split_file(make_compcars):
    root = make_compcars()
    (root / "data" / "train_test_split" / "classification" / "test.txt").unlink()
    with pytest.raises(FileNotFoundError, match="test.txt"):
        CompCars(root, "test")


@pytest.mark.parametrize(
    ("split", "line", "match"),
    [
        ("train", "1/x/2012/zz.jpg", r"train.txt, line 7"),  # malformed
        ("test", "3/30/2014/dd01.jpg", r"test.txt, line 4: model 30"),  # a model train lacks
    ],
    ids=["malformed", "model_absent_from_train"],
)
def test_bad_split_line(make_compcars, split, line, match):
    root = make_compcars()
    path = root / "data" / "train_test_split" / "classification" / f"{split}.txt"
    path.write_text(path.read_text() + line + "\n")
    with pytest.raises(DatasetFormatError, match=match):
        CompCars(root, split)


@pytest.mark.parametrize(
    "bad", ["11 159 0 2 8", "11 159 0 2 8 13", "11 fast 0 2 8 1", "10 160 1.6 5 5 3"]
)
def test_malformed_attribute_line(make_compcars, bad):
    root = make_compcars()
    path = root / "data" / "misc" / "attributes.txt"
    lines = path.read_text().splitlines()
    lines.insert(4, bad)  # line 5 of the file
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetFormatError, match=r"attributes.txt, line 5"):
        CompCars(root)


def test_all_images_missing(make_compcars):
    root = make_compcars()
    for path in (root / "data" / "image").rglob("*.jpg"):
        path.unlink()
    with pytest.raises(FileNotFoundError, match="all 3 images listed in .*test.txt"):
        CompCars(root, "test")


def test_missing_label_file_with_crop(make_compcars):
    root = make_compcars()
    (root / "data" / "label" / "1" / "10" / "2012" / "aa03.txt").unlink()
    with pytest.raises(FileNotFoundError, match="aa03.txt"):
        CompCars(root, "test", bbox_crop=True)


def test_malformed_label_file(make_compcars):
    root = make_compcars()
    (root / "data" / "label" / "1" / "10" / "2012" / "aa03.txt").write_text("2\n1\n3 4 x 13\n")
    with pytest.raises(DatasetFormatError, match=r"aa03.txt, line 3"):
        CompCars(root, "test", bbox_crop=True)


def test_empty_split_file(make_compcars):
    root = make_compcars()
    (root / "data" / "train_test_split" / "classification" / "test.txt").write_text("\n")
    with pytest.raises(DatasetFormatError, match=r"split 'test' has no images.*test.txt"):
        CompCars(root, "test")
