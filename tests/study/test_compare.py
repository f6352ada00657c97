"""Paired comparisons of a study's runs: counterparts, pairing by seed, what is left unpaired,
the leaderboard's verdict columns. Runs frames are built by hand in MLflow's layout."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from a3m.sequential import Inference, SequentialDesign
from a3m.study.compare import (
    attach_verdicts,
    best_reference,
    compare,
    format_verdicts,
    parse_reference,
)
from a3m.study.leaderboard import leaderboard
from a3m.study.runs import configuration_key
from a3m.study.tracking import canonical


def run(score, seed, status="FINISHED", start=0, stopped=None, **params):
    row = {f"params.{k}": str(v) for k, v in params.items()}
    row |= {
        "params.seed": str(seed),
        "params.lr": "0.03",
        "metrics.score": score,
        "status": status,
        "run_id": f"{'-'.join(map(str, params.values()))}-{seed}-{start}".ljust(12, "x"),
        "start_time": start,
    }
    if stopped is not None:
        row["tags.a3m.stopped_early"] = stopped
    return row


def test_canonical_values_compare_as_numbers_and_booleans():
    assert canonical("0.50") == canonical(0.5) == canonical("5e-1")
    assert canonical(True) == canonical("true") == "true"
    assert canonical("baseline1") == "baseline1"
    assert parse_reference(["variant=baseline1", "d = 512"]) == {"variant": "baseline1", "d": "512"}
    with pytest.raises(ValueError, match="FIELD=VALUE"):
        parse_reference(["variant"])


def test_differences_are_paired_by_seed_with_hand_values():
    rows = [run(0.50 + 0.01 * s, s, variant="baseline1") for s in range(3)]
    rows += [run(0.52 + 0.01 * s + 0.01 * (s == 2), s, variant="a3m") for s in range(3)]
    table = compare(pd.DataFrame(rows), {"variant": "baseline1"})
    assert len(table) == 1
    row = table.iloc[0]
    assert row["variant"] == "a3m" and row["reference"] == "variant=baseline1"
    assert row["differences"] == "+0.0200;+0.0200;+0.0300"
    assert row["mean_diff"] == pytest.approx(0.07 / 3)
    assert row["n_pairs"] == 3 and row["seeds"] == "0,1,2"
    assert row["p_value"] == pytest.approx(0.25)  # 3 seeds can never decide
    assert row["verdict"] == "inconclusive" and row["p_ahead"] == 1.0
    # ... and their interval says so: the whole line, with the reason in words
    assert (row["ci_low"], row["ci_high"]) == (-math.inf, math.inf)
    assert "3 pairs cannot decide" in row["verdict_note"]
    assert row["seeds_needed_low"] <= row["seeds_needed"] <= row["seeds_needed_high"]
    assert row["seeds_needed"] >= 6
    assert row["candidate_runs"].count(";") == 2


def test_counterpart_keeps_the_other_axes():
    # backbone x variant grid, reference variant=baseline1: each backbone against its own
    rows = []
    for backbone, gain in (("tiny", 0.05), ("resnet18", -0.05)):
        for s in range(8):
            base = 0.4 + 0.01 * s + (0.1 if backbone == "resnet18" else 0)
            rows.append(run(base, s, backbone=backbone, variant="baseline1"))
            rows.append(run(base + gain + 0.001 * (s % 3), s, backbone=backbone, variant="a3m"))
    table = compare(pd.DataFrame(rows), {"variant": "baseline1"})
    assert sorted(table["backbone"]) == ["resnet18", "tiny"]
    by = table.set_index("backbone")
    assert by.loc["tiny", "verdict"] == "better" and by.loc["resnet18", "verdict"] == "worse"
    assert by.loc["tiny", "mean_diff"] == pytest.approx(0.05 + 0.001 * 7 / 8)
    # Holm over the two comparisons: 8 pairs of one sign give p = 2/256, doubled for the first
    assert sorted(table["p_holm"]) == pytest.approx([2 * 2 / 256, 2 * 2 / 256])


def test_unpaired_seeds_and_unusable_runs_are_named():
    rows = [run(0.5, s, variant="baseline1") for s in (0, 1, 2)]
    rows += [run(0.6, s, variant="a3m") for s in (0, 1, 3)]
    rows.append(run(math.nan, 2, status="FAILED", variant="a3m"))
    rows.append(run(0.7, 4, stopped="true", variant="a3m"))
    table = compare(pd.DataFrame(rows), {"variant": "baseline1"})
    row = table.iloc[0]
    assert row["seeds"] == "0,1" and row["n_pairs"] == 2
    notes = row["unpaired"]
    assert notes == "seed 3: candidate only"  # ran on one side only: not a failure
    failed = row["failed"]  # failed or stopped early on one side: named, and counted
    assert row["n_failed"] == 2
    assert "seed 2: candidate run" in failed and "FAILED" in failed
    assert "seed 4: candidate run" in failed and "stopped early" in failed


def test_the_latest_run_of_a_seed_counts():
    rows = [run(0.5, s, variant="baseline1") for s in range(2)]
    rows += [run(0.1, s, start=1, variant="a3m") for s in range(2)]
    rows += [run(0.9, s, start=2, variant="a3m") for s in range(2)]  # a later invocation
    row = compare(pd.DataFrame(rows), {"variant": "baseline1"}).iloc[0]
    assert row["mean_diff"] == pytest.approx(0.4)


def test_reference_that_matches_nothing_is_an_error():
    rows = [run(0.5, s, variant=v) for s in range(2) for v in ("a3m", "att1")]
    with pytest.raises(ValueError, match="variant=baseline1 matches no run; values here: a3m"):
        compare(pd.DataFrame(rows), {"variant": "baseline1"})
    with pytest.raises(ValueError, match="'d' is not a param"):
        compare(pd.DataFrame(rows), {"d": 512})


def test_points_study_against_alpha_beta_half():
    rows = []
    for a, b, gain in ((0.5, 0.5, 0), (0.1, 0.5, -0.03), (0.5, 0.1, 0.0)):
        rows += [run(0.5 + gain + 0.002 * s * (a == 0.5 and b == 0.1), s, alpha=a, beta=b)
                 for s in range(7)]  # fmt: skip
    table = compare(pd.DataFrame(rows), {"alpha": 0.5, "beta": 0.5})
    assert len(table) == 2
    assert set(table["reference"]) == {"alpha=0.5 beta=0.5"}
    worse = table[table["alpha"] == canonical(0.1)].iloc[0]
    # 7 seeds of -3 points: p = 2/128, doubled by Holm (two comparisons) = 0.031 < 0.05;
    # with 6 seeds it would be 2/64 x 2 = 0.0625: no evidence (min_pairs_to_decide(2) == 7)
    assert worse["verdict"] == "worse" and worse["p_holm"] == pytest.approx(4 / 128)
    assert worse["ci_high"] < 0 and worse["ci_level"] == pytest.approx(0.025)
    lines = format_verdicts(table)
    assert lines[0].startswith("paired verdicts against the reference (alpha=0.5 beta=0.5)")
    assert any("-3.00 points, 97.5% CI [-3.0, -3.0]" in line for line in lines)


def test_leaderboard_gets_verdict_columns_and_marks_the_reference():
    rows = [run(0.5 + 0.001 * s, s, variant="baseline1") for s in range(8)]
    rows += [run(0.6 + 0.002 * s, s, variant="a3m") for s in range(8)]
    runs = pd.DataFrame(rows)
    table = compare(runs, {"variant": "baseline1"})
    board = attach_verdicts(leaderboard(runs), table, {"variant": "baseline1"})
    by = board.set_index("variant")
    assert by.loc["a3m", "verdict"] == "better" and by.loc["baseline1", "verdict"] == "reference"
    assert by.loc["a3m", "diff_mean"] == pytest.approx(0.1 + 0.001 * 3.5)
    assert {"diff_ci_low", "diff_ci_high", "p_holm", "ci_method", "unpaired"} <= set(board)


def test_an_open_search_without_a_validation_score_refuses_to_pick_by_test_score():
    rows = [run(0.5 + 0.1 * (v == "att2"), s, variant=v) for s in range(2) for v in ("a3m", "att2")]
    runs = pd.DataFrame(rows)
    assert configuration_key(runs) == ["params.variant"]
    with pytest.raises(ValueError, match="val_fraction=0.1"):
        best_reference(runs)


def test_an_open_search_picks_its_reference_on_the_validation_part():
    rows = [run(0.5 + 0.1 * (v == "att2"), s, variant=v) for s in range(2) for v in ("a3m", "att2")]
    runs = pd.DataFrame(rows)
    runs["metrics.val_score"] = [0.9 if v == "a3m" else 0.1 for v in runs["params.variant"]]
    assert best_reference(runs) == {"variant": "a3m"}  # not att2, the best on the test split


def test_search_metric_and_the_held_out_part():
    import argparse

    from a3m.study import StudySpec
    from a3m.study.spec import SEARCH_VAL_FRACTION, hold_out_for_search, search_metric

    spec = StudySpec("x", "d", base={})
    args = argparse.Namespace(scheduler="asha", synthetic=False)
    base = {}
    hold_out_for_search(spec, args, base)
    assert base == {"val_fraction": SEARCH_VAL_FRACTION} and search_metric(base) == "val_score"
    fifo = {}
    hold_out_for_search(spec, argparse.Namespace(scheduler="fifo", synthetic=False), fifo)
    assert fifo == {} and search_metric(fifo) == "score"
    explicit = {"val_fraction": 0.0}  # the user's choice stands (with a warning)
    hold_out_for_search(spec, args, explicit)
    assert explicit == {"val_fraction": 0.0} and search_metric(explicit) == "score"


def with_failures(n, failing, gain=0.02):
    """A candidate no better than the reference, which fails on the seeds where it would have
    lost: on the seeds it finished it is ahead on every one."""
    rows = [run(0.5 + 0.01 * s, s, variant="baseline1") for s in range(n)]
    for s in range(n):
        if s in failing:
            rows.append(run(math.nan, s, status="FAILED", variant="a3m"))
        else:
            rows.append(run(0.5 + 0.01 * s + gain + 0.001 * s, s, variant="a3m"))
    return pd.DataFrame(rows)


def test_a_verdict_that_failures_could_change_is_inconclusive_failures():
    runs = with_failures(n=12, failing=(9, 10, 11))
    row = compare(runs, {"variant": "baseline1"}).iloc[0]
    assert row["n_pairs"] == 9 and row["n_failed"] == 3
    assert row["ci_low"] > 0  # better on the finished pairs ...
    assert row["verdict"] == "inconclusive (failures)"  # ... but not if the failures lost
    assert "better on the finished pairs" in row["verdict_note"]
    assert row["worst_case_low"] <= 0
    assert "seed 9: candidate run" in row["failed"]


def test_a_verdict_that_survives_its_failures_stands():
    rows = [run(0.5, s, variant="baseline1") for s in range(12)]
    rows += [run(0.6 + 0.001 * s, s, variant="a3m") for s in range(11)]
    rows.append(run(math.nan, 11, status="FAILED", variant="a3m"))
    row = compare(pd.DataFrame(rows), {"variant": "baseline1"}).iloc[0]
    assert row["verdict"] == "better" and row["n_failed"] == 1


def test_equivalent_when_the_whole_interval_is_inside_the_margin():
    rows = [run(0.5 + 0.01 * s, s, variant="baseline1") for s in range(10)]
    rows += [run(0.5 + 0.01 * s + 0.0005 * (-1) ** s, s, variant="a3m") for s in range(10)]
    runs = pd.DataFrame(rows)
    plain = compare(runs, {"variant": "baseline1"}).iloc[0]
    assert plain["verdict"] == "inconclusive"
    row = compare(runs, {"variant": "baseline1"}, inference=Inference(min_effect=0.01)).iloc[0]
    assert row["verdict"] == "equivalent"
    assert -0.01 < row["ci_low"] and row["ci_high"] < 0.01


def test_a_lower_is_better_metric_flips_the_verdict_and_p_ahead():
    rows = [run(0.5, s, variant="baseline1") for s in range(8)]
    rows += [run(0.6 + 0.001 * s, s, variant="a3m") for s in range(8)]
    runs = pd.DataFrame(rows).rename(columns={"metrics.score": "metrics.train_loss"})
    row = compare(runs, {"variant": "baseline1"}, metric="train_loss").iloc[0]
    assert row["verdict"] == "worse" and row["p_ahead"] == 0.0


def test_a_sequential_study_decides_at_its_looks_level():
    rows = [run(0.5 + 0.01 * s, s, variant="baseline1") for s in range(8)]
    rows += [run(0.52 + 0.01 * s + 0.001 * s, s, variant="a3m") for s in range(8)]
    runs = pd.DataFrame(rows)
    design = SequentialDesign((3, 5, 8, 12))
    row = compare(runs, {"variant": "baseline1"}, inference=Inference(design=design)).iloc[0]
    assert row["ci_level"] == pytest.approx(design.level(8)) and row["ci_level"] < 0.05
    assert row["verdict"] == "better"  # p = 2/256 is below the look's level


def test_runs_of_different_code_are_named_in_the_comparison():
    runs = pd.DataFrame([run(0.5, s, variant="baseline1") for s in range(3)]
                        + [run(0.6, s, variant="a3m") for s in range(3)])  # fmt: skip
    runs["tags.a3m.code"] = ["aaa"] * 3 + ["aaa", "bbb", "bbb"]
    row = compare(runs, {"variant": "baseline1"}).iloc[0]
    assert row["code_versions"] == "aaa;bbb"
    assert any("mixed code versions: aaa;bbb" in line for line in format_verdicts(
        compare(runs, {"variant": "baseline1"})))  # fmt: skip


def test_the_leaderboard_counts_each_configurations_failures_with_an_exact_interval():
    rows = [run(0.5, s, variant="baseline1") for s in range(4)]
    rows += [run(0.6, s, variant="a3m") for s in range(2)]
    rows += [run(math.nan, 2, status="FAILED", variant="a3m"),
             run(0.3, 3, stopped="true", variant="a3m")]  # fmt: skip
    by = leaderboard(pd.DataFrame(rows)).set_index("variant")
    assert (by.loc["a3m", "n_failed"], by.loc["a3m", "n_stopped"]) == (1, 1)
    assert by.loc["a3m", "fail_rate"] == 0.5 and by.loc["baseline1", "fail_rate"] == 0
    # Clopper-Pearson for 2 of 4: (0.0676, 0.9324)
    assert (by.loc["a3m", "fail_ci_low"], by.loc["a3m", "fail_ci_high"]) == pytest.approx(
        (0.0676, 0.9324), abs=1e-4)  # fmt: skip


def test_pairs_that_ran_in_different_environments_are_named():
    runs = pd.DataFrame([run(0.5, s, variant="baseline1") for s in range(2)]
                        + [run(0.6, s, variant="a3m") for s in range(2)])  # fmt: skip
    runs["tags.a3m.env.gpu"] = ["cpu", "cpu", "cpu", "NVIDIA H100"]
    row = compare(runs, {"variant": "baseline1"}).iloc[0]
    assert row["environment"] == "seed 1: a3m.env.gpu: NVIDIA H100 vs cpu"
