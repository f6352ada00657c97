"""The report's conclusions: how to read a verdict, the paper's claims, and every configuration
of the study against its reference, with links to the runs in the MLflow UI.

The study's comparison table (:func:`a3m.study.compare.compare`, at the study's inference:
alpha, looks, equivalence margin) is computed once (:func:`study_comparisons`) and shown in the
paired table; the claims take their rows from it where their comparison is one of its
(:mod:`dashboards.claims`), so the same comparison never shows two p(Holm). Where a number
cannot be made, the table says why in words (``verdict_note``), never NaN.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from a3m import stats
from a3m.sequential import Inference
from a3m.study.compare import (
    COMPARISON_COLUMNS,
    best_reference,
    compare,
    describe,
    format_interval,
)
from a3m.study.tracking import redact
from dashboards import claims as paper_claims
from dashboards.data import as_logged, finished, label
from dashboards.kinds import data_summary

LOCAL_MLFLOW_UI = "http://127.0.0.1:5000"
"""Where ``mlflow ui --backend-store-uri <store>`` serves a local (file or SQLite) store: said
how to open, never linked to (no UI may be running there)."""


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


def _message(text: str) -> str:
    return f'<p class="message">{html.escape(text)}</p>'


# -- links to the MLflow UI ---------------------------------------------------------------------
def mlflow_ui_url(tracking_uri: str | None) -> str:
    """The MLflow UI the report's run links point to when none is named: the tracking server
    itself when the tracking URI is http(s) (a server is its own UI), else "" (no links: a
    local store has a UI only while someone runs ``mlflow ui`` on it; :func:`ui_sentence`)."""
    uri = (tracking_uri or "").strip()
    return uri.rstrip("/") if uri.startswith(("http://", "https://")) else ""


def ui_sentence(ui_url: str, tracking_uri: str = "") -> str:
    """Where the run ids link to, or, without a UI, how to open one and link them."""
    if ui_url:
        return f"Run ids link to the MLflow UI at {ui_url}."
    store = redact(tracking_uri) if tracking_uri else "<tracking URI>"
    return (
        f"Run ids are not links (no MLflow UI named): to browse the runs, start one with "
        f"`mlflow ui --backend-store-uri {store}` and open {LOCAL_MLFLOW_UI}, or build the "
        "report with --mlflow-ui URL to link them."
    )


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
    short ids where the runs frame (or its :func:`run_experiments`) has no ``experiment_id``,
    or without a UI (``ui_url`` "")."""
    ids = [r for r in (run_ids.split(";") if isinstance(run_ids, str) else run_ids) if r]
    experiments = runs if isinstance(runs, Mapping) else run_experiments(runs)
    out = []
    for run_id in ids:
        short = html.escape(run_id[:7])
        if run_id in experiments and ui_url:
            href = html.escape(run_url(ui_url, experiments[run_id], run_id))
            out.append(f'<a href="{href}" title="{html.escape(run_id)}">{short}</a>')
        else:
            out.append(f'<span title="{html.escape(run_id)}">{short}</span>')
    return " ".join(out)


# -- the study's comparisons, computed once -----------------------------------------------------
@dataclass
class StudyComparisons:
    """The study's family (:func:`a3m.study.compare.compare`) and what the report says of it.

    Attributes:
        table: one row per configuration against its counterpart (empty when there is none).
        reference: the reference (declared, or chosen on ``val_score``); None without one.
        metric: the metric compared.
        inference: alpha, looks and equivalence margin of every verdict.
        notes: caveats to show (a reference chosen after seeing the runs).
        problem: why there is no table to show ("" when there is one).
    """

    table: pd.DataFrame
    reference: dict[str, str] | None
    metric: str = "score"
    inference: Inference = field(default_factory=Inference)
    notes: list[str] = field(default_factory=list)
    problem: str = ""


def study_comparisons(
    runs: pd.DataFrame,
    reference: Mapping[str, str] | None,
    *,
    metric: str = "score",
    inference: Inference | None = None,
    open_search: bool = False,
) -> StudyComparisons:
    """Every configuration against the study's reference, seed by seed. Without a declared
    reference (an open search declares none) the reference is the best mean ``val_score``
    (:func:`a3m.study.compare.best_reference`: never the reported split), with the caveat
    that the choice flatters it; without a ``val_score`` there is none, and ``problem`` says
    how to get one."""
    inference = inference or Inference()
    out = StudyComparisons(pd.DataFrame(), None, metric, inference)
    if not reference:
        try:
            reference = best_reference(runs)
        except ValueError as err:
            out.problem = str(err)
            return out
        what = "This open search" if open_search else "This study"
        out.notes.append(
            f"{what} declared no reference, so the reference is the configuration with the best "
            f"mean val_score ({describe(as_logged(runs, reference))}; the validation part, not "
            "the reported split), chosen after seeing these same runs: the choice flatters it, "
            "so the verdicts against it are optimistic for it ('worse' comes too easily, "
            "'better' too rarely)."
        )
    out.reference = dict(reference)
    try:
        out.table = compare(runs, reference, metric=metric, inference=inference)
    except ValueError as err:
        out.problem = str(err)
        return out
    seeds = finished(runs).get("params.seed", pd.Series(dtype=str)).nunique()
    if seeds < 2:
        out.problem = (
            "These runs ran one seed per configuration: paired verdicts need at least 2 seeds "
            "on both sides, and a sign-flip test needs at least "
            f"{stats.min_pairs_to_decide(alpha=inference.alpha)} to ever reach p < "
            f"{inference.alpha:g}. Run the study with --seeds N to get them."
        )
    elif out.table.empty:
        out.problem = f"No configuration differs from the reference ({describe(reference)})."
    return out


# -- how to read --------------------------------------------------------------------------------
def _levels_text(levels: pd.Series) -> str:
    """The confidences the intervals are at: ``"98.3%"`` or ``"97.5%-99.4%"``."""
    finite = sorted({round(100 * (1 - float(x)), 3) for x in levels if np.isfinite(x)})
    if not finite:
        return "none here: no comparison has pairs"
    ends = [f"{x:.3g}%" for x in (finite[0], finite[-1])]
    return ends[0] if ends[0] == ends[1] else f"{ends[0]}-{ends[1]}"


def how_to_read_section(study: StudyComparisons, claims: pd.DataFrame | None = None) -> Section:
    """What a verdict means, written once: the two families, the interval's level, the five
    verdicts, P(ahead)'s direction, failures, code versions and the claims' columns."""
    inference, metric, table = study.inference, study.metric, study.table
    direction = "higher" if stats.higher_is_better(metric) else "lower"
    secondary = secondary_count(claims)
    m = int(np.isfinite(table["p_value"].astype(float)).sum()) if not table.empty else 0
    levels = table["ci_level"] if not table.empty else pd.Series(dtype=float)
    if claims is not None and "ci_level" in claims:
        levels = pd.concat([levels, claims["ci_level"].astype(float)])
    reference = describe(study.reference) if study.reference else "none"
    margin = (
        f"this study's margin is +-{100 * inference.min_effect:g} points"
        if inference.min_effect
        else "this study set none, so no verdict here is 'equivalent'"
    )
    decide = stats.min_pairs_to_decide(alpha=inference.alpha)
    items = [
        "Each comparison pairs runs by seed (a seed fixes initialisation, data order and "
        "augmentation): difference = candidate - reference in percentage points of the "
        f"final-epoch metric ({html.escape(metric)} for the study's comparisons: better "
        f"{direction}).",
        "<b>Two families.</b> "
        + html.escape(paper_claims.STUDY_FAMILY)
        + f" (against {html.escape(reference)}, on {html.escape(metric)}: "
        + f"{comparisons_count(len(table), m)}). "
        + html.escape(paper_claims.SECONDARY_FAMILY.format(k=secondary))
        + f". Each family: {html.escape(inference.describe())}. A comparison is in one family "
        "only, so it has one p(Holm) wherever it is shown.",
        "<b>Interval.</b> The sign-flip test inverted at the level that decided the verdict "
        "(its Holm step, and its look with --seeds auto): two-sided, at confidence 1 - level, "
        f"here {_levels_text(levels)}. So 'better' holds exactly when the whole interval is "
        "above 0, 'worse' below. An interval of -inf to +inf means too few pairs for its "
        f"level: with n seeds the smallest p is 2/2<sup>n</sup>, so fewer than {decide} "
        "seeds can show a direction but never decide.",
        "<b>Verdicts.</b> <b>better</b> / <b>worse</b>: the interval excludes 0, in the "
        "metric's direction; <b>equivalent</b>: the interval lies inside +-min_effect "
        f"({margin}); <b>inconclusive</b>: none of these, which is not evidence of no "
        "difference ('seeds needed' simulates the test at the family's level, a range because "
        "the spread of a few seeds is itself uncertain); <b>inconclusive (failures)</b>: "
        "failed seeds could turn the verdict.",
        "<b>Ahead</b>: the share of seeds on which the row is better in its metric's direction "
        "(higher for scores, lower for a loss or an error); ties count one half.",
        "<b>Failures.</b> A run that failed, was killed or stopped early is not dropped: its "
        "seed is named (failed), counted (n failed), and the worst case scores it as the "
        "worst value the study reached and as its counterpart's value; a verdict stands only "
        "if both keep it.",
        "<b>Code.</b> The code version of the paired runs; versions joined by ';' mean the "
        "pairs mix runs of different code, and the row says so.",
        "<b>Claims.</b> <b>supported</b>: the comparison says better in the paper's direction; "
        "<b>contradicted</b>: worse, or equivalent while the paper claims more than the "
        "margin; <b>inconclusive</b> (or <b>inconclusive (failures)</b>) otherwise. "
        "<b>Magnitude</b> holds our interval against the paper's effect (it contains it, or "
        "the effect is smaller or larger than claimed); <b>effect source</b> says whose "
        "number that is (the paper's table, or our margin).",
    ]
    body = '<ul class="how">' + "".join(f"<li>{x}</li>" for x in items) + "</ul>"
    return Section("how_to_read", "How to read the verdicts", html=body)


def comparisons_count(rows: int, tested: int) -> str:
    """``"1 comparison"``, ``"none"``, or ``"3 comparisons, 2 with pairs to test"``: what a
    family holds, and how many Holm runs across (those with a p-value) where fewer."""
    rows, tested = int(rows), int(tested)
    if not rows:
        return "none"
    text = f"{rows} comparison{'s' if rows != 1 else ''}"
    return text if tested == rows else f"{text}, {tested} with pairs to test"


def secondary_count(claims: pd.DataFrame | None) -> str:
    """:func:`comparisons_count` of the secondary family of an evaluated claims table."""
    attrs = claims.attrs if claims is not None else {}
    return comparisons_count(attrs.get("secondary_rows", 0), attrs.get("secondary_comparisons", 0))


# -- the claims ---------------------------------------------------------------------------------
def _number(value: float, fmt: str = "{:+.2f}") -> str:
    return fmt.format(value) if np.isfinite(value) else "–"


def _difference(row: Mapping) -> str:
    """``+1.20 points, 98.3% CI [-0.30, +2.70]``; ``no pairs`` without any."""
    if not row["n_pairs"]:
        return "no pairs"
    return f"{100 * row['mean_diff']:+.2f} points, {format_interval(row)}"


def _seeds(row: Mapping) -> str:
    """Seeds to decide an inconclusive verdict, in words where there is no number."""
    if row["verdict"] not in (stats.INCONCLUSIVE, paper_claims.INCONCLUSIVE):
        return "–"
    needed = stats.SeedsNeeded(row["seeds_needed"], row["seeds_needed_low"],
                               row["seeds_needed_high"])  # fmt: skip
    return html.escape(str(needed))


def _side(assignment: str) -> str:
    """``variant=a3m`` -> ``A3M``; other settings as they are; ``*`` -> ``best other``."""
    if assignment == "*":
        return "best other"
    values = paper_claims.parse_assignments(assignment)
    if set(values) == {"variant"}:
        return label(values["variant"])
    return describe(values)


def claims_html(table: pd.DataFrame, runs: pd.DataFrame, ui_url: str) -> str:
    """The claims the runs tested as an HTML table (claim, source, the paper's effect and its
    source, our paired difference with its interval, verdict, magnitude, seeds needed, links
    to the runs of both sides), then the claims these runs could not test."""
    tested = table[table["verdict"] != paper_claims.NOT_RUN]
    parts = []
    if not tested.empty:
        head = "".join(f"<th>{h}</th>" for h in (
            "claim", "source", "paper (points)", "ours: paired difference", "verdict",
            "magnitude", "seeds needed", "runs"))  # fmt: skip
        rows = []
        experiments = run_experiments(runs)
        for r in tested.to_dict("records"):
            claim = html.escape(r["text"])
            small = [r["metric"], r["context"], r["note"]]
            claim += f'<br><span class="note">{html.escape("; ".join(x for x in small if x))}'
            claim += "</span>"
            ours = html.escape(_difference({**r, **{c: r[c] / 100 for c in (
                "mean_diff", "ci_low", "ci_high")}}))  # fmt: skip
            detail = f"{r['n_pairs']} pair{'s' if r['n_pairs'] != 1 else ''}, {r['family']}"
            detail += f" family, p(Holm) {r['p_holm']:.3g}" if np.isfinite(r["p_holm"]) else ""
            if r["n_failed"]:
                detail += f"; {r['n_failed']} failed"
            seeds = _seeds(r)
            if r["seeds_needed_at"]:
                seeds += f'<br><span class="note">at {html.escape(r["seeds_needed_at"])}</span>'
            links = (
                f"{html.escape(_side(r['candidate']))}: "
                f"{run_links(r['candidate_runs'], experiments, ui_url) or '–'}<br>"
                f"{html.escape(_side(r['reference']))}: "
                f"{run_links(r['reference_runs'], experiments, ui_url) or '–'}"
            )
            source = f'{html.escape(r["source"])}<br><span class="note">effect: '
            source += f"{html.escape(r['effect_source'])}</span>"
            verdict = f"<b>{html.escape(r['verdict'])}</b>"
            if r["paired_verdict"]:
                verdict += f'<br><span class="note">paired: {html.escape(r["paired_verdict"])}'
                verdict += "</span>"
            cells = [claim, source, _number(r["effect_points"]),
                     f'{ours}<br><span class="note">{html.escape(detail)}</span>', verdict,
                     html.escape(r["magnitude"]) or "–", seeds, links]  # fmt: skip
            css = r["verdict"].replace(" ", "-").replace("(", "").replace(")", "")
            rows.append(f'<tr class="{css}">' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        parts.append(
            f'<table class="table claims" border="0"><thead><tr>{head}</tr></thead>'
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
    ui_url: str = "",
    study: StudyComparisons | None = None,
) -> Section:
    """What the paper claims, what these runs say (:func:`dashboards.claims.evaluate_claims`,
    in the families of :func:`how_to_read_section`); its CSV holds every claim, not-run ones
    too. Where the runs' data is not the paper's release the claims are about other data: one
    sentence says so, and nothing is tested."""
    key, title = "claims", "What the paper claims, what these runs say"
    summary = data_summary(runs)
    if not summary.paper:
        return Section(key, title, html=_message(summary.why_no_paper() or "No run names its "
                                                 "dataset: the paper's claims cannot be held "
                                                 "against these runs."))  # fmt: skip
    study = study or study_comparisons(runs, None)
    table = paper_claims.evaluate_claims(
        runs, claims, reference=study.reference, metric=study.metric,
        inference=study.inference, comparisons=study.table,
    )  # fmt: skip
    tested = table[table["verdict"] != paper_claims.NOT_RUN]
    in_study = tested[tested["family"] == paper_claims.STUDY]
    caption = (
        "Each of the paper's claims these runs can test: our difference candidate - reference "
        "over the seeds both sides ran, its interval at the level that decided it, and the "
        f"verdict, in the study's family ({comparisons_count(len(in_study), len(in_study))} "
        f"here) or the secondary one ({secondary_count(table)}), as 'How to read the verdicts' "
        "says. " + ui_sentence(ui_url)
    )
    return Section(key, title, caption, html=claims_html(table, runs, ui_url), data=table)


# -- the paired table ---------------------------------------------------------------------------
def paired_section(
    runs: pd.DataFrame,
    reference: Mapping[str, str] | None = None,
    *,
    ui_url: str = "",
    open_search: bool = False,
    metric: str = "score",
    inference: Inference | None = None,
    study: StudyComparisons | None = None,
) -> Section:
    """Every configuration against the study's reference, seed by seed (the study's family:
    :func:`study_comparisons`), or why there is no such table."""
    key, title = "paired_comparisons", "Paired comparisons against the reference"
    study = study or study_comparisons(
        runs, reference, metric=metric, inference=inference, open_search=open_search
    )
    notes = "".join(_message(n) for n in study.notes)
    if study.problem:
        return Section(key, title, html=notes + _message(study.problem))
    declared = " (declared by the study)." if not study.notes else " (see the caveat)."
    caption = f"Reference: {describe(as_logged(runs, study.reference))}{declared}"
    caption += f" {study.inference.describe()}; read as 'How to read the verdicts' says."
    body = notes + comparisons_html(study.table, runs, ui_url)
    return Section(key, title, caption, html=body, data=study.table)


def comparisons_html(table: pd.DataFrame, runs: pd.DataFrame, ui_url: str) -> str:
    """A :func:`a3m.study.compare.compare` table as HTML: the configuration, pairs, difference
    and its interval (at the level that decided), p-values, share ahead, verdict and why,
    failures with the worst case, seeds needed, code versions and links to both sides' runs."""
    key = [c for c in table.columns if c not in COMPARISON_COLUMNS]
    head = "".join(f"<th>{html.escape(h)}</th>" for h in [
        *key, "vs", "pairs", "difference (points), interval", "p", "p (Holm)", "ahead",
        "verdict", "failed", "seeds needed", "code", "runs"])  # fmt: skip
    rows = []
    experiments = run_experiments(runs)
    for r in table.to_dict("records"):
        verdict = f"<b>{html.escape(r['verdict'])}</b>"
        why = [r["verdict_note"], f"unpaired: {r['unpaired']}" if r["unpaired"] else ""]
        why = "; ".join(w for w in why if w)
        verdict += f'<br><span class="note">{html.escape(why)}</span>' if why else ""
        failed = "–"
        if r["n_failed"]:
            failed = f"{r['n_failed']}: {html.escape(r['failed'])}"
            if np.isfinite(r["worst_case_low"]):
                worst = {**r, "ci_low": r["worst_case_low"], "ci_high": r["worst_case_high"]}
                failed += f'<br><span class="note">worst case: {format_interval(worst)}</span>'
        code = html.escape(str(r["code_versions"]) or "unrecorded")
        if ";" in str(r["code_versions"]):
            code = f"<b>mixed</b>: {code}"
        cells = [html.escape(str(r[k])) for k in key] + [
            html.escape(r["reference"]),
            str(r["n_pairs"]),
            html.escape(_difference(r)),
            _number(r["p_value"], "{:.3g}"),
            _number(r["p_holm"], "{:.3g}"),
            _number(r["p_ahead"], "{:.0%}"),
            verdict,
            failed,
            _seeds(r),
            code,
            f"{run_links(r['candidate_runs'], experiments, ui_url) or '–'}<br>vs "
            f"{run_links(r['reference_runs'], experiments, ui_url) or '–'}",
        ]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return (
        f'<table class="table paired" border="0"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
