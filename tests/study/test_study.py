"""Studies end to end on synthetic data with a local Ray: MLflow runs, leaderboard, failures."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from mlflow import MlflowClient

from a3m.study import StudySpec, run_study
from a3m.study.runner import FAULT_ENV

pytestmark = pytest.mark.slow

TINY = {"dataset": "cub", "variant": "a3m", "d": 16}


def child_runs(client: MlflowClient, experiment: str):
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    return parents, children


def epochs_logged(client: MlflowClient, run_id: str) -> list[int]:
    return sorted(m.step for m in client.get_metric_history(run_id, "epoch"))


def test_tiny_study_end_to_end(ray_local, study_args, capfd):
    spec = StudySpec("tiny", "two points", base=TINY, points=[{"alpha": 0.2}, {"alpha": 0.8}])
    result = run_study(spec, study_args("--epochs", "2"))
    assert (result.num_trials, result.num_errors) == (2, 0)
    out, err = capfd.readouterr()  # the file descriptors: Ray's loggers write there too
    # a line per finished trial, named like its run; no repeated Ray warnings
    assert "/2] a3m alpha=0.2 seed=0: score" in out and "after 2 epochs" in out
    assert "snapshotting" not in out + err
    # nor Tune's own header, whatever the verbosity: the summary says where its results are
    assert "Configuration for experiment" not in out and "View detailed results" not in out
    assert "Wrote the latest version" not in out + err

    client = MlflowClient(result.tracking_uri)
    parents, children = child_runs(client, "tiny-synthetic")
    assert len(parents) == 1 and len(children) == 2
    parent = parents[0]
    assert parent.info.status == "FINISHED" and parent.data.params["dataset"] == "cub"
    assert parent.info.run_name.startswith("tiny 20")  # the study and when it started
    # runs named by what tells them apart
    assert {r.info.run_name for r in children} == {"a3m alpha=0.2 seed=0", "a3m alpha=0.8 seed=0"}
    assert {a.path for a in client.list_artifacts(parent.info.run_id)} == {"leaderboard.csv"}
    for run in children:
        assert run.info.status == "FINISHED"
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        params, tags = run.data.params, run.data.tags
        assert params["alpha"] in ("0.2", "0.8") and params["beta"] == "0.5"
        assert params["backbone"] == "tiny" and params["epochs"] == "2"
        assert tags["a3m.variant"] == "a3m" and tags["a3m.seed"] == "0"
        assert len(tags["a3m.dataset_fingerprint"]) == 16
        assert tags["mlflow.source.git.commit"] and tags["a3m.torch"]
        assert epochs_logged(client, run.info.run_id) == [1, 2]
        assert len(client.get_metric_history(run.info.run_id, "accuracy")) == 2
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "metrics")}
        assert artifacts == {"metrics/final.json", "metrics/attribute_accuracy.json"}
        pngs = client.list_artifacts(run.info.run_id, "attention")
        assert pngs and all(a.path.endswith(".png") for a in pngs)

    table = pd.read_csv(result.leaderboard_csv)
    assert len(table) == 2 and set(table["alpha"]) == {0.2, 0.8}
    assert {"accuracy_mean", "accuracy_ci95", "n_runs", "run_ids", "status"} <= set(table.columns)


def test_seeds_are_aggregated_with_confidence_intervals(ray_local, study_args):
    spec = StudySpec("seeds", "one config, three seeds", base=TINY)
    result = run_study(spec, study_args("--epochs", "1", "--seeds", "3"))
    table = pd.read_csv(result.leaderboard_csv)
    assert len(table) == 1 and table.loc[0, "n_runs"] == 3
    assert table.loc[0, "seeds"] == "0,1,2"
    assert table.loc[0, "accuracy_ci95"] >= 0


def test_raising_trial_is_failed_with_reason_and_study_completes(ray_local, study_args):
    spec = StudySpec("nan", "one diverges", base=TINY, points=[{"lr": 0.03}, {"lr": 1e12}])
    # retries allowed, yet a divergence would recur from the same checkpoint: none is made
    args = study_args("--epochs", "2", "--max-failures", "2")
    result = run_study(spec, args)
    assert (result.num_trials, result.num_errors) == (2, 1)
    _, children = child_runs(MlflowClient(result.tracking_uri), "nan-synthetic")
    status = {r.data.params["lr"]: r for r in children}
    assert status["0.03"].info.status == "FINISHED"
    failed = status["1000000000000.0"]
    assert failed.info.status == "FAILED"
    assert "NonFiniteLossError: loss is" in failed.data.tags["a3m.error"]
    assert "a3m.retries" not in failed.data.tags
    assert result.exit_code == 1  # some trials failed
    assert "FAILED:1" in pd.read_csv(result.leaderboard_csv)["status"].str.cat()


def test_killed_worker_is_preempted_and_retried_from_its_checkpoint(
    ray_local, study_args, tmp_path, monkeypatch
):
    spec = StudySpec("crash", "a worker is SIGKILLed after epoch 2", base=TINY)
    marker = tmp_path / "crashed.pid"
    args = study_args("--epochs", "3", "--max-failures", "2")
    fault = {"exit_after_epoch": 2, "marker": str(marker), "checkpoint_every_s": 0}
    monkeypatch.setenv(FAULT_ENV, json.dumps(fault))  # the only way in: an environment variable
    result = run_study(spec, args)
    assert marker.exists(), "the fault was not injected"
    assert (result.num_trials, result.num_errors) == (1, 0)
    client = MlflowClient(result.tracking_uri)
    _, (run,) = child_runs(client, "crash-synthetic")
    assert run.info.status == "FINISHED"
    assert run.data.tags["a3m.retries"] == "1"  # the retry and its reason are on the run
    assert run.data.tags["a3m.preempted"] == "1"  # lost with its process, not failed
    assert "process was killed" in run.data.tags["a3m.retried_after"]
    assert int(run.data.tags["a3m.resumed_at_epoch"]) >= 1  # from its checkpoint
    assert "a3m.error" not in run.data.tags
    assert epochs_logged(client, run.info.run_id) == [1, 2, 3]  # each epoch once
    assert len(client.get_metric_history(run.info.run_id, "train_loss")) == 3


def test_asha_stops_weak_trials_early(ray_local, study_args):
    points = [{"lr": lr} for lr in (0.1, 0.03, 0.003, 0.0003)]
    spec = StudySpec("asha", "four learning rates", base=TINY, points=points)
    result = run_study(spec, study_args("--epochs", "4", "--scheduler", "asha"))
    assert result.num_errors == 0
    client = MlflowClient(result.tracking_uri)
    _, children = child_runs(client, "asha-synthetic")
    epochs = sorted(len(epochs_logged(client, r.info.run_id)) for r in children)
    assert epochs[-1] == 4 and epochs[0] < 4, epochs  # ASHA cut at least one trial short
    # ASHA decided on a held-out part of the training split, never on the test split
    assert all(r.data.params["val_fraction"] == "0.1" for r in children)
    assert all("val_score" in r.data.metrics for r in children)
    stopped = [r for r in children if r.data.tags.get("a3m.stopped_early") == "true"]
    assert stopped and all(r.info.status == "FINISHED" for r in children)
    for run in children:  # trials that ran their whole budget have their final artifacts
        if len(epochs_logged(client, run.info.run_id)) == 4:
            assert client.list_artifacts(run.info.run_id, "metrics")


def test_cpus_per_gpu_is_the_tightest_gpu_node(monkeypatch):
    import ray

    from a3m.study.local_ray import cpus_per_gpu

    def node(cpu, gpu, alive=True):
        return {"Alive": alive, "Resources": {"CPU": cpu, "GPU": gpu} if gpu else {"CPU": cpu}}

    monkeypatch.setattr(ray, "nodes", lambda: [node(4, 0), node(16, 1), node(32, 4)])
    assert cpus_per_gpu() == 8  # the 4-GPU node; the CPU-only head does not count
    monkeypatch.setattr(ray, "nodes", lambda: [node(16, 1), node(2, 4, alive=False)])
    assert cpus_per_gpu() == 16
    monkeypatch.setattr(ray, "nodes", lambda: [node(8, 0)])
    assert cpus_per_gpu() == 1  # no GPU node (yet): see --cpus-per-trial


def test_system_metrics_are_logged_to_the_trial_run(tmp_path):
    import time

    from a3m.study.tracking import RunTracker
    from a3m.study.trainable import system_metrics

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri)
    exp = client.create_experiment("sys")
    tracker = RunTracker.for_trial(uri, exp, "parent", "t00000")
    with system_metrics(tracker.run_id, uri, on=True, every_s=0.5):
        time.sleep(2.0)
    logged = client.get_run(tracker.run_id).data.metrics
    assert any(k.startswith("system/cpu_utilization") for k in logged), sorted(logged)
    with system_metrics(tracker.run_id, uri, on=False):  # off: nothing started
        pass


def test_system_metrics_default_follows_the_gpus():
    from a3m.study.spec import study_parser

    parser = study_parser(StudySpec("x", "d", base={}))
    assert parser.parse_args([]).system_metrics is None  # on exactly when trials get GPUs
    assert parser.parse_args(["--system-metrics"]).system_metrics is True
    assert parser.parse_args(["--no-system-metrics"]).system_metrics is False
