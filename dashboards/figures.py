"""The paper's figures from a runs DataFrame, one function per figure (Han et al. 2018, Sec. 4).

    ablation_bars             Fig. 5: the attention ablations, grouped bars per metric
    attention_maps            Fig. 6: attribute-guided masks of a few query images
    alpha_beta_curves         Fig. 7: accuracy against alpha and against beta
    attribute_accuracy_bars   Fig. 8: per-attribute accuracy, Baseline-2 against A3M
    parallel_coordinates, param_importance_bars, best_value_history: open (Optuna) searches

Each takes the runs frame of :func:`dashboards.data.load_runs` (or a hand-made one in the same
layout) and returns a ``plotly.graph_objects.Figure``. Values are shown in percent (the paper's
unit; our metrics are fractions); a point is the mean over the seeds of one configuration, with
its 95% confidence interval (Student t, :func:`a3m.study.leaderboard.ci95`) as an error bar
when two or more seeds ran. Runs that lack a metric (failed, never evaluated) are not drawn,
and a note under the plot names them and says why.
"""

from __future__ import annotations

import base64
import math
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from a3m.data.tasks import TASKS
from a3m.study.leaderboard import ci95
from dashboards.data import (
    ATTRIBUTE_PREFIX,
    config_runs_per_variant,
    has_metric,
    label,
    metric_label,
    missing_note,
    numeric,
    task_of,
    variants_in,
    varying_settings,
)

PERCENT = 100.0  # our metrics are fractions, the paper's figures are in percent
PAPER_WEIGHT = 0.5  # alpha = beta = 0.5: the paper's setting (Sec. 4.2), the sweeps' fixed value


def _stats(values: pd.Series) -> tuple[float, float, int]:
    """Mean and 95% CI half-width in percent, and the number of runs with a value."""
    v = values.dropna().astype(float)
    if v.empty:
        return math.nan, math.nan, 0
    return float(v.mean() * PERCENT), ci95(v) * PERCENT, len(v)


def _error_bars(cis: Sequence[float]) -> dict | None:
    """Plotly error bars, or None when no point has a CI (one seed each): no empty bars."""
    if not any(np.isfinite(cis)):
        return None
    return {"type": "data", "array": [c if np.isfinite(c) else None for c in cis]}


def _note(fig: go.Figure, *lines: str | None, below: int = 60) -> go.Figure:
    """Write what is missing under the plot (an annotation in paper coordinates), ``below``
    pixels under the plot area: past the x axis' tick labels and title."""
    text = "<br>".join(line for line in lines if line)
    if not text:
        return fig
    n = text.count("<br>") + 1
    fig.add_annotation(
        text=text,
        xref="paper",
        yref="paper",
        x=0,
        y=0,
        yshift=-below,
        xanchor="left",
        yanchor="top",
        align="left",
        showarrow=False,
        font={"size": 11, "color": "#a33"},
    )
    fig.update_layout(margin={"b": below + 30 + 16 * n})
    return fig


def _wrap(text: str, width: int = 130) -> str:
    """A long note as lines of at most ``width`` characters (Plotly does not wrap text)."""
    return "<br>".join(textwrap.wrap(text, width))


def _empty(title: str, message: str) -> go.Figure:
    """A figure that says why it has nothing to draw (never a blank plot)."""
    fig = go.Figure(layout={"title": {"text": title}, "height": 260})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.add_annotation(
        text=message, xref="paper", yref="paper", x=0.5, y=0.5, showarrow=False, font={"size": 14}
    )
    return fig


def task_metrics(runs: pd.DataFrame) -> list[str]:
    """The protocol metrics of the datasets in ``runs``, else score (docs/reproduction.md,
    "Evaluation protocols")."""
    datasets = runs["params.dataset"].dropna().unique() if "params.dataset" in runs else []
    out: list[str] = []
    for task in dict.fromkeys(task_of(d) for d in datasets):
        out += [m for m in TASKS[task].metrics if m not in out]
    return out or ["score"]


def ablation_bars(
    runs: pd.DataFrame,
    metrics: Sequence[str] | None = None,
    reference: Mapping[str, str] | None = None,
) -> go.Figure:
    """Fig. 5: one group of bars per metric, one bar per variant (Baseline-2, Att-1, Att-2, A3M
    and the others that ran), mean over seeds with 95% CIs.

    Args:
        runs: runs frame with ``params.variant``.
        metrics: metric names; default the task's protocol (rank-1/5/10/20 and mAP for
            Market-1501, accuracy and attribute accuracy for CUB/CompCars, Recall@K and NMI
            for retrieval). Metrics no run has are left out and named in the note.
        reference: the study's reference configuration; when the study varies more than the
            variant, each bar is one configuration
            (:func:`dashboards.data.config_runs_per_variant`) and the note says which rule.
    """
    title = "Fig. 5: attention modules, mean over seeds (95% CI)"
    wanted = list(metrics) if metrics is not None else task_metrics(runs)
    shown = [m for m in wanted if has_metric(runs, m)]
    if not shown or "params.variant" not in runs:
        return _empty(title, f"no run has {', '.join(metric_label(m) for m in wanted)}")
    chosen, configs, rule = config_runs_per_variant(runs, "variant", reference)
    fig = go.Figure()
    for variant in variants_in(chosen):
        group = chosen[chosen["params.variant"] == variant]
        stats = [
            _stats(group[f"metrics.{m}"]) if f"metrics.{m}" in group else (math.nan, math.nan, 0)
            for m in shown
        ]
        if all(s[2] == 0 for s in stats):  # only failed runs: the note names them, no empty bar
            continue
        name = label(variant) + (f" ({configs[variant]})" if configs.get(variant) else "")
        fig.add_trace(
            go.Bar(
                name=name,
                x=[metric_label(m) for m in shown],
                y=[s[0] for s in stats],
                error_y=_error_bars([s[1] for s in stats]),
                customdata=[s[2] for s in stats],
                hovertemplate="%{x}: %{y:.2f}% (n=%{customdata})<extra>" + name + "</extra>",
            )
        )
    fig.update_layout(
        title={"text": title},
        barmode="group",
        legend_title_text="variant",
        xaxis_title="metric",
        yaxis_title="% (mean over seeds)",
    )
    absent = [m for m in wanted if m not in shown]
    return _note(
        fig,
        _wrap(rule),
        f"no run has {', '.join(metric_label(m) for m in absent)}" if absent else None,
        missing_note(runs, shown),
    )


def _sweep(runs: pd.DataFrame, axis: str, other: str, metric: str) -> pd.DataFrame:
    """The runs with ``other`` at the paper's 0.5, grouped by ``axis``: value, mean, ci, n."""
    values, fixed = numeric(runs, axis), numeric(runs, other)
    at = runs[np.isclose(fixed, PAPER_WEIGHT) & values.notna()]
    rows = []
    for value, group in at.groupby(values[at.index], sort=True):
        mean, ci, n = _stats(group[f"metrics.{metric}"])
        rows.append({"value": float(value), "mean": mean, "ci": ci, "n": n})
    return pd.DataFrame(rows, columns=["value", "mean", "ci", "n"])


def sweep_variant(runs: pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
    """The runs of one variant, when several ran: a Fig. 7 point must not average A3M with its
    ablations. A3M when it ran, else the variant with the most (alpha, beta) pairs; None when
    the runs hold a single variant."""
    if "params.variant" not in runs or runs["params.variant"].nunique() <= 1:
        return runs, None
    variants = variants_in(runs)
    pairs = numeric(runs, "alpha").astype(str) + "/" + numeric(runs, "beta").astype(str)
    pick = (
        "a3m"
        if "a3m" in variants
        else max(variants, key=lambda v: pairs[runs["params.variant"] == v].nunique())
    )
    return runs[runs["params.variant"] == pick], pick


def alpha_beta_curves(runs: pd.DataFrame, metric: str | None = None) -> go.Figure:
    """Fig. 7: accuracy against alpha (beta = 0.5, left) and against beta (alpha = 0.5, right),
    the weights of loss (11), mean over seeds with 95% CIs.

    Args:
        runs: runs frame with ``params.alpha`` and ``params.beta``.
        metric: default ``accuracy`` (the paper's), else ``score``.
    """
    metric = metric or ("accuracy" if has_metric(runs, "accuracy") else "score")
    title = f"Fig. 7: {metric_label(metric)} against the loss weights alpha and beta"
    runs, variant = sweep_variant(runs)
    if variant is not None:
        title += f" ({label(variant)} runs)"
    if not has_metric(runs, metric):
        return _empty(title, f"no run has {metric_label(metric)}")
    fig = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        horizontal_spacing=0.06,
        subplot_titles=(f"alpha (beta = {PAPER_WEIGHT})", f"beta (alpha = {PAPER_WEIGHT})"),
    )
    notes = []
    for col, (axis, other) in enumerate((("alpha", "beta"), ("beta", "alpha")), start=1):
        sweep = _sweep(runs, axis, other, metric).dropna(subset=["mean"])
        if len(sweep) < 2:
            notes.append(f"no {axis} sweep at {other} = {PAPER_WEIGHT} (points: {len(sweep)})")
        fig.add_trace(
            go.Scatter(
                name=f"{axis} sweep",
                x=sweep["value"].tolist(),
                y=sweep["mean"].tolist(),
                error_y=_error_bars(sweep["ci"].tolist()),
                customdata=sweep["n"].tolist(),
                mode="lines+markers",
                hovertemplate=f"{axis}=%{{x}}: %{{y:.2f}}% (n=%{{customdata}})<extra></extra>",
            ),
            row=1,
            col=col,
        )
        fig.update_xaxes(title_text=axis, row=1, col=col)
    fig.update_yaxes(title_text=f"{metric_label(metric)} (%)", row=1, col=1)
    fig.update_layout(title={"text": title}, showlegend=False)
    in_sweeps = runs[
        np.isclose(numeric(runs, "alpha"), PAPER_WEIGHT)
        | np.isclose(numeric(runs, "beta"), PAPER_WEIGHT)
    ]
    return _note(fig, *notes, missing_note(in_sweeps, [metric]))


def attribute_names(runs: pd.DataFrame) -> list[str]:
    """The attributes with a per-attribute accuracy (``attr_acc/<name>``), sorted; no mean."""
    return sorted(
        c.removeprefix(ATTRIBUTE_PREFIX)
        for c in runs.columns
        if c.startswith(ATTRIBUTE_PREFIX)
        and c != f"{ATTRIBUTE_PREFIX}mean"
        and runs[c].notna().any()
    )


def attribute_accuracy_bars(
    runs: pd.DataFrame,
    variants: Sequence[str] = ("baseline2", "a3m"),
    reference: Mapping[str, str] | None = None,
) -> go.Figure:
    """Fig. 8: per-attribute accuracy, one bar per variant for every attribute (names on the
    x axis), mean over seeds with 95% CIs; the legend gives each variant's mean over attributes.

    Args:
        runs: runs frame with ``metrics.attr_acc/<name>`` columns.
        variants: the variants to compare (the paper: Baseline-2 and A3M); when none of them
            ran, every variant that has attribute accuracies is drawn.
        reference: the study's reference configuration, as for :func:`ablation_bars`.
    """
    title = "Fig. 8: attribute classification accuracy"
    names = attribute_names(runs)
    if not names or "params.variant" not in runs:
        return _empty(title, "no run has per-attribute accuracies (attr_acc/<name>)")
    cols = [f"{ATTRIBUTE_PREFIX}{n}" for n in names]
    with_attrs = runs[runs[cols].notna().any(axis=1)]
    present = variants_in(with_attrs)
    drawn = [v for v in variants if v in present] or present
    chosen, configs, rule = config_runs_per_variant(
        runs[runs["params.variant"].isin(drawn)], "variant", reference
    )
    fig = go.Figure()
    for variant in drawn:
        group = chosen[chosen["params.variant"] == variant]
        stats = [_stats(group[c]) for c in cols]
        mean = group.get(f"{ATTRIBUTE_PREFIX}mean", group[cols].mean(axis=1)).mean() * PERCENT
        name = label(variant) + (f" ({configs[variant]})" if configs.get(variant) else "")
        name += f", mean {mean:.1f}%"
        fig.add_trace(
            go.Bar(
                name=name,
                x=names,
                y=[s[0] for s in stats],
                error_y=_error_bars([s[1] for s in stats]),
                customdata=[s[2] for s in stats],
                hovertemplate="%{x}: %{y:.2f}% (n=%{customdata})<extra>"
                + label(variant)
                + "</extra>",
            )
        )
    fig.update_layout(
        title={"text": title},
        barmode="group",
        xaxis_title="attribute",
        yaxis_title="accuracy (%)",
        xaxis_tickangle=-45,
        legend_title_text="variant",
        height=600,
    )
    lacking = [label(v) for v in variants if v not in present]
    return _note(
        fig,
        _wrap(rule),
        f"no {', '.join(lacking)} runs with attribute accuracies" if lacking else None,
        # a run counts as missing when it has no attribute accuracy at all
        missing_note(
            runs.assign(**{"metrics.attribute accuracies": runs[cols].max(axis=1)})[
                runs["params.variant"].isin(drawn)
            ],
            ["attribute accuracies"],
        ),
        below=170,  # under CUB's long attribute names, turned 45 degrees
    )


def _data_uri(path: str | Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def attention_maps(images: pd.DataFrame, max_images: int = 4) -> go.Figure:
    """Fig. 6: one row per query image: the input, the attribute-guided masks m^(k) of the most
    selective attributes, and m_region (red high, blue low), as the trials drew them.

    Args:
        images: one row per PNG with ``file`` (a local copy), ``label`` and ``artifact``, as
            :func:`dashboards.data.download_attention_images` returns.
        max_images: rows drawn.
    """
    title = "Fig. 6: attribute-guided attention maps (input | masks m^(k) | m_region)"
    if images.empty:
        return _empty(title, "no attention maps were logged (Baseline-1 has none)")
    from PIL import Image

    rows = images.head(max_images).reset_index(drop=True)
    sizes = []  # (width, height) of each row
    for f in rows["file"]:
        with Image.open(f) as image:
            sizes.append(image.size)
    fig = make_subplots(
        rows=len(rows),
        cols=1,
        vertical_spacing=0.3 / len(rows),  # room for each row's title
        subplot_titles=[f"{r.label}: {Path(r.artifact).name}" for r in rows.itertuples()],
    )
    for i, row in rows.iterrows():
        fig.add_trace(
            go.Image(source=_data_uri(row["file"]), name=Path(row["artifact"]).name),
            row=i + 1,
            col=1,
        )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    width = 1000
    aspect = max(h / w for w, h in sizes)
    fig.update_layout(title={"text": title}, width=width, height=120 + len(rows) * aspect * width)
    return fig


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
        return _empty(title, f"no trial with {metric_label(metric)} and varying parameters")
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
    return _note(fig, missing_note(runs, [metric]))


def param_importance_bars(importances: Mapping[str, float], source: str) -> go.Figure:
    """Parameter importance (fANOVA, summing to 1) as horizontal bars, most important on top.

    Args:
        importances: ``{param: importance}`` from :func:`dashboards.data.param_importances`.
        source: where they come from (the Optuna study, or estimated from the MLflow runs), or
            why there are none; written in the title.
    """
    title = f"Search: parameter importance ({source})"
    if not importances:
        return _empty("Search: parameter importance", source)
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
    """Each trial's ``metric`` in start order, and the best so far (percent)."""
    title = f"Search: {metric_label(metric)} of each trial and the best so far"
    col = f"metrics.{metric}"
    if col not in runs or runs[col].notna().sum() == 0:
        return _empty(title, f"no trial with {metric_label(metric)} yet")
    order = runs.sort_values("start_time") if "start_time" in runs else runs
    done = order[order[col].notna()]
    trial = list(range(1, len(done) + 1))
    value = (done[col].astype(float) * PERCENT).tolist()
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
                y=np.maximum.accumulate(value).tolist(),
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
    return _note(fig, missing_note(runs, [metric]))


def attention_diagnostics(runs: pd.DataFrame, history: pd.DataFrame, columns: int = 3) -> go.Figure:
    """Why a variant trails or leads: the training diagnostics of :mod:`a3m.diagnostics` per
    epoch, one small panel per statistic and one line per configuration (mean over seeds).

    Three blocks of panels, each starting a row: the attention weights m^(k), m_region and s
    (mean, and the percent saturated near 0 and near 1: a saturated sigmoid has stopped
    learning); the feature norms (f_region and f_attr of eqs. (6) and (8) before any BN, after
    ``fused_bn``'s BN, and f_final); the gradient norm of each part of the model (log scale).
    A configuration is a variant and the settings its runs differ in (``A3M (fused_bn=True)``).

    Args:
        runs: runs frame (``run_id``, ``params.*``), e.g. :func:`dashboards.data.load_runs`.
        history: :func:`dashboards.data.diagnostics_history`'s long frame (``run_id``,
            ``metric``, ``epoch``, ``value``) of some of these runs.
        columns: panels per row.
    """
    from plotly.colors import qualitative

    from a3m.diagnostics import ATTENTION_WEIGHTS, FEATURES, GRAD_GROUPS, PREFIX, SATURATION_EPS

    title = "Training diagnostics per epoch: attention, feature norms, gradient norms"
    needed = {"run_id", "metric", "epoch", "value"}
    if runs.empty or "run_id" not in runs or history.empty or not needed <= set(history):
        return _empty(title, "no run logged diagnostics (diag/ metrics)")

    # One series per configuration: the variant, plus the settings its own runs differ in.
    variant = runs.get("params.variant", pd.Series("?", index=runs.index)).fillna("?")
    settings = varying_settings(runs, exclude=["variant"])
    series_of: dict[str, str] = {}
    order: list[str] = []
    for name in [*variants_in(runs), *sorted(set(variant) - set(variants_in(runs)))]:
        group = runs[variant == name]
        own = [s for s in settings if group[f"params.{s}"].nunique(dropna=False) > 1]
        for _, row in group.iterrows():
            bits = ", ".join(f"{s}={row[f'params.{s}']}" for s in own)
            series_of[str(row["run_id"])] = label(name) + (f" ({bits})" if bits else "")
        order += sorted({series_of[str(r)] for r in group["run_id"]} - set(order))
    data = history[history["metric"].astype(str).str.startswith(PREFIX)]
    data = data.assign(
        series=data["run_id"].astype(str).map(series_of),
        stat=data["metric"].str.removeprefix(PREFIX),
    ).dropna(subset=["series", "value"])
    if data.empty:
        return _empty(title, "none of these runs logged diagnostics (diag/ metrics)")
    curves = data.groupby(["stat", "series", "epoch"])["value"].agg(["mean", "count"])

    # The panels, block by block: (statistic, subplot title, in percent).
    symbol = {"m_k": "m^(k)", "m_region": "m_region", "s": "s"}
    low, high = f"{SATURATION_EPS * PERCENT:g}%", f"{(1 - SATURATION_EPS) * PERCENT:g}%"
    blocks = [
        [
            panel
            for w in ATTENTION_WEIGHTS
            for panel in (
                (f"{w}_mean", f"{symbol[w]}: mean", False),
                (f"{w}_sat_low", f"{symbol[w]}: % saturated < {low}", True),
                (f"{w}_sat_high", f"{symbol[w]}: % saturated > {high}", True),
            )
        ],
        [(f"norm/{f}", f"mean |{f}|" + (" (pre-BN)" * (f in ("f_region", "f_attr"))), False)
         for f in FEATURES],
        [(f"grad_norm/{g}", f"grad norm: {g}", False) for g in (*GRAD_GROUPS, "other", "total")],
    ]  # fmt: skip
    known = {p[0] for block in blocks for p in block}
    blocks.append([(s, s, False) for s in sorted(set(data["stat"]) - known)])  # newer statistics
    present = set(curves.index.get_level_values("stat"))
    blocks = [[p for p in block if p[0] in present] for block in blocks]
    cells: list[tuple[str, str, bool] | None] = []
    for block in blocks:
        if block:
            cells += block + [None] * (-len(block) % columns)  # the next block starts a row
    rows = len(cells) // columns
    fig = make_subplots(
        rows=rows,
        cols=columns,
        subplot_titles=[c[1] if c else "" for c in cells],
        vertical_spacing=min(0.08, 0.6 / rows),
        horizontal_spacing=0.07,
    )
    colors = {s: qualitative.Plotly[i % len(qualitative.Plotly)] for i, s in enumerate(order)}
    pairs = set(curves.index.droplevel("epoch"))  # (stat, series) with a curve
    shown: set[str] = set()
    for i, cell in enumerate(cells):
        if cell is None:
            continue
        stat, _, percent = cell
        row, col = i // columns + 1, i % columns + 1
        for series in order:
            if (stat, series) not in pairs:
                continue
            curve = curves.loc[(stat, series)]
            fig.add_trace(
                go.Scatter(
                    name=series,
                    legendgroup=series,
                    showlegend=series not in shown,
                    x=curve.index.tolist(),
                    y=(curve["mean"] * (PERCENT if percent else 1.0)).tolist(),
                    customdata=curve["count"].tolist(),
                    mode="lines+markers",
                    marker={"size": 4},
                    line={"color": colors[series]},
                    hovertemplate=f"{stat}, epoch %{{x}}: %{{y:.4g}} (n=%{{customdata}})"
                    f"<extra>{series}</extra>",
                ),
                row=row,
                col=col,
            )
            shown.add(series)
        if stat.startswith("grad_norm/"):
            fig.update_yaxes(type="log", row=row, col=col)
    fig.update_xaxes(title_text="epoch", row=rows)
    fig.update_layout(
        title={"text": title},
        legend_title_text="configuration (mean over seeds)",
        height=140 + 230 * rows,
    )
    return _note(
        fig,
        "not logged: attention for Baseline-1 (none), weights a variant fixes to 1 "
        "(Baseline-2: m_region and s, Att-1: s, Att-2: m_region), and m^(k) where m_region "
        "is not their maximum (Baseline-2, Att-2, merge_mean_bn): they feed nothing",
    )
