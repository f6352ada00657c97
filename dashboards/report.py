"""One self-contained HTML report per experiment, a PNG per figure, and the CSVs beside them.

:func:`plan_sections` walks the table of sections (:data:`dashboards.sections.SECTIONS`: each
with when it applies and how it is drawn) and keeps what applies to the runs. The page opens
with what the runs trained on (:mod:`dashboards.kinds`: each dataset by name and kind; a dry
run says so in the title and before every section and figure). First the conclusions
(:mod:`dashboards.conclusions`): how to read a verdict (the two families, the interval's level,
the verdicts, failures, code versions), the paper's claims (``paper_claims.csv``) with what
these runs say about each, seed against seed (:mod:`dashboards.claims`), then every
configuration against the study's reference (:func:`a3m.study.compare.compare`), each row
linking to its runs in the MLflow UI (where one is named or the store is a server). Then always
the leaderboard; the paper's table of each dataset with our values (Tables 1-5: the paper's
numbers, the differences and the claims only where the data is its release); Fig. 5 when
variants vary; Fig. 7 when alpha and beta were swept around the paper's 0.5; Fig. 8 when two or
more configurations have per-attribute accuracies (it compares what the study varied:
:func:`dashboards.figures.attribute_comparison`); Fig. 6 when attention maps were logged (of a
run chosen without the test split: :mod:`dashboards.selection`); the training diagnostics when
they were logged; the search plots for an open (Optuna) search; and the runs that failed or
never evaluated. A figure with nothing to draw is left out, and the last section says which
were and why. An experiment without finished runs gets a page that says so.

:func:`write_report` writes ``report.html`` with Plotly's JavaScript inline (it opens offline,
e.g. from a cluster's shared disk), the sections' CSVs (:mod:`dashboards.files`: the study's
``leaderboard.csv`` is never rewritten with less), and a PNG per
figure (:mod:`dashboards.export`: kaleido with a Chromium-based browser of the system; without
one the PNGs are skipped with a message, the HTML needs none).
"""

from __future__ import annotations

import html
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.io as pio

from a3m.sequential import Inference
from a3m.study.tracking import redact
from dashboards.conclusions import (  # noqa: F401 (the report's API, re-exported)
    LOCAL_MLFLOW_UI,
    Section,
    _message,
    claims_section,
    comparisons_html,
    how_to_read_section,
    mlflow_ui_url,
    paired_section,
    run_experiments,
    run_links,
    run_url,
    study_comparisons,
    ui_sentence,
)
from dashboards.data import finished, shared_settings, status_counts
from dashboards.export import export_pngs
from dashboards.files import LEADERBOARD_NAME, write_csvs
from dashboards.kinds import data_summary, dry_run_title, mark_dry_run
from dashboards.sections import SECTIONS, SectionInputs, runs_overview_html

REPORT_NAME = "report.html"


@dataclass
class Report:
    """What :func:`write_report` wrote."""

    html: Path
    pngs: list[Path] = field(default_factory=list)
    csvs: list[Path] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)


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
    ui_url: str = "",
    diagnostics: pd.DataFrame | None = None,
    inference: Inference | None = None,
    attention_note: str = "",
) -> list[Section]:
    """The report's sections for these runs, in reading order: those of
    :data:`dashboards.sections.SECTIONS` that apply (see the module docstring).

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
        ui_url: the MLflow UI the runs link to (:func:`mlflow_ui_url`); "" for no links.
        diagnostics: the trials' per-epoch ``diag/`` metrics
            (:func:`dashboards.data.diagnostics_history`); a section when not empty.
        inference: how every verdict is decided, the claims' and the paired ones (the
            study's alpha, looks and equivalence margin, :func:`a3m.study.runs.study_inference`,
            so the report says what the leaderboard and ``a3m compare`` say).
        attention_note: how Fig. 6's run was chosen, or why none could be
            (:func:`dashboards.selection.attention_candidates`).
    """
    empty = no_runs_message(runs, experiment)
    if empty:
        return [
            Section("no_runs", "No finished runs", html=_message(empty) + runs_overview_html(runs))
        ]
    inputs = SectionInputs(
        runs, attention=attention, optuna_study=optuna_study, optuna_note=optuna_note,
        paper=paper, reference=reference, claims=claims, ui_url=ui_url, diagnostics=diagnostics,
        inference=inference, attention_note=attention_note,
    )  # fmt: skip
    sections: list[Section] = []
    skipped: list[str] = []  # "what: why", for the last section
    for rule in SECTIONS:
        if rule.applies(inputs):
            sections.append(rule.draw(inputs))
        elif (why := rule.why_not(inputs)) is not None:
            skipped.append(why)
    return finish_sections(sections, skipped, runs)


def finish_sections(
    sections: list[Section], skipped: list[str], runs: pd.DataFrame
) -> list[Section]:
    """The planned sections without the figures that have nothing to draw (said why, with the
    others left out, in the last section), each marked when the runs are a dry run's
    (:func:`dashboards.kinds.mark_dry_run`)."""
    for section in [s for s in sections if s.figure is not None and not s.figure.data]:
        sections.remove(section)  # a figure with nothing to draw: say why, draw no empty box
        reasons = [a.text for a in section.figure.layout.annotations if a.text]
        skipped.append(f"{section.title}: {'; '.join(reasons) or 'nothing to draw'}")
    if skipped:
        sections.append(not_shown_section(skipped))
    if data_summary(runs).dry_run:
        mark_dry_run(sections)
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


# -- the page -----------------------------------------------------------------------------------
_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 1em auto; padding: 0 1em;
       color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
.meta, .caption, .png, footer { color: #555; font-size: 0.9em; }
.data { font-weight: bold; }
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
tr.inconclusive td:nth-child(5), tr.inconclusive-failures td:nth-child(5) { background: #fff4e5; }
ul.how { font-size: 0.9em; color: #444; }
"""


def report_title(experiment: str, runs: pd.DataFrame) -> str:
    """``"A3M study report: <experiment>"``, after ``"DRY RUN (made-up numbers): "`` for a dry
    run."""
    title = f"A3M study report: {experiment}"
    return dry_run_title(title) if data_summary(runs).dry_run else title


def page_head(
    experiment: str, runs: pd.DataFrame, tracking_uri: str = "", ui_url: str = ""
) -> list[str]:
    """The page's first lines: the title (a dry run's marked), each dataset by name and kind,
    the banner its kind asks for, then the store, the runs, the shared settings and where the
    run ids link to (or how to open an MLflow UI)."""
    summary = data_summary(runs)
    counts = ", ".join(f"{n} {s}" for s, n in status_counts(runs).items()) or "none"
    settings = ", ".join(f"{k}={v}" for k, v in shared_settings(runs).items())
    head = [
        f"<h1>{html.escape(report_title(experiment, runs))}</h1>",
        '<p class="data">' + "<br>".join(html.escape(x) for x in summary.lines()) + "</p>",
    ]
    if summary.banner():
        head.append(_message(summary.banner()))
    head.append(
        f'<p class="meta">MLflow tracking URI: <code>{html.escape(redact(tracking_uri))}</code>; '
        f"trial runs: {html.escape(counts)}; written {time.strftime('%Y-%m-%d %H:%M:%S')}."
        + (f"<br>Shared settings: {html.escape(settings)}." if settings else "")
        + f"<br>{html.escape(ui_sentence(ui_url, tracking_uri))}</p>"
    )
    return head


def render_html(
    sections: Sequence[Section],
    *,
    experiment: str,
    runs: pd.DataFrame,
    tracking_uri: str = "",
    pngs: Mapping[str, Path] | None = None,
    messages: Sequence[str] = (),
    ui_url: str = "",
) -> str:
    """The report page: Plotly's JavaScript inline once, the head (:func:`page_head`), then
    one block per section."""
    from plotly.offline import get_plotlyjs

    pngs = pngs or {}
    head = page_head(experiment, runs, tracking_uri, ui_url)
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
        f"<title>{html.escape(report_title(experiment, runs))}</title>\n<style>{_STYLE}</style>\n"
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
    inference: Inference | None = None,
    attention_note: str = "",
) -> Report:
    """Plan the sections, write the CSVs and PNGs, then ``report.html`` (which links them).

    Args:
        runs: runs frame of the experiment.
        out_dir: the report's folder (created), e.g. beside the study's leaderboard.
        experiment: the MLflow experiment's name.
        tracking_uri: shown in the header.
        attention, optuna_study, optuna_note, reference, claims, diagnostics, inference,
            attention_note: see :func:`plan_sections`.
        ui_url: the MLflow UI the runs link to; default :func:`mlflow_ui_url` of ``tracking_uri``.
        png: export a PNG per figure.
        browser: the browser for the PNGs; default :func:`dashboards.export.find_browser`.
        messages: notes of the caller (e.g. what could not be downloaded), shown at the end.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sections = plan_sections(
        runs, experiment=experiment, attention=attention, optuna_study=optuna_study,
        optuna_note=optuna_note, reference=reference, claims=claims,
        ui_url=ui_url or mlflow_ui_url(tracking_uri), diagnostics=diagnostics,
        inference=inference, attention_note=attention_note,
    )  # fmt: skip
    report = Report(out / REPORT_NAME, sections=[s.key for s in sections], messages=list(messages))
    report.csvs = write_csvs(sections, out, report.messages)
    if empty := no_runs_message(runs, experiment):
        report.messages.append(empty)
    report.pngs = export_figures(sections, out, png, browser, report.messages)
    page = render_html(sections, experiment=experiment, runs=runs, tracking_uri=tracking_uri,
                       pngs={p.stem: p for p in report.pngs}, messages=report.messages,
                       ui_url=ui_url)  # fmt: skip
    report.html.write_text(page, encoding="utf-8")
    return report


def export_figures(
    sections: Sequence[Section], out: Path, png: bool, browser: str | None, messages: list[str]
) -> list[Path]:
    """A PNG per figure into ``out`` (:func:`dashboards.export.export_pngs`), or none where
    ``png`` is off; what happened is added to ``messages``."""
    figs = {s.key: s.figure for s in sections if s.figure is not None}
    if not figs:
        return []
    if not png:
        messages.append("PNG export not requested.")
        return []
    pngs, message = export_pngs(figs, out, browser)
    messages.append(message)
    return pngs
