"""CUB-200-2011 loaders on tiny copies in the public format (see conftest.write_cub)."""

from __future__ import annotations

import shutil

import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader
from torchvision.transforms.functional import pil_to_tensor

from a3m.data import IGNORE_INDEX, DatasetFormatError, ImageReadError, build_dataset
from a3m.data._io import read_image
from a3m.data.cub import CUB, CUBRetrieval, group_attributes


def test_split_counts_labels_and_info(make_cub):
    root = make_cub()
    train, test = CUB(root, "train"), CUB(root, "test")
    assert len(train) == 6 and len(test) == 6  # odd ids train, even ids test
    assert train.image_ids.tolist() == [1, 3, 5, 7, 9, 11]
    assert train.labels.tolist() == [0, 0, 1, 2, 2, 3]  # class (i - 1) // 3 + 1, 0-based
    assert test.labels.tolist() == [0, 1, 1, 2, 3, 3]
    info = train.info
    assert info.name == "cub" and info.task == "classification"
    assert info.num_classes == 4  # read from classes.txt, not hard-coded 200
    assert info.attribute_names == ("has_bill_shape", "has_wing_color", "has_size")
    assert info.attribute_classes == (4, 3, 3)  # group size + 1 (0 = none present)
    assert info.input_size == (224, 224)
    assert train.num_binary_attributes == 7
    assert train.classes[0] == "001.Bird_1"


def test_attribute_grouping_hand_checked(make_cub):
    root = make_cub()
    train, test = CUB(root, "train"), CUB(root, "test")
    # image 1: bill dagger (value 2), no wing colour, no size -> 0s
    assert train.attributes[0].tolist() == [2, 0, 0]
    # image 3: bill curved AND hooked present -> the last one (hooked, 3); size small -> 1
    assert train.attributes[1].tolist() == [3, 0, 1]
    # image 2: wing blue AND brown -> the last one (brown, 2); size large -> 2
    assert test.attributes[0].tolist() == [0, 2, 2]


def test_min_certainty_drops_uncertain_marks(make_cub):
    train = CUB(make_cub(), "train", min_certainty=2)
    # image 3's hooked bill has certainty 1: dropped, so curved (1) is the last present
    assert train.attributes[1].tolist() == [1, 0, 1]
    with pytest.raises(ValueError, match="min_certainty"):
        CUB(make_cub(), "train", min_certainty=5)


def test_attribute_names_in_attributes_folder_and_root_itself(make_cub):
    root = make_cub(names_beside=False)
    ds = CUB(root / "CUB_200_2011", "train")  # CUB_200_2011/ itself is accepted too
    assert ds.info.num_attributes == 3
    assert ds.attributes[1].tolist() == [3, 0, 1]


def test_extra_field_quirk_is_counted_not_an_error(make_cub):
    ds = CUB(make_cub(extra_field_line=True), "train")
    assert list(ds.quirks.values()) == [1]
    assert CUB(make_cub(extra_field_line=False), "train").quirks == {}


def test_image_without_attribute_lines_is_ignored(make_cub):
    root = make_cub()
    path = root / "CUB_200_2011" / "attributes" / "image_attribute_labels.txt"
    lines = [ln for ln in path.read_text().splitlines() if not ln.startswith("5 ")]
    path.write_text("\n".join(lines) + "\n")
    ds = CUB(root, "train")
    assert ds.attributes[2].tolist() == [IGNORE_INDEX] * 3  # image 5
    assert any("without attribute lines" in q for q in ds.quirks)


def test_items_and_collate(make_cub):
    ds = build_dataset("cub", make_cub(), "train")
    image, target = ds[1]
    assert image.shape == (3, 30, 40) and image.dtype == torch.float32
    assert target["label"] == 0 and target["index"] == 1
    assert target["attributes"].dtype == torch.int64
    assert target["attributes"].tolist() == [3, 0, 1]
    images, targets = next(iter(DataLoader(ds, batch_size=4)))
    assert images.shape == (4, 3, 30, 40)
    assert targets["attributes"].shape == (4, 3)


def test_bbox_crop(make_cub):
    ds = CUB(make_cub(), "test", bbox_crop=True, attributes=False)
    assert ds.load_image(0).size == (20, 10)  # box x=5 y=4 w=20 h=10
    assert ds[0][0].shape == (3, 10, 20)
    assert ds.info.num_attributes == 0 and ds[0][1]["attributes"].shape == (0,)


def test_retrieval_split(make_cub):
    root = make_cub()
    train = build_dataset("cub_retrieval", root, "train")
    test = build_dataset("cub_retrieval", root, "test")
    assert isinstance(train, CUBRetrieval)
    assert train.image_ids.tolist() == [1, 2, 3, 4, 5, 6]  # classes 1-2, both official splits
    assert test.image_ids.tolist() == [7, 8, 9, 10, 11, 12]  # classes 3-4
    assert train.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert test.labels.tolist() == [0, 0, 0, 1, 1, 1]  # 0-based within the test split
    assert test.classes == ["003.Bird_3", "004.Bird_4"]
    assert train.info.num_classes == 2 and train.info.task == "retrieval"
    assert train.info.num_attributes == 0


def test_retrieval_odd_class_count_gives_train_the_extra_class(make_cub):
    root = make_cub(num_classes=5, images_per_class=2)
    assert len(CUBRetrieval(root, "train").classes) == 3
    assert len(CUBRetrieval(root, "test").classes) == 2


def test_group_attributes_non_contiguous_group():
    groups, mapping = group_attributes({1: "a::x", 2: "b::y", 3: "a::z"})
    assert groups == ["a", "b"]
    assert mapping == {1: (0, 1), 2: (1, 1), 3: (0, 2)}


# -- bad input --------------------------------------------------------------------------------


def test_root_without_cub_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="CUB_200_2011"):
        CUB(tmp_path)


def test_missing_file_named(make_cub):
    root = make_cub()
    (root / "CUB_200_2011" / "train_test_split.txt").unlink()
    with pytest.raises(FileNotFoundError, match="train_test_split.txt") as err:
        CUB(root)
    assert "published at" in str(err.value)


def test_missing_attribute_names(make_cub):
    root = make_cub()
    (root / "attributes.txt").unlink()
    with pytest.raises(FileNotFoundError, match="attributes.txt"):
        CUB(root)
    assert len(CUB(root, attributes=False)) == 6  # not needed without attributes


def test_malformed_line_names_file_and_line(make_cub):
    root = make_cub()
    path = root / "CUB_200_2011" / "image_class_labels.txt"
    lines = path.read_text().splitlines()
    lines[2] = "3 three"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetFormatError, match=r"image_class_labels.txt: id 3") as err:
        CUB(root)
    assert "three" in str(err.value)
    lines[2] = "x 1"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetFormatError, match=r"image_class_labels.txt, line 3"):
        CUB(root)


def test_malformed_attribute_line(make_cub):
    root = make_cub()
    path = root / "CUB_200_2011" / "attributes" / "image_attribute_labels.txt"
    lines = path.read_text().splitlines()
    lines[9] = "2 3 1"  # too few fields
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetFormatError, match=r"image_attribute_labels.txt, line 10"):
        CUB(root)


def test_missing_image_file(make_cub):
    root = make_cub()
    shutil.rmtree(root / "CUB_200_2011" / "images" / "002.Bird_2")
    with pytest.raises(FileNotFoundError, match="Bird_2_0004.jpg"):
        CUB(root, "test")


def test_corrupt_image_is_named(make_cub):
    root = make_cub()
    ds = CUB(root, "train")
    ds.samples[2].write_bytes(b"not a jpeg at all")
    with pytest.raises(ImageReadError, match="Bird_2_0005.jpg"):
        ds[2]


def test_empty_split_is_an_error(make_cub):
    root = make_cub()
    path = root / "CUB_200_2011" / "train_test_split.txt"
    path.write_text("".join(f"{i} 1\n" for i in range(1, 13)))
    with pytest.raises(DatasetFormatError, match=r"split 'test' has no images.*train_test_split"):
        CUB(root, "test")


def test_unknown_split():
    with pytest.raises(ValueError, match="train, test"):
        CUB("/nowhere", "val")


def test_tensor_read_path_gives_the_pil_pixels(make_cub, tmp_path):
    """Items are decoded by torchvision into uint8 tensors (the fast path); the pixels and the
    box crop are PIL's, and a format torchvision cannot decode still reads through PIL."""
    ds = CUB(make_cub(), "test", bbox_crop=True, attributes=False)
    image = read_image(ds.samples[0], ds.boxes[0])
    assert image.dtype == torch.uint8 and image.shape == (3, 10, 20)
    assert torch.equal(image, pil_to_tensor(ds.load_image(0)))
    assert torch.equal(ds[0][0], image.float() / 255)
    bmp = tmp_path / "x.bmp"
    Image.new("RGB", (7, 5), (1, 2, 3)).save(bmp)
    assert read_image(bmp, (1, 1, 4, 3)).flatten(1).T.tolist() == [[1, 2, 3]] * 6
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(ds.samples[0].read_bytes()[:200])
    with pytest.raises(ImageReadError, match="cut.jpg"):
        read_image(truncated)
