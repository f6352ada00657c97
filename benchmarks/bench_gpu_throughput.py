"""GPU training throughput: A3M ResNet-50 against plain ResNet-50, images/s, one GPU.

Batches are already on the GPU (the input pipeline is measured by bench_input_pipeline.py).
Every candidate runs with bf16 autocast and channels_last, as ``a3m.train`` does on CUDA, the
same SGD (``a3m.train.build_optimizer``: lr 1e-3, momentum 0.9, wd 5e-4, fused), at 224x224:

- ``resnet50``: torchvision's ``resnet50`` (200 classes) + cross-entropy: the yardstick;
- ``a3m``: ``build_model`` for CUB (ResNet-50, d = 512, K = 28) + loss (11);
- ``a3m trainer``: ``a3m.train.train_one_epoch`` over a list of GPU-resident uint8 batches: the
  same step plus the trainer's normalisation and bookkeeping (finite-loss check, loss sums,
  accuracy);

each eager and under ``torch.compile`` (the model compiled, as ``RunConfig.compile`` does).
Rounds are interleaved; printed: median images/s and the ratio to ``resnet50`` in the same
mode (target: A3M >= 90% of ResNet-50, and >= 3,000 images/s on one H100).

Without CUDA it prints "skipped: no CUDA"; ``--smoke-test`` then runs the same code on the CPU
at a tiny size (eager only), to keep the script working, not as a measurement.

    python benchmarks/bench_gpu_throughput.py                    # batch 256, eager + compile
    python benchmarks/bench_gpu_throughput.py --batch-size 32    # the paper's batch
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch
import torchvision
from bench_head_overhead import make_config, make_step
from benchlib import interleaved, machine_line, print_table, synchronize
from torch import nn

from a3m.models import build_loss, build_model
from a3m.train import build_optimizer, train_one_epoch


def channels_last(model: nn.Module, device: torch.device) -> nn.Module:
    return model.to(device).to(memory_format=torch.channels_last).train()


def resnet50_step(
    args: argparse.Namespace, images: torch.Tensor, device: torch.device, compiled: bool
) -> Callable[[], None]:
    """Plain torchvision ResNet-50 (``--backbone``) + cross-entropy, the trainer's autocast
    and optimizer."""
    cfg = make_config(args, variant="baseline1")
    torch.manual_seed(0)
    model = torchvision.models.get_model(args.backbone, num_classes=cfg.num_classes)
    model = channels_last(model, device)
    optimizer = build_optimizer(cfg, model)
    forward = torch.compile(model) if compiled else model
    labels = torch.randint(0, cfg.num_classes, (len(images),), device=device)
    loss_fn = nn.CrossEntropyLoss()

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            loss = loss_fn(forward(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def a3m_step(
    args: argparse.Namespace, images: torch.Tensor, device: torch.device, compiled: bool
) -> Callable[[], None]:
    cfg = make_config(args)
    torch.manual_seed(0)
    model = channels_last(build_model(cfg), device)
    return make_step(torch.compile(model) if compiled else model, cfg, images, device)


def a3m_trainer(
    args: argparse.Namespace, images: torch.Tensor, device: torch.device, compiled: bool
) -> Callable[[], None]:
    """``train_one_epoch`` over ``args.steps`` GPU-resident uint8 batches (one "epoch"), as the
    loader delivers them: the trainer normalises them on the device."""
    cfg = make_config(args)
    torch.manual_seed(0)
    model = channels_last(build_model(cfg), device)
    loss_fn, optimizer = build_loss(cfg), build_optimizer(cfg, model)
    step_model = torch.compile(model) if compiled else model
    n = len(images)
    target = {
        "label": torch.randint(0, cfg.num_classes, (n,), device=device),
        "attributes": torch.stack(
            [torch.randint(0, c, (n,), device=device) for c in cfg.attribute_classes], 1
        ),
    }
    raw = torch.randint(0, 256, images.shape, dtype=torch.uint8, device=device)
    batches = [(raw, target)] * args.steps

    def epoch() -> None:
        train_one_epoch(
            step_model, loss_fn, batches, optimizer, device, 0,  # type: ignore[arg-type]
            amp=True, channels_last=True,
        )  # fmt: skip

    return epoch


def run(args: argparse.Namespace, device: torch.device, modes: list[bool]) -> None:
    print(
        f"\n== {device.type}: {args.size}x{args.size}, batch {args.batch_size}, "
        f"{args.steps} steps per timing, {args.repeats} interleaved rounds =="
    )
    images = torch.randn(args.batch_size, 3, args.size, args.size, device=device)
    images = images.contiguous(memory_format=torch.channels_last)
    rows = []
    for compiled in modes:
        mode = "compile" if compiled else "eager"
        plain = f"torchvision {args.backbone}"
        steps = {
            plain: resnet50_step(args, images, device, compiled),
            "a3m": a3m_step(args, images, device, compiled),
        }

        def repeat(step: Callable[[], None]) -> Callable[[], None]:
            def run_steps() -> None:
                for _ in range(args.steps):
                    step()

            return run_steps

        candidates = {name: repeat(step) for name, step in steps.items()}
        candidates["a3m trainer"] = a3m_trainer(args, images, device, compiled)
        # warm-up of 2 timings: compilation (several minutes for torch.compile), cuDNN plans.
        t = interleaved(candidates, repeats=args.repeats, warmup=2, device=device)
        per_timing = args.steps * args.batch_size
        for name in candidates:
            rows.append(
                [
                    mode,
                    name,
                    per_timing / t.median(name),
                    1.0 / t.ratio(name, plain),
                ]
            )
    print_table(["mode", "candidate", "images/s (median)", "throughput / plain"], rows)
    if args.profile:
        for name, step in steps.items():  # the last mode's
            profile_step(name, step, device)


def profile_step(name: str, step: Callable[[], None], device: torch.device, n: int = 3) -> None:
    """torch.profiler over ``n`` steps: GPU time and kernel launches per step, then the
    operators with the most GPU time (where A3M's extra time over ResNet-50 goes)."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    synchronize(device)
    with profile(activities=activities) as prof:
        for _ in range(n):
            step()
        synchronize(device)
    kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    gpu_ms = sum(getattr(e, "device_time", 0.0) for e in kernels) / 1e3 / n
    print(f"\n-- profile of {name}: {gpu_ms:.2f} ms of GPU time, {len(kernels) / n:.0f} kernels "
          "per step")  # fmt: skip
    sort = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    print(prof.key_averages().table(sort_by=sort, row_limit=25))


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--backbone", default="resnet50")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--d", type=int, default=512)
    p.add_argument("--num-attributes", type=int, default=28)
    p.add_argument("--steps", type=int, default=20, help="training steps per timing")
    p.add_argument("--repeats", type=int, default=5, help="interleaved rounds")
    p.add_argument("--no-compile", action="store_true", help="eager only")
    p.add_argument("--profile", action="store_true", help="torch.profiler of each model's step")
    p.add_argument("--smoke-test", action="store_true", help="CPU, tiny, eager: code check only")
    return p


def main(args: argparse.Namespace) -> None:
    print(machine_line())
    if not torch.cuda.is_available():
        print("\n== cuda: skipped: no CUDA ==")
        if args.smoke_test:
            print("(smoke test: the same code on the CPU at a tiny size, not a measurement)")
            args.size, args.batch_size, args.steps, args.repeats, args.d = 32, 2, 1, 1, 16
            args.backbone = "resnet18"
            run(args, torch.device("cpu"), [False])
        return
    if args.smoke_test:
        args.batch_size, args.steps, args.repeats, args.no_compile = 8, 2, 1, True
    torch.backends.cudnn.benchmark = True
    run(args, torch.device("cuda"), [False] if args.no_compile else [False, True])


if __name__ == "__main__":
    main(get_args_parser().parse_args())
