"""The runs frame read for large studies: every page, MLflow's own layout; and the leaderboard's
statistics, computed per configuration from column arrays, checked by hand."""

from __future__ import annotations

import math

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from scipy import stats

from a3m.study import runs as runs_module
from a3m.study.leaderboard import leaderboard
from a3m.study.runs import runs_frame


def test_runs_frame_reads_every_page_in_mlflow_layout(mlflow_uri, tmp_path, monkeypatch):
    client = MlflowClient(mlflow_uri)
    exp = client.create_experiment("study", artifact_location=str(tmp_path / "art"))
    parent = client.create_run(exp).info.run_id  # a study's parent run: not a training run
    for i in range(5):
        run = client.create_run(exp, start_time=1000 + i, tags={"a3m.run_kind": "trial",
                                "mlflow.parentRunId": parent, "a3m.trial_id": f"t{i}"})  # fmt: skip
        params = {"seed": str(i), "alpha": "0.5"} | ({"d": "16"} if i % 2 else {})
        for key, value in params.items():
            client.log_param(run.info.run_id, key, value)
        client.log_metric(run.info.run_id, "score", 0.1 * i, step=1)
        if i != 3:  # one run without a metric the others have
            client.log_metric(run.info.run_id, "accuracy", 0.2 * i, step=1)
        client.set_terminated(run.info.run_id, "FAILED" if i == 4 else "FINISHED")
    monkeypatch.setattr(runs_module, "RUNS_PER_PAGE", 2)  # 6 runs: 3 pages

    frame = runs_frame("study", mlflow_uri)

    mlflow.set_tracking_uri(mlflow_uri)
    expected = mlflow.search_runs([exp], output_format="pandas")
    expected = expected[expected["run_id"] != parent].reset_index(drop=True)
    assert sorted(frame.columns) == sorted(expected.columns)
    pd.testing.assert_frame_equal(frame[expected.columns], expected)
    assert frame["params.d"].isna().sum() == 3 and frame["metrics.accuracy"].isna().sum() == 1


def test_leaderboard_statistics_by_hand():
    rows = [
        # configuration alpha=0.1: three seeds, one of them FAILED without a score
        {"params.alpha": "0.1", "params.seed": "0", "metrics.score": 0.50, "status": "FINISHED"},
        {"params.alpha": "0.1", "params.seed": "10", "metrics.score": 0.60, "status": "FINISHED"},
        {"params.alpha": "0.1", "params.seed": "2", "metrics.score": np.nan, "status": "FAILED"},
        # configuration alpha=0.9: one seed
        {"params.alpha": "0.9", "params.seed": "0", "metrics.score": 0.70, "status": "FINISHED"},
    ]
    runs = pd.DataFrame(rows).assign(run_id=[f"r{i}" for i in range(len(rows))])

    table = leaderboard(runs).set_index("alpha")

    low = table.loc["0.1"]
    assert low["score_mean"] == pytest.approx(0.55)
    half_width = stats.t.ppf(0.975, 1) * np.std([0.5, 0.6], ddof=1) / math.sqrt(2)
    assert low["score_ci95"] == pytest.approx(half_width)
    assert (low["n_runs"], low["seeds"], low["run_ids"]) == (3, "0,10,2", "r0;r1;r2")
    assert low["status"] == "FINISHED:2,FAILED:1"
    high = table.loc["0.9"]
    assert high["score_mean"] == 0.7 and math.isnan(high["score_ci95"])
    assert high["status"] == "FINISHED:1"
    assert list(table.index) == ["0.9", "0.1"]  # best mean score first
