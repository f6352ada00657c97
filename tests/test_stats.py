"""The paired statistics: hand cases, brute-force enumeration as the reference, and the one
property every verdict must have (it holds exactly when its printed interval says so).

Error rates, coverage and power are shown by simulation in benchmarks/bench_verdicts.py, not
asserted from one run here."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from a3m import sequential, stats


def brute_p(d: np.ndarray) -> float:
    """Two-sided sign-flip p-value by listing all 2**n sign patterns (the definition)."""
    flips = np.array(list(itertools.product((1, -1), repeat=len(d))))
    means = (flips * d).mean(axis=1)
    observed = d.mean()
    upper = np.mean(means >= observed - 1e-12)
    lower = np.mean(means <= observed + 1e-12)
    return min(1.0, 2 * min(upper, lower))


def test_hand_case_three_seeds():
    r = stats.paired_stats([0.01, 0.02, 0.03])
    assert r.n == 3 and r.mean == pytest.approx(0.02) and r.sd == pytest.approx(0.01)
    # 8 sign patterns; only all-plus and all-minus are as extreme: p = 2 / 8.
    assert r.p_value == pytest.approx(0.25)
    assert r.prob_ahead == 1.0
    # and 3 pairs cannot reject any shift at 0.05: the interval is the whole line
    assert stats.sign_flip_interval([0.01, 0.02, 0.03], 0.05) == (-math.inf, math.inf)


def test_two_equal_differences_are_not_a_certainty():
    """The review's case: two seeds with equal differences used to print [+0.0, +0.0]."""
    assert stats.sign_flip_interval([0.0, 0.0], 0.05) == (-math.inf, math.inf)
    assert stats.sign_flip_interval([0.01, 0.01], 0.05) == (-math.inf, math.inf)


def test_the_reviews_two_cases_now_agree_with_their_intervals():
    skewed = [10, 1, 1, 1, 1, 1, 1, 1]  # p = 2/256: decided, and its interval says so
    low, high = stats.sign_flip_interval(skewed, 0.05)
    assert stats.sign_flip_p(skewed) == pytest.approx(2 / 256) and low > 0
    mixed = [3, -1, 2, 2, -2, 2, 1, 2, 3, -1, 2, 1]  # p just above 0.05: 0 inside
    low, high = stats.sign_flip_interval(mixed, 0.05)
    assert stats.sign_flip_p(mixed) > 0.05 and low <= 0 <= high


def test_interval_bounds_by_hand():
    """n = 5 at level 0.25: c = 0.25 * 32 / 2 - 1 = 3, so the bounds are the 3rd smallest and
    3rd largest of the 31 subset means."""
    d = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    means = sorted(
        np.mean(s) for r in range(1, 6) for s in itertools.combinations(d, r)
    )  # fmt: skip
    assert stats.sign_flip_interval(d, 0.25) == pytest.approx((means[2], means[-3]))


@pytest.mark.parametrize("n", [1, 2, 4, 7, 10])
def test_sign_flip_p_equals_brute_force_enumeration(n):
    rng = np.random.default_rng(n)
    d = np.round(rng.normal(0.01, 0.02, size=n), 3)  # rounding makes ties
    assert stats.sign_flip_p(d) == pytest.approx(brute_p(d))


def test_interval_is_the_set_of_shifts_the_test_keeps():
    """Inverting by brute force: a grid of shifts, each tested by enumeration."""
    d = np.array([0.031, -0.004, 0.012, 0.027, 0.009, -0.011, 0.02])
    low, high = stats.sign_flip_interval(d, 0.1)
    for delta in np.linspace(-0.03, 0.05, 161):
        kept = brute_p(d - delta) >= 0.1
        if low + 1e-9 < delta < high - 1e-9:
            assert kept, delta
        elif delta < low - 1e-9 or delta > high + 1e-9:
            assert not kept, delta


def random_differences(rng: np.random.Generator) -> np.ndarray:
    """2-20 pairs of several shapes, with ties and zeros."""
    n = int(rng.integers(2, 21))
    kind = rng.integers(4)
    if kind == 0:
        d = rng.normal(rng.normal(0, 1), 1, n)
    elif kind == 1:
        d = rng.standard_t(3, n) + rng.normal(0, 1)
    elif kind == 2:
        d = rng.integers(-3, 4, n).astype(float)  # many ties and zeros
    else:
        d = rng.exponential(1, n) - rng.uniform(0, 2)
    return d * 0.01


def test_property_a_verdict_holds_exactly_when_its_interval_says_so():
    """Random difference vectors (2-20 pairs, ties and zeros included), random families and
    margins: better/worse exactly when the printed interval excludes 0, equivalent exactly
    when it lies inside +-min_effect, and the same as the p-value against the level."""
    rng = np.random.default_rng(22)
    for _ in range(60):
        family = [random_differences(rng) for _ in range(int(rng.integers(1, 6)))]
        alpha = float(rng.choice([0.05, 0.1, 0.2]))
        min_effect = float(rng.choice([0.005, 0.01, 0.03]))
        p = [stats.sign_flip_p(d) for d in family]
        levels = stats.holm_levels(p, alpha)
        holm = stats.holm(p)
        for d, p_i, level, p_holm, standard in zip(
            family, p, levels.level, levels.p_holm, holm, strict=True
        ):
            low, high = stats.sign_flip_interval(d, level)
            verdict = stats.decide(low, high, min_effect=min_effect)
            excludes_zero = low > 0 or high < 0
            assert (verdict in ("better", "worse")) == excludes_zero
            assert (verdict == "better") == (low > 0)
            assert (verdict == "equivalent") == (
                not excludes_zero and -min_effect < low and high < min_effect
            )
            # the same decision as the test: p below its level, Holm-adjusted p below alpha
            assert excludes_zero == (p_i < level) == (p_holm < alpha)
            assert p_holm == pytest.approx(standard)  # one look: Holm's own adjusted p
            assert level <= alpha


def test_holm_levels_by_hand():
    """p = (0.001, 0.02, 0.03) at 0.05: step 1 at 0.05/3 rejects, step 2 at 0.05/2 rejects,
    step 3 at 0.05 rejects; with (0.001, 0.04, 0.03), step 2 (0.03 vs 0.025) fails, and the
    last two intervals are at 0.025."""
    levels = stats.holm_levels([0.001, 0.02, 0.03], 0.05).level
    assert levels == pytest.approx([0.05 / 3, 0.025, 0.05])
    levels = stats.holm_levels([0.001, 0.04, 0.03], 0.05).level
    assert levels == pytest.approx([0.05 / 3, 0.025, 0.025])


def test_holm_hand_case_and_nans():
    adjusted = stats.holm([0.01, 0.04, np.nan, 0.03])
    assert adjusted[0] == pytest.approx(0.03) and np.isnan(adjusted[2])
    assert adjusted[3] == pytest.approx(0.06) and adjusted[1] == pytest.approx(0.06)


def test_decide_respects_direction_and_margins():
    assert stats.decide(0.01, 0.02) == "better"
    assert stats.decide(0.01, 0.02, higher_is_better=False) == "worse"
    assert stats.decide(-0.02, -0.01, higher_is_better=False) == "better"
    assert stats.decide(-0.004, 0.003, min_effect=0.005) == "equivalent"
    assert stats.decide(-0.004, 0.006, min_effect=0.005) == "inconclusive"
    assert stats.decide(-math.inf, math.inf, min_effect=1.0) == "inconclusive"
    assert stats.higher_is_better("rank1") and not stats.higher_is_better("train_loss")


def test_prob_ahead_follows_the_metrics_direction():
    d = [-0.1, -0.2, 0.1, 0.0]
    assert stats.paired_stats(d).prob_ahead == pytest.approx(1.5 / 4)
    assert stats.paired_stats(d, higher_is_better=False).prob_ahead == pytest.approx(2.5 / 4)


def test_fewest_pairs_that_can_decide():
    assert stats.min_pairs_to_decide() == 6  # 2/64 < 0.05 <= 2/32
    assert stats.min_pairs_to_decide(6) == 8  # Holm's first step: 6 * 2/256 < 0.05


def test_failure_rate_is_clopper_pearson():
    rate, low, high = stats.failure_rate(0, 8)
    assert rate == 0 and low == 0 and high == pytest.approx(1 - 0.025 ** (1 / 8))
    assert math.isnan(stats.failure_rate(0, 0)[0])


def test_seeds_needed_simulates_the_exact_test():
    """A 1-SD effect at 0.05: the normal approximation said 8; the sign-flip test needs ~10.
    The range widens with fewer seeds behind the spread."""
    few = stats.seeds_needed(1.0, 3, 1.0, 0.05)
    many = stats.seeds_needed(1.0, 30, 1.0, 0.05)
    assert 9 <= few.estimate <= 11 and few.estimate == many.estimate
    assert few.low <= many.low <= few.estimate <= many.high <= few.high
    assert math.isnan(stats.seeds_needed(math.nan, 1, 1.0, 0.05).estimate)
    assert "seeds" in str(few)


def test_sequential_boundaries_spend_nothing_where_a_look_cannot_decide():
    looks = (3, 5, 8, 12)
    one = sequential.boundaries(looks, 0.05)
    assert one[0] == one[1] == 0.0  # 3 and 5 pairs: smallest p 0.25, 0.0625
    assert 0 < one[2] < one[3] < 0.05  # O'Brien-Fleming: little early, most at the end
    # five comparisons: Holm's first step at 0.01 cannot use 8 pairs (smallest p 0.0078 is
    # above what the spending allows there), so only the last look decides
    assert sequential.deciding_looks(looks, 5) == [12]
    design = sequential.SequentialDesign(looks)
    assert design.level(8) == one[2] and design.level(10) == one[2] and design.level(2) == 0
    assert sequential.SequentialDesign.from_json(design.to_json()) == design


def test_inference_round_trips_and_checks_itself():
    inference = sequential.Inference(0.05, sequential.SequentialDesign((3, 5, 8)), 0.01)
    assert sequential.Inference.from_json(inference.to_json()) == inference
    for bad in ({"alpha": 7}, {"alpha": -0.5}, {"min_effect": math.nan}):
        with pytest.raises(ValueError):
            sequential.Inference(**bad)
