"""What a bad input gets from the `a3m` commands that read MLflow (issue 24): one line on stderr
and exit 2 for bad usage (a flag, a store or a file given on the command line), checked before
any work; 1 when the command ran but the experiment says no. docs/faults.md lists each case."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys

import pytest
from mlflow import MlflowClient

from a3m.cli import main
from a3m.study.preflight import PreflightError, check_tracking

UNREACHABLE = "http://127.0.0.1:9"


@contextlib.contextmanager
def http_server(answer):
    """A local HTTP server on a free port whose GET handler is ``answer(path) -> (status,
    body)``; yields its base URL."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            status, body = answer(self.path)
            self.send_response(status)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def plain_web_server(path):
    return 404, b"<html><body>Not Found</body></html>"


def fake_mlflow(path):
    if path == "/health":
        return 200, b"OK"
    return 404, b'{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no"}'


def test_a_server_that_is_not_mlflow_is_refused_in_one_line():
    with http_server(plain_web_server) as url, pytest.raises(PreflightError) as err:
        check_tracking(url, timeout=5)
    assert "not as an MLflow server (HTTP 404" in str(err.value) and "<html>" not in str(err.value)
    with http_server(fake_mlflow) as url:
        check_tracking(url, timeout=5)  # MLflow's REST API answers in JSON
    with http_server(lambda path: (401, b"login")) as url:
        check_tracking(url, timeout=5)  # behind auth: it answered


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """An experiment ``study``: alpha 0.1 and 0.5, seeds 0 and 1 each, one FINISHED run each."""
    path = tmp_path_factory.mktemp("store")
    uri = f"sqlite:///{path}/mlflow.db"
    client = MlflowClient(uri)
    exp = client.create_experiment("study")
    parent = client.create_run(exp).info.run_id
    for i, (alpha, seed, score) in enumerate(
        [(0.1, 0, 0.5), (0.1, 1, 0.7), (0.5, 0, 0.6), (0.5, 1, 0.9)]
    ):
        tags = {"mlflow.parentRunId": parent, "a3m.trial_id": f"t{i}", "a3m.run_kind": "trial"}
        run = client.create_run(exp, tags=tags).info.run_id
        client.log_param(run, "alpha", alpha)
        client.log_param(run, "seed", seed)
        client.log_metric(run, "score", score, step=1)
        client.set_terminated(run)
    return uri


def one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


READERS = {
    "leaderboard": ["leaderboard", "--experiment", "study", "-o", "{tmp}/lb.csv"],
    "compare": ["compare", "--experiment", "study"],
    "dashboard": ["dashboard", "--experiment", "study", "--no-png", "--out", "{tmp}/report"],
}


def command(name, tmp_path, uri):
    return [a.replace("{tmp}", str(tmp_path)) for a in READERS[name]] + ["--tracking-uri", uri]


@pytest.mark.parametrize("name", [*READERS, "train"])
def test_a_server_that_is_down_or_not_mlflow_is_one_line(name, tmp_path, capsys):
    with http_server(plain_web_server) as web:
        for uri, says in ((UNREACHABLE, "no MLflow server answered"),
                          (web, "not as an MLflow server")):  # fmt: skip
            if name == "train":
                argv = ["train", "--tracking-uri", uri, "--dataset", "cub", "--synthetic",
                        "--epochs", "1", "--out", str(tmp_path / "t")]  # fmt: skip
            else:
                argv = command(name, tmp_path, uri)
            assert main(argv) == 2
            assert says in one_line(capsys)
    assert not (tmp_path / "t").exists()  # refused before training


@pytest.mark.slow
@pytest.mark.parametrize("name", [*READERS, "train"])
def test_an_unreachable_server_fails_within_seconds(name, tmp_path):
    argv = command(name, tmp_path, UNREACHABLE) if name != "train" else [
        "train", "--tracking-uri", UNREACHABLE, "--dataset", "cub", "--synthetic"]  # fmt: skip
    proc = subprocess.run([sys.executable, "-m", "a3m.cli", *argv], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 2 and "no MLflow server answered" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("damage", ["random bytes", "truncated", "missing"])
@pytest.mark.parametrize("name", READERS)
def test_a_damaged_or_missing_store_is_one_line(name, damage, tmp_path, capsys):
    db = tmp_path / "mlflow.db"
    if damage == "random bytes":
        db.write_bytes(os.urandom(20_000))
    elif damage == "truncated":
        db.write_bytes(b"SQLite format 3\x00" + b"\x10\x00\x01\x01" + bytes(20_000))
    assert main(command(name, tmp_path, f"sqlite:///{db}")) == 2
    err = one_line(capsys)
    assert "no MLflow store there" in err if damage == "missing" else "damaged" in err
    assert not db.exists() or damage != "missing"  # a reading command creates no store


def test_a_fake_mlflow_server_passes_the_check(tmp_path, capsys):
    from a3m.study.preflight import check_command

    with http_server(fake_mlflow) as url:
        check_command(url, [("-o", tmp_path / "x.csv")])


@pytest.mark.parametrize("name", READERS)
def test_an_output_that_cannot_be_written_is_refused_first(name, store, tmp_path, capsys):
    (tmp_path / "file").write_text("")
    argv = command(name, tmp_path, store)
    if name == "compare":
        argv += ["-o", str(tmp_path / "file" / "c.csv")]
    else:  # -o of the leaderboard, --out of the dashboard: under a file
        argv = [a.replace(str(tmp_path), str(tmp_path / "file")) for a in argv]
    assert main(argv) == 2
    assert "not a writable folder" in one_line(capsys)


@pytest.mark.parametrize(
    "flags, says",
    [
        (["--alpha", "7"], "--alpha 7: alpha must be in (0, 1)"),
        (["--alpha", "-0.5"], "--alpha -0.5: alpha must be in (0, 1)"),
        (["--alpha", "nan"], "--alpha nan"),
        (["--min-effect", "-1"], "--min-effect -1"),
        (["--metric", "bogus"], "--metric bogus: no run logged it; valid: score"),
        (["--reference", "alpha"], "--reference expects FIELD=VALUE"),
        (["--reference", "alpha=0.3"], "--reference: reference alpha=0.3 matches no run"),
        (["--reference", "beta=1"], "--reference: reference field 'beta'"),
    ],
)
def test_compare_refuses_bad_flags(flags, says, store, tmp_path, capsys):
    assert main(["compare", "--experiment", "study", "--tracking-uri", store, *flags]) == 2
    assert says in one_line(capsys)


def test_compare_with_good_flags_still_works(store, capsys):
    argv = ["compare", "--experiment", "study", "--tracking-uri", store, "--alpha", "0.1"]
    assert main([*argv, "--reference", "alpha=0.1"]) == 0
    assert "alpha" in capsys.readouterr().out


def test_leaderboard_refuses_an_unknown_sort_column(store, tmp_path, capsys):
    out = tmp_path / "lb.csv"
    argv = ["leaderboard", "--experiment", "study", "--tracking-uri", store, "-o", str(out)]
    assert main([*argv, "--sort-by", "bogus"]) == 2
    assert "--sort-by bogus: not a column of this leaderboard; valid: " in one_line(capsys)
    assert not out.exists()
    assert main([*argv, "--sort-by", "score_mean"]) == 0


@pytest.mark.parametrize("name", READERS)
def test_an_unknown_experiment_is_bad_usage_everywhere(name, store, tmp_path, capsys):
    argv = [a if a != "study" else "nope" for a in command(name, tmp_path, store)]
    assert main(argv) == 2
    assert "no MLflow experiment 'nope'" in one_line(capsys)


@pytest.mark.parametrize("setting", ["lr=nan", "alpha=inf", "beta=-inf", "epochs=inf"])
def test_nan_and_inf_are_refused_up_front(setting, tmp_path, capsys):
    from a3m.config import ConfigError, RunConfig
    from a3m.study import StudySpec
    from a3m.study.exits import UsageError
    from a3m.study.runner import run_study

    field, value = setting.split("=")
    with pytest.raises(ConfigError, match=field):
        RunConfig.from_flat_dict({"dataset": "cub", field: value})
    spec = StudySpec("x", "d", base={"dataset": "cub", "d": 16})
    argv = ["--synthetic", "--data-root", str(tmp_path / "synthetic"), "--tracking-uri",
            f"sqlite:///{tmp_path}/mlflow.db", "--storage-path", str(tmp_path / "tune"),
            "--out", str(tmp_path / "results"), "--set", setting]  # fmt: skip
    with pytest.raises(UsageError, match=f"bad study setting: {field}"):
        run_study(spec, argv)
    assert not (tmp_path / "mlflow.db").exists()  # refused before any run was opened
    flag = "--" + field.replace("_", "-")
    assert main(["train", "--dataset", "cub", "--synthetic", f"{flag}={value}"]) == 2
    assert f"{field}" in one_line(capsys)


TRAIN = ["train", "--dataset", "cub", "--synthetic", "--backbone", "tiny", "--epochs", "1"]


@pytest.mark.parametrize("damage", ["truncated", "empty", "garbage", "a pickle of something"])
def test_train_refuses_a_checkpoint_that_does_not_load(damage, tmp_path, capsys):
    import torch

    checkpoint = tmp_path / "checkpoint.pt"
    if damage == "truncated":
        torch.save({"model": {"w": torch.zeros(1000)}, "epoch": 1}, checkpoint)
        checkpoint.write_bytes(checkpoint.read_bytes()[:2000])
    elif damage == "empty":
        checkpoint.write_bytes(b"")
    elif damage == "garbage":
        checkpoint.write_bytes(os.urandom(5000))
    else:
        torch.save({"epoch": 3}, checkpoint)
    argv = [*TRAIN, "--out", str(tmp_path / "run"), "--resume", str(checkpoint)]
    assert main(argv) == 2
    err = one_line(capsys)
    assert f"--resume {checkpoint}: not a" in err
    assert not (tmp_path / "run").exists()  # refused before anything was built


def test_train_refuses_an_unwritable_out_and_pretrained_tiny(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    assert main([*TRAIN, "--out", str(tmp_path / "file" / "run")]) == 2
    assert "--out: " in one_line(capsys)
    assert main([*TRAIN, "--pretrained", "--out", str(tmp_path / "run")]) == 2
    assert "'tiny' has no pretrained weights" in one_line(capsys)


def test_train_refuses_an_out_in_a_read_only_folder(tmp_path, capsys, read_only):
    (tmp_path / "ro").mkdir()
    read_only(tmp_path / "ro")
    assert main([*TRAIN, "--out", str(tmp_path / "ro" / "run")]) == 2
    assert "not a writable folder" in one_line(capsys)


def test_a_run_without_params_is_named_and_skipped(store, tmp_path, capsys):
    import shutil

    db = tmp_path / "mlflow.db"
    shutil.copy(store.removeprefix("sqlite:///"), db)
    uri = f"sqlite:///{db}"
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("study").experiment_id
    parent = client.search_runs([exp])[0].data.tags["mlflow.parentRunId"]
    tags = {"mlflow.parentRunId": parent, "a3m.trial_id": "lost", "a3m.run_kind": "trial"}
    lost = client.create_run(exp, tags=tags).info.run_id  # its params never reached the store
    out = tmp_path / "lb.csv"
    assert (
        main(["leaderboard", "--experiment", "study", "--tracking-uri", uri, "-o", str(out)]) == 0
    )
    assert f"without params (left by a full disk or a killed writer?): {lost}" in (
        capsys.readouterr().err
    )
    assert main(["compare", "--experiment", "study", "--tracking-uri", uri, "--reference",
                 "alpha=0.1"]) == 0  # fmt: skip
    assert lost in capsys.readouterr().err


def test_the_leaderboard_of_runs_with_a_missing_seed_does_not_crash():
    import numpy as np
    import pandas as pd

    from a3m.study.leaderboard import leaderboard

    runs = pd.DataFrame({
        "run_id": ["a", "b", "c"], "status": ["FINISHED", "FAILED", "FINISHED"],
        "params.alpha": ["0.1", "0.1", "0.5"], "params.seed": ["0", np.nan, "0"],
        "metrics.score": [0.5, np.nan, 0.6],
    })  # fmt: skip
    board = leaderboard(runs)
    assert board.set_index("alpha").loc["0.1", "seeds"] == "0,?"
