"""The report in a real headless Chromium (Debian's ``chromium``; ``.ci/run`` installs it where
missing): no JavaScript error in the console, and every figure drawn (its SVG and its marks:
bars, points, table cells, images, the parallel-coordinates canvas) in the DOM after the
scripts ran (``--dump-dom``)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from dashboards import build

CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no headless Chromium here: apt-get install chromium (.ci/run does)"
)

# As root Chromium needs --no-sandbox; the closed network refuses its background connections,
# so those are switched off; WebGL (parallel coordinates) runs on SwiftShader without a GPU.
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--enable-unsafe-swiftshader",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run", "--enable-logging=stderr", "--v=0", "--virtual-time-budget=20000",
)  # fmt: skip
JS_ERROR = re.compile(r"Uncaught|\w*Error\b|Failed to|Refused to")


def browse(page: Path, profile: Path) -> tuple[str, list[str]]:
    """The DOM after the page's scripts ran, and the console messages Chromium logged."""
    proc = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout, [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]


def figure_blocks(dom: str) -> dict[str, str]:
    """Each figure's part of the DOM, by section key (div ids are ``fig-<key>``)."""
    starts = [(m.start(), m.group(1)) for m in re.finditer(r'<div id="fig-(\w+)"', dom)]
    ends = [s for s, _ in starts[1:]] + [len(dom)]
    return {key: dom[s:e] for (s, key), e in zip(starts, ends, strict=True)}


# What each figure must have drawn: (DOM pattern, how many). Bars and points: one per value.
MARKS = {
    "table2": (r'class="cell-text"', None),  # columns x (header + the CSV's methods)
    "fig5_ablation": (r'class="point"', 4 * 3),  # 4 variants x 3 metrics (Baseline-1 failed)
    "fig7_alpha_beta": (r'class="point plotly-customdata"', 3 + 3),
    "fig8_attributes": (r'class="point"', 2 * 5),  # Baseline-2 and A3M x 5 attributes
    "fig6_attention": (r"<image ", 4),
    "search_parallel": (r'class="gl-canvas', 3),
    "search_importance": (r'class="point"', 3),
    "search_history": (r'class="point plotly-customdata"', 6),
}


@pytest.mark.parametrize(
    "which, figures",
    [
        ("mixed", ["table2", "fig5_ablation", "fig7_alpha_beta", "fig8_attributes",
                   "fig6_attention"]),
        ("search", ["table2", "search_parallel", "search_importance", "search_history"]),
    ],
)  # fmt: skip
def test_report_renders_every_figure_without_js_errors(tiny_store, tmp_path, which, figures):
    experiment = getattr(tiny_store, which)
    written = build.build(experiment, tiny_store.tracking_uri, tmp_path / "out", png=False)
    dom, console = browse(written.html, tmp_path / "profile")
    errors = [line for line in console if JS_ERROR.search(line)]
    assert not errors, "\n".join(errors)
    blocks = figure_blocks(dom)
    assert list(blocks) == figures
    for key, block in blocks.items():
        assert 'class="plot-container plotly"' in block and 'class="main-svg"' in block, key
        pattern, count = MARKS[key]
        if count is None:  # the rows of Table 2 our variants have
            table = pd.read_csv(written.html.with_name("table2.csv"))
            # method, ours (no paper, no Δ: the tiny store is synthetic)
            assert "diff" not in table and "paper" not in table
            count = 2 * (1 + table["method"].nunique())
        assert len(re.findall(pattern, block)) == count, key
    if which == "search":
        assert 'class="parcoords"' in blocks["search_parallel"]
    # the leaderboard (HTML, no script) is there too, after the claims and paired comparisons
    assert '<section id="leaderboard">' in dom and "leaderboard.csv" in dom
    assert dom.index('<section id="claims">') < dom.index('<section id="paired_comparisons">')
    assert dom.index('<section id="paired_comparisons">') < dom.index('<section id="leaderboard">')


def test_the_check_sees_a_javascript_error(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text("<html><body><script>undefinedFunction();</script></body></html>")
    _, console = browse(page, tmp_path / "profile")
    assert any(JS_ERROR.search(line) for line in console), console
