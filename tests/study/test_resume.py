"""A study whose driver is killed resumes with --resume: finished trials are not re-run and no
MLflow run is duplicated."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parents[2] / "studies" / "ablation_compcars.py"


def trial_runs(client: MlflowClient, experiment: str):
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return []
    runs = client.search_runs([exp.experiment_id])
    return [r for r in runs if "a3m.trial_id" in r.data.tags]


def test_killed_driver_resumes_without_rerunning_or_duplicating(study_args, tmp_path):
    # the report after a study: tests/dashboards/test_study_report.py
    args = [sys.executable, str(SCRIPT), *study_args("--epochs", "3", "--no-report")]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # its own local Ray
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    experiment = "ablation_compcars-synthetic"

    driver = subprocess.Popen(args, env=env, start_new_session=True, cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 300
    finished = []
    try:
        while time.time() < deadline and driver.poll() is None:
            time.sleep(1)
            runs = trial_runs(client, experiment) if (tmp_path / "mlflow.db").exists() else []
            finished = [r for r in runs if r.info.status == "FINISHED"]
            if finished:
                break
    finally:
        os.killpg(driver.pid, signal.SIGKILL)  # the driver and the Ray it started
        driver.wait()
    assert finished, "no trial finished before the deadline"
    assert len(finished) < 3, "every trial finished before the kill: nothing left to resume"
    before = {r.data.tags["a3m.trial_id"]: r.info.end_time for r in finished}

    resumed = subprocess.run([*args, "--resume"], env=env, cwd=tmp_path, capture_output=True,
                             text=True, timeout=600)  # fmt: skip
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]

    runs = trial_runs(client, experiment)
    trial_ids = [r.data.tags["a3m.trial_id"] for r in runs]
    assert len(runs) == 3 and len(set(trial_ids)) == 3  # one run per trial, no duplicates
    parents = {r.data.tags["mlflow.parentRunId"] for r in runs}
    assert len(parents) == 1  # the resumed study kept its parent run
    for run in runs:
        assert run.info.status == "FINISHED"
        steps = sorted(m.step for m in client.get_metric_history(run.info.run_id, "epoch"))
        assert steps == [1, 2, 3], (run.data.tags["a3m.trial_id"], steps)
        if run.data.tags["a3m.trial_id"] in before:  # finished before the kill: not re-run
            assert run.info.end_time == before[run.data.tags["a3m.trial_id"]]
    assert "leaderboard" in resumed.stdout
