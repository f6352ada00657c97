"""Nothing cut off: the figures of a few study shapes, rendered to PNG with kaleido (the report's
export), leave a blank border on every side. Plotly never wraps text: a note or a label too long
for the figure runs past its edge and is cut there, which shows as ink in the border."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from dashboards import export, figures, figures_attention

pytestmark = pytest.mark.skipif(export.find_browser() is None, reason="no Chromium-based browser")

BORDER = 3  # pixels


def _diagnostics_history() -> pd.DataFrame:
    rows = [
        (run, f"diag/{stat}", epoch, 0.1 * epoch)
        for run in ("p2s0", "p2s1", "p0s0")
        for epoch in (1, 2)
        for stat in ("m_k_mean", "m_region_sat_high", "norm/f_final", "grad_norm/total")
    ]
    return pd.DataFrame(rows, columns=["run_id", "metric", "epoch", "value"])


def test_no_figure_runs_past_its_edges(frames, tmp_path):
    from a3m.viz import save_attention_maps

    long = ("has_bill_shape", "has_underparts_color_and_pattern", "has_wing_color", "has_size")
    runs = frames.alpha_beta(seeds=2, attributes=long)
    failed = frames.run(
        "f",
        "a3m",
        params={"alpha": 0.5, "beta": 0.5},
        status="FAILED",
        error="NonFiniteLossError: " + "loss is nan at epoch 1; " * 10,
    )
    runs = pd.concat([runs, frames.frame(failed)], ignore_index=True)
    ablation = frames.frame(
        *[
            frames.run(
                f"{v}{s}",
                v,
                s,
                metrics={"accuracy": 0.6 + s / 100, "score": 0.6}
                | {f"attr_acc/{a}": 0.7 for a in long},
            )
            for v in ("baseline2", "att1", "att2", "a3m_wo_attr", "a3m")
            for s in (0, 1)
        ],
        failed,
    )
    import torch

    masks = torch.rand(2, len(long), 4, 4, generator=torch.Generator().manual_seed(0))
    paths = save_attention_maps(
        torch.randn(2, 3, 64, 64), masks, masks.amax(1), tmp_path / "a", names=list(long)
    )
    images = pd.DataFrame(
        {
            "run_id": ["p2s0"] * 2,
            "label": ["p2s0 (A3M, seed 0)"] * 2,
            "artifact": [p.name for p in paths],
            "file": [str(p) for p in paths],
        }
    )
    figs = {
        "fig5": figures.ablation_bars(ablation),
        "fig6": figures_attention.attention_maps(images, names=list(long)),
        "fig7": figures.alpha_beta_curves(runs),
        "fig8": figures.attribute_accuracy_bars(runs, reference={"alpha": "0.5", "beta": "0.5"}),
        "fig8_ablation": figures.attribute_accuracy_bars(ablation),
        "diagnostics": figures_attention.attention_diagnostics(runs, _diagnostics_history()),
    }
    pngs, message = export.export_pngs(figs, tmp_path)
    assert len(pngs) == len(figs), message
    for png in pngs:
        pixels = np.asarray(Image.open(png).convert("L"))
        border = np.concatenate(
            [
                pixels[:BORDER].ravel(),
                pixels[-BORDER:].ravel(),
                pixels[:, :BORDER].ravel(),
                pixels[:, -BORDER:].ravel(),
            ]
        )
        assert border.min() == 255, f"{png.name}: something reaches the edge"
        assert len(np.unique(pixels)) > 8, f"{png.name} looks blank"
