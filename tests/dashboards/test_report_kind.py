"""Reports that say exactly what they are (issue 25): the data's kind in the first lines, the
paper's numbers and claims only on its release, DRY RUN on a dry run's title, header, sections
and figures; the study's leaderboard.csv never rewritten with less; Fig. 8's intervals inside
[0, 100]; no float artefacts in the CSVs; honest notes and links; family sizes that count."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from a3m.csvfile import rounded, write_csv
from a3m.data.kind import DRY_RUN_PREFIX
from a3m.study.leaderboard import export_leaderboard
from a3m.study.runner import StudyResult
from dashboards import build, figures, report
from dashboards.data import load_runs
from dashboards.intervals import proportion_interval
from dashboards.kinds import DRY_RUN_MARK, data_summary

CLAIM = "A3M beats Baseline-1 in accuracy on CUB-200-2011 (86.2 vs 82.3)"
ARTEFACT = re.compile(r"\d\.\d*(?:0{6,}[1-9]|9{6,})\d*")
"""A float's last binary bits printed: 5.000000000000001, 4.999999999999999."""


def _ablation(frames, kind: str | None, seeds: int = 8, **tags: str) -> pd.DataFrame:
    """A3M ahead of Baseline-1 by 4-6 points on every seed (CUB, real data), with per-attribute
    accuracies for A3M; each run tagged with ``kind`` (None: no tag, an older run)."""
    runs = frames.ablation(seeds, attributes=True)
    if kind is not None:
        runs["tags.a3m.data.kind"] = kind
    for tag, value in tags.items():
        runs[f"tags.{tag}"] = value
    return runs


def _page(frames, tmp_path, runs, **kw) -> tuple[str, report.Report]:
    written = report.write_report(runs, tmp_path, experiment="exp", png=False,
                                  reference={"variant": "baseline1"}, **kw)  # fmt: skip
    return written.html.read_text(), written


def _first_lines(page: str) -> str:
    body = page[page.index("<body>") :]  # after Plotly's script
    return body[: body.index('<p class="meta">')]


def test_a_report_on_your_own_data_says_so_first_and_holds_no_paper_against_it(frames, tmp_path):
    page, written = _page(frames, tmp_path, _ablation(frames, "own_data"))
    first = _first_lines(page)
    assert "Data: CUB-200-2011 (cub): your own data." in first
    why = "not the public release of CUB-200-2011 (cub)"
    assert why in first  # the banner: one sentence on why the paper is not shown
    assert CLAIM not in page and "claims.csv" not in {p.name for p in written.csvs}
    assert why in page[page.index('<section id="claims">') :]
    table = pd.read_csv(tmp_path / "table2.csv")
    assert {"paper", "diff", "best_paper"}.isdisjoint(table) and "86.2" not in page
    assert set(table["method"]) == {"Baseline-1", "A3M"}  # no row of a method we did not run
    assert "Δ" not in page and "paper (%)" not in page
    # the same runs on the paper's release: the claims and the Δ are there
    page, written = _page(frames, tmp_path / "paper", _ablation(frames, "paper_release"))
    assert "Data: CUB-200-2011 (cub): the paper&#x27;s public release." in _first_lines(page)
    assert CLAIM in page and "claims.csv" in {p.name for p in written.csvs}
    assert {"paper", "diff"} <= set(pd.read_csv(tmp_path / "paper" / "table2.csv"))


def test_older_runs_get_their_kind_from_what_they_recorded(frames):
    untagged = _ablation(frames, None)
    assert data_summary(untagged).kinds == {"cub": "unrecorded"}
    assert data_summary(untagged).paper  # compared as before, and the banner says so
    assert "do not record what their data is" in data_summary(untagged).banner()
    synthetic = untagged.assign(**{"params.synthetic": "True"})
    assert data_summary(synthetic).kinds == {"cub": "synthetic"}
    dry = untagged.assign(**{"tags.a3m.dataset_fingerprint": DRY_RUN_PREFIX + "abc"})
    assert data_summary(dry).dry_run and not data_summary(dry).paper
    mixed = pd.concat([_ablation(frames, "paper_release"), _ablation(frames, "own_data")])
    summary = data_summary(mixed)
    assert summary.kinds == {"cub": "own_data"} and not summary.paper  # the least comparable
    assert (
        "runs of several kinds: 16 the paper's public release, 16 your own data"
        in (summary.lines()[0])
    )


def test_a_dry_run_says_so_in_its_title_header_sections_and_every_figure(frames, tmp_path):
    # an older dry run: no tag, its fingerprint's prefix
    runs = _ablation(frames, None, **{"a3m.dataset_fingerprint": DRY_RUN_PREFIX + "abc"})
    runs = runs.assign(**{"params.synthetic": "True"})
    page, _ = _page(frames, tmp_path, runs)
    assert f"<title>{DRY_RUN_MARK}: A3M study report: exp</title>" in page
    assert f"<h1>{DRY_RUN_MARK}: A3M study report: exp</h1>" in page
    first = _first_lines(page)
    assert "Data: CUB-200-2011 (cub): dry run (made-up numbers)." in first
    assert "every metric in this report is made up" in first and "synthetic dataset" not in first
    assert CLAIM not in page and "86.2" not in page
    sections = report.plan_sections(runs, experiment="exp", reference={"variant": "baseline1"})
    assert [s.key for s in sections if s.figure is not None] == ["table2", "fig5_ablation"]
    for section in sections:
        assert section.caption.startswith(DRY_RUN_MARK), section.key
        if section.figure is not None:
            assert section.figure.layout.title.text.startswith(DRY_RUN_MARK), section.key
            assert f"{DRY_RUN_MARK}: " in page[page.index(f'id="fig-{section.key}"') :]


def test_the_studys_leaderboard_keeps_its_verdicts_after_the_report(tiny_store, tmp_path):
    """The study writes leaderboard.csv with its verdicts (export_leaderboard, as the runner
    does), then its report: a report that has no verdicts to add (no reference here) adds its
    files beside it and leaves the study's as it was."""
    out = tmp_path / "results"
    board, _ = export_leaderboard(tiny_store.mixed, tiny_store.tracking_uri,
                                  out / "leaderboard.csv")  # fmt: skip
    verdicts = {"verdict", "diff_mean", "diff_ci_low", "diff_ci_high", "p_holm"}
    assert verdicts <= set(board)
    written = (out / "leaderboard.csv").read_text()
    runs = load_runs(tiny_store.mixed, tiny_store.tracking_uri)
    result = report.write_report(runs, out, experiment=tiny_store.mixed, png=False)
    assert (out / "leaderboard.csv").read_text() == written  # not rewritten
    assert out / "leaderboard.csv" in result.csvs
    assert any("leaderboard.csv kept as it was written" in m for m in result.messages)
    # the after-study hook, as a study ends: the verdict columns are still there
    build.after_study(StudyResult("mixed", tiny_store.mixed, tiny_store.tracking_uri, out, None,
                                  13, 1, ""))  # fmt: skip
    assert verdicts <= set(pd.read_csv(out / "leaderboard.csv"))
    # in a folder of its own the report writes one (and rewrites its own earlier copy)
    alone = report.write_report(runs, tmp_path / "alone", experiment="x", png=False)
    assert tmp_path / "alone" / "leaderboard.csv" in alone.csvs


@pytest.mark.parametrize(
    "values",
    [[0.97, 0.99, 1.0], [1.0, 1.0, 1.0], [0.0, 0.01], [0.5, 0.6, 0.7], [0.97, 0.40], [0.02] * 5],
)
def test_a_proportions_interval_stays_inside_0_and_1(values):
    low, high = proportion_interval(values)
    assert 0.0 <= low <= np.mean(values) + 1e-12 and np.mean(values) - 1e-12 <= high <= 1.0
    t_low = np.mean(values) - 4.303 * np.std(values, ddof=1) / np.sqrt(3)
    if values == [0.97, 0.99, 1.0]:  # where Student t's would run past 100% (and below 95%)
        assert high == 1.0 and low < t_low
    assert np.isnan(proportion_interval([0.5])).all()


def test_fig8_bars_stay_inside_0_and_100(frames):
    rows = []
    for seed, (bill, wing) in enumerate([(0.99, 0.02), (1.0, 0.0), (0.97, 0.05)]):
        for variant in ("baseline2", "a3m"):
            metrics = {"attr_acc/has_bill_shape": bill, "attr_acc/has_wing_color": wing,
                       "attr_acc/mean": (bill + wing) / 2}  # fmt: skip
            rows.append(frames.run(f"{variant}{seed}", variant, seed, metrics=metrics))
    fig = figures.attribute_accuracy_bars(frames.frame(*rows))
    for bars in fig.data:
        top = np.asarray(bars.y) + np.asarray(bars.error_y.array)
        bottom = np.asarray(bars.y) - np.asarray(bars.error_y.arrayminus)
        assert (top <= 100.0 + 1e-9).all() and (bottom >= -1e-9).all()
        assert (np.asarray(bars.error_y.arrayminus) > 0).all()  # a real interval, not a clip


def test_csvs_carry_no_float_artefacts(frames, tmp_path):
    assert rounded(100 * 0.05 + 1e-15) == 5.0 and rounded(4.999999999999999) == 5.0
    assert rounded("text") == "text" and np.isnan(rounded(float("nan")))
    frame = pd.DataFrame({"x": [0.1 + 0.2, 100 * 0.07], "mixed": ["a", 4.999999999999999]})
    text = write_csv(frame, tmp_path / "f.csv").read_text()
    assert text == "x,mixed\n0.3,a\n7.0,5.0\n"
    # a whole report: accuracies 0.7 and 0.75 make differences like 5.000000000000004
    runs = _ablation(frames, "paper_release")
    runs["metrics.accuracy"] = np.where(runs["params.variant"] == "a3m", 0.75, 0.7)
    runs["metrics.score"] = runs["metrics.accuracy"] + np.arange(len(runs)) * 0.01
    _, written = _page(frames, tmp_path / "report", runs)
    assert {"claims.csv", "paired_comparisons.csv", "table2.csv"} <= {
        p.name for p in written.csvs}  # fmt: skip
    for path in written.csvs:
        found = ARTEFACT.findall(path.read_text())
        assert not found, f"{path.name}: {found[:3]}"


def test_baseline1_has_no_attribute_branches_and_the_note_says_so(frames):
    fig = figures.ablation_bars(_ablation(frames, "paper_release", seeds=2))
    note = " ".join(a.text for a in fig.layout.annotations).replace("<br>", " ")
    assert "(Baseline-1, seed 0) no attribute branches in this variant" in note
    assert "never evaluated" not in note


def test_run_links_need_a_ui_and_a_local_store_says_how_to_open_one(frames, tmp_path):
    runs = _ablation(frames, "paper_release")
    page, _ = _page(frames, tmp_path, runs, tracking_uri="sqlite:////data/mlflow.db")
    body = page[page.index("</head>") :]  # Plotly's inline script has links of its own
    assert "127.0.0.1:5000/#" not in body and body.count('<a href="http') == 0
    assert "mlflow ui --backend-store-uri sqlite:////data/mlflow.db" in page
    assert "--mlflow-ui URL" in page
    page, _ = _page(frames, tmp_path, runs, tracking_uri="http://tracker:5000/")
    assert 'href="http://tracker:5000/#/experiments/1/runs/c0"' in page  # a server is its UI
    page, _ = _page(frames, tmp_path, runs, tracking_uri="sqlite:///x.db", ui_url="http://ui:80")
    assert 'href="http://ui:80/#/experiments/1/runs/c0"' in page
    assert "Run ids link to the MLflow UI at http://ui:80." in page


def test_family_sizes_count_what_the_tables_show(frames):
    runs = _ablation(frames, "paper_release")
    how, claims, _ = report.plan_sections(runs, experiment="x", reference={"variant": "baseline1"})[
        :3
    ]
    assert "(against variant=baseline1, on score: 1 comparison)" in how.html
    assert "in the study&#x27;s family (1 comparison here)" in claims.caption.replace("'", "&#x27;")
    assert "or the secondary one (none)" in claims.caption
    # a row without pairs (Baseline-2 on a seed Baseline-1 never ran) is shown and counted
    lone = frames.run("x0", "baseline2", 99, params={"synthetic": False},
                      metrics={"accuracy": 0.7, "score": 0.7})  # fmt: skip
    lone["tags.a3m.data.kind"] = "paper_release"
    runs = pd.concat([runs, frames.frame(lone)], ignore_index=True)
    how = report.plan_sections(runs, experiment="x", reference={"variant": "baseline1"})[0]
    assert "on score: 2 comparisons, 1 with pairs to test)" in how.html
    assert "outside the study&#x27;s (2 comparisons, 0 with pairs to test;" in how.html
