"""Market-1501 loader on tiny copies in the public format (see conftest.write_market)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io

from a3m.data import IGNORE_INDEX, DatasetFormatError, build_dataset
from a3m.data.market1501 import (
    ATTRIBUTE_CLASSES,
    ATTRIBUTE_NAMES,
    Market1501,
    parse_name,
    read_attribute_table,
)

I = IGNORE_INDEX


def test_train_relabelling_and_ids(make_market):
    ds = Market1501(make_market(), "train")
    assert len(ds) == 5
    assert ds.pids.tolist() == [2, 2, 7, 7, 11]
    assert ds.labels.tolist() == [0, 0, 1, 1, 2]  # sorted raw ids -> 0..N-1
    assert ds.camids.tolist() == [1, 2, 1, 3, 6]
    assert ds.classes == ["0002", "0007", "0011"]
    assert ds.info.num_classes == 3 and ds.info.task == "reid"
    assert ds.info.input_size == (448, 224)
    image, target = ds[4]
    assert image.shape == (3, 32, 16)
    assert (target["pid"], target["camid"], target["label"], target["index"]) == (11, 6, 2, 4)


def test_query_and_gallery_junk_and_distractors(make_market):
    root = make_market()
    query = build_dataset("market1501", root, "query")
    gallery = build_dataset("market1501", root, "gallery")
    assert len(query) == 2 and query.pids.tolist() == [3, 5]
    assert len(gallery) == 5  # 7 files minus 2 junk (-1); 2 distractors (0000) kept
    assert sorted(gallery.pids.tolist()) == [0, 0, 3, 3, 5]
    assert gallery.quirks["junk images (person -1) dropped"] == 2
    assert query.quirks["non-.jpg files skipped (e.g. Thumbs.db)"] == 1
    assert query.info.num_classes == 3  # the training label space, also on eval splits
    assert query.info == gallery.info


def test_attribute_heads_hand_checked(make_market):
    ds = Market1501(make_market(), "train")
    assert ds.info.attribute_names == ATTRIBUTE_NAMES
    assert ds.info.attribute_classes == ATTRIBUTE_CLASSES == (4, *[2] * 9, 8, 9)
    # id 2: age 1 -> 0; binaries value - 1; upper colour index 2 (red); lower index 8 (brown)
    assert ds.attributes[0].tolist() == [0, 1, 0, 0, 1, 0, 1, 0, 0, 1, 2, 8]
    # id 7: age 4 -> 3; no upper colour -> IGNORE; two lower colours -> IGNORE
    assert ds.attributes[2].tolist() == [3, 0, 1, 0, 0, 1, 0, 1, 1, 0, I, I]
    # id 11 is absent from the mat file: IGNORE everywhere, counted
    assert ds.attributes[4].tolist() == [I] * 12
    assert ds.quirks["ids without attributes in market_attribute.mat (IGNORE_INDEX)"] == 1


def test_eval_splits_take_the_test_part(make_market):
    root = make_market()
    query = Market1501(root, "query")
    assert query.attributes[0].tolist() == [1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1]  # id 3
    assert query.attributes[1].tolist() == [2, 1, 1, 1, 0, 0, 1, 1, 0, 1, 7, I]  # id 5
    gallery = Market1501(root, "gallery")
    distractor = gallery.attributes[gallery.pids == 0]
    assert (distractor == I).all()
    assert "ids without attributes in market_attribute.mat (IGNORE_INDEX)" not in gallery.quirks


def test_fields_looked_up_by_name(make_market, tmp_path):
    """Reversing or shuffling the field order of a part changes nothing."""
    root = make_market()
    path = root / "market_attribute.mat"
    mat = scipy.io.loadmat(str(path))
    reference = read_attribute_table(path, "train")
    train = mat["market_attribute"]["train"][0, 0]
    names = list(train.dtype.names)
    rng = np.random.default_rng(0)
    shuffled = {n: train[n][0, 0] for n in rng.permutation(names)}
    test = mat["market_attribute"]["test"][0, 0]
    content = {"train": shuffled, "test": {n: test[n][0, 0] for n in test.dtype.names}}
    scipy.io.savemat(str(tmp_path / "shuffled.mat"), {"market_attribute": content})
    again = read_attribute_table(tmp_path / "shuffled.mat", "train")
    assert reference.keys() == again.keys()
    for pid in reference:
        assert reference[pid].tolist() == again[pid].tolist()


def test_mat_locations(make_market, tmp_path):
    inside = make_market(mat="inside")
    assert Market1501(inside, "train").info.num_attributes == 12
    # the dataset folder itself as root, mat file beside it
    beside = make_market(mat="beside")
    ds = Market1501(beside / "Market-1501-v15.09.15", "train")
    assert ds.attributes[0, 0] == 0
    # explicit path, file or folder
    none = make_market(mat="none")
    mat = beside / "market_attribute.mat"
    assert Market1501(none, "train", attributes_path=mat).info.num_attributes == 12
    assert Market1501(none, "train", attributes_path=beside).info.num_attributes == 12


def test_without_attributes(make_market):
    ds = build_dataset("market1501", make_market(mat="none"), "gallery", attributes=False)
    assert ds.info.num_attributes == 0 and ds[0][1]["attributes"].shape == (0,)


def test_parse_name():
    assert parse_name("0002_c1s1_000451_03.jpg") == (2, 1)
    assert parse_name("-1_c3s2_000001_00.jpg") == (-1, 3)
    for bad in ("2_c1s1_000451_03.jpg", "0002_c1_000451_03.jpg", "0002_c1s1_451_03.jpg"):
        assert parse_name(bad) is None


# -- bad input --------------------------------------------------------------------------------


def test_root_without_the_release_folder(tmp_path):  # a missing root: test_dataset_registry.py
    with pytest.raises(FileNotFoundError, match="Market-1501-v15.09.15"):
        Market1501(tmp_path)


def test_missing_split_folder(make_market):
    root = make_market()
    folder = root / "Market-1501-v15.09.15" / "query"
    for f in folder.iterdir():
        f.unlink()
    folder.rmdir()
    with pytest.raises(FileNotFoundError, match="query"):
        Market1501(root, "query")


def test_missing_mat_names_places_and_source(make_market):
    with pytest.raises(FileNotFoundError, match="vana77/Market-1501_Attribute") as err:
        Market1501(make_market(mat="none"), "train")
    assert "attributes=False" in str(err.value)
    with pytest.raises(FileNotFoundError, match="nope.mat"):
        Market1501(make_market(mat="none"), "train", attributes_path="/nope.mat")


def test_malformed_file_name(make_market):
    root = make_market()
    bad = root / "Market-1501-v15.09.15" / "bounding_box_train" / "0002_c1_000451.jpg"
    bad.write_bytes(b"")
    with pytest.raises(DatasetFormatError, match="0002_c1_000451.jpg"):
        Market1501(root, "train")


def test_mat_missing_field(make_market, market_mat):
    root = make_market(mat="none")
    attrs = {"0002": (1, 2, 1, 1, 2, 1, 2, 1, 1, 2, [2], [8])}
    train = market_mat.part(attrs, False)
    del train["hat"]
    content = {"train": train, "test": market_mat.part(attrs, True)}
    scipy.io.savemat(str(root / "market_attribute.mat"), {"market_attribute": content})
    with pytest.raises(DatasetFormatError, match=r"market_attribute.train: missing field\(s\) hat"):
        Market1501(root, "train")


def test_mat_bad_value(make_market, market_mat):
    root = make_market(mat="none")
    attrs = {"0002": (1, 3, 1, 1, 2, 1, 2, 1, 1, 2, [2], [8])}  # backpack 3: not 1-2
    market_mat.write(root / "market_attribute.mat", train=attrs)
    with pytest.raises(DatasetFormatError, match=r"train.backpack entry 1 \(id 2\)"):
        Market1501(root, "train")


def test_empty_split(make_market):
    root = make_market()
    folder = root / "Market-1501-v15.09.15" / "query"
    for f in folder.glob("*.jpg"):
        f.rename(f.with_name("-1" + f.name[4:]))  # all junk
    with pytest.raises(DatasetFormatError, match=r"split 'query' has no images.*query"):
        Market1501(root, "query")


def test_unknown_split():
    with pytest.raises(ValueError, match="train, query, gallery"):
        Market1501("/nowhere", "test")
