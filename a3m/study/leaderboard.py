"""Leaderboards: one row per configuration from a study's MLflow runs, mean and 95% CI over
seeds (Student t), with the run ids and their statuses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from mlflow import MlflowClient
from scipy import stats

from a3m.study.tracking import PARENT_TAG, TRIAL_TAG

# Metrics a leaderboard shows when a run has them (evaluation, then training).
LEADERBOARD_METRICS = (
    "score",
    "accuracy",
    "category_accuracy",
    "attr_acc/mean",
    "rank1",
    "rank5",
    "rank10",
    "rank20",
    "mAP",
    "recall_at_1",
    "recall_at_2",
    "recall_at_4",
    "recall_at_8",
    "nmi",
    "train_loss",
    "epoch",
)
NOT_A_SETTING = frozenset({"seed", "data_root", "num_workers", "device"})
"""Params that never make two runs different configurations: the seed pairs runs, the others
say where and how a run ran, not what it computed."""


def runs_frame(experiment: str, tracking_uri: str) -> pd.DataFrame:
    """The trial runs (child runs) of an MLflow experiment as a DataFrame (``mlflow.search_runs``
    layout: ``params.*``, ``metrics.*`` with each metric's latest value, ``tags.*``)."""
    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        names = sorted(e.name for e in client.search_experiments())
        raise ValueError(f"no MLflow experiment {experiment!r} at {tracking_uri}; found: {names}")
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    df = mlflow.search_runs([exp.experiment_id], output_format="pandas")
    if df.empty or f"tags.{TRIAL_TAG}" not in df:
        return df.iloc[0:0]
    return df[df[f"tags.{TRIAL_TAG}"].notna() & df[f"tags.{PARENT_TAG}"].notna()].reset_index(
        drop=True
    )


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
    experiment: str, tracking_uri: str, out: str | Path, sort_by: str | None = None
) -> pd.DataFrame:
    """Write an experiment's leaderboard as CSV; returns the table."""
    table = leaderboard(runs_frame(experiment, tracking_uri), sort_by=sort_by)
    if table.empty:
        raise ValueError(f"experiment {experiment!r} has no trial runs yet: nothing to rank")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    return table
