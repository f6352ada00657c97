"""The intervals the report's figures draw: a mean over seeds with its 95% confidence interval,
in percent.

Figs. 5 and 8 show proportions: accuracies, rank-k, mAP, Recall@K, NMI, all in [0, 1]. A Student
t interval of their mean is symmetric and runs past 0 or 100% near a bound (seeds at 97, 99
and 100% give 98.7 +- 3.8), and cutting it there only hides the wrong shape. Their interval is
the t interval of the seeds' angles ``asin(sqrt(p))``, the variance-stabilising scale of a
proportion, mapped back (:func:`proportion_interval`): inside [0, 1] by construction,
shorter towards a bound it is near, about the t interval's width in the middle, and defined at
0 and 1 (where log-odds are not). A Wilson interval would be for a count of successes in n
trials; here the unit is a seed, whose score is not one trial. A metric with a value outside
[0, 1] (a loss) keeps the t interval of its mean.

Fig. 7's bands keep the t interval of the mean (:func:`mean_ci`), cut to [0, 100].
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from a3m.study.leaderboard import ci95

PERCENT = 100.0
HALF_PI = math.pi / 2


def proportion_interval(values: Sequence[float] | pd.Series) -> tuple[float, float]:
    """95% interval (low, high) of the mean of ``values`` (fractions in [0, 1], one per seed):
    the Student t interval of their ``asin(sqrt(p))``, each end kept in [0, pi/2] and mapped
    back by ``sin(.)**2``. NaN for fewer than two values; the mean's t interval when a value
    lies outside [0, 1]."""
    v = pd.Series(values, dtype=float).dropna().to_numpy()
    if len(v) < 2:
        return math.nan, math.nan
    if v.min() < 0 or v.max() > 1:
        half = ci95(pd.Series(v))
        return float(v.mean() - half), float(v.mean() + half)
    angles = np.arcsin(np.sqrt(v))
    half = stats.t.ppf(0.975, len(v) - 1) * angles.std(ddof=1) / math.sqrt(len(v))
    low, high = (min(max(a, 0.0), HALF_PI) for a in (angles.mean() - half, angles.mean() + half))
    return math.sin(low) ** 2, math.sin(high) ** 2


def proportion_stats(values: pd.Series | None) -> tuple[float, tuple[float, float], int]:
    """Mean and :func:`proportion_interval` in percent, and the number of runs with a value
    (``values`` None: a metric no run logged)."""
    v = pd.Series(dtype=float) if values is None else values.dropna().astype(float)
    if v.empty:
        return math.nan, (math.nan, math.nan), 0
    low, high = proportion_interval(v)
    return float(v.mean() * PERCENT), (low * PERCENT, high * PERCENT), len(v)


def interval_bars(intervals: Sequence[tuple[float, float]], means: Sequence[float]) -> dict | None:
    """Plotly error bars from each point's (low, high) interval around its mean; a side the
    mean lies beyond is drawn as none. None when no point has an interval (one seed each): no
    empty bars."""
    if not any(np.isfinite(low) for low, _ in intervals):
        return None
    up, down = [], []
    for (low, high), mean in zip(intervals, means, strict=True):
        finite = np.isfinite(low) and np.isfinite(high)
        up.append(max(0.0, high - mean) if finite else None)
        down.append(max(0.0, mean - low) if finite else None)
    return {"type": "data", "symmetric": False, "array": up, "arrayminus": down}


def mean_ci(values: pd.Series) -> tuple[float, float, int]:
    """Mean and 95% CI half-width (Student t) in percent, and the number of runs with a value:
    Fig. 7's points."""
    v = values.dropna().astype(float)
    if v.empty:
        return math.nan, math.nan, 0
    return float(v.mean() * PERCENT), ci95(v) * PERCENT, len(v)


def error_bars(cis: Sequence[float], means: Sequence[float]) -> dict | None:
    """Plotly error bars of percentages from CI half-widths, cut to [0, 100] (a mean of
    proportions cannot lie outside it); None when no point has a CI (one seed each)."""
    if not any(np.isfinite(cis)):
        return None
    up = [min(c, PERCENT - m) if np.isfinite(c) else None for c, m in zip(cis, means, strict=True)]
    down = [min(c, m) if np.isfinite(c) else None for c, m in zip(cis, means, strict=True)]
    return {"type": "data", "symmetric": False, "array": up, "arrayminus": down}
