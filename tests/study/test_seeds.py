"""Seeds on demand: the schedule, the alpha split over its looks (checked by simulating
optional stopping), and which configurations a look leaves open."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from a3m import stats
from a3m.study.seeds import alpha_per_look, matches, open_configurations, seed_schedule
from a3m.study.tracking import canonical


def test_schedule_grows_by_half_and_ends_at_the_maximum():
    assert seed_schedule(12) == [3, 5, 8, 12]
    assert seed_schedule(10) == [3, 5, 8, 10]
    assert seed_schedule(3) == [3]
    assert seed_schedule(20) == [3, 5, 8, 12, 18, 20]
    with pytest.raises(ValueError, match="max-seeds must be >= 3"):
        seed_schedule(2)


def test_alpha_is_split_over_the_looks_that_can_decide():
    # one comparison: n=3 and 5 cannot reach 0.025 (2/2^5 = 0.0625), so two looks count: 8, 12
    assert alpha_per_look([3, 5, 8, 12], 1) == (0.025, 2)
    # by hand for 5 comparisons: 0.05 needs n >= 8 (2/2^8 * 5 < 0.05), two such looks; 0.025
    # needs n >= 9 (2/2^9 * 5 = 0.0195), one look (12) <= 2
    assert stats.min_pairs_to_decide(5, 0.025) == 9
    assert alpha_per_look([3, 5, 8, 12], 5) == (0.025, 2)
    assert alpha_per_look([3, 5, 6], 1) == (0.05, 1)  # no look can decide; nothing to split


def _sign_flip_p(signs: np.ndarray, d: np.ndarray) -> float:
    """Exact two-sided sign-flip p-value by enumeration (the test's own oracle)."""
    return float(np.mean(np.abs(signs @ d) >= abs(d.sum()) - 1e-12))


def test_split_alpha_keeps_the_false_positive_rate_under_optional_stopping():
    """No true difference, a look after each round, stop at the first "significant" one: with
    the split alpha the false-positive rate stays under 5%; at 0.05 per look it does not."""
    schedule = seed_schedule(12)
    alpha, _ = alpha_per_look(schedule, 1)
    signs = {n: np.array(list(itertools.product((1, -1), repeat=n))) for n in schedule}
    d = np.random.default_rng(0).normal(size=(3000, schedule[-1]))
    p = np.array([[_sign_flip_p(signs[n], row[:n]) for n in schedule] for row in d])
    assert _sign_flip_p(signs[8], d[0, :8]) == pytest.approx(stats.sign_flip_p(d[0, :8]))
    split = np.mean((p < alpha).any(axis=1))
    naive = np.mean((p < stats.ALPHA).any(axis=1))
    assert split <= 0.05, split
    assert naive > 0.06, naive  # what the split is for


def comparisons(rows: list[dict]) -> pd.DataFrame:
    defaults = {"reference": "variant=baseline1", "metric": "score", "n_pairs": 3}
    return pd.DataFrame([{**defaults, **r} for r in rows])


def test_open_configurations_and_their_counterparts():
    table = comparisons([
        {"variant": "a3m", "d": "16", "verdict": "no evidence", "ci_low": -0.05, "ci_high": 0.04},
        {"variant": "att1", "d": "16", "verdict": "better", "ci_low": 0.01, "ci_high": 0.04},
        {"variant": "att2", "d": "16", "verdict": "no evidence", "ci_low": -0.004,
         "ci_high": 0.003},
    ])  # fmt: skip
    reference = {"variant": "baseline1"}
    d = canonical("16")  # values come back canonical, as trial identities use them
    got = open_configurations(table, reference)
    assert got == [
        {"variant": "a3m", "d": d},
        {"variant": "baseline1", "d": d},  # the counterpart gets the new seeds too
        {"variant": "att2", "d": d},
    ]
    # within +-0.5 points: settled as no difference that matters
    settled = open_configurations(table, reference, min_effect=0.005)
    assert settled == [{"variant": "a3m", "d": d}, {"variant": "baseline1", "d": d}]
    assert open_configurations(pd.DataFrame(), reference) == []


def test_matches_compares_canonical_values():
    configs = [{"variant": "a3m", "alpha": "0.5"}]
    assert matches({"variant": "a3m", "alpha": 0.50, "seed": 4}, configs)
    assert not matches({"variant": "a3m", "alpha": 0.3}, configs)


def test_the_study_alpha_is_read_back_from_its_parent_run(tmp_path):
    from mlflow import MlflowClient

    from a3m.study.runs import study_alpha

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri)
    exp = client.create_experiment("auto")
    assert study_alpha("auto", uri) == stats.ALPHA  # no auto study yet
    client.create_run(exp, tags={"a3m.study": "auto", "a3m.verdict_alpha": "0.025"})
    assert study_alpha("auto", uri) == 0.025
    assert study_alpha("missing", uri) == stats.ALPHA
