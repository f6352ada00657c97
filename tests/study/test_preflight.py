"""A study checks what it needs before it launches anything, and says what is wrong in one
line: the data, the tracking store, the storage path, the resources. Credentials never reach
the store."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

from a3m.study.preflight import (
    PreflightError,
    check_data,
    check_optuna_storage,
    check_output,
    check_resources,
    check_storage,
    check_store,
    check_tracking,
    check_writable_folder,
)
from a3m.study.tracking import open_store, redact

ROOT = Path(__file__).resolve().parents[2]


def test_redact_hides_passwords_in_urls_anywhere():
    text = "x --optuna-storage postgresql://user:s3cr3t@db:5432/optuna --tracking-uri " \
           "https://me:pa:ss@mlflow.example.org/ end"  # fmt: skip
    out = redact(text)
    assert "s3cr3t" not in out and "pa:ss" not in out
    assert "postgresql://user:***@db:5432/optuna" in out and "https://me:***@mlflow" in out
    assert redact("sqlite:///tmp/mlflow.db") == "sqlite:///tmp/mlflow.db"


def test_unreachable_tracking_server_fails_fast_in_one_line():
    t0 = time.perf_counter()
    with pytest.raises(PreflightError, match=r"--tracking-uri http://u:\*\*\*@127.0.0.1:9: no "):
        check_tracking("http://u:pw@127.0.0.1:9", timeout=2)
    assert time.perf_counter() - t0 < 5
    check_tracking("sqlite:///x.db")  # local stores need no server


def test_storage_path_under_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(PreflightError, match="--storage-path .*file/tune: not a writable folder"):
        check_storage(str(tmp_path / "file" / "tune"))
    check_storage(str(tmp_path / "ok"))
    assert (tmp_path / "ok").is_dir()


def test_resources_a_local_ray_cannot_give_are_refused():
    with pytest.raises(PreflightError, match="--gpus-per-trial 1: this Ray has 0 GPUs"):
        check_resources(1.0, 1.0, {"CPU": 2.0}, autoscaling=False)
    with pytest.raises(PreflightError, match="--cpus-per-trial 4: this Ray has 2 CPUs"):
        check_resources(0.0, 4.0, {"CPU": 2.0}, autoscaling=False)
    check_resources(1.0, 4.0, {"CPU": 2.0}, autoscaling=True)  # a cluster may add nodes


def test_a_folder_without_the_dataset_is_named_with_the_check_command(tmp_path):
    with pytest.raises(PreflightError, match=r"the compcars copy does not load .*a3m data check"):
        check_data(tmp_path, ["compcars"])


@pytest.mark.slow  # a subprocess that imports the study stack
def test_wrong_data_root_exits_2_in_seconds_without_traceback(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(ROOT / "studies" / "ablation_compcars.py"), "--data-root",
         str(tmp_path), "--storage-path", str(tmp_path / "tune"),
         "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert "the compcars copy does not load" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert time.perf_counter() - t0 < 60
    assert not (tmp_path / "mlflow.db").exists()  # nothing was launched or logged


_OPEN = """
import sys
from a3m.study.tracking import open_store, get_or_create_experiment
client = open_store(sys.argv[1])
get_or_create_experiment(client, sys.argv[2])
"""


@pytest.mark.slow  # two processes that each set up MLflow's tables
def test_two_processes_set_up_a_new_sqlite_store_together(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _OPEN, uri, f"study{i}"], stderr=subprocess.PIPE, text=True
        )  # fmt: skip
        for i in range(2)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-2000:]
    names = {e.name for e in open_store(uri).search_experiments()}
    assert {"study0", "study1"} <= names


def test_open_store_returns_a_working_client(tmp_path):
    client = open_store(f"sqlite:///{tmp_path}/sub/mlflow.db")
    assert isinstance(client, MlflowClient)
    assert (tmp_path / "sub" / "mlflow.db").exists()


def _study(tmp_path, synthetic_cache, *extra):
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    return subprocess.run(
        [sys.executable, str(ROOT / "studies" / "ablation_compcars.py"), "--synthetic",
         "--data-root", str(synthetic_cache), "--storage-path", str(tmp_path / "tune"),
         "--epochs", "1", "--no-report", *extra],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.mark.slow
def test_unreachable_server_and_missing_gpus_are_one_line_usage_errors(tmp_path, synthetic_cache):
    proc = _study(tmp_path, synthetic_cache, "--tracking-uri", "http://u:PASSWORD@127.0.0.1:9")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "no MLflow server answered" in proc.stderr and "PASSWORD" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1

    proc = _study(tmp_path, synthetic_cache, "--tracking-uri", f"sqlite:///{tmp_path}/m.db",
                  "--gpus-per-trial", "1")  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--gpus-per-trial 1: this Ray has 0 GPUs" in proc.stderr
    # the parent run that was opened says why it ended
    client = MlflowClient(f"sqlite:///{tmp_path}/m.db")
    experiment = client.get_experiment_by_name("ablation_compcars-synthetic")
    (parent,) = client.search_runs([experiment.experiment_id])
    assert parent.info.status == "FAILED" and "GPUs" in parent.data.tags["a3m.error"]


@pytest.mark.slow
def test_credentials_never_reach_the_store(ray_local, study_args, tmp_path, capsys):
    from a3m.study import StudySpec, run_study

    secret = "PASSWORD-1234"
    spec = StudySpec("secrets", "one trial", base={"dataset": "cub", "d": 16})
    storage = f"postgresql://user:{secret}@127.0.0.1:1/optuna"  # unused by a grid study
    args = study_args("--epochs", "1", "--no-report", "--optuna-storage", storage)
    result = run_study(spec, args)
    assert result.num_errors == 0
    out = capsys.readouterr()
    assert secret not in out.out + out.err
    client = MlflowClient(result.tracking_uri)
    exp = client.get_experiment_by_name("secrets-synthetic")
    (parent,) = client.search_runs([exp.experiment_id], "tags.`a3m.study` = 'secrets'")
    assert "postgresql://user:***@127.0.0.1:1/optuna" in parent.data.tags["a3m.command"]
    for path in tmp_path.rglob("*"):  # the store, its artifacts, Tune's files
        if path.is_file() and path.stat().st_size < 50_000_000:
            assert secret.encode() not in path.read_bytes(), path


def test_a_copy_read_by_several_datasets_is_fingerprinted_once(tmp_path, monkeypatch):
    import a3m.study.preflight as preflight
    from a3m.data.fingerprint import dataset_fingerprint
    from a3m.data.synthetic import write_synthetic

    root = write_synthetic("cub", tmp_path, seed=0, num_classes=4, images_per_class=6)
    calls = []
    monkeypatch.setattr(
        preflight, "dataset_fingerprint", lambda r: calls.append(r) or dataset_fingerprint(r)
    )
    found = check_data(root, ["cub", "cub_retrieval"])  # one CUB copy, two datasets
    assert found == {"cub": dataset_fingerprint(root), "cub_retrieval": dataset_fingerprint(root)}
    assert calls == [root]


def test_a_relative_image_cache_is_resolved_in_the_driver(tmp_path, monkeypatch):
    from a3m.study import StudySpec
    from a3m.study.spec import build_base, study_parser

    monkeypatch.chdir(tmp_path)
    spec = StudySpec("x", "d", base={"dataset": "cub"})

    def base(*sets: str) -> dict:
        argv = ["--synthetic", "--data-root", str(tmp_path)]
        args = study_parser(spec).parse_args([*argv, *(x for s in sets for x in ("--set", s))])
        return build_base(spec, args)

    # a trial runs in its own folder: the driver's relative path is made absolute
    assert base("image_cache=caches")["image_cache"] == str(tmp_path / "caches")
    assert base("image_cache=~/c")["image_cache"] == str(Path.home() / "c")
    assert base("image_cache=off")["image_cache"] == "off"
    assert "image_cache" not in base()  # 'auto': each node's own default folder


# -- the stores and outputs every command checks (issue 24) ------------------------------------
def mlflow_like_sqlite(path: Path) -> Path:
    import sqlite3

    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE experiments (experiment_id INTEGER, name TEXT)")
        db.executemany("INSERT INTO experiments VALUES (?, ?)", [(i, "x" * 500) for i in range(50)])
        db.commit()
    return path


@pytest.mark.parametrize("damage", ["random bytes", "truncated", "not mlflow", "a folder"])
def test_a_damaged_sqlite_store_is_one_line(tmp_path, damage):
    db = tmp_path / "mlflow.db"
    if damage == "random bytes":
        db.write_bytes(os.urandom(50_000))
    elif damage == "truncated":
        data = mlflow_like_sqlite(tmp_path / "whole.db").read_bytes()
        db.write_bytes(data[: len(data) // 2])
    elif damage == "not mlflow":
        import sqlite3

        with contextlib.closing(sqlite3.connect(db)) as con:
            con.execute("CREATE TABLE t (x)")
    else:
        db.mkdir()
    with pytest.raises(PreflightError, match=r"--tracking-uri sqlite:///.*mlflow.db: ") as err:
        check_store(f"sqlite:///{db}")
    assert "\n" not in str(err.value)
    check_store(f"sqlite:///{mlflow_like_sqlite(tmp_path / 'good.db')}", write=True)


def test_a_reading_command_does_not_create_a_store(tmp_path):
    with pytest.raises(PreflightError, match="no MLflow store there"):
        check_store(f"sqlite:///{tmp_path}/none.db", must_exist=True)
    check_store(f"sqlite:///{tmp_path}/none.db", write=True)  # a writer creates it
    assert not (tmp_path / "none.db").exists()


def test_a_read_only_store_is_one_line_for_a_writer(tmp_path, read_only):
    (tmp_path / "store").mkdir()
    db = mlflow_like_sqlite(tmp_path / "store" / "mlflow.db")
    read_only(tmp_path / "store")
    with pytest.raises(PreflightError, match="not a writable folder"):
        check_store(f"sqlite:///{db}", write=True)
    check_store(f"sqlite:///{db}")  # reading it is fine


def test_an_output_that_cannot_be_written_is_refused_before_any_work(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(PreflightError, match=r"-o .*file/lb.csv: .* is not a writable folder"):
        check_output(blocker / "lb.csv", "-o")
    with pytest.raises(PreflightError, match="a folder, not a file"):
        check_output(tmp_path, "-o")
    check_output(tmp_path / "new" / "deeper" / "lb.csv", "-o")
    assert not (tmp_path / "new").exists()  # checked without leaving anything behind
    with pytest.raises(PreflightError, match="--out"):
        check_writable_folder(blocker / "results", "--out")


def test_an_unreachable_optuna_store_is_one_line():
    pytest.importorskip("sqlalchemy")
    url = "postgresql://u:s3cret@127.0.0.1:9/optuna"
    with pytest.raises(PreflightError, match=r"--optuna-storage postgresql://u:\*\*\*@") as err:
        check_optuna_storage(url, timeout=5)
    assert "s3cret" not in str(err.value) and "\n" not in str(err.value)
    check_optuna_storage(None)
