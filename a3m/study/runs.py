"""A study's MLflow runs as one DataFrame, and what makes a configuration.

The frame has ``mlflow.search_runs``'s layout: one row per trial (child) run, ``params.*`` as
text, ``metrics.*`` with each metric's latest (= final-epoch) value, ``tags.*``, ``status``,
``run_id``, ``start_time``. The leaderboard, the paired comparisons and the dashboards all read
it, and all group runs into configurations the same way (:func:`configuration_key`).
"""

from __future__ import annotations

import gc
import json
import sys

import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import Run

from a3m.config import fields_with_role
from a3m.sequential import Inference
from a3m.study.tracking import (
    INFERENCE_TAG,
    PARENT_TAG,
    REFERENCE_TAG,
    RUN_KIND_TAG,
    TRIAL_TAG,
    VERDICT_ALPHA_TAG,
    redact,
)

NOT_A_SETTING = fields_with_role("speed", "place", "seed")
"""Params that never make two runs different configurations: the seed pairs runs, the others
say where and how fast a run ran, not what it computed (their roles: :data:`a3m.config.ROLES`).
A trial's identity (:data:`a3m.study.tracking.NOT_IDENTITY`) leaves out the same, but the
seed."""


class BadFlag(ValueError):
    """A command's flag names what is not there (an experiment, a metric, a column): bad
    usage, exit 2, where other ``ValueError``s of a store's content exit 1."""


def runs_frame(experiment: str, tracking_uri: str) -> pd.DataFrame:
    """The training runs of an MLflow experiment (a study's trials and ``a3m train``'s runs, not
    the studies' parent runs) as a DataFrame (``mlflow.search_runs`` layout: ``params.*``,
    ``metrics.*`` with each metric's latest value, ``tags.*``), every page of the search."""
    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        names = sorted(e.name for e in client.search_experiments())
        raise BadFlag(
            f"--experiment: no MLflow experiment {experiment!r} at {redact(tracking_uri)}; "
            f"found: {names}"
        )
    df = _as_frame(search_all_runs(client, [exp.experiment_id]))
    kind = df.get(f"tags.{RUN_KIND_TAG}", pd.Series(None, index=df.index, dtype=object))
    trial = df.get(f"tags.{TRIAL_TAG}", pd.Series(None, index=df.index, dtype=object))
    parent = df.get(f"tags.{PARENT_TAG}", pd.Series(None, index=df.index, dtype=object))
    # a3m train's runs and the trials; runs of before a3m.run_kind: a trial id and a parent
    training = kind.isin(["trial", "single"]) | (trial.notna() & parent.notna())
    df = df[training]
    params = [c for c in df.columns if c.startswith("params.")]
    empty = df[params].isna().all(axis=1) if params else pd.Series(True, index=df.index)
    if empty.any():  # a run the store lost its params of (a full disk): no configuration
        lost = df.loc[empty, ["run_id", "status"]].itertuples(index=False)
        named = ", ".join(f"{run_id} ({status})" for run_id, status in lost)
        print(f"skipped {int(empty.sum())} run(s) of {experiment!r} without params (left by "
              f"a full disk or a killed writer?): {named}", file=sys.stderr)  # fmt: skip
    return df[~empty].reset_index(drop=True)


RUNS_PER_PAGE = 5000
"""Runs per ``search_runs`` request: MLflow caps a page at 50,000; 5,000 keeps each response
(all params, tags and latest metrics of every run) a few tens of MB."""


def search_all_runs(
    client: MlflowClient, experiment_ids: list[str], filter_string: str = ""
) -> list[Run]:
    """Every run of the experiments that matches ``filter_string``, page after page (no cap:
    ``mlflow.search_runs`` stops at 100,000).

    Python's cyclic garbage collector is held off meanwhile: the SQL store builds an ORM object
    per param, tag and metric of every run (over a million for 10,000 runs), and each
    collection of the oldest generation walks all of them again; none of them form cycles that
    need it. On 10,000 runs this made the search several times faster (benchmarks/RESULTS.md,
    "Issue 12: scale")."""
    runs: list[Run] = []
    token = None
    enabled = gc.isenabled()
    gc.disable()
    try:
        while True:
            page = client.search_runs(
                experiment_ids, filter_string, max_results=RUNS_PER_PAGE, page_token=token
            )
            runs += page
            token = page.token
            if not token:
                return runs
    finally:
        if enabled:
            gc.enable()


def _as_frame(runs: list[Run]) -> pd.DataFrame:
    """``mlflow.search_runs(output_format="pandas")``'s frame of ``runs``, built column-wise
    (its loop converts two timestamps per run, one at a time): the run's info, then
    ``metrics.*``, ``params.*``, ``tags.*`` in the order the runs first have them, NaN (None for
    text) where a run lacks one."""
    info = {
        "run_id": [r.info.run_id for r in runs],
        "experiment_id": [r.info.experiment_id for r in runs],
        "status": [r.info.status for r in runs],
        "artifact_uri": [r.info.artifact_uri for r in runs],
        "start_time": pd.to_datetime([r.info.start_time for r in runs], unit="ms", utc=True),
        "end_time": pd.to_datetime([r.info.end_time for r in runs], unit="ms", utc=True),
    }
    parts = [pd.DataFrame(info)]
    for prefix, values, missing in (
        ("metrics.", [r.data.metrics for r in runs], np.nan),
        ("params.", [r.data.params for r in runs], None),
        ("tags.", [r.data.tags for r in runs], None),
    ):
        keys = list(dict.fromkeys(k for row in values for k in row))
        columns = {f"{prefix}{k}": [row.get(k, missing) for row in values] for k in keys}
        parts.append(pd.DataFrame(columns, index=parts[0].index))
    return pd.concat(parts, axis=1)


def latest_parent_tag(experiment: str, tracking_uri: str, tag: str) -> str | None:
    """The value of ``tag`` on the experiment's latest run that has it (a study's parent run),
    or None."""
    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return None
    parents = client.search_runs(
        [exp.experiment_id],
        filter_string=f"tags.`{tag}` != ''",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return parents[0].data.tags[tag] if parents else None


def study_reference(experiment: str, tracking_uri: str) -> dict[str, str] | None:
    """The reference configuration the study declared (``StudySpec.reference``), from its
    latest parent run's tag; None when no invocation declared one (e.g. an open search)."""
    found = latest_parent_tag(experiment, tracking_uri, REFERENCE_TAG)
    return {k: str(v) for k, v in json.loads(found).items()} if found else None


def study_inference(experiment: str, tracking_uri: str) -> Inference:
    """How the study decides its verdicts (alpha, the looks of ``--seeds auto``, the
    equivalence margin): the ``a3m.inference`` tag of its latest parent run that has one; a
    parent run of before it kept only its alpha (``a3m.verdict_alpha``); else the defaults."""
    found = latest_parent_tag(experiment, tracking_uri, INFERENCE_TAG)
    if found:
        return Inference.from_json(found)
    alpha = latest_parent_tag(experiment, tracking_uri, VERDICT_ALPHA_TAG)
    return Inference(alpha=float(alpha)) if alpha else Inference()


def configuration_key(runs: pd.DataFrame) -> list[str]:
    """The ``params.*`` columns that vary across runs, :data:`NOT_A_SETTING` excluded: the
    values that make a configuration."""
    return [
        c
        for c in runs.columns
        if c.startswith("params.")
        and c.removeprefix("params.") not in NOT_A_SETTING
        and runs[c].nunique(dropna=False) > 1
    ]
