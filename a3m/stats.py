"""Paired comparisons over seeds: does a candidate beat a reference, by how much, how sure?

A seed fixes a run's initialisation, data order and augmentation, so two configurations run
on the same seed form a pair, and their per-seed differences carry the comparison. Every
verdict here comes from **one inference**: the exact sign-flip permutation test of the mean
difference (under "no difference", each difference is as likely positive as negative), and the
interval printed beside a verdict is that same test inverted at the same level: the set of
shifts ``delta`` for which the shifted differences ``d - delta`` are not rejected. So a
comparison is *better* exactly when its whole interval is above zero, by construction.

Inverting the test has a closed form. Flipping the signs of a set ``F`` of differences makes
the mean at least as large as observed exactly when the mean of ``d`` over ``F`` is at most
``delta``, so the one-sided p-values are counts of the ``2**n - 1`` subset means
(:func:`flip_means`), and the interval's bounds are two of them (order statistics), the way
the Hodges-Lehmann interval reads off Walsh averages. Up to :data:`EXACT_UP_TO` pairs every
subset is enumerated; beyond, a fixed seeded sample of them stands in.

With ``n`` pairs no two-sided p-value is below ``2 / 2**n``: 3 seeds can never decide at
0.05, and their interval is the whole line, which is what 3 pairs can honestly say
(:func:`min_pairs_to_decide`).

Across a family of comparisons, Holm's step-down procedure decides; each comparison's interval
is taken at the level its step tested it at (:func:`holm_levels`), so interval and verdict
still agree. Four verdicts (:func:`decide`): **better** / **worse** (the interval excludes 0),
**equivalent** (the interval lies inside +-``min_effect``), **inconclusive**.

Everything here is a pure function of numbers; :mod:`a3m.study.compare` pairs MLflow runs and
:mod:`a3m.sequential` designs the looks of ``--seeds auto``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

ALPHA = 0.05
"""Family-wise error rate of the verdicts."""
EXACT_UP_TO = 20
"""Pairs up to which every one of the 2**n sign patterns is enumerated (about a million)."""
SAMPLED_PATTERNS = 2**16
"""Sign patterns sampled (seeded) beyond :data:`EXACT_UP_TO` pairs."""
BETTER, WORSE, EQUIVALENT, INCONCLUSIVE = "better", "worse", "equivalent", "inconclusive"
INCONCLUSIVE_FAILURES = "inconclusive (failures)"
VERDICTS = (BETTER, WORSE, EQUIVALENT, INCONCLUSIVE, INCONCLUSIVE_FAILURES)
LOWER_IS_BETTER_SUFFIXES = ("loss", "error", "_err")
"""Metric names ending so are better lower; every other metric of ours is better higher."""


def higher_is_better(metric: str) -> bool:
    """A metric's direction from its name: losses and errors are better lower."""
    return not metric.lower().endswith(LOWER_IS_BETTER_SUFFIXES)


# -- the one test ---------------------------------------------------------------------------------
def flip_means(differences: Sequence[float], *, seed: int = 0) -> np.ndarray:
    """Sorted means of the differences over every non-empty subset (the sets whose signs a
    pattern flips): ``2**n - 1`` values up to :data:`EXACT_UP_TO` pairs, else the subsets of
    :data:`SAMPLED_PATTERNS` seeded random patterns. Values within rounding of 0 are 0, so a
    difference vector whose subsets balance exactly is not decided by float noise."""
    d = np.asarray(differences, dtype=float)
    n = len(d)
    if n <= EXACT_UP_TO:
        sums, sizes = np.zeros(1), np.zeros(1, dtype=np.int64)
        for value in d:  # doubling: the subsets without d_i, then with it
            sums = np.concatenate([sums, sums + value])
            sizes = np.concatenate([sizes, sizes + 1])
        sums, sizes = sums[1:], sizes[1:]
    else:
        mask = np.random.default_rng(seed).random((SAMPLED_PATTERNS, n)) < 0.5
        sizes = mask.sum(axis=1)
        mask, sizes = mask[sizes > 0], sizes[sizes > 0]
        sums = mask @ d
    means = sums / sizes
    means[np.abs(means) <= 1e-12 * max(1.0, float(np.abs(d).max(initial=0.0)))] = 0.0
    return np.sort(means)


def _k_for(level: float, patterns: int) -> int:
    """How many subset means lie outside the interval on each side at a two-sided ``level``:
    the null is kept at ``delta`` while 2 (1 + #{means <= delta}) / patterns >= level."""
    return math.ceil(level * patterns / 2 - 1 - 1e-9)


def sign_flip_p(differences: Sequence[float], *, seed: int = 0) -> float:
    """Two-sided sign-flip p-value of "the mean difference is 0" (exact up to
    :data:`EXACT_UP_TO` pairs): twice the smaller one-sided share of sign patterns whose mean
    is at least as extreme as the observed one (the observed pattern included), at most 1."""
    d = np.asarray(differences, dtype=float)
    if len(d) == 0:
        return math.nan
    means = flip_means(d, seed=seed)
    patterns = len(means) + 1
    at_most = np.searchsorted(means, 0.0, side="right")  # flips that keep mean >= observed
    at_least = len(means) - np.searchsorted(means, 0.0, side="left")
    return float(min(1.0, 2 * (1 + min(at_most, at_least)) / patterns))


def sign_flip_interval(
    differences: Sequence[float], level: float = ALPHA, *, seed: int = 0
) -> tuple[float, float]:
    """The mean shifts ``delta`` that a two-sided sign-flip test at ``level`` keeps (its p-value
    for ``d - delta`` at least ``level``): ``(low, high)``, infinite where no shift can be
    rejected (too few pairs for that level). Contains 0 exactly when ``sign_flip_p >= level``."""
    d = np.asarray(differences, dtype=float)
    if len(d) == 0:
        return -math.inf, math.inf
    means = flip_means(d, seed=seed)
    k = _k_for(level, len(means) + 1)
    if k <= 0:
        return -math.inf, math.inf
    return float(means[k - 1]), float(means[-k])


# -- one comparison -------------------------------------------------------------------------------
@dataclass(frozen=True)
class PairedStats:
    """The statistics of one vector of paired differences (candidate - reference).

    Attributes:
        n: number of pairs.
        mean: mean difference.
        sd: standard deviation of the differences (ddof=1; NaN for n < 2).
        p_value: two-sided sign-flip p-value (NaN without pairs).
        prob_ahead: share of pairs on which the candidate is ahead in the metric's direction
            (ties count one half).
    """

    n: int
    mean: float
    sd: float
    p_value: float
    prob_ahead: float


def paired_stats(
    differences: Sequence[float], *, higher_is_better: bool = True, seed: int = 0
) -> PairedStats:
    """Mean, spread, sign-flip p-value and P(ahead) of paired differences (the interval, which
    depends on the level a family decides at, is :func:`sign_flip_interval`)."""
    d = np.asarray(differences, dtype=float)
    if d.ndim != 1 or not np.isfinite(d).all():
        raise ValueError(f"differences must be a 1-D vector of finite numbers, got {d!r}")
    n = len(d)
    if n == 0:
        return PairedStats(0, math.nan, math.nan, math.nan, math.nan)
    ahead = (d > 0) if higher_is_better else (d < 0)
    return PairedStats(
        n=n,
        mean=float(d.mean()),
        sd=float(d.std(ddof=1)) if n > 1 else math.nan,
        p_value=sign_flip_p(d, seed=seed),
        prob_ahead=float((ahead.sum() + 0.5 * (d == 0).sum()) / n),
    )


def decide(
    low: float, high: float, *, higher_is_better: bool = True, min_effect: float | None = None
) -> str:
    """The verdict an interval of the difference gives: better / worse when it excludes 0 (the
    metric's direction says which), equivalent when it lies inside +-``min_effect``, else
    inconclusive. ``low``/``high`` must come from the test the verdict is reported at."""
    if low > 0 or high < 0:
        return BETTER if (low > 0) == higher_is_better else WORSE
    if min_effect is not None and min_effect > 0 and -min_effect < low and high < min_effect:
        return EQUIVALENT
    return INCONCLUSIVE


# -- a family ---------------------------------------------------------------------------------
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


LevelOf = Callable[[int, float], float]
"""``level_of(i, family_alpha)``: the nominal level at which comparison ``i`` is tested when a
family of error rate ``family_alpha`` is spent on it (``family_alpha`` itself for a study with
one look; a sequential design's boundary at the comparison's look otherwise)."""


def _single_look(i: int, family_alpha: float) -> float:
    return family_alpha


@dataclass(frozen=True)
class FamilyLevels:
    """Holm's step-down decisions of a family and the level each comparison's interval is at.

    Attributes:
        level: per comparison, the two-sided level of its interval (NaN where p is NaN).
        p_holm: per comparison, Holm's adjusted p-value on the family's scale: the comparison
            is rejected exactly when it is below the family alpha.
        size: the number of comparisons in the family.
    """

    level: np.ndarray
    p_holm: np.ndarray
    size: int


def holm_levels(
    p_values: Sequence[float], alpha: float = ALPHA, level_of: LevelOf = _single_look
) -> FamilyLevels:
    """Holm's procedure, with the level each interval must be taken at so that it agrees with
    the decision.

    Comparisons are ordered by p-value; step ``j`` (of ``m``) rejects while every step so far
    had ``p < level_of(i, alpha / (m - j + 1))``. The first step that fails (``k``) stops the
    procedure. A rejected comparison's interval is at its own step's level, which excludes 0;
    every other comparison's at step ``k``'s level (at most its own p-value), which keeps 0.
    Every level is at most ``alpha``, so each interval is at least as wide as the unadjusted
    one at ``alpha``."""
    p = np.asarray(p_values, dtype=float)
    level = np.full(p.shape, math.nan)
    scaled = np.full(p.shape, math.nan)
    finite = np.flatnonzero(np.isfinite(p))
    m = len(finite)
    order = finite[np.argsort(p[finite], kind="stable")]
    stopped_at = m  # index (0-based step) of the first step that fails; m = none fails
    for step, i in enumerate(order):
        step_level = level_of(int(i), alpha / (m - step))
        scaled[i] = p[i] * alpha / step_level if step_level > 0 else math.inf
        if stopped_at == m and p[i] < step_level:
            level[i] = step_level
        else:
            stopped_at = min(stopped_at, step)
            level[i] = min(level_of(int(i), alpha / (m - stopped_at)), p[i])
    p_holm = np.full(p.shape, math.nan)
    if m:
        p_holm[order] = np.minimum(np.maximum.accumulate(scaled[order]), 1.0)
    return FamilyLevels(level=level, p_holm=p_holm, size=m)


def min_pairs_to_decide(n_comparisons: int = 1, alpha: float = ALPHA) -> int:
    """Fewest pairs with which a sign-flip test can reach ``alpha`` after Holm's largest factor
    (``n_comparisons``): the smallest n with 2 / 2**n * n_comparisons < alpha."""
    if not alpha > 0:
        raise ValueError(f"alpha must be above 0, got {alpha}")
    n = 1
    while 2.0 / 2**n * max(1, n_comparisons) >= alpha:
        n += 1
    return n


# -- failures ------------------------------------------------------------------------------------
def failure_rate(
    failed: int, attempted: int, confidence: float = 0.95
) -> tuple[float, float, float]:
    """Share of runs that failed, with its exact (Clopper-Pearson) interval; NaNs without
    runs."""
    if attempted <= 0:
        return math.nan, math.nan, math.nan
    ci = stats.binomtest(int(failed), int(attempted)).proportion_ci(confidence, method="exact")
    return failed / attempted, float(ci.low), float(ci.high)


# -- how many seeds ------------------------------------------------------------------------------
POWER = 0.8
MAX_SEEDS_SEARCHED = 200
_POWER_REPS = 400
_POWER_SAMPLED_PATTERNS = 2048


def sign_flip_power(n: int, effect_sd: float, level: float, *, reps: int = _POWER_REPS) -> float:
    """Simulated power of the two-sided sign-flip test at ``level`` with ``n`` normal pairs whose
    mean is ``effect_sd`` standard deviations (seeded: the same answer every call). The exact
    test up to 12 pairs; beyond, each simulated study's p-value from a fixed sample of sign
    patterns."""
    return _power(n, round(abs(effect_sd), 3), level, reps)


@functools.lru_cache(maxsize=4096)
def _power(n: int, effect_sd: float, level: float, reps: int) -> float:
    rng = np.random.default_rng(n * 7919 + 1)
    d = rng.standard_normal((reps, n)) + effect_sd
    p = sign_flip_p_many(d, rng, exact_up_to=12, sampled=_POWER_SAMPLED_PATTERNS)
    return float((p < level).mean())


def sign_flip_p_many(
    differences: np.ndarray, rng: np.random.Generator, exact_up_to: int, sampled: int
) -> np.ndarray:
    """Two-sided sign-flip p-values of many simulated studies at once (rows of
    ``differences``): exact up to ``exact_up_to`` pairs, else from one shared sample of
    ``sampled`` sign patterns drawn from ``rng`` (the observed pattern one of them)."""
    d = np.atleast_2d(np.asarray(differences, dtype=float))
    n = d.shape[1]
    if n <= exact_up_to:
        signs = 1 - 2 * ((np.arange(2**n)[:, None] >> np.arange(n)) & 1)
    else:
        signs = np.where(rng.random((sampled, n)) < 0.5, -1.0, 1.0)
        signs[0] = 1.0  # the observed pattern is one of them
    out = np.empty(len(d))
    chunk = max(1, 2**22 // len(signs))
    for start in range(0, len(d), chunk):
        rows = d[start : start + chunk]
        flipped = rows @ signs.T.astype(float)
        observed = rows.sum(axis=1, keepdims=True)
        tol = 1e-9 * np.abs(rows).sum(axis=1, keepdims=True)
        upper = (flipped >= observed - tol).mean(axis=1)
        lower = (flipped <= observed + tol).mean(axis=1)
        out[start : start + chunk] = np.minimum(1.0, 2 * np.minimum(upper, lower))
    return out


def seeds_for_power(effect_sd: float, level: float, power: float = POWER) -> float:
    """Fewest pairs at which the sign-flip test at ``level`` reaches ``power`` for an effect of
    ``effect_sd`` standard deviations of the differences (simulated, :func:`sign_flip_power`);
    ``inf`` beyond :data:`MAX_SEEDS_SEARCHED` or for no effect. The search starts at the normal
    approximation's answer, which the exact test needs a few more pairs than."""
    if not np.isfinite(effect_sd) or effect_sd == 0:
        return math.inf
    effect_sd = float(f"{abs(effect_sd):.2g}")  # 2 significant digits: what a spread supports
    z = stats.norm.ppf(1 - level / 2) + stats.norm.ppf(power)
    guess = math.ceil((z / effect_sd) ** 2)
    n = max(min_pairs_to_decide(1, level), guess)
    if n > MAX_SEEDS_SEARCHED:
        return math.inf
    while sign_flip_power(n, effect_sd, level) < power:
        n += 1
        if n > MAX_SEEDS_SEARCHED:
            return math.inf
    while n > min_pairs_to_decide(1, level) and sign_flip_power(n - 1, effect_sd, level) >= power:
        n -= 1
    return float(n)


@dataclass(frozen=True)
class SeedsNeeded:
    """Seeds a comparison needs: at the estimated spread, and at the ends of that estimate's
    80% interval (the spread of 3 seeds is itself uncertain). ``inf`` means more than
    :data:`MAX_SEEDS_SEARCHED`; NaN means no spread to go on."""

    estimate: float
    low: float
    high: float

    def __str__(self) -> str:
        def show(x: float) -> str:
            return f">{MAX_SEEDS_SEARCHED}" if math.isinf(x) else f"{x:.0f}"

        if math.isnan(self.estimate):
            return "unknown (too few pairs to estimate the spread)"
        return f"~{show(self.estimate)} seeds ({show(self.low)}-{show(self.high)})"


def seeds_needed(
    sd: float, n: int, effect: float, level: float, power: float = POWER
) -> SeedsNeeded:
    """How many seeds the sign-flip test at ``level`` needs to find ``effect`` with ``power``,
    given the spread ``sd`` of ``n`` observed differences, by simulating the test itself
    (:func:`seeds_for_power`); the range uses the spread's 80% chi-square interval."""
    if not (np.isfinite(sd) and n >= 2 and sd > 0):
        if n >= 2 and sd == 0 and effect != 0:  # no spread seen: the floor decides
            floor = float(min_pairs_to_decide(1, level))
            return SeedsNeeded(floor, floor, math.inf)
        return SeedsNeeded(math.nan, math.nan, math.nan)
    chi_low, chi_high = stats.chi2.ppf([0.9, 0.1], n - 1)
    sd_low, sd_high = sd * math.sqrt((n - 1) / chi_low), sd * math.sqrt((n - 1) / chi_high)
    return SeedsNeeded(
        seeds_for_power(effect / sd, level, power),
        seeds_for_power(effect / sd_low, level, power),
        seeds_for_power(effect / sd_high, level, power),
    )
