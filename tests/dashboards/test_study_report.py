"""A real tiny study through ``a3m.study.runner.main`` (synthetic CUB, local Ray): the
after-study hook writes the report beside the leaderboard."""

from __future__ import annotations

import pandas as pd
import pytest

from a3m.study import StudySpec
from a3m.study.runner import main
from dashboards.export import find_browser

pytestmark = pytest.mark.slow


def test_study_ends_with_its_report(ray_local, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # MLflow's default artifact folder (./mlruns) stays in here
    spec = StudySpec(
        "dash",
        "two variants",
        base={"dataset": "cub", "d": 16},
        grid={"variant": ["baseline2", "a3m"]},
    )
    args = [
        "--synthetic", "--data-root", str(tmp_path / "synthetic"), "--epochs", "1",
        "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db",
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
    claims = pd.read_csv(out / "claims.csv").set_index(["claim", "dataset", "metric"])
    tested = claims.loc[("a3m_beats_baseline2", "cub", "accuracy")]
    assert tested["verdict"] == "inconclusive" and tested["n_pairs"] == 1  # one seed
    table = pd.read_csv(out / "table2.csv")
    a3m = table[table["method"] == "A3M"].iloc[0]
    assert a3m["paper"] == 86.2 and 0 <= a3m["ours"] <= 100
    assert "diff" not in table  # synthetic data: ours - paper would compare different data
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
