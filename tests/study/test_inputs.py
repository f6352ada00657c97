"""A training run's data in MLflow: every split it reads as a dataset input with its context
(the held-out validation part too), logged once however often the run starts; the kind of its
data as the tag a3m.data.kind; and the study's console line that says it, a dry run first."""

from __future__ import annotations

import json
from types import SimpleNamespace

from mlflow import MlflowClient

from a3m.config import RunConfig
from a3m.data import build_dataset
from a3m.data.kind import DRY_RUN_PREFIX, KIND_TAG, DataKind
from a3m.study.inputs import (
    dataset_inputs,
    holdout_note,
    log_run_data,
    run_splits,
    study_data_line,
)
from a3m.study.tracking import RunTracker


def test_every_split_the_run_reads_is_an_input_with_its_context(
    mlflow_uri, tmp_path, synthetic_copy
):
    root = synthetic_copy("market1501", num_classes=4, images_per_class=4)
    cfg = RunConfig(dataset="market1501", data_root=str(root), val_fraction=0.25, seed=3)
    assert run_splits(cfg) == ("train", "query", "gallery", "val")
    assert run_splits(RunConfig(dataset="cub")) == ("train", "test")
    assert holdout_note(cfg) == "25% of the training split, seed 3" and not holdout_note(
        RunConfig(dataset="cub")
    )
    tracker = RunTracker.for_single_run(mlflow_uri, "inputs", tmp_path / "run")
    assert log_run_data(tracker, cfg, "abc123") is DataKind.OWN  # counts are not the release's
    run = MlflowClient(mlflow_uri).get_run(tracker.run_id)
    assert run.data.tags[KIND_TAG] == "own_data"
    inputs = {i.dataset.name: i for i in run.inputs.dataset_inputs}
    assert set(inputs) == {f"market1501/{s}" for s in ("train", "query", "gallery", "val")}
    assert {i.dataset.digest for i in inputs.values()} == {"abc123"}
    tags = {name: {t.key: t.value for t in i.tags} for name, i in inputs.items()}
    assert tags["market1501/query"] == {"mlflow.data.context": "query"}
    assert tags["market1501/gallery"] == {"mlflow.data.context": "gallery"}
    for split in ("train", "val"):  # the held-out part and what it was held out of
        assert tags[f"market1501/{split}"] == {
            "mlflow.data.context": split,
            "a3m.holdout": "25% of the training split, seed 3",
        }
    query = len(build_dataset("market1501", root, "query"))
    assert json.loads(inputs["market1501/query"].dataset.profile) == {"images": query}
    assert inputs["market1501/val"].dataset.profile is None  # a part, not a published split

    # a retried or resumed run finds its inputs logged: none twice
    again = RunTracker.for_single_run(mlflow_uri, "inputs", tmp_path / "run")
    log_run_data(again, cfg, "abc123")
    assert len(MlflowClient(mlflow_uri).get_run(tracker.run_id).inputs.dataset_inputs) == 4


def test_a_dry_runs_data_is_a_dry_run(mlflow_uri, tmp_path, synthetic_copy):
    root = synthetic_copy("cub", num_classes=4, images_per_class=4)
    tracker = RunTracker.for_single_run(mlflow_uri, "dry", tmp_path / "run")
    inputs = dataset_inputs("cub", DRY_RUN_PREFIX + "abc", root)
    assert tracker.log_dataset("cub", DRY_RUN_PREFIX + "abc", root, inputs) is DataKind.DRY_RUN
    run = MlflowClient(mlflow_uri).get_run(tracker.run_id)
    assert run.data.tags[KIND_TAG] == "dry_run"
    # default splits: the training split and the task's evaluation splits
    assert sorted(i.dataset.name for i in run.inputs.dataset_inputs) == ["cub/test", "cub/train"]


def test_the_console_says_what_the_data_is(synthetic_copy):
    root = synthetic_copy("cub", num_classes=4, images_per_class=4)
    base = RunConfig(dataset="cub", data_root=str(root)).to_flat_dict()
    plan = SimpleNamespace(base=base, fingerprints={"cub": "abc"}, dry_run=False)
    assert study_data_line(plan) == "data: CUB-200-2011 (cub): your own data"
    plan.fingerprints, plan.dry_run = {"cub": DRY_RUN_PREFIX + "abc"}, True
    banner, data = study_data_line(plan).split("\n")
    assert banner.startswith("DRY RUN: every metric below is made up")
    assert data == "data: CUB-200-2011 (cub): dry run (made-up numbers)"
    # a copy that cannot be found costs the summary its kind, never the study
    plan.base, plan.dry_run = RunConfig(dataset="cub").to_flat_dict(), False
    assert study_data_line(plan).startswith("data: cub: not checked (no data: set data_root")
