"""Static PNGs of the report's figures: kaleido (>= 1) renders Plotly figures in a headless
Chromium-based browser, which it no longer bundles. We use the system's: ``$BROWSER_PATH``,
Debian's ``chromium`` (``apt-get install chromium``; ``.ci/run`` installs it), Chrome, or the
one ``kaleido_get_chrome`` downloaded. Without a browser (or without kaleido) the PNGs are
skipped with a message saying how to get one: the HTML report needs neither.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

import plotly.graph_objects as go

PNG_WIDTH = 1000  # pixels of a PNG whose figure sets no width
PNG_HEIGHT = 520
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def find_browser() -> str | None:
    """A Chromium-based browser for kaleido: ``$BROWSER_PATH``, else one on the PATH (Debian's
    ``chromium``, Chrome), else what kaleido's own lookup finds (e.g. ``kaleido_get_chrome``'s
    download); None when there is none."""
    env = os.environ.get("BROWSER_PATH")
    if env:
        return env if os.access(env, os.X_OK) else None
    for name in BROWSER_NAMES:
        path = shutil.which(name)
        if path:
            return path
    try:
        from choreographer.browsers.chromium import Chromium

        return Chromium.find_browser(skip_local=False)
    except Exception:  # kaleido missing or its lookup changed: no browser, no PNGs
        return None


def export_pngs(
    figs: Mapping[str, go.Figure], out_dir: str | Path, browser: str | None = None
) -> tuple[list[Path], str]:
    """Write ``<key>.png`` for each figure with kaleido in one browser session.

    Args:
        figs: file stem -> figure.
        out_dir: folder for the PNGs.
        browser: path of a Chromium-based browser; default :func:`find_browser`.

    Returns:
        The PNGs written, and a message saying what happened (or why nothing was written:
        no kaleido, no browser, a render error). Never raises: the HTML does not need them.
    """
    if not figs:
        return [], "no figures to export"
    try:
        import kaleido
    except ImportError:
        return [], "PNG export skipped: kaleido is not installed (pip install 'kaleido>=1')."
    browser = browser or find_browser()
    if browser is None:
        return [], (
            "PNG export skipped: no Chromium-based browser found (install one, e.g. Debian's "
            "`apt-get install chromium`, or run `kaleido_get_chrome`, or set BROWSER_PATH); "
            "the HTML report is complete without them."
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    specs = [
        {
            "fig": fig,
            "path": out / f"{key}.png",
            "opts": {
                "format": "png",
                "width": fig.layout.width or PNG_WIDTH,
                "height": fig.layout.height or PNG_HEIGHT,
            },
        }
        for key, fig in figs.items()
    ]
    try:
        # mathjax=False: kaleido would fetch MathJax from a CDN, which a closed cluster node
        # cannot reach; the figures use no LaTeX. plotly.js comes from the plotly package.
        errors = kaleido.write_fig_from_object_sync(
            specs, kopts={"path": browser, "mathjax": False, "timeout": 120}
        )
    except Exception as err:
        return [], f"PNG export failed with {browser}: {type(err).__name__}: {err}"
    written = [s["path"] for s in specs if s["path"].is_file()]
    message = f"{len(written)} PNGs written with {browser}."
    if errors:
        message += " Errors: " + "; ".join(f"{type(e).__name__}: {e}" for e in errors)
    return written, message
