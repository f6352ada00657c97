"""The paper's comparison figures from a runs DataFrame, one function per figure (Han et al.
2018, Sec. 4): how the variants and the loss weights compare.

    ablation_bars             Fig. 5: the attention ablations, grouped bars per metric
    alpha_beta_curves         Fig. 7: accuracy against alpha and against beta
    attribute_accuracy_bars   Fig. 8: per-attribute accuracy, of what the study varied

Fig. 6 (the attention maps) and the training diagnostics are in
:mod:`dashboards.figures_attention`; an open (Optuna) search's plots in
:mod:`dashboards.figures_search`.

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

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from a3m.data.tasks import TASKS
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
)
from dashboards.figure_text import PERCENT, add_note, capitalized, empty_figure, wrap_text
from dashboards.intervals import error_bars, interval_bars, mean_ci, proportion_stats
from dashboards.selection import (  # noqa: F401 (Fig. 8's choice, re-exported)
    ATTRIBUTE_CONFIGS,
    AttributeComparison,
    _by_dataset,
    attribute_comparison,
    attribute_names,
)

PAPER_WEIGHT = 0.5  # alpha = beta = 0.5: the paper's setting (Sec. 4.2), the sweeps' fixed value


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
        return empty_figure(title, f"no run has {', '.join(metric_label(m) for m in wanted)}")
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
    return add_note(
        fig,
        wrap_text(rule),
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
        return empty_figure(title, f"no run has {metric_label(metric)}")
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
        title={"text": title, "subtitle": {"text": capitalized(interval_text(sweeps))}},
        showlegend=False,
        margin={"t": 110},  # the subtitle's line
    )
    in_sweeps = runs[
        np.isclose(numeric(runs, "alpha"), PAPER_WEIGHT)
        | np.isclose(numeric(runs, "beta"), PAPER_WEIGHT)
    ]
    return add_note(fig, *notes, missing_note(in_sweeps, [metric]))


ATTRIBUTE_ROW_PX = 330  # Fig. 8's plot height per dataset's row of bars, in pixels


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
        return empty_figure(title, comparison.what)
    rows = _attribute_rows(comparison)
    if not rows:  # e.g. the configuration chosen for each variant failed
        return empty_figure(title, "no compared configuration has per-attribute accuracies")
    # Plotly does not wrap tick labels: room under each row for the longest, turned 45 degrees
    drop = 20 + int(4.6 * max(len(n) for _, names in rows for n in names))
    plot, gap = ATTRIBUTE_ROW_PX, drop + 60
    fig = make_subplots(
        rows=len(rows),
        cols=1,
        subplot_titles=[d for d, _ in rows] if len(rows) > 1 else None,
        vertical_spacing=gap / (len(rows) * plot + (len(rows) - 1) * gap) if len(rows) > 1 else 0,
    )
    subtitle = wrap_text(capitalized(comparison.short), 110)
    # title, subtitle lines, and the first row's dataset above its plot
    top = 80 + 16 * (subtitle.count("<br>") + 1) + 24 * (len(rows) > 1)
    colors = qualitative.Plotly
    for i, (name, group) in enumerate(comparison.groups.items()):
        _add_attribute_bars(fig, rows, name, group, colors[i % len(colors)])
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
    below = drop + 50  # the note: under the tick labels and the axis title
    fig = add_note(fig, *comparison.notes, _attributes_missing(comparison), below=below)
    if fig.layout.margin.b is None:  # no note: room for the tick labels and the axis title
        fig.update_layout(margin={"b": drop + 60})
    fig.update_layout(height=fig.layout.height + fig.layout.margin.b)
    return fig


def _attribute_rows(comparison: AttributeComparison) -> list[tuple[str, list[str]]]:
    """Fig. 8's rows: each dataset of the compared runs, with its attributes that have a value
    in a compared configuration (a dataset with none gets no row)."""
    rows = []
    for dataset, part in _by_dataset(pd.concat(comparison.groups.values())):
        names = attribute_names(part)
        if names:
            rows.append((dataset, names))
    return rows


def _attribute_mean(group: pd.DataFrame) -> float:
    """A configuration's mean accuracy over attributes and seeds: the logged mean over
    attributes where there is one, else the mean of the per-attribute columns."""
    cols = [c for c in group if c.startswith(ATTRIBUTE_PREFIX) and c != f"{ATTRIBUTE_PREFIX}mean"]
    return group.get(f"{ATTRIBUTE_PREFIX}mean", group[cols].mean(axis=1)).mean()


def _add_attribute_bars(
    fig: go.Figure,
    rows: Sequence[tuple[str, list[str]]],
    name: str,
    group: pd.DataFrame,
    color: str,
) -> None:
    """One compared configuration's bars in each dataset's row of ``fig``: mean over seeds with
    the 95% CI, one legend entry (with its mean over attributes when there is a single row)."""
    legend = wrap_text(name, 40)  # on the right, beside the plot: narrow
    if len(rows) == 1:
        legend += f", mean {_attribute_mean(group) * PERCENT:.1f}%"
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
                marker_color=color,
                x=names,
                y=[s[0] for s in stats],
                error_y=interval_bars([s[1] for s in stats], [s[0] for s in stats]),
                customdata=[s[2] for s in stats],
                hovertemplate="%{x}: %{y:.2f}% (n=%{customdata})<extra>" + name + "</extra>",
            ),
            row=row,
            col=1,
        )


def _attributes_missing(comparison: AttributeComparison) -> str | None:
    """The note naming the compared runs that have no attribute accuracy at all (a run that
    lacks only some attributes is not missing: its other bars are drawn)."""
    scope = comparison.scope
    attributes = [c for c in scope if c.startswith(ATTRIBUTE_PREFIX)]
    with_any = scope.assign(**{"metrics.attribute accuracies": scope[attributes].max(axis=1)})
    return missing_note(with_any, ["attribute accuracies"])
