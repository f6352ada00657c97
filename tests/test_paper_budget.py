"""benchmarks/paper_budget.py: the GPU-hours arithmetic against hand computations, the trials
from the studies' own specs, and the shipped H100 rates file (complete, and each extrapolated
row following its stated rule). No timing is asserted."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import paper_budget as pb  # noqa: E402
from step_rates import StepCounts, StepTimes, extrapolate, step_key  # noqa: E402

from a3m.study import StudySpec  # noqa: E402

CUB_B1 = "cub resnet50 baseline1 d512 224x224 b32"
CUB_A3M = "cub resnet50 a3m d512 224x224 b32"


def write_table(path: Path, **changes) -> pb.RateTable:
    """A made-up rates file: Baseline-1 at 1,000 training images/s (32 / 0.032 s), A3M at 800."""
    data = {
        "rows": {
            CUB_B1: {"train_s": 0.032, "eval_s": 0.010, "train_gpu_s": 0.008,
                     "eval_gpu_s": 0.0025},
            CUB_A3M: {"train_s": 0.040, "eval_s": 0.0128, "train_gpu_s": 0.010,
                      "eval_gpu_s": 0.004},
        },
        "overheads": {"trial_s": 10.0, "epoch_s": 0.5, "metric_s": {"classification": 0.2},
                      "final_metric_s": {}},
        "loader": {"cpus_per_gpu": 16, "jpeg_per_worker": 1000.0, "cache_per_worker": None},
        "speedups": {"trials_per_gpu": {"2": 1.5, "4": None}, "reduce-overhead": 2.0,
                     "compile_s": 60.0},
    }  # fmt: skip
    data.update(changes)
    path.write_text(json.dumps(data))
    return pb.load_rates(path)


TINY = StudySpec(
    name="tiny",
    description="made up",
    base={"dataset": "cub", "backbone": "resnet50"},
    grid={"variant": ["baseline1", "a3m"]},
)


def hours(trials, table, plan):
    return sum(pb.trial_seconds(t, table, plan) for t in trials) / 3600


def test_budget_matches_a_hand_computation(tmp_path):
    table = write_table(tmp_path / "rates.json")
    trials = pb.study_trials(TINY, seeds=3)
    assert [step_key(t.config) for t in trials] == [CUB_B1] * 3 + [CUB_A3M] * 3
    # CUB: 5,994 training images -> 187 batches of 32 = 5,984 per epoch; 5,794 test images
    # evaluated at each of the 60 epochs. Baseline-1, one eager trial per GPU:
    #   10 + 60 * (5984/1000 + 0.5) + 60 * (5794/3200 + 0.2) = 519.6775 s
    # A3M: 10 + 60 * (5984/800 + 0.5) + 60 * (5794/2500 + 0.2) = 639.856 s
    assert pb.trial_seconds(trials[0], table, pb.Plan()) == pytest.approx(519.6775)
    assert pb.trial_seconds(trials[3], table, pb.Plan()) == pytest.approx(639.856)
    assert hours(trials, table, pb.Plan()) == pytest.approx(3 * (519.6775 + 639.856) / 3600)
    # Evaluating at the last epoch only: 10 + 389.04 + 1 * (5794/3200 + 0.2) = 401.050625 s
    last = pb.Plan(eval_every=60)
    assert pb.trial_seconds(trials[0], table, last) == pytest.approx(401.050625)


def test_plan_speed_ups_are_capped_by_the_gpu(tmp_path):
    table = write_table(tmp_path / "rates.json")
    trials = pb.study_trials(TINY, seeds=3)
    plan = pb.Plan(trials_per_gpu=2, compile_mode="reduce-overhead")
    # Baseline-1, 2 trials per GPU (x1.5) under CUDA graphs (x2, training only):
    #   train: min(1000 * 1.5 * 2, 32/0.008 = 4000) = 3000 images/s for the two -> 1500 each;
    #   eval: min(3200 * 1.5, 12800) = 4800 -> 2400 each; loader 7 workers * 1000: no limit.
    #   wall = 10 + 60 (compile) + 60 * (5984/1500 + 0.5) + 60 * (5794/2400 + 0.2) = 496.21 s,
    #   GPU-seconds = 496.21 / 2
    # A3M: train min(800 * 3, 3200) = 2400 -> 1200; eval min(2500 * 1.5, 8000) = 3750 -> 1875
    #   wall = 70 + 60 * (5984/1200 + 0.5) + 60 * (5794/1875 + 0.2) = 596.608 s
    assert pb.trial_seconds(trials[0], table, plan) == pytest.approx(496.21 / 2)
    assert pb.trial_seconds(trials[3], table, plan) == pytest.approx(596.608 / 2)
    # No speed-up goes past the GPU time: with x10 for 2 trials, Baseline-1 trains at
    # 32 / 0.008 = 4000 images/s for the two (2000 each) and evaluates at 12800 (6400 each):
    #   10 + 60 * (5984/2000 + 0.5) + 60 * (5794/6400 + 0.2) = 285.83875 s, / 2 trials
    # and no trial past its loader: 4 trials get 16/4 - 1 = 3 workers of 100 images/s each:
    #   10 + 60 * (5984/300 + 0.5) + 60 * (5794/300 + 0.2) = 2407.6 s, / 4 trials
    fast = write_table(
        tmp_path / "fast.json",
        speedups={"trials_per_gpu": {"2": 10.0, "4": 10.0}, "reduce-overhead": None},
    )
    assert pb.trial_seconds(trials[0], fast, pb.Plan(2)) == pytest.approx(285.83875 / 2)
    slow_loader = pb.replace(fast, loader={"cpus_per_gpu": 16, "jpeg_per_worker": 100.0})
    assert pb.trial_seconds(trials[0], slow_loader, pb.Plan(4)) == pytest.approx(2407.6 / 4)


def test_a_plan_nobody_measured_is_pending_not_guessed(tmp_path):
    table = write_table(tmp_path / "rates.json")
    trial = pb.study_trials(TINY, seeds=1)[0]
    plan = pb.Plan(trials_per_gpu=4, input="cache")
    assert pb.missing_factors(table, plan) == ["4 trials per GPU", "cache loader"]
    with pytest.raises(ValueError, match="no speed-up measured"):
        pb.trial_seconds(trial, table, plan)


def test_a_missing_configuration_names_itself_and_the_file(tmp_path):
    table = write_table(tmp_path / "rates.json")
    spec = StudySpec(name="x", description="", base={"dataset": "market1501", "variant": "a3m"})
    trial = pb.study_trials(spec, seeds=1)[0]
    with pytest.raises(KeyError, match=r"rates\.json.*'market1501 resnet50 a3m d512 448x224 b32'"):
        pb.trial_seconds(trial, table, pb.Plan())


def test_work_comes_from_the_registry_and_the_trainer_loop():
    market = pb.trial_work(pb.resolve({"dataset": "market1501"}))
    assert (market.epochs, market.train_images, market.eval_images) == (60, 12928, 3368 + 15913)
    assert [market.evaluations(e) for e in (1, 7, 10, 60)] == [60, 9, 6, 1]
    # A search's held-out tenth: round(599.4) = 599 images leave training for evaluation.
    held = pb.trial_work(pb.resolve({"dataset": "cub", "val_fraction": 0.1}))
    assert (held.train_images, held.eval_images) == ((5994 - 599) // 32 * 32, 5794 + 599)


@pytest.fixture(scope="module")
def all_trials():
    return {name: pb.study_trials(spec, 3) for name, spec in pb.load_specs().items()}


def test_trials_come_from_the_study_specs(all_trials):
    assert len(all_trials["ablation_cub"]) == 6 * 3  # the six variants, 3 seeds
    assert len(all_trials["alpha_beta_cub"]) == 19 * 3  # alpha over 10 values, beta over 9 more
    assert len(all_trials["controls"]) == 3 * 8  # its own 8 seeds, more than 3
    optuna = all_trials["optuna_search"]
    assert len(optuna) == 3 * 4 and sum(t.weight for t in optuna) == pytest.approx(12)
    assert {t.config.val_fraction for t in optuna} == {0.1}
    retrieval = {step_key(t.config) for t in all_trials["retrieval_cub"]}
    assert retrieval == {"cub_retrieval googlenet baseline1 d384 224x224 b32",
                         "cub_retrieval googlenet a3m d384 224x224 b32"}  # fmt: skip
    assert {t.config.input_size for t in all_trials["ablation_compcars"]} == {(448, 448)}


def test_shipped_rates_cover_every_study_and_follow_their_rule(all_trials):
    table = pb.load_rates(pb.DEFAULT_RATES)
    for trials in all_trials.values():
        for t in trials:
            table.times(step_key(t.config))  # raises if a configuration has no rates
    rows = table.rows
    for key, row in rows.items():
        if "train_s" in row["measured"]:
            assert "2026-11-25" in row["source"], key  # says where it was recorded
        if set(row["measured"]) == set(pb.TIME_FIELDS):
            continue
        launch, gpu = rows[row["launch_anchor"]], rows[row["gpu_anchor"]]
        per_op = launch["train_s"] / launch["counts"]["train_ops"]
        per_gflop = gpu["train_gpu_s"] / gpu["counts"]["train_gflop"]
        c = row["counts"]
        expected = {
            "train_gpu_s": c["train_gflop"] * per_gflop,
            "eval_gpu_s": c["eval_gflop"] * per_gflop,
            "train_s": max(c["train_ops"] * per_op, c["train_gflop"] * per_gflop),
            "eval_s": max(c["eval_ops"] * per_op, c["eval_gflop"] * per_gflop),
        }
        for field, value in expected.items():
            if field not in row["measured"]:
                assert row[field] == pytest.approx(value), (key, field)


def test_extrapolate_by_hand():
    anchor = StepTimes(train_s=0.03, eval_s=0.0, train_gpu_s=0.008, eval_gpu_s=0.0)
    anchor_counts = StepCounts(train_ops=600, train_gflop=800.0, eval_ops=0, eval_gflop=0.0)
    counts = StepCounts(train_ops=300, train_gflop=3200.0, eval_ops=100, eval_gflop=200.0)
    got = extrapolate(counts, anchor, anchor_counts)
    # launch: 0.03 / 600 per op; GPU: 0.008 / 800 per GFLOP; the step is the larger
    assert got.train_s == pytest.approx(max(0.015, 0.032))
    assert got.eval_s == pytest.approx(max(0.005, 0.002))
    assert (got.train_gpu_s, got.eval_gpu_s) == pytest.approx((0.032, 0.002))


def test_options_from_the_gpu_benchmarks(tmp_path):
    table = write_table(tmp_path / "rates.json")
    shared = tmp_path / "shared.json"
    aggregate = {"1": 1000, "2": 1600, "4": 2200}
    shared.write_text(json.dumps({"kind": "shared_gpu", "aggregate_images_per_s": aggregate}))
    graphs = tmp_path / "graphs.json"
    graphs.write_text(json.dumps({"kind": "gpu_throughput", "compile_s": {"a3m": 75.0}, "rows": [
        {"mode": "eager", "candidate": "a3m", "images_per_s": 1000.0},
        {"mode": "reduce-overhead", "candidate": "a3m", "images_per_s": 2500.0}]}))  # fmt: skip
    merged = pb.merge_options(table, [str(shared), str(graphs)])
    assert merged.speedup("trials_per_gpu", 2) == pytest.approx(1.6)
    assert merged.speedup("trials_per_gpu", 4) == pytest.approx(2.2)
    assert merged.speedup("reduce-overhead") == pytest.approx(2.5)
    assert merged.speedups["compile_s"] == 75.0


def test_smoke_test_prints_the_budget_and_the_plans(capsys):
    args = pb.get_args_parser().parse_args(["--smoke-test"])
    assert isinstance(args, argparse.Namespace)
    pb.main(args)
    out = capsys.readouterr().out
    assert "smoke test (CPU, tiny; not a measurement)" in out
    assert "**paper's tables and figures**" in out and "**all studies**" in out
    assert "best: " in out and "pending: " in out
