"""A local study stays local and runs alone: its Ray listens on loopback only, keeps its files
in a folder private to the user, copies no secret of the environment into a log or a runtime
environment; a second driver on the same experiment and store is refused naming the first.
One study (a driver subprocess) serves every test of the module."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from mlflow import MlflowClient

from a3m.study.driver_lock import DRIVER_TAG
from a3m.study.exits import EXIT_USAGE
from a3m.study.local_ray import private_temp_dir

SCRIPT = Path(__file__).resolve().parents[2] / "studies" / "ablation_compcars.py"
EXPERIMENT = "ablation_compcars-synthetic"
LOOPBACK = ("127.0.0.1", "::1", "::ffff:127.0.0.1")


def _listening(pid: int) -> set[tuple[str, int, str]]:
    """(address, port, process name) of every TCP socket the process tree of ``pid`` listens
    on."""
    import psutil

    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.Error:
        return set()
    found = set()
    for process in tree:
        try:
            for conn in process.net_connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN:
                    found.add((conn.laddr.ip, conn.laddr.port, process.name()))
        except psutil.Error:
            continue
    return found


def _wait(predicate, driver, timeout_s: float = 240.0) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline and driver.poll() is None and not predicate():
        time.sleep(0.5)
    assert driver.poll() is None, "the study ended before it could be looked at"


@pytest.fixture(scope="module")
def local_study(tmp_path_factory, synthetic_cache):
    tmp = tmp_path_factory.mktemp("local-study")
    secret = f"a3m-test-secret-{uuid.uuid4().hex}"
    args = [sys.executable, str(SCRIPT), "--synthetic", "--data-root", str(synthetic_cache),
            "--tracking-uri", f"sqlite:///{tmp}/mlflow.db", "--storage-path", str(tmp / "tune"),
            "--out", str(tmp / "results"), "--smoke-test"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env |= {"AWS_SECRET_ACCESS_KEY": secret, "AWS_ACCESS_KEY_ID": "AKIA" + secret[-12:],
            "A3M_TEST_FAULT": '{"sleep_s": 8}'}  # fmt: skip
    started = time.time()
    driver = subprocess.Popen(args, env=env, cwd=tmp, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    client = MlflowClient(f"sqlite:///{tmp}/mlflow.db")
    seen: dict = {"sockets": set()}
    try:

        def locked() -> bool:
            experiment = (tmp / "mlflow.db").exists() and client.get_experiment_by_name(EXPERIMENT)
            return bool(experiment) and DRIVER_TAG in experiment.tags

        def training() -> bool:  # a worker is up: sample the sockets until then
            seen["sockets"] |= _listening(driver.pid)
            experiment_id = client.get_experiment_by_name(EXPERIMENT).experiment_id
            trials = [
                r for r in client.search_runs([experiment_id]) if "a3m.trial_id" in r.data.tags
            ]
            return any(client.get_metric_history(r.info.run_id, "epoch") for r in trials)

        _wait(locked, driver)
        second = subprocess.Popen(args, env=env, cwd=tmp, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        _wait(training, driver)
        for _ in range(4):
            seen["sockets"] |= _listening(driver.pid)
            time.sleep(0.5)
        second_out, second_err = second.communicate(timeout=120)
        out, _ = driver.communicate(timeout=400)
    finally:
        if driver.poll() is None:
            driver.kill()
    second.stdout, second.stderr = second_out, second_err
    return {"first": driver, "out": out, "second": second, "secret": secret,
            "sockets": seen["sockets"], "started": started}  # fmt: skip


@pytest.mark.slow
def test_the_first_driver_ends_as_usual(local_study):
    assert local_study["first"].returncode == 0, local_study["out"][-3000:]
    assert "on 127.0.0.1 only" in local_study["out"]


@pytest.mark.slow
def test_a_second_driver_is_refused_naming_the_first(local_study):
    second, first = local_study["second"], local_study["first"]
    assert second.returncode == EXIT_USAGE, second.stdout[-2000:] + second.stderr[-2000:]
    assert f"PID {first.pid} on host" in second.stderr, second.stderr
    assert "Traceback" not in second.stderr + second.stdout


@pytest.mark.slow
def test_a_local_study_listens_on_loopback_only(local_study):
    sockets = local_study["sockets"]
    assert {name for *_, name in sockets} >= {"gcs_server", "raylet"}, sockets
    wide = [s for s in sockets if s[0] not in LOOPBACK]
    assert not wide, wide


@pytest.mark.slow
def test_rays_temp_folder_is_private_and_holds_no_secret(local_study):
    folder = private_temp_dir()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    secret = local_study["secret"].encode()
    leaked = [
        path
        for path in folder.rglob("*")
        if path.is_file() and not path.is_symlink()
        and path.stat().st_mtime >= local_study["started"]
        and secret in path.read_bytes()
    ]  # fmt: skip
    assert not leaked, leaked
