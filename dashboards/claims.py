"""The paper's claims, tested on a study's runs: supported, contradicted or inconclusive.

``paper_claims.csv`` beside this module holds the claims as data, one row per claim, dataset and
metric (its header says what each column means). :func:`evaluate_claims` tests each one the
runs can test, seed against seed (:func:`a3m.study.compare.compare`):

- ``greater`` (the candidate beats the reference): the claim's dataset's runs of the candidate
  and of the reference, paired by seed within equal values of every other setting the study
  varied (a *context*, e.g. ``backbone=resnet18``; one result per context). The sign-flip
  p-values of all the ``greater`` results evaluated together are Holm-adjusted: a significant
  difference in the paper's direction *supports* the claim, one the other way *contradicts*
  it, anything else is *inconclusive*, with about how many seeds the observed spread of the
  differences needs to decide at the paper's effect (at the observed one where the paper only
  draws a figure; ``seeds_needed_at`` says which).
- ``near_best`` (the reference is within ``effect_points`` of the best configuration): every
  other configuration against the reference: *supported* when each one's 95% CI upper bound is
  at most ``effect_points``, *contradicted* when one is significantly better (Holm across the
  sweep) by more than that (its CI lower bound above it), else *inconclusive*.

A claim whose configurations did not run is kept as *not run here*, with the reason: the table
says what a study could not test as well as what it tested, and a report can show either.

Differences are candidate - reference in percentage points (the paper's unit; our metrics are
fractions).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from a3m import stats
from a3m.study.compare import COMPARISON_COLUMNS, compare, describe, parse_reference
from a3m.study.tracking import canonical
from dashboards.data import as_logged

PAPER_CLAIMS_CSV = Path(__file__).with_name("paper_claims.csv")
PERCENT = 100.0
KINDS = ("greater", "near_best")
SUPPORTED, CONTRADICTED, INCONCLUSIVE, NOT_RUN = (
    "supported",
    "contradicted",
    "inconclusive",
    "not run here",
)
VERDICTS = (SUPPORTED, CONTRADICTED, INCONCLUSIVE, NOT_RUN)
CLAIM_FIELDS = (
    "claim",
    "dataset",
    "metric",
    "kind",
    "candidate",
    "reference",
    "effect_points",
    "source",
    "text",
)
"""The columns of ``paper_claims.csv``."""
RESULT_COLUMNS = (
    "context",
    "n_pairs",
    "seeds",
    "mean_diff",
    "ci_low",
    "ci_high",
    "ci_method",
    "p_value",
    "p_holm",
    "verdict",
    "seeds_needed",
    "seeds_needed_at",
    "note",
    "candidate_runs",
    "reference_runs",
)
"""The columns :func:`evaluate_claims` adds: ``mean_diff``, ``ci_low`` and ``ci_high`` in
percentage points; ``candidate_runs`` / ``reference_runs`` are run ids joined by ``;``."""
_SD = "_sd"  # spread of the per-seed differences (fractions), for seeds_needed


def parse_assignments(text: str) -> dict[str, str]:
    """``"alpha=0.5;beta=0.5"`` -> ``{"alpha": "0.5", "beta": "0.5"}``."""
    return parse_reference([part for part in str(text).split(";") if part.strip()])


def load_claims(path: str | Path | None = None) -> pd.DataFrame:
    """The paper's claims (:data:`CLAIM_FIELDS`), checked: ``effect_points`` a float (NaN where
    the paper gives no number).

    Raises:
        ValueError: a column is missing, a kind is unknown, a ``greater`` claim's candidate and
            reference do not set the same fields to different values, a ``near_best`` claim has
            no effect or a candidate other than ``*``, or a (claim, dataset, metric) repeats.
    """
    claims = pd.read_csv(path or PAPER_CLAIMS_CSV, comment="#", dtype=str, keep_default_na=False)
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


def evaluate_claims(
    runs: pd.DataFrame, claims: pd.DataFrame | None = None, alpha: float = stats.ALPHA
) -> pd.DataFrame:
    """Each claim tested on the runs (see the module docstring).

    Args:
        runs: runs frame (``mlflow.search_runs`` layout, metrics as fractions).
        claims: default :func:`load_claims`.
        alpha: family-wise error rate of the verdicts (Holm across the ``greater`` results).

    Returns:
        One row per claim and context, in the claims' order: :data:`CLAIM_FIELDS`, then
        :data:`RESULT_COLUMNS`; ``verdict`` is one of :data:`VERDICTS`, and a claim the runs
        cannot test is one row "not run here" whose ``note`` says what is missing.
    """
    claims = load_claims() if claims is None else claims
    rows: list[dict[str, Any]] = []
    for claim in claims.to_dict("records"):
        evaluate = _greater if claim["kind"] == "greater" else _near_best
        rows += evaluate(runs, claim, alpha)
    table = pd.DataFrame(rows, columns=[*CLAIM_FIELDS, *RESULT_COLUMNS, _SD])
    tested = table["kind"].eq("greater") & table["p_value"].notna()
    table.loc[tested, "p_holm"] = stats.holm(table.loc[tested, "p_value"].to_numpy(dtype=float))
    family = int(tested.sum())
    for i in table.index[tested]:
        row = table.loc[i]
        said = stats.verdict(row["mean_diff"], row["p_holm"], alpha=alpha)
        table.at[i, "verdict"] = {"better": SUPPORTED, "worse": CONTRADICTED}.get(
            said, INCONCLUSIVE
        )
        if said == "no evidence":
            _seeds_for_greater(table, i, alpha, family)
    return table.drop(columns=_SD)


def _seeds_for_greater(table: pd.DataFrame, i: int, alpha: float, family: int) -> None:
    """Seeds to decide an inconclusive ``greater`` result, at the paper's effect if it has one."""
    row = table.loc[i]
    paper, observed = row["effect_points"], row["mean_diff"]
    effect = paper if np.isfinite(paper) else observed
    needed = stats.seeds_needed(row[_SD], effect / PERCENT, alpha=alpha, n_comparisons=family)
    table.at[i, "seeds_needed"] = needed
    if not np.isfinite(row[_SD]):
        table.at[i, "note"] = _join(row["note"], "too few pairs to estimate the spread")
    elif np.isfinite(paper):
        table.at[i, "seeds_needed_at"] = f"the paper's {paper:+.2f} points"
    else:
        table.at[i, "seeds_needed_at"] = f"the observed {observed:+.2f} points (no paper number)"


# -- one claim ----------------------------------------------------------------------------------
def _greater(runs: pd.DataFrame, claim: Mapping[str, Any], alpha: float) -> list[dict[str, Any]]:
    ours = _of_dataset(runs, claim["dataset"])
    if ours.empty:
        return [_not_run(claim, f"no {claim['dataset']} runs")]
    candidate = parse_assignments(claim["candidate"])
    reference = parse_assignments(claim["reference"])
    for side in (candidate, reference):
        if not _matches(ours, side).any():
            return [_not_run(claim, f"no {claim['dataset']} run with {describe(side)}")]
    # only the two sides: other configurations would only widen compare's own Holm family
    sides = ours[_matches(ours, candidate) | _matches(ours, reference)]
    table = compare(sides, reference, metric=claim["metric"], alpha=alpha)
    out = []
    for row, context in _contexts(sides, table, reference):
        if all(canonical(row.get(k)) == canonical(v) for k, v in candidate.items()):
            out.append(_result(claim, row, context, sides))
    if not out:
        why = (
            f"no {describe(reference)} run shares the other settings of a {describe(candidate)} run"
        )
        return [_not_run(claim, why)]
    return out


def _near_best(runs: pd.DataFrame, claim: Mapping[str, Any], alpha: float) -> list[dict[str, Any]]:
    ours = _of_dataset(runs, claim["dataset"])
    reference = parse_assignments(claim["reference"])
    if ours.empty or not _matches(ours, reference).any():
        return [_not_run(claim, f"no {claim['dataset']} run with {describe(reference)}")]
    table = compare(ours, reference, metric=claim["metric"], alpha=alpha)
    by_context: dict[str, tuple[dict[str, str], list[pd.Series]]] = {}
    for row, context in _contexts(ours, table, reference):
        by_context.setdefault(describe(context), (context, []))[1].append(row)
    out = [
        _near_best_result(claim, pd.DataFrame(rows), context, ours, reference)
        for context, rows in by_context.values()
    ]
    if not out:
        return [_not_run(claim, f"no configuration other than {describe(reference)} ran")]
    return out


def _near_best_result(
    claim: Mapping[str, Any],
    group: pd.DataFrame,
    context: dict[str, str],
    runs: pd.DataFrame,
    reference: Mapping[str, str],
) -> dict[str, Any]:
    band = float(claim["effect_points"]) / PERCENT
    high, low = group["ci_high"].astype(float), group["ci_low"].astype(float)
    within = high.notna() & (high <= band + 1e-12)
    beyond = group["verdict"].eq("better") & (low > band)
    verdict = SUPPORTED if within.all() else CONTRADICTED if beyond.any() else INCONCLUSIVE
    ranked = group.assign(_m=group["mean_diff"].astype(float)).sort_values(
        "_m", ascending=False, na_position="last"
    )
    best = ranked.iloc[0]
    name, margin = _setting_of(runs, best, reference), _points_text(claim["effect_points"])
    notes = [
        f"{len(group)} other configuration{'s' if len(group) > 1 else ''}, {int(within.sum())} "
        f"within {margin} (CI upper bound); the best: {name}"
        + (f", p(Holm across the sweep) {best['p_holm']:.3g}" if best["n_pairs"] else "")
    ]
    if verdict == CONTRADICTED:
        winners = group[beyond]
        names = ", ".join(_setting_of(runs, r, reference) for _, r in winners.iterrows())
        notes.append(f"better by more than {margin}: {names}")
    unpaired = int((group["n_pairs"] == 0).sum())
    if unpaired:
        notes.append(f"{unpaired} without a paired seed")
    needed, at = math.nan, ""
    if verdict == INCONCLUSIVE:
        # the least decided configuration: the most seeds to bring its CI off the band's edge
        estimates = [
            stats.seeds_needed(float(r["sd_diff"]), band - float(r["mean_diff"]))
            for _, r in group[~within & group["n_pairs"].gt(0)].iterrows()
        ]
        finite = [e for e in estimates if np.isfinite(e)]
        if finite:
            needed = max(finite)
            at = f"the margin to the paper's {claim['effect_points']:g}-point band"
        else:
            notes.append("too few pairs to estimate the spread")
    return {
        **_fields(claim),
        **_numbers(best),
        "context": _describe_raw(runs, context) if context else "",
        "p_value": math.nan,  # not one test: the verdict reads every configuration's interval
        "p_holm": math.nan,
        "verdict": verdict,
        "seeds_needed": needed,
        "seeds_needed_at": at,
        "note": "; ".join(notes),
        _SD: math.nan,
    }


def _result(
    claim: Mapping[str, Any], row: pd.Series, context: dict[str, str], runs: pd.DataFrame
) -> dict[str, Any]:
    """A ``greater`` claim in one context, before the claims' Holm correction."""
    notes = []
    if row["n_pairs"] == 0:
        notes.append("no seed ran on both sides")
    if row["unpaired"]:
        notes.append(f"unpaired: {row['unpaired']}")
    return {
        **_fields(claim),
        **_numbers(row),
        "context": _describe_raw(runs, context) if context else "",
        "p_value": row["p_value"],
        "p_holm": math.nan,
        "verdict": INCONCLUSIVE,
        "seeds_needed": math.nan,
        "seeds_needed_at": "",
        "note": "; ".join(notes),
        _SD: float(row["sd_diff"]),
    }


def _not_run(claim: Mapping[str, Any], why: str) -> dict[str, Any]:
    return {
        **_fields(claim),
        "context": "",
        "n_pairs": 0,
        "seeds": "",
        "mean_diff": math.nan,
        "ci_low": math.nan,
        "ci_high": math.nan,
        "ci_method": "",
        "p_value": math.nan,
        "p_holm": math.nan,
        "verdict": NOT_RUN,
        "seeds_needed": math.nan,
        "seeds_needed_at": "",
        "note": why,
        "candidate_runs": "",
        "reference_runs": "",
        _SD: math.nan,
    }


# -- helpers ------------------------------------------------------------------------------------
def _fields(claim: Mapping[str, Any]) -> dict[str, Any]:
    return {c: claim[c] for c in CLAIM_FIELDS}


def _numbers(row: pd.Series) -> dict[str, Any]:
    """A comparison row's pairs, difference and interval (points) and run ids."""
    return {
        "n_pairs": int(row["n_pairs"]),
        "seeds": row["seeds"],
        "mean_diff": float(row["mean_diff"]) * PERCENT,
        "ci_low": float(row["ci_low"]) * PERCENT,
        "ci_high": float(row["ci_high"]) * PERCENT,
        "ci_method": row["ci_method"],
        "candidate_runs": row["candidate_runs"],
        "reference_runs": row["reference_runs"],
    }


def _points_text(value: float) -> str:
    return f"{value:g} point{'' if value == 1 else 's'}"


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def _of_dataset(runs: pd.DataFrame, dataset: str) -> pd.DataFrame:
    if runs.empty or "params.dataset" not in runs:
        return runs.iloc[0:0]
    return runs[runs["params.dataset"].map(canonical).eq(canonical(dataset))]


def _matches(runs: pd.DataFrame, values: Mapping[str, Any]) -> pd.Series:
    """Which runs have every ``values`` setting (compared as :func:`canonical` text)."""
    mask = pd.Series(True, index=runs.index)
    for field, value in values.items():
        col = f"params.{field}"
        if col not in runs:
            return pd.Series(False, index=runs.index)
        mask &= runs[col].map(canonical).eq(canonical(value))
    return mask


def _contexts(
    runs: pd.DataFrame, table: pd.DataFrame, reference: Mapping[str, str]
) -> list[tuple[pd.Series, dict[str, str]]]:
    """The comparison rows whose reference counterpart ran (in any state), each with its
    context: the other settings that vary (canonical text). A configuration whose counterpart
    never ran (an alpha sweep point of A3M against a Baseline-1 only at 0.5) tests nothing."""
    if table.empty:
        return []
    key = [c for c in table.columns if c not in COMPARISON_COLUMNS]
    fields = [*(k for k in key if k not in reference), *reference]
    ran = _settings_that_ran(runs, fields)
    out = []
    for _, row in table.iterrows():
        context = {k: row[k] for k in key if k not in reference}
        wanted = {**context, **reference}
        if tuple(canonical(wanted[f]) for f in fields) in ran:  # _matches(runs, wanted).any()
            out.append((row, context))
    return out


def _settings_that_ran(runs: pd.DataFrame, fields: list[str]) -> set[tuple[str, ...]]:
    """The values (canonical text) of ``fields`` that some run has, read once: asking
    :func:`_matches` for each comparison read every run again (minutes at 10,000 runs)."""
    columns = [f"params.{f}" for f in fields]
    if runs.empty or any(c not in runs for c in columns):
        return set()
    if not columns:
        return {()}
    return set(zip(*(runs[c].map(canonical) for c in columns), strict=True))


def _describe_raw(runs: pd.DataFrame, values: Mapping[str, str]) -> str:
    """:func:`describe` with each value as the runs logged it (``d=16``, not ``d=16.0``)."""
    return describe(as_logged(runs, values))


def _setting_of(runs: pd.DataFrame, row: pd.Series, reference: Mapping[str, str]) -> str:
    """A comparison row's values of the reference's fields (``alpha=0.3``), as logged."""
    return _describe_raw(runs, {k: row[k] for k in reference if k in row})
