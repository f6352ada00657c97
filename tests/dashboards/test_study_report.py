"""A real tiny study through ``a3m.study.runner.main`` (synthetic CUB, local Ray): the
after-study hook writes the report beside the leaderboard."""

from __future__ import annotations

import pandas as pd
import pytest

from a3m.study import StudySpec
from a3m.study.runner import main
from dashboards.export import find_browser

pytestmark = pytest.mark.slow


def test_study_ends_with_its_report(
    ray_local, tmp_path, synthetic_cache, mlflow_uri, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)  # MLflow's default artifact folder (./mlruns) stays in here
    spec = StudySpec(
        "dash",
        "two variants",
        base={"dataset": "cub", "d": 16},
        grid={"variant": ["baseline2", "a3m"]},
    )
    args = [
        "--synthetic", "--data-root", str(synthetic_cache), "--epochs", "1",
        "--tracking-uri", mlflow_uri,
        "--storage-path", str(tmp_path / "tune"), "--out", str(tmp_path / "results"),
    ]  # fmt: skip
    result = main(spec, args)
    assert (result.num_trials, result.num_errors) == (2, 0)
    out = result.out_dir
    assert result.leaderboard_csv == out / "leaderboard.csv"
    printed = capsys.readouterr().out
    assert f"report: {out / 'report.html'}" in printed
    page = (out / "report.html").read_text()
    keys = ["claims", "paired_comparisons", "leaderboard", "table2", "fig5_ablation",
            "fig8_attributes", "fig6_attention"]  # fmt: skip
    at = [page.index(f'<section id="{key}">') for key in keys]
    assert at == sorted(at)  # the conclusions first
    # a synthetic copy is not the paper's data: its claims are not tested, nor its numbers
    # shown beside ours, and the page says why
    assert not (out / "claims.csv").exists()
    assert "trained on a synthetic copy of CUB-200-2011" in page
    table = pd.read_csv(out / "table2.csv")
    a3m = table[table["method"] == "A3M"].iloc[0]
    assert 0 <= a3m["ours"] <= 100 and "paper" not in table and "diff" not in table
    assert list((out / "attention").rglob("attention_*.png"))
    if find_browser() is not None:
        pngs = {p.stem for p in out.glob("*.png")}
        # the A3M trials logged their training diagnostics: the report draws them too
        assert pngs == {
            "table2",
            "fig5_ablation",
            "fig8_attributes",
            "fig6_attention",
            "diagnostics",
        }
