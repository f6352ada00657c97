"""Build an experiment's report: ``python dashboards/build.py --experiment NAME``, and the
after-study hook every study calls when it ends (entry point ``a3m.after_study``: ``report``).

    python dashboards/build.py --experiment ablation_cub-synthetic
    python dashboards/build.py --experiment alpha_beta_cub --tracking-uri http://mlflow:5000 \\
        --out results/alpha_beta_cub --no-png

It loads the experiment's trial runs from MLflow (any tracking URI), the reference
configuration the study declared (the ``a3m.reference`` tag of its parent run) and how it
decides its verdicts (``a3m.inference``: alpha, looks, equivalence margin), downloads the
attention PNGs of a run chosen without the test split (:mod:`dashboards.selection`), looks
for the Optuna study of an open search (``optuna.db`` beside a SQLite store, or
``--optuna-storage``), and writes ``report.html``, a PNG per figure and the CSVs into
``--out`` (default ``results/<experiment>``, where the study's leaderboard is).
Run ids link to the MLflow UI: ``--mlflow-ui URL``, default the tracking server when the
tracking URI is http(s); a local store has no UI unless someone runs one, so its report links
nothing and says how to open one (``mlflow ui --backend-store-uri ...``).
Exit status: 0 with a report, 1 when the experiment has no finished run (the page says so),
2 when the experiment does not exist.

The package's modules are imported inside the functions: the hook is loaded at the end of every
study and ``--help`` should answer at once, while Plotly, MLflow and Optuna take seconds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

    import pandas as pd

    from a3m.study.runner import StudyResult
    from dashboards.report import Report


def build(
    experiment: str,
    tracking_uri: str | None = None,
    out: str | Path | None = None,
    *,
    png: bool = True,
    optuna_storage: str | None = None,
    browser: str | None = None,
    ui_url: str | None = None,
    exclude_failed_before: str | None = None,
) -> Report:
    """Write the report of one MLflow experiment.

    Args:
        experiment: the MLflow experiment (``<study>`` or ``<study>-synthetic``).
        tracking_uri: default ``$MLFLOW_TRACKING_URI`` or ``sqlite:///mlflow.db``
            (:func:`a3m.study.tracking.resolve_tracking_uri`).
        out: the report's folder; default ``results/<experiment>``.
        png: export a PNG per figure (needs a Chromium-based browser).
        optuna_storage: the Optuna RDB URL of an open search; default ``optuna.db`` beside a
            SQLite tracking store.
        browser: the browser for the PNGs; default found on the system.
        ui_url: the MLflow UI the report's run links point to; default
            :func:`dashboards.report.mlflow_ui_url` of the tracking URI.
        exclude_failed_before: ``--exclude-failed-before``: failed runs that ended before
            this ISO date/time or run id do not count (:func:`a3m.study.runs.counted_runs`).

    Raises:
        ValueError: when the experiment does not exist, or ``exclude_failed_before`` is
            neither a date/time nor a run.
    """
    from a3m.study.runs import counted_runs, study_inference, study_reference
    from a3m.study.tracking import default_optuna_storage, resolve_tracking_uri
    from dashboards.data import load_optuna_study
    from dashboards.report import write_report

    uri = resolve_tracking_uri(tracking_uri)
    out_dir = Path(out) if out is not None else Path("results") / experiment
    # the runs that count, as the leaderboard and a3m compare count them; the report says
    # what was set aside
    runs, messages = counted_runs(experiment, uri, exclude_failed_before)
    reference = study_reference(experiment, uri)
    attention, attention_note = read_attention(runs, reference, uri, out_dir, messages)
    diagnostics = read_diagnostics(runs, reference, uri, messages)
    study, note = load_optuna_study(experiment, optuna_storage or default_optuna_storage(uri))
    return write_report(
        runs, out_dir, experiment=experiment, tracking_uri=uri, attention=attention,
        optuna_study=study, optuna_note=note, png=png, browser=browser, messages=messages,
        reference=reference, ui_url=ui_url, diagnostics=diagnostics,
        inference=study_inference(experiment, uri), attention_note=attention_note,
    )  # fmt: skip


def read_attention(
    runs: pd.DataFrame,
    reference: Mapping[str, str] | None,
    uri: str,
    out_dir: Path,
    messages: list[str],
) -> tuple[pd.DataFrame | None, str]:
    """Fig. 6's attention PNGs of a run chosen without the test split
    (:func:`dashboards.selection.attention_candidates`), downloaded into ``out_dir/attention``,
    and how the run was chosen or why none was; a failed download is added to ``messages``."""
    from dashboards.data import download_attention_images
    from dashboards.selection import attention_candidates

    picked = attention_candidates(runs, reference)  # never by the test score
    if picked.refused:
        return None, picked.refused
    try:
        attention = download_attention_images(picked.runs, uri, out_dir / "attention")
    except Exception as err:  # an unreachable artifact store costs Fig. 6, not the report
        messages.append(f"attention maps not downloaded: {type(err).__name__}: {err}")
        attention = None
    return attention, picked.rule


def read_diagnostics(
    runs: pd.DataFrame, reference: Mapping[str, str] | None, uri: str, messages: list[str]
) -> pd.DataFrame | None:
    """The per-epoch ``diag/`` metrics of the runs :func:`diagnosed_runs` picks (None where no
    run logged any, or the store cannot serve them: said in ``messages``)."""
    from dashboards.data import diagnostics_history

    if not any(c.startswith("metrics.diag/") for c in runs.columns):
        return None
    try:
        # the names from the frame: asking each run for its own is a request per run
        logged = [c.removeprefix("metrics.") for c in runs if c.startswith("metrics.diag/")]
        chosen = diagnosed_runs(runs, reference)
        return diagnostics_history(None, uri, chosen, metrics=logged)
    except Exception as err:  # a store that cannot serve histories costs one figure
        messages.append(f"diagnostics not read: {type(err).__name__}: {err}")
        return None


DIAGNOSED_SEEDS = 3
"""Runs per configuration whose per-epoch diagnostics the report reads: one metric history is
one request, about 30 per run, so a large study reads a sample, not everything."""


DIAGNOSED_CONFIGURATIONS = 12
"""Configurations the diagnostics figure can draw (a line each in every panel). A study with
more gets one per variant, chosen as the report's other per-variant figures choose
(:func:`dashboards.data.config_runs_per_variant`: the reference, then the validation score,
never the test split): a grid of 1,000 configurations drew 25,000 lines nobody could tell
apart, from 40,000 metric histories."""


def diagnosed_runs(runs: pd.DataFrame, reference: Mapping[str, str] | None = None) -> list[str]:
    """The finished runs of the first :data:`DIAGNOSED_SEEDS` seeds of each configuration (of
    one per variant past :data:`DIAGNOSED_CONFIGURATIONS`; ``reference``: the study's)."""
    from a3m.study.runs import configuration_key
    from dashboards import data

    done = data.finished(runs)
    if done.empty:
        return []
    key = configuration_key(runs) or ["params.dataset"]
    if done.groupby(key, dropna=False).ngroups > DIAGNOSED_CONFIGURATIONS:
        done = data.finished(data.config_runs_per_variant(runs, reference=reference).runs)
    ordered = done.sort_values("params.seed") if "params.seed" in done else done
    return ordered.groupby(key, dropna=False).head(DIAGNOSED_SEEDS)["run_id"].tolist()


def _print(report: Report) -> None:
    print(f"report: {report.html}")
    for path in report.csvs:
        print(f"csv: {path}")
    for message in report.messages:
        print(message)


def after_study(result: StudyResult) -> None:
    """The after-study hook: the study's report beside its leaderboard (``result.out_dir``)."""
    _print(
        build(
            result.experiment,
            result.tracking_uri,
            result.out_dir,
            optuna_storage=result.optuna_storage,
        )
    )


def parser() -> argparse.ArgumentParser:
    """The command line of ``dashboards/build.py`` (and of ``a3m dashboard``, which takes its
    description as its one-line help and its epilog as the rest)."""
    from a3m.cli import EXCLUDE_FAILED_BEFORE_HELP
    from a3m.study.spec import HelpFormatter

    p = argparse.ArgumentParser(
        prog="dashboards/build.py",
        description="Write an MLflow experiment's report: HTML (offline), a PNG per figure, CSVs.",
        epilog="The report opens with the paper's claims checked against the paired runs and "
        "the paired verdicts against the study's reference, then the paper's figures and "
        "tables where the study has the runs for them (Fig. 5-8, Tables 1-5 beside the paper's "
        "numbers), the training diagnostics and, for an Optuna search, its history. Exit "
        "status: 0 with a report, 1 when the experiment has no finished run, 2 when it does "
        "not exist or a store or --out cannot be used.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("--experiment", required=True, metavar="NAME",
                   help="MLflow experiment: the study's name, e.g. ablation_cub "
                   "(<study>-synthetic with --synthetic)")  # fmt: skip
    p.add_argument("--tracking-uri", metavar="URI", help="MLflow tracking URI (default: "
                   "$MLFLOW_TRACKING_URI or sqlite:///mlflow.db)")  # fmt: skip
    p.add_argument("--out", metavar="DIR",
                   help="folder of the report (default: results/<experiment>)")  # fmt: skip
    p.add_argument("--optuna-storage", metavar="URL", help="Optuna RDB URL of an open search "
                   "(default: optuna.db beside a SQLite tracking store)")  # fmt: skip
    p.add_argument("--no-png", action="store_true", help="HTML and CSVs only (no browser needed)")
    p.add_argument("--browser", metavar="PATH", help="Chromium-based browser for the PNGs "
                   "(default: $BROWSER_PATH, chromium or chrome on the PATH)")  # fmt: skip
    p.add_argument("--mlflow-ui", metavar="URL",
                   help="MLflow UI the run ids link to (default: the tracking URI when it is "
                   "http(s); a local store's report links nothing and says how to open a UI: "
                   "`mlflow ui --backend-store-uri ...`)")  # fmt: skip
    p.add_argument("--exclude-failed-before", metavar="WHEN", help=EXCLUDE_FAILED_BEFORE_HELP)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (see the module docstring)."""
    return run(parser().parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """Build the report the parsed flags of :func:`parser` ask for (also ``a3m dashboard``).
    The tracking store, the Optuna store and ``--out`` are checked first (one line, exit 2:
    :func:`a3m.study.preflight.check_command`)."""
    from a3m.study.preflight import (
        PreflightError,
        check_command,
        check_optuna_storage,
        check_writable_folder,
        store_error,
    )
    from a3m.study.tracking import resolve_tracking_uri

    uri = resolve_tracking_uri(args.tracking_uri)
    try:
        check_command(uri)
        out = Path(args.out) if args.out is not None else Path("results") / args.experiment
        check_writable_folder(out, "--out")
        check_optuna_storage(args.optuna_storage)
    except PreflightError as err:
        print(f"a3m dashboard: {err}", file=sys.stderr)
        return 2
    try:
        report = build(
            args.experiment,
            args.tracking_uri,
            args.out,
            png=not args.no_png,
            optuna_storage=args.optuna_storage,
            browser=args.browser,
            ui_url=args.mlflow_ui,
            exclude_failed_before=args.exclude_failed_before,
        )
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except Exception as err:
        line = store_error(uri, err)  # the store, damaged or refusing, as it was read
        if line is None:
            raise
        print(f"a3m dashboard: {line}", file=sys.stderr)
        return 2
    _print(report)
    return 1 if report.sections == ["no_runs"] else 0


if __name__ == "__main__":
    # `python dashboards/build.py` puts dashboards/ first on sys.path, where data.py or
    # report.py could shadow other modules; the package is imported as `dashboards.*` from the
    # repository root instead (which also works without an install).
    sys.path[0] = str(Path(__file__).resolve().parents[1])
    raise SystemExit(main())
