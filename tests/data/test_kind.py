"""What a run's data is (a3m.data.kind): the paper's public release told from a copy's counts
(CUB's split sizes, written as index files over empty images), a synthetic copy, your own data,
a dry run; and a run's kind read back from its records, the tag first."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest

from a3m.data.kind import (
    DRY_RUN_PREFIX,
    KIND_TAG,
    DataKind,
    copy_counts,
    dataset_kind,
    decide_kind,
    describe_data,
    is_release,
    kind_of_run,
    release_counts,
)
from a3m.data.synthetic import ensure_synthetic


def write_cub_index(out: Path, drop: int = 0) -> Path:
    """A CUB copy with the public release's split sizes: 11,788 empty images of 200 classes,
    5,994 train and 5,794 test; classes 1-100 hold 5,864 (the retrieval split's train half).
    ``drop``: images left out of every list (a copy that is not the release)."""
    sizes = [59] * 64 + [58] * 36 + [60] * 24 + [59] * 76  # 5,864 + 5,924 images
    base = out / "CUB_200_2011"
    lines: dict[str, list[str]] = {k: [] for k in ("images", "labels", "split", "boxes")}
    image = 0
    for c, size in enumerate(sizes, start=1):
        (base / "images" / f"{c:03d}.Bird").mkdir(parents=True)
        for _ in range(size):
            image += 1
            if image <= drop:
                continue
            rel = f"{c:03d}.Bird/{image}.jpg"
            (base / "images" / rel).touch()
            train = image % 2 == 1 or image <= 200  # 5,894 odd ids + 100 even ones
            lines["images"].append(f"{image} {rel}")
            lines["labels"].append(f"{image} {c}")
            lines["split"].append(f"{image} {int(train)}")
            lines["boxes"].append(f"{image} 1 1 2 2")
    files = {"images": "images.txt", "labels": "image_class_labels.txt",
             "split": "train_test_split.txt", "boxes": "bounding_boxes.txt"}  # fmt: skip
    for key, name in files.items():
        (base / name).write_text("\n".join(lines[key]) + "\n")
    (base / "classes.txt").write_text("".join(f"{c} {c:03d}.Bird\n" for c in range(1, 201)))
    return out


@pytest.fixture(scope="module")
def release_cub(tmp_path_factory) -> Path:
    return write_cub_index(tmp_path_factory.mktemp("release"))


def test_the_papers_release_is_told_by_its_counts(release_cub, tmp_path):
    counts = copy_counts("cub", release_cub)
    assert counts == {"train images": 5994, "test images": 5794, "classes": 200}
    assert release_counts("cub") == counts  # the attribute counts are not needed to tell it
    assert dataset_kind("cub", release_cub) is DataKind.PAPER
    assert dataset_kind("cub_retrieval", release_cub) is DataKind.PAPER  # same files
    # one image fewer: your own data, however close
    smaller = write_cub_index(tmp_path / "own", drop=1)
    assert copy_counts("cub", smaller)["train images"] == 5993
    assert dataset_kind("cub", smaller) is DataKind.OWN
    # the release's files, but a dry run or a synthetic copy says so first
    assert dataset_kind("cub", release_cub, fingerprint=DRY_RUN_PREFIX + "ab") is DataKind.DRY_RUN
    assert dataset_kind("cub", release_cub, synthetic=True) is DataKind.SYNTHETIC


def test_counts_decide_the_kind():
    release = release_counts("market1501")
    assert release == {"train images": 12936, "query images": 3368, "gallery images": 15913,
                       "train ids": 751, "query ids": 750}  # fmt: skip
    assert is_release("market1501", release)
    assert decide_kind("market1501", release) is DataKind.PAPER
    assert decide_kind("market1501", {**release, "train ids": 750}) is DataKind.OWN
    assert decide_kind("market1501", None) is DataKind.OWN  # a copy that could not be counted
    assert decide_kind("market1501", release, synthetic=True) is DataKind.SYNTHETIC
    assert decide_kind("market1501", release, synthetic=True, dry_run=True) is DataKind.DRY_RUN
    assert DataKind.PAPER.compares_with_paper and DataKind.UNRECORDED.compares_with_paper
    assert not any(k.compares_with_paper for k in (DataKind.OWN, DataKind.SYNTHETIC,
                                                   DataKind.DRY_RUN))  # fmt: skip


def test_a_synthetic_copy_is_one_by_its_manifest_or_its_counts(synthetic_copy, tmp_path):
    cached = ensure_synthetic("cub", tmp_path / "cache", num_classes=4, images_per_class=4)
    assert dataset_kind("cub", cached) is DataKind.SYNTHETIC  # the cache's synthetic.json
    # the same format written elsewhere, without the manifest: its counts are not the release's
    written = synthetic_copy("cub", num_classes=4, images_per_class=4)
    assert dataset_kind("cub", written) is DataKind.OWN
    assert dataset_kind("cub", tmp_path / "nothing-here") is DataKind.OWN  # does not load
    copy = shutil.copytree(written, tmp_path / "copy")
    assert dataset_kind("cub", copy, synthetic=True) is DataKind.SYNTHETIC


def test_a_runs_kind_from_its_records():
    assert KIND_TAG == "a3m.data.kind"
    assert kind_of_run("own_data", DRY_RUN_PREFIX + "x", "True") is DataKind.OWN  # the tag first
    assert kind_of_run(None, DRY_RUN_PREFIX + "x", "True") is DataKind.DRY_RUN
    assert kind_of_run(math.nan, "abc", "True") is DataKind.SYNTHETIC
    assert kind_of_run(math.nan, "abc", "False") is DataKind.UNRECORDED
    assert kind_of_run("something-else") is DataKind.UNRECORDED
    assert describe_data("cub", DataKind.OWN) == "CUB-200-2011 (cub): your own data"
    assert describe_data("nope", DataKind.PAPER) == "nope: the paper's public release"
