"""MLflow -> DataFrame on a tiny SQLite store written like the studies write theirs: the trial
runs, the attention PNGs of a run chosen without the test split (Fig. 6), the Optuna study
beside the store."""

from __future__ import annotations

from pathlib import Path

import pytest

from a3m.study.tracking import default_optuna_storage
from dashboards import data
from dashboards.selection import attention_candidates


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


def test_attention_pngs_of_the_a3m_run_at_the_reference(tiny_store, tmp_path):
    runs = data.load_runs(tiny_store.mixed, tiny_store.tracking_uri)
    picked = attention_candidates(runs, {"variant": "baseline2"})  # the study's reference
    assert not picked.refused and "its first seed" in picked.rule
    images = data.download_attention_images(
        picked.runs, tiny_store.tracking_uri, tmp_path, max_images=3
    )
    assert len(images) == 3 and images["run_id"].nunique() == 1
    chosen = runs[runs["run_id"] == images["run_id"].iloc[0]].iloc[0]
    # A3M at the study's base (alpha = beta = 0.5), its first seed: not the best test score
    assert chosen["params.variant"] == "a3m" and chosen["params.seed"] == "0"
    assert (chosen["params.alpha"], chosen["params.beta"]) == ("0.5", "0.5")
    assert images["artifact"].tolist() == [f"attention/attention_{i:04d}.png" for i in range(3)]
    assert all(Path(f).is_file() and Path(f).is_relative_to(tmp_path) for f in images["file"])
    assert images["label"].iloc[0].endswith("(A3M, seed 0)")


def test_fig6_never_picks_its_run_by_the_test_score(frames):
    """The runs vary more than the variant: without a reference or a val_score there is no
    way to pick but the test score, so nothing is picked and the reason says how to fix it;
    with a val_score, the best by it (in its direction) comes first."""
    run = frames.run
    runs = frames.frame(*[
        run(f"a{d}-{s}", "a3m", s, params={"d": d}, metrics={"score": 0.5 + d / 1000})
        for d in (16, 64) for s in (0, 1)
    ])  # fmt: skip
    picked = attention_candidates(runs)
    assert picked.runs.empty and "--set val_fraction=0.1" in picked.refused
    runs["metrics.val_score"] = [0.7, 0.72, 0.6, 0.61]  # d=16 better on the validation part
    picked = attention_candidates(runs)
    assert not picked.refused and picked.runs["run_id"].tolist() == ["a16-1", "a16-0"]
    assert "val_score" in picked.rule
    # a declared reference is enough: its configuration, first seed first
    picked = attention_candidates(runs.drop(columns="metrics.val_score"), {"d": "64"})
    assert picked.runs["run_id"].tolist() == ["a64-0", "a64-1"]


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
