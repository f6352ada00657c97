"""The paper's figures from a runs DataFrame, one function per figure (Han et al. 2018, Sec. 4).

    ablation_bars             Fig. 5: the attention ablations, grouped bars per metric
    attention_maps            Fig. 6: attribute-guided masks of a few query images
    alpha_beta_curves         Fig. 7: accuracy against alpha and against beta
    attribute_accuracy_bars   Fig. 8: per-attribute accuracy, of what the study varied
    parallel_coordinates, param_importance_bars, best_value_history: open (Optuna) searches

Each takes the runs frame of :func:`dashboards.data.load_runs` (or a hand-made one in the same
layout) and returns a ``plotly.graph_objects.Figure``. Values are shown in percent (the paper's
unit; our metrics are fractions); a point is the mean over the seeds of one configuration, with
its 95% confidence interval as an error bar when two or more seeds ran: Figs. 5 and 8 a
proportion's, inside [0, 100] (:func:`dashboards.intervals.proportion_interval`), Fig. 7 the
mean's Student t interval as a shaded band. Runs that lack a metric (failed, never
evaluated) are not drawn, and a note under the plot names them and says why. Text is wrapped
or given room (titles, notes, tick labels, legends): Plotly cuts off what does not fit.
"""

from __future__ import annotations

import base64
import io
import math
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from a3m.data.tasks import TASKS
from a3m.stats import higher_is_better
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
from dashboards.intervals import error_bars, interval_bars, mean_ci, proportion_stats
from dashboards.selection import (  # noqa: F401 (Fig. 8's choice, re-exported)
    ATTRIBUTE_CONFIGS,
    AttributeComparison,
    _by_dataset,
    attribute_comparison,
    attribute_names,
)

if TYPE_CHECKING:
    from PIL import Image

PERCENT = 100.0  # our metrics are fractions, the paper's figures are in percent
PAPER_WEIGHT = 0.5  # alpha = beta = 0.5: the paper's setting (Sec. 4.2), the sweeps' fixed value
NOTE_WIDTH = 120  # characters per line of a note: about 720 px at 11 px, inside a 1000 px PNG


def _note(fig: go.Figure, *lines: str | None, below: int = 60) -> go.Figure:
    """Write what is missing under the plot (an annotation in paper coordinates), ``below``
    pixels under the plot area: past the x axis' tick labels and title. Long lines are wrapped
    (Plotly never wraps text: a long line runs past the figure's right edge, cut off)."""
    text = "<br>".join(_wrap(line) for line in lines if line)
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


def _wrap(text: str, width: int = NOTE_WIDTH) -> str:
    """A long note as lines of at most ``width`` characters (Plotly does not wrap text); the
    line breaks it has (``<br>``) are kept."""
    return "<br>".join(
        "<br>".join(textwrap.wrap(line, width, break_on_hyphens=False)) or line
        for line in text.split("<br>")
    )


def _capitalized(text: str) -> str:
    """A caption's clause as a figure's subtitle: its first letter in capitals."""
    return text[:1].upper() + text[1:]


def _empty(title: str, message: str) -> go.Figure:
    """A figure that says why it has nothing to draw (never a blank plot)."""
    fig = go.Figure(layout={"title": {"text": title}, "height": 260})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.add_annotation(
        text=_wrap(message, width=100),  # 14 px text: about 100 characters to a 1000 px line
        xref="paper", yref="paper", x=0.5, y=0.5, showarrow=False, font={"size": 14},
    )  # fmt: skip
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
        stats = [proportion_stats(group.get(f"metrics.{m}")) for m in shown]
        if all(s[2] == 0 for s in stats):  # only failed runs: the note names them, no empty bar
            continue
        name = label(variant) + (f" ({configs[variant]})" if configs.get(variant) else "")
        fig.add_trace(
            go.Bar(
                name=name,
                x=[metric_label(m) for m in shown],
                y=[s[0] for s in stats],
                error_y=interval_bars([s[1] for s in stats], [s[0] for s in stats]),
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
        mean, ci, n = mean_ci(group[f"metrics.{metric}"])
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


SWEEP_COLORS = {"alpha": ("#636efa", "rgba(99, 110, 250, 0.2)"),
                "beta": ("#ef553b", "rgba(239, 85, 59, 0.2)")}  # fmt: skip
"""Fig. 7's line and band colour of each sweep (Plotly's first two)."""


def _sweep_metric(runs: pd.DataFrame, metric: str | None) -> str:
    return metric or ("accuracy" if has_metric(runs, "accuracy") else "score")


def alpha_beta_sweeps(runs: pd.DataFrame, metric: str | None = None) -> dict[str, pd.DataFrame]:
    """Fig. 7's points: per axis (``alpha``, ``beta``) the sweep with the other weight at 0.5,
    one row per value with a value of ``metric``: value, mean and 95% CI half-width (percent),
    n (runs with a value). One variant (:func:`sweep_variant`); ``metric`` as
    :func:`alpha_beta_curves`."""
    metric = _sweep_metric(runs, metric)
    runs, _ = sweep_variant(runs)
    if not has_metric(runs, metric):
        return {
            axis: pd.DataFrame(columns=["value", "mean", "ci", "n"]) for axis in ("alpha", "beta")
        }
    return {
        axis: _sweep(runs, axis, other, metric).dropna(subset=["mean"])
        for axis, other in (("alpha", "beta"), ("beta", "alpha"))
    }


def interval_text(sweeps: Mapping[str, pd.DataFrame]) -> str:
    """What Fig. 7's intervals are, for its caption: ``"mean over 3 seeds per point, 95% CI
    (Student t over seeds) shaded"``, or ``"one seed: no interval"``."""
    counts = pd.concat([s["n"] for s in sweeps.values()]) if sweeps else pd.Series(dtype=int)
    counts = counts[counts > 0]
    if counts.empty or counts.max() < 2:
        return "one seed: no interval"
    low, high = int(counts.min()), int(counts.max())
    seeds = f"{low}" if low == high else f"{low}-{high}"
    drawn = [_bands(sweep, axis) for axis, sweep in sweeps.items()]
    shaded = any(bands for bands, _ in drawn)
    bars = any(
        not c and np.isfinite(ci)
        for (_, covered), sweep in zip(drawn, sweeps.values(), strict=True)
        for c, ci in zip(covered, sweep["ci"], strict=True)
    )
    how = "as error bars"  # a lone point with a CI makes no area
    if shaded:
        how = "shaded (error bars on lone points)" if bars else "shaded"
    text = f"mean over {seeds} seeds per point, 95% CI (Student t over seeds) {how}"
    if low < 2:
        text += "; a point with one seed has no interval"
    return text


def _bands(sweep: pd.DataFrame, axis: str) -> tuple[list[go.Scatter], list[bool]]:
    """The shaded 95% CI of a sweep: one filled polygon (mean + ci out, mean - ci back) per run
    of 2+ consecutive points that have a CI, and which points a band covers (the others keep
    an error bar where they have a CI: a lone point makes no area)."""
    has_ci = np.isfinite(sweep["ci"].to_numpy(dtype=float))
    covered = [False] * len(sweep)
    bands = []
    start = 0
    while start < len(sweep):
        stop = start
        while stop < len(sweep) and has_ci[stop]:
            stop += 1
        if stop - start >= 2:
            part = sweep.iloc[start:stop]
            x = part["value"].tolist()
            upper = (part["mean"] + part["ci"]).clip(upper=PERCENT).tolist()  # as error_bars
            lower = (part["mean"] - part["ci"]).clip(lower=0.0).tolist()
            bands.append(
                go.Scatter(
                    name=f"{axis} 95% CI",
                    x=x + x[::-1],
                    y=upper + lower[::-1],
                    fill="toself",
                    fillcolor=SWEEP_COLORS[axis][1],
                    line={"width": 0},
                    mode="lines",
                    hoverinfo="skip",
                    showlegend=False,
                )
            )
            covered[start:stop] = [True] * (stop - start)
        start = stop + 1
    return bands, covered


def alpha_beta_curves(runs: pd.DataFrame, metric: str | None = None) -> go.Figure:
    """Fig. 7: accuracy against alpha (beta = 0.5, left) and against beta (alpha = 0.5, right),
    the weights of loss (11): the mean over seeds as a line, and where two or more seeds ran
    its 95% CI (Student t over seeds) as a shaded band (an error bar on a lone point with one).

    Args:
        runs: runs frame with ``params.alpha`` and ``params.beta``.
        metric: default ``accuracy`` (the paper's), else ``score``.
    """
    metric = _sweep_metric(runs, metric)
    title = f"Fig. 7: {metric_label(metric)} against the loss weights alpha and beta"
    runs, variant = sweep_variant(runs)
    if variant is not None:
        title += f" ({label(variant)} runs)"
    if not has_metric(runs, metric):
        return _empty(title, f"no run has {metric_label(metric)}")
    sweeps = alpha_beta_sweeps(runs, metric)
    fig = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        horizontal_spacing=0.06,
        subplot_titles=(f"alpha (beta = {PAPER_WEIGHT})", f"beta (alpha = {PAPER_WEIGHT})"),
    )
    notes = []
    for col, (axis, other) in enumerate((("alpha", "beta"), ("beta", "alpha")), start=1):
        sweep = sweeps[axis]
        if len(sweep) < 2:
            notes.append(f"no {axis} sweep at {other} = {PAPER_WEIGHT} (points: {len(sweep)})")
        bands, covered = _bands(sweep, axis)
        for band in bands:  # first: under the line
            fig.add_trace(band, row=1, col=col)
        cis = [math.nan if c else ci for c, ci in zip(covered, sweep["ci"], strict=True)]
        fig.add_trace(
            go.Scatter(
                name=f"{axis} sweep",
                x=sweep["value"].tolist(),
                y=sweep["mean"].tolist(),
                error_y=error_bars(cis, sweep["mean"].tolist()),
                customdata=sweep["n"].tolist(),
                mode="lines+markers",
                line={"color": SWEEP_COLORS[axis][0]},
                hovertemplate=f"{axis}=%{{x}}: %{{y:.2f}}% (n=%{{customdata}})<extra></extra>",
            ),
            row=1,
            col=col,
        )
        fig.update_xaxes(title_text=axis, row=1, col=col)
    fig.update_yaxes(title_text=f"{metric_label(metric)} (%)", row=1, col=1)
    fig.update_layout(
        title={"text": title, "subtitle": {"text": _capitalized(interval_text(sweeps))}},
        showlegend=False,
        margin={"t": 110},  # the subtitle's line
    )
    in_sweeps = runs[
        np.isclose(numeric(runs, "alpha"), PAPER_WEIGHT)
        | np.isclose(numeric(runs, "beta"), PAPER_WEIGHT)
    ]
    return _note(fig, *notes, missing_note(in_sweeps, [metric]))


def attribute_accuracy_bars(
    runs: pd.DataFrame,
    variants: Sequence[str] = ("baseline2", "a3m"),
    reference: Mapping[str, str] | None = None,
    max_configs: int = ATTRIBUTE_CONFIGS,
) -> go.Figure:
    """Fig. 8: per-attribute accuracy, one bar per compared configuration for every attribute
    (names on the x axis, whole), mean over seeds with 95% CIs; the legend gives each one's mean
    over attributes. What is compared follows the study (:func:`attribute_comparison`): an
    ablation's Baseline-2 against A3M, another study's configurations. One row of bars per
    dataset when the study ran several.

    Args:
        runs: runs frame with ``metrics.attr_acc/<name>`` columns.
        variants, reference, max_configs: as :func:`attribute_comparison`.
    """
    title = "Fig. 8: attribute classification accuracy"
    comparison = attribute_comparison(runs, reference, variants, max_configs)
    if not comparison.groups:
        return _empty(title, comparison.what)
    rows = []  # (dataset, its attributes with a value in a compared configuration)
    for dataset, part in _by_dataset(pd.concat(comparison.groups.values())):
        names = attribute_names(part)
        if names:
            rows.append((dataset, names))
    if not rows:  # e.g. the configuration chosen for each variant failed
        return _empty(title, "no compared configuration has per-attribute accuracies")
    # Plotly does not wrap tick labels: room under each row for the longest, turned 45 degrees
    drop = 20 + int(4.6 * max(len(n) for _, names in rows for n in names))
    plot, gap = 330, drop + 60
    fig = make_subplots(
        rows=len(rows),
        cols=1,
        subplot_titles=[d for d, _ in rows] if len(rows) > 1 else None,
        vertical_spacing=gap / (len(rows) * plot + (len(rows) - 1) * gap) if len(rows) > 1 else 0,
    )
    colors = qualitative.Plotly
    subtitle = _wrap(_capitalized(comparison.short), 110)
    # title, subtitle lines, and the first row's dataset above its plot
    top = 80 + 16 * (subtitle.count("<br>") + 1) + 24 * (len(rows) > 1)
    for i, (name, group) in enumerate(comparison.groups.items()):
        legend = _wrap(name, 40)  # on the right, beside the plot: narrow
        if len(rows) == 1:
            cols = [
                c
                for c in group
                if c.startswith(ATTRIBUTE_PREFIX) and c != f"{ATTRIBUTE_PREFIX}mean"
            ]
            mean = group.get(f"{ATTRIBUTE_PREFIX}mean", group[cols].mean(axis=1)).mean()
            legend += f", mean {mean * PERCENT:.1f}%"
        for row, (dataset, names) in enumerate(rows, start=1):
            part = group[group["params.dataset"] == dataset] if dataset else group
            if part.empty:
                continue
            stats = [proportion_stats(part.get(f"{ATTRIBUTE_PREFIX}{n}")) for n in names]
            fig.add_trace(
                go.Bar(
                    name=legend,
                    legendgroup=name,
                    showlegend=row == 1 or not any(t.legendgroup == name for t in fig.data),
                    marker_color=colors[i % len(colors)],
                    x=names,
                    y=[s[0] for s in stats],
                    error_y=interval_bars([s[1] for s in stats], [s[0] for s in stats]),
                    customdata=[s[2] for s in stats],
                    hovertemplate="%{x}: %{y:.2f}% (n=%{customdata})<extra>" + name + "</extra>",
                ),
                row=row,
                col=1,
            )
    fig.update_xaxes(tickangle=-45, automargin=True)
    fig.update_xaxes(title_text="attribute", row=len(rows), col=1)
    fig.update_yaxes(title_text="accuracy (%)")
    fig.update_layout(
        title={"text": title, "subtitle": {"text": subtitle}},
        barmode="group",
        legend_title_text="compared",
        margin={"t": top},
        height=top + len(rows) * plot + (len(rows) - 1) * gap,  # + the note's margin, below
    )
    fig = _note(
        fig,
        *comparison.notes,
        # a run counts as missing when it has no attribute accuracy at all
        missing_note(
            comparison.scope.assign(
                **{
                    "metrics.attribute accuracies": comparison.scope[
                        [c for c in comparison.scope if c.startswith(ATTRIBUTE_PREFIX)]
                    ].max(axis=1)
                }
            ),
            ["attribute accuracies"],
        ),
        below=drop + 50,  # under the tick labels and the axis title
    )
    if fig.layout.margin.b is None:  # no note: room for the tick labels and the axis title
        fig.update_layout(margin={"b": drop + 60})
    fig.update_layout(height=fig.layout.height + fig.layout.margin.b)
    return fig


def attention_maps(
    images: pd.DataFrame, max_images: int = 4, names: Sequence[str] = ()
) -> go.Figure:
    """Fig. 6: one row per query image: the input, the attribute-guided masks m^(k) of the most
    selective attributes, and m_region (red high, blue low), as the trials drew them, each tile
    with its whole name above it (:func:`a3m.viz.attention_overlays` wraps long names).

    Args:
        images: one row per PNG with ``file`` (a local copy), ``label`` and ``artifact``, as
            :func:`dashboards.data.download_attention_images` returns.
        max_images: rows drawn.
        names: unused; kept for callers that pass the runs' attribute names.
    """
    title = "Fig. 6: attribute-guided attention maps (input | masks m^(k) | m_region)"
    if images.empty:
        return _empty(title, "no attention maps were logged (Baseline-1 has none)")
    from PIL import Image

    width, side, top, bottom = 1000, 20, 70, 20  # pixels
    plot_width = width - 2 * side
    title_px, gap_px = 24, 12
    rows = []
    for row in images.head(max_images).itertuples():
        with Image.open(row.file) as opened:
            rows.append((row, opened.convert("RGB")))
    # Each row from the top: its title, then its image; in pixels, then as domains.
    spans, y = [], 0.0
    for _, image in rows:
        y += title_px
        spans.append((y, y + image.height * plot_width / image.width))
        y = spans[-1][1] + gap_px
    plot_height = y - gap_px
    fig = go.Figure()
    for i, ((row, image), (y0, y1)) in enumerate(zip(rows, spans, strict=True), start=1):
        suffix = "" if i == 1 else str(i)
        domain = [1 - y1 / plot_height, 1 - y0 / plot_height]
        fig.add_trace(
            go.Image(
                source=_image_uri(image), name=Path(row.artifact).name, xaxis=f"x{suffix}",
                yaxis=f"y{suffix}",
            )
        )  # fmt: skip
        fig.update_layout(
            {
                f"xaxis{suffix}": {"domain": [0, 1], "anchor": f"y{suffix}", "visible": False},
                f"yaxis{suffix}": {"domain": domain, "anchor": f"x{suffix}", "visible": False},
            }
        )
        fig.add_annotation(
            text=f"{row.label}: {Path(row.artifact).name}", xref="paper", yref="paper", x=0.5,
            y=domain[1], xanchor="center", yanchor="bottom", showarrow=False, font={"size": 14},
        )  # fmt: skip
    fig.update_layout(
        title={"text": title},
        width=width,
        height=top + plot_height + bottom,
        margin={"l": side, "r": side, "t": top, "b": bottom},
    )
    return fig


def _image_uri(image: Image.Image) -> str:
    """A PIL image as a PNG data URI (what go.Image draws)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


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
    """Each trial's ``metric`` in start order, and the best so far (percent; the lowest so far
    for a metric where lower is better, :func:`a3m.stats.higher_is_better`)."""
    title = f"Search: {metric_label(metric)} of each trial and the best so far"
    col = f"metrics.{metric}"
    if col not in runs or runs[col].notna().sum() == 0:
        return _empty(title, f"no trial with {metric_label(metric)} yet")
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
