"""The paired statistics: hand cases, scipy as the reference, and simulated studies that show
the error rates the verdicts promise (A/A false positives, Holm's family-wise rate, power)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats as sps

from a3m import stats


def test_hand_case_three_seeds():
    r = stats.paired_stats([0.01, 0.02, 0.03])
    assert r.n == 3 and r.mean == pytest.approx(0.02) and r.sd == pytest.approx(0.01)
    half = 4.302652729911275 * 0.01 / math.sqrt(3)  # t(0.975, 2) * sd / sqrt(n)
    assert (r.ci_low, r.ci_high) == pytest.approx((0.02 - half, 0.02 + half))
    assert r.ci_method == "t"
    # 8 sign patterns; only all-plus and all-minus are as extreme: p = 2 / 8.
    assert r.p_value == pytest.approx(0.25)
    assert r.prob_better == 1.0


def test_ties_and_degenerate_cases():
    r = stats.paired_stats([0.02, -0.01, 0.0, 0.0])
    assert r.prob_better == pytest.approx((1 + 0.5 * 2) / 4)
    same = stats.paired_stats([0.0, 0.0, 0.0])
    assert same.p_value == 1.0 and same.ci_method.startswith("exact")
    assert (same.ci_low, same.ci_high) == (0.0, 0.0)
    one = stats.paired_stats([0.3])
    assert math.isnan(one.ci_low) and one.ci_method.startswith("none") and one.p_value == 1.0
    empty = stats.paired_stats([])
    assert empty.n == 0 and math.isnan(empty.p_value)
    with pytest.raises(ValueError, match="finite"):
        stats.paired_stats([0.1, float("nan")])


def test_sign_flip_p_equals_brute_force_enumeration():
    d = np.array([0.031, -0.004, 0.012, 0.027, 0.009, -0.011, 0.02, 0.015])
    observed = abs(d.mean())
    flips = [np.array(s) for s in itertools.product((1, -1), repeat=len(d))]
    extreme = sum(abs((s * d).mean()) >= observed - 1e-12 for s in flips)
    assert stats.sign_flip_p(d) == pytest.approx(extreme / len(flips))


def test_bca_interval_is_scipys_from_ten_pairs():
    d = np.random.default_rng(3).normal(0.01, 0.02, size=12)
    r = stats.paired_stats(d, seed=7)
    ref = sps.bootstrap(
        (d,), np.mean, method="BCa", n_resamples=9_999, rng=np.random.default_rng(7)
    ).confidence_interval
    assert r.ci_method == "BCa bootstrap"
    assert (r.ci_low, r.ci_high) == pytest.approx((ref.low, ref.high))
    # below BOOTSTRAP_MIN_PAIRS: Student t, as scipy computes it
    small = d[: stats.BOOTSTRAP_MIN_PAIRS - 1]
    t = sps.ttest_1samp(small, 0.0).confidence_interval(0.95)
    r = stats.paired_stats(small)
    assert r.ci_method == "t" and (r.ci_low, r.ci_high) == pytest.approx((t.low, t.high))


def test_holm_hand_case_and_nans():
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> monotone
    adjusted = stats.holm([0.01, 0.04, 0.03, 0.005])
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])
    with_nan = stats.holm([0.02, float("nan"), 0.6])
    assert with_nan[0] == pytest.approx(0.04) and math.isnan(with_nan[1])
    assert with_nan[2] == pytest.approx(0.6)
    assert stats.holm([0.9, 0.8]) == pytest.approx([1.0, 1.0])


def test_verdict_rules():
    assert stats.verdict(0.02, 0.01) == "better"
    assert stats.verdict(-0.02, 0.01) == "worse"
    assert stats.verdict(0.02, 0.2) == "no evidence"
    assert stats.verdict(0.02, float("nan")) == "no evidence"
    assert stats.verdict(-0.5, 0.01, higher_is_better=False) == "better"  # a loss went down


def test_fewest_pairs_that_can_decide():
    assert stats.min_pairs_to_decide(1) == 6  # 2/64 < 0.05 <= 2/32
    assert stats.min_pairs_to_decide(2) == 7  # Holm's first step doubles the p-value
    assert stats.min_pairs_to_decide(1, alpha=0.01) == 8
    # and the test really cannot go lower: 5 identical-sign pairs give p = 2/32
    assert stats.sign_flip_p([0.1, 0.2, 0.3, 0.4, 0.5]) == pytest.approx(0.0625)


def test_seeds_needed_by_hand():
    z = sps.norm.ppf(0.975) + sps.norm.ppf(0.8)  # 2.8016
    assert stats.seeds_needed(0.02, 0.01) == math.ceil((z * 2) ** 2) == 32
    assert stats.seeds_needed(0.001, 0.05) == 6  # never below the test's floor
    assert stats.seeds_needed(0.02, 0.0) == math.inf
    assert math.isnan(stats.seeds_needed(float("nan"), 0.01))


# -- simulated studies ------------------------------------------------------------------------
def _paired_study(rng, n, effect, noise="normal"):
    """Per-seed scores of a reference and a candidate sharing each seed's luck."""
    seed_luck = rng.normal(0.5, 0.05, size=n)  # what the seed does to both
    if noise == "normal":
        eps = rng.normal(0.0, 0.01, size=(2, n))
    else:  # heavy tails, still symmetric
        eps = 0.01 * rng.standard_t(2, size=(2, n))
    return seed_luck + eps[0], seed_luck + effect + eps[1]


@pytest.mark.parametrize("noise", ["normal", "heavy"])
def test_aa_false_positive_rate_is_at_most_alpha(noise):
    rng = np.random.default_rng(11)
    n_studies = 1500
    positives = 0
    for _ in range(n_studies):
        ref, cand = _paired_study(rng, 8, 0.0, noise)
        r = stats.paired_stats(cand - ref)
        positives += stats.verdict(r.mean, r.p_value) != "no evidence"
    rate = positives / n_studies
    # 3 standard errors above the nominal 5%: a test that is not level-alpha fails here
    assert rate <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / n_studies), rate


def test_holm_keeps_the_family_wise_rate_where_raw_p_values_do_not():
    rng = np.random.default_rng(5)
    n_studies, family = 800, 5
    any_raw = any_holm = 0
    for _ in range(n_studies):
        p = []
        for _ in range(family):
            ref, cand = _paired_study(rng, 8, 0.0)
            p.append(stats.sign_flip_p(cand - ref))
        any_raw += min(p) < 0.05
        any_holm += bool((stats.holm(p) < 0.05).any())
    se = math.sqrt(0.05 * 0.95 / n_studies)
    assert any_holm / n_studies <= 0.05 + 3 * se
    assert any_raw / n_studies > 0.12  # five uncorrected tests: about 1 - 0.95^5 = 0.23


def test_power_at_a_known_effect():
    # effect = 1.4 sd of the differences, 10 seeds: the paired t-test has ~95% power, the
    # sign-flip test about the same; the verdicts must find it and get its direction right.
    rng = np.random.default_rng(2)
    sd_diff = 0.01 * math.sqrt(2)
    found = {"better": 0, "worse": 0}
    for sign in (1, -1):
        for _ in range(300):
            ref, cand = _paired_study(rng, 10, sign * 1.4 * sd_diff)
            r = stats.paired_stats(cand - ref)
            v = stats.verdict(r.mean, r.p_value)
            found[v] = found.get(v, 0) + 1
    assert found["better"] / 300 > 0.85 and found["worse"] / 300 > 0.85
    assert found.get("no evidence", 0) < 0.15 * 600


def test_t_interval_covers_the_true_difference():
    rng = np.random.default_rng(8)
    cover = 0
    for _ in range(1000):
        ref, cand = _paired_study(rng, 5, 0.02)
        r = stats.paired_stats(cand - ref)
        cover += r.ci_low <= 0.02 <= r.ci_high
    assert 0.93 <= cover / 1000 <= 0.97
