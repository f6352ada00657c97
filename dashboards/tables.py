"""The paper's Tables 1-5 beside our runs.

The paper's numbers are data, not prose: ``paper_numbers.csv`` beside this module holds one value
per row (table, dataset, method, our variant for the paper's own models, metric, value in percent as
printed), transcribed from the paper's tables (docs/reproduction.md, "The paper's numbers", quotes
the headline rows). :func:`comparison_table` puts our mean over seeds (fractions -> percent) next to
each of the paper's rows, with the difference in percentage points in its own column, and marks
the best value of each column. The paper's numbers and the differences are about its public
release: on other data (a synthetic copy, your own, a dry run: :mod:`dashboards.kinds`) the
table is ours only (:func:`ours_only`). :func:`comparison_figure` draws it as a Plotly table.
The metrics the field reports beside the paper's (:attr:`a3m.data.tasks.Task.field_metrics`:
mINP and the re-ranked figures on Market-1501, MAP@R on the retrieval sets) follow the paper's
columns when our runs logged them, ours only: the paper has no value to compare with.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from a3m.data.registry import DATASETS
from a3m.data.tasks import FIELD_METRICS, RERANK_PREFIX, TASKS
from a3m.study.leaderboard import ci95
from dashboards.data import config_runs_per_variant, label, metric_label, variants_in
from dashboards.kinds import data_summary

PAPER_NUMBERS_CSV = Path(__file__).with_name("paper_numbers.csv")
PERCENT = 100.0

TABLE_OF_DATASET: dict[str, int] = {name: entry.paper_table for name, entry in DATASETS.items()}
"""Which of the paper's tables reports each of our datasets (the registry's ``paper_table``)."""

TABLE_TITLES: dict[int, str] = {
    1: "Table 1: Market-1501 re-identification (ResNet-50)",
    2: "Table 2: CUB-200-2011 classification",
    3: "Table 3: CompCars classification",
    4: "Table 4: CUB-200-2011 retrieval (InceptionBN, 384-d)",
    5: "Table 5: CARS196 retrieval (InceptionBN, 384-d)",
}

COLUMNS = [
    "table",
    "method",
    "variant",
    "metric",
    "paper",
    "ours",
    "ours_ci95",
    "n_runs",
    "diff",
    "best_paper",
    "best_ours",
]
"""Columns of :func:`comparison_table`: values in percent, ``diff`` = ours - paper (points;
``paper``, ``diff`` and ``best_paper`` absent where the data is not the paper's release)."""


def load_paper_numbers(path: str | Path | None = None) -> pd.DataFrame:
    """The paper's numbers, one per row: ``table, dataset, method, variant, network, dim,
    annotations, metric, value_pct`` (``variant`` empty for methods other than the paper's)."""
    paper = pd.read_csv(path or PAPER_NUMBERS_CSV, comment="#", dtype={"variant": str})
    paper["variant"] = paper["variant"].fillna("")
    return paper


def field_metrics_of(runs: pd.DataFrame, dataset: str) -> list[str]:
    """The field's metrics (:attr:`a3m.data.tasks.Task.field_metrics`) of ``dataset``'s task
    that some run on ``dataset`` logged, in the task's order."""
    if dataset not in DATASETS:
        return []
    if "params.dataset" in runs:
        runs = runs[runs["params.dataset"] == dataset]
    return [
        m
        for m in DATASETS[dataset].protocol.field_metrics
        if f"metrics.{m}" in runs and runs[f"metrics.{m}"].notna().any()
    ]


def tables_for(runs: pd.DataFrame) -> list[int]:
    """The paper's tables that report the datasets of ``runs``."""
    if "params.dataset" not in runs:
        return []
    datasets = runs["params.dataset"].dropna().unique()
    return sorted({TABLE_OF_DATASET[d] for d in datasets if d in TABLE_OF_DATASET})


def comparison_table(
    runs: pd.DataFrame,
    table: int,
    paper: pd.DataFrame | None = None,
    *,
    reference: Mapping[str, str] | None = None,
    with_paper: bool | None = None,
) -> pd.DataFrame:
    """One of the paper's tables with our runs beside it, one row per (method, metric).

    Our value of a paper row is the mean over seeds of the runs of its variant on the table's
    dataset (of one configuration per variant when the study varied more, chosen by
    :func:`dashboards.data.config_runs_per_variant`, never by the test score shown here); our
    variants the table lacks (Att-1, Att-2, ...) are appended as rows without a paper value.
    The field's metrics our runs logged (:func:`field_metrics_of`) follow the paper's, with
    no paper value.

    Args:
        runs: runs frame (fractions in [0, 1]).
        table: 1-5.
        paper: the paper's numbers (default :func:`load_paper_numbers`).
        reference: the study's reference configuration (which configuration per variant).
        with_paper: keep the paper's rows, numbers and ``diff``; default: where the data is
            the paper's release (:attr:`dashboards.kinds.DataSummary.paper`), else ours only.

    Returns:
        Columns :data:`COLUMNS` (:func:`ours_only`'s without ``with_paper``); ``paper``,
        ``ours``, ``ours_ci95`` and ``diff`` in percent (points), NaN where there is no value;
        ``best_paper`` / ``best_ours`` mark the highest value of each metric among the paper's
        rows / among ours.
    """
    paper = load_paper_numbers() if paper is None else paper
    rows_of_table = _paper_rows(paper, table)
    dataset = rows_of_table["dataset"].iloc[0]
    metrics = _table_metrics(rows_of_table, runs, dataset)
    ours = runs[runs["params.dataset"] == dataset] if "params.dataset" in runs else runs.iloc[0:0]
    chosen = config_runs_per_variant(ours, "variant", reference).runs
    out = []
    for method, variant in _table_methods(rows_of_table, chosen):
        group = chosen[chosen["params.variant"] == variant] if variant else chosen.iloc[0:0]
        out += [_row(table, rows_of_table, group, method, variant, m) for m in metrics]
    frame = _mark_best(pd.DataFrame(out, columns=COLUMNS[:-2]))
    if with_paper is None:
        with_paper = data_summary(runs).paper
    return frame if with_paper else ours_only(frame)


def _paper_rows(paper: pd.DataFrame, table: int) -> pd.DataFrame:
    """The paper's numbers of ``table`` (ValueError when the paper has no such table)."""
    rows = paper[paper["table"] == table]
    if rows.empty:
        raise ValueError(
            f"the paper has no table {table}; tables: {sorted(paper['table'].unique())}"
        )
    return rows


def _table_metrics(rows: pd.DataFrame, runs: pd.DataFrame, dataset: str) -> list[str]:
    """The table's metrics: the paper's, then the field's that our runs logged."""
    # the protocol's column order (rank-1 ... mAP), not the order of the CSV's first method
    canonical = [m for task in TASKS.values() for m in task.metrics]
    metrics = sorted(
        dict.fromkeys(rows["metric"]),
        key=lambda m: canonical.index(m) if m in canonical else len(canonical),
    )
    return metrics + [m for m in field_metrics_of(runs, dataset) if m not in metrics]


def _table_methods(rows: pd.DataFrame, chosen: pd.DataFrame) -> list[tuple[str, str]]:
    """(method, variant) of each row: the paper's, then our variants it lacks (Att-1, ...)."""
    methods = list(dict.fromkeys(zip(rows["method"], rows["variant"], strict=True)))
    paper_variants = {v for _, v in methods if v}
    return methods + [(label(v), v) for v in variants_in(chosen) if v not in paper_variants]


def _row(
    table: int, rows: pd.DataFrame, group: pd.DataFrame, method: str, variant: str, metric: str
) -> dict[str, Any]:
    """One (method, metric) row: the paper's value beside our mean over ``group``'s runs."""
    hit = rows[(rows["method"] == method) & (rows["metric"] == metric)]
    paper_value = float(hit["value_pct"].iloc[0]) if len(hit) else math.nan
    col = f"metrics.{metric}"
    values = group[col].dropna().astype(float) if col in group else pd.Series(dtype=float)
    mean = float(values.mean() * PERCENT) if len(values) else math.nan
    return {
        "table": table,
        "method": method,
        "variant": variant,
        "metric": metric,
        "paper": paper_value,
        "ours": mean,
        "ours_ci95": ci95(values) * PERCENT,
        "n_runs": len(values),
        "diff": mean - paper_value,
    }


def _mark_best(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with ``best_paper`` / ``best_ours``: each metric's highest value, per source."""
    for src, flag in (("paper", "best_paper"), ("ours", "best_ours")):
        best = frame.groupby("metric")[src].transform("max")
        frame[flag] = np.isclose(frame[src], best) & frame[src].notna()
    return frame


def ours_only(comparison: pd.DataFrame) -> pd.DataFrame:
    """A :func:`comparison_table` without the paper: its columns (``paper``, ``diff``,
    ``best_paper``) and the rows of methods we did not run."""
    ran = comparison.groupby("method")["ours"].transform(lambda v: v.notna().any())
    kept = comparison[ran.astype(bool)]
    return kept.drop(columns=["paper", "diff", "best_paper"], errors="ignore")


def _fmt(value: float, bold: bool = False, signed: bool = False, ci: float = math.nan) -> str:
    if not np.isfinite(value):
        return "–"
    text = f"{value:+.2f}" if signed else f"{value:.2f}"
    if np.isfinite(ci):
        text += f" ± {ci:.2f}"
    return f"<b>{text}</b>" if bold else text


def comparison_figure(comparison: pd.DataFrame, title: str | None = None) -> go.Figure:
    """A :func:`comparison_table` as a Plotly table: per metric the paper's value, ours
    (mean ± 95% CI over seeds) and the difference (where the table has them: the paper's
    release); the best of each column in bold on green. The field's metrics (no paper value)
    have our column only.

    Args:
        comparison: the long table of :func:`comparison_table`.
        title: default the paper's table title.
    """
    table = int(comparison["table"].iloc[0]) if len(comparison) else 0
    metrics = list(dict.fromkeys(comparison["metric"]))
    methods = list(dict.fromkeys(comparison["method"]))
    header = ["method"]
    columns: list[list[str]] = [methods]
    fills: list[list[str]] = [["white"] * len(methods)]
    green, plain = "#d9f2d9", "white"
    with_diff, with_paper = "diff" in comparison, "paper" in comparison
    for metric in metrics:
        part = comparison[comparison["metric"] == metric].set_index("method").loc[methods]
        name = metric_label(metric)
        ours_only = metric in FIELD_METRICS or not with_paper
        if not ours_only:
            header.append(f"{name}<br>paper (%)")
            columns.append([_fmt(r.paper, r.best_paper) for r in part.itertuples()])
            fills.append([green if b else plain for b in part["best_paper"]])
        header.append(f"{name}<br>ours (%)")
        columns.append([_fmt(r.ours, r.best_ours, ci=r.ours_ci95) for r in part.itertuples()])
        fills.append([green if b else plain for b in part["best_ours"]])
        if with_diff and not ours_only:
            header.append(f"{name}<br>Δ (points)")
            columns.append([_fmt(r.diff, signed=True) for r in part.itertuples()])
            fills.append([plain] * len(methods))
    fig = go.Figure(
        go.Table(
            header={
                "values": [f"<b>{h}</b>" for h in header],
                "fill_color": "#e8e8f0",
                "align": "left",
                "height": 44,
            },
            cells={"values": columns, "fill_color": fills, "align": "left", "height": 24},
            columnwidth=[180] + [105] * (len(header) - 1),
        )
    )
    # A fixed size that holds every row and column unwrapped (Table 1 has 16 columns): the PNG
    # shows the whole table, the HTML scrolls sideways.
    fig.update_layout(
        title={
            "text": title
            or TABLE_TITLES.get(table, f"Table {table}")
            + ("" if with_paper else ", in its layout: our runs only")
        },  # fmt: skip
        width=max(1000, 20 + 180 + 105 * (len(header) - 1)),
        height=150 + 26 * len(methods),
        margin={"l": 10, "r": 10, "t": 60, "b": 10},
    )
    return fig


def table_caption(
    runs: pd.DataFrame, table: int, reference: Mapping[str, str] | None = None
) -> str:
    """The sentences under a table: whose numbers, which units, which configuration of each
    variant (when the study varied more), and where the data is not the paper's release why
    the paper's numbers are not there."""
    summary = data_summary(runs)
    text = (
        f"The paper's rows of Table {table} (percent, as printed) beside our runs (mean over "
        "seeds ± 95% CI, our fractions in percent); Δ = ours - paper in percentage points; "
        if summary.paper
        else f"Our runs in the layout of the paper's Table {table} (mean over seeds ± 95% CI, "
        "fractions in percent); "
    )
    text += "the best of each column in bold."
    dataset = {v: k for k, v in TABLE_OF_DATASET.items()}.get(table)
    if "params.dataset" in runs and dataset is not None:
        runs = runs[runs["params.dataset"] == dataset]
    rule = config_runs_per_variant(runs, "variant", reference).rule
    if rule:
        text += " " + rule
    field = field_metrics_of(runs, dataset) if dataset is not None else []
    if field:
        names = ", ".join(metric_label(m) for m in field)
        how = ""
        if any(m.startswith(RERANK_PREFIX) for m in field):
            how = " (re-ranked: k-reciprocal re-ranking, k1 = 20, k2 = 6, lambda = 0.3)"
        text += (
            f" {names}: the metrics the field reports since 2018{how}; the paper reports none "
            "of them, so ours only (docs/reproduction.md, the field's metrics)."
        )
    return text if summary.paper else f"{text} {summary.why_no_paper()}"
