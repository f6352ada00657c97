"""The training-diagnostics figure on hand-made frames, and its loader on a tiny MLflow store
written the way the trainable logs epochs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dashboards import figures_attention
from dashboards.data import DIAGNOSTICS_COLUMNS, diagnostics_history


@pytest.fixture
def runs(frames):
    """Baseline-1, and A3M with and without fused_bn over two seeds."""
    run = frames.run
    return frames.frame(
        run("b1", "baseline1", 0, params={"fused_bn": False}),
        run("a0", "a3m", 0, params={"fused_bn": False}),
        run("a1", "a3m", 1, params={"fused_bn": False}),
        run("f0", "a3m", 0, params={"fused_bn": True}),
    )


def history_frame() -> pd.DataFrame:
    rows = []
    for run_id, sat, grad in (("a0", 0.2, 1.0), ("a1", 0.4, 3.0), ("f0", 0.0, 10.0)):
        for epoch in (1, 2):
            rows += [
                (run_id, "diag/m_region_sat_high", epoch, sat * epoch),
                (run_id, "diag/m_region_mean", epoch, 0.5),
                (run_id, "diag/norm/f_region", epoch, 2.0),
                (run_id, "diag/grad_norm/attribute", epoch, grad),
            ]
    for epoch in (1, 2):  # Baseline-1: no attention
        rows += [
            ("b1", "diag/grad_norm/backbone", epoch, 5.0),
            ("b1", "diag/norm/f_final", epoch, 1.0),
        ]
    rows.append(("x9", "diag/m_region_mean", 1, 0.9))  # a run not in the runs frame: not drawn
    return pd.DataFrame(rows, columns=list(DIAGNOSTICS_COLUMNS))


def test_diagnostics_figure_draws_a_panel_per_statistic_and_a_line_per_configuration(runs):
    fig = figures_attention.attention_diagnostics(runs, history_frame())
    titles = [a.text for a in fig.layout.annotations]
    assert titles[:6] == [
        "m_region: mean", "m_region: % saturated > 99%",
        "mean |f_region| (pre-BN)", "mean |f_final|",
        "grad norm: backbone", "grad norm: attribute",
    ]  # fmt: skip
    # each block starts a row of three: panels 1-2, 4-5 and 7-8 hold data, 3, 6, 9 none
    drawn = {t.yaxis for t in fig.data}
    assert drawn == {"y", "y2", "y4", "y5", "y7", "y8"}
    assert "Training diagnostics" in fig.layout.title.text
    assert len(fig.data) > 0 and all(len(t.x) == 2 for t in fig.data)
    names = {t.name for t in fig.data}
    assert names == {"Baseline-1", "A3M (fused_bn=False)", "A3M (fused_bn=True)"}
    # one legend entry per configuration, shared by all its panels
    assert sorted(t.name for t in fig.data if t.showlegend) == sorted(names)
    sat = [t for t in fig.data if "m_region_sat_high" in t.hovertemplate]
    a3m = next(t for t in sat if t.name == "A3M (fused_bn=False)")
    np.testing.assert_allclose(a3m.y, [30.0, 60.0])  # mean of the two seeds, in percent
    assert list(a3m.customdata) == [2, 2]
    assert all(t.name != "Baseline-1" for t in sat)
    assert fig.layout.yaxis7.type == "log"  # gradient norms


def test_diagnostics_figure_says_why_it_is_empty(runs):
    empty = pd.DataFrame(columns=list(DIAGNOSTICS_COLUMNS))
    fig = figures_attention.attention_diagnostics(runs, empty)
    assert len(fig.data) == 0
    assert "no run logged diagnostics" in fig.layout.annotations[0].text
    other = history_frame()[lambda h: h["run_id"] == "x9"]
    fig = figures_attention.attention_diagnostics(runs, other)
    assert "none of these runs" in fig.layout.annotations[0].text


def test_diagnostics_history_reads_every_epoch(mlflow_uri, tmp_path):
    from mlflow import MlflowClient

    from a3m.study.tracking import RunTracker

    client = MlflowClient(mlflow_uri)
    exp = client.create_experiment("diag", artifact_location=str(tmp_path / "art"))
    parent = client.create_run(exp).info.run_id
    tracker = RunTracker.for_trial(mlflow_uri, exp, parent, "t00001")
    tracker.start()
    client.log_param(tracker.run_id, "seed", "0")  # a trial has params (runs without are skipped)
    for epoch in (1, 2, 3):  # as the trainable logs fit's epoch rows
        row = {"epoch": epoch, "train_loss": 1.0 / epoch, "diag/m_k_mean": 0.1 * epoch}
        tracker.log_epoch(epoch, row | {"diag/grad_norm/total": 2.0 * epoch})
    tracker.finish()

    by_run = diagnostics_history(None, mlflow_uri, [tracker.run_id])
    assert list(by_run.columns) == list(DIAGNOSTICS_COLUMNS)
    assert sorted(by_run["metric"].unique()) == ["diag/grad_norm/total", "diag/m_k_mean"]
    m_k = by_run[by_run["metric"] == "diag/m_k_mean"]
    assert m_k["epoch"].tolist() == [1, 2, 3]
    np.testing.assert_allclose(m_k["value"], [0.1, 0.2, 0.3])
    by_experiment = diagnostics_history("diag", mlflow_uri, metrics=["diag/m_k_mean"])
    pd.testing.assert_frame_equal(by_experiment, m_k.reset_index(drop=True))
    with pytest.raises(ValueError, match="experiment or the run ids"):
        diagnostics_history(None, mlflow_uri)


def test_the_report_has_a_diagnostics_section_when_runs_logged_them(runs):
    from dashboards import report
    from dashboards.build import DIAGNOSED_SEEDS, diagnosed_runs

    keys = [s.key for s in report.plan_sections(runs, experiment="x")]
    assert "diagnostics" not in keys
    sections = report.plan_sections(runs, experiment="x", diagnostics=history_frame())
    (section,) = [s for s in sections if s.key == "diagnostics"]
    assert section.figure is not None and section.figure.data
    # the report reads the histories of a sample of seeds per configuration, never all
    many = pd.concat([runs] * 3, ignore_index=True)
    many["params.seed"] = [str(i) for i in range(len(many))]
    many["run_id"] = [f"r{i}" for i in range(len(many))]
    chosen = diagnosed_runs(many)
    per_config = (
        many[many["run_id"].isin(chosen)].groupby(["params.variant", "params.fused_bn"]).size()
    )
    assert per_config.max() <= DIAGNOSED_SEEDS and len(per_config) == 3
