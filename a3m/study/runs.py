"""A study's MLflow runs as one DataFrame, and what makes a configuration.

The frame has ``mlflow.search_runs``'s layout: one row per trial (child) run, ``params.*`` as
text, ``metrics.*`` with each metric's latest (= final-epoch) value, ``tags.*``, ``status``,
``run_id``, ``start_time``. The leaderboard, the paired comparisons and the dashboards all read
it, and all group runs into configurations the same way (:func:`configuration_key`).
"""

from __future__ import annotations

import json

import pandas as pd
from mlflow import MlflowClient

from a3m.study.tracking import PARENT_TAG, REFERENCE_TAG, RUN_KIND_TAG, TRIAL_TAG

NOT_A_SETTING = frozenset({"seed", "data_root", "synthetic_cache", "num_workers", "device"})
"""Params that never make two runs different configurations: the seed pairs runs, the others
say where and how a run ran, not what it computed."""


def runs_frame(experiment: str, tracking_uri: str) -> pd.DataFrame:
    """The training runs of an MLflow experiment (a study's trials and ``a3m train``'s runs, not
    the studies' parent runs) as a DataFrame (``mlflow.search_runs`` layout: ``params.*``,
    ``metrics.*`` with each metric's latest value, ``tags.*``)."""
    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        names = sorted(e.name for e in client.search_experiments())
        raise ValueError(f"no MLflow experiment {experiment!r} at {tracking_uri}; found: {names}")
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    df = mlflow.search_runs([exp.experiment_id], output_format="pandas")
    kind = df.get(f"tags.{RUN_KIND_TAG}", pd.Series(None, index=df.index, dtype=object))
    trial = df.get(f"tags.{TRIAL_TAG}", pd.Series(None, index=df.index, dtype=object))
    parent = df.get(f"tags.{PARENT_TAG}", pd.Series(None, index=df.index, dtype=object))
    # a3m train's runs and the trials; runs of before a3m.run_kind: a trial id and a parent
    training = kind.isin(["trial", "single"]) | (trial.notna() & parent.notna())
    return df[training].reset_index(drop=True)


def study_reference(experiment: str, tracking_uri: str) -> dict[str, str] | None:
    """The reference configuration the study declared (``StudySpec.reference``), from its
    latest parent run's tag; None when no invocation declared one (e.g. an open search)."""
    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return None
    parents = client.search_runs(
        [exp.experiment_id],
        filter_string=f"tags.`{REFERENCE_TAG}` != ''",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not parents:
        return None
    return {k: str(v) for k, v in json.loads(parents[0].data.tags[REFERENCE_TAG]).items()}


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
