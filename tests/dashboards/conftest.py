"""Hand-made runs for the dashboards: DataFrames in ``mlflow.search_runs`` layout, and a tiny
MLflow store (SQLite in a temporary folder) written with the MlflowClient the way the study
layer writes it: a parent run (tagged with the study's reference), child trial runs with params,
per-epoch metrics, tags, attention PNGs, a FAILED trial, and an Optuna study beside it."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

ATTRIBUTES = ("has_bill_shape", "has_wing_color", "has_tail_shape", "has_size", "has_crown")


def make_run(
    run_id: str,
    variant: str = "a3m",
    seed: int = 0,
    *,
    status: str = "FINISHED",
    dataset: str = "cub",
    params: dict[str, Any] | None = None,
    metrics: dict[str, float] | None = None,
    error: str | None = None,
    start: int = 0,
) -> dict[str, Any]:
    """One row of a runs frame (params as text, as MLflow returns them)."""
    row: dict[str, Any] = {
        "run_id": run_id,
        "experiment_id": "1",
        "status": status,
        "start_time": pd.Timestamp("2025-01-01", tz="UTC") + pd.Timedelta(seconds=start),
        "params.variant": variant,
        "params.seed": str(seed),
        "params.dataset": dataset,
        "params.alpha": "0.5",
        "params.beta": "0.5",
        "params.synthetic": "True",
    }
    row |= {f"params.{k}": str(v) for k, v in (params or {}).items()}
    row |= {f"metrics.{k}": float(v) for k, v in (metrics or {}).items()}
    if error:
        row["tags.a3m.error"] = error
    return row


def make_frame(*rows: dict[str, Any]) -> pd.DataFrame:
    """A runs frame; metrics a run lacks are NaN, as in MLflow's."""
    return pd.DataFrame(list(rows))


ALPHA_BETA_POINTS = [(0.1, 0.5), (0.3, 0.5), (0.5, 0.5), (0.7, 0.5), (1.0, 0.5),
                     (0.5, 0.1), (0.5, 0.3), (0.5, 0.7), (0.5, 1.0)]  # fmt: skip
"""studies/alpha_beta_cub.py's synthetic points: alpha swept at beta = 0.5, then beta at 0.5."""


def alpha_beta_frame(
    seeds: int = 1, attributes: tuple[str, ...] = ATTRIBUTES, **extra: float
) -> pd.DataFrame:
    """The runs of the alpha/beta study (A3M only, reference alpha = beta = 0.5): accuracy rises
    with alpha and falls with beta, 1 point apart per seed; per-attribute accuracies 2 points
    apart per attribute. ``extra`` metrics are added to every run as they are."""
    rows = []
    for i, (alpha, beta) in enumerate(ALPHA_BETA_POINTS):
        for seed in range(seeds):
            acc = 0.6 + 0.1 * alpha - 0.04 * beta + 0.01 * seed
            metrics = {"score": acc, "accuracy": acc, **extra}
            metrics |= {f"attr_acc/{a}": acc + 0.02 * k for k, a in enumerate(attributes)}
            params = {"alpha": alpha, "beta": beta}
            start = i * seeds + seed
            rows.append(make_run(f"p{i}s{seed}", "a3m", seed, params=params, metrics=metrics,
                                 start=start))  # fmt: skip
    return make_frame(*rows)


def ablation_frame(seeds: int = 8, attributes: bool = False) -> pd.DataFrame:
    """A3M ahead of Baseline-1 by 4-6 points on every seed (CUB, real data); with
    ``attributes``, A3M's runs carry per-attribute accuracies."""
    rows = []
    for seed in range(seeds):
        level = 0.70 + 0.01 * (seed % 3)
        gain = 0.04 + 0.01 * (seed % 3)
        for rid, variant, acc in (("r", "baseline1", level), ("c", "a3m", level + gain)):
            metrics = {"accuracy": acc, "score": acc}
            if attributes and variant == "a3m":
                metrics |= {"attr_acc/has_bill_shape": acc, "attr_acc/mean": acc}
            rows.append(make_run(f"{rid}{seed}", variant, seed, params={"synthetic": False},
                                 metrics=metrics))  # fmt: skip
    return make_frame(*rows)


@pytest.fixture
def frames() -> SimpleNamespace:
    """``frames.frame(frames.run("r1", "a3m", metrics={...}), ...)`` -> a runs frame;
    ``frames.alpha_beta(seeds)``: the alpha/beta study's; ``frames.ablation(seeds)``: A3M
    against Baseline-1, ahead on every seed."""
    return SimpleNamespace(
        run=make_run, frame=make_frame, alpha_beta=alpha_beta_frame, ablation=ablation_frame
    )


# -- a tiny MLflow store -----------------------------------------------------------------------
@dataclass
class TinyStore:
    root: Path
    tracking_uri: str
    mixed: str  # variants + alpha/beta sweeps + a FAILED trial: every paper figure applies
    search: str  # an Optuna search (optuna.db beside the store)
    empty: str  # only a FAILED trial
    failed_run_id: str


def _attention_pngs(out: Path, seed: int) -> Path:
    """Four Fig. 6 overlays (input | 5 masks | m_region) as the trainable logs them."""
    import torch

    from a3m.viz import save_attention_maps

    g = torch.Generator().manual_seed(seed)
    images = torch.randn(4, 3, 32, 32, generator=g)
    masks = torch.rand(4, len(ATTRIBUTES), 4, 4, generator=g)
    save_attention_maps(images, masks, masks.amax(1), out, names=list(ATTRIBUTES))
    return out


def _log_trial(
    client,
    exp_id: str,
    parent: str,
    trial: str,
    params: dict,
    metrics: dict,
    *,
    status: str = "FINISHED",
    error: str | None = None,
    attention: Path | None = None,
) -> str:
    from mlflow.entities import Metric, Param, RunTag

    tags = {
        "mlflow.parentRunId": parent, "a3m.trial_id": trial, "a3m.variant": params["variant"],
        "a3m.seed": str(params["seed"]), "a3m.dataset": params["dataset"],
    }  # fmt: skip
    if error:
        tags["a3m.error"] = error
    run = client.create_run(exp_id, tags=tags, run_name=trial)
    run_id = run.info.run_id
    ms = [
        Metric(k, v * (0.8 if epoch == 1 else 1.0), 0, epoch)
        for epoch in (1, 2)
        for k, v in metrics.items()
    ]
    client.log_batch(run_id, metrics=ms, params=[Param(k, str(v)) for k, v in params.items()])
    client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])
    if attention is not None:
        client.log_artifacts(run_id, str(attention), "attention")
    client.set_terminated(run_id, status=status)
    return run_id


def _classification_metrics(base: float, seed: int) -> dict[str, float]:
    acc = base + 0.01 * seed
    out = {"score": acc, "accuracy": acc, "category_accuracy": acc - 0.05}
    attrs = {f"attr_acc/{a}": min(1.0, base + 0.03 * i) for i, a in enumerate(ATTRIBUTES)}
    out |= attrs | {"attr_acc/mean": sum(attrs.values()) / len(attrs)}
    return out


@pytest.fixture(scope="session")
def tiny_store(tmp_path_factory, mlflow_template) -> TinyStore:
    """Three experiments in one SQLite store (created once per session)."""
    import optuna
    from mlflow import MlflowClient

    root = tmp_path_factory.mktemp("mlflow")
    shutil.copyfile(mlflow_template, root / "mlflow.db")
    uri = f"sqlite:///{root}/mlflow.db"
    client = MlflowClient(uri)
    shared = {"dataset": "cub", "backbone": "tiny", "synthetic": True, "d": 16, "epochs": 2,
              "lr": 0.03}  # fmt: skip
    pngs = _attention_pngs(root / "pngs", 0)

    mixed = client.create_experiment("mixed-synthetic", artifact_location=str(root / "art1"))
    # the reference the runner tags a study's parent run with (StudySpec.reference)
    tags = {"a3m.study": "mixed", "a3m.reference": json.dumps({"variant": "baseline2"})}
    parent = client.create_run(mixed, tags=tags).info.run_id
    n = 0
    for variant, base in (("baseline2", 0.60), ("att1", 0.64), ("att2", 0.66), ("a3m", 0.70)):
        for seed in (0, 1):
            n += 1
            params = shared | {"variant": variant, "seed": seed, "alpha": 0.5, "beta": 0.5}
            _log_trial(client, mixed, parent, f"t{n:05d}", params,
                       _classification_metrics(base, seed),
                       attention=pngs if variant != "baseline1" else None)  # fmt: skip
    for axis, value, base in (("alpha", 0.1, 0.62), ("alpha", 0.9, 0.65), ("beta", 0.1, 0.63),
                              ("beta", 0.9, 0.67)):  # fmt: skip
        n += 1
        params = shared | {"variant": "a3m", "seed": 0, "alpha": 0.5, "beta": 0.5, axis: value}
        _log_trial(client, mixed, parent, f"t{n:05d}", params, _classification_metrics(base, 0))
    failed = _log_trial(
        client, mixed, parent, "t99999", shared | {"variant": "baseline1", "seed": 0},
        {}, status="FAILED", error="NonFiniteLossError: loss is nan at epoch 1",
    )  # fmt: skip
    client.set_terminated(parent)

    search = client.create_experiment("search-synthetic", artifact_location=str(root / "art2"))
    parent = client.create_run(search, tags={"a3m.study": "search"}).info.run_id
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name="search-synthetic", storage=f"sqlite:///{root}/optuna.db", direction="maximize",
        sampler=optuna.samplers.RandomSampler(seed=0),
    )  # fmt: skip
    for i in range(6):
        trial = study.ask()
        params = {
            "lr": trial.suggest_float("lr", 3e-3, 1e-1, log=True),
            "alpha": trial.suggest_float("alpha", 0.0, 1.0),
            "d": trial.suggest_categorical("d", [16, 64]),
        }
        score = 0.5 + 0.4 * params["alpha"] - 0.1 * (params["d"] == 64)
        study.tell(trial, score)
        run_params = shared | params | {"variant": "a3m", "seed": 0, "beta": 0.5}
        _log_trial(client, search, parent, f"s{i:05d}", run_params, {"score": score,
                   "accuracy": score})  # fmt: skip
    client.set_terminated(parent)

    empty = client.create_experiment("empty-synthetic", artifact_location=str(root / "art3"))
    parent = client.create_run(empty, tags={"a3m.study": "empty"}).info.run_id
    _log_trial(client, empty, parent, "e00001", shared | {"variant": "a3m", "seed": 0}, {},
               status="FAILED", error="RuntimeError: out of memory")  # fmt: skip
    client.set_terminated(parent, status="FAILED")
    shutil.rmtree(root / "pngs")
    return TinyStore(root, uri, "mixed-synthetic", "search-synthetic", "empty-synthetic", failed)
