"""Each figure function on a hand-made runs frame: trace types, values (percent), error bars,
names, axis titles, and the note on what is missing."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from a3m.study.leaderboard import ci95
from dashboards import figure_text, figures, figures_attention, figures_search
from dashboards.intervals import proportion_interval


def _notes(fig: go.Figure) -> str:
    return " ".join(a.text for a in fig.layout.annotations)


@pytest.fixture
def market(frames):
    """Market-1501 ablation: Baseline-2 and A3M with two seeds, Att-1 with one, a FAILED Att-2."""
    run = frames.run
    rows = [
        run("b2s0", "baseline2", 0, dataset="market1501", metrics={"rank1": 0.80, "mAP": 0.59}),
        run("b2s1", "baseline2", 1, dataset="market1501", metrics={"rank1": 0.82, "mAP": 0.61}),
        run("a1s0", "att1", 0, dataset="market1501", metrics={"rank1": 0.84, "mAP": 0.64}),
        run("a3s0", "a3m", 0, dataset="market1501", metrics={"rank1": 0.86, "mAP": 0.68}),
        run("a3s1", "a3m", 1, dataset="market1501", metrics={"rank1": 0.88, "mAP": 0.70}),
        run("a2s0", "att2", 0, dataset="market1501", status="FAILED",
            error="NonFiniteLossError: loss is nan"),
    ]  # fmt: skip
    return frames.frame(*rows)


def test_ablation_bars_group_variants_per_metric_with_ci(market):
    fig = figures.ablation_bars(market, metrics=["rank1", "mAP"])
    assert [t.type for t in fig.data] == ["bar"] * 3
    # the paper's order and names; the failed Att-2 has no bar
    assert [t.name for t in fig.data] == ["Baseline-2", "Att-1", "A3M"]
    b2, att1, a3m = fig.data
    assert list(b2.x) == ["rank-1", "mAP"]
    np.testing.assert_allclose(b2.y, [81.0, 60.0])
    np.testing.assert_allclose(a3m.y, [87.0, 69.0])
    # two seeds: a proportion's 95% CI in percent, around the mean; one seed: no error bar
    low, high = proportion_interval(market.loc[:1, "metrics.rank1"])
    assert b2.error_y.array[0] == pytest.approx(100 * high - 81.0)
    assert b2.error_y.arrayminus[0] == pytest.approx(81.0 - 100 * low)
    assert att1.error_y.array is None
    assert list(a3m.customdata) == [2, 2]
    assert fig.layout.barmode == "group"
    assert fig.layout.yaxis.title.text == "% (mean over seeds)"
    assert fig.layout.xaxis.title.text == "metric"
    note = _notes(fig)
    assert "1 run without rank-1, mAP" in note and "a2s0 (Att-2, seed 0) FAILED" in note
    assert "NonFiniteLossError" in note


def test_ablation_bars_default_metrics_follow_the_task(market):
    fig = figures.ablation_bars(market)
    # Market's protocol is rank-1/5/10/20 and mAP; these runs only have rank-1 and mAP
    assert list(fig.data[0].x) == ["rank-1", "mAP"]
    assert "no run has rank-5, rank-10, rank-20" in _notes(fig)


def test_ablation_bars_show_one_configuration_per_variant_never_the_best_on_test(frames):
    run = frames.run
    runs = frames.frame(
        run("a", "a3m", params={"d": 64}, metrics={"accuracy": 0.6, "score": 0.6}),
        run("b", "a3m", params={"d": 128}, metrics={"accuracy": 0.7, "score": 0.7}),
        run("c", "baseline2", params={"d": 64}, metrics={"accuracy": 0.5, "score": 0.5}),
    )
    fig = figures.ablation_bars(runs, metrics=["accuracy"])
    names = {t.name: t.y[0] for t in fig.data}
    # d=64 is the study's base (2 runs of 3), though d=128 scores higher on the test split
    assert names == {"Baseline-2": pytest.approx(50.0), "A3M (d=64)": pytest.approx(60.0)}
    note = _notes(fig).replace("<br>", " ")
    assert "at the study's base, the value most runs share (d=64)" in note
    fig = figures.ablation_bars(runs, metrics=["accuracy"], reference={"d": "128"})
    assert {t.name: t.y[0] for t in fig.data}["A3M (d=128)"] == pytest.approx(70.0)
    assert "at the study's reference (d=128)" in _notes(fig).replace("<br>", " ")


def test_ablation_bars_without_any_value_say_so(frames):
    runs = frames.frame(frames.run("x", "a3m", status="FAILED"))
    fig = figures.ablation_bars(runs, metrics=["accuracy"])
    assert not fig.data and "no run has accuracy" in _notes(fig)


@pytest.fixture
def sweeps(frames):
    """Fig. 7 points: alpha in {0.1, 0.5, 0.9} at beta 0.5 and beta in {0.1, 0.9} at alpha 0.5,
    two seeds at (0.5, 0.5), one run that never evaluated, and a Baseline-2 run to ignore."""
    run = frames.run

    def point(rid, alpha, beta, acc, seed=0, **kw):
        params = {"alpha": alpha, "beta": beta}
        return run(rid, "a3m", seed, params=params, metrics={"accuracy": acc} if acc else {}, **kw)

    return frames.frame(
        point("p1", 0.1, 0.5, 0.60),
        point("p2", 0.5, 0.5, 0.70),
        point("p3", 0.5, 0.5, 0.72, seed=1),
        point("p4", 0.9, 0.5, 0.65),
        point("p5", 0.5, 0.1, 0.62),
        point("p6", 0.5, 0.9, 0.66),
        point("p7", 0.3, 0.5, None),
        run("b2", "baseline2", params={"alpha": 0.5, "beta": 0.5}, metrics={"accuracy": 0.1}),
    )


def test_alpha_beta_curves_two_panels_with_ci(sweeps):
    fig = figures.alpha_beta_curves(sweeps)
    assert [t.type for t in fig.data] == ["scatter", "scatter"]
    alpha, beta = fig.data
    assert (alpha.xaxis, beta.xaxis) == ("x", "x2")
    assert list(alpha.x) == [0.1, 0.5, 0.9]
    np.testing.assert_allclose(alpha.y, [60.0, 71.0, 65.0])  # Baseline-2 left out
    assert list(beta.x) == [0.1, 0.5, 0.9]
    np.testing.assert_allclose(beta.y, [62.0, 71.0, 66.0])
    ci = ci95(sweeps.loc[1:2, "metrics.accuracy"]) * 100
    assert alpha.error_y.array == (None, pytest.approx(ci), None)
    assert fig.layout.xaxis.title.text == "alpha" and fig.layout.xaxis2.title.text == "beta"
    assert fig.layout.yaxis.title.text == "accuracy (%)"
    titles = [a.text for a in fig.layout.annotations]
    assert "alpha (beta = 0.5)" in titles and "beta (alpha = 0.5)" in titles
    assert "(A3M runs)" in fig.layout.title.text
    assert "1 run without accuracy: p7 (A3M, seed 0) FINISHED, never evaluated" in _notes(fig)


def test_alpha_beta_curves_shade_the_ci_of_several_seeds(frames):
    runs = frames.alpha_beta(seeds=3)
    fig = figures.alpha_beta_curves(runs)
    bands = [t for t in fig.data if t.fill == "toself"]
    assert [(t.name, t.xaxis) for t in bands] == [("alpha 95% CI", "x"), ("beta 95% CI", "x2")]
    alpha = next(t for t in fig.data if t.name == "alpha sweep")
    assert alpha.error_y.array is None  # the band shows the interval
    # the band runs along mean + ci and back along mean - ci (Student t over the 3 seeds)
    at = runs[runs["params.beta"] == "0.5"].groupby("params.alpha")["metrics.accuracy"]
    ci = [ci95(g) * 100 for _, g in at]
    mean = [g.mean() * 100 for _, g in at]
    upper, lower = list(bands[0].y[:5]), list(bands[0].y[5:])[::-1]
    np.testing.assert_allclose(upper, np.add(mean, ci))
    np.testing.assert_allclose(lower, np.subtract(mean, ci))
    assert list(bands[0].x) == [0.1, 0.3, 0.5, 0.7, 1.0, 1.0, 0.7, 0.5, 0.3, 0.1]
    sweeps = figures.alpha_beta_sweeps(runs)
    assert figures.interval_text(sweeps) == (
        "mean over 3 seeds per point, 95% CI (Student t over seeds) shaded"
    )
    assert fig.layout.title.subtitle.text == "M" + figures.interval_text(sweeps)[1:]

    one = figures.alpha_beta_curves(frames.alpha_beta(seeds=1))
    assert not [t for t in one.data if t.fill] and len(one.data) == 2
    assert one.layout.title.subtitle.text == "One seed: no interval"


def test_alpha_beta_curves_say_which_sweep_is_missing(frames):
    run = frames.run
    runs = frames.frame(
        run("a", params={"alpha": 0.1}, metrics={"accuracy": 0.5}),
        run("b", params={"alpha": 0.5}, metrics={"accuracy": 0.6}),
    )
    fig = figures.alpha_beta_curves(runs)
    assert len(fig.data[0].x) == 2 and len(fig.data[1].x) == 1
    assert "no beta sweep at alpha = 0.5" in _notes(fig)


@pytest.fixture
def attributes(frames):
    run = frames.run

    def attrs(bill, wing, **extra):
        return {"attr_acc/has_bill_shape": bill, "attr_acc/has_wing_color": wing,
                "attr_acc/mean": (bill + wing) / 2, **extra}  # fmt: skip

    return frames.frame(
        run("b0", "baseline2", 0, metrics=attrs(0.70, 0.60)),
        run("b1", "baseline2", 1, metrics=attrs(0.72, 0.62)),
        run("a0", "a3m", 0, metrics=attrs(0.80, 0.75)),
        run("t0", "att1", 0, metrics=attrs(0.1, 0.1)),
        run("f0", "a3m", 1, status="FAILED", error="RuntimeError: CUDA out of memory"),
    )


def test_attribute_accuracy_bars_baseline2_against_a3m(attributes):
    fig = figures.attribute_accuracy_bars(attributes)
    assert [t.type for t in fig.data] == ["bar", "bar"]
    b2, a3m = fig.data
    assert b2.name == "Baseline-2, mean 66.0%" and a3m.name == "A3M, mean 77.5%"
    assert list(b2.x) == ["has_bill_shape", "has_wing_color"]  # names on the axis, no "mean"
    np.testing.assert_allclose(b2.y, [71.0, 61.0])
    np.testing.assert_allclose(a3m.y, [80.0, 75.0])
    assert b2.error_y.array is not None and a3m.error_y.array is None
    assert fig.layout.xaxis.title.text == "attribute"
    assert fig.layout.yaxis.title.text == "accuracy (%)"
    note = _notes(fig)
    assert note.startswith("1 run without attribute accuracies: f0 (A3M, seed 1) FAILED: Runtime")


def test_attribute_accuracy_bars_name_a_missing_variant(attributes):
    # an ablation without Baseline-2: the variants that ran with attribute heads, and why
    runs = attributes[attributes["params.variant"] != "baseline2"]
    fig = figures.attribute_accuracy_bars(runs)
    assert [t.name.split(",")[0] for t in fig.data] == ["Att-1", "A3M"]
    assert "no Baseline-2 runs with attribute accuracies" in _notes(fig)
    what = figures.attribute_comparison(runs).what
    assert what.startswith("the variants that logged per-attribute accuracies (Att-1, A3M)")


def test_fig8_of_an_alpha_beta_study_compares_its_points(frames):
    runs = frames.alpha_beta(seeds=2)
    # the validation part prefers large alphas and small betas (the test score is not used)
    alpha, beta = runs["params.alpha"].astype(float), runs["params.beta"].astype(float)
    runs["metrics.val_score"] = alpha - beta / 4
    reference = {"alpha": "0.5", "beta": "0.5"}
    compared = figures.attribute_comparison(runs, reference)
    # the reference, then the 3 best others by mean val_score: alpha 1.0, 0.7 and beta 0.1
    assert list(compared.groups) == [
        "reference (alpha=0.5, beta=0.5)", "alpha=1.0", "alpha=0.7", "beta=0.1"]  # fmt: skip
    assert set(compared.groups["alpha=1.0"]["run_id"]) == {"p4s0", "p4s1"}
    assert compared.what.startswith(
        "the study's reference (alpha=0.5, beta=0.5) against the 3 other configurations with "
        "the best mean val_score (validation split)"
    )
    assert "of the 9 A3M configurations" in compared.what and not compared.notes
    fig = figures.attribute_accuracy_bars(runs, reference=reference)
    assert [t.legendgroup for t in fig.data] == list(compared.groups)
    assert "Baseline-2" not in _notes(fig) + fig.layout.title.subtitle.text
    assert "The reference against the 3 other" in fig.layout.title.subtitle.text
    # a few configurations: all of them, in the order they ran (no score orders them);
    # no reference declared: named by what they vary
    few = runs[runs["params.beta"] == "0.5"].iloc[:6].drop(columns="metrics.val_score")
    assert list(figures.attribute_comparison(few).groups) == ["alpha=0.1", "alpha=0.3",
                                                                "alpha=0.5"]  # fmt: skip
    what = figures.attribute_comparison(few).what
    assert what.startswith("all 3 A3M configurations") and "in the order they ran" in what


def test_fig8_never_picks_configurations_by_the_test_score(frames):
    """More configurations than the figure shows and no val_score: no pick, and the reason
    says how to get a validation score."""
    runs = frames.alpha_beta(seeds=2)
    compared = figures.attribute_comparison(runs, {"alpha": "0.5", "beta": "0.5"})
    assert compared.groups == {}
    assert compared.what.startswith("9 A3M configurations logged per-attribute accuracies")
    assert "--set val_fraction=0.1" in compared.what and "test score" in compared.what
    fig = figures.attribute_accuracy_bars(runs, reference={"alpha": "0.5", "beta": "0.5"})
    assert not fig.data and "--set val_fraction=0.1" in _notes(fig).replace("<br>", " ")


def test_fig8_picks_the_best_for_a_loss_the_lowest(frames, monkeypatch):
    """Ranked in the validation metric's direction: were it a loss, the lowest comes first."""
    from dashboards import selection

    runs = frames.alpha_beta()
    runs["metrics.val_score"] = runs["params.alpha"].astype(float)  # large alphas higher
    top = list(figures.attribute_comparison(runs, {"alpha": "0.5", "beta": "0.5"}).groups)[1]
    monkeypatch.setattr(selection.stats, "higher_is_better", lambda metric: False)
    low = list(figures.attribute_comparison(runs, {"alpha": "0.5", "beta": "0.5"}).groups)[1]
    assert (top, low) == ("alpha=1.0", "alpha=0.1")


def test_fig8_of_a_study_on_two_datasets_has_a_row_each(frames):
    run = frames.run
    rows = []
    for dataset, names in (("cub", ["has_bill_shape"]), ("market1501", ["gender", "age"])):
        for d in (16, 128):
            metrics = {"score": 0.5 + d / 1000} | {f"attr_acc/{n}": 0.6 for n in names}
            rows.append(run(f"{dataset}{d}", dataset=dataset, params={"d": d}, metrics=metrics))
    fig = figures.attribute_accuracy_bars(frames.frame(*rows), reference={"d": "128"})
    ref = "reference (d=128)"
    assert [(t.name, t.xaxis, list(t.x)) for t in fig.data] == [
        (ref, "x", ["has_bill_shape"]), (ref, "x2", ["age", "gender"]),
        ("d=16", "x", ["has_bill_shape"]), ("d=16", "x2", ["age", "gender"]),
    ]  # fmt: skip
    assert [t.showlegend for t in fig.data] == [True, False, True, False]
    assert [a.text for a in fig.layout.annotations][:2] == ["cub", "market1501"]


def test_fig8_leaves_room_for_long_attribute_names(frames):
    def bars(name):
        runs = frames.alpha_beta(attributes=(name, "has_size"), val_score=0.5)
        return figures.attribute_accuracy_bars(runs)

    short, long = bars("has_crown"), bars("has_underparts_color_and_pattern_long")
    assert "has_underparts_color_and_pattern_long" in long.data[0].x  # whole, never cut
    assert long.layout.xaxis.automargin
    # the tick labels are turned 45 degrees: a longer name needs a deeper bottom margin
    assert long.layout.margin.b >= short.layout.margin.b + 4 * (37 - 9)
    assert long.layout.height - long.layout.margin.b == short.layout.height - short.layout.margin.b


def test_notes_are_wrapped_never_cut(market):
    long_error = "NonFiniteLossError: " + "loss is nan at epoch 1 " * 12
    runs = market.assign(**{"tags.a3m.error": long_error})
    fig = figures.ablation_bars(runs, metrics=["rank1", "mAP"])
    (note,) = [a.text for a in fig.layout.annotations]
    lines = note.split("<br>")
    assert len(lines) > 1 and max(map(len, lines)) <= figure_text.NOTE_WIDTH
    assert fig.layout.margin.b >= 60 + 16 * len(lines)


def test_attention_maps_show_the_logged_pngs(tmp_path):
    import pandas as pd
    from PIL import Image

    files = []
    for i in range(3):
        path = tmp_path / f"attention_{i:04d}.png"
        Image.new("RGB", (70, 10), (255, 0, 0)).save(path)
        files.append(str(path))
    images = pd.DataFrame({
        "run_id": ["r1"] * 3, "label": ["r1 (A3M, seed 0)"] * 3,
        "artifact": [f"attention/attention_{i:04d}.png" for i in range(3)], "file": files,
    })  # fmt: skip
    fig = figures_attention.attention_maps(images, max_images=2)
    assert [t.type for t in fig.data] == ["image", "image"]
    assert fig.data[0].source.startswith("data:image/png;base64,")
    assert [a.text for a in fig.layout.annotations] == [
        "r1 (A3M, seed 0): attention_0000.png",
        "r1 (A3M, seed 0): attention_0001.png",
    ]
    empty = figures_attention.attention_maps(images.iloc[0:0])
    assert not empty.data and "no attention maps" in _notes(empty)


@pytest.fixture
def search(frames):
    run = frames.run
    return frames.frame(
        run("s1", params={"lr": 0.01, "backbone": "tiny"}, metrics={"score": 0.5}, start=1),
        run("s2", params={"lr": 0.03, "backbone": "resnet18"}, metrics={"score": 0.7}, start=2),
        run("s3", params={"lr": 0.05, "backbone": "tiny"}, metrics={"score": 0.6}, start=3),
        run("s4", params={"lr": 0.07, "backbone": "tiny"}, status="FAILED", start=4),
    )


def test_parallel_coordinates_axes_are_params_then_score(search):
    fig = figures_search.parallel_coordinates(search)
    (trace,) = fig.data
    assert trace.type == "parcoords"
    dims = {d.label: d for d in trace.dimensions}
    assert list(dims) == ["lr", "backbone", "score (%)"]
    np.testing.assert_allclose(dims["lr"].values, [0.01, 0.03, 0.05])
    assert list(dims["backbone"].ticktext) == ["resnet18", "tiny"]
    assert list(dims["backbone"].values) == [1, 0, 1]
    np.testing.assert_allclose(dims["score (%)"].values, [50.0, 70.0, 60.0])
    assert "1 run without score" in _notes(fig)


def test_best_value_history_is_a_running_maximum(search):
    fig = figures_search.best_value_history(search)
    trials, best = fig.data
    assert (trials.mode, best.mode) == ("markers", "lines")
    assert list(trials.x) == [1, 2, 3]
    np.testing.assert_allclose(trials.y, [50.0, 70.0, 60.0])
    np.testing.assert_allclose(best.y, [50.0, 70.0, 70.0])
    assert fig.layout.xaxis.title.text == "trial (in start order)"


def test_param_importance_bars_sorted_with_their_source():
    fig = figures_search.param_importance_bars(
        {"lr": 0.7, "alpha": 0.2, "d": 0.1}, "from the study"
    )
    (bar,) = fig.data
    assert bar.orientation == "h"
    assert list(bar.y) == ["d", "alpha", "lr"]  # Plotly draws the last on top
    np.testing.assert_allclose(bar.x, [0.1, 0.2, 0.7])
    assert "from the study" in fig.layout.title.text
    none = figures_search.param_importance_bars({}, "no Optuna storage at /x/optuna.db")
    assert not none.data and "no Optuna storage at /x/optuna.db" in _notes(none)


def test_figures_of_an_empty_frame_explain_themselves(frames):
    empty = frames.frame(frames.run("x", status="FAILED")).iloc[0:0]
    for make in (figures.alpha_beta_curves, figures.attribute_accuracy_bars,
                 figures_search.parallel_coordinates,
                 figures_search.best_value_history):  # fmt: skip
        fig = make(empty)
        assert not fig.data and _notes(fig), make.__name__


def test_attribute_bars_keep_their_intervals_inside_0_and_100(frames):
    """Two seeds far apart (0.97 and 0.40): the t interval's half-width (about 360 points)
    would run far below 0 and above 100; the bars stop at both ends."""

    def run(run_id, seed, acc):
        metrics = {"attr_acc/has_bill_shape": acc, "attr_acc/mean": acc}
        return frames.run(run_id, "baseline2", seed, metrics=metrics)

    fig = figures.attribute_accuracy_bars(frames.frame(run("a", 0, 0.97), run("b", 1, 0.40)))
    (bars,) = fig.data
    mean = bars.y[0]
    assert mean - bars.error_y.arrayminus[0] == pytest.approx(0.0)
    assert mean + bars.error_y.array[0] == pytest.approx(100.0)
