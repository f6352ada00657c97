"""Paired comparisons over seeds: does a candidate beat a reference, by how much, how sure?

A seed fixes a run's initialisation, data order and augmentation, so two configurations run
on the same seed form a pair, and their per-seed differences carry the comparison. For a
vector of such differences (candidate - reference, one per seed):

- the mean difference and its 95% interval: a BCa bootstrap (``scipy.stats.bootstrap``) from
  :data:`BOOTSTRAP_MIN_PAIRS` pairs on, the Student t interval below that (a bootstrap of 3-9
  values has too few distinct resamples to be trusted); the interval says which it is;
- a two-sided sign-flip permutation p-value (``scipy.stats.permutation_test``, exact up to
  :data:`EXACT_UP_TO` pairs): under "no difference" each difference is as likely positive as
  negative;
- the share of seeds on which the candidate is ahead;
- across a family of comparisons, Holm's step-down correction, and a verdict: **better**,
  **worse** or **no evidence**.

A sign-flip test of n pairs cannot give a p-value below 2 / 2**n: with 3 seeds the smallest is
0.25, with 5 it is 0.0625. So fewer than 6 seeds can show a direction but never decide at
alpha = 0.05 (:func:`min_pairs_to_decide`); :func:`seeds_needed` estimates how many would.

Everything here is a pure function of numbers; :mod:`a3m.study.compare` pairs MLflow runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

ALPHA = 0.05
"""Family-wise error rate of the verdicts (after Holm)."""
CONFIDENCE = 0.95
BOOTSTRAP_MIN_PAIRS = 10
"""Fewest pairs for the BCa bootstrap interval; below it, the t interval."""
EXACT_UP_TO = 16
"""Pairs up to which the sign-flip test enumerates all 2**n sign patterns (65,536)."""
_RESAMPLES = 9_999
VERDICTS = ("better", "worse", "no evidence")


@dataclass(frozen=True)
class PairedStats:
    """The statistics of one vector of paired differences (candidate - reference).

    Attributes:
        n: number of pairs.
        mean: mean difference.
        sd: standard deviation of the differences (ddof=1; NaN for n < 2).
        ci_low, ci_high: the interval of the mean difference at :data:`CONFIDENCE`.
        ci_method: ``"BCa bootstrap"``, ``"t"``, ``"exact (identical differences)"`` or
            ``"none (fewer than 2 pairs)"``.
        p_value: two-sided sign-flip permutation p-value (NaN without pairs).
        prob_better: share of pairs with a positive difference (ties count one half).
    """

    n: int
    mean: float
    sd: float
    ci_low: float
    ci_high: float
    ci_method: str
    p_value: float
    prob_better: float


def paired_stats(
    differences: Sequence[float], *, confidence: float = CONFIDENCE, seed: int = 0
) -> PairedStats:
    """Mean, interval, sign-flip p-value and P(ahead) of paired differences.

    Args:
        differences: candidate - reference, one value per seed.
        confidence: level of the interval.
        seed: of the bootstrap and of the Monte Carlo permutations beyond :data:`EXACT_UP_TO`,
            so a report is reproducible.
    """
    d = np.asarray(differences, dtype=float)
    if d.ndim != 1 or not np.isfinite(d).all():
        raise ValueError(f"differences must be a 1-D vector of finite numbers, got {d!r}")
    n = len(d)
    if n == 0:
        nan = math.nan
        return PairedStats(0, nan, nan, nan, nan, "none (no pairs)", nan, nan)
    mean = float(d.mean())
    sd = float(d.std(ddof=1)) if n > 1 else math.nan
    low, high, method = difference_interval(d, confidence=confidence, seed=seed)
    ahead = float(((d > 0).sum() + 0.5 * (d == 0).sum()) / n)
    return PairedStats(n, mean, sd, low, high, method, sign_flip_p(d, seed=seed), ahead)


def difference_interval(
    differences: Sequence[float], *, confidence: float = CONFIDENCE, seed: int = 0
) -> tuple[float, float, str]:
    """``(low, high, method)`` for the mean of paired differences (see the module doc)."""
    d = np.asarray(differences, dtype=float)
    n = len(d)
    if n < 2:
        return math.nan, math.nan, "none (fewer than 2 pairs)"
    if np.all(d == d[0]):
        # No spread: every resample and every t interval collapses to the value itself.
        return float(d[0]), float(d[0]), "exact (identical differences)"
    if n >= BOOTSTRAP_MIN_PAIRS:
        res = stats.bootstrap(
            (d,), _mean, vectorized=True, n_resamples=_RESAMPLES, method="BCa",
            confidence_level=confidence, rng=np.random.default_rng(seed),
        )  # fmt: skip
        low, high = res.confidence_interval
        if np.isfinite(low) and np.isfinite(high):
            return float(low), float(high), "BCa bootstrap"
    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * d.std(ddof=1) / math.sqrt(n)
    return float(d.mean() - half), float(d.mean() + half), "t"


def sign_flip_p(differences: Sequence[float], *, seed: int = 0) -> float:
    """Two-sided p-value of "the differences are symmetric around 0" by flipping signs."""
    d = np.asarray(differences, dtype=float)
    if len(d) == 0:
        return math.nan
    if len(d) == 1 or not np.any(d):
        return 1.0  # one pair: +d and -d are equally extreme; all zero: nothing to flip
    res = stats.permutation_test(
        (d,), _mean, permutation_type="samples", vectorized=True, alternative="two-sided",
        n_resamples=2**EXACT_UP_TO if len(d) <= EXACT_UP_TO else _RESAMPLES,
        rng=np.random.default_rng(seed),
    )  # fmt: skip
    return float(min(1.0, res.pvalue))


def _mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis)


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error control); NaNs stay NaN and do not
    count in the family."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, math.nan)
    finite = np.flatnonzero(np.isfinite(p))
    m = len(finite)
    if m == 0:
        return out
    order = finite[np.argsort(p[finite], kind="stable")]
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out[order] = np.minimum(adjusted, 1.0)
    return out


def verdict(
    mean: float, p_adjusted: float, *, alpha: float = ALPHA, higher_is_better: bool = True
) -> str:
    """``"better"`` / ``"worse"`` when the adjusted p-value is below ``alpha`` (the sign of the
    mean difference decides which), else ``"no evidence"``."""
    if not (np.isfinite(p_adjusted) and p_adjusted < alpha and mean != 0):
        return "no evidence"
    return "better" if (mean > 0) == higher_is_better else "worse"


def min_pairs_to_decide(n_comparisons: int = 1, alpha: float = ALPHA) -> int:
    """Fewest pairs with which a sign-flip test can reach ``alpha`` after Holm's largest factor
    (``n_comparisons``): the smallest n with 2 / 2**n * n_comparisons < alpha."""
    n = 1
    while 2.0 / 2**n * max(1, n_comparisons) >= alpha:
        n += 1
    return n


def seeds_needed(
    sd: float,
    effect: float,
    *,
    alpha: float = ALPHA,
    power: float = 0.8,
    n_comparisons: int = 1,
) -> float:
    """About how many seeds a paired comparison needs to detect ``effect`` with ``power``, given
    the spread ``sd`` of the per-seed differences (normal approximation,
    n = ((z_{1-a/2} + z_power) sd / effect)^2, with a Bonferroni alpha for the family), and never
    fewer than :func:`min_pairs_to_decide`. ``inf`` for a zero effect, NaN for an unknown sd."""
    floor = min_pairs_to_decide(n_comparisons, alpha)
    if not np.isfinite(sd):
        return math.nan
    if effect == 0:
        return math.inf
    z = stats.norm.ppf(1 - alpha / (2 * max(1, n_comparisons))) + stats.norm.ppf(power)
    return float(max(floor, math.ceil((z * sd / abs(effect)) ** 2)))
