"""What a figure shows when the study ran more than it can draw, chosen without the test split.

A figure that picks configurations or runs (Fig. 6's attention maps, Fig. 8's configurations)
and then shows their scores on the test split would flatter what it picked if it picked by that
score. Here every pick uses the study's declared reference (``a3m.reference``), the held-out
validation score (``val_score``, logged with ``--set val_fraction=0.1``), or no score at all
(the study's base, the first seed); without any of them the figure is left out, and its note
says how to get a validation score. Ranking by ``val_score`` follows its direction
(:func:`a3m.stats.higher_is_better`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from a3m import stats
from a3m.study.tracking import canonical
from dashboards.data import (
    ATTRIBUTE_PREFIX,
    VALIDATION_METRIC,
    config_runs_per_variant,
    finished,
    has_metric,
    label,
    study_base,
    variants_in,
    varying_settings,
)

HOW_TO_VALIDATE = (
    "hold out a validation part of the training split with --set val_fraction=0.1, so each run "
    f"logs a {VALIDATION_METRIC} to choose by"
)
"""What a refusal to pick by the test split tells the user to do."""


# -- Fig. 6: which run's attention maps -----------------------------------------------------
class Pick(NamedTuple):
    """Runs a figure may show, and how they were chosen.

    Attributes:
        runs: the chosen runs, in the order to try them (empty when refused).
        rule: one clause on how they were chosen, for a caption.
        refused: why nothing was chosen ("" when something was).
    """

    runs: pd.DataFrame
    rule: str
    refused: str


def _val_order(runs: pd.DataFrame) -> pd.Series:
    """Each run's ``val_score`` as a rank key (larger = better in its direction; NaN last)."""
    val = runs.get(f"metrics.{VALIDATION_METRIC}", pd.Series(np.nan, index=runs.index))
    sign = 1.0 if stats.higher_is_better(VALIDATION_METRIC) else -1.0
    return (sign * val.astype(float)).fillna(-np.inf)


def attention_candidates(runs: pd.DataFrame, reference: Mapping[str, str] | None = None) -> Pick:
    """The finished runs whose attention maps Fig. 6 may show (Baseline-1 has none), A3M first.

    One configuration per attention variant (:func:`dashboards.data.config_runs_per_variant`:
    at the study's reference, then by mean ``val_score`` on the settings it leaves free, else
    at the study's base); within it the runs by ``val_score`` when logged, else by seed. When
    the runs vary more than the variant and there is neither a declared reference nor a
    ``val_score`` (an open search that held nothing out), nothing is chosen: the only way left
    would be the test score, the split the figure shows.
    """
    done = finished(runs)
    if "params.variant" in done:
        done = done[done["params.variant"] != "baseline1"]
    if done.empty:
        return Pick(done, "", "no finished run of a variant with attention")
    others = varying_settings(done, exclude=["variant"])
    has_val = has_metric(done, VALIDATION_METRIC)
    if others and not reference and not has_val:
        why = (
            f"the runs vary {', '.join(others)} besides the variant, the study declared no "
            f"reference and no run logged a {VALIDATION_METRIC}: the run to show would be picked "
            f"by its test score, the split the figure shows. To get it, {HOW_TO_VALIDATE}"
        )
        return Pick(done.iloc[0:0], "", why)
    chosen, _, rule = config_runs_per_variant(done, "variant", reference)
    order = pd.DataFrame(index=chosen.index)
    if "params.variant" in chosen:
        paper = {v: i for i, v in enumerate(dict.fromkeys(["a3m", *variants_in(chosen)]))}
        order["variant"] = chosen["params.variant"].map(paper)
    else:
        order["variant"] = 0
    order["val"] = -_val_order(chosen)
    order["seed"] = pd.to_numeric(chosen.get("params.seed", 0), errors="coerce")
    ranked = chosen.loc[order.sort_values(["variant", "val", "seed"], kind="stable").index]
    within = f"its runs by {VALIDATION_METRIC}" if has_val else "its first seed"
    lead = rule.rstrip(".") if rule else "The study's one configuration of each variant"
    return Pick(ranked, f"{lead}; {within}", "")


# -- Fig. 8: which configurations ------------------------------------------------------------
def attribute_names(runs: pd.DataFrame) -> list[str]:
    """The attributes with a per-attribute accuracy (``attr_acc/<name>``), sorted; no mean."""
    return sorted(
        c.removeprefix(ATTRIBUTE_PREFIX)
        for c in runs.columns
        if c.startswith(ATTRIBUTE_PREFIX)
        and c != f"{ATTRIBUTE_PREFIX}mean"
        and runs[c].notna().any()
    )


ATTRIBUTE_CONFIGS = 4
"""Fig. 8 of a study that varies something besides the variant shows at most this many
configurations (its reference and the best others): more bars per attribute do not read."""


class AttributeComparison(NamedTuple):
    """What Fig. 8 compares (:func:`attribute_comparison`).

    Attributes:
        groups: legend name -> the runs of one compared configuration (all its seeds, failed
            ones too), in drawing order.
        what: what is compared and how it was chosen, one clause for a caption (lower case).
        short: the same in a few words, for the figure's subtitle.
        notes: lines for the note under the plot (how each variant's configuration was chosen,
            a paper variant that ran without attribute accuracies).
        scope: the runs whose lack of attribute accuracies the note names.
    """

    groups: dict[str, pd.DataFrame]
    what: str
    short: str
    notes: list[str]
    scope: pd.DataFrame


def _by_dataset(runs: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """The runs per dataset, in first-seen order (one group without a dataset column)."""
    if "params.dataset" not in runs:
        return [("", runs)]
    return [(str(d), g) for d, g in runs.groupby("params.dataset", sort=False, dropna=False)]


def attribute_comparison(
    runs: pd.DataFrame,
    reference: Mapping[str, str] | None = None,
    variants: Sequence[str] = ("baseline2", "a3m"),
    max_configs: int = ATTRIBUTE_CONFIGS,
) -> AttributeComparison:
    """What Fig. 8 compares: what the study varied.

    An ablation (two or more variants logged per-attribute accuracies): ``variants`` (the
    paper's Baseline-2 against A3M) when all of them did, else every variant that did; one
    configuration per variant (:func:`dashboards.data.config_runs_per_variant`). A study of one
    variant that varies other settings (alpha/beta points, the authors'-code switches, d): its
    configurations, all of them when at most ``max_configs`` (the reference first), else the
    study's reference and the best others by mean ``val_score`` (validation split); without a
    ``val_score`` there is no way to pick them but the test split's score, so nothing is
    compared and ``what`` says how to get one. They are named by the settings in which they
    differ. A study run on several datasets is compared within each.

    Args:
        runs: runs frame with ``metrics.attr_acc/<name>`` columns.
        reference: the study's declared reference configuration.
        variants: the variants the paper compares.
        max_configs: configurations shown of a study that varies something else.
    """
    names = attribute_names(runs)
    if not names:
        what = "no run has per-attribute accuracies (attr_acc/<name>)"
        return AttributeComparison({}, what, what, [], runs.iloc[0:0])
    with_attrs = runs[runs[[f"{ATTRIBUTE_PREFIX}{n}" for n in names]].notna().any(axis=1)]
    present = variants_in(with_attrs)
    if len(present) >= 2:
        return _variant_comparison(runs, present, variants, reference)
    return _config_comparison(runs, with_attrs, reference, max_configs)


def _variant_comparison(
    runs: pd.DataFrame,
    present: list[str],
    variants: Sequence[str],
    reference: Mapping[str, str] | None,
) -> AttributeComparison:
    """Fig. 8 of an ablation: the paper's variants, else the ones with attribute heads."""
    lacking = [v for v in variants if v not in present]
    drawn = list(variants) if not lacking else present
    scope = runs[runs["params.variant"].isin(drawn)]
    picked: dict[str, list[pd.DataFrame]] = {}
    names: dict[str, str] = {}
    rules: list[str] = []
    for _, part in _by_dataset(scope):  # a configuration per variant within each dataset
        chosen, configs, rule = config_runs_per_variant(part, "variant", reference)
        rules += [rule] if rule and rule not in rules else []
        for variant in drawn:
            group = chosen[chosen["params.variant"] == variant]
            if len(group):
                picked.setdefault(variant, []).append(group)
                names.setdefault(variant, configs.get(variant, ""))
    groups = {
        label(v) + (f" ({names[v]})" if names[v] else ""): pd.concat(picked[v])
        for v in drawn
        if v in picked
    }
    versus = " against ".join(label(v) for v in variants)
    if lacking:
        what = (
            f"the variants that logged per-attribute accuracies "
            f"({', '.join(label(v) for v in drawn)}); the paper compares {versus}, but no "
            f"{', '.join(label(v) for v in lacking)} run has them here"
        )
        rules.append(f"no {', '.join(label(v) for v in lacking)} runs with attribute accuracies")
        short = f"the variants with attribute accuracies (the paper: {versus})"
    else:
        what = f"{versus}, as in the paper"
        short = what
    if any(names.get(v) for v in drawn):
        what += "; one configuration per variant, as the note under the plot says"
    return AttributeComparison(groups, what, short, rules, scope)


def _mean_per_config(keys: pd.Series, runs: pd.DataFrame, metric: str) -> pd.Series:
    """Each configuration's mean ``metric`` (NaN without one), each dataset weighing the same
    whatever its scale: a configuration is ranked by the mean of its datasets' means."""
    col = f"metrics.{metric}"
    frame = pd.DataFrame(
        {
            "key": keys[runs.index],
            "value": runs.get(col, pd.Series(np.nan, index=runs.index)).astype(float),
            "dataset": runs.get("params.dataset", pd.Series("", index=runs.index)),
        }
    )
    by_dataset = frame.groupby(["key", "dataset"], sort=False)["value"].mean()
    return by_dataset.groupby(level="key", sort=False).mean()


Config = tuple[str, ...]
"""A configuration: its values of the settings the study varied, as :func:`canonical` text."""

BY_VALIDATION = f"mean {VALIDATION_METRIC} (validation split)"
"""How Fig. 8 orders a study's configurations when their runs logged a validation score."""


def _config_comparison(
    runs: pd.DataFrame,
    with_attrs: pd.DataFrame,
    reference: Mapping[str, str] | None,
    max_configs: int,
) -> AttributeComparison:
    """Fig. 8 of a study of one variant: its configurations (the reference and the best by
    ``val_score``; none picked by the test split)."""
    variant = label(with_attrs["params.variant"].iloc[0]) if "params.variant" in runs else ""
    settings = varying_settings(with_attrs, exclude=["dataset"])
    if not settings:
        what = f"one configuration ({variant or 'all runs'}) logged per-attribute accuracies"
        return AttributeComparison({variant or "all runs": with_attrs}, what, what, [], with_attrs)
    keys = _config_keys(runs, settings)
    configs = list(dict.fromkeys(keys[with_attrs.index]))
    logged = {k: runs.loc[keys[keys == k].index[0]] for k in configs}  # values as logged
    ref = _reference_config(configs, settings, reference, study_base(with_attrs, settings))
    configurations = f"{variant} configurations" if variant else "configurations"
    by_val = has_metric(with_attrs, VALIDATION_METRIC)
    others = [k for k in configs if k != ref]  # in the order they ran
    if by_val:
        others = _by_validation(others, keys, with_attrs)
    elif len(configs) > max_configs:
        what = _too_many_to_choose(len(configs), configurations, max_configs)
        return AttributeComparison({}, what, what, [], with_attrs.iloc[0:0])
    if len(configs) > max_configs:
        others = others[: max_configs - (ref is not None)]
    shown = ([ref] if ref is not None else []) + others
    groups = _named_groups(runs, keys, logged, settings, ref, others)
    ref_text = None if ref is None else _describe(logged[ref], settings)
    if len(shown) < len(configs):
        what, short = _best_shown(len(configs), len(others), ref_text, configurations)
    else:
        what, short = _all_shown(len(configs), len(others), ref_text, configurations, by_val)
    return AttributeComparison(groups, what, short, [], runs[keys.isin(shown)])


def _config_keys(runs: pd.DataFrame, settings: Sequence[str]) -> pd.Series:
    """Each run's :data:`Config`: its values of ``settings``."""
    return pd.Series(
        list(zip(*(runs[f"params.{s}"].map(canonical) for s in settings), strict=True)),
        index=runs.index,
    )


def _describe(first: pd.Series, among: Sequence[str]) -> str:
    """``alpha=0.3, beta=0.5``: a configuration's values of ``among``, as its run logged them."""
    return ", ".join(f"{s}={first[f'params.{s}']}" for s in among)


def _reference_config(
    configs: list[Config],
    settings: list[str],
    reference: Mapping[str, str] | None,
    base: Mapping[str, str],
) -> Config | None:
    """The configuration at the declared reference's values (the study's base elsewhere)."""
    fixed = {s: canonical(v) for s, v in (reference or {}).items() if s in settings}
    at_reference = [
        k for k in configs if fixed and all(k[settings.index(s)] == v for s, v in fixed.items())
    ]
    return max(
        at_reference, key=lambda k: sum(k[i] == base[s] for i, s in enumerate(settings)),
        default=None,
    )  # fmt: skip


def _by_validation(
    configs: list[Config], keys: pd.Series, with_attrs: pd.DataFrame
) -> list[Config]:
    """``configs`` by mean ``val_score``, best first in its direction (never the test split)."""
    sign = 1.0 if stats.higher_is_better(VALIDATION_METRIC) else -1.0
    means = _mean_per_config(keys, with_attrs, VALIDATION_METRIC)
    return sorted(configs, key=lambda k: -np.nan_to_num(sign * means[k], nan=-np.inf))


def _too_many_to_choose(n: int, configurations: str, max_configs: int) -> str:
    """Why Fig. 8 compares none of ``n`` configurations: too many, and no score to choose by."""
    return (
        f"{n} {configurations} logged per-attribute accuracies, more than the "
        f"{max_configs} a figure can compare, and no run logged a {VALIDATION_METRIC} to "
        "choose them by (choosing by the test score would select on the split the figure "
        f"shows). To get it, {HOW_TO_VALIDATE}"
    )


def _named_groups(
    runs: pd.DataFrame,
    keys: pd.Series,
    logged: Mapping[Config, pd.Series],
    settings: list[str],
    ref: Config | None,
    others: list[Config],
) -> dict[str, pd.DataFrame]:
    """The shown configurations' runs, named by how each differs from the reference, else by
    the settings the shown ones vary."""
    if ref is None:
        varied = [s for i, s in enumerate(settings) if len({k[i] for k in others}) > 1]
        return {_describe(logged[k], varied or settings): runs[keys == k] for k in others}
    differ = [[s for i, s in enumerate(settings) if k[i] != ref[i]] for k in others]
    union = [s for s in settings if any(s in d for d in differ)]
    name = "reference" + (f" ({_describe(logged[ref], union)})" if len(union) <= 3 else "")
    groups = {name: runs[keys == ref]}
    groups |= {
        _describe(logged[k], d): runs[keys == k] for k, d in zip(others, differ, strict=True)
    }
    return groups


def _best_shown(
    n: int, n_others: int, ref_text: str | None, configurations: str
) -> tuple[str, str]:
    """(what, short) of a Fig. 8 of the reference and the best others of ``n`` by val_score."""
    best = f"the {n_others}{' other' * (ref_text is not None)} configurations with the best"
    against = "" if ref_text is None else f"the study's reference ({ref_text}) against "
    what = f"{against}{best} {BY_VALIDATION}, of the {n} {configurations} with per-attribute "
    what += "accuracies"
    short = (
        f"{'the reference against ' * (ref_text is not None)}{best} mean {VALIDATION_METRIC}, "
        f"of {n}"
    )
    return what, short


def _all_shown(
    n: int, n_others: int, ref_text: str | None, configurations: str, by_val: bool
) -> tuple[str, str]:
    """(what, short) of a Fig. 8 of all ``n`` configurations, the reference first."""
    every = "both" if n == 2 else f"all {n}"
    what = f"{every} {configurations} with per-attribute accuracies"
    short = f"{every} {configurations} of the study"
    if ref_text is not None:
        what += f", the study's reference ({ref_text}) first"
        short += ", the reference first"
    if n_others > 1:
        lead = "the others " if ref_text is not None else ""
        what += (
            f", {lead}in order of {BY_VALIDATION}" if by_val else f", {lead}in the order they ran"
        )
    return what, short
