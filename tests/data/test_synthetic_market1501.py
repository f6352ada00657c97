"""Synthetic Market-1501: file-name grammar, protocol structure and ``market_attribute.mat``."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

NAME = re.compile(r"^(-1|\d{4})_c([1-6])s(\d)_(\d{6})_(\d{2})\.jpg$")
ATTRIBUTES = {
    "age", "backpack", "bag", "handbag", "clothes", "down", "up", "hair", "hat", "gender",
    "upblack", "upwhite", "upred", "uppurple", "upyellow", "upgray", "upblue", "upgreen",
    "downblack", "downwhite", "downpink", "downpurple", "downyellow", "downgray", "downblue",
    "downgreen", "downbrown",
}  # fmt: skip
IDS, PER_ID = 30, 5


@pytest.fixture(scope="module")
def market(synthetic_copy) -> Path:
    root = synthetic_copy("market1501", seed=1, num_classes=IDS, images_per_class=PER_ID)
    return root / "Market-1501-v15.09.15"


def _parse(folder: Path) -> list[tuple[int, int]]:
    """(pid, camera) per ``*.jpg`` in ``folder``; every name must match the real grammar."""
    out = []
    for path in sorted(folder.glob("*.jpg")):
        m = NAME.match(path.name)
        assert m, path.name
        out.append((int(m.group(1)), int(m.group(2))))
    return out


def test_layout_and_names(market):
    for folder in ("bounding_box_train", "bounding_box_test", "query"):
        assert (market / folder).is_dir()
        assert (market / folder / "Thumbs.db").is_file()  # loaders must list *.jpg only
    train, gallery, query = (
        _parse(market / f) for f in ("bounding_box_train", "bounding_box_test", "query")
    )
    train_ids = {p for p, _ in train}
    test_ids = {p for p, _ in gallery if p > 0}
    assert len(train) == IDS * PER_ID and len(train_ids) == IDS
    assert len(test_ids) == IDS and not train_ids & test_ids
    assert min(train_ids) >= 1 and max(train_ids | test_ids) <= 1501
    assert {p for p, _ in query} == test_ids
    assert sum(p == -1 for p, _ in gallery) > 0 and sum(p == 0 for p, _ in gallery) > 0
    assert all(p > 0 for p, _ in train + query)
    with Image.open(next((market / "query").glob("*.jpg"))) as im:
        assert im.size == (64, 128) and im.format == "JPEG"


def test_every_query_has_a_cross_camera_hit_and_same_camera_images(market):
    gallery = defaultdict(set)
    for pid, cam in _parse(market / "bounding_box_test"):
        gallery[pid].add(cam)
    same_camera = 0
    for pid, cam in _parse(market / "query"):
        assert gallery[pid] - {cam}, f"query {pid} c{cam} has no hit in another camera"
        same_camera += cam in gallery[pid]
    assert same_camera > 0  # the protocol has something to drop


def test_attribute_mat(market):
    mat = scipy.io.loadmat(market / "market_attribute.mat")
    struct = mat["market_attribute"][0, 0]
    assert set(struct.dtype.names) == {"train", "test"}
    train, test = struct["train"][0, 0], struct["test"][0, 0]
    # The real file stores the fields in different orders: look them up by name.
    assert train.dtype.names != test.dtype.names
    folder = {"train": "bounding_box_train", "test": "bounding_box_test"}
    for split, s in (("train", train), ("test", test)):
        assert set(s.dtype.names) == ATTRIBUTES | {"image_index"}
        index = [str(cell[0]) for cell in s["image_index"][0]]
        assert all(re.fullmatch(r"\d{4}", i) for i in index)
        ids = {p for p, _ in _parse(market / folder[split]) if p > 0}
        assert sorted(int(i) for i in index) == sorted(ids)
        for name in ATTRIBUTES:
            values = s[name]
            assert values.shape == (1, len(index)) and values.dtype == np.uint8
            allowed = {1, 2, 3, 4} if name == "age" else {1, 2}
            assert set(values.ravel().tolist()) <= allowed
    up = np.concatenate(
        [np.vstack([s[f] for f in sorted(ATTRIBUTES) if f.startswith("up") and f != "up"])
         for s in (train, test)], axis=1,
    )  # fmt: skip
    assert ((up == 1).all(axis=0)).any()  # some identities have no upper colour marked


def test_attributes_are_informative_of_identity(market):
    """Identities are attribute combinations: most attribute vectors are unique."""
    s = scipy.io.loadmat(market / "market_attribute.mat")["market_attribute"][0, 0]["train"][0, 0]
    vectors = {tuple(int(s[f][0, i]) for f in sorted(ATTRIBUTES)) for i in range(IDS)}
    assert len(vectors) >= 0.9 * IDS
