"""What a study invocation trains: only what its experiment lacks.

A grid trial's identity is its resolved settings, seed and data
(:func:`a3m.study.tracking.trial_identity`). Before anything launches, the runner asks the
tracking store which identities already FINISHED (those are reused, not trained again) and
which were left KILLED with a checkpoint, lost with their node or interrupted (those continue
from their checkpoint, in their own MLflow run); either only when this code trained the run
(its ``a3m.code`` tag, :func:`a3m.provenance.code_fingerprint`), unless
``--reuse-older-code``. With ``--seeds auto``,
:func:`seed_rounds` then adds seeds only where a paired verdict is still open
(:mod:`a3m.study.seeds`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from a3m.config import RunConfig
from a3m.study.plan import StudyPlan
from a3m.study.spec import grid_trials


@dataclass
class Selection:
    """The trials one round trains, and the earlier runs it reuses or continues."""

    todo: list[dict] | None  # settings beyond the base; None: Tune plans (Optuna, --resume)
    reused: dict[str, str] = field(default_factory=dict)  # identity -> FINISHED run id
    continued: dict[str, tuple[str, str]] = field(default_factory=dict)
    """identity -> (run id, checkpoint URI) of the unfinished runs the trials continue."""


def select_trials(
    plan: StudyPlan,
    seeds: int | None = None,
    only: list[dict[str, str]] | None = None,
    new_seeds_from: int = 0,
) -> Selection:
    """The grid trials to train: those whose identity has not FINISHED in the experiment
    (all of them with ``--rerun``); unfinished runs with a checkpoint are continued. A run
    trained by other code than this (another ``a3m.code``, or none: logged before runs had
    one) is neither reused nor continued, and a line says how many and which code; with
    ``--reuse-older-code`` it is, and a line says so.

    Args:
        plan: the study.
        seeds: seeds per configuration (default: ``--seeds``).
        only: train only these configurations (canonical values by field), e.g. the ones
            seeds on demand left open.
        new_seeds_from: train only seeds from this index on (the earlier ones had their round).
    """
    if plan.resume or not plan.search.is_grid:
        return Selection(None)
    count = plan.seeds if seeds is None else seeds
    identities = _grid_identities(plan, count, only, new_seeds_from)
    if plan.rerun:
        return Selection(list(identities.values()))
    selection, older = _select(identities, _earlier_runs(plan))
    _say_selection(plan, selection, older, len(identities))
    return selection


@dataclass
class _EarlierRuns:
    """What the experiment holds already, by trial identity."""

    done: dict[str, str] = field(default_factory=dict)  # -> FINISHED run id
    unfinished: dict[str, tuple[str, str]] = field(default_factory=dict)  # -> (run, checkpoint)
    # -> code fingerprint of the runs of other code: passed over, or with --reuse-older-code
    # taken all the same
    older_done: dict[str, str] = field(default_factory=dict)
    older_unfinished: dict[str, str] = field(default_factory=dict)


def _grid_identities(
    plan: StudyPlan, seeds: int, only: list[dict[str, str]] | None, new_seeds_from: int
) -> dict[str, dict]:
    """The grid's trials this round concerns (see :func:`select_trials`), by identity."""
    from a3m.study.seeds import matches
    from a3m.study.tracking import trial_identity as identity_of

    trials = grid_trials(plan.spec, plan.base, synthetic=plan.synthetic, seeds=seeds)
    if plan.smoke_test:  # the first and the last: both ends of every axis's order
        trials = [trials[0], trials[-1]] if len(trials) > 1 else trials
    first_seed = int(plan.base.get("seed", 0))
    identities: dict[str, dict] = {}
    for trial in trials:
        resolved = RunConfig.from_flat_dict({**plan.base, **trial}).to_flat_dict()
        if trial["seed"] - first_seed < new_seeds_from:
            continue
        if only is not None and not matches(resolved, only):
            continue
        fingerprint = plan.fingerprints.get(resolved["dataset"], "")
        identities[identity_of(resolved, fingerprint)] = trial
    return identities


def _earlier_runs(plan: StudyPlan) -> _EarlierRuns:
    """The runs of the study's experiment a trial may reuse or continue (none without one)."""
    from a3m.provenance import ANY_CODE
    from a3m.study.tracking import continuable_runs, finished_identities, open_store

    client = open_store(plan.tracking_uri)
    experiment = client.get_experiment_by_name(plan.experiment)
    code = ANY_CODE if plan.reuse_older_code else None
    earlier = _EarlierRuns()
    if experiment:
        eid = experiment.experiment_id
        earlier.done = finished_identities(client, eid, code, earlier.older_done)
        earlier.unfinished = continuable_runs(client, eid, code, earlier.older_unfinished)
    return earlier


def _select(identities: dict[str, dict], earlier: _EarlierRuns) -> tuple[Selection, dict[str, str]]:
    """The selection, and the other code's fingerprint by identity of the trials it concerns."""
    selection = Selection([])
    older: dict[str, str] = {}
    for identity, trial in identities.items():
        if identity in earlier.done:
            selection.reused[identity] = earlier.done[identity]
            other = earlier.older_done.get(identity)  # reused with --reuse-older-code
        else:
            selection.todo.append(trial)
            if identity in earlier.unfinished:
                selection.continued[identity] = earlier.unfinished[identity]
            other = earlier.older_done.get(identity) or earlier.older_unfinished.get(identity)
        if other is not None:
            older[identity] = other
    return selection, older


def _say_selection(
    plan: StudyPlan, selection: Selection, older: dict[str, str], trials: int
) -> None:
    """Print what a selection of ``trials`` trials reuses, continues and passes over."""
    from a3m.provenance import code_fingerprint

    any_code = plan.reuse_older_code
    if older:
        print(_older_code_line(older, trials, code_fingerprint(), any_code), flush=True)
    if selection.reused or selection.continued:
        same = "same settings, seed and data" if any_code else "same settings, seed, data and code"
        print(f"{len(selection.reused)} of {trials} trials already FINISHED in "
              f"{plan.experiment!r} ({same}): reused, not trained again; "
              f"{len(selection.todo)} to train, {len(selection.continued)} of them continued "
              "from the checkpoint of an unfinished run (--rerun trains every one afresh)",
              flush=True)  # fmt: skip


def _older_code_line(older: dict[str, str], trials: int, code: str, reused: bool) -> str:
    """The console line on the runs of other code a selection met (``older``: identity ->
    their code fingerprint): reused with ``--reuse-older-code``, else trained again."""
    counts = pd.Series(list(older.values())).value_counts()
    codes = ", ".join(f"{c} ({n})" for c, n in sorted(counts.items(), key=lambda c: (-c[1], c[0])))
    if reused:
        return (f"--reuse-older-code: {len(older)} of {trials} trials reuse or continue runs "
                f"trained by other code than this ({code}): {codes}")  # fmt: skip
    return (f"{len(older)} of {trials} trials have runs trained by other code than this "
            f"({code}), not reused: {codes}; trained again (--reuse-older-code reuses "
            "them)")  # fmt: skip


def link_reused(client: Any, parent_run_id: str, reused: dict[str, str]) -> None:
    """The parent run names the finished runs this invocation reused (``reused_runs.json``:
    identity -> run id) and counts them (tag ``a3m.reused``)."""
    if not reused:
        return
    client.set_tag(parent_run_id, "a3m.reused", str(len(reused)))
    client.log_dict(parent_run_id, reused, "reused_runs.json")


def seed_rounds(plan: StudyPlan, first: Selection) -> Iterator[tuple[int, Selection]]:
    """The rounds of a study: ``(seeds, selection)``. Without ``--seeds auto``, the one round
    ``first``. With it, ``first`` (the schedule's first seed count) and then, after each look,
    the next seed count for the configurations whose verdict is still open, until none is or
    the schedule ends (``--max-seeds``). Each look decides at its own level of the study's
    sequential design (``plan.inference``)."""
    from a3m.sequential import deciding_looks
    from a3m.study.seeds import open_configurations

    if plan.auto is None:
        yield plan.seeds, first
        return
    schedule = plan.auto.schedule
    yield schedule[0], first
    for before, seeds in zip(schedule, schedule[1:], strict=False):
        comparisons = _comparisons(plan)
        if comparisons.empty:
            print("seeds on demand: no paired comparison to decide (no finished pairs)")
            return
        open_ = open_configurations(comparisons, plan.reference)
        undecided = comparisons["verdict"].str.startswith("inconclusive").sum()
        looks = deciding_looks(schedule, len(comparisons), plan.inference.alpha)
        print(f"\nseeds on demand, after {before} seeds: {len(comparisons) - undecided} of "
              f"{len(comparisons)} comparisons decided, {undecided} open (alpha "
              f"{plan.inference.alpha:g} spent over the looks at {looks} seeds, where "
              f"{len(comparisons)} comparisons can decide)", flush=True)  # fmt: skip
        if not open_:
            return
        print(f"  seeds {before}..{seeds - 1} for {len(open_)} configurations", flush=True)
        yield seeds, select_trials(plan, seeds=seeds, only=open_, new_seeds_from=before)


def _comparisons(plan: StudyPlan):
    from a3m.study.compare import compare
    from a3m.study.runs import runs_frame

    runs = runs_frame(plan.experiment, plan.tracking_uri)
    if "params.seed" not in runs or runs["params.seed"].nunique() < 2:
        return pd.DataFrame()
    try:
        return compare(runs, plan.reference, inference=plan.inference)
    except ValueError as err:  # e.g. every run of the reference failed
        print(f"seeds on demand: no verdicts to act on: {err}")
        return pd.DataFrame()
