"""Train and evaluate one run: plain PyTorch, no Ray and no MLflow inside.

Reads top to bottom like torchvision's reference scripts: ``build_*`` helpers, then
``train_one_epoch`` (its running numbers in an :class:`EpochMeter`) and ``fit``, a sequence of
named steps (prepare the data, build, resume, then per epoch: train, evaluate, select, save),
which hands every epoch's metrics to a callback (the study layer reports them to Ray Tune and
MLflow; the CLI prints them). The run's data and loaders are in :mod:`a3m.loaders`, the
protocols in :mod:`a3m.evaluation`, the checkpoint file in :mod:`a3m.checkpoint`.

Reproducibility: the training order of every epoch comes from a generator seeded with
(seed, epoch), and the checkpoint keeps the model, optimiser, scheduler and RNG states, so a
run stopped after epoch k and resumed ends with the same weights as an uninterrupted one:
bitwise on CPU with one intra-op thread (with several, oneDNN's parallel reductions may differ
in the last bits between any two runs, interrupted or not).
"""

from __future__ import annotations

import copy
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from a3m.checkpoint import (
    BEST_WEIGHTS_NAME,
    CHECKPOINT_NAME,
    atomic_save,
    load_checkpoint,
    rng_state,
    set_rng_state,
)
from a3m.config import RunConfig
from a3m.data.base import DatasetInfo
from a3m.data.device_augment import CROP_KEY
from a3m.data.registry import get_entry
from a3m.data.tasks import get_task, primary_metric
from a3m.data.training import SplitPart
from a3m.data.transforms import normalize_batch
from a3m.diagnostics import (
    PREFIX,
    attention_stats,
    feature_norms,
    grad_norms,
    learned_attention,
    param_groups,
)
from a3m.evaluation import (
    EPOCH_NMI_RESTARTS,
    FINAL_NMI_RESTARTS,
    autocast,
    evaluate,
    evaluate_holdout,
    to_input,
)
from a3m.loaders import VAL_SPLIT, build_datasets, build_loader
from a3m.models import A3MLoss, Model, build_loss, build_model
from a3m.viz import ATTENTION_DIR_NAME, save_attention_examples


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the message names the epoch and step."""


# -- building ---------------------------------------------------------------------------------
def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' but no CUDA device is available; use device='auto'")
    return torch.device(name)


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


# On CUDA the per-step values stay on the GPU and are read back once per this many steps: each
# read is a synchronisation that idles the GPU while the CPU queues the next step's kernels.
# A non-finite loss is still reported with its step; at most this many steps run past it, and
# their update never reaches a checkpoint (the epoch raises first).
CUDA_SYNC_EVERY = 50
_LOGGED = ("loss", "loss_add", "loss_cat", "loss_attr")


class EpochMeter:
    """The running numbers of one training epoch (as torchvision's ``MetricLogger``): the loss
    terms, the accuracy and the diagnostics, kept on the device and read back to the host once
    per ``sync_every`` steps (one synchronisation each); the diagnostics once, at the end.

    Raises :class:`NonFiniteLossError` (naming the epoch and the step) when a read finds a
    non-finite loss.
    """

    def __init__(self, epoch: int, sync_every: int) -> None:
        self.epoch, self.sync_every = epoch, sync_every
        self.sums = torch.zeros(len(_LOGGED), dtype=torch.float64)
        self.correct = self.seen = 0
        self.pending: list[tuple[int, int, torch.Tensor, torch.Tensor]] = []  # step, n, ...
        self.diag_names: list[str] = []  # their order is fixed by the first step
        self.diag_sum: torch.Tensor | None = None  # (n_diag,), on the device
        self.diag_steps = 0

    def update(self, step: int, n: int, losses: torch.Tensor, correct: torch.Tensor) -> None:
        """Add a step's (4,) loss terms and its count of correct predictions; read the pending
        steps back when ``sync_every`` of them wait (at once with 1: on the CPU, where the read
        is free, before the step's update, which then never follows a non-finite loss)."""
        self.pending.append((step, n, losses, correct))
        self.seen += n
        if len(self.pending) >= self.sync_every:
            self.drain()

    def add_diagnostics(self, stats: dict[str, torch.Tensor]) -> None:
        """Add a step's diagnostics (0-d tensors), without reading them back."""
        self.diag_names = self.diag_names or list(stats)
        values = torch.stack([stats[k] for k in self.diag_names])
        self.diag_sum = values if self.diag_sum is None else self.diag_sum + values
        self.diag_steps += 1

    def drain(self) -> None:
        """Read the pending steps back (one synchronisation), check them, add them up."""
        if not self.pending:
            return
        losses = torch.stack([p[2] for p in self.pending]).double().cpu()
        hits = torch.stack([p[3] for p in self.pending]).cpu()
        bad = (~torch.isfinite(losses[:, 0])).nonzero()
        if len(bad):
            i = int(bad[0])
            total, add, cat, attr = losses[i].tolist()
            raise NonFiniteLossError(
                f"loss is {total} at epoch {self.epoch + 1}, step {self.pending[i][0] + 1} "
                f"(add={add:.4g}, category={cat:.4g}, attribute={attr:.4g}); "
                "lower the learning rate"
            )
        sizes = torch.tensor([p[1] for p in self.pending], dtype=torch.float64)
        self.sums.add_((losses * sizes[:, None]).sum(0))
        self.correct += int(hits.sum())
        self.pending.clear()

    def mean_loss(self) -> float:
        """The mean loss over the steps read back so far."""
        read = self.seen - sum(p[1] for p in self.pending)
        return float(self.sums[0]) / max(read, 1)

    def result(self) -> dict[str, float]:
        """The epoch's means: ``train_<loss term>``, ``train_accuracy`` and ``diag/<name>``."""
        self.drain()
        seen = max(self.seen, 1)
        result = {f"train_{k}": float(v) / seen for k, v in zip(_LOGGED, self.sums, strict=True)}
        result["train_accuracy"] = self.correct / seen
        if self.diag_sum is not None:
            means = (self.diag_sum.double() / self.diag_steps).tolist()  # the one read of them
            result |= {PREFIX + k: v for k, v in zip(self.diag_names, means, strict=True)}
        return result


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
    meter = EpochMeter(epoch, sync_every)
    # What does not change over the epoch: the attention modules and the parameter groups.
    learned = learned_attention(model) if diagnostics else ()
    groups = param_groups(model) if diagnostics else {}
    batches = loader
    if progress:
        from tqdm import tqdm  # only for the CLI's progress bar

        batches = tqdm(loader, desc=f"epoch {epoch + 1}", leave=False, dynamic_ncols=True)
    for step, (images, target) in enumerate(batches):
        images = to_input(images, device, channels_last, target.pop(CROP_KEY, None))
        target = _to_device(target, device)
        with autocast(device, amp):
            out = model(images)
            parts = loss_fn(out, target["label"], target.get("attributes"))
        losses = torch.stack([parts.total, parts.add, parts.category, parts.attribute]).detach()
        meter.update(step, len(images), losses, (out.logits.argmax(1) == target["label"]).sum())
        optimizer.zero_grad(set_to_none=True)
        parts.total.backward()
        if diagnostics:  # before the step, whose weight decay may change the gradients
            meter.add_diagnostics(
                attention_stats(out, learned) | feature_norms(out) | grad_norms(model, groups)
            )
        optimizer.step()
        if progress and not meter.pending:
            batches.set_postfix(loss=f"{meter.mean_loss():.3f}")
    return meter.result()


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


@dataclass
class _Parts:
    """What a run trains: the model (and its compiled step), loss, optimiser and schedule."""

    model: Model
    loss_fn: A3MLoss
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    device: torch.device
    channels_last: bool
    step_model: nn.Module | None = None  # what trains: the model, or compiled (set by fit)


def _build_parts(cfg: RunConfig, device: torch.device) -> _Parts:
    """The model on ``device`` (channels-last on CUDA when asked), its loss and optimiser."""
    model: Model = build_model(cfg).to(device)
    channels_last = cfg.channels_last and device.type == "cuda"
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(cfg, model)
    scheduler = build_scheduler(cfg, optimizer)
    return _Parts(model, build_loss(cfg), optimizer, scheduler, device, channels_last)


def _prepare(
    cfg: RunConfig, out_dir: Path
) -> tuple[RunConfig, SplitPart, dict[str, Dataset], DatasetInfo]:
    """Seed, read the data, resolve the config against it and write it as ``config.json``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    seed_everything(cfg.seed)
    if cfg.synthetic and not cfg.input_size:
        cfg = cfg.replace(input_size=get_entry(cfg.dataset).synthetic.input_size)
    train_set, eval_sets, info = build_datasets(cfg)
    cfg = cfg.resolve(info.num_classes, info.attribute_classes, info.input_size)
    cfg.to_json(out_dir / "config.json")
    return cfg, train_set, eval_sets, info


def _resume(parts: _Parts, result: FitResult, resume: str | Path) -> int:
    """Load the checkpoint at ``resume`` into the parts and the result; the epochs it has."""
    path = Path(resume)
    state = load_checkpoint(path / CHECKPOINT_NAME if path.is_dir() else path, result.config)
    parts.model.load_state_dict(state["model"])
    parts.optimizer.load_state_dict(state["optimizer"])
    parts.scheduler.load_state_dict(state["scheduler"])
    set_rng_state(state["rng"])
    result.history = list(state["history"])
    result.final_score = _last_score(result.history)
    # Checkpoints from before the validation part have no best_epoch: their best_metric was
    # picked on the test split, and is dropped.
    if state.get("best_epoch") is not None:
        result.best_metric = state["best_metric"]
        result.best_epoch = state["best_epoch"]
        result.score_at_best = state["score_at_best"]
    return state["epoch"]


def _train_epoch(
    parts: _Parts, train_set: SplitPart, loader: DataLoader, cfg: RunConfig, epoch: int,
    progress: bool,
) -> dict[str, float]:  # fmt: skip
    """One epoch of training, its augmentation seeded by (seed, epoch): ``lr``, the losses,
    ``train_time_s``; the schedule steps after it."""
    t0 = time.perf_counter()
    # The epoch's augmentation seeds, before the loader starts the epoch's workers (not
    # persistent: each gets the training part as it is now).
    train_set.set_epoch(epoch)
    loader.generator.manual_seed(cfg.seed * 100_003 + epoch)
    row = {"epoch": epoch + 1, "lr": parts.optimizer.param_groups[0]["lr"]}
    row |= train_one_epoch(
        parts.step_model, parts.loss_fn, loader, parts.optimizer, parts.device,
        epoch, amp=cfg.amp, channels_last=parts.channels_last, progress=progress,
    )  # fmt: skip
    parts.scheduler.step()
    row["train_time_s"] = time.perf_counter() - t0
    return row


def _evaluate_epoch(
    parts: _Parts, loaders: dict[str, DataLoader], info: DatasetInfo, cfg: RunConfig, last: bool
) -> dict[str, float]:
    """The test protocol's metrics, ``score`` and ``eval_time_s``; the last epoch's with NMI's
    ten restarts and re-id's re-ranking."""
    t0 = time.perf_counter()
    row = evaluate(
        parts.model, loaders, cfg.task, info, parts.device,
        distance=cfg.distance, amp=cfg.amp, channels_last=parts.channels_last,
        nmi_restarts=FINAL_NMI_RESTARTS if last else EPOCH_NMI_RESTARTS,
        ap_mode=cfg.ap_mode, rerank=last,
    )  # fmt: skip
    row["eval_time_s"] = time.perf_counter() - t0
    row["score"] = row.get(primary_metric(cfg.task), math.nan)
    return row


def _validate_epoch(
    parts: _Parts, loader: DataLoader, info: DatasetInfo, cfg: RunConfig
) -> dict[str, float]:
    """The held-out part's metrics as ``val_<metric>``, ``val_score`` and ``val_time_s``."""
    t0 = time.perf_counter()
    held = evaluate_holdout(
        parts.model, loader, cfg.task, info, parts.device,
        distance=cfg.distance, amp=cfg.amp, channels_last=parts.channels_last,
        ap_mode=cfg.ap_mode,
    )  # fmt: skip
    row = {f"val_{k}": v for k, v in held.items()}
    row["val_score"] = held.get(primary_metric(cfg.task), math.nan)
    row["val_time_s"] = time.perf_counter() - t0
    return row


def _select(parts: _Parts, result: FitResult, row: dict[str, float], epoch: int) -> bool:
    """Keep the epoch's weights as ``model_best.pt`` if its ``val_score`` is the best yet."""
    best = -math.inf if result.best_metric is None else result.best_metric
    if not row["val_score"] > best:  # a NaN score is never the best
        return False
    result.best_metric, result.best_epoch = row["val_score"], epoch + 1
    result.score_at_best = row["score"]
    atomic_save(parts.model.state_dict(), result.out_dir / BEST_WEIGHTS_NAME)
    return True


def _save_checkpoint(parts: _Parts, result: FitResult, epoch: int) -> Path:
    """Everything :func:`_resume` needs to go on after ``epoch``, written atomically."""
    checkpoint = result.out_dir / CHECKPOINT_NAME
    state = {
        "config": result.config.to_flat_dict(),
        "model": parts.model.state_dict(),
        "optimizer": parts.optimizer.state_dict(),
        "scheduler": parts.scheduler.state_dict(),
        "rng": rng_state(),
        "epoch": epoch + 1,
        "best_metric": result.best_metric,
        "best_epoch": result.best_epoch,
        "score_at_best": result.score_at_best,
        "history": result.history,
    }
    atomic_save(state, checkpoint)
    return checkpoint


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
    device = resolve_device(cfg.device)
    cfg, train_set, eval_sets, info = _prepare(cfg, out_dir)
    parts = _build_parts(cfg, device)
    result = FitResult(config=cfg, out_dir=out_dir)
    start_epoch = 0 if resume is None else _resume(parts, result, resume)
    parts.step_model = (
        torch.compile(parts.model, mode=cfg.compile_mode) if cfg.compile else parts.model
    )
    train_loader = build_loader(train_set, cfg, train=True, device=device)
    loaders = {k: build_loader(v, cfg, train=False, device=device) for k, v in eval_sets.items()}
    for epoch in range(start_epoch, cfg.epochs):
        last = epoch + 1 == cfg.epochs
        row = _train_epoch(parts, train_set, train_loader, cfg, epoch, progress)
        is_best = False
        if (epoch + 1) % cfg.eval_every == 0 or last:
            row |= _evaluate_epoch(parts, loaders, info, cfg, last)
            result.final_score = row["score"]
            if VAL_SPLIT in loaders:
                row |= _validate_epoch(parts, loaders[VAL_SPLIT], info, cfg)
                is_best = _select(parts, result, row, epoch)
        result.history.append(row)
        checkpoint = _save_checkpoint(parts, result, epoch)
        if attention_images > 0 and last:
            _draw_attention(parts.model, result, eval_sets, info, attention_images)
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
