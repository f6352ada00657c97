"""What the attention modules learned, from a study's runs: Fig. 6's attention maps of a few
query images (Han et al. 2018, Sec. 4), and the training diagnostics per epoch that say why a
variant trails or leads (:mod:`a3m.diagnostics`).

    attention_maps          Fig. 6: attribute-guided masks of a few query images
    attention_diagnostics   attention weights, feature norms and gradient norms per epoch

Each returns a ``plotly.graph_objects.Figure``, or one that says why it has nothing to draw.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from dashboards.data import label, variants_in, varying_settings
from dashboards.figure_text import PERCENT, add_note, empty_figure

if TYPE_CHECKING:
    from PIL import Image

Panel = tuple[str, str, bool]
"""A diagnostics panel: the statistic (``diag/`` left off), its subplot title, in percent."""


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
        return empty_figure(title, "no attention maps were logged (Baseline-1 has none)")
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
    title = "Training diagnostics per epoch: attention, feature norms, gradient norms"
    needed = {"run_id", "metric", "epoch", "value"}
    if runs.empty or "run_id" not in runs or history.empty or not needed <= set(history):
        return empty_figure(title, "no run logged diagnostics (diag/ metrics)")
    series_of, order = _configurations(runs)
    data = _diagnostics_of(history, series_of)
    if data.empty:
        return empty_figure(title, "none of these runs logged diagnostics (diag/ metrics)")
    curves = data.groupby(["stat", "series", "epoch"])["value"].agg(["mean", "count"])
    present = set(curves.index.get_level_values("stat"))
    cells = _panel_grid(_panel_blocks(set(data["stat"])), present, columns)
    rows = len(cells) // columns
    fig = make_subplots(
        rows=rows,
        cols=columns,
        subplot_titles=[c[1] if c else "" for c in cells],
        vertical_spacing=min(0.08, 0.6 / rows),
        horizontal_spacing=0.07,
    )
    _draw_curves(fig, cells, curves, order, columns)
    fig.update_xaxes(title_text="epoch", row=rows)
    fig.update_layout(
        title={"text": title},
        legend_title_text="configuration (mean over seeds)",
        height=140 + 230 * rows,
    )
    return add_note(
        fig,
        "not logged: attention for Baseline-1 (none), weights a variant fixes to 1 "
        "(Baseline-2: m_region and s, Att-1: s, Att-2: m_region), and m^(k) where m_region "
        "is not their maximum (Baseline-2, Att-2, merge_mean_bn): they feed nothing",
    )


def _configurations(runs: pd.DataFrame) -> tuple[dict[str, str], list[str]]:
    """Each run's configuration (``run_id`` -> ``A3M (fused_bn=True)``): its variant, plus the
    settings that variant's own runs differ in; and the configurations in legend order (the
    variants' order, then each variant's configurations sorted)."""
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
    return series_of, order


def _diagnostics_of(history: pd.DataFrame, series_of: dict[str, str]) -> pd.DataFrame:
    """The ``diag/`` rows of ``history`` for the runs in ``series_of``, with their
    configuration (``series``) and statistic (``stat``, the metric without ``diag/``)."""
    from a3m.diagnostics import PREFIX  # imports torch: only when the figure is drawn

    data = history[history["metric"].astype(str).str.startswith(PREFIX)]
    return data.assign(
        series=data["run_id"].astype(str).map(series_of),
        stat=data["metric"].str.removeprefix(PREFIX),
    ).dropna(subset=["series", "value"])


def _panel_blocks(logged: Collection[str]) -> list[list[Panel]]:
    """Every panel the figure may draw, block by block: the attention weights, the feature
    norms, the gradient norms, and last the ``logged`` statistics none of those name (newer)."""
    from a3m.diagnostics import ATTENTION_WEIGHTS, FEATURES, GRAD_GROUPS, SATURATION_EPS

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
    blocks.append([(s, s, False) for s in sorted(set(logged) - known)])
    return blocks


def _panel_grid(
    blocks: list[list[Panel]], present: Collection[str], columns: int
) -> list[Panel | None]:
    """The panels with a curve, row by row, ``columns`` to a row: each block starts a row, so
    the empty cells (None) fill out the row of the block before."""
    cells: list[Panel | None] = []
    for block in blocks:
        drawn = [p for p in block if p[0] in present]
        if drawn:
            cells += drawn + [None] * (-len(drawn) % columns)
    return cells


def _draw_curves(
    fig: go.Figure,
    cells: list[Panel | None],
    curves: pd.DataFrame,
    order: list[str],
    columns: int,
) -> None:
    """One line per configuration in each panel of ``cells``, its colour the same in every
    panel and its legend entry on its first line only; gradient norms on a log scale."""
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
            line = _curve(curve, stat, series, percent, colors[series], series not in shown)
            fig.add_trace(line, row=row, col=col)
            shown.add(series)
        if stat.startswith("grad_norm/"):
            fig.update_yaxes(type="log", row=row, col=col)


def _curve(
    curve: pd.DataFrame, stat: str, series: str, percent: bool, color: str, legend: bool
) -> go.Scatter:
    """One configuration's line of one statistic: the mean over its seeds per epoch (``mean``
    and ``count`` by epoch in ``curve``), in percent if ``percent``."""
    return go.Scatter(
        name=series,
        legendgroup=series,
        showlegend=legend,
        x=curve.index.tolist(),
        y=(curve["mean"] * (PERCENT if percent else 1.0)).tolist(),
        customdata=curve["count"].tolist(),
        mode="lines+markers",
        marker={"size": 4},
        line={"color": color},
        hovertemplate=f"{stat}, epoch %{{x}}: %{{y:.4g}} (n=%{{customdata}})"
        f"<extra>{series}</extra>",
    )
