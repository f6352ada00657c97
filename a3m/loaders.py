"""A run's data, from its :class:`~a3m.config.RunConfig`: where it lives, its splits with the
run's transforms (the training part, the held-out part, the protocol's evaluation splits) and
their DataLoaders.

The dataset readers themselves are in :mod:`a3m.data`; this module only decides which of them a
run reads, how, and with how many workers.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from a3m.config import ConfigError, RunConfig
from a3m.data import ImageDataset, build_dataset
from a3m.data.base import DatasetInfo
from a3m.data.cache import find_cache
from a3m.data.registry import get_entry
from a3m.data.synthetic import ensure_synthetic, synthetic_cache
from a3m.data.tasks import get_task
from a3m.data.training import (
    SplitPart,
    holdout_split,
    shuffle_attribute_labels,
    shuffle_labels,
)
from a3m.data.transforms import build_resize, build_transform


def dataset_root(cfg: RunConfig) -> Path:
    """Where the run's data lives: ``data_root``, or with ``synthetic`` a copy cached in
    :func:`~a3m.data.synthetic.synthetic_cache` of ``synthetic_cache`` (written on first use),
    or a manifest dataset's card (``manifest:PATH`` says where it is).
    A run logged before the two fields were apart kept its cache in ``data_root``."""
    if cfg.synthetic:
        cache = synthetic_cache(cfg.synthetic_cache or cfg.data_root or None)
        return ensure_synthetic(cfg.dataset, cache, seed=0)
    named = get_entry(cfg.dataset).root  # your own data: its name says where its card is
    if not cfg.data_root and named is not None:
        return named
    if not cfg.data_root:
        raise ValueError(
            f"no data: set data_root to your copy of {cfg.dataset!r} "
            "(see `a3m data check --help`), or synthetic=True for a generated one"
        )
    return Path(cfg.data_root)


VAL_SPLIT = "val"
"""The held-out part of the training split (``RunConfig.val_fraction``), named as a split."""


def _transform(
    cfg: RunConfig, train: bool, *, crop_on_device: bool = False
) -> Callable[[Any], torch.Tensor]:
    # uint8 out of the workers; the trainer normalises on the device (normalize_batch)
    if crop_on_device:  # ... and crops and flips there too (SplitPart's device_crop)
        return build_resize(cfg.dataset, tuple(cfg.input_size) or None)
    return build_transform(cfg.dataset, train, tuple(cfg.input_size) or None, normalize=False)


def _crop_on_device(cfg: RunConfig, train: bool) -> tuple[int, int] | None:
    """The training crop's (height, width) when ``cfg.augment_on`` leaves it to the device."""
    if not (train and cfg.augment_on == "device"):
        return None
    return tuple(cfg.input_size) or get_entry(cfg.dataset).input_size


def _load_split(cfg: RunConfig, split: str, train: bool) -> ImageDataset:
    """The split as published, with the run's transform, read from its image cache when
    ``cfg.image_cache`` finds one (said in one printed line; same pixels as decoding)."""
    options = {"bbox_crop": cfg.bbox_crop} if get_entry(cfg.dataset).has_box_crop else {}
    on_device = split == "train" and _crop_on_device(cfg, train) is not None
    transform = _transform(cfg, train, crop_on_device=on_device)
    dataset = build_dataset(cfg.dataset, dataset_root(cfg), split, transform=transform, **options)
    found = find_cache(dataset, tuple(cfg.input_size) or None, cfg.image_cache)
    if found.message:
        print(found.message, flush=True)
    if on_device and found.cache is None:
        raise ConfigError(
            f"augment_on='device' needs an image cache of {cfg.dataset}/{split} "
            f"(image_cache={cfg.image_cache!r} found none to use): write it with `a3m data "
            f"cache --dataset {cfg.dataset} --root ROOT --input-size HxW` (docs/cache.md), "
            "or set augment_on='loader'"
        )
    dataset.image_cache = found.cache
    return dataset


def _training_parts(
    cfg: RunConfig, split: ImageDataset, *, train: bool
) -> tuple[SplitPart, SplitPart | None]:
    """The part of the training split the run trains on and the held-out part (None when
    ``cfg.val_fraction`` is 0), both pure functions of ``cfg.seed``."""
    kept, held = np.arange(len(split)), None
    if cfg.val_fraction > 0:
        # Retrieval and re-id evaluate a held-out image against the other held-out images of
        # its class: a class holds out two or none.
        pairs = 1 if cfg.task == "classification" else 2
        kept, held = holdout_split(split.labels, cfg.val_fraction, cfg.seed, min_per_class=pairs)
        if not len(held):
            raise ConfigError(
                f"val_fraction={cfg.val_fraction} holds out no image of the {len(split)} "
                f"training images of {cfg.dataset!r} (classes too small); raise it"
            )
    attributes = None
    if cfg.attr_label_noise > 0:  # a copy: the split's own labels stay true
        attributes = shuffle_attribute_labels(
            split.attributes[kept], cfg.attr_label_noise, cfg.seed
        )
    labels = None
    if cfg.label_noise > 0:
        labels = shuffle_labels(split.labels[kept], cfg.label_noise, cfg.seed)
    part = SplitPart(
        split, kept, attributes=attributes, labels=labels, seed=cfg.seed if train else None,
        device_crop=_crop_on_device(cfg, train),
    )  # fmt: skip
    if held is None:
        return part, None
    # The held-out part is evaluated: the evaluation transform, the true labels.
    evaluated = copy.copy(split)  # shares the (read-only) arrays
    evaluated.transform = _transform(cfg, False)
    return part, SplitPart(evaluated, held)


def build_split(cfg: RunConfig, split: str, *, train: bool = False) -> Dataset:
    """One split of the run's dataset with the run's transform (random with ``train``).

    ``"train"`` is what the run trains on: the training split without its held-out part
    (``cfg.val_fraction``), with the attribute labels of ``cfg.attr_label_noise``, and with
    ``train`` each item's augmentation seeded by (seed, epoch, index) (a
    :class:`~a3m.data.training.SplitPart`: call its ``set_epoch`` before each epoch).
    :data:`VAL_SPLIT` is the held-out part, with its true labels. Other names are the dataset's
    splits, as published.

    Raises:
        ConfigError: :data:`VAL_SPLIT` asked with ``cfg.val_fraction`` = 0, or a fraction that
            holds out nothing.
    """
    if split == VAL_SPLIT and not cfg.val_fraction > 0:
        raise ConfigError(f"split {VAL_SPLIT!r} needs val_fraction > 0, got {cfg.val_fraction}")
    if split not in ("train", VAL_SPLIT):
        return _load_split(cfg, split, train)
    part, held = _training_parts(cfg, _load_split(cfg, "train", train), train=train)
    return held if split == VAL_SPLIT else part


def build_datasets(cfg: RunConfig) -> tuple[SplitPart, dict[str, Dataset], DatasetInfo]:
    """The training part (as :func:`build_split` ``"train"``), the evaluation split(s) of the
    task's protocol (:attr:`a3m.data.tasks.Task.eval_splits`) plus, with ``cfg.val_fraction``
    > 0, the held-out part under :data:`VAL_SPLIT`, and the dataset info. The training split is
    read once."""
    train, held = _training_parts(cfg, _load_split(cfg, "train", True), train=True)
    evals = {split: build_split(cfg, split) for split in get_task(cfg.task).eval_splits}
    if held is not None:
        evals[VAL_SPLIT] = held
    return train, evals, train.info


# One worker decodes and augments ~300 images/s (benchmarks/bench_input_pipeline.py); an A3M
# ResNet-50 step on one H100 takes ~3,000: a GPU needs every CPU it is given.
MAX_AUTO_WORKERS = 16
CPU_AUTO_WORKERS = 2  # on the CPU the training step itself needs the cores


def resolve_num_workers(requested: int, device: torch.device, cpus: int | None = None) -> int:
    """DataLoader workers for ``RunConfig.num_workers`` (-1 = auto).

    Auto: on CUDA, all the CPUs this process has (``cpus``, default: its CPU affinity) but the
    one of the training loop, at most :data:`MAX_AUTO_WORKERS`; on the CPU,
    :data:`CPU_AUTO_WORKERS`, fewer if the process has fewer CPUs.
    """
    if requested >= 0:
        return requested
    if cpus is None:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    spare = max(0, (cpus or 1) - 1)
    return min(spare, MAX_AUTO_WORKERS if device.type == "cuda" else CPU_AUTO_WORKERS)


def build_loader(
    dataset: Dataset, cfg: RunConfig, *, train: bool, device: torch.device
) -> DataLoader:
    """DataLoader with workers and pinned memory. Training workers are not persistent: each
    epoch's workers are seeded from the epoch's generator, which makes resuming exact.
    Evaluation batches hold ``cfg.eval_batch_size`` images (0: ``cfg.batch_size``)."""
    workers = resolve_num_workers(cfg.num_workers, device)
    return DataLoader(
        dataset,
        batch_size=cfg.batch_size if train else cfg.eval_batch_size or cfg.batch_size,
        shuffle=train,
        drop_last=train and len(dataset) > cfg.batch_size,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0 and not train,
        generator=torch.Generator(),
    )
