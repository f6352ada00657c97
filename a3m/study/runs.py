"""A study's MLflow runs as one DataFrame, which of them count, and what makes a
configuration.

The frame has ``mlflow.search_runs``'s layout: one row per trial (child) run, ``params.*`` as
text, ``metrics.*`` with each metric's latest (= final-epoch) value, ``tags.*``, ``status``,
``run_id``, ``start_time``. The leaderboard, the paired comparisons, the study's summary and the
dashboards all read it (:func:`runs_frame`), so all of them count the same runs: one per trial
(:func:`one_run_per_trial`), old failures set aside only when asked
(:func:`set_aside_failed_before`), and each set-aside said in one line. All of them group runs
into configurations the same way (:func:`configuration_key`).
"""

from __future__ import annotations

import gc
import json
import sys
from datetime import datetime
from typing import NamedTuple

import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import Run

from a3m.config import fields_with_role
from a3m.provenance import run_code_versions
from a3m.sequential import Inference
from a3m.study.tracking import (
    IDENTITY_TAG,
    INFERENCE_TAG,
    PARENT_TAG,
    REFERENCE_TAG,
    RUN_KIND_TAG,
    TRIAL_TAG,
    VERDICT_ALPHA_TAG,
    canonical,
    redact,
)

NOT_A_SETTING = fields_with_role("speed", "place", "seed")
"""Params that never make two runs different configurations: the seed pairs runs, the others
say where and how fast a run ran, not what it computed (their roles: :data:`a3m.config.ROLES`).
A trial's identity (:data:`a3m.study.tracking.NOT_IDENTITY`) leaves out the same, but the
seed."""


class BadFlag(ValueError):
    """A command's flag names what is not there (an experiment, a metric, a column): bad
    usage, exit 2, where other ``ValueError``s of a store's content exit 1."""


class CountedRuns(NamedTuple):
    """The runs that count (:func:`runs_frame`'s frame) and what was set aside, one line each."""

    runs: pd.DataFrame
    notes: list[str]


def counted_runs(
    experiment: str, tracking_uri: str, exclude_failed_before: str | None = None
) -> CountedRuns:
    """The training runs of an MLflow experiment that count, and a line for each kind of run
    set aside: runs the store lost the params of, duplicate runs and earlier failed attempts of
    a trial (:func:`one_run_per_trial`), and with ``exclude_failed_before`` (``--exclude-failed-
    before``: an ISO date/time or a run id, :func:`failed_before`) the failed runs that ended
    before it (:func:`set_aside_failed_before`).

    Raises:
        BadFlag: no such experiment, or ``exclude_failed_before`` is neither a date/time nor a
            run of the store.
    """
    cutoff = failed_before(exclude_failed_before, tracking_uri) if exclude_failed_before else None
    runs, lost = _training_runs(experiment, tracking_uri)
    runs, set_aside = one_run_per_trial(runs)
    notes = [note for note in (lost, set_aside) if note]
    if cutoff is not None:
        runs, excluded = set_aside_failed_before(runs, cutoff)
        notes.append(excluded)
    return CountedRuns(runs, notes)


def runs_frame(
    experiment: str, tracking_uri: str, exclude_failed_before: str | None = None
) -> pd.DataFrame:
    """The training runs of an MLflow experiment that count (a study's trials and ``a3m
    train``'s runs, not the studies' parent runs; one per trial) as a DataFrame
    (``mlflow.search_runs`` layout: ``params.*``, ``metrics.*`` with each metric's latest
    value, ``tags.*``), every page of the search; what was set aside is said on stderr, one
    line each (:func:`counted_runs`)."""
    counted = counted_runs(experiment, tracking_uri, exclude_failed_before)
    for note in counted.notes:
        print(note, file=sys.stderr)
    return counted.runs


def _training_runs(experiment: str, tracking_uri: str) -> tuple[pd.DataFrame, str]:
    """Every training run of the experiment with params, and a line naming those without."""
    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        names = sorted(e.name for e in client.search_experiments())
        raise BadFlag(
            f"--experiment: no MLflow experiment {experiment!r} at {redact(tracking_uri)}; "
            f"found: {names}"
        )
    df = _as_frame(search_all_runs(client, [exp.experiment_id]))
    kind = df.get(f"tags.{RUN_KIND_TAG}", pd.Series(None, index=df.index, dtype=object))
    trial = df.get(f"tags.{TRIAL_TAG}", pd.Series(None, index=df.index, dtype=object))
    parent = df.get(f"tags.{PARENT_TAG}", pd.Series(None, index=df.index, dtype=object))
    # a3m train's runs and the trials; runs of before a3m.run_kind: a trial id and a parent
    training = kind.isin(["trial", "single"]) | (trial.notna() & parent.notna())
    df = df[training]
    params = [c for c in df.columns if c.startswith("params.")]
    empty = df[params].isna().all(axis=1) if params else pd.Series(True, index=df.index)
    note = ""
    if empty.any():  # a run the store lost its params of (a full disk): no configuration
        lost = df.loc[empty, ["run_id", "status"]].itertuples(index=False)
        named = ", ".join(f"{run_id} ({status})" for run_id, status in lost)
        note = (f"skipped {int(empty.sum())} run(s) of {experiment!r} without params (left by "
                f"a full disk or a killed writer?): {named}")  # fmt: skip
    return df[~empty].reset_index(drop=True), note


RUNS_PER_PAGE = 5000
"""Runs per ``search_runs`` request: MLflow caps a page at 50,000; 5,000 keeps each response
(all params, tags and latest metrics of every run) a few tens of MB."""


def search_all_runs(
    client: MlflowClient, experiment_ids: list[str], filter_string: str = ""
) -> list[Run]:
    """Every run of the experiments that matches ``filter_string``, page after page (no cap:
    ``mlflow.search_runs`` stops at 100,000).

    Python's cyclic garbage collector is held off meanwhile: the SQL store builds an ORM object
    per param, tag and metric of every run (over a million for 10,000 runs), and each
    collection of the oldest generation walks all of them again; none of them form cycles that
    need it. On 10,000 runs this made the search several times faster (benchmarks/RESULTS.md,
    "Issue 12: scale")."""
    runs: list[Run] = []
    token = None
    enabled = gc.isenabled()
    gc.disable()
    try:
        while True:
            page = client.search_runs(
                experiment_ids, filter_string, max_results=RUNS_PER_PAGE, page_token=token
            )
            runs += page
            token = page.token
            if not token:
                return runs
    finally:
        if enabled:
            gc.enable()


def _as_frame(runs: list[Run]) -> pd.DataFrame:
    """``mlflow.search_runs(output_format="pandas")``'s frame of ``runs``, built column-wise
    (its loop converts two timestamps per run, one at a time): the run's info, then
    ``metrics.*``, ``params.*``, ``tags.*`` in the order the runs first have them, NaN (None for
    text) where a run lacks one."""
    info = {
        "run_id": [r.info.run_id for r in runs],
        "experiment_id": [r.info.experiment_id for r in runs],
        "status": [r.info.status for r in runs],
        "artifact_uri": [r.info.artifact_uri for r in runs],
        "start_time": pd.to_datetime([r.info.start_time for r in runs], unit="ms", utc=True),
        "end_time": pd.to_datetime([r.info.end_time for r in runs], unit="ms", utc=True),
    }
    parts = [pd.DataFrame(info)]
    for prefix, values, missing in (
        ("metrics.", [r.data.metrics for r in runs], np.nan),
        ("params.", [r.data.params for r in runs], None),
        ("tags.", [r.data.tags for r in runs], None),
    ):
        keys = list(dict.fromkeys(k for row in values for k in row))
        columns = {f"{prefix}{k}": [row.get(k, missing) for row in values] for k in keys}
        parts.append(pd.DataFrame(columns, index=parts[0].index))
    return pd.concat(parts, axis=1)


def latest_parent_tag(experiment: str, tracking_uri: str, tag: str) -> str | None:
    """The value of ``tag`` on the experiment's latest run that has it (a study's parent run),
    or None."""
    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return None
    parents = client.search_runs(
        [exp.experiment_id],
        filter_string=f"tags.`{tag}` != ''",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return parents[0].data.tags[tag] if parents else None


def study_reference(experiment: str, tracking_uri: str) -> dict[str, str] | None:
    """The reference configuration the study declared (``StudySpec.reference``), from its
    latest parent run's tag; None when no invocation declared one (e.g. an open search)."""
    found = latest_parent_tag(experiment, tracking_uri, REFERENCE_TAG)
    return {k: str(v) for k, v in json.loads(found).items()} if found else None


def study_inference(experiment: str, tracking_uri: str) -> Inference:
    """How the study decides its verdicts (alpha, the looks of ``--seeds auto``, the
    equivalence margin): the ``a3m.inference`` tag of its latest parent run that has one; a
    parent run of before it kept only its alpha (``a3m.verdict_alpha``); else the defaults."""
    found = latest_parent_tag(experiment, tracking_uri, INFERENCE_TAG)
    if found:
        return Inference.from_json(found)
    alpha = latest_parent_tag(experiment, tracking_uri, VERDICT_ALPHA_TAG)
    return Inference(alpha=float(alpha)) if alpha else Inference()


def configuration_key(runs: pd.DataFrame) -> list[str]:
    """The ``params.*`` columns that vary across runs, :data:`NOT_A_SETTING` excluded: the
    values that make a configuration."""
    return [
        c
        for c in runs.columns
        if c.startswith("params.")
        and c.removeprefix("params.") not in NOT_A_SETTING
        and runs[c].nunique(dropna=False) > 1
    ]


# -- which runs count -------------------------------------------------------------------------
FAILED_STATUSES = ("FAILED", "KILLED")
"""Statuses of a run that ended without its result: it raised, or it was lost or interrupted."""

NAMED_RUNS = 5
"""Runs a set-aside line names; it counts the others."""


def trial_keys(runs: pd.DataFrame) -> pd.Series:
    """Each run's trial: its identity (``a3m.identity``: the settings, the seed and the data,
    :func:`a3m.study.tracking.trial_identity`); for a run logged before runs carried one, its
    configuration (:func:`configuration_key`) and seed, as the leaderboard groups them; None
    for an untagged run without a seed, which is no other run's trial."""
    key = configuration_key(runs)
    columns = [[canonical(v) for v in runs[c].to_numpy(dtype=object)] for c in key]
    configs = [json.dumps(row) for row in zip(*columns, strict=True)] if key else [""] * len(runs)
    identity = _column(runs, f"tags.{IDENTITY_TAG}")
    seeds = _column(runs, "params.seed")
    out = []
    for ident, config, seed in zip(identity, configs, seeds, strict=True):
        if isinstance(ident, str) and ident:
            out.append(f"identity {ident}")
        elif seed is None or pd.isna(seed):
            out.append(None)
        else:
            out.append(f"config {config} seed {canonical(seed)}")
    return pd.Series(out, index=runs.index, dtype=object)


def one_run_per_trial(runs: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """One run per trial (:func:`trial_keys`), whatever else the store holds: two drivers of
    one study, a re-run, a failed attempt run again. A seed counted twice would look like two
    seeds that agree: an interval of a certainty nobody measured.

    The run that counts is a FINISHED one if the trial has any: of the code version
    (``a3m.code``) of its latest-finishing run (a trial retrained after its code changed
    counts the new code's result), the earliest to finish (so a later duplicate never changes
    it; run id breaks ties). Without one, its latest attempt (FAILED, KILLED or still RUNNING):
    a failure never re-run stays a failed seed.

    Returns:
        The runs that count, in their order, and one line on what was set aside ("" when
        nothing was): the duplicates, and the failed attempts another attempt superseded
        (attempt history, not failed seeds), each named with the run that counts instead.
    """
    trial = trial_keys(runs)
    grouped = trial.notna().to_numpy()
    if grouped.sum() == trial.nunique():  # no trial has two runs
        return runs, ""
    status = runs["status"].to_numpy(dtype=object)
    finished = status == "FINISHED"
    start = times_ms(runs, "start_time")
    end = np.where(np.isnan(times_ms(runs, "end_time")), start, times_ms(runs, "end_time"))
    frame = pd.DataFrame({"trial": trial.to_numpy(), "end": end,
                          "code": run_code_versions(runs).to_numpy(dtype=object),
                          "run_id": _run_ids(runs)})  # fmt: skip
    done = frame[finished & grouped].sort_values(["end", "run_id"], na_position="first")
    latest_code = done.groupby("trial")["code"].last()
    frame["unfinished"] = ~finished
    frame["other_code"] = finished & frame["trial"].map(latest_code).ne(frame["code"]).to_numpy()
    frame["when"] = np.where(finished, end, -start)  # earliest to finish; latest attempt
    ranked = frame[grouped].sort_values(["trial", "unfinished", "other_code", "when", "run_id"])
    counts = ranked.groupby("trial", sort=False)["run_id"].transform("first")
    aside = np.sort(ranked.index[ranked["run_id"].ne(counts).to_numpy()])
    keep = np.ones(len(runs), dtype=bool)
    keep[aside] = False
    ids = frame["run_id"].to_numpy(dtype=object)
    said = {i: f"{ids[i][:8]} {status[i]}" for i in range(len(runs))}
    by_id = dict(zip(ids, range(len(runs)), strict=True))
    named = {i: f"{said[i]} (counts: {said[by_id[counts[i]]]})" for i in aside}
    failed = [i for i in aside if status[i] in FAILED_STATUSES]
    duplicates = [i for i in aside if status[i] not in FAILED_STATUSES]
    notes = []
    if duplicates:
        notes.append(f"{_runs(len(duplicates), 'duplicate run')} of the same trial set aside "
                     "(one run per trial counts: a finished one, the earliest to finish): "
                     f"{_names([named[i] for i in duplicates])}")  # fmt: skip
    if failed:
        notes.append(f"{_runs(len(failed), 'failed attempt')} superseded by another attempt of "
                     "the same trial set aside (attempt history, not failed seeds): "
                     f"{_names([named[i] for i in failed])}")  # fmt: skip
    return runs[keep].reset_index(drop=True), "; ".join(notes)


class FailedBefore(NamedTuple):
    """``--exclude-failed-before``: failed runs that ended before ``when`` do not count."""

    when: pd.Timestamp
    said: str  # the flag's value, and what it means when it names a run


def failed_before(text: str, tracking_uri: str) -> FailedBefore:
    """``--exclude-failed-before WHEN``: an ISO date/time (``2026-12-01``,
    ``2026-12-01T14:00``, local time without an offset) or a run id (a study's parent run:
    "before that invocation started").

    Raises:
        BadFlag: neither.
    """
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        pass
    else:  # a naive time is local time, as the user's clock shows it
        when = when if when.tzinfo else when.astimezone()
        return FailedBefore(pd.Timestamp(when), f"{text} ({when.isoformat()})")
    from mlflow.exceptions import MlflowException

    try:
        run = MlflowClient(tracking_uri).get_run(text.strip())
    except MlflowException:
        raise BadFlag(
            f"--exclude-failed-before {text}: expected an ISO date/time (2026-12-01, "
            "2026-12-01T14:00, local time without an offset) or the id of a run of this store "
            "(a study's parent run: before it started)"
        ) from None
    when = pd.Timestamp(run.info.start_time, unit="ms", tz="UTC")
    return FailedBefore(when, f"{text} (run started {when.isoformat()})")


def set_aside_failed_before(runs: pd.DataFrame, cutoff: FailedBefore) -> tuple[pd.DataFrame, str]:
    """Set aside the FAILED and KILLED runs that ended (else started) before ``cutoff.when``:
    failures the user has dealt with (a fixed bug, a lost node), which otherwise stay failed
    seeds. One line says how many and which, none included."""
    start, end = times_ms(runs, "start_time"), times_ms(runs, "end_time")
    ended = np.where(np.isnan(end), start, end)
    old = np.isin(_column(runs, "status"), FAILED_STATUSES) & (ended < cutoff.when.value / 1e6)
    names = [f"{r[:8]} {s}" for r, s in zip(_run_ids(runs)[old], _column(runs, "status")[old],
                                            strict=True)]  # fmt: skip
    note = (f"--exclude-failed-before {cutoff.said}: {_runs(len(names), 'failed or killed run')}"
            f" that ended before it set aside{': ' + _names(names) if names else ''}")  # fmt: skip
    return runs[~old].reset_index(drop=True), note


def _column(runs: pd.DataFrame, name: str) -> np.ndarray:
    """A column's values as objects, None throughout where the frame lacks it."""
    if name in runs:
        return runs[name].to_numpy(dtype=object)
    return np.full(len(runs), None, dtype=object)


def _run_ids(runs: pd.DataFrame) -> np.ndarray:
    """The runs' ids as text (their positions in a frame built without any)."""
    if "run_id" in runs:
        return runs["run_id"].astype(str).to_numpy(dtype=object)
    return np.array([f"#{i}" for i in range(len(runs))], dtype=object)


def times_ms(runs: pd.DataFrame, name: str) -> np.ndarray:
    """A time column (``start_time``, ``end_time``) as milliseconds since the epoch (float;
    NaN where missing or where the frame lacks the column)."""
    if name not in runs:
        return np.full(len(runs), np.nan)
    times = pd.to_datetime(runs[name], utc=True)
    ms = (times - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(milliseconds=1)
    return ms.to_numpy(dtype=float, na_value=np.nan)


def _runs(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def _names(names: list[str]) -> str:
    more = len(names) - NAMED_RUNS
    return ", ".join(names[:NAMED_RUNS]) + (f", and {more} more" if more > 0 else "")
