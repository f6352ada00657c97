"""Studies that grow: a trial whose identical run (same settings, seed and data) already
FINISHED is not trained again, so the same command twice trains nothing the second time and
more seeds train only the new seeds; --rerun trains everything."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

from a3m.sequential import Inference
from a3m.study import StudySpec, run_study
from a3m.study.runner import FAULT_ENV
from a3m.study.spec import grid_trials
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
    flags = ("--epochs", "1", "--no-report")
    first = run_study(SPEC, study_args(*flags))
    assert (first.num_trials, first.reused) == (2, 0)
    client = MlflowClient(first.tracking_uri)
    before = {r.info.run_id: r for r in trial_runs(client)}
    assert len({r.data.tags["a3m.identity"] for r in before.values()}) == 2

    # the same command again: nothing trained, in seconds, the runs linked from its parent
    t0 = time.perf_counter()
    again = run_study(SPEC, study_args(*flags))
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
    grown = run_study(SPEC, study_args(*flags, "--seeds", "2"))
    assert (grown.num_trials, grown.reused) == (2, 2)
    runs = trial_runs(client)
    assert sorted(r.data.params["seed"] for r in runs) == ["0", "0", "1", "1"]
    for run_id, old in before.items():
        now = client.get_run(run_id)
        assert now.info.end_time == old.info.end_time
        assert len(client.get_metric_history(run_id, "epoch")) == 1
    # (--rerun trains every trial again: what select_trials picks, test_provenance.py)


def test_a_preempted_trial_continues_from_its_checkpoint_when_run_again(
    ray_local, study_args, tmp_path, monkeypatch
):
    spec = StudySpec("grow", "one point", base=SPEC.base, points=[{"alpha": 0.2}])
    marker = tmp_path / "killed.pid"
    # SIGKILLed after epoch 2, a checkpoint after every epoch
    fault = {"exit_after_epoch": 2, "marker": str(marker), "checkpoint_every_s": 0}
    monkeypatch.setenv(FAULT_ENV, json.dumps(fault))
    args = study_args("--epochs", "3", "--max-failures", "0", "--no-report")
    lost = run_study(spec, args)  # SIGKILLed after epoch 2, no retry left
    assert marker.exists(), "the fault was not injected"
    assert (lost.num_errors, lost.num_preempted, lost.exit_code) == (0, 1, 1)
    client = MlflowClient(lost.tracking_uri)
    (run,) = trial_runs(client)
    assert run.info.status == "KILLED" and run.data.tags["a3m.preempted"] == "1"
    assert "a3m.error" not in run.data.tags  # not failed
    assert run.data.tags["a3m.checkpoint"]
    first_parent = run.data.tags["mlflow.parentRunId"]

    again = run_study(spec, args)  # the same command (the marker stops a second kill)
    assert (again.num_trials, again.num_errors, again.exit_code) == (1, 0, 0)
    (continued,) = trial_runs(client)  # the same run, continued, not a new one from scratch
    assert continued.info.run_id == run.info.run_id
    assert continued.info.status == "FINISHED"
    tags = continued.data.tags
    assert int(tags["a3m.resumed_at_epoch"]) >= 1 and tags["a3m.continued_from"] == first_parent
    assert tags["mlflow.parentRunId"] != first_parent  # now under the invocation that ended it
    assert sorted(m.step for m in client.get_metric_history(run.info.run_id, "epoch")) == [1, 2, 3]


def test_seeds_auto_adds_seeds_only_where_the_verdict_is_open(ray_local, study_args):
    """Dry runs (made-up metrics through the real runner, Tune and tracker): 3 seeds, then the
    undecided comparison and its reference get seeds 3 and 4. (An equivalence needs a look
    that can decide, 8 seeds at 0.05: tests/study/test_seeds.py checks that it stops a
    comparison.)"""
    spec = StudySpec("auto", "two points", base=SPEC.base, points=SPEC.points,
                     reference={"alpha": 0.8})  # fmt: skip
    flags = ("--dry-run", "--epochs", "1", "--seeds", "auto", "--max-seeds", "5", "--no-report")
    grown = run_study(spec, study_args(*flags, "--experiment", "g"))
    assert grown.num_trials == 10  # 3 seeds cannot decide, so both get seeds 3 and 4
    client = MlflowClient(grown.tracking_uri)
    exp = client.get_experiment_by_name("g")
    runs = [r for r in client.search_runs([exp.experiment_id]) if "a3m.trial_id" in r.data.tags]
    seeds = {(r.data.params["alpha"], r.data.params["seed"]) for r in runs}
    assert seeds == {(a, str(s)) for a in ("0.2", "0.8") for s in range(5)}
    # the parent run keeps the design its verdicts were decided by
    (parent,) = [r for r in client.search_runs([exp.experiment_id]) if "a3m.study" in r.data.tags]
    inference = Inference.from_json(parent.data.tags["a3m.inference"])
    assert inference.design.looks == (3, 5) and inference.alpha == 0.05

    again = run_study(spec, study_args(*flags, "--experiment", "g"))  # all there: reused
    assert (again.num_trials, again.reused) == (0, 10)


def test_seeds_auto_is_refused_where_it_cannot_work(study_args):
    from a3m.study.exits import UsageError

    no_reference = StudySpec("noref", "d", base=SPEC.base, points=SPEC.points)
    with pytest.raises(UsageError, match="needs a reference"):
        run_study(no_reference, study_args("--seeds", "auto"))


def test_identity_is_what_the_run_computes():
    base = {"dataset": "cub", "alpha": 0.5, "num_workers": 0, "device": "cpu", "seed": 0}
    same = {**base, "num_workers": 8, "device": "cuda", "alpha": "0.50", "data_root": "/x",
            "eval_batch_size": 256, "compile_mode": "reduce-overhead"}  # fmt: skip
    assert trial_identity(base, "f1") == trial_identity(same, "f1")  # where it ran: no matter
    assert trial_identity(base, "f1") != trial_identity({**base, "seed": 1}, "f1")
    assert trial_identity(base, "f1") != trial_identity({**base, "alpha": 0.3}, "f1")
    assert trial_identity(base, "f1") != trial_identity(base, "f2")  # other data


def test_grid_trials_cross_the_grid_points_and_seeds():
    spec = StudySpec("g", "d", base={}, grid={"variant": ["a", "b"]}, points=[{"d": 1}, {"d": 2}])
    trials = grid_trials(spec, {"seed": 10}, synthetic=False, seeds=3)
    assert len(trials) == 2 * 2 * 3
    assert trials[0] == {"variant": "a", "d": 1, "seed": 10}
    assert trials[-1] == {"variant": "b", "d": 2, "seed": 12}
