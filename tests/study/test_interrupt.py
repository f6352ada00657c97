"""Ctrl-C ends a study as interrupted, not as a success: exit 130, its unfinished trial runs and
its parent KILLED (not FINISHED, no stale "stopped early"), the exact --resume command printed;
that command then finishes the study. Bad flags are refused before anything is launched."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

from a3m.study import StudySpec
from a3m.study.exits import EXIT_INTERRUPTED, EXIT_TERMINATED
from a3m.study.runner import StudyResult
from a3m.study.spec import check_same_launch, study_parser

SCRIPT = Path(__file__).resolve().parents[2] / "studies" / "ablation_compcars.py"


def runs_of(client: MlflowClient, experiment: str):
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id]) if exp else []


EXPERIMENT = "ablation_compcars-synthetic"


def stop_mid_training(tmp_path, args, env, *signals, between_s=0.0):
    """Start the study driver, wait until a trial logged an epoch, send it ``signals`` (
    ``between_s`` apart); returns (its output, its exit status, the processes it had started)."""
    import psutil

    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    driver = subprocess.Popen(args, env=env, cwd=tmp_path, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.time() + 300
        while time.time() < deadline and driver.poll() is None:
            time.sleep(1)
            if not (tmp_path / "mlflow.db").exists():
                continue
            trials = [r for r in runs_of(client, EXPERIMENT) if "a3m.trial_id" in r.data.tags]
            if any(client.get_metric_history(r.info.run_id, "epoch") for r in trials):
                break
        assert driver.poll() is None, "the study ended before it could be interrupted"
        children = psutil.Process(driver.pid).children(recursive=True)
        assert children, "the study started no Ray of its own"
        for i, signum in enumerate(signals):
            if i:
                time.sleep(between_s)
            driver.send_signal(signum)
        out, _ = driver.communicate(timeout=180)
    finally:
        if driver.poll() is None:
            driver.kill()
    return out, driver.returncode, children


def assert_none_left(children):
    """Nothing of the study's Ray outlives the driver (its processes end within 20 s)."""
    import psutil

    _, alive = psutil.wait_procs(children, timeout=20)
    alive = [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not alive, [(p.pid, p.name()) for p in alive]


@pytest.mark.slow
def test_ctrl_c_kills_runs_and_prints_the_resume_command(study_args, tmp_path):
    args = [sys.executable, str(SCRIPT), *study_args("--epochs", "3", "--no-report")]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    experiment = EXPERIMENT
    # what Ctrl-C sends the driver
    out, returncode, children = stop_mid_training(tmp_path, args, env, signal.SIGINT)
    assert returncode == EXIT_INTERRUPTED, out[-3000:]
    assert_none_left(children)
    assert "--resume" in out
    resume_line = next(line for line in out.splitlines() if "--resume" in line)

    runs = runs_of(client, experiment)
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    trials = [r for r in runs if "a3m.trial_id" in r.data.tags]
    assert parent.info.status == "KILLED"
    killed = [r for r in trials if r.info.status == "KILLED"]
    assert killed, [r.info.status for r in trials]
    assert all("a3m.stopped_early" not in r.data.tags for r in trials)
    assert all(r.info.status in ("KILLED", "FINISHED") for r in trials)

    # The printed command, run as printed, finishes the study in the same runs.
    command = resume_line.strip().removeprefix("python ").split()
    resumed = subprocess.run([sys.executable, *command], env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=600)  # fmt: skip
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    trials = [r for r in runs_of(client, experiment) if "a3m.trial_id" in r.data.tags]
    assert len(trials) == 3 and all(r.info.status == "FINISHED" for r in trials)
    assert all("a3m.stopped_early" not in r.data.tags for r in trials)
    for run in trials:
        steps = sorted(m.step for m in client.get_metric_history(run.info.run_id, "epoch"))
        assert steps == list(range(1, 4))


@pytest.mark.slow
def test_sigterm_stops_a_study_as_ctrl_c_does(study_args, tmp_path):
    """What a batch scheduler, Kubernetes, systemd or `timeout` send: the trials stop and their
    runs end KILLED, the --resume command is printed, exit 143; nothing of Ray is left."""
    args = [sys.executable, str(SCRIPT), *study_args("--epochs", "3", "--no-report")]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    out, returncode, children = stop_mid_training(tmp_path, args, env, signal.SIGTERM)
    assert returncode == EXIT_TERMINATED, out[-3000:]
    assert "PC: @" not in out and "Traceback" not in out, out[-3000:]
    assert any("--resume" in line for line in out.splitlines()), out[-3000:]
    assert_none_left(children)
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    runs = runs_of(client, EXPERIMENT)
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    trials = [r for r in runs if "a3m.trial_id" in r.data.tags]
    assert parent.info.status == "KILLED"
    assert any(r.info.status == "KILLED" for r in trials), [r.info.status for r in trials]
    assert all(r.info.status in ("KILLED", "FINISHED") for r in trials)


@pytest.mark.slow
def test_a_second_signal_exits_at_once_and_leaves_nothing_running(study_args, tmp_path):
    args = [sys.executable, str(SCRIPT), *study_args("--epochs", "3", "--no-report")]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    out, returncode, children = stop_mid_training(
        tmp_path, args, env, signal.SIGTERM, signal.SIGINT, between_s=0.5
    )
    assert returncode == EXIT_TERMINATED, out[-3000:]  # the first signal's status
    assert "second stop signal" in out, out[-3000:]
    assert_none_left(children)
    runs = runs_of(MlflowClient(f"sqlite:///{tmp_path}/mlflow.db"), EXPERIMENT)
    assert runs and all(r.info.status != "RUNNING" for r in runs), [r.info.status for r in runs]


@pytest.mark.parametrize(
    ("flag", "value", "bound"),
    [("--epochs", "0", ">= 1"), ("--seeds", "0", ">= 1"), ("--num-samples", "0", ">= 1"),
     ("--gpus-per-trial", "-1", ">= 0.0"), ("--cpus-per-trial", "0", "> 0.0"),
     ("--max-failures", "-1", ">= 0")],
)  # fmt: skip
def test_out_of_range_flags_are_usage_errors(flag, value, bound, capsys):
    with pytest.raises(SystemExit) as exit_info:
        study_parser(StudySpec("x", "d", base={})).parse_args([flag, value])
    assert exit_info.value.code == 2
    assert f"{flag}: must be {bound}" in capsys.readouterr().err


def test_resume_refuses_flags_that_would_change_the_study():
    launched = {"epochs": "4", "lr": "0.03", "a3m.seeds": "1", "data_root": "/a"}
    check_same_launch(launched, {**launched, "data_root": "/b", "epochs": "4.0"})  # same study
    with pytest.raises(SystemExit, match="epochs: launched with '4', now '8'"):
        check_same_launch(launched, {**launched, "epochs": "8"})
    with pytest.raises(SystemExit, match="a3m.seeds"):
        check_same_launch(launched, {**launched, "a3m.seeds": "3"})


def test_exit_codes():
    def result(trials, errors, interrupted=False):
        return StudyResult("s", "e", "u", Path("."), None, trials, errors, "p", interrupted)

    assert result(3, 0).exit_code == 0
    assert result(3, 1).exit_code == 1
    assert result(3, 3).exit_code == 3
    assert result(3, 0, interrupted=True).exit_code == 130
    terminated = result(3, 0, interrupted=True)
    terminated.stop_signal = signal.SIGTERM
    assert terminated.exit_code == 143


def test_resume_of_a_folder_that_is_not_a_study_is_one_line(study_args, store_untouched, tmp_path):
    from a3m.study.exits import UsageError
    from a3m.study.runner import run_study

    spec = StudySpec("x", "d", base={"dataset": "cub", "d": 16})
    with pytest.raises(UsageError, match="--resume .*nope: not a study folder"):
        run_study(spec, study_args("--resume", str(tmp_path / "nope")))
    assert store_untouched()  # refused before any run was opened


def test_without_address_a_study_starts_its_own_local_ray(monkeypatch):
    from a3m.study.local_ray import ray_address

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert ray_address(None) == "local"  # never a cluster `ray start` left running
    assert ray_address("auto") == "auto"
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.1:6379")  # inside `ray job submit`
    assert ray_address(None) == "10.0.0.1:6379"
