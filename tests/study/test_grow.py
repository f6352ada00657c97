"""Studies that grow: a trial whose identical run (same settings, seed and data) already
FINISHED is not trained again, so the same command twice trains nothing the second time and
more seeds train only the new seeds; --rerun trains everything."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

from a3m.study import StudySpec, run_study
from a3m.study.spec import grid_trials, study_parser
from a3m.study.tracking import trial_identity

pytestmark = pytest.mark.slow

SPEC = StudySpec(
    "grow", "two points", base={"dataset": "cub", "variant": "a3m", "d": 16},
    points=[{"alpha": 0.2}, {"alpha": 0.8}],
)  # fmt: skip


def trial_runs(client: MlflowClient):
    exp = client.get_experiment_by_name("grow-synthetic")
    return [r for r in client.search_runs([exp.experiment_id]) if "a3m.trial_id" in r.data.tags]


def test_a_study_grows_by_what_is_missing(ray_local, study_args):
    first = run_study(SPEC, study_args("--epochs", "1", "--no-report"))
    assert (first.num_trials, first.reused) == (2, 0)
    client = MlflowClient(first.tracking_uri)
    before = {r.info.run_id: r for r in trial_runs(client)}
    assert len({r.data.tags["a3m.identity"] for r in before.values()}) == 2

    # the same command again: nothing trained, in seconds, the runs linked from its parent
    t0 = time.perf_counter()
    again = run_study(SPEC, study_args("--epochs", "1", "--no-report"))
    assert (again.num_trials, again.reused) == (0, 2) and again.exit_code == 0
    assert time.perf_counter() - t0 < 30
    assert {r.info.run_id for r in trial_runs(client)} == set(before)
    exp = client.get_experiment_by_name("grow-synthetic")
    parents = [r for r in client.search_runs([exp.experiment_id]) if "a3m.reused" in r.data.tags]
    (parent,) = parents
    linked = client.download_artifacts(parent.info.run_id, "reused_runs.json")
    assert set(json.loads(Path(linked).read_text()).values()) == set(before)
    assert again.leaderboard_csv is not None  # the conclusions are still written

    # two seeds after one: only seed 1 is trained; the first runs are left as they were
    grown = run_study(SPEC, study_args("--epochs", "1", "--seeds", "2", "--no-report"))
    assert (grown.num_trials, grown.reused) == (2, 2)
    runs = trial_runs(client)
    assert sorted(r.data.params["seed"] for r in runs) == ["0", "0", "1", "1"]
    for run_id, old in before.items():
        now = client.get_run(run_id)
        assert now.info.end_time == old.info.end_time
        assert len(client.get_metric_history(run_id, "epoch")) == 1

    # --rerun trains every trial again
    forced = run_study(SPEC, study_args("--epochs", "1", "--rerun", "--no-report"))
    assert (forced.num_trials, forced.reused) == (2, 0)


def test_identity_is_what_the_run_computes():
    base = {"dataset": "cub", "alpha": 0.5, "num_workers": 0, "device": "cpu", "seed": 0}
    same = {**base, "num_workers": 8, "device": "cuda", "alpha": "0.50", "data_root": "/x"}
    assert trial_identity(base, "f1") == trial_identity(same, "f1")  # where it ran: no matter
    assert trial_identity(base, "f1") != trial_identity({**base, "seed": 1}, "f1")
    assert trial_identity(base, "f1") != trial_identity({**base, "alpha": 0.3}, "f1")
    assert trial_identity(base, "f1") != trial_identity(base, "f2")  # other data


def test_grid_trials_cross_the_grid_points_and_seeds():
    spec = StudySpec("g", "d", base={}, grid={"variant": ["a", "b"]}, points=[{"d": 1}, {"d": 2}])
    args = study_parser(spec).parse_args(["--seeds", "3"])
    trials = grid_trials(spec, args, {"seed": 10})
    assert len(trials) == 2 * 2 * 3
    assert trials[0] == {"variant": "a", "d": 1, "seed": 10}
    assert trials[-1] == {"variant": "b", "d": 2, "seed": 12}
