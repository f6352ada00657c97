"""From MLflow to pandas: a study's trial runs as one DataFrame, and the helpers every figure
shares (numeric params, variant names, one configuration per variant, notes on what is
missing), the attention-map PNGs the trials logged (Fig. 6), and the Optuna study of an open
search.

The runs frame is :func:`a3m.study.runs.runs_frame`'s: one row per trial (child) run,
``params.*`` as strings (MLflow stores params as text), ``metrics.*`` with each metric's latest
value (fractions in [0, 1]), ``tags.*``, ``status``, ``run_id``, ``start_time``.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from a3m.data.registry import get_entry
from a3m.data.tasks import metric_label
from a3m.models import VARIANTS, registered_variants
from a3m.models.baseline import Baseline1
from a3m.stats import higher_is_better
from a3m.study.runs import NOT_A_SETTING, runs_frame
from a3m.study.tracking import ERROR_TAG, canonical, resolve_tracking_uri
from a3m.viz import ATTENTION_DIR_NAME

VARIANT_LABELS: dict[str, str] = {
    "baseline1": "Baseline-1",
    "baseline2": "Baseline-2",
    "att1": "Att-1",
    "att2": "Att-2",
    "a3m_wo_attr": "A3M w/o attr-label",
    "a3m": "A3M",
}
"""The paper's names of our variants (Sec. 4.3), in the order of :data:`a3m.models.VARIANTS`."""

ATTRIBUTE_PREFIX = "metrics.attr_acc/"


def load_runs(experiment: str, tracking_uri: str | None = None) -> pd.DataFrame:
    """The trial runs of an MLflow experiment (any tracking URI) that count, one per trial, as
    the leaderboard and ``a3m compare`` count them (:func:`a3m.study.runs.runs_frame`: what it
    sets aside is said on stderr), as a DataFrame.

    Args:
        experiment: the MLflow experiment, e.g. ``ablation_cub-synthetic``.
        tracking_uri: default as the studies: ``$MLFLOW_TRACKING_URI`` or ``sqlite:///mlflow.db``.

    Raises:
        ValueError: when the experiment does not exist (the message lists those that do).
    """
    return runs_frame(experiment, resolve_tracking_uri(tracking_uri))


def label(variant: Any) -> str:
    """The paper's name of a variant (``a3m_wo_attr`` -> ``A3M w/o attr-label``)."""
    return VARIANT_LABELS.get(str(variant), str(variant))


def task_of(dataset: Any) -> str:
    """``classification``, ``reid`` or ``retrieval`` for a dataset name (its registry entry's
    task); ``classification`` for a name the registry does not know."""
    try:
        return get_entry(str(dataset)).task  # a manifest's card says its task
    except (OSError, ValueError):  # a name this code does not know, a card no longer there
        return "classification"


def has_metric(runs: pd.DataFrame, metric: str) -> bool:
    """Whether any run has a value of ``metric``."""
    col = f"metrics.{metric}"
    return col in runs and bool(runs[col].notna().any())


def numeric(runs: pd.DataFrame, param: str) -> pd.Series:
    """A param as floats (MLflow keeps params as text); NaN where absent or not a number."""
    col = f"params.{param}"
    if col not in runs:
        return pd.Series(np.nan, index=runs.index, dtype=float)
    return pd.to_numeric(runs[col], errors="coerce").astype(float)


def varying_settings(runs: pd.DataFrame, exclude: Iterable[str] = ()) -> list[str]:
    """The params (without prefix) that differ across runs, those that are not settings (the
    seed, how fast and where a run ran: :data:`a3m.study.runs.NOT_A_SETTING`) excluded."""
    skip = NOT_A_SETTING | set(exclude)
    return [
        c.removeprefix("params.")
        for c in runs.columns
        if c.startswith("params.")
        and c.removeprefix("params.") not in skip
        and runs[c].nunique(dropna=False) > 1
    ]


def variants_in(runs: pd.DataFrame) -> list[str]:
    """The variants that ran, in the paper's order (unknown names last)."""
    if "params.variant" not in runs:
        return []
    present = set(runs["params.variant"].dropna())
    return [v for v in VARIANTS if v in present] + sorted(present - set(VARIANTS))


VALIDATION_METRIC = "val_score"
"""The score on the held-out validation split, where a run logged one: the only score a
configuration may be chosen by (the test split's is what the report shows)."""


class VariantConfigs(NamedTuple):
    """What :func:`config_runs_per_variant` chose.

    Attributes:
        runs: the runs of the chosen configurations (all their seeds).
        chosen: per value of ``by``, the chosen configuration's settings that its runs vary
            (``"alpha=0.5, d=64"``; empty when the value had one configuration).
        rule: one sentence on how they were chosen, for a caption (empty when nothing varies
            besides ``by``).
    """

    runs: pd.DataFrame
    chosen: dict[str, str]
    rule: str


def study_base(runs: pd.DataFrame, settings: Iterable[str]) -> dict[str, str]:
    """Per setting, the value most runs share (as :func:`a3m.study.runs.canonical` text; a tie
    goes to the earliest run's value): the study's base, from which its sweeps depart."""
    order = runs.sort_values("start_time", kind="stable") if "start_time" in runs else runs
    base = {}
    for setting in settings:
        counts: dict[str, int] = {}
        for value in order[f"params.{setting}"].map(canonical):
            counts[value] = counts.get(value, 0) + 1
        base[setting] = max(counts, key=counts.__getitem__)  # first of the most common
    return base


def config_runs_per_variant(
    runs: pd.DataFrame, by: str = "variant", reference: Mapping[str, Any] | None = None
) -> VariantConfigs:
    """Per value of ``by`` (each variant), the runs of ONE configuration, chosen without
    looking at the test split.

    A study may vary more than the variant (an alpha sweep of A3M, a backbone grid); a bar per
    variant must then stand for one configuration, not a mix. Picking the one with the best
    test score and then reporting that score would be selection on the test split; instead the
    other varying settings are put at the study's reference values (``reference``, the
    ``a3m.reference`` the study declared) and, on the settings the reference does not fix, at
    the best mean ``val_score`` (the held-out validation split) when the runs logged one, else
    at the study's base (:func:`study_base`). Where a variant never ran that exact point, its
    configuration closest to it is taken (most settings equal, then most runs, then first run).

    Returns:
        :class:`VariantConfigs`: the runs, the chosen configuration per value, the rule.
    """
    col = f"params.{by}"
    if runs.empty or col not in runs:
        return VariantConfigs(runs, {}, "")
    others = varying_settings(runs, exclude=[by])
    if not others:
        chosen = {str(v): "" for v in runs[col].unique()}
        return VariantConfigs(runs, chosen, "")
    fixed = {k: canonical(v) for k, v in (reference or {}).items() if k in others}
    free = [s for s in others if s not in fixed]
    by_val = bool(free) and has_metric(runs, VALIDATION_METRIC)
    base = study_base(runs, free)
    keys = pd.DataFrame({s: runs[f"params.{s}"].map(canonical) for s in others}, index=runs.index)
    val = runs.get(f"metrics.{VALIDATION_METRIC}", pd.Series(np.nan, index=runs.index))
    sign = 1.0 if higher_is_better(VALIDATION_METRIC) else -1.0  # the best in its direction
    keep, chosen = [], {}
    for value, group in runs.groupby(col, sort=False, dropna=False):
        ranks = []
        configs = keys.loc[group.index].groupby(others, sort=False, dropna=False)
        for order, (values, members) in enumerate(configs):
            values = values if isinstance(values, tuple) else (values,)
            config = dict(zip(others, values, strict=True))
            mean = val.loc[members.index].mean() if by_val else np.nan
            # reference settings met, validation score, base settings met, runs, first seen
            rank = (
                sum(config[k] == v for k, v in fixed.items()),
                sign * float(mean) if np.isfinite(mean) else -np.inf,
                sum(config[k] == base[k] for k in free),
                len(members),
                -order,
            )
            ranks.append((rank, members.index))
        _, index = max(ranks, key=lambda r: r[0])
        keep.append(group.loc[index])
        first = group.loc[index[0]]
        chosen[str(value)] = ", ".join(
            f"{s}={first[f'params.{s}']}"
            for s in others
            if group[f"params.{s}"].nunique(dropna=False) > 1
        )
    shown = as_logged(runs, fixed | base)
    return VariantConfigs(pd.concat(keep), chosen, _selection_rule(fixed, free, by_val, shown))


def as_logged(runs: pd.DataFrame, values: Mapping[str, Any]) -> dict[str, str]:
    """Settings (e.g. canonical text, ``d="16.0"``) with each value as the runs logged it
    (``d="16"``); a value no run logged stays as it is."""
    out = {}
    for setting, value in values.items():
        logged = runs.get(f"params.{setting}", pd.Series(dtype=object)).dropna()
        # the distinct texts in order of first appearance: the first that matches is the first
        # run's (a study's thousands of runs share a handful of values)
        hit = [v for v in logged.unique() if canonical(v) == canonical(value)]
        out[setting] = str(hit[0]) if hit else str(value)
    return out


def _selection_rule(
    fixed: Mapping[str, str], free: Sequence[str], by_val: bool, shown: Mapping[str, str]
) -> str:
    """The sentence a caption gives on how each variant's configuration was chosen."""
    parts = []
    if fixed:
        parts.append(f"at the study's reference ({', '.join(f'{k}={shown[k]}' for k in fixed)})")
    if free and by_val:
        parts.append(
            f"with the best mean {VALIDATION_METRIC} (validation split) over {', '.join(free)}"
        )
    elif free:
        at = ", ".join(f"{k}={shown[k]}" for k in free)
        parts.append(f"at the study's base, the value most runs share ({at})")
    return (
        "Each variant is shown at one configuration: "
        + " and ".join(parts)
        + "; never the one best on the test split, whose score is what is reported."
    )


def run_label(row: pd.Series) -> str:
    """A short name of one run for notes: ``1f2e3d4 (A3M, seed 1)``."""
    bits = [label(row.get("params.variant", "?"))]
    seed = row.get("params.seed")
    if isinstance(seed, str) or (seed is not None and not _isnan(seed)):
        bits.append(f"seed {seed}")
    return f"{str(row.get('run_id', '?'))[:7]} ({', '.join(bits)})"


def _isnan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _why_missing(row: pd.Series, metrics: Sequence[str] = ()) -> str:
    """Why a run has no value of ``metrics``: its error, a variant that cannot have them (no
    attribute branches: Baseline-1), or its status."""
    status = str(row.get("status", "?"))
    error = row.get(f"tags.{ERROR_TAG}")
    if isinstance(error, str) and error:
        short = error if len(error) <= 70 else error[:67] + "..."
        return f"{status}: {short}"
    network = getattr(registered_variants().get(str(row.get("params.variant"))), "network", None)
    branchless = isinstance(network, type) and issubclass(network, Baseline1)
    if branchless and metrics and all("attr" in m for m in metrics):
        return "no attribute branches in this variant"
    if status == "FINISHED":
        return "FINISHED, never evaluated"
    return f"{status}, not evaluated yet" if status == "RUNNING" else status


def missing_note(runs: pd.DataFrame, metrics: Sequence[str], max_runs: int = 3) -> str | None:
    """Which runs lack which of ``metrics``, and why (status, ``a3m.error``); None if none.

    E.g. ``"2 runs without rank-1, mAP: 1f2e3d4 (A3M, seed 1) FAILED: NonFiniteLossError: ..."``,
    one line (joined with ``<br>``) per set of missing metrics, at most ``max_runs`` runs named.
    """
    if runs.empty or not metrics:
        return None
    lacking = pd.DataFrame(
        {m: runs[f"metrics.{m}"].isna() if f"metrics.{m}" in runs else True for m in metrics},
        index=runs.index,
    )
    lines = []
    groups: dict[tuple[str, ...], list[int]] = {}
    for idx, row in lacking.iterrows():
        key = tuple(m for m in metrics if row[m])
        if key:
            groups.setdefault(key, []).append(idx)
    for key, idxs in groups.items():
        names = ", ".join(metric_label(m) for m in key)
        shown = "; ".join(
            f"{run_label(runs.loc[i])} {_why_missing(runs.loc[i], key)}" for i in idxs[:max_runs]
        )
        if len(idxs) > max_runs:
            shown += f"; and {len(idxs) - max_runs} more"
        lines.append(f"{len(idxs)} run{'s' if len(idxs) > 1 else ''} without {names}: {shown}")
    return "<br>".join(lines) or None


def finished(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs whose status is FINISHED."""
    if runs.empty or "status" not in runs:
        return runs.iloc[0:0]
    return runs[runs["status"] == "FINISHED"]


def status_counts(runs: pd.DataFrame) -> dict[str, int]:
    """``{"FINISHED": 5, "FAILED": 1}``."""
    if runs.empty or "status" not in runs:
        return {}
    return {str(k): int(v) for k, v in runs["status"].value_counts().items()}


def shared_settings(runs: pd.DataFrame, keys: Sequence[str] | None = None) -> dict[str, str]:
    """The params every run has in common (the study's fixed setting), e.g. for the header."""
    keys = keys or (
        "dataset",
        "variant",
        "backbone",
        "pretrained",
        "synthetic",
        "d",
        "alpha",
        "beta",
        "epochs",
        "lr",
        "batch_size",
    )
    out = {}
    for key in keys:
        col = f"params.{key}"
        if col in runs and runs[col].nunique(dropna=True) == 1:
            out[key] = str(runs[col].dropna().iloc[0])
    return out


def is_synthetic(runs: pd.DataFrame) -> bool:
    """Whether the runs trained on a synthetic copy (``--synthetic``)."""
    col = "params.synthetic"
    return col in runs and bool((runs[col].astype(str) == "True").any())


# -- Fig. 6: the attention PNGs the trials logged ----------------------------------------------
def download_attention_images(
    runs: pd.DataFrame,
    tracking_uri: str,
    dest: str | Path,
    *,
    max_images: int = 4,
    max_runs: int = 1,
) -> pd.DataFrame:
    """Download the attention PNGs (``attention/attention_XXXX.png``) of the chosen runs.

    Args:
        runs: the candidate runs in the order to try them
            (:func:`dashboards.selection.attention_candidates`: chosen without the test split),
            the first :data:`ATTENTION_PROBES` of them at most.
        tracking_uri: where the runs live (artifacts are fetched through the MLflow client, so
            any artifact store works).
        dest: local folder; files land in ``dest/<run_id>/attention/``.
        max_images: PNGs per run (one query image per PNG: input | masks | m_region).
        max_runs: runs to take images from.

    Returns:
        One row per image: ``run_id``, ``label`` (variant and configuration), ``artifact``
        (its path in the run) and ``file`` (the local copy). Empty when no run logged any.
    """
    from mlflow import MlflowClient

    client = MlflowClient(resolve_tracking_uri(tracking_uri))
    with _no_progress_bars():
        return _download(client, runs, Path(dest), max_images, max_runs)


@contextlib.contextmanager
def _no_progress_bars() -> Iterator[None]:
    """MLflow draws a progress bar per download; a report fetches a handful of small PNGs and
    its console output should stay readable (e.g. at the end of a study)."""
    key = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    old = os.environ.get(key)
    os.environ[key] = "false"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = old


ATTENTION_PROBES = 20
"""Candidate runs whose artifacts are listed (in the order chosen) in search of attention maps:
a study logs them in every attention run or in none (``attention_images=0``, a dry run), and listing
every run of a large study to find none cost a request per run (10,000 runs: minutes)."""


def _download(
    client: Any, runs: pd.DataFrame, dest: Path, max_images: int, max_runs: int
) -> pd.DataFrame:
    rows: list[dict[str, str]] = []
    runs_used = 0
    probed = runs.head(max(max_runs, ATTENTION_PROBES))
    for _, run in probed.iterrows():
        if runs_used >= max_runs:
            break
        run_id = str(run["run_id"])
        pngs = sorted(
            a.path
            for a in client.list_artifacts(run_id, ATTENTION_DIR_NAME)
            if not a.is_dir and a.path.endswith(".png")
        )[:max_images]
        if not pngs:
            continue
        runs_used += 1
        target = dest / run_id
        target.mkdir(parents=True, exist_ok=True)
        for artifact in pngs:
            local = client.download_artifacts(run_id, artifact, str(target))
            rows.append(
                {"run_id": run_id, "label": run_label(run), "artifact": artifact, "file": local}
            )
    return pd.DataFrame(rows, columns=["run_id", "label", "artifact", "file"])


# -- open searches: the Optuna study ------------------------------------------------------------
def load_optuna_study(experiment: str, storage_url: str | None) -> tuple[Any | None, str]:
    """The Optuna study named like the experiment, and a sentence on where it came from or why
    there is none. Never creates a database: a SQLite file that does not exist is "not found"
    (``RDBStorage`` would otherwise create an empty one)."""
    if not storage_url:
        return None, "no Optuna storage for this tracking store (pass --optuna-storage URL)"
    if storage_url.startswith("sqlite:///"):
        path = Path(storage_url[len("sqlite:///") :])
        if not path.is_file():
            return None, f"no Optuna storage at {path}"
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.load_study(study_name=experiment, storage=storage_url)
    except KeyError:
        return None, f"no Optuna study {experiment!r} in {storage_url}"
    except Exception as err:  # a server that is down, a foreign database: say so, draw the rest
        return None, f"Optuna storage {storage_url} unreadable ({type(err).__name__}: {err})"
    return study, f"Optuna study {experiment!r} in {storage_url}"


def param_importances(
    runs: pd.DataFrame,
    study: Any | None = None,
    *,
    params: Sequence[str] | None = None,
    metric: str = "score",
) -> tuple[dict[str, float], str]:
    """Parameter importances (``optuna.importance.get_param_importances``, fANOVA).

    On the Optuna study when there is one (its own distributions); otherwise estimated from the
    MLflow runs (numbers as float ranges, text as categories) and the note says so.

    Returns:
        ``{param: importance}`` summing to 1 (empty when it cannot be computed), and a note on
        the source or on why there is nothing.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    source = "from the Optuna study"
    if study is None:
        study, source = _study_from_runs(runs, params, metric), "estimated from the MLflow runs"
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if len(complete) < 2:
        return {}, f"parameter importance needs 2 or more complete trials, {len(complete)} found"
    try:
        return dict(optuna.importance.get_param_importances(study, params=params)), source
    except (RuntimeError, ValueError) as err:  # e.g. no parameter varies
        return {}, f"parameter importance not available: {err}"


def _study_from_runs(runs: pd.DataFrame, params: Sequence[str] | None, metric: str) -> Any:
    """An in-memory Optuna study holding the runs as complete trials."""
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    params = list(params or varying_settings(runs))
    col = f"metrics.{metric}"
    values = runs[col] if col in runs else pd.Series(np.nan, index=runs.index)
    dists: dict[str, Any] = {}
    for p in params:
        num = numeric(runs, p)
        if num.notna().all():
            dists[p] = FloatDistribution(float(num.min()), float(num.max()))
        else:
            dists[p] = CategoricalDistribution(sorted(runs[f"params.{p}"].astype(str).unique()))
    study = optuna.create_study(direction="maximize" if higher_is_better(metric) else "minimize")
    for idx in runs.index[values.notna()]:
        trial_params = {
            p: float(numeric(runs.loc[[idx]], p).iloc[0])
            if isinstance(d, FloatDistribution)
            else str(runs.at[idx, f"params.{p}"])
            for p, d in dists.items()
        }
        study.add_trial(
            optuna.trial.create_trial(
                params=trial_params, distributions=dists, value=float(values[idx])
            )
        )
    return study


# -- per-epoch training diagnostics (a3m.diagnostics) -------------------------------------------
DIAGNOSTICS_COLUMNS = ("run_id", "metric", "epoch", "value")
"""The columns of :func:`diagnostics_history`'s frame."""


def diagnostics_history(
    experiment: str | None,
    tracking_uri: str | None = None,
    run_ids: Sequence[str] | None = None,
    *,
    metrics: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The per-epoch history of the trials' training diagnostics (the ``diag/`` metrics of
    :mod:`a3m.diagnostics`), read with ``MlflowClient.get_metric_history``.

    The runs frame keeps only each metric's last value; how the attention saturates or the
    gradients shrink over training needs every epoch.

    Args:
        experiment: the MLflow experiment, whose trial runs are read when ``run_ids`` is None.
        tracking_uri: as :func:`load_runs`.
        run_ids: the runs to read, e.g. the ``run_id`` column of a runs frame already loaded.
        metrics: full metric names (``diag/m_region_sat_high``); default every ``diag/``
            metric each run logged.

    Returns:
        Long format, one row per run, metric and epoch (:data:`DIAGNOSTICS_COLUMNS`): the
        ``epoch`` is the step the trainer logged it at. Empty, with these columns, when no run
        logged any.
    """
    from mlflow import MlflowClient

    uri = resolve_tracking_uri(tracking_uri)
    if run_ids is None:
        if experiment is None:
            raise ValueError("give the experiment or the run ids to read")
        runs = load_runs(experiment, uri)
        run_ids = runs["run_id"].tolist() if "run_id" in runs else []
    client = MlflowClient(uri)
    wanted = {  # run id -> its metrics to read
        run_id: list(metrics) if metrics is not None else _logged_diagnostics(client, run_id)
        for run_id in run_ids
    }
    histories: dict[tuple[str, str], list[Any]] = {}
    for name in dict.fromkeys(name for names in wanted.values() for name in names):
        ids = [run_id for run_id, names in wanted.items() if name in names]
        for run_id, history in metric_histories(client, ids, name).items():
            histories[run_id, name] = history
    rows = [
        (run_id, name, int(m.step), float(m.value), m.timestamp)
        for run_id, names in wanted.items()
        for name in names
        for m in histories[run_id, name]
    ]
    frame = pd.DataFrame(rows, columns=[*DIAGNOSTICS_COLUMNS, "timestamp"])
    # one value per epoch: a value logged twice at a step (never by the trainable) keeps the last
    frame = frame.sort_values("timestamp", kind="stable")
    frame = frame.drop_duplicates(["run_id", "metric", "epoch"], keep="last")
    return frame.sort_values(["run_id", "metric", "epoch"]).reset_index(drop=True)[
        list(DIAGNOSTICS_COLUMNS)
    ]


def _logged_diagnostics(client: Any, run_id: str) -> list[str]:
    """Every ``diag/`` metric a run logged, by name."""
    from a3m.diagnostics import PREFIX

    return sorted(k for k in client.get_run(run_id).data.metrics if k.startswith(PREFIX))


HISTORY_RUNS_PER_QUERY = 500
"""Runs per bulk metric-history query (well under SQLite's limit of query parameters)."""


def metric_histories(client: Any, run_ids: Sequence[str], name: str) -> dict[str, list[Any]]:
    """run id -> every logged value of metric ``name`` (MLflow ``Metric``s, in
    ``get_metric_history``'s order: timestamp, step, value).

    ``MlflowClient.get_metric_history`` is a request per run and metric: 40,000 of them for the
    report of a 10,000-run study (minutes). MLflow's SQL stores (SQLite, PostgreSQL, ...) answer
    one metric of many runs in one query (``get_metric_history_bulk``, what the MLflow UI's
    charts use), which the client does not expose: used through the client's store when it has
    it, else a request per run (a tracking server, a file store)."""
    store = getattr(getattr(client, "_tracking_client", None), "store", None)
    bulk = getattr(store, "get_metric_history_bulk", None)
    if bulk is None:
        return {run_id: list(client.get_metric_history(run_id, name)) for run_id in run_ids}
    out: dict[str, list[Any]] = {run_id: [] for run_id in run_ids}
    for start in range(0, len(run_ids), HISTORY_RUNS_PER_QUERY):
        chunk = list(run_ids[start : start + HISTORY_RUNS_PER_QUERY])
        for metric in bulk(run_ids=chunk, metric_key=name, max_results=None):
            out[metric.run_id].append(metric)
    return out
