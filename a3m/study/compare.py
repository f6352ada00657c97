"""Paired verdicts from a study's MLflow runs: each configuration against the study's reference.

A configuration is the values of the settings that vary across the study's runs (the seed and
run-environment fields excluded, as in the leaderboard). Its *counterpart* is the same
configuration with the reference's fields put in: in a backbone x variant grid with the
reference ``variant=baseline1``, (resnet18, a3m) is compared with (resnet18, baseline1). Runs of
a configuration and of its counterpart on the same seed form a pair (a seed fixes
initialisation, data order and augmentation); :mod:`a3m.stats` turns the per-seed differences
of the final-epoch metric into a mean, an interval, a sign-flip p-value and, after Holm's
correction across the study's comparisons, a verdict.

Only runs that FINISHED their whole budget count (a run stopped early by ASHA is not at its
final epoch); a seed present on one side only, or whose run failed, is named in ``unpaired``,
never silently dropped. When one configuration has several finished runs of one seed (a study
run twice into one experiment), the latest is used and the others are named.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from a3m import stats
from a3m.study.runs import configuration_key
from a3m.study.tracking import canonical

STOPPED_EARLY_COLUMN = "tags.a3m.stopped_early"
COMPARISON_COLUMNS = (
    "reference",
    "metric",
    "n_pairs",
    "seeds",
    "differences",
    "mean_diff",
    "sd_diff",
    "ci_low",
    "ci_high",
    "ci_method",
    "p_value",
    "p_holm",
    "p_ahead",
    "verdict",
    "seeds_needed",
    "unpaired",
    "candidate_runs",
    "reference_runs",
)
"""The columns :func:`compare` adds after the configuration's own values."""


def parse_reference(items: Sequence[str]) -> dict[str, str]:
    """``["variant=baseline1", "d=512"]`` -> ``{"variant": "baseline1", "d": "512"}``."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--reference expects FIELD=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def describe(values: Mapping[str, Any]) -> str:
    """``{"alpha": 0.5, "beta": 0.5}`` -> ``"alpha=0.5 beta=0.5"``."""
    return " ".join(f"{k}={v}" for k, v in values.items()) or "(all runs)"


def comparable(runs: pd.DataFrame, metric: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split runs into those a comparison may use (FINISHED, not stopped early, with the
    metric) and the others."""
    col = f"metrics.{metric}"
    ok = runs["status"].eq("FINISHED") & (runs[col].notna() if col in runs else False)
    if STOPPED_EARLY_COLUMN in runs:
        ok &= ~runs[STOPPED_EARLY_COLUMN].astype(str).str.lower().eq("true")
    return runs[ok], runs[~ok]


def compare(
    runs: pd.DataFrame,
    reference: Mapping[str, Any],
    *,
    metric: str = "score",
    alpha: float = stats.ALPHA,
    effect: float | None = None,
) -> pd.DataFrame:
    """Every configuration of a study against its counterpart at the reference.

    Args:
        runs: the study's trial runs (:func:`a3m.study.runs.runs_frame`).
        reference: FIELD -> value of the reference configuration (the other varying fields
            are the candidate's own).
        metric: the final-epoch metric compared (all of ours are higher-is-better, except
            losses).
        alpha: family-wise error rate of the verdicts (Holm across the rows).
        effect: the difference (in the metric's units) that ``seeds_needed`` is computed
            for; default: the observed mean difference.

    Returns:
        One row per configuration that differs from its counterpart: its varying values, then
        :data:`COMPARISON_COLUMNS`. The reference configurations themselves are not rows.

    Raises:
        ValueError: the reference names a field no run has, or a value no run has.
    """
    key = configuration_key(runs)
    reference = {k: canonical(v) for k, v in reference.items()}
    _check_reference(runs, reference)
    usable, unusable = comparable(runs, metric)
    groups = _seed_values(usable, key, metric)
    unusable_by_config = _unusable_by_config(unusable, key)
    rows = []
    for config in _configurations(runs, key):
        counterpart = {**config, **{k: v for k, v in reference.items() if k in config}}
        if counterpart == config:
            continue
        cand = groups.get(_frozen(config), {})
        ref = groups.get(_frozen(counterpart), {})
        seeds = sorted(set(cand) & set(ref))
        diffs = [cand[s][0] - ref[s][0] for s in seeds]
        result = stats.paired_stats(diffs)
        rows.append(
            {
                **config,
                "reference": describe({k: counterpart[k] for k in reference if k in config}),
                "metric": metric,
                "n_pairs": result.n,
                "seeds": ",".join(map(str, seeds)),
                "differences": ";".join(f"{d:+.4f}" for d in diffs),
                "mean_diff": result.mean,
                "ci_low": result.ci_low,
                "ci_high": result.ci_high,
                "ci_method": result.ci_method,
                "p_value": result.p_value,
                "p_ahead": result.prob_better,
                "sd_diff": result.sd,
                "unpaired": _unpaired(config, counterpart, cand, ref, unusable_by_config),
                "candidate_runs": ";".join(cand[s][1] for s in seeds),
                "reference_runs": ";".join(ref[s][1] for s in seeds),
            }
        )
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table["p_holm"] = stats.holm(table["p_value"].to_numpy())
    higher = not metric.endswith("loss")
    table["verdict"] = [
        stats.verdict(m, p, alpha=alpha, higher_is_better=higher)
        for m, p in zip(table["mean_diff"], table["p_holm"], strict=True)
    ]
    family = int(table["p_value"].notna().sum())
    table["seeds_needed"] = [
        stats.seeds_needed(sd, effect if effect is not None else m, alpha=alpha,
                           n_comparisons=family) if v == "no evidence" else np.nan
        for sd, m, v in zip(table["sd_diff"], table["mean_diff"], table["verdict"], strict=True)
    ]  # fmt: skip
    columns = [c for c in table.columns if c not in COMPARISON_COLUMNS]
    return table[columns + list(COMPARISON_COLUMNS)]


def best_reference(runs: pd.DataFrame, metric: str = "score") -> dict[str, str]:
    """The configuration with the highest mean ``metric``: the reference of an open search,
    which declares none. Picked on ``val_score`` (the held-out part of the training split)
    when the runs logged it, never on the split the verdicts then report if it can be helped;
    still chosen after seeing the runs, so verdicts against it are optimistic for the
    reference: say so where it is used."""
    if "metrics.val_score" in runs and runs["metrics.val_score"].notna().any():
        metric = "val_score"
    key = configuration_key(runs)
    usable, _ = comparable(runs, metric)
    if usable.empty:
        raise ValueError(f"no finished run has the metric {metric!r}: no reference to pick")
    means = usable.groupby(key, dropna=False)[f"metrics.{metric}"].mean()
    best = means.idxmax()
    best = best if isinstance(best, tuple) else (best,)
    return {k.removeprefix("params."): canonical(v) for k, v in zip(key, best, strict=True)}


def format_verdicts(comparisons: pd.DataFrame) -> list[str]:
    """A heading and one line per comparison: the difference in points, its interval, the
    Holm-adjusted p-value, how often the candidate was ahead, the verdict."""
    first = comparisons.iloc[0]
    lines = [
        f"paired verdicts against the reference ({first['reference']}), {first['metric']} at "
        "the final epoch, Holm-corrected across these comparisons:"
    ]
    key = [c for c in comparisons.columns if c not in COMPARISON_COLUMNS]
    for _, row in comparisons.iterrows():
        ci = f"[{100 * row['ci_low']:+.1f}, {100 * row['ci_high']:+.1f}]"
        extra = ""
        if row["verdict"] == "no evidence" and np.isfinite(row["seeds_needed"]):
            extra = f", ~{row['seeds_needed']:.0f} seeds to decide"
        if row["unpaired"]:
            extra += f"; unpaired: {row['unpaired']}"
        lines.append(
            f"  {describe({k: row[k] for k in key})}: {100 * row['mean_diff']:+.2f} points, "
            f"95% CI {ci} ({row['ci_method']}), p(Holm) {row['p_holm']:.3g}, ahead on "
            f"{row['p_ahead']:.0%} of {row['n_pairs']} seeds -> {row['verdict'].upper()}{extra}"
        )
    return lines


# -- helpers ----------------------------------------------------------------------------------
def _frozen(config: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(config.items()))


def _config_keys(runs: pd.DataFrame, key: list[str]) -> list[tuple[tuple[str, str], ...]]:
    """Each run's configuration (:func:`_frozen`, canonical values), read column by column:
    ``iterrows`` builds a Series per run, seconds for 10,000 runs."""
    if not key:  # nothing varies: every run is the one configuration
        return [()] * len(runs)
    fields = [c.removeprefix("params.") for c in key]
    columns = [[canonical(v) for v in runs[c].to_numpy(dtype=object)] for c in key]
    return [_frozen(dict(zip(fields, row, strict=True))) for row in zip(*columns, strict=True)]


def _column(runs: pd.DataFrame, name: str, default: Any) -> np.ndarray:
    """A column's values as Python objects (``default`` for each run where it is absent)."""
    if name in runs:
        return runs[name].to_numpy(dtype=object)
    return np.full(len(runs), default, dtype=object)


def _configurations(runs: pd.DataFrame, key: list[str]) -> list[dict[str, str]]:
    """Every configuration that ran (in first-seen order), as field -> canonical value."""
    fields = {k: None for k in _config_keys(runs, key)}  # first seen first, once each
    order = [c.removeprefix("params.") for c in key]
    return [{f: dict(frozen)[f] for f in order} for frozen in fields]


def _seed_values(
    usable: pd.DataFrame, key: list[str], metric: str
) -> dict[tuple, dict[int, tuple[float, str]]]:
    """configuration -> seed -> (metric, run id) of its latest usable run."""
    out: dict[tuple, dict[int, tuple[float, str]]] = {}
    order = usable.sort_values("start_time") if "start_time" in usable else usable
    rows = zip(
        _config_keys(order, key),
        _column(order, "params.seed", 0),
        order[f"metrics.{metric}"].to_numpy(dtype=object) if len(order) else [],
        _column(order, "run_id", None),
        strict=True,
    )
    for config, seed, value, run_id in rows:
        out.setdefault(config, {})[int(float(seed))] = (float(value), run_id)
    return out


def _unusable_by_config(
    unusable: pd.DataFrame, key: list[str]
) -> dict[tuple, list[tuple[Any, str, str]]]:
    """configuration -> (seed, run id, why) of each of its unusable runs, in the runs' order:
    built once, not once per comparison."""
    out: dict[tuple, list[tuple[Any, str, str]]] = {}
    rows = zip(
        _config_keys(unusable, key),
        _column(unusable, "status", None),
        _column(unusable, STOPPED_EARLY_COLUMN, None),
        _column(unusable, "params.seed", "?"),
        _column(unusable, "run_id", None),
        strict=True,
    )
    for config, status, stopped, seed, run_id in rows:
        if status == "FINISHED":
            status = "stopped early" if str(stopped) == "true" else "no metric"
        out.setdefault(config, []).append((seed, run_id, status))
    return out


def _unpaired(
    config: dict[str, str],
    counterpart: dict[str, str],
    cand: dict[int, tuple[float, str]],
    ref: dict[int, tuple[float, str]],
    unusable: Mapping[tuple, list[tuple[Any, str, str]]],
) -> str:
    """Why seeds are missing from the pairs: one side has no usable run of that seed."""
    notes = []
    for side, mine, other in (("candidate", cand, ref), ("reference", ref, cand)):
        for seed in sorted(set(mine) - set(other)):
            notes.append(f"seed {seed}: {side} only")
    for side, values in (("candidate", config), ("reference", counterpart)):
        for seed, run_id, status in unusable.get(_frozen(values), []):
            notes.append(f"seed {seed}: {side} run {run_id[:8]} {status}")
    return "; ".join(notes)


def _check_reference(runs: pd.DataFrame, reference: Mapping[str, str]) -> None:
    """A reference names params of these runs, at values some run has."""
    for field, value in reference.items():
        col = f"params.{field}"
        if col not in runs:
            raise ValueError(f"reference field {field!r} is not a param of these runs")
        present = sorted({canonical(v) for v in runs[col].dropna()})
        if value not in present:
            raise ValueError(
                f"reference {field}={value} matches no run; values here: {', '.join(present)}"
            )


VERDICT_COLUMNS = {
    "reference": "reference",
    "n_pairs": "n_pairs",
    "mean_diff": "diff_mean",
    "ci_low": "diff_ci_low",
    "ci_high": "diff_ci_high",
    "ci_method": "ci_method",
    "p_value": "p_value",
    "p_holm": "p_holm",
    "p_ahead": "p_ahead",
    "verdict": "verdict",
    "seeds_needed": "seeds_needed",
    "unpaired": "unpaired",
}
"""Comparison columns a leaderboard row gets, and their names there."""


def attach_verdicts(
    board: pd.DataFrame, comparisons: pd.DataFrame, reference: Mapping[str, Any]
) -> pd.DataFrame:
    """The leaderboard with each configuration's paired comparison against the reference
    (:data:`VERDICT_COLUMNS`); the reference configurations say ``verdict = "reference"``."""
    if comparisons.empty:
        return board
    key = [c for c in comparisons.columns if c not in COMPARISON_COLUMNS]
    missing = [c for c in key if c not in board]
    if missing:
        raise ValueError(f"leaderboard lacks the comparison's columns {missing}")
    right = comparisons[key + list(VERDICT_COLUMNS)].rename(columns=VERDICT_COLUMNS)
    right = right.assign(**{f"_k_{c}": right[c].map(canonical) for c in key}).drop(columns=key)
    left = board.assign(**{f"_k_{c}": board[c].map(canonical) for c in key})
    merged = left.merge(right, on=[f"_k_{c}" for c in key], how="left")
    at_reference = pd.Series(True, index=merged.index)
    for field, value in reference.items():
        if field in key:
            at_reference &= merged[f"_k_{field}"].eq(canonical(value))
    merged.loc[at_reference & merged["verdict"].isna(), "verdict"] = "reference"
    return merged.drop(columns=[f"_k_{c}" for c in key])
