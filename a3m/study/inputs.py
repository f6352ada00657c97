"""A training run's data as MLflow records it: every split the run reads as a dataset input with
its context (:func:`dataset_inputs`; :meth:`a3m.study.tracking.RunTracker.log_dataset` logs
them, with what the data is as the tag ``a3m.data.kind``), and the line a study's console
summary says it with (:func:`study_data_line`).

MLflow keeps one input per (name, digest) and run, so each split is a dataset of its own:
``cub/train``, ``cub/test`` (``market1501/query``, ``market1501/gallery``), and with a
validation part ``cub/val``, the held-out part of the training split, all with the copy's
fingerprint as digest; the split is the input's context (``mlflow.data.context``).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from a3m.config import RunConfig
from a3m.data.kind import DataKind, counts_or_none, dataset_kind, describe_data
from a3m.data.tasks import get_task
from a3m.loaders import VAL_SPLIT, dataset_root

if TYPE_CHECKING:
    from mlflow.entities import DatasetInput

    from a3m.study.plan import StudyPlan
    from a3m.study.tracking import RunTracker

CONTEXT_TAG = "mlflow.data.context"
HOLDOUT_TAG = "a3m.holdout"  # on the train and val inputs of a run with a validation part


def run_splits(cfg: RunConfig) -> tuple[str, ...]:
    """The splits a run reads: the training split, its task's evaluation splits and, with
    ``val_fraction`` > 0, the held-out part of the training split (``val``)."""
    splits = ("train", *get_task(cfg.task).eval_splits)
    return (*splits, VAL_SPLIT) if cfg.val_fraction > 0 else splits


def holdout_note(cfg: RunConfig) -> str:
    """How the validation part is held out (``"10% of the training split, seed 3"``), or ""."""
    if not cfg.val_fraction > 0:
        return ""
    return f"{cfg.val_fraction:.0%} of the training split, seed {cfg.seed}"


def dataset_inputs(
    name: str,
    fingerprint: str,
    root: str | Path,
    splits: Sequence[str] | None = None,
    holdout: str = "",
) -> list[DatasetInput]:
    """One MLflow dataset input per split: name ``<name>/<split>``, the fingerprint as digest,
    the folder as source, the split as context, the split's image count as profile where the
    copy can be counted; ``holdout`` (:func:`holdout_note`) tags the train and val inputs.

    Args:
        splits: default the training split and the evaluation splits of the dataset's task.
    """
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.entities import Dataset, DatasetInput, InputTag

    from a3m.data.registry import get_entry

    splits = splits or ("train", *get_entry(name).protocol.eval_splits)
    counts = counts_or_none(name, str(root)) or {}
    with warnings.catch_warnings():  # "can be interpreted in multiple ways": a local path
        warnings.simplefilter("ignore", UserWarning)
        source = resolve_dataset_source(str(root))
    inputs = []
    for split in splits:
        meta = MetaDataset(source=source, name=f"{name}/{split}", digest=fingerprint)
        entity = meta._to_mlflow_entity()
        images = counts.get(f"{split} images")
        profile = json.dumps({"images": images}) if images is not None else None
        dataset = Dataset(entity.name, entity.digest, entity.source_type, entity.source,
                          entity.schema, profile)  # fmt: skip
        tags = [InputTag(CONTEXT_TAG, split)]
        if holdout and split in ("train", VAL_SPLIT):
            tags.append(InputTag(HOLDOUT_TAG, holdout))
        inputs.append(DatasetInput(dataset, tags=tags))
    return inputs


def log_run_data(tracker: RunTracker, cfg: RunConfig, fingerprint: str) -> DataKind:
    """Log a run's data on its MLflow run: every split it reads (:func:`run_splits`) as an
    input, and its kind as the tag ``a3m.data.kind``. Returns the kind."""
    root = dataset_root(cfg)
    inputs = dataset_inputs(cfg.dataset, fingerprint, root, run_splits(cfg), holdout_note(cfg))
    return tracker.log_dataset(cfg.dataset, fingerprint, root, inputs)


def study_data_line(plan: StudyPlan) -> str:
    """The line a study's console summary opens with: what its data is, by dataset
    (``data: CUB-200-2011 (cub): synthetic copy``), and for a dry run a banner that says its
    numbers are made up."""
    cfg = RunConfig.from_flat_dict(plan.base)
    shown = []
    for name, fingerprint in plan.fingerprints.items():
        try:  # a line of the summary: never what fails a study that ran
            root = dataset_root(cfg.replace(dataset=name))
        except (OSError, ValueError) as err:
            shown.append(f"{name}: not checked ({err})")
            continue
        kind = dataset_kind(name, root, fingerprint=fingerprint, synthetic=cfg.synthetic)
        shown.append(describe_data(name, kind))
    line = "data: " + "; ".join(shown) if shown else "data: none recorded"
    if plan.dry_run:
        line = (
            "DRY RUN: every metric below is made up (a3m.study.dry_run); no model was trained "
            f"and nothing here is a result.\n{line}"
        )
    return line
