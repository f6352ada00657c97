"""Verdicts end to end, through the real runner, Ray Tune, the trainable and MLflow, with dry
runs (deterministic made-up metrics): failures are counted, and runs of other code are named.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from mlflow import MlflowClient

from a3m.config import RunConfig
from a3m.models import VARIANTS
from a3m.study import StudySpec, run_study
from a3m.study.dry_run import dry_metrics
from a3m.study.runner import FAULT_ENV, plan_study
from a3m.study.spec import study_parser

pytestmark = pytest.mark.slow

SEEDS = 8
FAILING = [5, 7]


def _strong_and_weak(argv: list[str]) -> tuple[str, str]:
    """Two variants, the first's made-up score above the second's on every seed (so it is
    "better" on any 6 finished pairs), by as little as any pair: failed seeds scored as the
    study's worst value can overturn that."""
    spec = StudySpec("failing", "-", base={"dataset": "cub"}, grid={"variant": ["a3m"]})
    plan = plan_study(spec, study_parser(spec).parse_args(argv), argv)

    def scores(variant: str) -> list[float]:
        cfgs = [RunConfig.from_flat_dict({**plan.base, "variant": variant, "seed": s})
                for s in range(SEEDS)]  # fmt: skip
        return [dry_metrics(cfg, cfg.epochs)["score"] for cfg in cfgs]

    score = {v: scores(v) for v in VARIANTS}
    pairs = [(a, b) for a in VARIANTS for b in VARIANTS
             if all(x > y for x, y in zip(score[a], score[b], strict=True))]  # fmt: skip
    return min(pairs, key=lambda ab: sum(score[ab[0]]) - sum(score[ab[1]]))


def test_a_variant_that_fails_on_some_seeds_is_not_called_better(
    ray_local, study_args, monkeypatch, capsys
):
    argv = study_args("--dry-run", "--seeds", str(SEEDS), "--epochs", "2", "--max-failures", "0",
                      "--no-report")  # fmt: skip
    strong, weak = _strong_and_weak(argv)
    spec = StudySpec("failing", "a variant that fails on 2 seeds", base={"dataset": "cub"},
                     grid={"variant": [weak, strong]}, reference={"variant": weak})  # fmt: skip
    fault = {"fail": {"seeds": FAILING, "where": {"variant": strong}}}
    monkeypatch.setenv(FAULT_ENV, json.dumps(fault))
    result = run_study(spec, argv)
    assert (result.num_trials, result.num_errors) == (2 * SEEDS, len(FAILING))
    out = capsys.readouterr().out
    board = pd.read_csv(result.leaderboard_csv).set_index("variant")
    row = board.loc[strong]
    # better on its 6 finished pairs (p = 2/64), but not once its failures are counted
    assert row["n_pairs"] == SEEDS - len(FAILING) and row["n_failed"] == len(FAILING)
    assert row["verdict"] == "inconclusive (failures)"
    assert "better on the finished pairs" in row["verdict_note"]
    assert all(f"seed {s}: candidate run" in row["failed"] for s in FAILING)
    assert row["fail_rate"] == pytest.approx(len(FAILING) / SEEDS)
    assert row["fail_ci_low"] < row["fail_rate"] < row["fail_ci_high"]
    assert f"variant={strong}" in out and "INCONCLUSIVE (FAILURES)" in out
    assert "failed: seed 5: candidate run" in out

    # a3m compare says the same from MLflow alone
    from a3m.cli import main as a3m_main

    code = a3m_main(["compare", "--experiment", result.experiment,
                     "--tracking-uri", result.tracking_uri])  # fmt: skip
    said = capsys.readouterr().out
    assert code == 0 and "INCONCLUSIVE (FAILURES)" in said and "seed 7: candidate run" in said


def test_runs_of_other_code_are_retrained_and_a_mix_is_named(ray_local, study_args, capsys):
    grid = {"variant": ["baseline1", "a3m"]}
    spec = StudySpec("code", "two variants", base={"dataset": "cub"}, grid=grid,
                     reference={"variant": "baseline1"})  # fmt: skip
    argv = study_args("--dry-run", "--seeds", "3", "--epochs", "2", "--no-report")
    first = run_study(spec, argv)
    assert first.num_trials == 6
    client = MlflowClient(first.tracking_uri)
    exp = client.get_experiment_by_name(first.experiment)
    trials = [r for r in client.search_runs([exp.experiment_id])
              if r.data.tags.get("a3m.run_kind") == "trial"]  # fmt: skip
    for run in trials:  # as if a model module had been edited since these were trained
        client.set_tag(run.info.run_id, "a3m.code", "0ld0ld0ld0ld")
    capsys.readouterr()

    # the same command retrains them: their code is not this code
    again = run_study(spec, argv)
    assert (again.num_trials, again.reused) == (6, 0)
    assert "0ld0ld0ld0ld" in capsys.readouterr().out

    # with --reuse-older-code and more seeds, the old runs pair with new ones: named
    for run in client.search_runs([exp.experiment_id]):
        if (
            run.data.tags.get("a3m.code") != "0ld0ld0ld0ld"
            and run.data.tags.get("a3m.run_kind") == "trial"
        ):
            client.delete_run(run.info.run_id)  # keep only the old code's runs of seeds 0-2
    more = study_args("--dry-run", "--seeds", "4", "--epochs", "2", "--no-report",
                      "--reuse-older-code")  # fmt: skip
    mixed = run_study(spec, more)
    assert mixed.reused == 6 and mixed.num_trials == 2
    board = pd.read_csv(mixed.leaderboard_csv).set_index("variant")
    versions = board.loc["a3m", "code_versions"].split(";")
    assert len(versions) == 2 and "0ld0ld0ld0ld" in versions
    assert "mixed code versions: " in capsys.readouterr().out
