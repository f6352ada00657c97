"""Which sections a report gets (how to read a verdict, the paper's claims and the paired
comparisons first), the files it writes (HTML with Plotly inline, CSVs, PNGs), the links to the
MLflow UI, the command line and the after-study hook; one p(Holm) per comparison wherever it
is shown, the study's inference, the metric's direction, no NaN printed."""

from __future__ import annotations

import re
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from a3m.sequential import Inference
from a3m.study.leaderboard import leaderboard
from a3m.study.runner import AFTER_STUDY_GROUP, StudyResult
from dashboards import build, export, report
from dashboards.data import load_runs

FIRST = ["how_to_read", "claims", "paired_comparisons"]  # the conclusions, before every number


def _keys(runs, **kw) -> list[str]:
    keys = [s.key for s in report.plan_sections(runs, experiment="x", **kw)]
    assert keys[:3] == FIRST
    return keys[3:]


def test_sections_follow_the_data(frames, tmp_path):
    run = frames.run
    attrs = {"attr_acc/has_bill_shape": 0.7, "attr_acc/mean": 0.7}
    ablation = frames.frame(
        run("a", "a3m", metrics={"score": 0.8, "accuracy": 0.8} | attrs),
        run("b", "baseline2", metrics={"score": 0.7, "accuracy": 0.7} | attrs),
    )
    assert _keys(ablation) == [
        "leaderboard", "table2", "fig5_ablation", "fig8_attributes", "not_shown"]  # fmt: skip

    sweep = frames.frame(*[
        run(f"p{i}", "a3m", params={"alpha": a, "beta": b}, metrics={"score": 0.5, "accuracy": 0.5})
        for i, (a, b) in enumerate([(0.1, 0.5), (0.5, 0.5), (0.9, 0.5), (0.5, 0.1)])
    ])  # fmt: skip
    assert _keys(sweep) == ["leaderboard", "table2", "fig7_alpha_beta", "not_shown"]

    market = frames.frame(
        run("m", "a3m", dataset="market1501", metrics={"score": 0.6, "mAP": 0.6}),
        run("f", "att1", dataset="market1501", status="FAILED", error="boom"),
    )
    keys = _keys(market)
    assert keys == ["leaderboard", "table1", "fig5_ablation", "problems", "not_shown"]

    from PIL import Image

    Image.new("RGB", (8, 2)).save(tmp_path / "a.png")
    images = pd.DataFrame(
        {"run_id": ["a"], "label": ["a"], "artifact": ["a.png"], "file": [str(tmp_path / "a.png")]}
    )
    assert "fig6_attention" in _keys(ablation, attention=images)


def _sections(runs, **kw) -> dict[str, report.Section]:
    return {s.key: s for s in report.plan_sections(runs, experiment="x", **kw)}


def _annotations(fig) -> str:
    return " ".join(a.text for a in fig.layout.annotations)


@pytest.mark.parametrize(
    "seeds, interval",
    [(1, "one seed: no interval"), (3, "mean over 3 seeds per point, 95% CI (Student t over "
                                       "seeds) shaded")],
)  # fmt: skip
def test_an_alpha_beta_study_gets_its_own_figures(frames, tmp_path, seeds, interval):
    runs = frames.alpha_beta(seeds)
    reference = {"alpha": "0.5", "beta": "0.5"}
    sections = _sections(runs, reference=reference)
    # 9 points, no val_score: Fig. 8 cannot pick 4 of them without the test split
    assert list(sections)[3:] == ["leaderboard", "table2", "fig7_alpha_beta", "not_shown"]
    assert sections["fig7_alpha_beta"].caption.endswith(f"; {interval}.")
    skipped = sections["not_shown"].html
    assert "Fig. 8 (per-attribute accuracy): 9 A3M configurations logged" in skipped
    assert "--set val_fraction=0.1" in skipped
    # with a validation score, the reference and the 3 best others by it
    alpha, beta = runs["params.alpha"].astype(float), runs["params.beta"].astype(float)
    runs["metrics.val_score"] = alpha - beta / 4
    sections = _sections(runs, reference=reference)
    assert list(sections)[3:] == [
        "leaderboard", "table2", "fig7_alpha_beta", "fig8_attributes", "not_shown"]  # fmt: skip
    fig8 = sections["fig8_attributes"]
    # Fig. 8 compares the points the study ran, never Baseline-2 it was not meant to have
    assert fig8.caption.startswith(
        "Accuracy of each attribute head on the test set: the study's reference (alpha=0.5, "
        "beta=0.5) against the 3 other configurations with the best mean val_score"
    )
    assert [t.legendgroup for t in fig8.figure.data] == [
        "reference (alpha=0.5, beta=0.5)", "alpha=1.0", "alpha=0.7", "beta=0.1"]  # fmt: skip
    assert "Baseline-2" not in fig8.caption + _annotations(fig8.figure)
    skipped = sections["not_shown"].html
    assert "<li>Fig. 5 (the attention modules): the study ran one variant (A3M)</li>" in skipped
    assert "Fig. 6 (attention maps): none were downloaded" in skipped
    page = report.write_report(runs, tmp_path, experiment="ab", reference=reference, png=False)
    text = page.html.read_text()
    assert "no Baseline-2 runs" not in text and 'href="#not_shown"' in text


def test_figures_without_their_runs_are_left_out_and_listed(frames):
    run = frames.run
    attrs = {"attr_acc/has_bill_shape": 0.7, "attr_acc/mean": 0.7}
    # Baseline-1 has no attribute heads: one configuration with attribute accuracies, no Fig. 8
    runs = frames.frame(
        run("a", "a3m", metrics={"score": 0.8, "accuracy": 0.8} | attrs),
        run("b", "baseline1", metrics={"score": 0.7, "accuracy": 0.7}),
        run("m", "a3m", dataset="market1501", metrics={"score": 0.6}),  # no rank-1, no mAP
    )
    history = pd.DataFrame({"run_id": ["elsewhere"], "metric": ["diag/m_k_mean"], "epoch": [1],
                            "value": [0.5]})  # fmt: skip
    sections = _sections(runs, diagnostics=history)
    assert list(sections)[3:] == ["leaderboard", "table2", "fig5_ablation", "not_shown"]
    skipped = sections["not_shown"].html
    assert "Table 1: Market-1501 re-identification (ResNet-50): no run on its dataset" in skipped
    assert "Fig. 8 (per-attribute accuracy): one configuration (A3M) logged per-attribute" in (
        skipped
    )
    # a figure with nothing to draw: its reason, not an empty box
    assert "Training diagnostics: why a variant trails or leads: none of these runs logged" in (
        skipped
    )
    assert "Fig. 7 (the loss weights): alpha and beta were not swept" in skipped


def test_open_search_gets_the_search_plots(frames):
    run = frames.run
    lrs = [0.0123456789, 0.0345678912, 0.0567891234, 0.0789123456]  # as TPE samples them
    sampled = frames.frame(*[
        run(f"s{i}", params={"lr": lr, "alpha": 0.1 * (i + 1)}, metrics={"score": s})
        for i, (lr, s) in enumerate(zip(lrs, [0.5, 0.7, 0.6, 0.65], strict=True))
    ])  # fmt: skip
    keys = _keys(sampled)
    assert keys[-4:] == ["search_parallel", "search_importance", "search_history", "not_shown"]
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
        *FIRST, "leaderboard", "table2", "fig5_ablation", "fig7_alpha_beta", "fig8_attributes",
        "problems", "not_shown",
    ]  # fmt: skip
    # no reference given here and no val_score to pick one by: no paired table, and why; a
    # synthetic copy: no claims tested (no claims.csv), and the table is ours only
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
    assert "no finished run has a val_score" in page and "--set val_fraction=0.1" in page
    assert "trained on a synthetic copy of CUB-200-2011 (cub)" in page
    assert page.index('<section id="claims">') < page.index('<section id="leaderboard">')


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


def _seeded(frames, n_seeds=8):
    """A3M ahead of Baseline-1 by 4-6 points on every seed (CUB, real data)."""
    return frames.ablation(n_seeds)


def test_the_claims_come_first_and_link_to_their_runs(frames):
    runs = _seeded(frames)
    sections = report.plan_sections(
        runs, experiment="x", reference={"variant": "baseline1"}, ui_url="http://mlflow:5000/"
    )
    how, claims, paired = sections[:3]
    assert how.title == "How to read the verdicts"
    assert "the study&#x27;s family: every configuration of the study against its counterpart" in (
        how.html
    )
    assert "secondary: the claims&#x27; comparisons outside the study&#x27;s (none;" in how.html
    assert "(against variant=baseline1, on score: 1 comparison)" in how.html
    assert "here 95%" in how.html and "2/2<sup>n</sup>" in how.html  # one comparison: alpha
    assert "this study set none, so no verdict here is 'equivalent'" in how.html
    assert claims.title == "What the paper claims, what these runs say"
    tested = claims.data[claims.data["verdict"] != "not run here"]
    assert tested["claim"].tolist() == ["a3m_beats_baseline1"]
    assert tested["verdict"].tolist() == ["supported"] and tested["family"].tolist() == ["study"]
    assert '<tr class="supported">' in claims.html and "<b>supported</b>" in claims.html
    assert "A3M beats Baseline-1 in accuracy on CUB-200-2011 (86.2 vs 82.3)" in claims.html
    assert 'href="http://mlflow:5000/#/experiments/1/runs/c0"' in claims.html
    assert 'href="http://mlflow:5000/#/experiments/1/runs/r7"' in claims.html
    assert "+3.90" in claims.html and "paper, Table 2" in claims.html  # the paper's effect
    assert "larger than claimed (interval above +3.9)" in claims.html
    assert "Not run here:" in claims.html and "no cub run with variant=baseline2" in claims.html
    assert "more claims are about other datasets" in claims.html
    assert "synthetic" not in claims.caption

    assert paired.title == "Paired comparisons against the reference"
    assert paired.caption.startswith("Reference: variant=baseline1 (declared by the study).")
    assert paired.data["verdict"].tolist() == ["better"]
    assert "+4.88 points, 95% CI [+4.0, +5.7]" in paired.html and "<b>better</b>" in paired.html
    assert 'href="http://mlflow:5000/#/experiments/1/runs/c3"' in paired.html
    assert "declared no reference" not in paired.html


def _three_variants(frames, seeds=8):
    rows = []
    for seed in range(seeds):
        level = 0.80 + 0.01 * (seed % 3)
        for variant, gain in (("baseline1", 0.0), ("baseline2", 0.02), ("a3m", 0.05)):
            acc = level + gain + 0.001 * seed * (variant != "baseline1")
            rows.append(frames.run(f"{variant}{seed}", variant, seed, params={"synthetic": False},
                                   metrics={"accuracy": acc, "score": acc}))  # fmt: skip
    return frames.frame(*rows)


def test_one_comparison_has_one_p_holm_and_verdict_in_the_claims_and_the_paired_table(frames):
    """A3M and Baseline-2 against the study's reference, Baseline-1: the claims on them print
    the paired table's numbers; A3M against Baseline-2 is in the secondary family, once."""
    runs = _three_variants(frames)
    sections = {s.key: s for s in report.plan_sections(
        runs, experiment="x", reference={"variant": "baseline1"})}  # fmt: skip
    paired = sections["paired_comparisons"].data.set_index("variant")
    claims = sections["claims"].data
    tested = claims[claims["verdict"] != "not run here"].set_index("claim")
    for claim, variant in (("a3m_beats_baseline1", "a3m"), ("baseline2_beats_baseline1",
                                                            "baseline2")):  # fmt: skip
        ours, theirs = tested.loc[claim], paired.loc[variant]
        assert ours["family"] == "study"
        assert ours["p_holm"] == theirs["p_holm"] and ours["paired_verdict"] == theirs["verdict"]
        assert ours["ci_low"] == 100 * theirs["ci_low"] and ours["ci_level"] == theirs["ci_level"]
        shown = f"p(Holm) {theirs['p_holm']:.3g}"
        assert shown in sections["claims"].html
        assert f"<td>{theirs['p_holm']:.3g}</td>" in sections["paired_comparisons"].html
    assert tested.loc["a3m_beats_baseline2", "family"] == "secondary"
    assert "outside the study&#x27;s (1 comparison;" in sections["how_to_read"].html


def test_a_lower_is_better_metric_flips_ahead_and_the_verdict_in_the_report(frames):
    """A3M's loss is lower on every seed: better, ahead on all of them."""
    runs = _seeded(frames).rename(columns={"metrics.accuracy": "metrics.test_loss"})
    runs["metrics.test_loss"] = 1 - runs["metrics.test_loss"]
    study = report.study_comparisons(runs, {"variant": "baseline1"}, metric="test_loss")
    section = report.paired_section(runs, study=study)
    row = section.data.iloc[0]
    assert row["mean_diff"] < 0 and row["verdict"] == "better" and row["p_ahead"] == 1.0
    assert "<b>better</b>" in section.html and "<td>100%</td>" in section.html
    how = report.how_to_read_section(study).html
    assert "(test_loss for the study's comparisons: better lower)" in how
    # the same runs read as a score: worse, ahead on none
    study = report.study_comparisons(runs.assign(**{"metrics.score": runs["metrics.test_loss"]}),
                                     {"variant": "baseline1"})  # fmt: skip
    assert study.table.iloc[0]["verdict"] == "worse" and study.table.iloc[0]["p_ahead"] == 0.0


def test_failures_and_mixed_code_are_said_and_no_nan_is_printed(frames):
    runs = _seeded(frames, n_seeds=9)
    runs["tags.a3m.code"] = ["v1" if i < 6 else "v2" for i in range(len(runs))]
    failed = runs["run_id"].eq("c8")
    runs.loc[failed, "status"] = "FAILED"
    runs.loc[failed, ["metrics.accuracy", "metrics.score"]] = np.nan
    lone = frames.run("x0", "baseline2", 99, params={"synthetic": False},
                      metrics={"accuracy": 0.7, "score": 0.7})  # fmt: skip
    runs = pd.concat([runs, frames.frame(lone)], ignore_index=True)
    sections = report.plan_sections(runs, experiment="x", reference={"variant": "baseline1"})
    paired = next(s for s in sections if s.key == "paired_comparisons")
    a3m = paired.data.set_index("variant").loc["a3m"]
    assert a3m["n_failed"] == 1 and "seed 8: candidate run c8 FAILED" in paired.html
    assert "worst case: " in paired.html and "<b>mixed</b>: v1;v2" in paired.html
    assert "no pairs" in paired.html  # Baseline-2 ran one seed, paired with nothing ...
    for section in sections[:3]:  # ... and no number that could not be made reads NaN
        assert not re.search(r"\bnan\b", section.html, flags=re.IGNORECASE), section.key


def test_paired_comparisons_need_two_seeds(frames):
    one = _seeded(frames, n_seeds=1)
    section = report.paired_section(one, {"variant": "baseline1"})
    assert section.data is None
    assert "paired verdicts need at least 2 seeds" in section.html
    assert "needs at least 6 to ever reach p &lt; 0.05" in section.html
    # an open search declares no reference: without a val_score, no pick by the test score
    section = report.paired_section(_seeded(frames, 3), None, open_search=True)
    assert section.data is None and "--set val_fraction=0.1" in section.html
    # with one, the best by it, with the caveat
    runs = _seeded(frames, 3)
    runs["metrics.val_score"] = np.where(runs["params.variant"] == "a3m", 0.6, 0.5)
    section = report.paired_section(runs, None, open_search=True)
    assert "This open search declared no reference" in section.html
    assert "variant=a3m" in section.html and "optimistic for it" in section.html
    assert section.data["verdict"].tolist() == ["inconclusive"]  # 3 seeds: p >= 0.25


def test_mlflow_ui_url_and_run_links(frames):
    assert report.mlflow_ui_url("http://mlflow:5000/") == "http://mlflow:5000"
    assert report.mlflow_ui_url("https://x.org/mlflow") == "https://x.org/mlflow"
    for local in ("sqlite:///mlflow.db", "file:///tmp/mlruns", "", None):
        assert report.mlflow_ui_url(local) == ""  # no UI runs there unless someone starts one
    assert report.run_url("http://u", "3", "abc") == "http://u/#/experiments/3/runs/abc"
    runs = frames.frame(frames.run("abcdefghij"))
    assert report.run_links("abcdefghij", runs, "http://u") == (
        '<a href="http://u/#/experiments/1/runs/abcdefghij" title="abcdefghij">abcdefg</a>'
    )
    # without an experiment id (a hand-made frame) the ids stay, unlinked
    assert "<a " not in report.run_links("abcdefghij", runs.drop(columns="experiment_id"), "u")


def test_build_reads_the_declared_reference_and_links_the_ui(tiny_store, tmp_path, capsys):
    args = ["--experiment", tiny_store.mixed, "--tracking-uri", tiny_store.tracking_uri,
            "--no-png", "--out", str(tmp_path), "--mlflow-ui", "http://ui:5000"]  # fmt: skip
    assert build.main(args) == 0
    page = (tmp_path / "report.html").read_text()
    assert "Reference: variant=baseline2 (declared by the study)." in page
    assert 'href="http://ui:5000/#/experiments/' in page
    paired = pd.read_csv(tmp_path / "paired_comparisons.csv")
    assert set(paired["reference"]) == {"variant=baseline2"}
    a3m = paired[(paired["variant"] == "a3m") & (paired["alpha"] == 0.5) & (paired["beta"] == 0.5)]
    assert a3m["n_pairs"].tolist() == [2] and a3m["mean_diff"].iloc[0] == pytest.approx(0.10)


def test_the_report_decides_at_the_studys_alpha(frames):
    runs = _seeded(frames)  # 8 seeds, all ahead: the smallest p, 2/2**8 ~ 0.008
    sections = report.plan_sections(
        runs, experiment="x", reference={"variant": "baseline1"}, inference=Inference(alpha=0.002)
    )
    how, claims, paired = sections[:3]
    tested = claims.data[claims.data["verdict"] != "not run here"]
    assert tested["verdict"].tolist() == ["inconclusive"]  # supported at 0.05 (test above)
    assert paired.data["verdict"].tolist() == ["inconclusive"]
    assert "Holm across these comparisons at alpha 0.002" in how.html
    assert "fewer than 10 seeds" in how.html
    assert "8 pairs cannot decide at level 0.002" in paired.html  # why, in words
    assert "unbounded" in claims.html  # the magnitude check cannot be made, and says so


def test_build_uses_the_inference_its_study_decided_at(tiny_store, tmp_path):
    from mlflow import MlflowClient

    client = MlflowClient(tiny_store.tracking_uri)
    exp = client.get_experiment_by_name(tiny_store.mixed).experiment_id
    # a later invocation keeps how it decides (alpha, looks, margin) on its parent run
    inference = Inference(alpha=0.025, min_effect=0.01)
    client.create_run(exp, tags={"a3m.study": "auto", "a3m.inference": inference.to_json()})
    args = ["--experiment", tiny_store.mixed, "--tracking-uri", tiny_store.tracking_uri,
            "--no-png", "--out", str(tmp_path)]  # fmt: skip
    assert build.main(args) == 0
    page = (tmp_path / "report.html").read_text()
    assert "Holm across these comparisons at alpha 0.025, equivalent within +-1 points" in page
    assert "this study's margin is +-1 points" in page
    assert "at alpha 0.05" not in page


def test_the_reports_leaderboard_csv_keeps_the_verdicts(frames, tmp_path):
    """The study writes leaderboard.csv with its verdicts; the report's copy of it must not
    drop them (issue 25: files have one owner)."""
    runs = frames.alpha_beta(3)
    reference = {"alpha": "0.5", "beta": "0.5"}
    report.write_report(runs, tmp_path, experiment="ab", reference=reference, png=False)
    board = pd.read_csv(tmp_path / "leaderboard.csv")
    assert {"verdict", "diff_mean", "diff_ci_low", "diff_ci_high", "fail_rate"} <= set(board)
    assert "reference" in set(board["verdict"])
