"""The paper's claims as data, and their verdicts on hand-made runs: supported, contradicted,
inconclusive (with the seeds it would take), near the best both ways, unpaired seeds, claims
the runs cannot test, one result per context of a grid; the two families (the study's rows
taken as they are, the others Holm-adjusted together), the magnitude check against the
paper's effect, equivalence, failures and a lower-is-better metric."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from a3m import stats
from a3m.data.tasks import TASKS
from a3m.sequential import Inference
from a3m.study.compare import compare
from dashboards import claims, tables
from dashboards.data import task_of


def _claim(name: str, dataset: str = "cub", metric: str = "accuracy") -> pd.DataFrame:
    every = claims.load_claims()
    hit = every[(every["claim"] == name) & (every["dataset"] == dataset)
                & (every["metric"] == metric)]  # fmt: skip
    assert len(hit) == 1, (name, dataset, metric)
    return hit


def _pairs(frames, candidate, reference, diffs, *, base=0.80, metric="accuracy", **kw):
    """Runs of two variants on seeds 0..n-1 whose per-seed differences are ``diffs``."""
    run = frames.run
    rows = []
    for seed, d in enumerate(diffs):
        level = base + 0.01 * (seed % 3)  # seeds differ more than the variants do
        rows.append(run(f"r{seed}", reference, seed, metrics={metric: level}, **kw))
        rows.append(run(f"c{seed}", candidate, seed, metrics={metric: level + d}, **kw))
    return rows


def test_the_claims_csv_holds_the_papers_differences():
    every = claims.load_claims()
    assert set(every["kind"]) == set(claims.KINDS)
    paper = tables.load_paper_numbers()

    def value(dataset, variant, metric):
        hit = paper[(paper["dataset"] == dataset) & (paper["variant"] == variant)
                    & (paper["metric"] == metric)]  # fmt: skip
        return float(hit["value_pct"].iloc[0])

    checked = 0
    for row in every[every["kind"] == "greater"].to_dict("records"):
        if row["source"].startswith("Table"):
            cand = claims.parse_assignments(row["candidate"])["variant"]
            ref = claims.parse_assignments(row["reference"])["variant"]
            expected = value(row["dataset"], cand, row["metric"]) - value(
                row["dataset"], ref, row["metric"]
            )
            assert row["effect_points"] == pytest.approx(expected, abs=1e-9), row["text"]
            assert expected > 0  # the paper's direction
            checked += 1
            assert row["effect_source"] == f"paper, {row['source']}"
        else:  # Figs. 5, 7 and 8 draw bars and curves without numbers
            assert row["source"] in ("Fig. 5", "Fig. 7", "Fig. 8")
            assert math.isnan(row["effect_points"]) and row["effect_source"].startswith("none: ")
    assert checked == 21
    for row in every.to_dict("records"):  # every metric is one our runs log for the dataset
        assert row["metric"] in TASKS[task_of(row["dataset"])].metrics, row
    # the list, each at least once
    have = set(zip(every["claim"], every["dataset"], every["metric"], strict=True))
    for ds, metric in [("market1501", "rank1"), ("market1501", "mAP"), ("cub", "accuracy"),
                       ("compcars", "accuracy"), ("cub_retrieval", "recall_at_1"),
                       ("cars196", "recall_at_1"), ("cars196", "recall_at_2")]:  # fmt: skip
        assert ("a3m_beats_baseline1", ds, metric) in have
    # Fig. 8: A3M against Baseline-2 in (mean) attribute accuracy on CUB; Fig. 7's shape
    assert ("a3m_beats_baseline2", "cub", "attr_acc/mean") in have
    for name in ("alpha_rises_to_half", "beta_rises_to_half", "alpha_past_half_falls"):
        assert (name, "cub", "accuracy") in have
    for ds in ("market1501", "cub", "compcars"):
        assert (
            "baseline2_beats_baseline1",
            ds,
            "rank1" if ds == "market1501" else "accuracy",
        ) in have
    for name in ("attribute_labels_help", "a3m_wo_attr_beats_baseline2", "att1_beats_baseline2",
                 "att2_beats_baseline2", "a3m_beats_att1", "a3m_beats_att2"):  # fmt: skip
        assert (name, "market1501", "rank1") in have and (name, "market1501", "mAP") in have
    near = every[every["kind"] == "near_best"].iloc[0]
    assert (near["dataset"], near["candidate"], near["reference"], near["effect_points"]) == (
        "cub", "*", "alpha=0.5;beta=0.5", 1.0)  # fmt: skip
    assert near["effect_source"] == "ours: a margin, not the paper's"  # Fig. 7 has no number


@pytest.mark.parametrize(
    "line, match",
    [
        ("x,cub,accuracy,bigger,variant=a3m,variant=baseline1,1,p,T,t", "kind 'bigger'"),
        ("x,cub,accuracy,greater,variant=a3m,d=16,1,p,T,t", "same fields"),
        ("x,cub,accuracy,near_best,variant=a3m,alpha=0.5,1,p,T,t", "candidate '\\*'"),
        ("x,cub,accuracy,near_best,*,alpha=0.5,,p,T,t", "effect_points > 0"),
    ],
)
def test_load_claims_refuses_a_malformed_claim(tmp_path, line, match):
    path = tmp_path / "claims.csv"
    path.write_text(",".join(claims.CLAIM_FIELDS) + "\n" + line + "\n")
    with pytest.raises(ValueError, match=match):
        claims.load_claims(path)


def test_supported_with_the_difference_in_points_and_the_runs(frames):
    diffs = [0.05, 0.04, 0.06, 0.05, 0.045, 0.055, 0.05, 0.04]
    runs = frames.frame(*_pairs(frames, "a3m", "baseline1", diffs))
    (row,) = claims.evaluate_claims(runs, _claim("a3m_beats_baseline1")).to_dict("records")
    low, high = stats.sign_flip_interval(diffs, 0.05)  # one comparison: Holm at alpha itself
    assert row["verdict"] == "supported" and row["paired_verdict"] == "better"
    assert row["family"] == "secondary"  # no study reference: no family of the study's own
    assert row["n_pairs"] == 8 and row["seeds"] == "0,1,2,3,4,5,6,7"
    assert row["mean_diff"] == pytest.approx(100 * np.mean(diffs))
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((100 * low, 100 * high))
    assert row["ci_level"] == 0.05 and row["ci_method"] == "sign-flip"
    assert row["p_holm"] == pytest.approx(2 / 2**8) and row["p_ahead"] == 1.0
    assert math.isnan(row["seeds_needed"]) and row["effect_points"] == 3.9
    assert row["effect_source"] == "paper, Table 2"
    assert row["magnitude"] == "larger than claimed (interval above +3.9)"
    assert row["candidate_runs"] == ";".join(f"c{s}" for s in range(8))
    assert row["reference_runs"] == ";".join(f"r{s}" for s in range(8))


def test_a_claim_in_the_studys_family_takes_its_row(frames):
    """The study's reference is Baseline-1: A3M against Baseline-1 is one of the study's
    comparisons (the same numbers), A3M against Baseline-2 is not (the secondary family)."""
    rows = []
    for seed in range(8):
        level = 0.80 + 0.01 * (seed % 3)
        for variant, gain in (("baseline1", 0.0), ("baseline2", 0.02), ("a3m", 0.05)):
            acc = level + gain + 0.001 * seed * (variant == "a3m")
            rows.append(frames.run(f"{variant}{seed}", variant, seed,
                                   metrics={"accuracy": acc, "score": acc}))  # fmt: skip
    runs = frames.frame(*rows)
    study = compare(runs, {"variant": "baseline1"})
    table = claims.evaluate_claims(runs, reference={"variant": "baseline1"}, comparisons=study)
    tested = table[table["verdict"] != "not run here"].set_index("claim")
    assert table.attrs == {"study_comparisons": 2, "secondary_comparisons": 1, "secondary_rows": 1}
    for name, variant in (
        ("a3m_beats_baseline1", "a3m"),
        ("baseline2_beats_baseline1", "baseline2"),
    ):
        row, theirs = tested.loc[name], study[study["variant"] == variant].iloc[0]
        assert row["family"] == "study"
        assert row["p_holm"] == theirs["p_holm"] and row["paired_verdict"] == theirs["verdict"]
        assert (row["ci_low"], row["ci_high"], row["ci_level"]) == (
            100 * theirs["ci_low"], 100 * theirs["ci_high"], theirs["ci_level"])  # fmt: skip
    other = tested.loc["a3m_beats_baseline2"]
    assert other["family"] == "secondary" and other["ci_level"] == 0.05  # Holm across 1
    # without the table, the same reference gives the same rows
    again = claims.evaluate_claims(runs, reference={"variant": "baseline1"})
    pd.testing.assert_frame_equal(again, table)


def test_a_claim_the_other_way_round_reads_the_studys_row_negated(frames):
    """Fig. 7's shape, 0.5 beats alpha = 0.1, is the study's alpha=0.1-against-0.5 read the
    other way: one comparison, one p(Holm)."""
    runs = frames.alpha_beta(seeds=8)
    study = compare(runs, {"alpha": "0.5", "beta": "0.5"}, metric="accuracy")
    table = claims.evaluate_claims(runs, reference={"alpha": 0.5, "beta": 0.5}, metric="accuracy",
                                   comparisons=study)  # fmt: skip
    row = table.set_index("claim").loc["alpha_rises_to_half"]
    theirs = study[(study["alpha"] == "0.1") & (study["beta"] == "0.5")].iloc[0]
    assert row["family"] == "study" and row["p_holm"] == theirs["p_holm"]
    assert row["mean_diff"] == pytest.approx(-100 * theirs["mean_diff"])
    assert row["p_ahead"] == 1 - theirs["p_ahead"]
    assert row["candidate_runs"] == theirs["reference_runs"]


def test_contradicted_when_significantly_the_other_way(frames):
    diffs = [-0.02, -0.03, -0.025, -0.02, -0.03, -0.02, -0.025, -0.03]
    runs = frames.frame(*_pairs(frames, "a3m", "baseline2", diffs))
    (row,) = claims.evaluate_claims(runs, _claim("a3m_beats_baseline2")).to_dict("records")
    assert row["verdict"] == "contradicted" and row["ci_high"] < 0
    assert row["magnitude"] == "smaller than claimed (interval below +1.9)"


def test_a_significant_but_small_gain_is_smaller_than_claimed(frames):
    """Supported in direction, but our interval lies below the paper's +3.9 points."""
    diffs = [0.004, 0.005, 0.006, 0.005, 0.004, 0.006, 0.005, 0.005]
    runs = frames.frame(*_pairs(frames, "a3m", "baseline1", diffs))
    (row,) = claims.evaluate_claims(runs, _claim("a3m_beats_baseline1")).to_dict("records")
    assert row["verdict"] == "supported" and 0 < row["ci_low"] and row["ci_high"] < 3.9
    assert row["magnitude"] == "smaller than claimed (interval below +3.9)"
    # around the paper's effect: the interval contains it
    diffs = [0.03, 0.05, 0.04, 0.035, 0.045, 0.04, 0.03, 0.05]
    runs = frames.frame(*_pairs(frames, "a3m", "baseline1", diffs))
    (row,) = claims.evaluate_claims(runs, _claim("a3m_beats_baseline1")).to_dict("records")
    assert row["verdict"] == "supported" and row["ci_low"] < 3.9 < row["ci_high"]
    assert row["magnitude"] == "our interval contains the paper's +3.9"


def test_equivalent_contradicts_a_claim_larger_than_the_margin(frames):
    diffs = [0.0005 * (-1) ** s for s in range(10)]
    runs = frames.frame(*_pairs(frames, "a3m", "baseline1", diffs))
    table = claims.evaluate_claims(runs, _claim("a3m_beats_baseline1"),
                                   inference=Inference(min_effect=0.01))  # fmt: skip
    (row,) = table.to_dict("records")
    assert row["paired_verdict"] == "equivalent" and row["verdict"] == "contradicted"
    assert row["note"].startswith("equivalent within +-1 points: no gain as large as the paper's")
    # a claim without a number is not contradicted by a small difference
    runs["params.dataset"] = "market1501"
    runs = runs.rename(columns={"metrics.accuracy": "metrics.rank1"})
    (row,) = claims.evaluate_claims(
        runs.assign(**{"params.variant": runs["params.variant"].replace("baseline1", "baseline2")
                       .replace("a3m", "att1")}),
        _claim("att1_beats_baseline2", "market1501", "rank1"), inference=Inference(min_effect=0.01),
    ).to_dict("records")  # fmt: skip
    assert row["paired_verdict"] == "equivalent" and row["verdict"] == "inconclusive"


def test_failed_seeds_are_counted_and_can_leave_a_claim_inconclusive(frames):
    """Better on the 9 finished pairs, but not if the 3 failed candidate runs had lost."""
    rows = _pairs(frames, "a3m", "baseline1", [0.01 + 0.001 * s for s in range(12)])
    # the study's worst value (a Baseline-2 run far behind) is what a failed run may have scored
    runs = frames.frame(*rows, frames.run("low", "baseline2", 0, metrics={"accuracy": 0.1}))
    failing = runs["run_id"].isin(["c9", "c10", "c11"])
    runs.loc[failing, "status"], runs.loc[failing, "metrics.accuracy"] = "FAILED", np.nan
    (row,) = claims.evaluate_claims(runs, _claim("a3m_beats_baseline1")).to_dict("records")
    assert row["n_pairs"] == 9 and row["n_failed"] == 3
    assert row["paired_verdict"] == "inconclusive (failures)"
    assert row["verdict"] == "inconclusive (failures)"
    assert "seed 9: candidate run c9 FAILED" in row["failed"] and row["worst_case_low"] <= 0
    assert "better on the finished pairs" in row["note"]


def test_a_lower_is_better_metric_turns_the_claim_around(frames):
    """A claim on a loss: the candidate's lower loss supports it, and the magnitude reads the
    gain in the loss's direction."""
    claim = pd.DataFrame([{
        "claim": "lower_loss", "dataset": "cub", "metric": "test_loss", "kind": "greater",
        "candidate": "variant=a3m", "reference": "variant=baseline1", "effect_points": 1.0,
        "effect_source": "paper, Table X", "source": "Table X", "text": "A3M has a lower loss",
    }])  # fmt: skip
    diffs = [-0.02 - 0.001 * (s % 3) for s in range(8)]  # 2-2.2 points lower
    runs = frames.frame(*_pairs(frames, "a3m", "baseline1", diffs, metric="test_loss"))
    (row,) = claims.evaluate_claims(runs, claim).to_dict("records")
    assert row["mean_diff"] < 0 and row["ci_high"] < 0
    assert row["paired_verdict"] == "better" and row["verdict"] == "supported"
    assert row["p_ahead"] == 1.0
    assert row["magnitude"] == "larger than claimed (interval above +1)"


def test_inconclusive_says_how_many_seeds_at_the_papers_effect(frames):
    diffs = [0.03, -0.01, 0.02]
    runs = frames.frame(*_pairs(frames, "a3m", "baseline2", diffs))
    # two claims tested together: Holm across both, and the seeds for that family
    both = pd.concat([_claim("a3m_beats_baseline2"), _claim("a3m_beats_baseline1")])
    runs = pd.concat([runs, frames.frame(*_pairs(frames, "a3m", "baseline1", diffs))])
    runs["run_id"] = [f"{v}{i}" for i, v in enumerate(runs["params.variant"])]
    table = claims.evaluate_claims(runs, both)
    assert table["verdict"].tolist() == ["inconclusive", "inconclusive"]
    assert table.attrs["secondary_comparisons"] == 2
    np.testing.assert_allclose(table["p_holm"], stats.holm(table["p_value"]))
    row = table.iloc[0]
    sd = float(np.std(diffs, ddof=1))
    needed = stats.seeds_needed(sd, 3, 0.019, 0.05 / 2)
    assert (row["seeds_needed"], row["seeds_needed_low"], row["seeds_needed_high"]) == (
        needed.estimate, needed.low, needed.high)  # fmt: skip
    assert row["seeds_needed"] > 3
    assert row["seeds_needed_at"] == "the paper's +1.90 points"
    assert row["magnitude"].startswith("our interval is unbounded")  # 3 pairs cannot decide


def test_a_claim_without_a_paper_number_uses_the_observed_effect(frames):
    diffs = [0.01, 0.03, -0.01]
    runs = frames.frame(*_pairs(frames, "att1", "baseline2", diffs, dataset="market1501",
                                metric="rank1"))  # fmt: skip
    (row,) = claims.evaluate_claims(
        runs, _claim("att1_beats_baseline2", "market1501", "rank1")
    ).to_dict("records")
    assert row["verdict"] == "inconclusive"
    expected = stats.seeds_needed(float(np.std(diffs, ddof=1)), 3, 0.01, 0.05)
    assert row["seeds_needed"] == expected.estimate
    assert row["seeds_needed_at"] == "the observed +1.00 points (no paper number)"
    assert row["magnitude"] == "no number in the paper to hold our interval against"
    assert row["effect_source"] == "none: Fig. 5 draws bars without numbers"


def test_unpaired_seeds_are_named_not_dropped(frames):
    run = frames.run
    runs = frames.frame(
        *[run(f"c{s}", "a3m", s, metrics={"accuracy": 0.8}) for s in (0, 1, 2)],
        *[run(f"r{s}", "baseline1", s, metrics={"accuracy": 0.7}) for s in (3, 4)],
        run("f0", "baseline1", 0, status="FAILED"),
    )
    (row,) = claims.evaluate_claims(runs, _claim("a3m_beats_baseline1")).to_dict("records")
    assert row["verdict"] == "inconclusive" and row["n_pairs"] == 0
    assert math.isnan(row["mean_diff"]) and math.isnan(row["p_value"])
    assert row["note"].startswith("no pairs: no seed finished on both sides; unpaired: seed 1")
    assert "seed 3: reference only" in row["note"]
    assert "failed: seed 0: reference run f0 FAILED" in row["note"]
    assert row["magnitude"] == "no pairs: nothing to hold against the paper's +3.9"
    assert row["candidate_runs"] == "" and row["reference_runs"] == ""


def _sweep(frames, levels: dict[float, list[float]]):
    """A3M runs with alpha swept at beta = 0.5: alpha -> accuracy per seed."""
    return frames.frame(*[
        frames.run(f"a{alpha}-{seed}", "a3m", seed, params={"alpha": alpha},
                   metrics={"accuracy": acc})
        for alpha, accs in levels.items() for seed, acc in enumerate(accs)
    ])  # fmt: skip


def test_near_best_supported_when_no_configuration_is_a_point_better(frames):
    ref = [0.80, 0.82, 0.79, 0.81, 0.80, 0.83, 0.78, 0.81]
    runs = _sweep(frames, {
        0.5: ref,
        0.1: [r - 0.02 + 0.002 * (s % 2) for s, r in enumerate(ref)],
        0.9: [r - 0.001 * (s % 3) for s, r in enumerate(ref)],
    })  # fmt: skip
    (row,) = claims.evaluate_claims(runs, _claim("alpha_beta_near_best")).to_dict("records")
    assert row["verdict"] == "supported" and row["family"] == "secondary"
    assert row["ci_high"] <= 1.0 and row["mean_diff"] == pytest.approx(-0.0875)
    assert "2 other configurations, 2 within 1 point (interval's upper end)" in row["note"]
    assert "the best: alpha=0.9" in row["note"]
    assert row["effect_source"] == "ours: a margin, not the paper's"
    assert row["candidate_runs"].startswith("a0.9-0") and row["reference_runs"].startswith("a0.5")


def test_near_best_contradicted_by_a_clearly_better_configuration(frames):
    ref = [0.80, 0.82, 0.79, 0.81, 0.80, 0.83, 0.78, 0.81]
    runs = _sweep(frames, {
        0.5: ref,
        0.3: [r + 0.05 + 0.002 * (s % 2) for s, r in enumerate(ref)],
        0.9: [r - 0.01 for r in ref],
    })  # fmt: skip
    (row,) = claims.evaluate_claims(runs, _claim("alpha_beta_near_best")).to_dict("records")
    assert row["verdict"] == "contradicted" and row["ci_low"] > 1.0
    assert "better by more than 1 point: alpha=0.3" in row["note"]


def test_near_best_inconclusive_with_few_noisy_seeds(frames):
    runs = _sweep(frames, {0.5: [0.80, 0.82, 0.79], 0.3: [0.81, 0.80, 0.82]})
    (row,) = claims.evaluate_claims(runs, _claim("alpha_beta_near_best")).to_dict("records")
    assert row["verdict"] == "inconclusive"
    diffs = np.array([0.01, -0.02, 0.03])
    margin = 0.01 - diffs.mean()
    expected = stats.seeds_needed(float(diffs.std(ddof=1)), 3, margin, 0.05)
    assert row["seeds_needed"] == expected.estimate
    assert row["seeds_needed_at"] == "the margin to our 1-point band"


def test_claims_the_runs_cannot_test_are_listed_with_the_reason(frames):
    run = frames.run
    runs = frames.frame(
        run("a", "a3m", 0, metrics={"accuracy": 0.8}),
        run("b", "baseline2", 0, metrics={"accuracy": 0.7}),
    )
    table = claims.evaluate_claims(runs)
    assert len(table) == len(claims.load_claims())  # every claim, tested or not
    assert set(table["verdict"]) <= set(claims.VERDICTS)
    why = table.set_index(["claim", "dataset", "metric"])["note"]
    assert why[("a3m_beats_baseline1", "cub", "accuracy")] == "no cub run with variant=baseline1"
    assert why[("a3m_beats_baseline1", "market1501", "rank1")] == "no market1501 runs"
    assert why[("a3m_beats_baseline2", "cub", "attr_acc/mean")] == "no cub run logged attr_acc/mean"
    assert why[("alpha_beta_near_best", "cub", "accuracy")] == (
        "no configuration other than alpha=0.5 beta=0.5 ran"
    )
    tested = table[table["verdict"] != "not run here"]
    assert tested[["claim", "dataset"]].values.tolist() == [["a3m_beats_baseline2", "cub"]]
    assert "nan" not in table.loc[table["verdict"] == "not run here", "magnitude"].tolist()


def test_a_grid_gives_one_result_per_context(frames):
    """Backbones x variants: A3M against Baseline-1 within each backbone; an A3M point whose
    Baseline-1 counterpart never ran (d=64) tests nothing."""
    rows = []
    for backbone, gain in (("tiny", 0.05), ("resnet18", -0.05)):
        rows += _pairs(frames, "a3m", "baseline1", [gain] * 8, params={"backbone": backbone})
    rows.append(frames.run("x", "a3m", 0, params={"backbone": "tiny", "d": 64},
                           metrics={"accuracy": 0.9}))  # fmt: skip
    runs = frames.frame(*rows)
    runs["params.d"] = runs["params.d"].fillna("16")
    runs["run_id"] = [f"{i}" for i in range(len(runs))]
    table = claims.evaluate_claims(runs, _claim("a3m_beats_baseline1"))
    assert table["context"].tolist() == ["backbone=tiny d=16", "backbone=resnet18 d=16"]
    assert table["verdict"].tolist() == ["supported", "contradicted"]
    assert table["n_pairs"].tolist() == [8, 8]
