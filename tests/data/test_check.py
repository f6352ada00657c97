"""check_dataset: counts against the public release, quirks, unreadable images."""

from __future__ import annotations

import dataclasses

import pytest

from a3m.data import check_dataset, registry
from a3m.data.registry import DATASETS, get_entry


def test_expected_counts_cover_the_registry():
    assert all(entry.public_counts for entry in DATASETS.values())
    assert DATASETS["cub"].public_counts["train images"] == 5994
    assert DATASETS["market1501"].public_counts["gallery images"] == 15913
    assert DATASETS["compcars"].public_counts["models"] == 431
    assert DATASETS["cars196"].public_counts["images"] == 16185
    heads = {name: entry.attribute_heads for name, entry in DATASETS.items()}
    assert heads == {"cub": 28, "cub_retrieval": 0, "market1501": 12, "compcars": 5, "cars196": 0}


def test_small_copy_is_ok_and_says_it_differs(make_cub):
    report = check_dataset("cub", make_cub())
    assert report.ok and not report.matches_public_release
    assert report.counts["train images"] == (6, 5994)
    assert report.counts["classes"] == (4, 200)
    assert report.counts["binary attributes"] == (7, 312)
    assert report.images_checked == report.images_total == 12
    text = report.format()
    assert "counts differ from the public release" in text and "no problems found" in text
    # the quirk of the shared attribute file is listed once, for both splits
    assert report.quirks == [
        "train, test (each): 1 lines of image_attribute_labels.txt (whole file) with extra fields"
    ]


def test_matching_counts(make_cub, monkeypatch):
    # "binary attributes" is counted, but has no public value here
    small = {"train images": 6, "test images": 6, "classes": 4, "binary attributes": None}
    entry = dataclasses.replace(get_entry("cub"), public_counts=small)
    monkeypatch.setitem(registry.DATASETS, "cub", entry)
    report = check_dataset("cub", make_cub(), verify_images=False)
    assert report.matches_public_release  # facts without a public value do not count
    assert report.counts["binary attributes"] == (7, None)
    assert all(report.counts[k] == (v, v) for k, v in small.items() if v is not None)
    assert report.images_checked == 0


def test_corrupt_image_is_a_problem(make_cub):
    root = make_cub()
    bad = root / "CUB_200_2011" / "images" / "002.Bird_2" / "Bird_2_0005.jpg"
    bad.write_bytes(b"\xff\xd8\xff garbage")
    report = check_dataset("cub", root, workers=2)
    assert not report.ok
    assert any("Bird_2_0005.jpg" in p and p.startswith("train:") for p in report.problems)
    assert "PROBLEMS (1)" in report.format()


def test_sample_of_images(make_compcars):
    report = check_dataset("compcars", make_compcars(), max_images=2)
    assert report.images_checked == 4 and report.images_total == 8
    assert "train: 1 listed images missing from image/ (skipped)" in report.quirks
    assert report.ok


def test_missing_root_is_a_problem_per_split(tmp_path):
    report = check_dataset("market1501", tmp_path / "nowhere")
    assert not report.ok and len(report.problems) == 3
    assert all("FileNotFoundError" in p for p in report.problems)
    assert report.counts["train images"] == (None, 12936)


def test_every_dataset_checks(make_market, make_cars196, make_cub):
    assert check_dataset("market1501", make_market()).ok
    assert check_dataset("cars196", make_cars196()).counts["images"] == (12, 16185)
    assert check_dataset("cub_retrieval", make_cub()).counts["test classes"] == (2, 100)


def test_unknown_name():
    with pytest.raises(ValueError, match="cub, cub_retrieval, market1501"):
        check_dataset("imagenet", "/nowhere")
