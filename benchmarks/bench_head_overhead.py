"""Head overhead: one training step of A3M against Baseline-1 on the same backbone and input.

A step is what ``a3m.train.train_one_epoch`` does per batch: forward under the trainer's
autocast, loss (11), the finite-loss check, ``zero_grad``, backward, SGD step; the models,
losses and optimisers come from ``a3m.models.build_model`` / ``build_loss`` and
``a3m.train.build_optimizer`` with the paper's CUB setting (ResNet-50, 224x224, d = 512,
K = 28 attribute heads with CUB's class counts, batch 32, lr 1e-3, momentum 0.9, wd 5e-4).

Three models are timed, interleaved (see ``benchmarks/benchlib.py``):

- ``baseline1``: backbone + GAP + one classifier;
- ``a3m``: the paper's heads, whose attribute branches are a 1x1 conv then average pooling,
  run as a linear map of the pooled features (pool first);
- ``a3m+bn_relu``: the authors'-code switch ``branch_bn_relu`` (BN and ReLU inside each
  branch), which forbids pooling first: the K*d-channel conv runs on the whole feature map.

A second measurement times the heads alone (a fixed feature map with ``requires_grad``, so the
backward into the backbone is included; SGD over the heads' parameters) and prints the step
ratio it implies: 1 + (head(model) - head(baseline1)) / step(baseline1).

A third table times the A3M heads alone with the straightforward forms this code replaced,
one change at a time (same numbers, checked): ``--ablation`` (default on; off with
``--no-ablation``):

- K per-head cross-entropies (``F.cross_entropy`` per head) instead of one over the K heads
  laid side by side;
- the grouped classifier as a gather of a_k for each of the sum_k C_k rows (a (B, 340, d)
  copy and its scatter-add backward) instead of one batched product over zero-padded weights;
- SGD without the fused kernel (four passes over each parameter instead of one).

On CUDA (when present) the same is measured with bf16 autocast and channels_last, as the
trainer runs there; otherwise that part prints "skipped: no CUDA".

    python benchmarks/bench_head_overhead.py                   # the issue's setting
    python benchmarks/bench_head_overhead.py --profile         # + torch.profiler of the heads
    python benchmarks/bench_head_overhead.py --smoke-test      # tiny, seconds
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch
import torch.nn.functional as F
from benchlib import interleaved, machine_line, print_table
from torch import nn

from a3m.config import RunConfig
from a3m.models import build_loss, build_model
from a3m.models.a3m import A3M
from a3m.models.features import BackboneSpec, FeatureExtractor
from a3m.train import build_optimizer

# CUB-200-2011's 28 attribute groups (312 binary attributes), each a (values + 1)-way label.
CUB_ATTRIBUTE_CLASSES: tuple[int, ...] = (
    10, 16, 16, 16, 5, 16, 7, 16, 12, 16, 16, 15, 4, 16,
    16, 16, 16, 6, 6, 15, 5, 5, 5, 16, 16, 16, 16, 5,
)  # fmt: skip
NUM_CLASSES = 200

MODELS: dict[str, dict[str, object]] = {
    "baseline1": {"variant": "baseline1"},
    "a3m": {"variant": "a3m"},
    "a3m+bn_relu": {"variant": "a3m", "branch_bn_relu": True},
}


def make_config(args: argparse.Namespace, **changes: object) -> RunConfig:
    """The run config of one model, resolved as the trainer resolves it against CUB."""
    attrs = (CUB_ATTRIBUTE_CLASSES * (args.num_attributes // 28 + 1))[: args.num_attributes]
    cfg = RunConfig(dataset="cub", backbone=args.backbone, d=args.d, batch_size=args.batch_size)
    cfg = cfg.replace(**changes)
    return cfg.resolve(NUM_CLASSES, attrs, (args.size, args.size))


def make_step(
    model: nn.Module,
    cfg: RunConfig,
    x: torch.Tensor,
    device: torch.device,
    *,
    fused_sgd: bool = True,
) -> Callable[[], None]:
    """One training step of ``model`` on the fixed batch ``x`` (what train_one_epoch does);
    ``fused_sgd=False`` swaps the trainer's fused SGD for the for-loop one (ablation)."""
    loss_fn = build_loss(cfg)
    optimizer = build_optimizer(cfg, model)
    if not fused_sgd:
        optimizer = torch.optim.SGD(
            model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
            weight_decay=cfg.weight_decay, foreach=False,
        )  # fmt: skip
    g = torch.Generator().manual_seed(1)
    labels = torch.randint(0, cfg.num_classes, (len(x),), generator=g).to(device)
    attrs = torch.stack(
        [torch.randint(0, c, (len(x),), generator=g) for c in cfg.attribute_classes], dim=1
    ).to(device)
    amp = cfg.amp and device.type == "cuda"

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            out = model(x)
            parts = loss_fn(out, labels, attrs)
        # the trainer's finite-loss check: per step on the CPU; on CUDA it reads the losses
        # back once per a3m.train.CUDA_SYNC_EVERY steps, so a step has no synchronisation
        if device.type != "cuda" and not torch.isfinite(parts.total):
            raise RuntimeError("non-finite loss")
        optimizer.zero_grad(set_to_none=True)
        parts.total.backward()
        optimizer.step()

    return step


def build(cfg: RunConfig, device: torch.device, head_only: bool) -> A3M:
    """The model of ``cfg`` on ``device``; with ``head_only`` its backbone is an identity."""
    torch.manual_seed(0)
    model = build_model(cfg)
    if head_only:
        spec = BackboneSpec("identity", model.backbone.out_channels, 1, 1)
        model.backbone = FeatureExtractor(spec, nn.Identity())
    model = model.to(device).train()
    if device.type == "cuda" and cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def run(args: argparse.Namespace, device: torch.device) -> None:
    print(
        f"\n== {device.type}: {args.backbone}, {args.size}x{args.size}, batch {args.batch_size}, "
        f"d={args.d}, K={args.num_attributes}, {args.repeats} interleaved rounds =="
    )
    channels_last = device.type == "cuda"
    g = torch.Generator().manual_seed(0)
    images = torch.randn(args.batch_size, 3, args.size, args.size, generator=g).to(device)
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    configs = {name: make_config(args, **changes) for name, changes in MODELS.items()}

    # The feature map the heads see: the backbone's output for this batch.
    with torch.no_grad():
        fmap = build(configs["baseline1"], device, head_only=False).backbone(images)
    fmap = fmap.detach().requires_grad_(True)
    print(f"feature map {tuple(fmap.shape)}")

    full = {
        name: make_step(build(cfg, device, head_only=False), cfg, images, device)
        for name, cfg in configs.items()
    }
    heads = {
        name: make_step(build(cfg, device, head_only=True), cfg, fmap, device)
        for name, cfg in configs.items()
    }
    t_full = interleaved(full, repeats=args.repeats, warmup=1, device=device)
    t_head = interleaved(heads, repeats=args.head_repeats, warmup=2, device=device)

    rows = []
    base = t_full.median("baseline1")
    for name in MODELS:
        implied = 1.0 + (t_head.median(name) - t_head.median("baseline1")) / base
        rows.append(
            [
                name,
                t_full.median(name),
                t_full.spread(name),
                t_full.ratio(name, "baseline1"),
                t_full.ratio_of_medians(name, "baseline1"),
                t_head.median(name) * 1e3,
                implied,
            ]
        )
    print_table(
        [
            "model",
            "step s (median)",
            "step s (min-max)",
            "step ratio (median of rounds)",
            "ratio of medians",
            "heads-only step ms",
            "implied step ratio",
        ],
        rows,
    )
    if args.ablation:
        del full, heads  # free the full models' memory first
        ablation(args, configs["a3m"], fmap)
    if args.profile:
        profile_heads(
            make_step(build(configs["a3m"], device, True), configs["a3m"], fmap, device), device
        )


class GatherClassifier(nn.Module):
    """The grouped attribute classifier as first written: gather a_k once per weight row."""

    def __init__(self, fc: nn.Module):
        super().__init__()
        self.fc = fc
        owner = torch.repeat_interleave(torch.arange(len(fc.sizes)), torch.tensor(fc.sizes))
        self.register_buffer("owner", owner.to(fc.weight.device), persistent=False)

    def forward(self, A: torch.Tensor) -> list[torch.Tensor]:
        rows = A[:, self.owner]  # (B, sum C_k, d)
        flat = torch.einsum("bcd,cd->bc", rows, self.fc.weight) + self.fc.bias  # (B, sum C_k)
        return list(flat.split(self.fc.sizes, dim=1))


def loop_attribute_losses(
    attribute_logits: list[torch.Tensor], targets: torch.Tensor, ignore_index: int = -100
) -> torch.Tensor:
    """Eq. (11)'s attribute terms as first written: one cross-entropy per head."""
    labelled = (targets != ignore_index).sum(dim=0).clamp(min=1)  # (K,)
    sums = torch.stack(
        [
            F.cross_entropy(logits, targets[:, k], ignore_index=ignore_index, reduction="sum")
            for k, logits in enumerate(attribute_logits)
        ]
    )
    return sums / labelled


def ablation(args: argparse.Namespace, cfg: RunConfig, fmap: torch.Tensor) -> None:
    """Heads-only A3M steps with the replaced straightforward forms, one change at a time."""
    import a3m.models.losses as losses

    device = fmap.device
    fused_ce = losses.attribute_losses

    def variant(gather: bool, loop_ce: bool, fused_sgd: bool) -> Callable[[], None]:
        model = build(cfg, device, head_only=True)
        if gather:
            model.attribute_fc = GatherClassifier(model.attribute_fc)
        step = make_step(model, cfg, fmap, device, fused_sgd=fused_sgd)

        def run() -> None:
            losses.attribute_losses = loop_attribute_losses if loop_ce else fused_ce
            try:
                step()
            finally:
                losses.attribute_losses = fused_ce

        return run

    # The replaced forms compute the same numbers (up to float rounding).
    model = build(cfg, device, head_only=True)
    A = torch.randn(fmap.shape[0], model.num_attributes, model.d, device=device)
    targets = torch.stack([torch.randint(0, c, (len(A),)) for c in cfg.attribute_classes], 1)
    targets = targets.to(device)
    with torch.no_grad():
        new_logits, old_logits = model.attribute_fc(A), GatherClassifier(model.attribute_fc)(A)
        diff_ce = fused_ce(new_logits, targets) - loop_attribute_losses(new_logits, targets)
    diff_fc = max(float((a - b).abs().max()) for a, b in zip(new_logits, old_logits, strict=True))
    print(
        f"replaced forms agree: classifier max |diff| {diff_fc:.1e}, "
        f"losses max |diff| {float(diff_ce.abs().max()):.1e}"
    )
    candidates = {
        "as first written (gather, K CEs, unfused SGD)": variant(True, True, False),
        "+ fused SGD": variant(True, True, True),
        "+ padded batched classifier": variant(False, True, True),
        "+ one CE over the K heads (now)": variant(False, False, True),
    }
    t = interleaved(candidates, repeats=args.head_repeats, warmup=2, device=device)
    first = next(iter(candidates))
    print(f"A3M heads-only step, one change at a time ({args.head_repeats} interleaved rounds):")
    print_table(
        ["heads-only step", "ms (median)", "min-max s", "speed-up over first"],
        [[n, t.median(n) * 1e3, t.spread(n), t.ratio(first, n)] for n in candidates],
    )


def profile_heads(step: Callable[[], None], device: torch.device) -> None:
    """torch.profiler table of three head-only steps of A3M (where the overhead goes)."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities) as prof:
        for _ in range(3):
            step()
    sort = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    print(prof.key_averages().table(sort_by=sort, row_limit=20))


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--backbone", default="resnet50")
    p.add_argument("--size", type=int, default=224, help="input height = width")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--d", type=int, default=512)
    p.add_argument("--num-attributes", type=int, default=28, help="K (CUB's class counts)")
    p.add_argument("--repeats", type=int, default=7, help="interleaved rounds of full steps")
    p.add_argument("--head-repeats", type=int, default=25, help="rounds of head-only steps")
    p.add_argument("--devices", nargs="+", default=["cpu", "cuda"], choices=["cpu", "cuda"])
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--profile", action="store_true", help="torch.profiler table of the heads")
    p.add_argument(
        "--no-ablation", dest="ablation", action="store_false",
        help="skip the table of the replaced straightforward forms",
    )  # fmt: skip
    p.add_argument("--smoke-test", action="store_true", help="tiny sizes, a few seconds")
    return p


def main(args: argparse.Namespace) -> None:
    if args.smoke_test:
        args.backbone, args.size, args.batch_size, args.d = "tiny", 32, 4, 16
        args.repeats, args.head_repeats = 2, 2
    if args.threads:
        torch.set_num_threads(args.threads)
    print(machine_line())
    for name in args.devices:
        if name == "cuda" and not torch.cuda.is_available():
            print("\n== cuda: skipped: no CUDA ==")
            continue
        run(args, torch.device(name))


if __name__ == "__main__":
    main(get_args_parser().parse_args())
