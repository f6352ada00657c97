"""Leaderboards: one row per configuration from a study's MLflow runs, mean and 95% CI over
seeds (Student t), with the run ids and their statuses."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from a3m.csvfile import write_csv
from a3m.data.tasks import TASKS
from a3m.provenance import run_code_versions
from a3m.stats import failure_rate, min_pairs_to_decide
from a3m.study.compare import STOPPED_EARLY_COLUMN, Inference, attach_verdicts, compare, describe
from a3m.study.runs import (
    FAILED_STATUSES,
    BadFlag,
    configuration_key,
    runs_frame,
    study_inference,
    study_reference,
    times_ms,
)
from a3m.study.tracking import ERROR_TAG

LEADERBOARD_METRICS: tuple[str, ...] = (
    "score",
    *dict.fromkeys(m for task in TASKS.values() for m in task.logged_metrics),
    "train_loss",
)
"""Metrics a leaderboard shows when a run has them: ``score``, every task's protocol metrics
(:data:`a3m.data.tasks.TASKS`, in the paper's order), then the training loss."""


def ci95(values: pd.Series) -> float:
    """Half-width of the 95% confidence interval of the mean (Student t); NaN for n < 2."""
    return _ci95(values.dropna().to_numpy(dtype=float))


@functools.cache
def _t975(dof: int) -> float:
    """Student t's 97.5% quantile: one scipy call per sample size, not per configuration."""
    return stats.t.ppf(0.975, dof)


def _ci95(v: np.ndarray) -> float:
    """:func:`ci95` of the values ``v``, none of them NaN."""
    if len(v) < 2:
        return float("nan")
    return float(_t975(len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))


def _mean(v: np.ndarray) -> float:
    """``pd.Series(v).mean()`` (NaN skipped) without building the Series: the same sum of the
    same array, NaNs as zeros, over the count, so the same bits."""
    missing = np.isnan(v)
    count = len(v) - int(missing.sum())
    if count == 0:
        return float("nan")
    return float(np.where(missing, 0.0, v).sum() / count)


def leaderboard(
    runs: pd.DataFrame, sort_by: str | None = None, strict: bool = False
) -> pd.DataFrame:
    """One row per configuration: the params that vary across runs (seed excluded), then for
    each metric its mean and 95% CI over seeds, the number of runs, statuses, the code
    versions that trained them (``code_versions``: their ``a3m.code`` fingerprints, ``;``
    between them, ``unrecorded`` for runs logged before runs had one; more than one is a mix
    of results of different code) and run ids.

    Each column is read once as an array and each configuration's rows are picked out of it by
    position: slicing the whole frame per configuration (every column, many of them Arrow
    text) cost seconds per thousand configurations.

    ``strict``: ``sort_by`` is the user's (``--sort-by``): a column the table lacks is
    :class:`~a3m.study.runs.BadFlag`, not ignored."""
    if runs.empty:
        return pd.DataFrame()
    key = configuration_key(runs) or ["params.dataset" if "params.dataset" in runs else "run_id"]
    columns = _read_columns(runs)
    rows = []
    for values, at in _configurations(runs, key):
        row = {k.removeprefix("params."): v for k, v in zip(key, values, strict=True)}
        row.update(_configuration_row(columns, at))
        rows.append(row)
    return _sorted(pd.DataFrame(rows), sort_by, strict)


@dataclass(frozen=True)
class _Columns:
    """The columns a leaderboard reads, each once, as arrays by row position."""

    metrics: dict[str, np.ndarray]  # ``metrics.<name>`` -> values, in LEADERBOARD_METRICS order
    seeds: np.ndarray | None  # as text, ``?`` where missing; None: no seed column
    status: np.ndarray
    status_column: pd.Series  # for value_counts' own order of mixed statuses
    run_ids: np.ndarray
    codes: np.ndarray  # a3m.code fingerprints (a3m.provenance.run_code_versions)
    errors: np.ndarray | None  # a3m.error, "" where none; None: no such column
    started: np.ndarray  # each run's rank by start time
    stopped: np.ndarray  # stopped early by a scheduler


def _read_columns(runs: pd.DataFrame) -> _Columns:
    """Read the columns a leaderboard needs out of ``runs``, once each."""
    metric_cols = [f"metrics.{m}" for m in LEADERBOARD_METRICS if f"metrics.{m}" in runs]
    seeds = None
    if "params.seed" in runs:
        seed = runs["params.seed"]
        seeds = seed.astype(object).where(seed.notna(), "?").astype(str).to_numpy(dtype=object)
    errors = runs[f"tags.{ERROR_TAG}"] if f"tags.{ERROR_TAG}" in runs else None
    stopped = np.zeros(len(runs), dtype=bool)
    if STOPPED_EARLY_COLUMN in runs:
        stopped = runs[STOPPED_EARLY_COLUMN].astype(str).str.lower().eq("true").to_numpy()
    return _Columns(
        metrics={col: runs[col].to_numpy(dtype=float) for col in metric_cols},
        seeds=seeds,
        status=runs["status"].to_numpy(dtype=object),
        status_column=runs["status"],
        run_ids=runs["run_id"].to_numpy(dtype=object),
        codes=run_code_versions(runs).to_numpy(dtype=object),
        errors=errors.fillna("").to_numpy(dtype=object) if errors is not None else None,
        started=np.argsort(np.argsort(times_ms(runs, "start_time"), kind="stable")),
        stopped=stopped,
    )


def _configurations(runs: pd.DataFrame, key: list[str]) -> Iterator[tuple[tuple, np.ndarray]]:
    """Each configuration's ``key`` values and row positions, in the order groupby yields them."""
    groups = runs.groupby(key, dropna=False, sort=False)
    number = groups.ngroup().to_numpy()
    order = np.argsort(number, kind="stable")
    ends = np.cumsum(np.bincount(number))
    for i, values in enumerate(groups.size().index):
        at = order[ends[i - 1] if i else 0 : ends[i]]
        yield (values if isinstance(values, tuple) else (values,)), at


def _configuration_row(columns: _Columns, at: np.ndarray) -> dict[str, Any]:
    """A configuration's leaderboard cells after its key: metrics, runs, statuses, notes, ids."""
    row: dict[str, Any] = {}
    for col, column in columns.metrics.items():
        name = col.removeprefix("metrics.")
        v = column[at]
        row[f"{name}_mean"] = _mean(v)
        row[f"{name}_ci95"] = _ci95(v[~np.isnan(v)])
    row["n_runs"] = len(at)
    row["seeds"] = ",".join(sorted(columns.seeds[at])) if columns.seeds is not None else ""
    statuses = columns.status[at]
    row["status"] = _status_counts(statuses, columns.status_column, at)
    row["code_versions"] = ";".join(sorted(set(columns.codes[at])))
    row.update(_failures(statuses, columns.stopped[at]))
    ranked = next(iter(columns.metrics.values()), None)  # the first metric: what it is ranked by
    scored = ranked[at] if ranked is not None else np.full(len(at), np.nan)
    first = at[np.argsort(columns.started[at])]  # the configuration's runs in the order they began
    errors = None if columns.errors is None else columns.errors[first]
    row["note"] = _note(columns.status[first], errors, scored)
    row["run_ids"] = ";".join(columns.run_ids[at])
    return row


def _status_counts(statuses: np.ndarray, column: pd.Series, at: np.ndarray) -> str:
    """A configuration's statuses with their counts, e.g. ``FINISHED:3,FAILED:1``."""
    if (statuses == statuses[0]).all():
        return f"{statuses[0]}:{len(at)}"
    counts = column.iloc[at].value_counts()  # value_counts' own order of the counts, as before
    return ",".join(f"{s}:{n}" for s, n in counts.items())


def _sorted(table: pd.DataFrame, sort_by: str | None, strict: bool) -> pd.DataFrame:
    """The leaderboard sorted by ``sort_by`` (default: the first metric's mean), best first."""
    if sort_by is None:
        sort_by = next((f"{m}_mean" for m in LEADERBOARD_METRICS if f"{m}_mean" in table), None)
    elif sort_by not in table and strict:
        sortable = [c for c in table if c != "run_ids" and pd.api.types.is_numeric_dtype(table[c])]
        raise BadFlag(f"--sort-by {sort_by}: not a column of this leaderboard; valid: "
                      f"{', '.join(sortable)}")  # fmt: skip
    if sort_by is not None and sort_by in table:
        table = table.sort_values(sort_by, ascending=False, na_position="last")
    return table.reset_index(drop=True)


def _note(statuses: np.ndarray, errors: np.ndarray | None, scored: np.ndarray) -> str | None:
    """Words for what a configuration's numbers cannot say (None when they say it all): its
    failures with the first one's reason (``a3m.error``), and why its mean or interval is
    missing (every run failed, one seed, none ended yet)."""
    failed = np.isin(statuses, FAILED_STATUSES)
    notes = []
    if failed.any():
        reasons = [str(e).strip() for e in (errors[failed] if errors is not None else [])]
        first = next((r.splitlines()[0] for r in reasons if r), "")
        why = f": {first[:117] + '...' if len(first) > 120 else first}" if first else ""
        n, of = int(failed.sum()), len(statuses)
        were = "was" if n == 1 else "were"
        counted = "every run failed or was" if n == of else f"{n} of {of} runs failed or {were}"
        notes.append(f"{counted} killed{why}")
    n = int((~np.isnan(scored)).sum())
    if n == 1:
        notes.append("one seed with a result: no interval")
    elif n == 0 and not failed.all():
        notes.append("no run with a result yet" if (statuses == "RUNNING").any() else
                     "no run with a result")  # fmt: skip
    return "; ".join(notes) or None


def _failures(statuses: np.ndarray, stopped: np.ndarray) -> dict[str, Any]:
    """A configuration's failed runs (FAILED, or KILLED: lost or interrupted) and runs stopped
    early by a scheduler, with the failure-or-stop rate's exact (Clopper-Pearson) 95% interval:
    a configuration that fails on hard seeds is not as good as its finished runs say."""
    ended = statuses != "RUNNING"
    failed = int(np.isin(statuses, FAILED_STATUSES).sum())
    stops = int((stopped & ~np.isin(statuses, FAILED_STATUSES) & ended).sum())
    rate, low, high = failure_rate(failed + stops, int(ended.sum()))
    return {"n_failed": failed, "n_stopped": stops, "fail_rate": rate,
            "fail_ci_low": low, "fail_ci_high": high}  # fmt: skip


@dataclass
class WrittenLeaderboard:
    """What :func:`write_leaderboard` wrote: the leaderboard, its comparisons (empty without a
    reference or pairs; then ``no_verdicts`` says why), the reference, and the files."""

    table: pd.DataFrame
    comparisons: pd.DataFrame
    reference: dict[str, Any] | None
    no_verdicts: str
    files: list[Path] = field(default_factory=list)

    def said(self) -> str:
        """What was written, and why no comparisons.csv when there is none."""
        lines = [f"wrote {self.files[0]}"]
        if self.comparisons.empty:
            lines.append(f"no comparisons.csv: {self.no_verdicts}")
        else:
            against = describe(self.reference or {})
            lines.append(f"wrote {self.files[-1]}: the paired comparisons against {against}, "
                         "one row per configuration")  # fmt: skip
        return "\n".join(lines)


def why_no_verdicts(runs: pd.DataFrame, reference: Mapping[str, Any] | None) -> str:
    """Why a study's runs give no paired verdicts, one line in the words the study's summary
    prints: no reference, or one seed per configuration; "" when they may give some."""
    if not reference:
        return "no paired verdicts: the study declared no reference (a3m compare --reference)"
    if "params.seed" not in runs or runs["params.seed"].nunique() < 2:
        return (f"no paired verdicts against {describe(reference)}: one seed per "
                f"configuration; run with --seeds N (N >= {min_pairs_to_decide()} can reach "
                "p < 0.05)")  # fmt: skip
    return ""


def write_leaderboard(
    experiment: str,
    tracking_uri: str,
    out: str | Path,
    sort_by: str | None = None,
    reference: Mapping[str, Any] | None = None,
    metric: str = "score",
    inference: Inference | None = None,
    strict: bool = False,
    exclude_failed_before: str | None = None,
) -> WrittenLeaderboard:
    """Write an experiment's leaderboard as CSV, each configuration with its paired verdict
    against ``reference`` (default: the one the study declared) when two or more seeds ran,
    and those comparisons as ``comparisons.csv`` beside it. The runs are those that count
    (:func:`a3m.study.runs.runs_frame`: one per trial; ``exclude_failed_before``: the
    ``--exclude-failed-before`` flag). ``inference``: how the verdicts are decided (default:
    the study's, :func:`a3m.study.runs.study_inference`); ``strict``: ``sort_by`` is the
    user's flag (:func:`leaderboard`).

    Raises:
        ValueError: the experiment has no trial runs.
    """
    runs = runs_frame(experiment, tracking_uri, exclude_failed_before)
    table = leaderboard(runs, sort_by=sort_by, strict=strict)
    if table.empty:
        raise ValueError(f"experiment {experiment!r} has no trial runs yet: nothing to rank")
    if reference is None:
        reference = study_reference(experiment, tracking_uri)
    comparisons = pd.DataFrame()
    no_verdicts = why_no_verdicts(runs, reference)
    if not no_verdicts:
        if inference is None:
            inference = study_inference(experiment, tracking_uri)
        comparisons = compare(runs, reference, metric=metric, inference=inference)
        table = attach_verdicts(table, comparisons, reference)
        if comparisons.empty:
            no_verdicts = (f"no paired verdicts against {describe(reference)}: no "
                           "configuration differs from it")  # fmt: skip
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_csv(table, out)
    files = [out]
    if not comparisons.empty:
        write_csv(comparisons, out.with_name("comparisons.csv"))
        files.append(out.with_name("comparisons.csv"))
    return WrittenLeaderboard(table, comparisons, reference and dict(reference), no_verdicts,
                              files)  # fmt: skip


def export_leaderboard(
    experiment: str,
    tracking_uri: str,
    out: str | Path,
    sort_by: str | None = None,
    reference: Mapping[str, Any] | None = None,
    metric: str = "score",
    inference: Inference | None = None,
    strict: bool = False,
    exclude_failed_before: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`write_leaderboard`, returning the leaderboard and the comparisons (empty without
    a reference or pairs)."""
    written = write_leaderboard(experiment, tracking_uri, out, sort_by, reference, metric,
                                inference, strict, exclude_failed_before)  # fmt: skip
    return written.table, written.comparisons
