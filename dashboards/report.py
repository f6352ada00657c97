"""One self-contained HTML report per experiment, a PNG per figure, and the CSVs beside them.

:func:`plan_sections` picks what applies to the runs. First the conclusions: the paper's claims
(``paper_claims.csv``) with what these runs say about each, seed against seed
(:mod:`dashboards.claims`), then every configuration against the study's reference
(:func:`a3m.study.compare.compare`), each row linking to its runs in the MLflow UI. Then always
the leaderboard; the paper's table of each dataset with our values (Tables 1-5); Fig. 5 when
variants vary; Fig. 7 when alpha and beta were swept around the paper's 0.5; Fig. 8 when two or
more configurations have per-attribute accuracies (it compares what the study varied:
:func:`dashboards.figures.attribute_comparison`); Fig. 6 when attention maps were logged; the
search plots for an open (Optuna) search; and the runs that failed or never evaluated. A figure
with nothing to draw is left out, and the last section says which were and why. An experiment
without finished runs gets a page that says so.

:func:`write_report` writes ``report.html`` with Plotly's JavaScript inline (it opens offline,
e.g. from a cluster's shared disk), ``leaderboard.csv`` and ``tableN.csv``, and a PNG per
figure (:mod:`dashboards.export`: kaleido with a Chromium-based browser of the system; without
one the PNGs are skipped with a message, the HTML needs none).
"""

from __future__ import annotations

import html
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from a3m import stats
from a3m.study.compare import COMPARISON_COLUMNS, best_reference, compare, describe
from a3m.study.leaderboard import leaderboard
from a3m.study.tracking import ERROR_TAG, redact
from dashboards import claims as paper_claims
from dashboards import figures, tables
from dashboards.data import (
    as_logged,
    finished,
    is_synthetic,
    label,
    numeric,
    param_importances,
    run_label,
    shared_settings,
    status_counts,
    variants_in,
    varying_settings,
)
from dashboards.export import export_pngs

REPORT_NAME = "report.html"
LEADERBOARD_NAME = "leaderboard.csv"
LOCAL_MLFLOW_UI = "http://127.0.0.1:5000"
"""Where ``mlflow ui --backend-store-uri <store>`` serves a local (file or SQLite) store."""


@dataclass
class Section:
    """One part of the report: a figure, or ready HTML (a table), and optionally a CSV.

    Attributes:
        key: anchor, div id and file stem (``fig5_ablation`` -> ``fig5_ablation.png``).
        title: the heading.
        caption: one or two sentences under the heading (plain text).
        figure: a Plotly figure (exported as PNG), or None.
        html: HTML shown instead of a figure (escaped already), or None.
        data: a table written as ``<key>.csv`` beside the report, or None.
    """

    key: str
    title: str
    caption: str = ""
    figure: go.Figure | None = None
    html: str | None = None
    data: pd.DataFrame | None = None


@dataclass
class Report:
    """What :func:`write_report` wrote."""

    html: Path
    pngs: list[Path] = field(default_factory=list)
    csvs: list[Path] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)


# -- which figures apply ------------------------------------------------------------------------
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


def plan_sections(
    runs: pd.DataFrame,
    *,
    experiment: str,
    attention: pd.DataFrame | None = None,
    optuna_study: Any | None = None,
    optuna_note: str = "",
    paper: pd.DataFrame | None = None,
    reference: Mapping[str, str] | None = None,
    claims: pd.DataFrame | None = None,
    ui_url: str = LOCAL_MLFLOW_UI,
    diagnostics: pd.DataFrame | None = None,
    alpha: float = stats.ALPHA,
) -> list[Section]:
    """The report's sections for these runs, in reading order (see the module docstring).

    Args:
        runs: runs frame of the experiment.
        experiment: its name (for messages).
        attention: the downloaded attention PNGs
            (:func:`dashboards.data.download_attention_images`).
        optuna_study: the experiment's Optuna study, when there is one.
        optuna_note: where the study came from or why there is none.
        paper: the paper's numbers (default ``paper_numbers.csv``).
        reference: the reference configuration the study declared
            (:func:`a3m.study.runs.study_reference`); None: the best one, with a caveat.
        claims: the paper's claims (default ``paper_claims.csv``).
        ui_url: the MLflow UI the runs link to (:func:`mlflow_ui_url`).
        diagnostics: the trials' per-epoch ``diag/`` metrics
            (:func:`dashboards.data.diagnostics_history`); a section when not empty.
        alpha: the family-wise error rate of every verdict, the claims' and the paired ones
            (the study's, :func:`a3m.study.runs.study_alpha`: below 0.05 after
            ``--seeds auto``, so the report says what the leaderboard says).
    """
    done = finished(runs)
    empty = no_runs_message(runs, experiment)
    if empty:
        return [
            Section("no_runs", "No finished runs", html=_message(empty) + runs_overview_html(runs))
        ]

    board = leaderboard(runs, sort_by="score_mean")
    open_search = is_open_search(runs, optuna_study)
    sections = [
        claims_section(runs, claims, ui_url=ui_url, alpha=alpha),
        paired_section(runs, reference, ui_url=ui_url, open_search=open_search, alpha=alpha),
        Section(
            "leaderboard",
            "Leaderboard",
            "One row per configuration: mean and 95% CI over seeds of each metric (fractions in "
            "[0, 1], as in leaderboard.csv), runs and their statuses.",
            html=leaderboard_html(board),
            data=board,
        ),
    ]
    skipped: list[str] = []  # "what: why", for the last section
    for number in tables.tables_for(runs):
        comparison = tables.comparison_table(runs, number, paper, reference=reference)
        if comparison["ours"].notna().any():
            sections.append(
                Section(
                    f"table{number}",
                    tables.TABLE_TITLES[number],
                    tables.table_caption(runs, number, reference),
                    figure=tables.comparison_figure(comparison),
                    data=comparison,
                )
            )
        else:
            skipped.append(
                f"{tables.TABLE_TITLES[number]}: no run on its dataset has the protocol's metrics"
            )
    variants = variants_in(runs)
    if len(variants) > 1:
        sections.append(
            Section(
                "fig5_ablation",
                "Fig. 5: the attention modules",
                "Baseline-2 (equal weights), Att-1 (region attention only), Att-2 (attribute "
                "attention only), A3M (both) and the other variants that ran, per metric.",
                figure=figures.ablation_bars(runs, reference=reference),
            )
        )
    else:
        skipped.append(
            "Fig. 5 (the attention modules): the study ran one variant"
            + (f" ({label(variants[0])})" if variants else "")
        )
    if sweeps_alpha_beta(runs):
        sweeps = figures.alpha_beta_sweeps(runs)
        sections.append(
            Section(
                "fig7_alpha_beta",
                "Fig. 7: the loss weights alpha and beta",
                "Loss (11) = L_add + alpha L_cat + beta mean_k L_k: alpha swept at beta = 0.5 and "
                "beta at alpha = 0.5 (the paper's choice); one variant (A3M when it ran); "
                f"{figures.interval_text(sweeps)}.",
                figure=figures.alpha_beta_curves(runs),
            )
        )
    else:
        skipped.append(
            f"Fig. 7 (the loss weights): alpha and beta were not swept around the paper's "
            f"{figures.PAPER_WEIGHT}"
        )
    compared = figures.attribute_comparison(runs, reference)
    if len(compared.groups) >= 2:
        sections.append(
            Section(
                "fig8_attributes",
                "Fig. 8: per-attribute accuracy",
                f"Accuracy of each attribute head on the test set: {compared.what}. Mean over "
                "seeds, with 95% CIs where two or more ran.",
                figure=figures.attribute_accuracy_bars(runs, reference=reference),
            )
        )
    else:
        skipped.append(f"Fig. 8 (per-attribute accuracy): {compared.what}")
    if attention is not None and not attention.empty:
        sections.append(
            Section(
                "fig6_attention",
                "Fig. 6: attention maps",
                "Query images of the test split with the attribute-guided masks m^(k) of the most "
                "selective attributes and m_region, as the best attention run logged them.",
                figure=figures.attention_maps(attention, names=figures.attribute_names(runs)),
            )
        )
    else:
        skipped.append(
            "Fig. 6 (attention maps): "
            + ("none were downloaded" if attention is None else "no run logged any")
        )
    if diagnostics is not None and not diagnostics.empty:
        sections.append(
            Section(
                "diagnostics",
                "Training diagnostics: why a variant trails or leads",
                "Per epoch, mean over seeds: the learned attention weights (mean, and the share "
                "saturated within 0.01 of 0 or 1, where a sigmoid has stopped learning), the "
                "norms of f_region, f_attr and f_final, and each part's gradient norm.",
                figure=figures.attention_diagnostics(runs, diagnostics),
            )
        )
    if open_search:
        importances, source = param_importances(runs, optuna_study)
        if optuna_study is None and optuna_note:  # say why it is not Optuna's own study
            source = f"{source}; {optuna_note}"
        sections += [
            Section(
                "search_parallel",
                "Search: parallel coordinates",
                "Every trial through its sampled parameters to its score.",
                figure=figures.parallel_coordinates(runs),
            ),
            Section(
                "search_importance",
                "Search: parameter importance",
                "fANOVA importance of each sampled parameter for the score "
                f"(optuna.importance.get_param_importances); {optuna_note or 'no Optuna study'}.",
                figure=figures.param_importance_bars(importances, source),
            ),
            Section(
                "search_history",
                "Search: best value so far",
                "Each trial's score in start order and the best so far.",
                figure=figures.best_value_history(runs),
            ),
        ]
    if len(done) < len(runs) or "metrics.score" not in runs or runs["metrics.score"].isna().any():
        sections.append(
            Section(
                "problems",
                "Runs that failed or never evaluated",
                "These runs are left out of the figures' means; their reason is MLflow's "
                f"{ERROR_TAG} tag.",
                html=runs_overview_html(runs, only_problems=True),
            )
        )
    for section in [s for s in sections if s.figure is not None and not s.figure.data]:
        sections.remove(section)  # a figure with nothing to draw: say why, draw no empty box
        reasons = [a.text for a in section.figure.layout.annotations if a.text]
        skipped.append(f"{section.title}: {'; '.join(reasons) or 'nothing to draw'}")
    if skipped:
        sections.append(not_shown_section(skipped))
    return sections


def not_shown_section(skipped: Sequence[str]) -> Section:
    """The last section: the figures this study has not the runs for, and why."""
    items = "".join(f"<li>{html.escape(line.replace('<br>', ' '))}</li>" for line in skipped)
    return Section(
        "not_shown",
        "Not in this report",
        "Each figure appears only where the study has the runs for it.",
        html=f'<ul class="skipped">{items}</ul>',
    )


def no_runs_message(runs: pd.DataFrame, experiment: str) -> str | None:
    """What to say when the experiment has no finished run (None when it has one)."""
    if not finished(runs).empty:
        return None
    counts = ", ".join(f"{n} {s}" for s, n in status_counts(runs).items()) or "no trial runs"
    return (
        f"Experiment {experiment!r} has no finished runs yet ({counts}): nothing to plot. "
        "Figures appear once a trial has finished."
    )


# -- the conclusions: the paper's claims, and paired comparisons against the reference --------
def mlflow_ui_url(tracking_uri: str | None) -> str:
    """The MLflow UI the report's run links point to: the tracking server itself when the
    tracking URI is http(s), else :data:`LOCAL_MLFLOW_UI` (``mlflow ui`` on the store)."""
    uri = (tracking_uri or "").strip()
    return uri.rstrip("/") if uri.startswith(("http://", "https://")) else LOCAL_MLFLOW_UI


def run_url(ui_url: str, experiment_id: str, run_id: str) -> str:
    """A run's page in the MLflow UI: ``<ui>/#/experiments/<experiment_id>/runs/<run_id>``."""
    return f"{ui_url.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"


def run_experiments(runs: pd.DataFrame) -> dict[str, str]:
    """run id -> experiment id of the runs frame (empty without those columns): what
    :func:`run_links` needs, built once for a table's thousands of links."""
    if not {"run_id", "experiment_id"} <= set(runs.columns):
        return {}
    ids = runs["run_id"].to_numpy(dtype=object)
    return dict(zip(ids, runs["experiment_id"].astype(str).to_numpy(dtype=object), strict=True))


def run_links(
    run_ids: str | Sequence[str], runs: pd.DataFrame | Mapping[str, str], ui_url: str
) -> str:
    """Run ids (a ``;``-joined string or a list) as short links to their MLflow UI pages; plain
    short ids where the runs frame (or its :func:`run_experiments`) has no ``experiment_id``."""
    ids = [r for r in (run_ids.split(";") if isinstance(run_ids, str) else run_ids) if r]
    experiments = runs if isinstance(runs, Mapping) else run_experiments(runs)
    out = []
    for run_id in ids:
        short = html.escape(run_id[:7])
        if run_id in experiments:
            href = html.escape(run_url(ui_url, experiments[run_id], run_id))
            out.append(f'<a href="{href}" title="{html.escape(run_id)}">{short}</a>')
        else:
            out.append(f'<span title="{html.escape(run_id)}">{short}</span>')
    return " ".join(out)


def _points(value: float, signed: bool = True) -> str:
    if not np.isfinite(value):
        return "–"
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def _difference(mean: float, low: float, high: float) -> str:
    """``+1.20 [-0.30, +2.70]`` (points); the interval left out where there is none."""
    text = _points(mean)
    if np.isfinite(low) and np.isfinite(high):
        text += f" [{low:+.2f}, {high:+.2f}]"
    return text


def _seeds(needed: float) -> str:
    if not np.isfinite(needed):
        return "∞" if needed == math.inf else "–"
    return f"~{needed:.0f}"


def _side(assignment: str) -> str:
    """``variant=a3m`` -> ``A3M``; other settings as they are; ``*`` -> ``best other``."""
    if assignment == "*":
        return "best other"
    values = paper_claims.parse_assignments(assignment)
    if set(values) == {"variant"}:
        return label(values["variant"])
    return describe(values)


def claims_html(table: pd.DataFrame, runs: pd.DataFrame, ui_url: str) -> str:
    """The claims the runs tested as an HTML table (claim, source, the paper's effect, our
    paired difference with its interval, verdict, seeds needed, links to the runs of both
    sides), then one paragraph naming the claims these runs could not test."""
    tested = table[table["verdict"] != paper_claims.NOT_RUN]
    parts = []
    if not tested.empty:
        head = (
            "<tr><th>claim</th><th>source</th><th>paper (points)</th>"
            "<th>ours: paired difference (points) [95% CI]</th><th>verdict</th>"
            "<th>seeds needed</th><th>runs</th></tr>"
        )
        rows = []
        experiments = run_experiments(runs)
        for r in tested.to_dict("records"):
            claim = html.escape(r["text"])
            small = [f"{r['metric']}"] + ([r["context"]] if r["context"] else []) + (
                [r["note"]] if r["note"] else [])  # fmt: skip
            claim += f'<br><span class="note">{html.escape("; ".join(small))}</span>'
            ours = _difference(r["mean_diff"], r["ci_low"], r["ci_high"])
            detail = f"{r['n_pairs']} pair{'s' if r['n_pairs'] != 1 else ''}"
            if r["ci_method"]:
                detail += f", {r['ci_method']}"
            if np.isfinite(r["p_holm"]):
                detail += f", p(Holm) {r['p_holm']:.3g}"
            seeds = _seeds(r["seeds_needed"])
            if r["seeds_needed_at"]:
                seeds += f'<br><span class="note">at {html.escape(r["seeds_needed_at"])}</span>'
            links = (
                f"{html.escape(_side(r['candidate']))}: "
                f"{run_links(r['candidate_runs'], experiments, ui_url) or '–'}<br>"
                f"{html.escape(_side(r['reference']))}: "
                f"{run_links(r['reference_runs'], experiments, ui_url) or '–'}"
            )
            rows.append(
                f'<tr class="{r["verdict"].replace(" ", "-")}"><td>{claim}</td>'
                f"<td>{html.escape(r['source'])}</td><td>{_points(r['effect_points'])}</td>"
                f'<td>{ours}<br><span class="note">{html.escape(detail)}</span></td>'
                f"<td><b>{html.escape(r['verdict'])}</b></td><td>{seeds}</td>"
                f"<td>{links}</td></tr>"
            )
        parts.append(
            f'<table class="table claims" border="0"><thead>{head}</thead>'
            f"<tbody>{''.join(rows)}</tbody></table>"
        )
    else:
        parts.append(_message("None of the paper's claims can be tested with these runs."))
    parts.append(_not_tested_html(table, runs))
    return "\n".join(p for p in parts if p)


def _not_tested_html(table: pd.DataFrame, runs: pd.DataFrame) -> str:
    """The claims not run here: those on this study's datasets by name and reason (what one more
    run could test), those on other datasets counted (another study's job)."""
    absent = table[table["verdict"] == paper_claims.NOT_RUN]
    if absent.empty:
        return ""
    ours = set(runs["params.dataset"].dropna()) if "params.dataset" in runs else set()
    here = absent[absent["dataset"].isin(ours)]
    elsewhere = absent[~absent["dataset"].isin(ours)]
    lines = [f"{html.escape(r['text'])}: {html.escape(r['note'])}" for r in here.to_dict("records")]
    text = ""
    if lines:
        text += "<p>Not run here:</p><ul>" + "".join(f"<li>{x}</li>" for x in lines) + "</ul>"
    if not elsewhere.empty:
        datasets = ", ".join(sorted(elsewhere["dataset"].unique()))
        text += (
            f'<p class="caption">{len(elsewhere)} more claims are about other datasets '
            f"({html.escape(datasets)}): other studies test them (all rows in claims.csv).</p>"
        )
    return text


def claims_section(
    runs: pd.DataFrame,
    claims: pd.DataFrame | None = None,
    *,
    ui_url: str = LOCAL_MLFLOW_UI,
    alpha: float = stats.ALPHA,
) -> Section:
    """The report's first section: what the paper claims, what these runs say
    (:func:`dashboards.claims.evaluate_claims`); its CSV holds every claim, not-run ones too."""
    table = paper_claims.evaluate_claims(runs, claims, alpha=alpha)
    family = int((table["kind"].eq("greater") & table["p_value"].notna()).sum())
    caption = (
        "Each of the paper's claims these runs can test, with our difference candidate - "
        "reference in percentage points over the seeds both sides ran (paired by seed; 95% CI). "
        "Supported / contradicted: the sign-flip p-value, Holm-adjusted across the "
        f"comparisons tested here ({family}), is below {alpha:g} in the paper's direction / "
        "against it; "
        "inconclusive otherwise, with about how many seeds the observed spread needs to decide "
        "at the paper's effect (80% power). A 'near the best' claim is supported when every "
        "other configuration's CI upper bound is within the paper's margin. "
        f"The run ids link to the MLflow UI at {ui_url}."
    )
    if is_synthetic(runs):
        caption += (
            " These runs trained on a synthetic dataset: the verdicts check the pipeline, "
            "not the paper."
        )
    return Section(
        "claims",
        "What the paper claims, what these runs say",
        caption,
        html=claims_html(table, runs, ui_url),
        data=table,
    )


def _how_to_read(metric: str, alpha: float = stats.ALPHA) -> str:
    decide = stats.min_pairs_to_decide(alpha=alpha)
    return (
        '<ul class="how">'
        "<li>Each row is one configuration against its counterpart at the reference (its own "
        "other settings with the reference's put in), paired by seed: difference = row - "
        f"reference in percentage points of the final-epoch {html.escape(metric)} (each trial's "
        "protocol metric), with its 95% interval (Student t below "
        f"{stats.BOOTSTRAP_MIN_PAIRS} pairs, BCa bootstrap from {stats.BOOTSTRAP_MIN_PAIRS}).</li>"
        "<li><b>better</b> / <b>worse</b>: the two-sided sign-flip p-value, Holm-adjusted "
        f"across the rows, is below {alpha:g}. <b>no evidence</b> is not evidence of no "
        "difference: 'seeds needed' estimates how many seeds would decide at the observed "
        "difference (80% power).</li>"
        f"<li>With n seeds the smallest possible p is 2/2<sup>n</sup>: fewer than {decide} "
        "seeds can show a direction (ahead = the share of seeds on which the row is ahead) but "
        "never decide.</li></ul>"
    )


def paired_section(
    runs: pd.DataFrame,
    reference: Mapping[str, str] | None,
    *,
    ui_url: str = LOCAL_MLFLOW_UI,
    open_search: bool = False,
    metric: str = "score",
    alpha: float = stats.ALPHA,
) -> Section:
    """Every configuration against the study's reference, seed by seed
    (:func:`a3m.study.compare.compare`), or why there is no such table: one seed, no
    configuration besides the reference. Without a declared reference (an open search declares
    none) the best configuration is the reference, and the section says why that flatters it."""
    key, title = "paired_comparisons", "Paired comparisons against the reference"
    notes = []
    if not reference:
        try:
            reference = best_reference(runs, metric)
        except ValueError as err:
            return Section(key, title, html=_message(str(err)))
        what = "This open search" if open_search else "This study"
        notes.append(
            f"{what} declared no reference, so the reference is the configuration with the best "
            f"mean {metric} ({describe(as_logged(runs, reference))}), chosen after seeing these "
            "same runs: its mean is flattered by the choice, so the verdicts against it are "
            "optimistic for it ('worse' comes too easily, 'better' too rarely)."
        )
    seeds = finished(runs).get("params.seed", pd.Series(dtype=str)).nunique()
    if seeds < 2:
        notes.append(
            f"These runs ran one seed per configuration: paired verdicts need at least 2 seeds "
            "on both sides, and a sign-flip test needs at least "
            f"{stats.min_pairs_to_decide(alpha=alpha)} to ever reach p < {alpha:g}. Run the "
            "study with --seeds N to get them."
        )
        return Section(key, title, html="".join(_message(n) for n in notes))
    try:
        table = compare(runs, reference, metric=metric, alpha=alpha)
    except ValueError as err:
        return Section(key, title, html="".join(_message(n) for n in [*notes, str(err)]))
    if table.empty:
        notes.append(f"No configuration differs from the reference ({describe(reference)}).")
        return Section(key, title, html="".join(_message(n) for n in notes))
    caption = f"Reference: {describe(as_logged(runs, reference))}" + (
        " (declared by the study)." if not notes else " (the best mean; see the caveat)."
    )
    body = _how_to_read(metric, alpha) + "".join(_message(n) for n in notes)
    return Section(
        key, title, caption, html=body + comparisons_html(table, runs, ui_url), data=table
    )


def comparisons_html(table: pd.DataFrame, runs: pd.DataFrame, ui_url: str) -> str:
    """A :func:`a3m.study.compare.compare` table as HTML: the configuration, pairs, difference
    and interval in points, p-values, share ahead, verdict, seeds needed, unpaired seeds and
    links to the runs of both sides."""
    key = [c for c in table.columns if c not in COMPARISON_COLUMNS]
    head = "".join(
        f"<th>{html.escape(h)}</th>"
        for h in [
            *key, "vs", "pairs", "difference (points) [95% CI]", "CI", "p", "p (Holm)", "ahead",
            "verdict", "seeds needed", "unpaired", "runs",
        ]
    )  # fmt: skip
    rows = []
    experiments = run_experiments(runs)
    for r in table.to_dict("records"):
        cells = [html.escape(str(r[k])) for k in key] + [
            html.escape(r["reference"]),
            str(r["n_pairs"]),
            _difference(100 * r["mean_diff"], 100 * r["ci_low"], 100 * r["ci_high"]),
            html.escape(r["ci_method"]),
            "–" if not np.isfinite(r["p_value"]) else f"{r['p_value']:.3g}",
            "–" if not np.isfinite(r["p_holm"]) else f"{r['p_holm']:.3g}",
            "–" if not np.isfinite(r["p_ahead"]) else f"{r['p_ahead']:.0%}",
            f"<b>{html.escape(r['verdict'])}</b>",
            _seeds(r["seeds_needed"]),
            html.escape(r["unpaired"]),
            f"{run_links(r['candidate_runs'], experiments, ui_url) or '–'}<br>vs "
            f"{run_links(r['reference_runs'], experiments, ui_url) or '–'}",
        ]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return (
        f'<table class="table paired" border="0"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


# -- HTML pieces --------------------------------------------------------------------------------
def _message(text: str) -> str:
    return f'<p class="message">{html.escape(text)}</p>'


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


_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 1em auto; padding: 0 1em;
       color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
.meta, .caption, .png, footer { color: #555; font-size: 0.9em; }
.message { background: #fff4e5; border-left: 4px solid #e69500; padding: 0.6em 1em; }
table.table { border-collapse: collapse; font-size: 0.85em; }
table.table th, table.table td { padding: 2px 8px; border-bottom: 1px solid #ddd;
                                 text-align: right; }
table.table td:first-child, table.table th:first-child { text-align: left; }
.scroll { overflow-x: auto; }
.note { color: #666; font-size: 0.9em; }
table.claims td, table.paired td, table.claims th, table.paired th { text-align: left;
                                                                 vertical-align: top; }
tr.supported td:nth-child(5) { background: #d9f2d9; }
tr.contradicted td:nth-child(5) { background: #f8d7d7; }
tr.inconclusive td:nth-child(5) { background: #fff4e5; }
ul.how { font-size: 0.9em; color: #444; }
"""


def render_html(
    sections: Sequence[Section],
    *,
    experiment: str,
    runs: pd.DataFrame,
    tracking_uri: str = "",
    pngs: Mapping[str, Path] | None = None,
    messages: Sequence[str] = (),
) -> str:
    """The report page: Plotly's JavaScript inline once, then one block per section."""
    from plotly.offline import get_plotlyjs

    pngs = pngs or {}
    counts = ", ".join(f"{n} {s}" for s, n in status_counts(runs).items()) or "none"
    settings = ", ".join(f"{k}={v}" for k, v in shared_settings(runs).items())
    head = [
        f"<h1>A3M study report: {html.escape(experiment)}</h1>",
        f'<p class="meta">MLflow tracking URI: <code>{html.escape(redact(tracking_uri))}</code>; '
        f"trial runs: {html.escape(counts)}; written {time.strftime('%Y-%m-%d %H:%M:%S')}."
        + (f"<br>Shared settings: {html.escape(settings)}." if settings else "")
        + "</p>",
    ]
    if is_synthetic(runs):
        head.append(
            _message(
                "These runs trained on a synthetic dataset with a small budget: "
                "they check the pipeline, not the paper's numbers."
            )
        )
    toc = "".join(f'<li><a href="#{s.key}">{html.escape(s.title)}</a></li>' for s in sections)
    body = [*head, f"<nav><ul>{toc}</ul></nav>"]
    for s in sections:
        block = [f'<section id="{s.key}">', f"<h2>{html.escape(s.title)}</h2>"]
        if s.caption:
            block.append(f'<p class="caption">{html.escape(s.caption)}</p>')
        if s.figure is not None:  # in a scrolling box: a wide table keeps its width
            block.append('<div class="scroll">')
            block.append(
                pio.to_html(
                    s.figure,
                    full_html=False,
                    include_plotlyjs=False,
                    div_id=f"fig-{s.key}",
                    config={"displaylogo": False, "responsive": True},
                )
                + "</div>"
            )
        if s.html is not None:
            block.append(f'<div class="scroll">{s.html}</div>')
        files = [p.name for p in (pngs.get(s.key),) if p is not None]
        if s.data is not None:
            files.append(f"{s.key}.csv" if s.key != "leaderboard" else LEADERBOARD_NAME)
        if files:
            links = ", ".join(f'<a href="{html.escape(f)}">{html.escape(f)}</a>' for f in files)
            block.append(f'<p class="png">Files: {links}</p>')
        block.append("</section>")
        body.append("\n".join(block))
    if messages:
        body.append("<footer>" + "<br>".join(html.escape(m) for m in messages) + "</footer>")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>A3M report: {html.escape(experiment)}</title>\n<style>{_STYLE}</style>\n"
        f'<script type="text/javascript">{get_plotlyjs()}</script>\n</head>\n<body>\n'
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


# -- everything ---------------------------------------------------------------------------------
def write_report(
    runs: pd.DataFrame,
    out_dir: str | Path,
    *,
    experiment: str,
    tracking_uri: str = "",
    attention: pd.DataFrame | None = None,
    optuna_study: Any | None = None,
    optuna_note: str = "",
    png: bool = True,
    browser: str | None = None,
    messages: Sequence[str] = (),
    reference: Mapping[str, str] | None = None,
    claims: pd.DataFrame | None = None,
    ui_url: str | None = None,
    diagnostics: pd.DataFrame | None = None,
    alpha: float = stats.ALPHA,
) -> Report:
    """Plan the sections, write the CSVs and PNGs, then ``report.html`` (which links them).

    Args:
        runs: runs frame of the experiment.
        out_dir: the report's folder (created), e.g. beside the study's leaderboard.
        experiment: the MLflow experiment's name.
        tracking_uri: shown in the header.
        attention, optuna_study, optuna_note, reference, claims, diagnostics, alpha: see
            :func:`plan_sections`.
        ui_url: the MLflow UI the runs link to; default :func:`mlflow_ui_url` of
            ``tracking_uri``.
        png: export a PNG per figure.
        browser: the browser for the PNGs; default
            :func:`dashboards.export.find_browser`.
        messages: notes of the caller (e.g. what could not be downloaded), shown at the end.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sections = plan_sections(
        runs,
        experiment=experiment,
        attention=attention,
        optuna_study=optuna_study,
        optuna_note=optuna_note,
        reference=reference,
        claims=claims,
        ui_url=ui_url or mlflow_ui_url(tracking_uri),
        diagnostics=diagnostics,
        alpha=alpha,
    )
    report = Report(
        html=out / REPORT_NAME, sections=[s.key for s in sections], messages=list(messages)
    )
    for s in sections:
        if s.data is not None:
            path = out / (LEADERBOARD_NAME if s.key == "leaderboard" else f"{s.key}.csv")
            s.data.to_csv(path, index=False)
            report.csvs.append(path)
    empty = no_runs_message(runs, experiment)
    if empty:
        report.messages.append(empty)
    figs = {s.key: s.figure for s in sections if s.figure is not None}
    if png and figs:
        report.pngs, message = export_pngs(figs, out, browser)
        report.messages.append(message)
    elif figs:
        report.messages.append("PNG export not requested.")
    by_key = {p.stem: p for p in report.pngs}
    report.html.write_text(
        render_html(
            sections,
            experiment=experiment,
            runs=runs,
            tracking_uri=tracking_uri,
            pngs=by_key,
            messages=report.messages,
        ),
        encoding="utf-8",
    )
    return report
