"""The paper's numbers as data, and our runs beside them: the paper's value, ours, the
difference (real data only), the best marked, in the Plotly table; one configuration per
variant, never chosen by its test score."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from a3m.study.leaderboard import ci95
from dashboards import tables


def test_paper_numbers_hold_the_headline_rows_of_the_reproduction_doc():
    paper = tables.load_paper_numbers()
    assert set(paper["table"]) == {1, 2, 3, 4, 5}

    def value(table, variant, metric):
        hit = paper[(paper["table"] == table) & (paper["variant"] == variant)
                    & (paper["metric"] == metric)]  # fmt: skip
        assert len(hit) == 1, (table, variant, metric)
        return hit["value_pct"].iloc[0]

    # docs/reproduction.md, "The paper's numbers", row by row
    assert [value(1, v, "rank1") for v in ("baseline1", "baseline2", "a3m_wo_attr", "a3m")] == [
        73.90, 80.07, 85.21, 86.54]  # fmt: skip
    assert [value(1, v, "mAP") for v in ("baseline1", "baseline2", "a3m_wo_attr", "a3m")] == [
        47.78, 59.13, 66.42, 68.97]  # fmt: skip
    assert [value(1, "a3m", m) for m in ("rank5", "rank10", "rank20")] == [95.16, 97.03, 98.30]
    assert [value(2, v, "accuracy") for v in ("baseline1", "baseline2", "a3m")] == [
        82.3,
        84.3,
        86.2,
    ]
    assert [value(3, v, "accuracy") for v in ("baseline1", "baseline2", "a3m")] == [
        91.8,
        94.1,
        95.4,
    ]
    recall = [f"recall_at_{k}" for k in (1, 2, 4, 8)] + ["nmi"]
    assert [value(4, "baseline1", m) for m in recall] == [59.1, 70.7, 81.5, 88.8, 65.6]
    assert [value(4, "a3m", m) for m in recall] == [61.2, 72.4, 81.8, 89.2, 66.4]
    assert [value(5, "baseline1", m) for m in recall] == [78.5, 86.8, 92.3, 95.4, 66.8]
    assert [value(5, "a3m", m) for m in recall] == [80.0, 87.5, 92.3, 95.5, 67.7]
    # the other methods are there too, and the paper's "-" is a missing row, not a zero
    assert "Attr-Id [22]" in set(paper["method"])
    can = paper[paper["method"] == "CAN [23]"]
    assert set(can["metric"]) == {"rank1", "mAP"}


@pytest.fixture
def cub(frames):
    """Runs on the real CUB (not synthetic): the tables compare them with the paper."""
    run = frames.run
    real = {"synthetic": False}
    return frames.frame(
        run("a0", "a3m", 0, params=real, metrics={"accuracy": 0.80}),
        run("a1", "a3m", 1, params=real, metrics={"accuracy": 0.84}),
        run("b0", "baseline2", 0, params=real, metrics={"accuracy": 0.85}),
        run("t0", "att1", 0, params=real, metrics={"accuracy": 0.70}),
        run("m0", "a3m", 0, dataset="market1501", params=real, metrics={"rank1": 0.9}),
    )


def test_comparison_table_puts_ours_beside_the_papers_rows(cub):
    table = tables.comparison_table(cub, 2)
    assert list(table.columns) == tables.COLUMNS
    a3m = table[table["method"] == "A3M"].iloc[0]
    assert a3m["paper"] == 86.2
    assert a3m["ours"] == pytest.approx(82.0)  # fractions -> percent, mean over seeds
    assert a3m["ours_ci95"] == pytest.approx(ci95(cub.loc[:1, "metrics.accuracy"]) * 100)
    assert a3m["n_runs"] == 2
    assert a3m["diff"] == pytest.approx(82.0 - 86.2)
    b2 = table[table["method"] == "Baseline-2"].iloc[0]
    assert (b2["paper"], b2["ours"], b2["diff"]) == (84.3, pytest.approx(85.0), pytest.approx(0.7))
    assert math.isnan(b2["ours_ci95"])  # one seed
    # a paper row we did not run, and our variant the paper's table lacks
    b1 = table[table["method"] == "Baseline-1"].iloc[0]
    assert b1["paper"] == 82.3 and math.isnan(b1["ours"]) and math.isnan(b1["diff"])
    att1 = table[table["method"] == "Att-1"].iloc[0]
    assert math.isnan(att1["paper"]) and att1["ours"] == pytest.approx(70.0)
    assert table["method"].tolist()[-1] == "Att-1" and "MG-CNN [38]" in set(table["method"])
    # best marked: the paper's A3M, our Baseline-2
    assert table.loc[table["best_paper"], "method"].tolist() == ["A3M"]
    assert table.loc[table["best_ours"], "method"].tolist() == ["Baseline-2"]


def test_comparison_figure_shows_paper_ours_and_difference(cub):
    fig = tables.comparison_figure(tables.comparison_table(cub, 2))
    (table,) = fig.data
    assert table.type == "table"
    header = [re.sub(r"</?b>", "", h).replace("<br>", " ") for h in table.header.values]
    assert header == ["method", "accuracy paper (%)", "accuracy ours (%)", "accuracy Δ (points)"]
    methods, paper, ours, diff = (list(c) for c in table.cells.values)
    i = methods.index("A3M")
    assert paper[i] == "<b>86.20</b>"  # the paper's best, in bold
    ci = ci95(cub.loc[:1, "metrics.accuracy"]) * 100
    assert ours[i] == f"82.00 ± {ci:.2f}"
    assert diff[i] == "-4.20"
    j = methods.index("Baseline-2")
    assert (paper[j], ours[j], diff[j]) == ("84.30", "<b>85.00</b>", "+0.70")
    k = methods.index("Baseline-1")
    assert (ours[k], diff[k]) == ("–", "–")
    assert fig.layout.title.text == tables.TABLE_TITLES[2]
    green = table.cells.fill.color
    assert green[1][i] != "white" and green[2][j] != "white" and green[3][i] == "white"


def test_market_table_has_every_protocol_column(frames):
    metrics = {"rank1": 0.8, "rank5": 0.9, "rank10": 0.95, "rank20": 0.97, "mAP": 0.6}
    runs = frames.frame(frames.run("m", "a3m", dataset="market1501", metrics=metrics))
    table = tables.comparison_table(runs, 1, with_paper=True)
    a3m = table[table["method"] == "A3M"].set_index("metric")
    assert list(a3m.index) == ["rank1", "rank5", "rank10", "rank20", "mAP"]
    np.testing.assert_allclose(
        a3m["diff"], [80 - 86.54, 90 - 95.16, 95 - 97.03, 97 - 98.30, 60 - 68.97]
    )
    assert tables.tables_for(runs) == [1]


def test_table_lookups():
    assert tables.TABLE_OF_DATASET == {
        "market1501": 1, "cub": 2, "compcars": 3, "cub_retrieval": 4, "cars196": 5}  # fmt: skip
    with pytest.raises(ValueError, match="no table 9"):
        tables.comparison_table(tables.load_paper_numbers().iloc[0:0], 9)


def test_synthetic_runs_get_no_paper_numbers(cub):
    """The paper's numbers are about its public release: a synthetic copy's table is ours only,
    and its caption says why."""
    synthetic = cub.assign(**{"params.synthetic": "True"})
    table = tables.comparison_table(synthetic, 2)
    paper_columns = ("paper", "diff", "best_paper")
    assert list(table.columns) == [c for c in tables.COLUMNS if c not in paper_columns]
    assert set(table["method"]) == {"A3M", "Baseline-2", "Att-1"}  # rows we ran, no MG-CNN
    figure = tables.comparison_figure(table)
    header = [h for h in figure.data[0].header.values]
    assert not any("Δ" in h or "paper" in h for h in header) and len(header) == 2
    assert figure.layout.title.text.endswith("in its layout: our runs only")
    caption = tables.table_caption(synthetic, 2)
    assert caption.startswith("Our runs in the layout of the paper's Table 2")
    assert "trained on a synthetic copy of CUB-200-2011 (cub)" in caption and "Δ" not in caption
    real = tables.table_caption(cub, 2)
    assert "Δ = ours - paper in percentage points" in real and "synthetic" not in real


def test_table_never_picks_a_configuration_by_its_test_score(frames):
    """A3M at d=64 (3 runs: the study's base) and at d=128 (one run, better on the test
    split): the table reports d=64, or the reference's d, or the best validation score's."""
    run = frames.run
    runs = frames.frame(
        *[run(f"a{s}", "a3m", s, params={"d": 64}, metrics={"accuracy": 0.6, "val_score": 0.5})
          for s in range(3)],
        run("b", "a3m", 0, params={"d": 128}, metrics={"accuracy": 0.9, "val_score": 0.4}),
        run("c", "baseline2", 0, params={"d": 128}, metrics={"accuracy": 0.5}),
    )  # fmt: skip
    no_val = runs.drop(columns="metrics.val_score")

    def ours(frame, **kw):
        table = tables.comparison_table(frame, 2, **kw)
        return table.set_index("method").loc["A3M", "ours"]

    assert ours(no_val) == pytest.approx(60.0)  # the base: the d most runs share
    caption = tables.table_caption(no_val, 2)
    assert "at the study's base, the value most runs share (d=64)" in caption
    assert "never the one best on the test split" in caption
    assert ours(no_val, reference={"d": "128"}) == pytest.approx(90.0)
    assert "at the study's reference (d=128)" in tables.table_caption(no_val, 2, {"d": 128})
    assert ours(runs) == pytest.approx(60.0)  # validation prefers d=64 (0.5 > 0.4)
    flipped = runs.assign(**{"metrics.val_score": [0.1, 0.1, 0.1, 0.9, float("nan")]})
    assert ours(flipped) == pytest.approx(90.0)
    assert "best mean val_score (validation split) over d" in tables.table_caption(flipped, 2)
