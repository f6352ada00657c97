"""Metric histories of many runs: one query per metric on MLflow's SQL stores, a request per run
elsewhere, the same values either way."""

from __future__ import annotations

from mlflow import MlflowClient

from dashboards.data import metric_histories


def _store(uri: str, tmp_path) -> tuple[MlflowClient, list[str]]:
    client = MlflowClient(uri)
    exp = client.create_experiment("h", artifact_location=str(tmp_path / "art"))
    ids = []
    for i in range(3):
        run_id = client.create_run(exp).info.run_id
        for epoch in (1, 2):
            client.log_metric(run_id, "diag/s_mean", i + 0.1 * epoch, step=epoch, timestamp=epoch)
        ids.append(run_id)
    return client, ids


def test_sql_stores_read_one_metric_of_many_runs_in_one_query(mlflow_uri, tmp_path, monkeypatch):
    client, ids = _store(mlflow_uri, tmp_path)
    asked = []
    monkeypatch.setattr(client, "get_metric_history", lambda *a: asked.append(a) or [])

    got = metric_histories(client, ids, "diag/s_mean")

    assert asked == []  # no request per run
    assert {r: [(m.step, m.value) for m in h] for r, h in got.items()} == {
        run_id: [(1, i + 0.1), (2, i + 0.2)] for i, run_id in enumerate(ids)
    }


def test_other_stores_are_read_run_by_run_with_the_same_values(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow's file store: no bulk query
    client, ids = _store((tmp_path / "files").as_uri(), tmp_path)

    got = metric_histories(client, ids, "diag/s_mean")

    assert {r: [(m.step, m.value) for m in h] for r, h in got.items()} == {
        run_id: [(1, i + 0.1), (2, i + 0.2)] for i, run_id in enumerate(ids)
    }
