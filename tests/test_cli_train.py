"""`a3m train` and `a3m leaderboard` from the command line."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from mlflow import MlflowClient

from a3m.cli import main


@pytest.fixture(scope="module")
def cub_root(synthetic_copy):
    return synthetic_copy("cub", seed=0, num_classes=4, images_per_class=8, image_size=64)


def test_train_writes_results_and_logs_to_mlflow(mlflow_uri, cub_root, tmp_path, capsys):
    out = tmp_path / "run"
    code = main([
        "train", "--dataset", "cub", "--data-root", str(cub_root), "--backbone", "tiny",
        "--d", "16", "--input-size", "64x64", "--epochs", "2", "--lr-drop-epochs", "1",
        "--num-workers", "0", "--alpha", "0.3", "--no-bbox-crop", "--quiet",
        "--out", str(out), "--tracking-uri", mlflow_uri, "--experiment", "cli",
    ])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "accuracy" in printed and "train_loss" in printed  # the table at the end
    for name in ("config.json", "checkpoint.pt", "history.csv", "metrics.json"):
        assert (out / name).is_file(), name
    assert "final score" in printed and not (out / "model_best.pt").exists()  # val_fraction=0
    assert len(pd.read_csv(out / "history.csv")) == 2
    assert json.loads((out / "metrics.json").read_text())["epoch"] == 2
    config = json.loads((out / "config.json").read_text())
    assert config["alpha"] == 0.3 and config["bbox_crop"] is False

    client = MlflowClient(mlflow_uri)
    (run,) = client.search_runs([client.get_experiment_by_name("cli").experiment_id])
    assert run.info.status == "FINISHED" and run.data.params["alpha"] == "0.3"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "accuracy")] == [1, 2]
    assert run.data.tags["a3m.variant"] == "a3m" and len(run.data.tags["a3m.dataset_fingerprint"])
    # the same tracker as a study's trials: the leaderboard ranks a3m train's runs too
    board = tmp_path / "lb.csv"
    assert (
        main(["leaderboard", "--experiment", "cli", "-o", str(board), "--tracking-uri", mlflow_uri])
        == 0
    )
    assert pd.read_csv(board).loc[0, "n_runs"] == 1


def test_train_bad_flag_names_the_field(capsys):
    assert main(["train", "--dataset", "cub", "--synthetic", "--alpha", "-1"]) == 2
    assert "alpha must be >= 0" in capsys.readouterr().err


def _train(cub_root, out, *extra):
    return main([
        "train", "--dataset", "cub", "--data-root", str(cub_root), "--backbone", "tiny",
        "--d", "16", "--input-size", "64x64", "--epochs", "1", "--lr-drop-epochs", "0",
        "--num-workers", "0", "--quiet", "--out", str(out), *extra,
    ])  # fmt: skip


def test_train_user_errors_are_one_line(cub_root, tmp_path, capsys):
    assert _train(cub_root, tmp_path / "a") == 0
    capsys.readouterr()
    # a checkpoint of another model: the fields that differ, no traceback
    assert _train(cub_root, tmp_path / "b", "--d", "8", "--resume", str(tmp_path / "a")) == 2
    err = capsys.readouterr().err
    assert "was written for another model: d: checkpoint 16 vs config 8" in err
    assert len(err.strip().splitlines()) == 1
    assert _train(cub_root, tmp_path / "c", "--resume", str(tmp_path / "nope")) == 2
    assert "does not exist" in capsys.readouterr().err
    # a corrupt image met during training names the file
    image = sorted((cub_root / "CUB_200_2011" / "images").rglob("*.jpg"))[0]
    broken = tmp_path / "cub"
    shutil.copytree(cub_root, broken)
    (broken / image.relative_to(cub_root)).write_bytes(b"not a jpeg")
    code = main([
        "train", "--dataset", "cub", "--data-root", str(broken), "--backbone", "tiny",
        "--d", "16", "--input-size", "64x64", "--epochs", "1", "--lr-drop-epochs", "0",
        "--num-workers", "0", "--quiet", "--out", str(tmp_path / "d"),
    ])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1 and image.name in err and len(err.strip().splitlines()) == 1


def test_leaderboard_from_mlflow(mlflow_uri, tmp_path, capsys):
    client = MlflowClient(mlflow_uri)
    exp = client.create_experiment("study")
    parent = client.create_run(exp).info.run_id
    for i, (alpha, seed, acc) in enumerate([(0.1, 0, 0.5), (0.1, 1, 0.7), (0.5, 0, 0.9)]):
        run = client.create_run(
            exp, tags={"mlflow.parentRunId": parent, "a3m.trial_id": f"t{i}"}
        ).info.run_id
        client.log_param(run, "alpha", alpha)
        client.log_param(run, "seed", seed)
        client.log_metric(run, "accuracy", acc, step=1)
        client.set_terminated(run)
    out = tmp_path / "lb.csv"
    assert (
        main(["leaderboard", "--experiment", "study", "-o", str(out), "--tracking-uri", mlflow_uri])
        == 0
    )
    table = pd.read_csv(out)
    assert list(table["alpha"]) == [0.5, 0.1]  # best first
    row = table[table["alpha"] == 0.1].iloc[0]
    assert row["n_runs"] == 2 and row["accuracy_mean"] == pytest.approx(0.6)
    # 95% CI of the mean of (0.5, 0.7): t(0.975, 1) * s / sqrt(2) = 12.706 * 0.1414 / 1.414
    assert row["accuracy_ci95"] == pytest.approx(12.7062 * 0.1, rel=1e-3)
    assert (
        main(["leaderboard", "--experiment", "nope", "-o", str(out), "--tracking-uri", mlflow_uri])
        == 2
    )
    assert "no MLflow experiment 'nope'" in capsys.readouterr().err


def test_dashboard_command_reports_a_missing_experiment(mlflow_uri, capsys):
    MlflowClient(mlflow_uri).create_experiment("other")
    assert main(["dashboard", "--experiment", "nope", "--tracking-uri", mlflow_uri]) == 2
    assert "nope" in capsys.readouterr().err


def test_each_epoch_is_in_mlflow_once_it_is_checkpointed(
    mlflow_uri, cub_root, tmp_path, monkeypatch
):
    # a3m train checkpoints every epoch and --resume goes on from the last checkpoint: an epoch
    # still waiting to be sent when the process dies would be missing for good
    import a3m.train
    from a3m.study import tracking

    monkeypatch.setattr(tracking, "LOG_EVERY_S", 3600.0)  # a study's trials would wait
    real_fit, seen = a3m.train.fit, []

    def fit(cfg, out, *, callback, **kwargs):
        def spy(result):
            callback(result)
            client = MlflowClient(mlflow_uri)
            (run,) = client.search_runs([client.get_experiment_by_name("e").experiment_id])
            seen.append([m.step for m in client.get_metric_history(run.info.run_id, "epoch")])

        return real_fit(cfg, out, callback=spy, **kwargs)

    monkeypatch.setattr(a3m.train, "fit", fit)
    code = main([
        "train", "--dataset", "cub", "--data-root", str(cub_root), "--backbone", "tiny",
        "--d", "16", "--input-size", "64x64", "--epochs", "3", "--lr-drop-epochs", "1",
        "--num-workers", "0", "--no-bbox-crop", "--quiet", "--out", str(tmp_path / "run"),
        "--tracking-uri", mlflow_uri, "--experiment", "e",
    ])  # fmt: skip
    assert code == 0
    assert seen == [[1], [1, 2], [1, 2, 3]]
