"""The paper's claims, tested on a study's runs: supported, contradicted or inconclusive.

``paper_claims.csv`` beside this module holds the claims as data, one row per claim, dataset and
metric (its header says what each column means). :func:`evaluate_claims` tests each one the
runs can test, seed against seed, by the test every verdict of the platform uses
(:func:`a3m.study.compare.compare`: the sign-flip test, its interval at the level that decided
it, failures counted). The claims are about the paper's public release: the report tests them
only on runs of it (:mod:`dashboards.kinds`).

**Two families, written down once** (the report's "how to read" quotes :data:`STUDY_FAMILY`
and :data:`SECONDARY_FAMILY`):

- *the study's*: every configuration of the study against its counterpart at the study's
  reference, on the study's metric (:mod:`a3m.study.compare`). A claim whose comparison is one
  of these (its candidate against its reference in one context, on that metric, either way
  round; ``score`` is the task's primary metric, e.g. ``accuracy`` on CUB) takes that row:
  the same pairs, interval, p(Holm) and verdict as the paired table.
- *the secondary*: the comparisons of the claims outside it (another reference, e.g. A3M
  against Baseline-2 in a study whose reference is Baseline-1; another metric, e.g. mAP when
  the study's is rank-1), each counted once: Holm across these k comparisons at the study's
  alpha and looks, by one more pass of the same :func:`~a3m.study.compare.compare`.

So no comparison ever has two p(Holm). A claim's effect is candidate - reference in percentage
points (the paper's unit; our metrics are fractions); ``effect_points`` is the paper's gain in
the metric's direction (:func:`a3m.stats.higher_is_better`).

- ``greater`` (the candidate beats the reference), one result per *context* (the other
  settings the study varied, e.g. ``backbone=resnet18``): *supported* when the comparison says
  better, *contradicted* when it says worse, or equivalent (inside +-``min_effect``) while the
  paper claims more than ``min_effect``; *inconclusive* otherwise, or *inconclusive
  (failures)* when failed seeds could turn it, with about how many seeds would decide at the
  paper's effect (at the observed one where the paper only draws a figure). ``magnitude``
  holds our interval against the paper's effect: it contains it, or the effect is smaller or
  larger than claimed.
- ``near_best`` (the reference is within ``effect_points`` of the best configuration):
  *supported* when every other configuration's interval ends at most ``effect_points`` above
  the reference, *contradicted* when one is better by more than that (its whole interval
  beyond), else *inconclusive*. Fig. 7's 1 point is our margin, not the paper's
  (``effect_source`` says so).

A claim whose configurations did not run is kept as *not run here*, with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from a3m import stats
from a3m.sequential import Inference
from a3m.study.compare import compare, describe, parse_reference
from a3m.study.runs import configuration_key
from a3m.study.tracking import canonical
from dashboards.data import as_logged
from dashboards.families import SECONDARY, STUDY, Families, Unit, direction, frozen, of_dataset

PAPER_CLAIMS_CSV = Path(__file__).with_name("paper_claims.csv")
PERCENT = 100.0
KINDS = ("greater", "near_best")
SUPPORTED, CONTRADICTED, INCONCLUSIVE, NOT_RUN = (
    "supported",
    "contradicted",
    "inconclusive",
    "not run here",
)
INCONCLUSIVE_FAILURES = stats.INCONCLUSIVE_FAILURES
VERDICTS = (SUPPORTED, CONTRADICTED, INCONCLUSIVE, INCONCLUSIVE_FAILURES, NOT_RUN)
FAMILIES = (STUDY, SECONDARY)
"""The ``family`` a claim's comparison is in (a near-best claim may draw on both)."""
STUDY_FAMILY = (
    "the study's family: every configuration of the study against its counterpart at the "
    "study's reference, on the study's metric (the paired table); a claim whose comparison is "
    "one of these takes its row: the same pairs, interval, p(Holm) and verdict"
)
SECONDARY_FAMILY = (
    "secondary: the claims' comparisons outside the study's ({k}; another reference or another "
    "metric), each counted once, Holm across those with pairs at the same alpha"
)
CLAIM_FIELDS = (
    "claim",
    "dataset",
    "metric",
    "kind",
    "candidate",
    "reference",
    "effect_points",
    "effect_source",
    "source",
    "text",
)
"""The columns of ``paper_claims.csv``."""
RESULT_COLUMNS = (
    "context",
    "family",
    "n_pairs",
    "seeds",
    "mean_diff",
    "ci_low",
    "ci_high",
    "ci_level",
    "ci_method",
    "p_value",
    "p_holm",
    "p_ahead",
    "paired_verdict",
    "verdict",
    "magnitude",
    "n_failed",
    "failed",
    "worst_case_low",
    "worst_case_high",
    "code_versions",
    "seeds_needed",
    "seeds_needed_low",
    "seeds_needed_high",
    "seeds_needed_at",
    "note",
    "candidate_runs",
    "reference_runs",
)
"""The columns :func:`evaluate_claims` adds: ``mean_diff``, ``ci_*`` and ``worst_case_*`` in
percentage points, the interval at the two-sided level ``ci_level`` that decided
``paired_verdict`` (:data:`a3m.stats.VERDICTS`); ``family`` is :data:`STUDY` or
:data:`SECONDARY`; run ids joined by ``;``. The table's ``attrs`` hold the families' sizes, as
comparisons with a p-value (``study_comparisons``, ``secondary_comparisons``: what Holm runs
across) and the secondary comparisons queued (``secondary_rows``)."""


def parse_assignments(text: str) -> dict[str, str]:
    """``"alpha=0.5;beta=0.5"`` -> ``{"alpha": "0.5", "beta": "0.5"}``."""
    return parse_reference([part for part in str(text).split(";") if part.strip()])


def load_claims(path: str | Path | None = None) -> pd.DataFrame:
    """The paper's claims (:data:`CLAIM_FIELDS`), checked: ``effect_points`` a float (NaN where
    the paper gives no number); ``effect_source`` filled in where a file has none.

    Raises:
        ValueError: a column is missing, a kind is unknown, a ``greater`` claim's candidate and
            reference do not set the same fields to different values, a ``near_best`` claim has
            no effect or a candidate other than ``*``, or a (claim, dataset, metric) repeats.
    """
    claims = pd.read_csv(path or PAPER_CLAIMS_CSV, comment="#", dtype=str, keep_default_na=False)
    if "effect_source" not in claims:
        claims["effect_source"] = [_effect_source(c) for c in claims.to_dict("records")]
    missing = [c for c in CLAIM_FIELDS if c not in claims]
    if missing:
        raise ValueError(f"claims lack the columns {missing}")
    claims = claims[list(CLAIM_FIELDS)].copy()
    claims["effect_points"] = pd.to_numeric(claims["effect_points"].replace("", np.nan))
    for claim in claims.to_dict("records"):
        where = f"claim {claim['claim']} ({claim['dataset']}, {claim['metric']})"
        if claim["kind"] not in KINDS:
            raise ValueError(f"{where}: kind {claim['kind']!r} is not one of {KINDS}")
        reference = parse_assignments(claim["reference"])
        if not reference:
            raise ValueError(f"{where}: no reference")
        if claim["kind"] == "near_best":
            if claim["candidate"] != "*" or not claim["effect_points"] > 0:
                raise ValueError(f"{where}: near_best needs candidate '*' and effect_points > 0")
            continue
        candidate = parse_assignments(claim["candidate"])
        if set(candidate) != set(reference) or candidate == reference:
            raise ValueError(f"{where}: candidate and reference must set the same fields apart")
    repeated = claims.duplicated(["claim", "dataset", "metric"], keep=False)
    if repeated.any():
        raise ValueError(f"repeated claims: {sorted(set(claims.loc[repeated, 'claim']))}")
    return claims.reset_index(drop=True)


def _effect_source(claim: Mapping[str, str]) -> str:
    if claim.get("kind") == "near_best":
        return "ours: a margin, not the paper's"
    if str(claim.get("effect_points", "")).strip():
        return f"paper, {claim.get('source', '')}"
    return f"none: {claim.get('source', 'the paper')} gives no number"


# -- evaluating the claims ----------------------------------------------------------------------
def evaluate_claims(
    runs: pd.DataFrame,
    claims: pd.DataFrame | None = None,
    *,
    reference: Mapping[str, Any] | None = None,
    metric: str = "score",
    inference: Inference | None = None,
    comparisons: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Each claim tested on the runs (see the module docstring).

    Args:
        runs: runs frame (``mlflow.search_runs`` layout, metrics as fractions).
        claims: default :func:`load_claims`.
        reference: the study's reference (declared, or chosen on ``val_score``); None: the
            study has no family of its own and every claim is in the secondary one.
        metric: the study's metric (its family's).
        inference: the study's alpha, looks and equivalence margin.
        comparisons: the study's :func:`~a3m.study.compare.compare` table (the report's paired
            table); default computed from ``reference``.

    Returns:
        One row per claim and context, in the claims' order: :data:`CLAIM_FIELDS`, then
        :data:`RESULT_COLUMNS`; ``verdict`` is one of :data:`VERDICTS`, and a claim the runs
        cannot test is one row "not run here" whose ``note`` says what is missing.
    """
    inference = inference or Inference()
    claims = load_claims() if claims is None else claims
    runs = runs.reset_index(drop=True)  # comparisons hold runs by position
    if comparisons is None and reference:
        try:
            comparisons = compare(runs, reference, metric=metric, inference=inference)
        except ValueError:
            comparisons = None
    families = Families.of(runs, comparisons, reference, metric, inference)
    full_key = [c.removeprefix("params.") for c in configuration_key(runs)] if len(runs) else []
    plans = []
    for claim in claims.to_dict("records"):
        plan = _plan(runs, claim, full_key)
        for _, unit in [] if isinstance(plan, str) else plan:
            families.add(unit)
        plans.append((claim, plan))
    families.run()
    rows: list[dict[str, Any]] = []
    for claim, plan in plans:
        if isinstance(plan, str):
            rows.append(_not_run(claim, plan))
        elif claim["kind"] == "greater":
            rows += [_greater(claim, ctx, *families.find(u), families) for ctx, u in plan]
        else:
            by_context: dict[str, list] = {}
            for ctx, unit in plan:
                by_context.setdefault(ctx, []).append((unit, *families.find(unit)))
            rows += [_near_best(claim, ctx, found, families) for ctx, found in by_context.items()]
    table = pd.DataFrame(rows, columns=[*CLAIM_FIELDS, *RESULT_COLUMNS])
    table.attrs.update(study_comparisons=families.study_size,
                       secondary_comparisons=families.secondary_size,
                       secondary_rows=len(families.secondary))  # fmt: skip
    return table


def _plan(runs: pd.DataFrame, claim: Mapping[str, Any], full_key: list[str]):
    """The comparisons a claim needs, as (context, unit) pairs, or why the runs cannot test it.

    A configuration of the claim's dataset pairs with its counterpart: the same with the
    claim's reference put in (``greater``: only configurations with the claim's candidate);
    the *context* is its other settings that vary. One whose counterpart never ran (an alpha
    point of A3M against a Baseline-1 only at 0.5) tests nothing."""
    dataset, metric = claim["dataset"], claim["metric"]
    ours = of_dataset(runs, dataset)
    if ours.empty:
        return f"no {dataset} runs"
    reference = {k: canonical(v) for k, v in parse_assignments(claim["reference"]).items()}
    candidate = None if claim["kind"] == "near_best" else parse_assignments(claim["candidate"])
    for side in (candidate, reference):
        if side is not None and not _matches(ours, side).any():
            return f"no {dataset} run with {describe(side)}"
    if f"metrics.{metric}" not in ours or ours[f"metrics.{metric}"].isna().all():
        return f"no {dataset} run logged {metric}"
    key = [c.removeprefix("params.") for c in configuration_key(ours)]
    keys = pd.DataFrame({k: ours[f"params.{k}"].map(canonical) for k in key}, index=ours.index)
    groups = {k: g.index for k, g in keys.groupby(key, sort=False, dropna=False)} if key else {}
    groups = {(k if isinstance(k, tuple) else (k,)): v for k, v in groups.items()}
    out = []
    for values, index in groups.items():
        config = dict(zip(key, values, strict=True))
        if candidate is not None and not _matches(ours.loc[index[:1]], candidate).all():
            continue
        counterpart = {**config, **{k: v for k, v in reference.items() if k in config}}
        ref_index = groups.get(tuple(counterpart[k] for k in key))
        if counterpart == config or ref_index is None:
            continue
        context = {k: v for k, v in config.items() if k not in reference}
        cand_config, ref_config = _full(runs, index, full_key), _full(runs, ref_index, full_key)
        unit = Unit(dataset, metric, cand_config, ref_config, index, ref_index)
        out.append((_describe_raw(runs, context) if context else "", unit))
    if out:
        return out
    if candidate is None:
        return f"no configuration other than {describe(reference)} ran"
    return f"no {describe(reference)} run shares the other settings of a {describe(candidate)} run"


def _full(runs: pd.DataFrame, index: pd.Index, full_key: list[str]) -> tuple:
    first = runs.loc[index[0]]
    return frozen({k: canonical(first[f"params.{k}"]) for k in full_key})


def _greater(
    claim: Mapping[str, Any], context: str, row: dict, family: str, families: Families
) -> dict[str, Any]:
    """A ``greater`` claim in one context, from its comparison's row."""
    effect = float(claim["effect_points"])
    verdict, why = _claim_verdict(row["verdict"], effect, families.inference.min_effect)
    numbers = _numbers(row)
    gain = _gain(numbers["ci_low"], numbers["ci_high"], claim["metric"])
    out = {**_fields(claim), **numbers, "context": context, "family": family, "verdict": verdict,
           "magnitude": _magnitude(effect, gain, row["n_pairs"])}  # fmt: skip
    out |= _seeds_columns(row, verdict, effect, families, family)
    out["note"] = _join(why, row["verdict_note"], _side_notes(row))
    return out


def _claim_verdict(paired: str, effect: float, min_effect: float | None) -> tuple[str, str]:
    """A claim's verdict from its comparison's, and why when it is not the obvious one."""
    if paired == stats.BETTER:
        return SUPPORTED, ""
    if paired == stats.WORSE:
        return CONTRADICTED, ""
    if paired == stats.EQUIVALENT:
        margin = f"equivalent within +-{PERCENT * (min_effect or 0):g} points"
        if np.isfinite(effect) and effect / PERCENT > (min_effect or 0):
            return CONTRADICTED, f"{margin}: no gain as large as the paper's {effect:+g}"
        return INCONCLUSIVE, f"{margin}; the paper gives no larger effect to hold it against"
    return (INCONCLUSIVE_FAILURES if paired == stats.INCONCLUSIVE_FAILURES else INCONCLUSIVE), ""


def _gain(low: float, high: float, metric: str) -> tuple[float, float]:
    """An interval of candidate - reference as a gain in the metric's direction."""
    return (low, high) if stats.higher_is_better(metric) else (-high, -low)


def _magnitude(effect: float, gain: tuple[float, float], n_pairs: int) -> str:
    """Our interval held against the paper's effect (points)."""
    if not np.isfinite(effect):
        return "no number in the paper to hold our interval against"
    paper = f"{effect:+g}"
    if not n_pairs:
        return f"no pairs: nothing to hold against the paper's {paper}"
    low, high = gain
    if np.isfinite(high) and high < effect:
        return f"smaller than claimed (interval below {paper})"
    if np.isfinite(low) and low > effect:
        return f"larger than claimed (interval above {paper})"
    if np.isfinite(low) and np.isfinite(high):
        return f"our interval contains the paper's {paper}"
    return f"our interval is unbounded (too few pairs at its level): cannot check {paper}"


def _seeds_columns(
    row: dict, verdict: str, effect: float, families: Families, family: str
) -> dict[str, Any]:
    """Seeds to decide an inconclusive claim at the paper's effect (the observed one where the
    paper gives none), at Holm's first-step level of its family (the last look's, with looks)."""
    out = _no_seeds()
    if verdict != INCONCLUSIVE or not row["n_pairs"]:
        return out
    paper = np.isfinite(effect)
    target = effect / PERCENT if paper else abs(row["mean_diff"])
    needed = _seeds(families, family, row, target)
    out.update(seeds_needed=needed.estimate, seeds_needed_low=needed.low,
               seeds_needed_high=needed.high)  # fmt: skip
    if np.isnan(needed.estimate):
        out["seeds_needed_at"] = "too few pairs to estimate the spread"
    elif paper:
        out["seeds_needed_at"] = f"the paper's {effect:+.2f} points"
    else:
        observed = PERCENT * row["mean_diff"]
        out["seeds_needed_at"] = f"the observed {observed:+.2f} points (no paper number)"
    return out


def _seeds(families: Families, family: str, row: dict, effect: float) -> stats.SeedsNeeded:
    size = families.study_size if family == STUDY else families.secondary_size
    inference = families.inference
    level = inference.alpha / max(1, size)
    if inference.design is not None:
        level = inference.design.level(inference.design.looks[-1], level)
    return stats.seeds_needed(float(row["sd_diff"]), int(row["n_pairs"]), abs(effect), level)


def _near_best(
    claim: Mapping[str, Any], context: str, found: list, families: Families
) -> dict[str, Any]:
    """A ``near_best`` claim in one context: every other configuration's interval against the
    band of ``effect_points`` above the reference."""
    band = float(claim["effect_points"])
    rows = [row for _, row, _ in found]
    within, beyond = _within_and_beyond(rows, band, claim["metric"])
    verdict = _near_best_verdict(rows, within, beyond)
    best_i = _best_of(rows, claim["metric"])
    notes = _near_best_notes(claim, found, families.runs, within, beyond, best_i, verdict)
    seeds, why = _no_seeds(), ""
    if verdict == INCONCLUSIVE:  # the least decided: the most seeds to bring it off the edge
        seeds, why = _near_best_seeds(found, within, band, claim["metric"], families)
    families_used = sorted({fam for _, _, fam in found})
    return {
        **_fields(claim),
        **_numbers(rows[best_i]),
        "context": context,
        "family": " and ".join(families_used),
        "verdict": verdict,
        "magnitude": "",
        **seeds,
        "note": _join(*notes, why, rows[best_i]["verdict_note"]),
    }


def _within_and_beyond(rows: list[dict], band: float, metric: str) -> tuple[list[bool], list[bool]]:
    """Per configuration: whether its interval (and worst case, with failed seeds) ends within
    ``band`` points above the reference, and whether it is better by more than ``band``."""
    gains = [_gain(PERCENT * r["ci_low"], PERCENT * r["ci_high"], metric) for r in rows]
    worst = [_gain(PERCENT * r["worst_case_low"], PERCENT * r["worst_case_high"], metric)
             for r in rows]  # fmt: skip
    within = [np.isfinite(g[1]) and g[1] <= band + 1e-9
              and (not r["n_failed"] or (np.isfinite(w[1]) and w[1] <= band + 1e-9))
              for r, g, w in zip(rows, gains, worst, strict=True)]  # fmt: skip
    beyond = [
        r["verdict"] == stats.BETTER and g[0] > band for r, g in zip(rows, gains, strict=True)
    ]
    return within, beyond


def _near_best_verdict(rows: list[dict], within: list[bool], beyond: list[bool]) -> str:
    """Supported when all are within the band, contradicted when one is beyond it."""
    if all(within):
        return SUPPORTED
    if any(beyond):
        return CONTRADICTED
    if any(r["n_failed"] for r, w in zip(rows, within, strict=True) if not w):
        return INCONCLUSIVE_FAILURES
    return INCONCLUSIVE


def _best_of(rows: list[dict], metric: str) -> int:
    """The position of the configuration with the largest mean gain (an unpaired one last)."""
    sign = direction(metric)
    means = [sign * r["mean_diff"] if r["n_pairs"] else -np.inf for r in rows]
    return int(np.argmax(means))


def _near_best_notes(
    claim: Mapping[str, Any],
    found: list,
    runs: pd.DataFrame,
    within: list[bool],
    beyond: list[bool],
    best_i: int,
    verdict: str,
) -> list[str]:
    """What a ``near_best`` verdict rests on: how many are within, the best, those beyond."""
    rows = [row for _, row, _ in found]
    units = [unit for unit, _, _ in found]
    best, reference = rows[best_i], parse_assignments(claim["reference"])
    name = _setting_of(runs, units[best_i], reference)
    margin = _points_text(float(claim["effect_points"]))
    notes = [
        f"{len(rows)} other configuration{'s' if len(rows) > 1 else ''}, {sum(within)} within "
        f"{margin} (interval's upper end); the best: {name}"
        + (f", p(Holm) {best['p_holm']:.3g}" if best["n_pairs"] else "")
    ]
    if verdict == CONTRADICTED:
        names = [_setting_of(runs, u, reference) for u, b in zip(units, beyond, strict=True) if b]
        notes.append(f"better by more than {margin}: {', '.join(names)}")
    unpaired = sum(1 for r in rows if not r["n_pairs"])
    if unpaired:
        notes.append(f"{unpaired} without a paired seed")
    return notes


def _near_best_seeds(
    found: list, within: list[bool], band: float, metric: str, families: Families
) -> tuple[dict[str, Any], str]:
    """The most seeds any configuration outside the band needs to leave its edge, or why none."""
    sign = direction(metric)
    needs = [_seeds(families, fam, r, band / PERCENT - sign * r["mean_diff"])
             for (_, r, fam), w in zip(found, within, strict=True)
             if not w and r["n_pairs"]]  # fmt: skip
    finite = [n for n in needs if not np.isnan(n.estimate)]  # inf: more than searched
    if not finite:
        return _no_seeds(), "too few pairs to estimate the spread"
    most = max(finite, key=lambda n: n.estimate)
    return {"seeds_needed": most.estimate, "seeds_needed_low": most.low,
            "seeds_needed_high": most.high,
            "seeds_needed_at": f"the margin to our {band:g}-point band"}, ""  # fmt: skip


def _no_seeds() -> dict[str, Any]:
    """The seeds columns of a result that needs no estimate."""
    return {"seeds_needed": math.nan, "seeds_needed_low": math.nan,
            "seeds_needed_high": math.nan, "seeds_needed_at": ""}  # fmt: skip


def _not_run(claim: Mapping[str, Any], why: str) -> dict[str, Any]:
    nan = math.nan
    return {
        **_fields(claim),
        **{c: nan for c in RESULT_COLUMNS},
        **{
            c: ""
            for c in (
                "context",
                "family",
                "seeds",
                "ci_method",
                "paired_verdict",
                "magnitude",
                "failed",
                "code_versions",
                "seeds_needed_at",
                "candidate_runs",
                "reference_runs",
            )
        },  # fmt: skip
        "n_pairs": 0,
        "n_failed": 0,
        "verdict": NOT_RUN,
        "note": why,
    }


# -- helpers ------------------------------------------------------------------------------------
def _fields(claim: Mapping[str, Any]) -> dict[str, Any]:
    return {c: claim[c] for c in CLAIM_FIELDS}


def _numbers(row: Mapping[str, Any]) -> dict[str, Any]:
    """A comparison row's pairs, difference and intervals (points), test and run ids."""
    points = ("mean_diff", "ci_low", "ci_high", "worst_case_low", "worst_case_high")
    out = {c: PERCENT * float(row[c]) for c in points}
    same = ("seeds", "ci_level", "ci_method", "p_value", "p_holm", "p_ahead", "failed",
            "code_versions", "candidate_runs", "reference_runs")  # fmt: skip
    out |= {c: row[c] for c in same}
    return out | {"n_pairs": int(row["n_pairs"]), "n_failed": int(row["n_failed"]),
                  "paired_verdict": row["verdict"]}  # fmt: skip


def _side_notes(row: Mapping[str, Any]) -> str:
    notes = []
    if not row["n_pairs"] and not row["verdict_note"]:
        notes.append("no seed ran on both sides")
    if row["unpaired"]:
        notes.append(f"unpaired: {row['unpaired']}")
    if row["failed"]:
        notes.append(f"failed: {row['failed']}")
    if ";" in str(row["code_versions"]):
        notes.append(f"mixed code versions: {row['code_versions']}")
    return _join(*notes)


def _points_text(value: float) -> str:
    return f"{value:g} point{'' if value == 1 else 's'}"


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def _matches(runs: pd.DataFrame, values: Mapping[str, Any]) -> pd.Series:
    """Which runs have every ``values`` setting (compared as :func:`canonical` text)."""
    mask = pd.Series(True, index=runs.index)
    for setting, value in values.items():
        col = f"params.{setting}"
        if col not in runs:
            return pd.Series(False, index=runs.index)
        mask &= runs[col].map(canonical).eq(canonical(value))
    return mask


def _describe_raw(runs: pd.DataFrame, values: Mapping[str, str]) -> str:
    """:func:`describe` with each value as the runs logged it (``d=16``, not ``d=16.0``)."""
    return describe(as_logged(runs, values))


def _setting_of(runs: pd.DataFrame, unit: Unit, reference: Mapping[str, str]) -> str:
    """A configuration's values of the reference's fields (``alpha=0.3``), as logged."""
    first = runs.loc[unit.cand_index[0]]
    return _describe_raw(
        runs, {k: first[f"params.{k}"] for k in reference if f"params.{k}" in first}
    )
