"""Train and evaluate one run: plain PyTorch, no Ray and no MLflow inside.

Reads top to bottom like torchvision's reference scripts: ``build_*`` helpers, then
``train_one_epoch``, ``evaluate``, the checkpoint functions and ``fit``, which ties them
together and hands every epoch's metrics to a callback (the study layer reports them to Ray
Tune and MLflow; the CLI prints them).

Reproducibility: the training order of every epoch comes from a generator seeded with
(seed, epoch), and the checkpoint keeps the model, optimiser, scheduler and RNG states, so a
run stopped after epoch k and resumed ends with the same weights as an uninterrupted one:
bitwise on CPU with one intra-op thread (with several, oneDNN's parallel reductions may differ
in the last bits between any two runs, interrupted or not).
"""

from __future__ import annotations

import copy
import math
import os
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from a3m import metrics
from a3m.config import ConfigError, RunConfig
from a3m.data import ImageDataset, build_dataset
from a3m.data.base import DatasetInfo
from a3m.data.cache import find_cache
from a3m.data.device_augment import CROP_KEY, crop_flip_batch
from a3m.data.registry import get_entry
from a3m.data.synthetic import ensure_synthetic, synthetic_cache
from a3m.data.tasks import RERANK_PREFIX, RERANKED, get_task, primary_metric
from a3m.data.training import (
    SplitPart,
    holdout_split,
    shuffle_attribute_labels,
    shuffle_labels,
)
from a3m.data.transforms import build_resize, build_transform, normalize_batch
from a3m.diagnostics import (
    PREFIX,
    attention_stats,
    feature_norms,
    grad_norms,
    learned_attention,
    param_groups,
)
from a3m.models import SWITCHES, A3MLoss, Model, build_loss, build_model
from a3m.viz import ATTENTION_DIR_NAME, save_attention_examples

CHECKPOINT_NAME = "checkpoint.pt"
BEST_WEIGHTS_NAME = "model_best.pt"  # written only with a validation part (val_fraction > 0)

MODEL_FIELDS: tuple[str, ...] = (
    "dataset",
    "variant",
    "backbone",
    "d",
    "num_classes",
    "attribute_classes",
    "num_attributes",
    "attr_pooling",
    *SWITCHES,
)
"""Fields that decide the model's parameters: a checkpoint made with other values is refused.
Not every field :func:`a3m.models.build_model` reads: ``pretrained``, ``weights_path`` and
``dropout`` change the starting weights or the training, not which parameters there are."""


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the message names the epoch and step."""


class CheckpointMismatchError(ValueError):
    """A checkpoint written for another model config."""


# -- building ---------------------------------------------------------------------------------
def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' but no CUDA device is available; use device='auto'")
    return torch.device(name)


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


FINAL_NMI_RESTARTS = 10
"""k-means restarts of the NMI at the last epoch: the reported number (paper Tables 4-5)."""
EPOCH_NMI_RESTARTS = 1
"""... and at the epochs before it, where NMI is only a progress curve (it never picks the best
epoch: retrieval ranks by Recall@1). One restart is 10x cheaper, which matters: ten restarts of
k-means over CUB's 5,924 test embeddings cost about as much as a GPU epoch of training. The
same k-means, so the curve differs from the final definition only by the best-of-10 choice
(NMI 0.9644 against 0.9674 on bench_reid_eval.py's retrieval data)."""


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


def build_optimizer(cfg: RunConfig, model: nn.Module) -> torch.optim.Optimizer:
    """SGD, with the fused kernel on CPU and CUDA: the same update (bitwise on CPU), in one
    pass over each parameter instead of four. It matters for A3M's 29M-parameter attribute
    branch (K*d x C = 14,336 x 2,048 for CUB), whose update is memory-bound
    (benchmarks/bench_head_overhead.py)."""
    params = list(model.parameters())
    fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
    return torch.optim.SGD(
        params,
        lr=cfg.lr,
        momentum=cfg.momentum,
        nesterov=cfg.nesterov and cfg.momentum > 0,
        weight_decay=cfg.weight_decay,
        fused=fused or None,
    )


def build_scheduler(
    cfg: RunConfig, optimizer: torch.optim.Optimizer
) -> torch.optim.lr_scheduler.LRScheduler:
    """Per-epoch schedule. ``step``: lr for the first epochs, lr * lr_drop_factor for the last
    ``lr_drop_epochs`` (paper: 1e-3, then 1e-4 for the last 10 of 60). ``cosine``: from lr to 0."""
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.epochs)
    drop_at = cfg.epochs - cfg.lr_drop_epochs
    factor = cfg.lr_drop_factor
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda epoch: factor if epoch >= drop_at else 1.0
    )


# -- one epoch --------------------------------------------------------------------------------
def _to_device(target: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in target.items()}


def _to_input(
    images: torch.Tensor,
    device: torch.device,
    channels_last: bool,
    crops: torch.Tensor | None = None,
) -> torch.Tensor:
    """A loader's (uint8) batch -> the network's normalised float input on ``device``; with
    the batch's ``crops`` (``RunConfig.augment_on="device"``), cropped and flipped there."""
    images = images.to(device, non_blocking=True)
    if crops is not None:
        images = crop_flip_batch(images, crops)
    images = normalize_batch(images)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    return images.contiguous(memory_format=layout)


def _autocast(device: torch.device, amp: bool):
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp and device.type == "cuda")


# On CUDA the per-step values stay on the GPU and are read back once per this many steps: each
# read is a synchronisation that idles the GPU while the CPU queues the next step's kernels.
# A non-finite loss is still reported with its step; at most this many steps run past it, and
# their update never reaches a checkpoint (the epoch raises first).
CUDA_SYNC_EVERY = 50
_LOGGED = ("loss", "loss_add", "loss_cat", "loss_attr")


def train_one_epoch(
    model: nn.Module,
    loss_fn: A3MLoss,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    epoch: int,
    *,
    amp: bool = True,
    channels_last: bool = False,
    progress: bool = False,
    sync_every: int | None = None,
    diagnostics: bool = True,
) -> dict[str, float]:
    """One pass over the training set; returns the mean of each loss term and the accuracy.

    ``sync_every``: steps between reads of the losses back to the host (default: 1 on the CPU,
    where the read is free, :data:`CUDA_SYNC_EVERY` on CUDA).

    ``diagnostics``: also return, as ``diag/<name>``, the mean over the epoch's steps of the
    statistics of :mod:`a3m.diagnostics`: the learned attention weights' means and saturated
    fractions (``diag/m_region_sat_high``; none for Baseline-1), the feature norms
    (``diag/norm/f_region``) and the gradient norm per head (``diag/grad_norm/attribute``).
    They are summed on the device and read back once, at the end of the epoch.

    Raises:
        NonFiniteLossError: the loss is NaN or infinite (names the epoch and the step).
    """
    model.train()
    if sync_every is None:
        sync_every = CUDA_SYNC_EVERY if device.type == "cuda" else 1
    sums = torch.zeros(len(_LOGGED), dtype=torch.float64)
    correct = seen = 0
    pending: list[tuple[int, int, torch.Tensor, torch.Tensor]] = []  # step, n, losses, correct
    # Diagnostics: once per epoch what does not change (the names' order is fixed by the
    # first step), then a (n_diag,) sum on the device.
    learned = learned_attention(model) if diagnostics else ()
    groups = param_groups(model) if diagnostics else {}
    diag_names: list[str] = []
    diag_sum: torch.Tensor | None = None
    diag_steps = 0

    def drain() -> None:
        """Read the pending steps back (one synchronisation), check them, add them up."""
        nonlocal correct
        if not pending:
            return
        losses = torch.stack([p[2] for p in pending]).double().cpu()
        hits = torch.stack([p[3] for p in pending]).cpu()
        bad = (~torch.isfinite(losses[:, 0])).nonzero()
        if len(bad):
            i = int(bad[0])
            total, add, cat, attr = losses[i].tolist()
            raise NonFiniteLossError(
                f"loss is {total} at epoch {epoch + 1}, step {pending[i][0] + 1} "
                f"(add={add:.4g}, category={cat:.4g}, attribute={attr:.4g}); "
                "lower the learning rate"
            )
        sizes = torch.tensor([p[1] for p in pending], dtype=torch.float64)
        sums.add_((losses * sizes[:, None]).sum(0))
        correct += int(hits.sum())
        pending.clear()

    batches = loader
    if progress:
        from tqdm import tqdm

        batches = tqdm(loader, desc=f"epoch {epoch + 1}", leave=False, dynamic_ncols=True)
    for step, (images, target) in enumerate(batches):
        images = _to_input(images, device, channels_last, target.pop(CROP_KEY, None))
        target = _to_device(target, device)
        with _autocast(device, amp):
            out = model(images)
            parts = loss_fn(out, target["label"], target.get("attributes"))
        losses = torch.stack([parts.total, parts.add, parts.category, parts.attribute]).detach()
        pending.append((step, len(images), losses, (out.logits.argmax(1) == target["label"]).sum()))
        if sync_every == 1:  # free on the CPU: never step on a non-finite loss
            drain()
        optimizer.zero_grad(set_to_none=True)
        parts.total.backward()
        if diagnostics:  # before the step, whose weight decay may change the gradients
            stats = attention_stats(out, learned) | feature_norms(out) | grad_norms(model, groups)
            diag_names = diag_names or list(stats)
            values = torch.stack([stats[k] for k in diag_names])  # (n_diag,), no host read
            diag_sum = values if diag_sum is None else diag_sum + values
            diag_steps += 1
        optimizer.step()
        seen += len(images)
        if len(pending) >= sync_every:
            drain()
        if progress and not pending:
            batches.set_postfix(loss=f"{float(sums[0]) / seen:.3f}")
    drain()
    result = {f"train_{k}": float(v) / max(seen, 1) for k, v in zip(_LOGGED, sums, strict=True)}
    result["train_accuracy"] = correct / max(seen, 1)
    if diag_sum is not None:
        means = (diag_sum.double() / diag_steps).tolist()  # the epoch's one read of them
        result |= {PREFIX + k: v for k, v in zip(diag_names, means, strict=True)}
    return result


# -- evaluation -------------------------------------------------------------------------------
@torch.no_grad()
def predict(
    model: nn.Module,
    loader: DataLoader,
    device: torch.device,
    *,
    amp: bool = True,
    channels_last: bool = False,
) -> dict[str, Any]:
    """Run the model over a loader; gather logits, embeddings and targets on the CPU."""
    model.eval()
    keep: dict[str, list] = {"logits": [], "category_logits": [], "embedding": [], "attrs": []}
    targets: dict[str, list] = {}
    for images, target in loader:
        images = _to_input(images, device, channels_last)
        with _autocast(device, amp):
            out = model(images)
        keep["logits"].append(out.logits.float().cpu())
        keep["category_logits"].append(out.category_logits.float().cpu())
        keep["embedding"].append(out.embedding.float().cpu())
        keep["attrs"].append([a.float().cpu() for a in out.attribute_logits])
        for key, value in target.items():
            targets.setdefault(key, []).append(value)
    result: dict[str, Any] = {k: torch.cat(v) for k, v in keep.items() if k != "attrs"}
    result["attribute_logits"] = [torch.cat(parts) for parts in zip(*keep["attrs"], strict=True)]
    result.update({k: torch.cat(v) for k, v in targets.items()})
    return result


def evaluate(
    model: nn.Module,
    loaders: dict[str, DataLoader],
    task: str,
    info: DatasetInfo,
    device: torch.device,
    *,
    distance: str = "euclidean",
    amp: bool = True,
    channels_last: bool = False,
    nmi_restarts: int = 10,
    ap_mode: str = "official",
    rerank: bool = False,
) -> dict[str, float]:
    """The dataset's protocol, every value a fraction in [0, 1] (docs/reproduction.md,
    "Evaluation protocols").

    ``fit`` adds ``score``: the task's primary metric (:attr:`a3m.data.tasks.Task.primary`),
    under one name for every task.

    classification: ``accuracy`` (final head, eq. 9), ``category_accuracy`` (eq. 1) and
    ``attr_acc/<name>`` per attribute head with ``attr_acc/mean``; reid: ``rank1/5/10/20``,
    ``mAP`` (AP as ``ap_mode``, see :data:`a3m.metrics.AP_MODES`) and ``mINP``, and with
    ``rerank`` the same after k-reciprocal re-ranking as ``rerank_rank1``, ``rerank_mAP`` and
    ``rerank_mINP`` (:data:`a3m.data.tasks.RERANKED`; Zhong et al.'s k1 = 20, k2 = 6,
    lambda = 0.3); retrieval: ``recall_at_1/2/4/8``, ``nmi`` (k-means with ``nmi_restarts``
    restarts, see :func:`a3m.metrics.nmi`) and ``map_at_r`` (:func:`a3m.metrics.map_at_r`).
    """
    kw = {"amp": amp, "channels_last": channels_last}
    if task == "reid":
        q = predict(model, loaders["query"], device, **kw)
        g = predict(model, loaders["gallery"], device, **kw)
        feats = (q["embedding"], q["pid"], q["camid"], g["embedding"], g["pid"], g["camid"])
        result = metrics.reid_evaluate(*feats, metric=distance, ap_mode=ap_mode)
        if rerank:
            reranked = metrics.reid_evaluate(
                *feats, ranks=(1,), metric=distance, ap_mode=ap_mode, rerank=True
            )
            result |= {RERANK_PREFIX + name: reranked[name] for name in RERANKED}
        return result
    p = predict(model, loaders["test"], device, **kw)
    if task == "retrieval":
        return metrics.retrieval_evaluate(
            p["embedding"], p["label"], metric=distance, n_init=nmi_restarts
        )
    result = {
        "accuracy": metrics.accuracy(p["logits"], p["label"]),
        "category_accuracy": metrics.accuracy(p["category_logits"], p["label"]),
    }
    if p["attribute_logits"]:
        per_attr = metrics.attribute_accuracy(
            p["attribute_logits"], p["attributes"], list(info.attribute_names)
        )
        result.update({f"attr_acc/{name}": value for name, value in per_attr.items()})
    return result


def evaluate_holdout(
    model: nn.Module,
    loader: DataLoader,
    task: str,
    info: DatasetInfo,
    device: torch.device,
    *,
    distance: str = "euclidean",
    amp: bool = True,
    channels_last: bool = False,
    ap_mode: str = "official",
) -> dict[str, float]:
    """The task's protocol on the held-out part of the training split (:data:`VAL_SPLIT`),
    whose images share the training classes.

    classification: as :func:`evaluate`; retrieval: ``recall_at_1/2/4/8`` among the held-out
    images (no NMI: it never selects, and its k-means is the costly part); reid: ``rank1/5/10/20``
    and ``mAP`` (AP as ``ap_mode``) with the held-out images as both query and gallery (the
    protocol's removal of same-person same-camera gallery items also removes the query itself).
    """
    kw = {"amp": amp, "channels_last": channels_last}
    if task == "classification":
        return evaluate(model, {"test": loader}, task, info, device, distance=distance, **kw)
    p = predict(model, loader, device, **kw)
    if task == "retrieval":
        return metrics.recall_at_k(p["embedding"], p["label"], metric=distance)
    return metrics.reid_evaluate(
        p["embedding"], p["pid"], p["camid"], p["embedding"], p["pid"], p["camid"],
        metric=distance, ap_mode=ap_mode,
    )  # fmt: skip


# -- checkpoints ------------------------------------------------------------------------------
def _rng_state() -> dict[str, Any]:
    # The legacy global NumPy RNG is the one third-party transforms draw from: keep it too.
    np_state = np.random.get_state()  # noqa: NPY002
    state = {
        "torch": torch.get_rng_state(),
        "numpy": (np_state[0], torch.from_numpy(np_state[1].copy()), *np_state[2:]),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy(), *rest))  # noqa: NPY002
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def atomic_save(obj: Any, path: Path) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename: a crash mid-write
    leaves the previous file intact, never a truncated one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | Path, cfg: RunConfig | None = None) -> dict[str, Any]:
    """Load a checkpoint safely (``weights_only=True``: tensors and plain containers only).

    Args:
        cfg: when given, the checkpoint must have been written for the same model
            (:data:`MODEL_FIELDS`); otherwise :class:`CheckpointMismatchError` lists what differs.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if cfg is not None:
        saved = RunConfig.from_flat_dict(state["config"], strict=False).to_flat_dict()
        wanted = cfg.to_flat_dict()
        diffs = [f"{k}: checkpoint {saved[k]!r} vs config {wanted[k]!r}" for k in MODEL_FIELDS]
        diffs = [d for k, d in zip(MODEL_FIELDS, diffs, strict=True) if saved[k] != wanted[k]]
        if diffs:
            raise CheckpointMismatchError(
                f"checkpoint {path} was written for another model: " + "; ".join(diffs)
            )
    return state


# -- the run ----------------------------------------------------------------------------------
@dataclass
class EpochResult:
    """What ``fit`` hands to its callback after every epoch.

    ``is_best``: this epoch's ``val_score`` is the best so far and its weights were just saved as
    ``model_best.pt``; always False without a validation part (``val_fraction`` = 0), where
    nothing is selected.
    """

    epoch: int  # 1-based, epochs completed
    metrics: dict[str, float]
    checkpoint: Path  # the checkpoint written for this epoch
    is_best: bool = False
    config: RunConfig | None = None  # the run's config, resolved against its dataset


@dataclass
class FitResult:
    """What ``fit`` returns.

    The test split only reports: ``final_score`` is its ``score`` at the last epoch. With a
    validation part (``val_fraction`` > 0) the held-out training images select an epoch: its
    ``val_score`` is ``best_metric``, its test score ``score_at_best`` and its weights
    ``model_best.pt``; without one these are None and there is no ``model_best.pt``.
    """

    config: RunConfig  # resolved against the dataset
    history: list[dict[str, float]] = field(default_factory=list)
    best_metric: float | None = None  # the best val_score; None without a validation part
    out_dir: Path = Path(".")
    final_score: float = math.nan  # test ``score`` of the last evaluated epoch
    best_epoch: int | None = None  # 1-based epoch of best_metric
    score_at_best: float | None = None  # test ``score`` at best_epoch

    def summary(self) -> str:
        """One line: the final test score and, with a validation part, the epoch it picked."""
        text = f"final score {self.final_score:.4f}"
        if self.best_epoch is not None:
            text += (
                f"; validation picked epoch {self.best_epoch} (val_score {self.best_metric:.4f}, "
                f"score {self.score_at_best:.4f}; weights in {BEST_WEIGHTS_NAME})"
            )
        return text


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002  (the global RNG libraries use)
    torch.manual_seed(seed)


def _last_score(history: list[dict[str, float]]) -> float:
    return next((row["score"] for row in reversed(history) if "score" in row), math.nan)


def fit(
    cfg: RunConfig,
    out_dir: str | Path,
    *,
    resume: str | Path | None = None,
    callback: Callable[[EpochResult], None] | None = None,
    progress: bool = False,
    attention_images: int = 0,
) -> FitResult:
    """Train ``cfg.epochs`` epochs, evaluating every ``cfg.eval_every`` and at the end.

    Every evaluation logs the test split's metrics (``score``: the task's primary metric,
    :attr:`a3m.data.tasks.Task.primary`) and, with ``cfg.val_fraction`` > 0, the held-out
    part's (:func:`evaluate_holdout`) as ``val_<metric>`` and ``val_score``, which alone picks
    the best epoch: the test split never selects anything. Re-id's last evaluation also
    re-ranks (``rerank_rank1``, ``rerank_mAP``, ``rerank_mINP``): the final numbers the field
    reports, at a cost (about a minute at Market-1501's size on a 2-core CPU, beside the
    (G, G) distances) not worth paying at every epoch.

    Args:
        out_dir: where ``config.json``, ``checkpoint.pt`` (after every epoch) and, with a
            validation part, ``model_best.pt`` (the best ``val_score``'s weights) go.
        resume: a checkpoint file (or a directory holding ``checkpoint.pt``) to continue from;
            it must have been written for the same model config.
        callback: called with an :class:`EpochResult` after every epoch (after its checkpoint
            is written, so whatever it does, the epoch is not lost).
        progress: show a progress bar per epoch.
        attention_images: after the last epoch, before its callback, draw the attention of the
            final model on this many evaluation images into ``out_dir/attention/`` (paper
            Fig. 6, :func:`a3m.viz.save_attention_examples`); none for Baseline-1.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    seed_everything(cfg.seed)
    device = resolve_device(cfg.device)
    if cfg.synthetic and not cfg.input_size:
        cfg = cfg.replace(input_size=get_entry(cfg.dataset).synthetic.input_size)
    train_set, eval_sets, info = build_datasets(cfg)
    cfg = cfg.resolve(info.num_classes, info.attribute_classes, info.input_size)
    cfg.to_json(out_dir / "config.json")

    model: Model = build_model(cfg).to(device)
    channels_last = cfg.channels_last and device.type == "cuda"
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    loss_fn = build_loss(cfg)
    optimizer = build_optimizer(cfg, model)
    scheduler = build_scheduler(cfg, optimizer)
    result = FitResult(config=cfg, out_dir=out_dir)
    start_epoch = 0
    if resume is not None:
        path = Path(resume)
        state = load_checkpoint(path / CHECKPOINT_NAME if path.is_dir() else path, cfg)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        _set_rng_state(state["rng"])
        start_epoch = state["epoch"]
        result.history = list(state["history"])
        result.final_score = _last_score(result.history)
        # Checkpoints from before the validation part have no best_epoch: their best_metric
        # was picked on the test split, and is dropped.
        if state.get("best_epoch") is not None:
            result.best_metric = state["best_metric"]
            result.best_epoch = state["best_epoch"]
            result.score_at_best = state["score_at_best"]
    step_model = torch.compile(model, mode=cfg.compile_mode) if cfg.compile else model

    train_loader = build_loader(train_set, cfg, train=True, device=device)
    eval_loaders = {
        k: build_loader(v, cfg, train=False, device=device) for k, v in eval_sets.items()
    }
    val_loader = eval_loaders.get(VAL_SPLIT)
    key = primary_metric(cfg.task)
    for epoch in range(start_epoch, cfg.epochs):
        t0 = time.perf_counter()
        # The epoch's augmentation seeds, before the loader starts the epoch's workers (not
        # persistent: each gets the training part as it is now).
        train_set.set_epoch(epoch)
        train_loader.generator.manual_seed(cfg.seed * 100_003 + epoch)
        row = {"epoch": epoch + 1, "lr": optimizer.param_groups[0]["lr"]}
        row |= train_one_epoch(
            step_model, loss_fn, train_loader, optimizer, device, epoch,
            amp=cfg.amp, channels_last=channels_last, progress=progress,
        )  # fmt: skip
        scheduler.step()
        row["train_time_s"] = time.perf_counter() - t0
        is_best = False
        if (epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs:
            t1 = time.perf_counter()
            row |= evaluate(
                model, eval_loaders, cfg.task, info, device,
                distance=cfg.distance, amp=cfg.amp, channels_last=channels_last,
                nmi_restarts=FINAL_NMI_RESTARTS if epoch + 1 == cfg.epochs else EPOCH_NMI_RESTARTS,
                ap_mode=cfg.ap_mode, rerank=epoch + 1 == cfg.epochs,
            )  # fmt: skip
            row["eval_time_s"] = time.perf_counter() - t1
            result.final_score = row["score"] = row.get(key, math.nan)
            if val_loader is not None:
                t2 = time.perf_counter()
                held = evaluate_holdout(
                    model, val_loader, cfg.task, info, device,
                    distance=cfg.distance, amp=cfg.amp, channels_last=channels_last,
                    ap_mode=cfg.ap_mode,
                )  # fmt: skip
                row |= {f"val_{k}": v for k, v in held.items()}
                value = row["val_score"] = held.get(key, math.nan)
                row["val_time_s"] = time.perf_counter() - t2
                best = -math.inf if result.best_metric is None else result.best_metric
                if value > best:  # a NaN score is never the best
                    result.best_metric, result.best_epoch, is_best = value, epoch + 1, True
                    result.score_at_best = row["score"]
                    atomic_save(model.state_dict(), out_dir / BEST_WEIGHTS_NAME)
        result.history.append(row)
        checkpoint = out_dir / CHECKPOINT_NAME
        atomic_save(
            {
                "config": cfg.to_flat_dict(),
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": _rng_state(),
                "epoch": epoch + 1,
                "best_metric": result.best_metric,
                "best_epoch": result.best_epoch,
                "score_at_best": result.score_at_best,
                "history": result.history,
            },
            checkpoint,
        )
        if attention_images > 0 and epoch + 1 == cfg.epochs:
            _draw_attention(model, result, eval_sets, info, attention_images)
        if callback is not None:
            callback(EpochResult(epoch + 1, row, checkpoint, is_best, cfg))
    return result


def _draw_attention(
    model: nn.Module,
    result: FitResult,
    eval_sets: dict[str, Dataset],
    info: DatasetInfo,
    n_images: int,
) -> list[Path]:
    """Fig. 6 of a finished run: the first ``n_images`` of the protocol's first evaluation split
    under the weights the run reports (``model_best.pt`` when a validation part selected an
    epoch, else the last), drawn from the model and the split already in memory."""
    if result.best_epoch is not None:
        model = copy.deepcopy(model)  # the run's own model stays the last epoch's
        best = torch.load(result.out_dir / BEST_WEIGHTS_NAME, map_location="cpu", weights_only=True)
        model.load_state_dict(best)
    split = eval_sets[get_task(result.config.task).eval_splits[0]]
    images = torch.stack([split[i][0] for i in range(min(n_images, len(split)))])
    return save_attention_examples(
        model,
        normalize_batch(images),
        result.out_dir / ATTENTION_DIR_NAME,
        names=info.attribute_names,
    )
