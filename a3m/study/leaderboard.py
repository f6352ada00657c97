"""Leaderboards: one row per configuration from a study's MLflow runs, mean and 95% CI over
seeds (Student t), with the run ids and their statuses."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from a3m.data.tasks import TASKS
from a3m.study.compare import attach_verdicts, compare
from a3m.study.runs import configuration_key, runs_frame, study_reference

LEADERBOARD_METRICS: tuple[str, ...] = (
    "score",
    *dict.fromkeys(m for task in TASKS.values() for m in task.metrics),
    "train_loss",
)
"""Metrics a leaderboard shows when a run has them: ``score``, every task's protocol metrics
(:data:`a3m.data.tasks.TASKS`, in the paper's order), then the training loss."""


def ci95(values: pd.Series) -> float:
    """Half-width of the 95% confidence interval of the mean (Student t); NaN for n < 2."""
    v = values.dropna().to_numpy(dtype=float)
    if len(v) < 2:
        return float("nan")
    return float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))


def leaderboard(runs: pd.DataFrame, sort_by: str | None = None) -> pd.DataFrame:
    """One row per configuration: the params that vary across runs (seed excluded), then for
    each metric its mean and 95% CI over seeds, the number of runs, statuses and run ids."""
    if runs.empty:
        return pd.DataFrame()
    metric_cols = [f"metrics.{m}" for m in LEADERBOARD_METRICS if f"metrics.{m}" in runs]
    key = configuration_key(runs) or ["params.dataset" if "params.dataset" in runs else "run_id"]
    rows = []
    for values, group in runs.groupby(key, dropna=False, sort=False):
        values = values if isinstance(values, tuple) else (values,)
        row = {k.removeprefix("params."): v for k, v in zip(key, values, strict=True)}
        for col in metric_cols:
            name = col.removeprefix("metrics.")
            row[f"{name}_mean"] = group[col].mean()
            row[f"{name}_ci95"] = ci95(group[col])
        row["n_runs"] = len(group)
        row["seeds"] = ",".join(sorted(group.get("params.seed", pd.Series(dtype=str)).astype(str)))
        row["status"] = ",".join(f"{s}:{n}" for s, n in group["status"].value_counts().items())
        row["run_ids"] = ";".join(group["run_id"])
        rows.append(row)
    table = pd.DataFrame(rows)
    if sort_by is None:
        sort_by = next((f"{m}_mean" for m in LEADERBOARD_METRICS if f"{m}_mean" in table), None)
    if sort_by is not None and sort_by in table:
        table = table.sort_values(sort_by, ascending=False, na_position="last")
    return table.reset_index(drop=True)


def export_leaderboard(
    experiment: str,
    tracking_uri: str,
    out: str | Path,
    sort_by: str | None = None,
    reference: Mapping[str, Any] | None = None,
    metric: str = "score",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write an experiment's leaderboard as CSV, each configuration with its paired verdict
    against ``reference`` (default: the one the study declared) when two or more seeds ran,
    and those comparisons as ``comparisons.csv`` beside it.

    Returns:
        The leaderboard and the comparisons (empty without a reference or pairs).
    """
    runs = runs_frame(experiment, tracking_uri)
    table = leaderboard(runs, sort_by=sort_by)
    if table.empty:
        raise ValueError(f"experiment {experiment!r} has no trial runs yet: nothing to rank")
    if reference is None:
        reference = study_reference(experiment, tracking_uri)
    comparisons = pd.DataFrame()
    if reference and "params.seed" in runs and runs["params.seed"].nunique() > 1:
        comparisons = compare(runs, reference, metric=metric)
        table = attach_verdicts(table, comparisons, reference)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    if not comparisons.empty:
        comparisons.to_csv(out.with_name("comparisons.csv"), index=False)
    return table, comparisons
