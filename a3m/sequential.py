"""The group-sequential design of ``--seeds auto``: when a comparison may stop, at what level.

An auto study looks at each open comparison at fixed seed counts (the *looks*, e.g. 3, 5, 8
and 12 seeds) and stops it once it is decided. Testing every look at alpha would make a false
verdict likelier than alpha (optional stopping), and splitting alpha evenly over the looks
(Bonferroni) wastes power. So the design spends alpha over the looks with Lan and DeMets'
O'Brien-Fleming-type function, ``alpha(t) = 2 - 2 Phi(z_{1 - alpha/2} / sqrt(t))`` at the
information fraction ``t = seeds / max seeds``: almost nothing early, nearly all of alpha at
the last look.

The boundaries are calibrated for the exact sign-flip test itself (:mod:`a3m.stats`), not for a
normal statistic: under the null of the looks taken together (the same simulated differences
seen at 3, 5, 8, ... pairs), each look's nominal level is the largest p-value threshold that
keeps the chance of any rejection so far at or below the spending function. A look whose
sign-flip test cannot reach any level that fits (3 or 5 pairs, or 8 pairs once Holm divides
alpha between several comparisons) gets level 0 and spends nothing: its share moves on to the
next look. The interval printed at the look a comparison stopped at is taken at that look's
nominal level, a repeated confidence interval: over all looks together it covers with at least
1 - alpha.

Across comparisons, Holm's procedure asks, at each step, for the design at ``alpha / j``
(:meth:`SequentialDesign.level`): every intersection of hypotheses gets its own spending at its
Bonferroni share, the closed-testing form of a group-sequential Holm procedure.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from a3m.stats import ALPHA, sign_flip_p_many

SPENDING = "obrien-fleming"
NULL_STUDIES = 40_000
"""Simulated null studies that calibrate the boundaries (seeded: every process agrees)."""
EXACT_FLIPS_UP_TO = 14
"""Looks up to this many pairs enumerate every sign pattern in the calibration; beyond, a fixed
sample of :data:`SAMPLED_FLIPS` patterns."""
SAMPLED_FLIPS = 4096


def obrien_fleming_spending(t: float | np.ndarray, alpha: float = ALPHA) -> np.ndarray:
    """Lan-DeMets' O'Brien-Fleming-type spending function: the alpha spent by information
    fraction ``t`` (0 at t = 0, alpha at t = 1)."""
    t = np.clip(np.asarray(t, dtype=float), 1e-12, 1.0)
    return 2 - 2 * sps.norm.cdf(sps.norm.ppf(1 - alpha / 2) / np.sqrt(t))


@functools.lru_cache(maxsize=16)
def _null_p_values(looks: tuple[int, ...]) -> np.ndarray:
    """(looks, studies) sign-flip p-values of the same simulated null studies at every look."""
    rng = np.random.default_rng(20181022)
    d = rng.standard_normal((NULL_STUDIES, looks[-1]))
    return np.stack([sign_flip_p_many(d[:, :n], rng, EXACT_FLIPS_UP_TO, SAMPLED_FLIPS)
                     for n in looks])  # fmt: skip


@functools.lru_cache(maxsize=256)
def boundaries(looks: tuple[int, ...], alpha: float = ALPHA) -> tuple[float, ...]:
    """Each look's nominal two-sided level for the sign-flip test (0 where the look cannot
    decide), calibrated so the simulated chance of any rejection by look l stays at most the
    O'Brien-Fleming-type spending at l."""
    p = _null_p_values(tuple(looks))
    targets = obrien_fleming_spending(np.asarray(looks) / looks[-1], alpha)
    rejected = np.zeros(p.shape[1], dtype=bool)
    levels = []
    for look, target in zip(p, targets, strict=True):
        values = np.unique(look)
        # the share rejected so far if this look rejects at p <= v, for every candidate v
        new = np.searchsorted(np.sort(look[~rejected]), values, side="right")
        total = (rejected.sum() + new) / len(look)
        fits = values[total <= target + 1e-12]
        if len(fits) == 0 or fits[-1] >= 1.0:
            levels.append(0.0)
            continue
        v = float(fits[-1])
        levels.append(math.nextafter(v, math.inf))  # p < level exactly when p <= v
        rejected |= look <= v
    return tuple(levels)


@dataclass(frozen=True)
class SequentialDesign:
    """Looks (seed counts) and the family alpha of a ``--seeds auto`` study."""

    looks: tuple[int, ...]
    alpha: float = ALPHA
    spending: str = SPENDING

    def look_of(self, seeds: int) -> int:
        """The look a comparison with ``seeds`` seeds tried is at: the largest look not above it
        (a comparison between looks, e.g. after a failed seed, is tested as the earlier look);
        the first look for fewer seeds than that."""
        earlier = [n for n in self.looks if n <= seeds]
        return earlier[-1] if earlier else self.looks[0]

    def level(self, seeds: int, family_alpha: float | None = None) -> float:
        """The nominal level at the look of ``seeds`` when ``family_alpha`` (default: the
        design's alpha; Holm's steps pass alpha / j) is spent over the looks."""
        bounds = boundaries(self.looks, self.alpha if family_alpha is None else family_alpha)
        return bounds[self.looks.index(self.look_of(seeds))]

    def to_json(self) -> str:
        return json.dumps({"looks": list(self.looks), "alpha": self.alpha,
                           "spending": self.spending})  # fmt: skip

    @classmethod
    def from_json(cls, text: str) -> SequentialDesign:
        raw = json.loads(text)
        if raw.get("spending", SPENDING) != SPENDING:
            raise ValueError(f"unknown alpha spending {raw['spending']!r}; known: {SPENDING}")
        return cls(tuple(int(n) for n in raw["looks"]), float(raw["alpha"]))


def deciding_looks(looks: Sequence[int], n_comparisons: int, alpha: float = ALPHA) -> list[int]:
    """The looks at which a family of ``n_comparisons`` can decide at all (Holm's first step,
    ``alpha / n_comparisons``); the others spend nothing."""
    bounds = boundaries(tuple(looks), alpha / max(1, n_comparisons))
    return [n for n, level in zip(looks, bounds, strict=True) if level > 0]


@dataclass(frozen=True)
class Inference:
    """How a study's verdicts are decided: the family-wise ``alpha``, the sequential ``design``
    of ``--seeds auto`` (None: one look), and ``min_effect``, the difference (in the metric's
    units) below which two configurations are called equivalent (None: never)."""

    alpha: float = ALPHA
    design: SequentialDesign | None = None
    min_effect: float | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.alpha) and 0 < self.alpha < 1):
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        if self.min_effect is not None and not (
            math.isfinite(self.min_effect) and self.min_effect > 0
        ):
            raise ValueError(f"min_effect must be a positive number, got {self.min_effect}")

    def describe(self) -> str:
        """One phrase: ``"Holm at alpha 0.05, equivalence within +-1 point"``."""
        text = f"Holm across these comparisons at alpha {self.alpha:g}"
        if self.design is not None:
            looks = ", ".join(map(str, self.design.looks))
            text += f", spent over looks at {looks} seeds (O'Brien-Fleming)"
        if self.min_effect is not None:
            text += f", equivalent within +-{100 * self.min_effect:g} points"
        return text

    def to_json(self) -> str:
        return json.dumps({
            "alpha": self.alpha, "min_effect": self.min_effect,
            "design": json.loads(self.design.to_json()) if self.design else None,
        })  # fmt: skip

    @classmethod
    def from_json(cls, text: str) -> Inference:
        raw = json.loads(text)
        design = raw.get("design")
        return cls(
            alpha=float(raw.get("alpha", ALPHA)),
            design=SequentialDesign.from_json(json.dumps(design)) if design else None,
            min_effect=raw.get("min_effect"),
        )
