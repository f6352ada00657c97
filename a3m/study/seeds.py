"""Seeds on demand (``--seeds auto``): add seeds only where a paired verdict is still open.

A study starts every configuration on :data:`START_SEEDS` seeds, then, round by round, gives
more seeds to the configurations whose paired comparison against the reference is still
inconclusive (and to their counterparts at the reference, so the new seeds pair), until each is
decided (better, worse, or equivalent within ``--min-effect``) or has ``--max-seeds``. The seed
counts a configuration can reach are fixed in advance (:func:`seed_schedule`): they are the
looks of the study's group-sequential design (:mod:`a3m.sequential`), which spends alpha over
them so that looking after every round keeps the family-wise error rate at alpha.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from a3m import stats
from a3m.study.spec import DEFAULT_MAX_SEEDS
from a3m.study.tracking import canonical

START_SEEDS = 3
"""Seeds every configuration gets before any is looked at."""


def seed_schedule(max_seeds: int, start: int = START_SEEDS) -> list[int]:
    """The seed counts an auto study can stop at: ``start``, then about half as many again each
    round (at least 2 more), ending exactly at ``max_seeds``; e.g. 12 -> [3, 5, 8, 12]."""
    if max_seeds < start:
        raise ValueError(f"--max-seeds must be >= {start} (the first round), got {max_seeds}")
    counts = [start]
    while counts[-1] < max_seeds:
        counts.append(min(max_seeds, counts[-1] + max(2, math.ceil(counts[-1] / 2))))
    return counts


@dataclass(frozen=True)
class AutoSeeds:
    """The settings of ``--seeds auto`` (its equivalence margin is the study's
    :class:`a3m.sequential.Inference`'s, which every verdict reads)."""

    max_seeds: int = DEFAULT_MAX_SEEDS

    @property
    def schedule(self) -> list[int]:
        return seed_schedule(self.max_seeds)


def open_configurations(
    comparisons: pd.DataFrame, reference: Mapping[str, Any]
) -> list[dict[str, str]]:
    """The configurations (and their counterparts at the reference) that need more seeds after
    a look: each comparison still inconclusive (failures included: more seeds may settle it);
    better, worse and equivalent ones are settled. Values are canonical strings keyed by
    field, as in ``comparisons``' own columns."""
    if comparisons.empty:
        return []
    from a3m.study.compare import COMPARISON_COLUMNS

    key = [c for c in comparisons.columns if c not in COMPARISON_COLUMNS]
    reference = {k: canonical(v) for k, v in reference.items()}
    out: list[dict[str, str]] = []
    for row in comparisons.to_dict("records"):
        if row["verdict"] not in (stats.INCONCLUSIVE, stats.INCONCLUSIVE_FAILURES):
            continue
        config = {k: canonical(row[k]) for k in key}
        counterpart = {**config, **{k: v for k, v in reference.items() if k in config}}
        for values in (config, counterpart):
            if values not in out:
                out.append(values)
    return out


def matches(trial: Mapping[str, Any], configurations: Sequence[Mapping[str, str]]) -> bool:
    """Whether a trial's resolved settings are one of ``configurations`` (canonical values)."""
    return any(
        all(canonical(trial.get(k)) == v for k, v in config.items()) for config in configurations
    )
