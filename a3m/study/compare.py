"""Paired verdicts from a study's MLflow runs: each configuration against the study's reference.

A configuration is the values of the settings that vary across the study's runs (the seed and
the fields that say where or how fast a run ran excluded, as in the leaderboard). Its
*counterpart* is the same configuration with the reference's fields put in: in a backbone x
variant grid with the reference ``variant=baseline1``, (resnet18, a3m) is compared with
(resnet18, baseline1). Runs of a configuration and of its counterpart on the same seed form a
pair (a seed fixes initialisation, data order and augmentation).

**The family** (one definition, shared by the leaderboard, ``a3m compare``, the report and the
paper-claims table): every configuration of the study against its counterpart, on one metric.
Holm's procedure runs over it (:func:`a3m.stats.holm_levels`), at each look's level for a
``--seeds auto`` study (:mod:`a3m.sequential`), and each comparison's interval is the
sign-flip test inverted at the level that decided it, so a verdict and its interval never
disagree.

**Failures count.** Only runs that FINISHED their whole budget pair (a run stopped early by
ASHA is not at its final epoch). A seed whose run failed, was killed or stopped early on one
side is not dropped silently: it is named, each configuration's failure rate carries an exact
binomial interval, and a verdict stands only if it survives the worst case: each failed run
scored as the worst value of the metric seen in the study, and as its counterpart's value
(a difference of 0). If either changes it, the verdict reads ``inconclusive (failures)``.
One run per trial counts (:func:`a3m.study.runs.one_run_per_trial`, in the runs frame); where
a configuration still has several finished runs of one seed (of two data copies), the latest
is used.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from a3m import stats
from a3m.provenance import ENVIRONMENT_TAGS, environment_differences, run_code_versions
from a3m.sequential import Inference
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
    "ci_level",
    "ci_method",
    "p_value",
    "p_holm",
    "p_ahead",
    "verdict",
    "verdict_note",
    "n_failed",
    "failed",
    "worst_case_low",
    "worst_case_high",
    "seeds_needed",
    "seeds_needed_low",
    "seeds_needed_high",
    "unpaired",
    "code_versions",
    "environment",
    "candidate_runs",
    "reference_runs",
)
"""The columns :func:`compare` adds after the configuration's own values. ``ci_low`` /
``ci_high`` are at the two-sided level ``ci_level`` (the one that decided the verdict; its
confidence is 1 - ci_level); ``worst_case_*`` is the interval with the failed runs scored as
the study's worst value."""


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


@dataclass
class _Sides:
    """One comparison's runs by seed: usable values and run ids, and the failed seeds."""

    config: dict[str, str]
    counterpart: dict[str, str]
    cand: dict[int, tuple[float, str, str, dict]]  # seed -> (value, run id, code, env tags)
    ref: dict[int, tuple[float, str, str, dict]]
    cand_failed: dict[int, str]  # seed -> "run abcd1234 FAILED" (no usable run of that seed)
    ref_failed: dict[int, str]

    @property
    def seeds(self) -> list[int]:
        return sorted(set(self.cand) & set(self.ref))

    @property
    def seeds_tried(self) -> int:
        """The candidate's seeds, finished or failed: the look its comparison is at (the
        reference may have more, given to the other configurations it is compared with)."""
        return len(set(self.cand) | set(self.cand_failed))

    def differences(self, failed_as: float | None = None) -> list[float]:
        """Paired differences; with ``failed_as``, seeds where a side failed (and the other
        finished, or failed too) join, the failed run scored ``failed_as`` (NaN: as its
        counterpart, a difference of 0)."""
        diffs = [self.cand[s][0] - self.ref[s][0] for s in self.seeds]
        if failed_as is None:
            return diffs
        for seed in sorted(set(self.cand_failed) | set(self.ref_failed)):
            c = self.cand.get(seed, (None,))[0] if seed not in self.cand_failed else None
            r = self.ref.get(seed, (None,))[0] if seed not in self.ref_failed else None
            if seed in self.cand_failed and seed in self.ref_failed:
                diffs.append(0.0)
            elif seed in self.cand_failed and r is not None:
                diffs.append(0.0 if math.isnan(failed_as) else failed_as - r)
            elif seed in self.ref_failed and c is not None:
                diffs.append(0.0 if math.isnan(failed_as) else c - failed_as)
        return diffs


def compare(
    runs: pd.DataFrame,
    reference: Mapping[str, Any],
    *,
    metric: str = "score",
    inference: Inference | None = None,
    effect: float | None = None,
) -> pd.DataFrame:
    """Every configuration of a study against its counterpart at the reference: one family.

    Args:
        runs: the study's trial runs (:func:`a3m.study.runs.runs_frame`).
        reference: FIELD -> value of the reference configuration (the other varying fields
            are the candidate's own).
        metric: the final-epoch metric compared; its direction from its name
            (:func:`a3m.stats.higher_is_better`).
        inference: alpha, sequential design and equivalence margin (default: alpha 0.05, one
            look, no equivalence).
        effect: the difference (in the metric's units) that ``seeds_needed`` is computed
            for; default: ``min_effect`` if set, else the observed mean difference.

    Returns:
        One row per configuration that differs from its counterpart: its varying values, then
        :data:`COMPARISON_COLUMNS`. The reference configurations themselves are not rows.

    Raises:
        ValueError: the reference names a field no run has, or a value no run has.
    """
    inference = inference or Inference()
    higher = stats.higher_is_better(metric)
    key = configuration_key(runs)
    reference = {k: canonical(v) for k, v in reference.items()}
    _check_reference(runs, reference)
    usable, unusable = comparable(runs, metric)
    sides = _pair_up(runs, key, reference, usable, unusable, metric)
    if not sides:
        return pd.DataFrame()
    results = [stats.paired_stats(s.differences(), higher_is_better=higher) for s in sides]
    design = inference.design

    def level_of(i: int, family_alpha: float) -> float:
        return design.level(sides[i].seeds_tried, family_alpha) if design else family_alpha

    family = stats.holm_levels([r.p_value for r in results], inference.alpha, level_of)
    worst = _worst_value(usable, metric, higher)
    rows = []
    for i, (side, result) in enumerate(zip(sides, results, strict=True)):
        decided = _verdict_columns(side, result, family.level[i], higher, inference, worst)
        rows.append({
            **side.config,
            "reference": describe({k: side.counterpart[k] for k in reference if k in side.config}),
            "metric": metric,
            "p_holm": family.p_holm[i],
            **decided,
            **_seeds_needed_columns(decided["verdict"], result, effect, inference, family.size),
        })  # fmt: skip
    table = pd.DataFrame(rows)
    columns = [c for c in table.columns if c not in COMPARISON_COLUMNS]
    return table[columns + list(COMPARISON_COLUMNS)]


def _pair_up(
    runs: pd.DataFrame,
    key: list[str],
    reference: Mapping[str, str],
    usable: pd.DataFrame,
    unusable: pd.DataFrame,
    metric: str,
) -> list[_Sides]:
    """Each configuration that differs from its counterpart, with both sides' runs by seed."""
    groups = _seed_values(usable, key, metric)
    failed_by_config = _failed_by_config(unusable, key)
    sides = []
    for config in _configurations(runs, key):
        counterpart = {**config, **{k: v for k, v in reference.items() if k in config}}
        if counterpart == config:
            continue
        cand, ref = groups.get(_frozen(config), {}), groups.get(_frozen(counterpart), {})
        cand_failed = {s: w for s, w in failed_by_config.get(_frozen(config), {}).items()
                       if s not in cand}  # fmt: skip
        ref_failed = {s: w for s, w in failed_by_config.get(_frozen(counterpart), {}).items()
                      if s not in ref}  # fmt: skip
        sides.append(_Sides(config, counterpart, cand, ref, cand_failed, ref_failed))
    return sides


def _verdict_columns(
    side: _Sides,
    result: stats.PairedStats,
    level: float,
    higher: bool,
    inference: Inference,
    worst: float,
) -> dict[str, Any]:
    """A comparison's interval at its family level, its verdict, and the failures' check."""
    diffs = side.differences()
    low, high = (math.nan, math.nan)
    verdict, note = stats.INCONCLUSIVE, ""
    if result.n == 0:
        note = _no_pairs(side)
    else:
        low, high = stats.sign_flip_interval(diffs, level)
        verdict = stats.decide(low, high, higher_is_better=higher,
                               min_effect=inference.min_effect)  # fmt: skip
        if math.isinf(low):
            note = (f"{result.n} pairs cannot decide at level {level:.3g} (the sign-flip "
                    f"test's smallest p-value is {2 / 2**result.n:.3g})")  # fmt: skip
        elif low == high:
            note = (
                f"all {result.n} differences are equal: the test keeps no other shift "
                "(a run pair that computes the same thing differs by exactly this)"
            )
    n_failed = len(side.cand_failed) + len(side.ref_failed)
    worst_low = worst_high = math.nan
    if n_failed and result.n and np.isfinite(level):
        (worst_low, worst_high), overturned = _failures_check(side, verdict, level, higher,
                                                              inference, worst)  # fmt: skip
        if overturned:
            verdict, note = stats.INCONCLUSIVE_FAILURES, overturned
    failed = [f"seed {s}: candidate {w}" for s, w in sorted(side.cand_failed.items())]
    failed += [f"seed {s}: reference {w}" for s, w in sorted(side.ref_failed.items())]
    seeds = side.seeds
    return {
        "n_pairs": result.n,
        "seeds": ",".join(map(str, seeds)),
        "differences": ";".join(f"{d:+.4f}" for d in diffs),
        "mean_diff": result.mean,
        "sd_diff": result.sd,
        "ci_low": low,
        "ci_high": high,
        "ci_level": level,
        "ci_method": "sign-flip" if result.n <= stats.EXACT_UP_TO else "sign-flip (sampled)",
        "p_value": result.p_value,
        "p_ahead": result.prob_ahead,
        "verdict": verdict,
        "verdict_note": note,
        "n_failed": n_failed,
        "failed": "; ".join(failed),
        "worst_case_low": worst_low,
        "worst_case_high": worst_high,
        "unpaired": _unpaired(side),
        "code_versions": _code_versions(side),
        "environment": _environment(side),
        "candidate_runs": ";".join(side.cand[s][1] for s in seeds),
        "reference_runs": ";".join(side.ref[s][1] for s in seeds),
    }


def _no_pairs(side: _Sides) -> str:
    """Why a comparison has no pairs, naming the side whose every run failed."""
    for name, config, done, failed in (("", side.config, side.cand, side.cand_failed),
                                       ("the reference ", side.counterpart, side.ref,
                                        side.ref_failed)):  # fmt: skip
        if not done and failed:
            return (f"no pairs: every run of {name}{describe(config)} failed, was killed or "
                    f"stopped early ({len(failed)} seeds)")  # fmt: skip
        if not done:
            return f"no pairs: {name}{describe(config)} has no finished run (none, or running)"
    return "no pairs: no seed finished on both sides"


def _failures_check(
    side: _Sides, verdict: str, level: float, higher: bool, inference: Inference, worst: float
) -> tuple[tuple[float, float], str]:
    """The interval with each failed run scored as the study's worst value, and why the
    verdict does not survive its failures ("" when it does: scored as the worst value and as
    its counterpart's value, a difference of 0, the verdict is the same)."""
    low, high = stats.sign_flip_interval(side.differences(worst), level)
    kw = {"higher_is_better": higher, "min_effect": inference.min_effect}
    as_worst = stats.decide(low, high, **kw)
    as_counterpart = stats.decide(
        *stats.sign_flip_interval(side.differences(math.nan), level), **kw
    )
    if verdict == stats.INCONCLUSIVE or as_worst == as_counterpart == verdict:
        return (low, high), ""
    return (low, high), (
        f"{verdict} on the finished pairs, but {as_worst} with the failed runs scored as the "
        f"study's worst value and {as_counterpart} scored as their counterparts'"
    )


def _seeds_needed_columns(
    decided_or_not: str,
    result: stats.PairedStats,
    effect: float | None,
    inference: Inference,
    family_size: int,
) -> dict[str, float]:
    """Seeds to decide, by simulating the sign-flip test at Holm's first-step level of this
    family (the level a comparison needs when all others stay open), at ``effect`` (default:
    ``min_effect``, else the observed difference)."""
    nan = {"seeds_needed": math.nan, "seeds_needed_low": math.nan, "seeds_needed_high": math.nan}
    if result.n < 2 or not decided_or_not.startswith(stats.INCONCLUSIVE):
        return nan
    target = effect if effect is not None else inference.min_effect or result.mean
    level = inference.alpha / max(1, family_size)
    if inference.design is not None:  # the last look's level, where a study ends
        last = inference.design.level(inference.design.looks[-1], level)
        level = last if last > 0 else level  # past the design: a plain fixed study
    needed = stats.seeds_needed(result.sd, result.n, abs(target), level)
    return {"seeds_needed": needed.estimate, "seeds_needed_low": needed.low,
            "seeds_needed_high": needed.high}  # fmt: skip


def best_reference(runs: pd.DataFrame) -> dict[str, str]:
    """The configuration with the best mean ``val_score``: the reference of an open search,
    which declares none. Chosen on the held-out part of the training split, never on the split
    the verdicts report; still chosen after seeing the runs, so verdicts against it are
    optimistic for the reference: say so where it is used.

    Raises:
        ValueError: no finished run logged a ``val_score`` (the runs held nothing out).
    """
    metric = "val_score"
    key = configuration_key(runs)
    usable, _ = comparable(runs, metric)
    if usable.empty:
        raise ValueError(
            "no finished run has a val_score: a reference picked by score would be picked on "
            "the split the verdicts report. Hold out part of the training split with --set "
            "val_fraction=0.1 (or name the reference with --reference FIELD=VALUE)"
        )
    means = usable.groupby(key, dropna=False)[f"metrics.{metric}"].mean()
    best = means.idxmax()
    best = best if isinstance(best, tuple) else (best,)
    return {k.removeprefix("params."): canonical(v) for k, v in zip(key, best, strict=True)}


def _points(x: float) -> str:
    return "-inf" if x == -math.inf else "+inf" if x == math.inf else f"{100 * x:+.1f}"


def format_interval(row: Mapping[str, Any]) -> str:
    """``"98.3% CI [-1.2, +4.5]"``: the interval of the difference in points, at the
    confidence its verdict was decided at."""
    if not np.isfinite(row["ci_level"]):
        return "no interval"
    bounds = f"[{_points(row['ci_low'])}, {_points(row['ci_high'])}]"
    return f"{100 * (1 - row['ci_level']):.3g}% CI {bounds}"


def format_verdicts(comparisons: pd.DataFrame, inference: Inference | None = None) -> list[str]:
    """A heading and one line per comparison: the difference in points, its interval at the
    level that decided it, the p-values, how often the candidate was ahead, the verdict and
    why, failures, code versions and seeds to decide."""
    inference = inference or Inference()
    first = comparisons.iloc[0]
    lines = [
        f"paired verdicts against the reference ({first['reference']}), {first['metric']} at "
        f"the final epoch; {inference.describe()}; each interval is the sign-flip test's at "
        "the level that decided its verdict:"
    ]
    key = [c for c in comparisons.columns if c not in COMPARISON_COLUMNS]
    for _, row in comparisons.iterrows():
        name = describe({k: row[k] for k in key})
        if row["n_pairs"] == 0:
            lines.append(f"  {name}: {row['verdict_note']} -> {row['verdict'].upper()}")
            continue
        text = (
            f"  {name}: {100 * row['mean_diff']:+.2f} points, {format_interval(row)}, "
            f"p {row['p_value']:.3g}, p(Holm) {row['p_holm']:.3g}, ahead on "
            f"{row['p_ahead']:.0%} of {row['n_pairs']} seeds -> {row['verdict'].upper()}"
        )
        if row["verdict"] in (stats.INCONCLUSIVE,) and np.isfinite(row["seeds_needed"]):
            needed = stats.SeedsNeeded(row["seeds_needed"], row["seeds_needed_low"],
                                       row["seeds_needed_high"])  # fmt: skip
            text += f", {needed} to decide"
        for extra in ("verdict_note", "failed", "unpaired"):
            if row[extra]:
                text += f"\n      {extra.replace('_', ' ')}: {row[extra]}"
        if ";" in str(row["code_versions"]):
            text += f"\n      mixed code versions: {row['code_versions']}"
        if row["environment"]:
            text += f"\n      pairs ran differently: {row['environment']}"
        lines.append(text)
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
) -> dict[tuple, dict[int, tuple[float, str, str, dict]]]:
    """configuration -> seed -> (metric, run id, code version, environment tags) of its latest
    usable run."""
    out: dict[tuple, dict[int, tuple[float, str, str, dict]]] = {}
    order = usable.sort_values("start_time") if "start_time" in usable else usable
    envs = [_column(order, f"tags.{tag}", None) for tag in ENVIRONMENT_TAGS]
    rows = zip(
        _config_keys(order, key),
        _column(order, "params.seed", 0),
        order[f"metrics.{metric}"].to_numpy(dtype=object) if len(order) else [],
        _column(order, "run_id", None),
        run_code_versions(order).to_numpy(dtype=object),
        zip(*envs, strict=True) if len(order) else [],
        strict=True,
    )
    for config, seed, value, run_id, code, env in rows:
        tags = dict(zip(ENVIRONMENT_TAGS, env, strict=True))
        out.setdefault(config, {})[int(float(seed))] = (float(value), run_id, code, tags)
    return out


def _failed_by_config(unusable: pd.DataFrame, key: list[str]) -> dict[tuple, dict[int, str]]:
    """configuration -> seed -> what became of its unusable run(s) ("run abcd1234 FAILED"),
    the latest per seed: built once, not once per comparison."""
    out: dict[tuple, dict[int, str]] = {}
    order = unusable.sort_values("start_time") if "start_time" in unusable else unusable
    rows = zip(
        _config_keys(order, key),
        _column(order, "status", None),
        _column(order, STOPPED_EARLY_COLUMN, None),
        _column(order, "params.seed", None),
        _column(order, "run_id", None),
        strict=True,
    )
    for config, status, stopped, seed, run_id in rows:
        if status == "RUNNING":
            continue  # still training: neither a result nor a failure yet
        if status == "FINISHED":
            status = "stopped early" if str(stopped).lower() == "true" else "without the metric"
        try:
            seed = int(float(seed))
        except (TypeError, ValueError):
            continue  # a run without a seed param cannot be placed in a pair
        out.setdefault(config, {})[seed] = f"run {str(run_id)[:8]} {status}"
    return out


def _worst_value(usable: pd.DataFrame, metric: str, higher: bool) -> float:
    """The worst value of the metric any finished run of the study reached."""
    values = usable[f"metrics.{metric}"].astype(float) if len(usable) else pd.Series([0.0])
    return float(values.min() if higher else values.max())


def _unpaired(side: _Sides) -> str:
    """Seeds that ran (or are running) on one side only: not failures, not pairs yet."""
    notes = []
    for name, mine, other, other_failed in (
        ("candidate", side.cand, side.ref, side.ref_failed),
        ("reference", side.ref, side.cand, side.cand_failed),
    ):
        for seed in sorted(set(mine) - set(other) - set(other_failed)):
            notes.append(f"seed {seed}: {name} only")
    return "; ".join(notes)


def _code_versions(side: _Sides) -> str:
    """The code versions (``a3m.code``) of the paired runs, ``;``-joined when they mix."""
    seeds = side.seeds
    versions = {side.cand[s][2] for s in seeds} | {side.ref[s][2] for s in seeds}
    return ";".join(sorted(versions))


def _environment(side: _Sides) -> str:
    """Where the two runs of a pair ran differently (torch, CUDA, cuDNN, GPU, determinism):
    ``"seed 0: a3m.env.gpu: cpu vs NVIDIA H100"``, one entry per pair that differs."""
    notes = []
    for seed in side.seeds:
        differ = environment_differences(side.cand[seed][3], side.ref[seed][3])
        notes += [f"seed {seed}: {d}" for d in differ]
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
    "ci_level": "diff_ci_level",
    "ci_method": "ci_method",
    "p_value": "p_value",
    "p_holm": "p_holm",
    "p_ahead": "p_ahead",
    "verdict": "verdict",
    "verdict_note": "verdict_note",
    "n_failed": "n_failed_in_pairs",
    "failed": "failed",
    "seeds_needed": "seeds_needed",
    "seeds_needed_low": "seeds_needed_low",
    "seeds_needed_high": "seeds_needed_high",
    "unpaired": "unpaired",
    "code_versions": "pair_code_versions",
    "environment": "pair_environment",
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
