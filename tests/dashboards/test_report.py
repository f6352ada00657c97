"""Which sections a report gets, the files it writes (HTML with Plotly inline, CSVs, PNGs), the
command line and the after-study hook."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from a3m.study.leaderboard import leaderboard
from a3m.study.runner import AFTER_STUDY_GROUP, StudyResult
from dashboards import build, export, report
from dashboards.data import load_runs


def _keys(runs, **kw) -> list[str]:
    return [s.key for s in report.plan_sections(runs, experiment="x", **kw)]


def test_sections_follow_the_data(frames, tmp_path):
    run = frames.run
    attrs = {"attr_acc/has_bill_shape": 0.7, "attr_acc/mean": 0.7}
    ablation = frames.frame(
        run("a", "a3m", metrics={"score": 0.8, "accuracy": 0.8} | attrs),
        run("b", "baseline2", metrics={"score": 0.7, "accuracy": 0.7} | attrs),
    )
    assert _keys(ablation) == ["leaderboard", "table2", "fig5_ablation", "fig8_attributes"]

    sweep = frames.frame(*[
        run(f"p{i}", "a3m", params={"alpha": a, "beta": b}, metrics={"score": 0.5, "accuracy": 0.5})
        for i, (a, b) in enumerate([(0.1, 0.5), (0.5, 0.5), (0.9, 0.5), (0.5, 0.1)])
    ])  # fmt: skip
    assert _keys(sweep) == ["leaderboard", "table2", "fig7_alpha_beta"]

    market = frames.frame(
        run("m", "a3m", dataset="market1501", metrics={"score": 0.6, "mAP": 0.6}),
        run("f", "att1", dataset="market1501", status="FAILED", error="boom"),
    )
    keys = _keys(market)
    assert keys == ["leaderboard", "table1", "fig5_ablation", "problems"]

    from PIL import Image

    Image.new("RGB", (8, 2)).save(tmp_path / "a.png")
    images = pd.DataFrame(
        {"run_id": ["a"], "label": ["a"], "artifact": ["a.png"], "file": [str(tmp_path / "a.png")]}
    )
    assert "fig6_attention" in _keys(ablation, attention=images)


def test_open_search_gets_the_search_plots(frames):
    run = frames.run
    lrs = [0.0123456789, 0.0345678912, 0.0567891234, 0.0789123456]  # as TPE samples them
    sampled = frames.frame(*[
        run(f"s{i}", params={"lr": lr, "alpha": 0.1 * (i + 1)}, metrics={"score": s})
        for i, (lr, s) in enumerate(zip(lrs, [0.5, 0.7, 0.6, 0.65], strict=True))
    ])  # fmt: skip
    keys = _keys(sampled)
    assert keys[-3:] == ["search_parallel", "search_importance", "search_history"]
    assert "fig7_alpha_beta" not in keys  # beta does not vary: no sweep
    # a grid: repeated values, or a new but round value in every run (d = 16, 64, 256)
    for ds in ([16, 16, 64], [16, 64, 256]):
        grid = frames.frame(*[
            run(f"g{i}", params={"d": d}, metrics={"score": 0.5}) for i, d in enumerate(ds)
        ])  # fmt: skip
        assert "search_parallel" not in _keys(grid)
    # the importance figure says where its numbers come from
    sections = report.plan_sections(sampled, experiment="x", optuna_note="no Optuna storage at y")
    importance = next(s for s in sections if s.key == "search_importance")
    assert "estimated from the MLflow runs; no Optuna storage at y" in (
        importance.figure.layout.title.text
    )


def test_no_finished_runs_give_a_message_not_an_empty_page(frames, tmp_path):
    runs = frames.frame(frames.run("f", status="FAILED", error="RuntimeError: out of memory"))
    written = report.write_report(runs, tmp_path, experiment="exp", png=False)
    assert written.sections == ["no_runs"]
    page = written.html.read_text()
    assert "Experiment &#x27;exp&#x27; has no finished runs yet (1 FAILED)" in page
    assert "RuntimeError: out of memory" in page
    assert written.messages[0].startswith("Experiment 'exp' has no finished runs yet")
    empty = report.write_report(runs.iloc[0:0], tmp_path / "e", experiment="exp", png=False)
    assert "(no trial runs)" in empty.html.read_text()


def test_report_files_of_the_tiny_study(tiny_store, tmp_path):
    runs = load_runs(tiny_store.mixed, tiny_store.tracking_uri)
    written = report.write_report(runs, tmp_path, experiment=tiny_store.mixed, png=False)
    assert written.sections == [
        "leaderboard", "table2", "fig5_ablation", "fig7_alpha_beta", "fig8_attributes",
        "problems",
    ]  # fmt: skip
    assert sorted(p.name for p in written.csvs) == ["leaderboard.csv", "table2.csv"]
    board = pd.read_csv(tmp_path / "leaderboard.csv")
    expected = leaderboard(runs, sort_by="score_mean")
    assert board["run_ids"].tolist() == expected["run_ids"].tolist()
    assert set(pd.read_csv(tmp_path / "table2.csv")["method"]) >= {"A3M", "Baseline-2", "Att-1"}
    page = written.html.read_text()
    # self-contained: plotly.js inline, no external script or stylesheet
    assert "<script src=" not in page and 'rel="stylesheet"' not in page
    assert page.count('<div id="fig-') == 4  # table2 and Figs. 5, 7, 8
    for key in ("table2", "fig5_ablation", "fig7_alpha_beta", "fig8_attributes"):
        assert f'id="fig-{key}"' in page and f'href="#{key}"' in page
    assert "synthetic dataset" in page and "PNG export not requested." in page


def test_pngs_need_a_browser_and_say_so(tmp_path, monkeypatch):
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "no-such-browser"))
    assert export.find_browser() is None
    import plotly.graph_objects as go

    pngs, message = export.export_pngs({"f": go.Figure(go.Bar(x=[1], y=[1]))}, tmp_path)
    assert pngs == [] and "no Chromium-based browser found" in message
    assert "apt-get install chromium" in message and not (tmp_path / "f.png").exists()


@pytest.mark.skipif(export.find_browser() is None, reason="no Chromium-based browser here")
def test_cli_writes_report_pngs_and_csvs(tiny_store, tmp_path, capsys):
    from PIL import Image

    out = tmp_path / "out"
    args = ["--experiment", tiny_store.search, "--tracking-uri", tiny_store.tracking_uri]
    assert build.main([*args, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"report: {out / 'report.html'}" in printed and "PNGs written with" in printed
    expected = {"table2", "search_parallel", "search_importance", "search_history"}
    assert {p.stem for p in out.glob("*.png")} == expected
    for png in out.glob("*.png"):
        image = Image.open(png)
        assert image.format == "PNG" and image.width == export.PNG_WIDTH
        assert len(np.unique(np.asarray(image.convert("L")))) > 8, f"{png.name} looks blank"
    page = (out / "report.html").read_text()
    assert 'href="search_importance.png"' in page
    assert "from the Optuna study" in page  # optuna.db beside the SQLite store was found


def test_cli_exit_status(tiny_store, tmp_path, capsys):
    args = ["--tracking-uri", tiny_store.tracking_uri, "--no-png"]
    assert build.main(["--experiment", tiny_store.empty, "--out", str(tmp_path), *args]) == 1
    assert "has no finished runs yet (1 FAILED)" in capsys.readouterr().out
    assert build.main(["--experiment", "nope", "--out", str(tmp_path), *args]) == 2
    assert "no MLflow experiment 'nope'" in capsys.readouterr().err


def test_after_study_hook_writes_beside_the_leaderboard(tiny_store, tmp_path, monkeypatch):
    assert any(
        ep.name == "report" and ep.value == "dashboards.build:after_study"
        for ep in entry_points(group=AFTER_STUDY_GROUP)
    ), "pip install -e . registers the hook"
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "none"))  # HTML only: fast
    out = tmp_path / "results" / tiny_store.mixed
    result = StudyResult("mixed", tiny_store.mixed, tiny_store.tracking_uri, out, None, 13, 1, "")
    build.after_study(result)
    assert (out / "report.html").is_file() and (out / "leaderboard.csv").is_file()
    assert len(list((out / "attention").rglob("*.png"))) == 4  # Fig. 6's sources, kept
    assert "Fig. 6: attention maps" in (out / "report.html").read_text()
    assert not Path("results").joinpath(tiny_store.mixed).exists()
