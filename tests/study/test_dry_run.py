"""``--dry-run``: the real runner, Tune, trainable and tracker, with made-up metrics."""

from __future__ import annotations

import pandas as pd
import pytest
from mlflow import MlflowClient

from a3m.config import RunConfig
from a3m.data.tasks import get_task
from a3m.study import StudySpec, run_study
from a3m.study.dry_run import FINGERPRINT_PREFIX, dry_fit, dry_metrics
from a3m.study.spec import study_parser

TINY = {"dataset": "cub", "variant": "a3m", "d": 16, "epochs": 3, "lr_drop_epochs": 1}


@pytest.mark.parametrize("dataset", ["cub", "market1501", "cars196"])
def test_dry_metrics_have_the_names_fit_logs(dataset):
    cfg = RunConfig.from_flat_dict({**TINY, "dataset": dataset, "val_fraction": 0.1})
    task = get_task(cfg.task)
    last = dry_metrics(cfg, 3)
    assert {"epoch", "lr", "train_loss", "score", "val_score", *task.metrics} <= set(last)
    assert {f"val_{m}" for m in task.metrics} <= set(last)
    assert last["score"] == last[task.primary] and 0 <= last["score"] <= 1
    assert last["lr"] == pytest.approx(cfg.lr * cfg.lr_drop_factor)  # the last epoch: dropped
    assert any(k.startswith("diag/") for k in last)


def test_dry_metrics_are_deterministic_and_pair_by_seed():
    def final(seed: int, variant: str) -> float:
        cfg = RunConfig.from_flat_dict({**TINY, "variant": variant, "seed": seed})
        return dry_metrics(cfg, 3)["score"]

    assert final(0, "a3m") == final(0, "a3m")
    assert final(0, "a3m") != final(1, "a3m")
    # a seed shifts every configuration alike (up to the per-run noise, 0.01)
    shift_a3m, shift_b1 = (
        final(1, "a3m") - final(0, "a3m"),
        final(1, "baseline1") - final(0, "baseline1"),
    )
    assert abs(shift_a3m - shift_b1) <= 0.01 + 1e-12
    # evaluations only where fit evaluates (eval_every, and the last epoch)
    cfg = RunConfig.from_flat_dict({**TINY, "eval_every": 2})
    assert "score" not in dry_metrics(cfg, 1) and "score" in dry_metrics(cfg, 2)
    assert "score" in dry_metrics(cfg, 3)


def test_dry_fit_resumes_from_its_checkpoint(tmp_path, stopped_fit):
    cfg = RunConfig.from_flat_dict(TINY)
    whole = dry_fit(cfg, tmp_path / "whole")
    stopped_fit(dry_fit, cfg, tmp_path / "cut", 2)
    seen = []
    resumed = dry_fit(cfg, tmp_path / "cut", resume=tmp_path / "cut", callback=seen.append)
    assert [r.epoch for r in seen] == [3]
    assert resumed.history == whole.history and resumed.final_score == whole.history[-1]["score"]
    assert RunConfig.from_json(tmp_path / "cut" / "config.json") == cfg


def test_dry_run_flag_is_documented_as_a_benchmark_aid():
    spec = StudySpec("x", "x", base=TINY)
    assert "benchmark" in study_parser(spec).format_help()
    assert study_parser(spec).parse_args(["--dry-run"]).dry_run


@pytest.mark.slow
def test_dry_run_study_logs_through_tune_and_mlflow(ray_local, study_args, monkeypatch):
    spec = StudySpec(
        "dry", "two variants, two seeds", base=TINY, grid={"variant": ["baseline1", "a3m"]},
        reference={"variant": "baseline1"},
    )  # fmt: skip
    result = run_study(spec, study_args("--dry-run", "--epochs", "2", "--seeds", "2"))
    assert (result.num_trials, result.num_errors) == (4, 0)
    assert result.experiment == "dry-synthetic-dry-run"  # never mixed with trained runs

    client = MlflowClient(result.tracking_uri)
    exp = client.get_experiment_by_name(result.experiment)
    runs = client.search_runs([exp.experiment_id], "tags.`a3m.run_kind` = 'trial'")
    assert len(runs) == 4
    for run in runs:
        assert run.info.status == "FINISHED"
        assert run.data.tags["a3m.dataset_fingerprint"].startswith(FINGERPRINT_PREFIX)
        assert run.data.tags["a3m.data.kind"] == "dry_run"  # decided by the trial (issue 25)
        inputs = {i.dataset.name: i for i in run.inputs.dataset_inputs}
        assert sorted(inputs) == ["cub/test", "cub/train"]  # every split the trial read
        assert {t.value for i in inputs.values() for t in i.tags} == {"train", "test"}
        history = client.get_metric_history(run.info.run_id, "epoch")
        assert sorted(m.step for m in history) == [1, 2]
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "metrics")}
        assert "metrics/final.json" in artifacts  # the trainable's last-epoch logging ran

    table = pd.read_csv(result.leaderboard_csv)
    assert set(table["variant"]) == {"baseline1", "a3m"} and table["score_mean"].notna().all()
    comparisons = pd.read_csv(result.out_dir / "comparisons.csv")
    assert comparisons["n_pairs"].tolist() == [2]

    # the study's report adds its files beside the leaderboard, which keeps its verdicts, and
    # says on its first line that the numbers are made up
    from dashboards.build import after_study

    monkeypatch.setenv("BROWSER_PATH", str(result.out_dir / "no-browser"))  # HTML only: fast
    after_study(result)
    board = pd.read_csv(result.leaderboard_csv)
    assert {"verdict", "diff_mean", "diff_ci_low", "diff_ci_high", "p_holm"} <= set(board)
    page = (result.out_dir / "report.html").read_text()
    assert "<h1>DRY RUN (made-up numbers): A3M study report: dry-synthetic-dry-run</h1>" in page
