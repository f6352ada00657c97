"""The report's sections as a table: each one's key, when it applies to the runs and how it is
drawn, in page order (:data:`SECTIONS`; :func:`dashboards.report.plan_sections` walks it).

A section that does not apply may say why in the report's last section ("Not in this report").
Every function of the table takes the :class:`SectionInputs`, which also computes, once, what
several sections share: the study's comparisons, the leaderboard, the claims, the paper's
tables beside ours and what Fig. 8 compares.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from a3m.sequential import Inference
from a3m.study.compare import attach_verdicts
from a3m.study.leaderboard import leaderboard
from a3m.study.tracking import ERROR_TAG
from dashboards import figures, figures_attention, figures_search, tables
from dashboards.conclusions import (
    Section,
    StudyComparisons,
    _message,
    claims_section,
    how_to_read_section,
    paired_section,
    study_comparisons,
)
from dashboards.data import (
    finished,
    label,
    numeric,
    param_importances,
    run_label,
    variants_in,
    varying_settings,
)
from dashboards.selection import AttributeComparison


# -- what the sections are drawn from -----------------------------------------------------------
def sweeps_alpha_beta(runs: pd.DataFrame) -> bool:
    """Whether the runs hold Fig. 7's sweeps: alpha and beta both vary, and 2+ alphas ran at
    beta = 0.5 or 2+ betas at alpha = 0.5 (an open search samples both: no sweep)."""
    alpha, beta = numeric(runs, "alpha"), numeric(runs, "beta")
    if alpha.nunique() < 2 or beta.nunique() < 2:
        return False
    at = figures.PAPER_WEIGHT
    return bool(
        alpha[np.isclose(beta, at)].nunique() > 1 or beta[np.isclose(alpha, at)].nunique() > 1
    )


def is_open_search(runs: pd.DataFrame, optuna_study: Any | None = None) -> bool:
    """An Optuna study was found, or a number looks sampled: a new value in every run (3+ runs)
    and more than 6 significant digits, which a grid of values someone typed never has (a grid
    of d = 128, 256, 512 has a new value in every run too, but round ones)."""
    if optuna_study is not None:
        return True
    if len(runs) < 3:
        return False
    for p in varying_settings(runs):
        values = numeric(runs, p)
        if values.notna().all() and values.nunique() == len(runs):
            if any(float(f"{v:.6g}") != v for v in values):
                return True
    return False


@dataclass(frozen=True)
class SectionInputs:
    """What the sections are drawn from: the arguments of
    :func:`dashboards.report.plan_sections` (documented there), and what several sections
    share, computed when first asked."""

    runs: pd.DataFrame
    attention: pd.DataFrame | None = None
    optuna_study: Any | None = None
    optuna_note: str = ""
    paper: pd.DataFrame | None = None
    reference: Mapping[str, str] | None = None
    claims: pd.DataFrame | None = None
    ui_url: str = ""
    diagnostics: pd.DataFrame | None = None
    inference: Inference | None = None
    attention_note: str = ""

    @cached_property
    def open_search(self) -> bool:
        return is_open_search(self.runs, self.optuna_study)

    @cached_property
    def study(self) -> StudyComparisons:
        """Every configuration against the reference, once for all the sections that show it."""
        return study_comparisons(
            self.runs, self.reference, inference=self.inference, open_search=self.open_search
        )

    @cached_property
    def board(self) -> pd.DataFrame:
        board = leaderboard(self.runs, sort_by="score_mean")
        if not self.study.table.empty and self.study.reference:
            # leaderboard.csv is the study's, verdicts included: the report's copy keeps them
            board = attach_verdicts(board, self.study.table, self.study.reference)
        return board

    @cached_property
    def claimed(self) -> Section:
        """The claims' section: the how-to-read section counts its secondary family too."""
        return claims_section(self.runs, self.claims, ui_url=self.ui_url, study=self.study)

    @cached_property
    def comparisons(self) -> dict[int, pd.DataFrame]:
        """The paper's tables that report the runs' datasets, with our values beside its."""
        return {
            number: tables.comparison_table(self.runs, number, self.paper, reference=self.reference)
            for number in tables.tables_for(self.runs)
        }

    @cached_property
    def variants(self) -> list[str]:
        return variants_in(self.runs)

    @cached_property
    def compared(self) -> AttributeComparison:
        return figures.attribute_comparison(self.runs, self.reference)


@dataclass(frozen=True)
class SectionRule:
    """One row of the report's table of sections.

    Attributes:
        key: the section's key (:attr:`dashboards.conclusions.Section.key`).
        applies: whether the runs have what the section needs.
        draw: the section, where it applies.
        why_not: where it does not apply, the line the last section gives it (None: no line).
    """

    key: str
    applies: Callable[[SectionInputs], bool]
    draw: Callable[[SectionInputs], Section]
    why_not: Callable[[SectionInputs], str | None] = lambda inputs: None


def _always(inputs: SectionInputs) -> bool:
    """The conclusions and the leaderboard: on every page with finished runs."""
    return True


# -- the conclusions and the leaderboard --------------------------------------------------------
def _how_to_read(inputs: SectionInputs) -> Section:
    return how_to_read_section(inputs.study, inputs.claimed.data)


def _claims(inputs: SectionInputs) -> Section:
    return inputs.claimed


def _paired(inputs: SectionInputs) -> Section:
    return paired_section(inputs.runs, ui_url=inputs.ui_url, study=inputs.study)


def _leaderboard(inputs: SectionInputs) -> Section:
    return Section(
        "leaderboard",
        "Leaderboard",
        "One row per configuration: mean and 95% CI over seeds of each metric (fractions in "
        "[0, 1], as in leaderboard.csv), runs and their statuses; leaderboard.csv also has "
        "each configuration's paired verdict against the reference and its failure rate.",
        html=leaderboard_html(inputs.board),
        data=inputs.board,
    )


# -- the paper's tables, one rule each ----------------------------------------------------------
def table_rule(number: int) -> SectionRule:
    """Table ``number``: where a run on its dataset has the protocol's metrics (a table of
    another dataset says nothing)."""

    def applies(inputs: SectionInputs) -> bool:
        comparison = inputs.comparisons.get(number)
        return comparison is not None and bool(comparison["ours"].notna().any())

    def draw(inputs: SectionInputs) -> Section:
        return Section(
            f"table{number}",
            tables.TABLE_TITLES[number],
            tables.table_caption(inputs.runs, number, inputs.reference),
            figure=tables.comparison_figure(inputs.comparisons[number]),
            data=inputs.comparisons[number],
        )

    def why_not(inputs: SectionInputs) -> str | None:
        if number not in inputs.comparisons:
            return None
        return f"{tables.TABLE_TITLES[number]}: no run on its dataset has the protocol's metrics"

    return SectionRule(f"table{number}", applies, draw, why_not)


# -- the paper's figures ------------------------------------------------------------------------
def _several_variants(inputs: SectionInputs) -> bool:
    return len(inputs.variants) > 1


def _fig5(inputs: SectionInputs) -> Section:
    return Section(
        "fig5_ablation",
        "Fig. 5: the attention modules",
        "Baseline-2 (equal weights), Att-1 (region attention only), Att-2 (attribute "
        "attention only), A3M (both) and the other variants that ran, per metric.",
        figure=figures.ablation_bars(inputs.runs, reference=inputs.reference),
    )


def _why_not_fig5(inputs: SectionInputs) -> str:
    variants = inputs.variants
    return "Fig. 5 (the attention modules): the study ran one variant" + (
        f" ({label(variants[0])})" if variants else ""
    )


def _has_sweeps(inputs: SectionInputs) -> bool:
    return sweeps_alpha_beta(inputs.runs)


def _fig7(inputs: SectionInputs) -> Section:
    sweeps = figures.alpha_beta_sweeps(inputs.runs)
    return Section(
        "fig7_alpha_beta",
        "Fig. 7: the loss weights alpha and beta",
        "Loss (11) = L_add + alpha L_cat + beta mean_k L_k: alpha swept at beta = 0.5 and "
        "beta at alpha = 0.5 (the paper's choice); one variant (A3M when it ran); "
        f"{figures.interval_text(sweeps)}.",
        figure=figures.alpha_beta_curves(inputs.runs),
    )


def _why_not_fig7(inputs: SectionInputs) -> str:
    return (
        f"Fig. 7 (the loss weights): alpha and beta were not swept around the paper's "
        f"{figures.PAPER_WEIGHT}"
    )


def _compares_attributes(inputs: SectionInputs) -> bool:
    return len(inputs.compared.groups) >= 2


def _fig8(inputs: SectionInputs) -> Section:
    return Section(
        "fig8_attributes",
        "Fig. 8: per-attribute accuracy",
        f"Accuracy of each attribute head on the test set: {inputs.compared.what}. Mean over "
        "seeds, with 95% CIs (a proportion's, inside [0, 100]) where two or more ran.",
        figure=figures.attribute_accuracy_bars(inputs.runs, reference=inputs.reference),
    )


def _why_not_fig8(inputs: SectionInputs) -> str:
    return f"Fig. 8 (per-attribute accuracy): {inputs.compared.what}"


def _has_attention(inputs: SectionInputs) -> bool:
    return inputs.attention is not None and not inputs.attention.empty


def _fig6(inputs: SectionInputs) -> Section:
    return Section(
        "fig6_attention",
        "Fig. 6: attention maps",
        "Query images of the test split with the attribute-guided masks m^(k) of the most "
        "selective attributes and m_region, as the trial logged them; the run: "
        + (inputs.attention_note or "as downloaded")
        + ".",
        figure=figures_attention.attention_maps(
            inputs.attention, names=figures.attribute_names(inputs.runs)
        ),
    )


def _why_not_fig6(inputs: SectionInputs) -> str:
    # with a frame, the runs were asked and none had maps; without, the note says why not
    why = inputs.attention_note or "none were downloaded"
    why = why if inputs.attention is None else "no run logged any"
    return f"Fig. 6 (attention maps): {why}"


def _has_diagnostics(inputs: SectionInputs) -> bool:
    return inputs.diagnostics is not None and not inputs.diagnostics.empty


def _diagnostics(inputs: SectionInputs) -> Section:
    return Section(
        "diagnostics",
        "Training diagnostics: why a variant trails or leads",
        "Per epoch, mean over seeds: the learned attention weights (mean, and the share "
        "saturated within 0.01 of 0 or 1, where a sigmoid has stopped learning), the "
        "norms of f_region, f_attr and f_final, and each part's gradient norm.",
        figure=figures_attention.attention_diagnostics(inputs.runs, inputs.diagnostics),
    )


# -- an open search -----------------------------------------------------------------------------
def _open_search(inputs: SectionInputs) -> bool:
    return inputs.open_search


def _search_parallel(inputs: SectionInputs) -> Section:
    return Section(
        "search_parallel",
        "Search: parallel coordinates",
        "Every trial through its sampled parameters to its score.",
        figure=figures_search.parallel_coordinates(inputs.runs),
    )


def _search_importance(inputs: SectionInputs) -> Section:
    importances, source = param_importances(inputs.runs, inputs.optuna_study)
    if inputs.optuna_study is None and inputs.optuna_note:  # say why it is not Optuna's own
        source = f"{source}; {inputs.optuna_note}"
    return Section(
        "search_importance",
        "Search: parameter importance",
        "fANOVA importance of each sampled parameter for the score "
        f"(optuna.importance.get_param_importances); {inputs.optuna_note or 'no Optuna study'}.",
        figure=figures_search.param_importance_bars(importances, source),
    )


def _search_history(inputs: SectionInputs) -> Section:
    return Section(
        "search_history",
        "Search: best value so far",
        "Each trial's score in start order and the best so far.",
        figure=figures_search.best_value_history(inputs.runs),
    )


# -- the runs that did not make it --------------------------------------------------------------
def _has_problems(inputs: SectionInputs) -> bool:
    runs = inputs.runs
    if len(finished(runs)) < len(runs) or "metrics.score" not in runs:
        return True
    return bool(runs["metrics.score"].isna().any())


def _problems(inputs: SectionInputs) -> Section:
    return Section(
        "problems",
        "Runs that failed or never evaluated",
        f"These runs are left out of the figures' means; their reason is MLflow's {ERROR_TAG} tag.",
        html=runs_overview_html(inputs.runs, only_problems=True),
    )


# -- the table ----------------------------------------------------------------------------------
SECTIONS: tuple[SectionRule, ...] = (
    SectionRule("how_to_read", _always, _how_to_read),
    SectionRule("claims", _always, _claims),
    SectionRule("paired_comparisons", _always, _paired),
    SectionRule("leaderboard", _always, _leaderboard),
    *(table_rule(number) for number in sorted(tables.TABLE_TITLES)),
    SectionRule("fig5_ablation", _several_variants, _fig5, _why_not_fig5),
    SectionRule("fig7_alpha_beta", _has_sweeps, _fig7, _why_not_fig7),
    SectionRule("fig8_attributes", _compares_attributes, _fig8, _why_not_fig8),
    SectionRule("fig6_attention", _has_attention, _fig6, _why_not_fig6),
    SectionRule("diagnostics", _has_diagnostics, _diagnostics),
    SectionRule("search_parallel", _open_search, _search_parallel),
    SectionRule("search_importance", _open_search, _search_importance),
    SectionRule("search_history", _open_search, _search_history),
    SectionRule("problems", _has_problems, _problems),
)
"""The report's sections in page order (the module docstring of :mod:`dashboards.report` says
why this order): the conclusions, the leaderboard, the paper's tables and figures, the
diagnostics, an open search's plots, and the runs that failed."""


# -- HTML pieces --------------------------------------------------------------------------------
def leaderboard_html(board: pd.DataFrame) -> str:
    """The leaderboard as an HTML table: run ids left out (they are in the CSV), empty columns
    (CIs of single seeds) dropped."""
    shown = board.drop(columns=["run_ids"], errors="ignore").dropna(axis=1, how="all")
    return shown.to_html(
        index=False, float_format=lambda v: f"{v:.4f}", na_rep="–", classes="table", border=0
    )


def runs_overview_html(runs: pd.DataFrame, only_problems: bool = False) -> str:
    """A table of runs: id, status, variant, seed, score, error (``only_problems``: the runs
    that are not FINISHED or have no score)."""
    if runs.empty:
        return _message("The experiment has no trial runs.")
    pick = runs
    if only_problems:
        no_score = runs["metrics.score"].isna() if "metrics.score" in runs else True
        pick = runs[(runs["status"] != "FINISHED") | no_score]
    table = pd.DataFrame(
        {
            "run": [run_label(r) for _, r in pick.iterrows()],
            "status": pick["status"],
            "score": pick.get("metrics.score", pd.Series(np.nan, index=pick.index)),
            "error": pick.get(f"tags.{ERROR_TAG}", pd.Series("", index=pick.index)).fillna(""),
        }
    )
    return table.to_html(
        index=False, float_format=lambda v: f"{v:.4f}", na_rep="–", classes="table", border=0
    )
