"""The MLflow tracker on a local store: experiments that open on their training runs, one run
per key (a retried trial, a resumed `a3m train`), failures that keep their reason without
credentials."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient

from a3m.study import tracking
from a3m.study.inputs import dataset_inputs
from a3m.study.tracking import (
    ERROR_TAG,
    EXPERIMENT_KIND,
    RunTracker,
    finish_run,
    get_or_create_experiment,
)


def test_experiments_open_on_their_training_runs(mlflow_uri):
    client = MlflowClient(mlflow_uri)
    new = get_or_create_experiment(client, "new")
    assert client.get_experiment(new).tags["mlflow.experimentKind"] == "custom_model_development"
    old = client.create_experiment("old")  # made before: tagged when next used
    assert get_or_create_experiment(client, "old") == old
    assert EXPERIMENT_KIND.items() <= client.get_experiment(old).tags.items()


def test_a_single_run_is_found_again_by_its_folder(mlflow_uri, tmp_path):
    first = RunTracker.for_single_run(mlflow_uri, "single", tmp_path / "run")
    first.log_epoch(1, {"accuracy": 0.5})
    first.finish("FAILED", "RuntimeError: boom")
    again = RunTracker.for_single_run(mlflow_uri, "single", tmp_path / "run")  # a3m train --resume
    assert again.run_id == first.run_id and again.logged_epochs == {1}
    again.start()
    run = MlflowClient(mlflow_uri).get_run(again.run_id)
    assert run.info.status == "RUNNING" and ERROR_TAG not in run.data.tags
    assert run.data.tags["a3m.retries"] == "1" and "boom" in run.data.tags["a3m.retried_after"]
    other = RunTracker.for_single_run(mlflow_uri, "single", tmp_path / "other")
    assert other.run_id != first.run_id


def test_a_failure_keeps_its_reason_cut_and_without_credentials(mlflow_uri):
    client = MlflowClient(mlflow_uri)
    run = client.create_run(get_or_create_experiment(client, "e")).info.run_id
    finish_run(client, run, "FAILED", error="x postgresql://u:SECRET@db/o " + "y" * 9000)
    tags = client.get_run(run).data.tags
    assert "SECRET" not in tags[ERROR_TAG] and "u:***@db" in tags[ERROR_TAG]
    assert len(tags[ERROR_TAG]) == 5000
    finish_run(client, run, "FINISHED")  # an ended run keeps its status unless forced
    assert client.get_run(run).info.status == "FAILED"


def test_quick_epochs_go_together_and_none_is_lost_at_the_end(mlflow_uri, tmp_path, monkeypatch):
    monkeypatch.setattr(tracking, "LOG_EVERY_S", 3600.0)
    tracker = RunTracker.for_single_run(mlflow_uri, "quick", tmp_path / "run")

    def steps() -> list[int]:
        return [
            m.step for m in MlflowClient(mlflow_uri).get_metric_history(tracker.run_id, "accuracy")
        ]

    for epoch in (1, 2, 3):
        assert tracker.log_epoch(epoch, {"accuracy": epoch / 10})
    assert steps() == [1]  # the first epoch goes at once, the next two wait
    assert not tracker.log_epoch(2, {"accuracy": 0.9})  # logged already (not yet sent)
    tracker.flush()  # as before a checkpoint
    assert steps() == [1, 2, 3]
    tracker.log_epoch(4, {"accuracy": 0.4})
    tracker.finish("FAILED", "RuntimeError: boom")
    assert steps() == [1, 2, 3, 4]
    history = MlflowClient(mlflow_uri).get_metric_history(tracker.run_id, "accuracy")
    assert [m.value for m in history] == [0.1, 0.2, 0.3, 0.4]


def test_a_dataset_another_trial_just_inserted_is_linked_not_an_error(
    mlflow_uri, tmp_path, monkeypatch
):
    from mlflow.exceptions import RestException

    tracker = RunTracker.for_single_run(mlflow_uri, "race", tmp_path / "run")
    real, calls = tracker.client.log_inputs, []

    def refused(message: str):
        def log_inputs(run_id, datasets):
            calls.append(run_id)
            if len(calls) == 1:  # what the server answers the trial that lost the insert
                raise RestException({"error_code": "BAD_REQUEST", "message": message})
            return real(run_id, datasets)

        return log_inputs

    duplicate = '(psycopg.errors.UniqueViolation) duplicate key value violates "dataset_pk"'
    monkeypatch.setattr(tracker.client, "log_inputs", refused(duplicate))
    tracker.log_dataset("cub", "abc123", tmp_path, dataset_inputs("cub", "abc123", tmp_path))
    inputs = MlflowClient(mlflow_uri).get_run(tracker.run_id).inputs.dataset_inputs
    assert [(i.dataset.name, i.dataset.digest) for i in inputs] == [
        ("cub/train", "abc123"), ("cub/test", "abc123")]  # fmt: skip
    assert len(calls) == 2

    calls.clear()  # any other refusal is the trial's error, not retried
    monkeypatch.setattr(tracker.client, "log_inputs", refused("database is locked"))
    with pytest.raises(RestException, match="database is locked"):
        tracker.log_dataset("cars196", "def456", tmp_path, dataset_inputs("cars196", "d", tmp_path))
    assert len(calls) == 1


def test_a_stopped_trial_leaves_a_run_the_driver_ended_as_it_is(mlflow_uri, tmp_path):
    tracker = RunTracker.for_single_run(mlflow_uri, "late", tmp_path / "run")
    tracker.start()
    # the driver's reconciling after a Ctrl-C, before the stopped trial's last report
    finish_run(MlflowClient(mlflow_uri), tracker.run_id, "KILLED", force=True)
    tracker.finish("FINISHED", force=False)  # what the trial does when Tune stops it
    assert MlflowClient(mlflow_uri).get_run(tracker.run_id).info.status == "KILLED"
    tracker.finish("FINISHED")  # forced: the trial's own end
    assert MlflowClient(mlflow_uri).get_run(tracker.run_id).info.status == "FINISHED"


def test_a_finished_run_hands_tune_its_last_score(mlflow_uri, tmp_path):
    import math

    tracker = RunTracker.for_single_run(mlflow_uri, "done", tmp_path / "run")
    tracker.log_epoch(1, {"score": 0.25})
    tracker.log_epoch(2, {"score": 0.5})
    tracker.finish()
    # what a trial found complete in MLflow reports to Tune instead of training again
    found = RunTracker.for_single_run(mlflow_uri, "done", tmp_path / "run")
    last = found.last_metrics(("score", "val_score"))
    assert last["score"] == 0.5 and math.isnan(last["val_score"])
