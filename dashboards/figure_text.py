"""The text every figure writes, shared by the figure modules: a note under the plot, long
lines wrapped, a caption's clause as a subtitle, and the figure that says why it is empty.

Plotly never wraps text: a title, note or label longer than the figure runs past its edge and
is cut off, so every long text goes through :func:`wrap_text` first.
"""

from __future__ import annotations

import textwrap

import plotly.graph_objects as go

PERCENT = 100.0  # our metrics are fractions, the paper's figures are in percent
NOTE_WIDTH = 120  # characters per line of a note: about 720 px at 11 px, inside a 1000 px PNG


def add_note(fig: go.Figure, *lines: str | None, below: int = 60) -> go.Figure:
    """Write what is missing under the plot (an annotation in paper coordinates), ``below``
    pixels under the plot area: past the x axis' tick labels and title. Long lines are wrapped
    (Plotly never wraps text: a long line runs past the figure's right edge, cut off)."""
    text = "<br>".join(wrap_text(line) for line in lines if line)
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


def wrap_text(text: str, width: int = NOTE_WIDTH) -> str:
    """A long note as lines of at most ``width`` characters (Plotly does not wrap text); the
    line breaks it has (``<br>``) are kept."""
    return "<br>".join(
        "<br>".join(textwrap.wrap(line, width, break_on_hyphens=False)) or line
        for line in text.split("<br>")
    )


def capitalized(text: str) -> str:
    """A caption's clause as a figure's subtitle: its first letter in capitals."""
    return text[:1].upper() + text[1:]


def empty_figure(title: str, message: str) -> go.Figure:
    """A figure that says why it has nothing to draw (never a blank plot)."""
    fig = go.Figure(layout={"title": {"text": title}, "height": 260})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.add_annotation(
        text=wrap_text(message, width=100),  # 14 px text: about 100 characters to a 1000 px line
        xref="paper", yref="paper", x=0.5, y=0.5, showarrow=False, font={"size": 14},
    )  # fmt: skip
    return fig
