"""Seconds per batch of one training configuration: measured on a device, or extrapolated.

``paper_budget.py`` turns these into GPU-hours. A configuration is a :class:`~a3m.config.RunConfig`
resolved against its dataset; what its step costs depends on the fields of :func:`step_key`.

- :func:`measure`: the trainer's own code on one device: ``a3m.train.train_one_epoch`` over
  device-resident uint8 batches (normalisation, autocast, loss, diagnostics, the windowed loss
  reads, fused SGD, as ``fit`` calls it) and ``a3m.evaluation.predict`` over the same batches (the
  evaluation's forward pass with its per-batch copies to the host). On CUDA it also sums the
  kernels' GPU time per batch (``torch.profiler``): the GPU-bound floor no launch-overhead
  remedy (CUDA graphs, several trials per GPU) can go below.
- :func:`count_step`: the dispatched operators (a proxy for kernel launches) and the FLOPs of
  one forward+backward and of one evaluation forward, on the ``meta`` device (no memory, no
  compute, seconds on a CPU).
- :func:`extrapolate`: a configuration nobody measured, from a measured anchor of the same head:
  ``seconds = max(anchor_s * ops / anchor_ops, anchor_gpu_s * flop / anchor_flop)``; the first
  term is the launch-bound time (the CPU queues kernels one by one; ResNet-50 at batch 32 is
  there), the second the GPU-bound time. Asynchronous execution overlaps the two, so the larger
  one is the step; where they are close the real step is longer (up to their sum).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from benchlib import kernel_seconds, synchronize
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from a3m.config import RunConfig
from a3m.evaluation import predict
from a3m.models import build_loss, build_model, get_variant
from a3m.models.baseline import Baseline1
from a3m.train import build_optimizer, train_one_epoch


def head_of(cfg: RunConfig) -> str:
    """What the heads cost: ``baseline1`` (one classifier), ``a3m`` (every variant built on the
    A3M network: attention switched off or labels dropped changes a few small ops), or
    ``a3m+bn_relu`` / ``a3m+max`` where the K*d-channel branch runs on the whole feature map.
    The other authors'-code switches add BNs on (B, d) vectors: priced as ``a3m``."""
    if get_variant(cfg.variant).network is Baseline1:
        return "baseline1"
    head = "a3m"
    if cfg.branch_bn_relu:
        head += "+bn_relu"
    if cfg.attr_pooling == "max":
        head += "+max"
    return head


def step_key(cfg: RunConfig) -> str:
    """The configuration's name in a rates table: what its step and evaluation cost depend on
    (dataset: classes and attribute heads; backbone; head; d; input size; batch)."""
    h, w = cfg.input_size
    return f"{cfg.dataset} {cfg.backbone} {head_of(cfg)} d{cfg.d} {h}x{w} b{cfg.batch_size}"


@dataclass(frozen=True)
class StepTimes:
    """Seconds per batch (of the key's batch size).

    Attributes:
        train_s: one training step as the trainer runs it (one trial alone on the device).
        eval_s: one evaluation batch (``predict``).
        train_gpu_s, eval_gpu_s: the kernels' GPU time of the same: the GPU-bound floor.
    """

    train_s: float
    eval_s: float
    train_gpu_s: float
    eval_gpu_s: float


# -- measuring ---------------------------------------------------------------------------------
def synthetic_batch(cfg: RunConfig, device: torch.device) -> tuple[torch.Tensor, dict]:
    """One uint8 batch at the config's input size with labels (and attribute labels), on the
    device, as a loader delivers them after the copy."""
    g = torch.Generator().manual_seed(0)
    h, w = cfg.input_size
    images = torch.randint(0, 256, (cfg.batch_size, 3, h, w), dtype=torch.uint8, generator=g)
    target = {"label": torch.randint(0, cfg.num_classes, (cfg.batch_size,), generator=g)}
    if cfg.attribute_classes:
        target["attributes"] = torch.stack(
            [torch.randint(0, c, (cfg.batch_size,), generator=g) for c in cfg.attribute_classes], 1
        )
    return images.to(device), {k: v.to(device) for k, v in target.items()}


def measure(cfg: RunConfig, device: torch.device, *, steps: int, warmup: int = 3) -> StepTimes:
    """Seconds per batch of the trainer's training step and evaluation forward for ``cfg``
    (random weights: they do not change the speed), each timed over ``steps`` batches after
    ``warmup`` untimed ones (cuDNN plans, the allocator)."""
    cfg = cfg.replace(pretrained=False, weights_path="")
    torch.manual_seed(0)
    model = build_model(cfg).to(device)
    channels_last = cfg.channels_last and device.type == "cuda"
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    loss_fn, optimizer = build_loss(cfg), build_optimizer(cfg, model)
    batch = synthetic_batch(cfg, device)
    kw = {"amp": cfg.amp, "channels_last": channels_last}

    def train(n: int) -> Callable[[], object]:
        return lambda: train_one_epoch(model, loss_fn, [batch] * n, optimizer, device, 0, **kw)

    def evaluate(n: int) -> Callable[[], object]:
        return lambda: predict(model, [batch] * n, device, **kw)  # type: ignore[arg-type]

    times = {}
    for name, run in (("train", train), ("eval", evaluate)):
        run(warmup)()
        synchronize(device)
        start = time.perf_counter()
        run(steps)()
        synchronize(device)
        times[name] = (time.perf_counter() - start) / steps
    gpu = dict(times)  # without a separate accelerator the step is its own floor
    if device.type == "cuda":
        gpu = {"train": kernel_seconds(train(3), 3), "eval": kernel_seconds(evaluate(3), 3)}
    return StepTimes(times["train"], times["eval"], gpu["train"], gpu["eval"])


# -- counting ----------------------------------------------------------------------------------
_NO_KERNEL = {"detach", "empty", "empty_like", "empty_strided", "lift_fresh"}


class _OpCounter(TorchDispatchMode):
    """Counts the operators dispatched that may launch a kernel (views and allocations do not)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        if not func.is_view and func._opname not in _NO_KERNEL:
            self.count += 1
        return func(*args, **(kwargs or {}))


@dataclass(frozen=True)
class StepCounts:
    """Dispatched operators and FLOPs of one batch: training (forward, loss, backward) and
    evaluation (forward under ``no_grad``)."""

    train_ops: int
    train_gflop: float
    eval_ops: int
    eval_gflop: float


def count_step(cfg: RunConfig) -> StepCounts:
    """:class:`StepCounts` of ``cfg`` at its batch and input size, on the ``meta`` device."""
    cfg = cfg.replace(pretrained=False, weights_path="")
    h, w = cfg.input_size
    with torch.device("meta"):
        model = build_model(cfg).train()
        x = torch.empty(cfg.batch_size, 3, h, w)
        labels = torch.zeros(cfg.batch_size, dtype=torch.long)
        attrs = torch.zeros(cfg.batch_size, len(cfg.attribute_classes), dtype=torch.long)
    loss_fn = build_loss(cfg)

    def train() -> None:
        out = model(x)
        loss_fn(out, labels, attrs if cfg.attribute_classes else None).total.backward()

    train()  # the first call makes one-off buffers
    model.zero_grad(set_to_none=True)  # as the trainer does: no gradient accumulation
    ops, flops = _OpCounter(), FlopCounterMode(display=False)
    with ops, flops:
        train()
    train_ops, train_flop = ops.count, flops.get_total_flops()
    model.eval()
    ops, flops = _OpCounter(), FlopCounterMode(display=False)
    with torch.no_grad(), ops, flops:
        model(x)
    return StepCounts(train_ops, train_flop / 1e9, ops.count, flops.get_total_flops() / 1e9)


def extrapolate(counts: StepCounts, anchor: StepTimes, anchor_counts: StepCounts) -> StepTimes:
    """Step times of a configuration from a measured anchor (same head, same batch): the
    launch-bound time scales with the operators dispatched, the GPU time with the FLOPs, and
    the step is the larger of the two (see the module's docstring)."""
    per_op = anchor.train_s / anchor_counts.train_ops
    per_gflop = anchor.train_gpu_s / anchor_counts.train_gflop
    train_gpu, eval_gpu = counts.train_gflop * per_gflop, counts.eval_gflop * per_gflop
    return StepTimes(
        train_s=max(counts.train_ops * per_op, train_gpu),
        eval_s=max(counts.eval_ops * per_op, eval_gpu),
        train_gpu_s=train_gpu,
        eval_gpu_s=eval_gpu,
    )
