"""MLflow -> DataFrame on a tiny SQLite store written like the studies write theirs: the trial
runs, the attention PNGs of the best attention run, the Optuna study beside the store."""

from __future__ import annotations

from pathlib import Path

import pytest

from a3m.study.tracking import default_optuna_storage
from dashboards import data


def test_load_runs_gives_the_trial_runs_only(tiny_store):
    runs = data.load_runs(tiny_store.mixed, tiny_store.tracking_uri)
    assert len(runs) == 13  # 8 ablation trials + 4 sweep points + 1 failed; no parent run
    assert runs["tags.mlflow.parentRunId"].notna().all()
    assert data.status_counts(runs) == {"FINISHED": 12, "FAILED": 1}
    failed = runs[runs["run_id"] == tiny_store.failed_run_id].iloc[0]
    assert failed["tags.a3m.error"].startswith("NonFiniteLossError")
    # the latest epoch's value of each metric, params as text
    a3m = runs[(runs["params.variant"] == "a3m") & (runs["params.seed"] == "1")
               & (runs["params.alpha"] == "0.5") & (runs["params.beta"] == "0.5")]  # fmt: skip
    assert a3m["metrics.accuracy"].iloc[0] == pytest.approx(0.71)
    assert data.variants_in(runs) == ["baseline1", "baseline2", "att1", "att2", "a3m"]
    assert data.is_synthetic(runs)
    assert set(data.varying_settings(runs)) == {"variant", "alpha", "beta"}


def test_unknown_experiment_lists_the_known_ones(tiny_store):
    with pytest.raises(ValueError, match="mixed-synthetic"):
        data.load_runs("nope", tiny_store.tracking_uri)


def test_attention_pngs_of_the_best_a3m_run(tiny_store, tmp_path):
    runs = data.load_runs(tiny_store.mixed, tiny_store.tracking_uri)
    images = data.download_attention_images(runs, tiny_store.tracking_uri, tmp_path, max_images=3)
    assert len(images) == 3 and images["run_id"].nunique() == 1
    best = runs[runs["run_id"] == images["run_id"].iloc[0]].iloc[0]
    assert best["params.variant"] == "a3m" and best["params.seed"] == "1"  # highest score
    assert images["artifact"].tolist() == [f"attention/attention_{i:04d}.png" for i in range(3)]
    assert all(Path(f).is_file() and Path(f).is_relative_to(tmp_path) for f in images["file"])
    assert images["label"].iloc[0].endswith("(A3M, seed 1)")


def test_no_attention_pngs_give_an_empty_frame(tiny_store, tmp_path):
    runs = data.load_runs(tiny_store.search, tiny_store.tracking_uri)
    images = data.download_attention_images(runs, tiny_store.tracking_uri, tmp_path)
    assert images.empty and list(images.columns) == ["run_id", "label", "artifact", "file"]


def test_optuna_study_beside_a_sqlite_store(tiny_store, tmp_path):
    url = default_optuna_storage(tiny_store.tracking_uri)
    assert url == f"sqlite:///{tiny_store.root}/optuna.db"
    study, note = data.load_optuna_study(tiny_store.search, url)
    assert study is not None and len(study.trials) == 6 and "Optuna study" in note
    missing, note = data.load_optuna_study(tiny_store.mixed, url)
    assert missing is None and "no Optuna study 'mixed-synthetic'" in note
    # a SQLite file that is not there is "not found", and is not created
    absent = tmp_path / "optuna.db"
    assert data.load_optuna_study("x", f"sqlite:///{absent}")[0] is None and not absent.exists()
    assert default_optuna_storage("http://mlflow:5000") is None
    assert "--optuna-storage" in data.load_optuna_study("x", None)[1]


def test_param_importances_from_the_study_or_estimated_from_runs(tiny_store):
    runs = data.load_runs(tiny_store.search, tiny_store.tracking_uri)
    study, _ = data.load_optuna_study(
        tiny_store.search, default_optuna_storage(tiny_store.tracking_uri)
    )
    importances, source = data.param_importances(runs, study)
    assert set(importances) == {"lr", "alpha", "d"} and source == "from the Optuna study"
    assert sum(importances.values()) == pytest.approx(1.0)
    estimated, source = data.param_importances(runs)
    assert set(estimated) == {"lr", "alpha", "d"} and source == "estimated from the MLflow runs"
    nothing, why = data.param_importances(runs.iloc[:1])
    assert nothing == {} and "2 or more complete trials" in why


def test_missing_note_names_runs_and_reasons(frames):
    run = frames.run
    runs = frames.frame(
        run("aaaaaaaa1", "a3m", 0, metrics={"accuracy": 0.5}),
        run("bbbbbbbb2", "att1", 1, status="FAILED", error="ValueError: " + "x" * 200),
        run("cccccccc3", "att2", 2, metrics={"score": 0.1}),
        run("dddddddd4", "a3m", 3, status="RUNNING"),
    )
    note = data.missing_note(runs, ["accuracy"])
    assert note.startswith("3 runs without accuracy: bbbbbbb (Att-1, seed 1) FAILED: ValueError")
    assert "..." in note  # long errors are cut
    assert "ccccccc (Att-2, seed 2) FINISHED, never evaluated" in note
    assert "ddddddd (A3M, seed 3) RUNNING, not evaluated yet" in note
    assert data.missing_note(runs.iloc[:1], ["accuracy"]) is None
    assert "and 1 more" in data.missing_note(runs, ["accuracy"], max_runs=2)
