"""Paired comparisons of a study's runs: counterparts, pairing by seed, what is left unpaired,
the leaderboard's verdict columns. Runs frames are built by hand in MLflow's layout."""

from __future__ import annotations

import math

import pandas as pd
import pytest

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
    assert row["verdict"] == "no evidence" and row["p_ahead"] == 1.0
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
    assert "seed 3: candidate only" in notes and "seed 2: reference only" in notes
    assert "seed 2: candidate run" in notes and "FAILED" in notes
    assert "seed 4: candidate run" in notes and "stopped early" in notes


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
    lines = format_verdicts(table)
    assert lines[0].startswith("paired verdicts against the reference (alpha=0.5 beta=0.5)")
    assert any("-3.00 points" in line for line in lines)


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


def test_best_reference_for_open_searches():
    rows = [run(0.5 + 0.1 * (v == "att2"), s, variant=v) for s in range(2) for v in ("a3m", "att2")]
    runs = pd.DataFrame(rows)
    assert configuration_key(runs) == ["params.variant"]
    assert best_reference(runs) == {"variant": "att2"}


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
