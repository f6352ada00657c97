"""Synthetic CUB-200-2011: the files parse like the real release, and attributes carry the class.

The readers here are deliberately independent of ``a3m.data`` (plain text parsing), so a bug in
the writer cannot hide behind the same bug in a shared helper.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# docs/reproduction.md, "Dataset formats": the 28 groups and their sizes, in attributes.txt order.
GROUP_SIZES = [9, 15, 15, 15, 4, 15, 6, 15, 11, 15, 15, 14, 3, 15, 15, 15, 15, 5, 5, 14, 4, 4]
GROUP_SIZES += [4, 15, 15, 15, 15, 4]
GROUP_NAMES = [
    "has_bill_shape", "has_wing_color", "has_upperparts_color", "has_underparts_color",
    "has_breast_pattern", "has_back_color", "has_tail_shape", "has_upper_tail_color",
    "has_head_pattern", "has_breast_color", "has_throat_color", "has_eye_color",
    "has_bill_length", "has_forehead_color", "has_under_tail_color", "has_nape_color",
    "has_belly_color", "has_wing_shape", "has_size", "has_shape", "has_back_pattern",
    "has_tail_pattern", "has_belly_pattern", "has_primary_color", "has_leg_color",
    "has_bill_color", "has_crown_color", "has_wing_pattern",
]  # fmt: skip
NUM_CLASSES, PER_CLASS, SIZE = 20, 14, 40


def _rows(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def cub(synthetic_copy) -> Path:
    params = {"num_classes": NUM_CLASSES, "images_per_class": PER_CLASS, "image_size": SIZE}
    return synthetic_copy("cub", seed=3, **params)


def _group_labels(cub: Path) -> tuple[np.ndarray, list[str]]:
    """(N, 28) multi-class labels, 0 = nothing marked, last present value wins."""
    names = [r[1] for r in _rows(cub / "attributes.txt")]
    groups = [n.split("::")[0] for n in names]
    order = list(dict.fromkeys(groups))
    first = {g: groups.index(g) for g in order}
    rows = np.array(
        [r[:3] for r in _rows(cub / "CUB_200_2011/attributes/image_attribute_labels.txt")],
        dtype=int,
    )
    labels = np.zeros((rows[:, 0].max(), len(order)), dtype=int)
    for image_id, attr_id, _present in rows[rows[:, 2] == 1]:
        g = groups[attr_id - 1]
        labels[image_id - 1, order.index(g)] = attr_id - 1 - first[g] + 1
    return labels, order


def test_attribute_names_are_the_312_real_ones_in_28_groups(cub):
    rows = _rows(cub / "attributes.txt")
    assert [int(r[0]) for r in rows] == list(range(1, 313))
    names = [r[1] for r in rows]
    groups = [n.split("::")[0] for n in names]
    order = list(dict.fromkeys(groups))
    assert order == GROUP_NAMES
    assert [groups.count(g) for g in order] == GROUP_SIZES
    assert names[0] == "has_bill_shape::curved_(up_or_down)"
    assert names[311] == "has_wing_pattern::multi-colored"
    for known in ("has_size::small_(5_-_9_in)", "has_shape::perching-like", "has_eye_color::black",
                  "has_bill_length::shorter_than_head", "has_head_pattern::eyering"):  # fmt: skip
        assert known in names
    assert not (cub / "CUB_200_2011/attributes/attributes.txt").exists()


def test_image_files_and_labels(cub):
    root = cub / "CUB_200_2011"
    images = _rows(root / "images.txt")
    n = NUM_CLASSES * PER_CLASS
    assert [int(r[0]) for r in images] == list(range(1, n + 1))
    classes = _rows(root / "classes.txt")
    assert [int(r[0]) for r in classes] == list(range(1, NUM_CLASSES + 1))
    for cid, cname in classes:
        assert re.fullmatch(rf"{int(cid):03d}\.[A-Za-z0-9_]+", cname)
    labels = {int(i): int(c) for i, c in _rows(root / "image_class_labels.txt")}
    assert Counter(labels.values()) == {c: PER_CLASS for c in range(1, NUM_CLASSES + 1)}
    class_dir = {int(cid): name for cid, name in classes}
    for image_id, rel in images[:: max(1, n // 25)]:
        directory, fname = rel.split("/")
        assert directory == class_dir[labels[int(image_id)]]
        assert fname.endswith(".jpg")
        with Image.open(root / "images" / rel) as im:
            assert im.format == "JPEG" and im.mode == "RGB" and im.size == (SIZE, SIZE)


def test_split_and_boxes(cub):
    root = cub / "CUB_200_2011"
    labels = {int(i): int(c) for i, c in _rows(root / "image_class_labels.txt")}
    split = {int(i): int(s) for i, s in _rows(root / "train_test_split.txt")}
    assert set(split.values()) == {0, 1}
    for c in range(1, NUM_CLASSES + 1):
        train = sum(split[i] for i, lab in labels.items() if lab == c)
        assert train == (PER_CLASS + 1) // 2  # ~50/50 per class, like the official split
    for _image_id, *box in _rows(root / "bounding_boxes.txt"):
        assert all(re.fullmatch(r"\d+\.\d", v) for v in box)  # floats like "60.0"
        x, y, w, h = map(float, box)
        assert w > 0 and h > 0 and x >= 0 and y >= 0 and x + w <= SIZE and y + h <= SIZE


def test_image_attribute_labels_format(cub):
    rows = _rows(cub / "CUB_200_2011/attributes/image_attribute_labels.txt")
    n = NUM_CLASSES * PER_CLASS
    assert len(rows) == 312 * n and all(len(r) == 5 for r in rows)
    arr = np.array([r[:4] for r in rows], dtype=int)
    assert np.array_equal(arr[:, 0], np.repeat(np.arange(1, n + 1), 312))
    assert np.array_equal(arr[:, 1], np.tile(np.arange(1, 313), n))
    assert set(arr[:, 2]) == {0, 1} and set(arr[:, 3]) <= {1, 2, 3, 4}
    assert all(float(r[4]) >= 0 for r in rows[:1000])
    assert (
        (cub / "CUB_200_2011/attributes/certainties.txt").read_text().startswith("1 not visible\n")
    )


def test_annotation_noise_is_moderate(cub):
    labels, _ = _group_labels(cub)
    classes = np.array([int(r[1]) for r in _rows(cub / "CUB_200_2011/image_class_labels.txt")])
    agree, unmarked = [], (labels == 0).mean()
    for c in np.unique(classes):
        block = labels[classes == c]
        mode = np.array([np.bincount(col).argmax() for col in block.T])
        agree.append((block == mode).mean())
    # Real-like noise: most labels follow the class, some groups are unmarked or wrong.
    assert 0.8 < np.mean(agree) < 0.99
    assert 0.0 < unmarked < 0.15


def test_parts(cub):
    parts = _rows(cub / "CUB_200_2011/parts/parts.txt")
    assert len(parts) == 15 and parts[1] == ["2", "beak"]
    locs = _rows(cub / "CUB_200_2011/parts/part_locs.txt")
    assert len(locs) == 15 * NUM_CLASSES * PER_CLASS
    visible = [r for r in locs if r[4] == "1"]
    assert visible and all(0 <= float(r[2]) < SIZE and 0 <= float(r[3]) < SIZE for r in visible)


def test_attributes_predict_the_class(cub):
    """(a) A decision tree on the per-image attribute labels is far above chance."""
    from sklearn.tree import DecisionTreeClassifier

    labels, _ = _group_labels(cub)
    root = cub / "CUB_200_2011"
    classes = np.array([int(r[1]) for r in _rows(root / "image_class_labels.txt")])
    train = np.array([int(r[1]) for r in _rows(root / "train_test_split.txt")]) == 1
    tree = DecisionTreeClassifier(random_state=0).fit(labels[train], classes[train])
    accuracy = tree.score(labels[~train], classes[~train])
    assert accuracy > 8.0 / NUM_CLASSES  # chance is 1 / NUM_CLASSES


def test_attributes_txt_inside(tmp_path):
    from a3m.data.synthetic.cub import write_cub

    write_cub(tmp_path, num_classes=2, images_per_class=2, image_size=32, attributes_txt="inside")
    assert (tmp_path / "CUB_200_2011/attributes/attributes.txt").is_file()
    assert not (tmp_path / "attributes.txt").exists()
    with pytest.raises(ValueError, match="attributes_txt"):
        write_cub(tmp_path, attributes_txt="nowhere")
