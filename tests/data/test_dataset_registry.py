"""The dataset registry is the one place for each dataset fact: its entries agree with their
loaders, and everything else (config, trainer, leaderboard, dashboards) reads them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from a3m.config import RunConfig
from a3m.data import build_dataset
from a3m.data._io import HOMES
from a3m.data.registry import DATASETS, dataset_names, get_entry
from a3m.data.synthetic import write_synthetic
from a3m.data.tasks import TASKS, get_task, primary_metric
from a3m.study.leaderboard import LEADERBOARD_METRICS

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", dataset_names())
def test_entry_agrees_with_its_loader(name, tmp_path):
    entry = get_entry(name)
    root = write_synthetic(name, tmp_path, num_classes=4, images_per_class=4, image_size=48)
    info = build_dataset(name, root, entry.splits[0]).info
    assert (info.name, info.task, info.input_size) == (name, entry.task, entry.input_size)
    assert (info.num_attributes > 0) == (entry.attribute_heads > 0)
    assert set(entry.protocol.eval_splits) <= set(entry.splits)
    assert entry.has_box_crop == (name != "market1501")  # Market's crops are the images


@pytest.mark.parametrize("name", dataset_names())
def test_a_missing_root_names_it_and_where_the_release_is_published(name, tmp_path):
    """The registry's ``home`` and the loaders' errors quote one list of addresses."""
    entry = get_entry(name)
    assert entry.home.startswith(HOMES[entry.release])
    with pytest.raises(FileNotFoundError, match=re.escape(HOMES[entry.release])) as err:
        build_dataset(name, tmp_path / "nowhere", entry.splits[0])
    assert str(tmp_path / "nowhere") in str(err.value)


@pytest.mark.parametrize(("name", "needed"), [("cars196", "cars_annos.mat"), ("compcars", "data")])
def test_a_root_without_the_annotations_names_what_is_missing(name, needed, tmp_path):
    with pytest.raises(FileNotFoundError, match=needed):
        build_dataset(name, tmp_path, "train")


@pytest.mark.parametrize("name", ["cars196", "compcars"])
def test_the_box_crop_of_a_car(name, request):
    """Both writers give the first training image the box (3, 4)-(22, 13), 1-based inclusive."""
    ds = build_dataset(name, request.getfixturevalue(f"make_{name}")(), "train", bbox_crop=True)
    assert ds.load_image(0).size == (20, 10)
    assert ds[0][0].shape == (3, 10, 20)


@pytest.mark.parametrize("name", dataset_names())
def test_config_reads_the_task_from_the_registry(name):
    assert RunConfig(dataset=name).task == get_entry(name).task


def test_task_table():
    assert [primary_metric(t) for t in TASKS] == ["accuracy", "mAP", "recall_at_1"]
    assert get_task("reid").eval_splits == ("query", "gallery")
    assert get_task("reid").metrics[-1] == "mAP"  # the paper's column order
    with pytest.raises(ValueError, match="valid tasks: classification, reid, retrieval"):
        get_task("detection")


def test_leaderboard_lists_every_protocol_metric_and_no_epoch():
    assert LEADERBOARD_METRICS[0] == "score" and "epoch" not in LEADERBOARD_METRICS
    assert {m for task in TASKS.values() for m in task.metrics} < set(LEADERBOARD_METRICS)


# A comparison with a registry name: `== "cub"`, `"cub" !=`, `in ("cub_retrieval", ...)`.
NAMES = "|".join(DATASETS)
COMPARED = re.compile(
    rf"""[=!]=\s*["']({NAMES})["']|["']({NAMES})["']\s*[=!]=|\bin\s*[(\[{{]\s*["']({NAMES})["']"""
)


def test_no_dataset_name_is_compared_outside_the_registry():
    sources = [*(ROOT / "a3m").rglob("*.py"), *(ROOT / "dashboards").rglob("*.py")]
    found = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in sources
        if path.name != "registry.py" or path.parent.name != "data"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if COMPARED.search(line)
    ]
    assert not found, "dataset names compared outside a3m/data/registry.py:\n" + "\n".join(found)
