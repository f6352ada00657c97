"""The plots of an open (Optuna) search, from a runs DataFrame: how the trials spread over
the parameters, which parameters mattered, and how the best value grew.

    parallel_coordinates    every trial as a line through its parameters and its metric
    param_importance_bars   fANOVA importance of each parameter
    best_value_history      each trial's metric in start order, and the best so far

Each takes the runs frame of :func:`dashboards.data.load_runs` (or a hand-made one in the same
layout) and returns a ``plotly.graph_objects.Figure``; values in percent, as the paper's figures
(:mod:`dashboards.figures`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from a3m.stats import higher_is_better
from dashboards.data import metric_label, missing_note, numeric, varying_settings
from dashboards.figure_text import PERCENT, add_note, empty_figure


def _dimension(runs: pd.DataFrame, param: str) -> dict:
    """A parallel-coordinates axis: numbers as they are, text as categories (coded 0..n-1)."""
    num = numeric(runs, param)
    if num.notna().all():
        return {"label": param, "values": num.tolist()}
    cats = sorted(runs[f"params.{param}"].astype(str).unique())
    codes = runs[f"params.{param}"].astype(str).map({c: i for i, c in enumerate(cats)})
    return {
        "label": param,
        "values": codes.tolist(),
        "tickvals": list(range(len(cats))),
        "ticktext": cats,
    }


def parallel_coordinates(
    runs: pd.DataFrame, params: Sequence[str] | None = None, metric: str = "score"
) -> go.Figure:
    """An open search's trials as lines through their parameters and ``metric`` (percent),
    coloured by the metric.

    Args:
        runs: runs frame.
        params: the axes; default the settings that vary across runs.
        metric: the last axis and the colour.
    """
    title = f"Search: parameters and {metric_label(metric)} of every trial"
    params = list(params) if params is not None else varying_settings(runs)
    col = f"metrics.{metric}"
    done = runs[runs[col].notna()] if col in runs else runs.iloc[0:0]
    if done.empty or not params:
        return empty_figure(title, f"no trial with {metric_label(metric)} and varying parameters")
    value = (done[col].astype(float) * PERCENT).tolist()
    dims = [_dimension(done, p) for p in params]
    dims.append({"label": f"{metric_label(metric)} (%)", "values": value})
    fig = go.Figure(
        go.Parcoords(
            dimensions=dims,
            line={
                "color": value,
                "colorscale": "Viridis",
                "showscale": True,
                "colorbar": {"title": {"text": "%"}},
            },
        )
    )
    fig.update_layout(title={"text": title}, margin={"l": 60, "r": 60})
    return add_note(fig, missing_note(runs, [metric]))


def param_importance_bars(importances: Mapping[str, float], source: str) -> go.Figure:
    """Parameter importance (fANOVA, summing to 1) as horizontal bars, most important on top.

    Args:
        importances: ``{param: importance}`` from :func:`dashboards.data.param_importances`.
        source: where they come from (the Optuna study, or estimated from the MLflow runs), or
            why there are none; written in the title.
    """
    title = f"Search: parameter importance ({source})"
    if not importances:
        return empty_figure("Search: parameter importance", source)
    items = sorted(importances.items(), key=lambda kv: kv[1])
    fig = go.Figure(
        go.Bar(
            x=[v for _, v in items],
            y=[k for k, _ in items],
            orientation="h",
            hovertemplate="%{y}: %{x:.3f}<extra></extra>",
        )
    )
    fig.update_layout(
        title={"text": title},
        xaxis_title="importance (fANOVA, sums to 1)",
        yaxis_title="parameter",
        height=max(260, 80 + 40 * len(items)),
    )
    return fig


def best_value_history(runs: pd.DataFrame, metric: str = "score") -> go.Figure:
    """Each trial's ``metric`` in start order, and the best so far (percent; the lowest so far
    for a metric where lower is better, :func:`a3m.stats.higher_is_better`)."""
    title = f"Search: {metric_label(metric)} of each trial and the best so far"
    col = f"metrics.{metric}"
    if col not in runs or runs[col].notna().sum() == 0:
        return empty_figure(title, f"no trial with {metric_label(metric)} yet")
    order = runs.sort_values("start_time") if "start_time" in runs else runs
    done = order[order[col].notna()]
    trial = list(range(1, len(done) + 1))
    value = (done[col].astype(float) * PERCENT).tolist()
    best = np.maximum if higher_is_better(metric) else np.minimum
    fig = go.Figure(
        [
            go.Scatter(
                name="trial",
                x=trial,
                y=value,
                mode="markers",
                customdata=done["run_id"].str[:7].tolist() if "run_id" in done else None,
                hovertemplate="trial %{x} (%{customdata}): %{y:.2f}%<extra></extra>",
            ),
            go.Scatter(
                name="best so far",
                x=trial,
                y=best.accumulate(value).tolist(),
                mode="lines",
                line_shape="hv",
            ),
        ]
    )
    fig.update_layout(
        title={"text": title},
        xaxis_title="trial (in start order)",
        yaxis_title=f"{metric_label(metric)} (%)",
    )
    return add_note(fig, missing_note(runs, [metric]))
