"""GPU training throughput: A3M ResNet-50 against plain ResNet-50, images/s, one GPU.

Batches are already on the GPU (the input pipeline is measured by bench_input_pipeline.py).
Every candidate runs with bf16 autocast and channels_last, as ``a3m.train`` does on CUDA, the
same SGD (``a3m.train.build_optimizer``: lr 1e-3, momentum 0.9, wd 5e-4, fused), at 224x224:

- ``resnet50``: torchvision's ``resnet50`` (200 classes) + cross-entropy: the yardstick;
- ``a3m``: ``build_model`` for CUB (ResNet-50, d = 512, K = 28) + loss (11);
- ``a3m trainer``: ``a3m.train.train_one_epoch`` over a list of GPU-resident uint8 batches: the
  same step plus the trainer's normalisation and bookkeeping (finite-loss check, loss sums,
  accuracy);

- ``baseline1`` (``--candidates``): ``build_model`` for CUB's Baseline-1, the reference of
  the A3M/Baseline-1 step ratio (target 1 of benchmarks/RESULTS.md);

each eager and under ``torch.compile`` (the model compiled, as ``RunConfig.compile`` does) in
``--compile-mode``: ``default``, or ``reduce-overhead`` (CUDA graphs: the step's kernels
replayed from a graph instead of launched one by one from Python, the remedy for the
launch-bound batch-32 step). Rounds are interleaved; printed: median images/s, the ratio to
the plain model (``resnet50``, else ``baseline1``) in the same mode (target: A3M >= 90% of
ResNet-50, and >= 3,000 images/s on one H100), and the first call's seconds (compilation,
graph capture, cuDNN plans). ``--json`` writes the rates for ``paper_budget.py --options``.

Without CUDA it prints "skipped: no CUDA"; ``--smoke-test`` then runs the same code on the CPU
at a tiny size (eager only), to keep the script working, not as a measurement.

    python benchmarks/bench_gpu_throughput.py                    # batch 256, eager + compile
    python benchmarks/bench_gpu_throughput.py --batch-size 32    # the paper's batch
    python benchmarks/bench_gpu_throughput.py --batch-size 32 --candidates baseline1 a3m \
        --compile-mode reduce-overhead --json graphs.json       # CUDA graphs at batch 32
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

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
    forward = compile_model(model, args) if compiled else model
    labels = torch.randint(0, cfg.num_classes, (len(images),), device=device)
    loss_fn = nn.CrossEntropyLoss()

    def step() -> None:
        mark_step(args, compiled)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            loss = loss_fn(forward(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def compile_model(model: nn.Module, args: argparse.Namespace) -> nn.Module:
    """``torch.compile`` in ``--compile-mode`` (``default``: what ``RunConfig.compile`` does)."""
    return torch.compile(model, mode=None if args.compile_mode == "default" else args.compile_mode)


def mark_step(args: argparse.Namespace, compiled: bool) -> None:
    """Under CUDA graphs, a new training iteration starts here: the graphs may reuse the
    previous step's output memory (``torch.compiler.cudagraph_mark_step_begin``)."""
    if compiled and args.compile_mode == "reduce-overhead":
        torch.compiler.cudagraph_mark_step_begin()


def model_step(
    args: argparse.Namespace,
    images: torch.Tensor,
    device: torch.device,
    compiled: bool,
    variant: str = "a3m",
) -> Callable[[], None]:
    """The trainer's step (bench_head_overhead.make_step) of ``build_model`` for ``variant``."""
    cfg = make_config(args, variant=variant)
    torch.manual_seed(0)
    model = channels_last(build_model(cfg), device)
    step = make_step(compile_model(model, args) if compiled else model, cfg, images, device)

    def marked() -> None:
        mark_step(args, compiled)
        step()

    return marked


def a3m_trainer(
    args: argparse.Namespace, images: torch.Tensor, device: torch.device, compiled: bool
) -> Callable[[], None]:
    """``train_one_epoch`` over ``args.steps`` GPU-resident uint8 batches (one "epoch"), as the
    loader delivers them: the trainer normalises them on the device."""
    cfg = make_config(args)
    torch.manual_seed(0)
    model = channels_last(build_model(cfg), device)
    loss_fn, optimizer = build_loss(cfg), build_optimizer(cfg, model)
    step_model = compile_model(model, args) if compiled else model
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


CANDIDATES = ("resnet50", "baseline1", "a3m", "trainer")


def build_candidates(
    args: argparse.Namespace, images: torch.Tensor, device: torch.device, compiled: bool
) -> tuple[dict[str, Callable[[], None]], dict[str, Callable[[], None]]]:
    """(name -> ``args.steps`` steps, name -> one step) of the chosen ``--candidates``."""
    steps: dict[str, Callable[[], None]] = {}
    if "resnet50" in args.candidates:
        steps[f"torchvision {args.backbone}"] = resnet50_step(args, images, device, compiled)
    if "baseline1" in args.candidates:
        steps["baseline1"] = model_step(args, images, device, compiled, "baseline1")
    if "a3m" in args.candidates:
        steps["a3m"] = model_step(args, images, device, compiled)

    def repeat(step: Callable[[], None]) -> Callable[[], None]:
        def run_steps() -> None:
            for _ in range(args.steps):
                step()

        return run_steps

    candidates = {name: repeat(step) for name, step in steps.items()}
    if "trainer" in args.candidates:
        candidates["a3m trainer"] = a3m_trainer(args, images, device, compiled)
    return candidates, steps


def run(args: argparse.Namespace, device: torch.device, modes: list[bool]) -> None:
    print(
        f"\n== {device.type}: {args.size}x{args.size}, batch {args.batch_size}, "
        f"{args.steps} steps per timing, {args.repeats} interleaved rounds; "
        f"compile mode {args.compile_mode} =="
    )
    images = torch.randn(args.batch_size, 3, args.size, args.size, device=device)
    images = images.contiguous(memory_format=torch.channels_last)
    rows, result = [], {"kind": "gpu_throughput", "batch_size": args.batch_size,
                        "size": args.size, "rows": [], "compile_s": {}}  # fmt: skip
    for compiled in modes:
        mode = mode_name(args, compiled)
        candidates, steps = build_candidates(args, images, device, compiled)
        plain = next((n for n in candidates if n.startswith("torchvision") or n == "baseline1"),
                     next(iter(candidates)))  # fmt: skip
        # The first call alone: compilation and graph capture (minutes), cuDNN plans.
        first = {}
        for name, candidate in candidates.items():
            start = time.perf_counter()
            candidate()
            synchronize(device)
            first[name] = time.perf_counter() - start
        t = interleaved(candidates, repeats=args.repeats, warmup=1, device=device)
        per_timing = args.steps * args.batch_size
        for name in candidates:
            rate = per_timing / t.median(name)
            rows.append([mode, name, rate, 1.0 / t.ratio(name, plain), first[name]])
            result["rows"].append({"mode": mode, "candidate": name, "images_per_s": rate})
            if compiled:
                result["compile_s"][name] = first[name]
        if args.json:  # after each mode: a later one may not finish in the time it is given
            Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    print_table(["mode", "candidate", "images/s (median)", "throughput / plain",
                 "first call s"], rows)  # fmt: skip
    if args.profile:
        for name, step in steps.items():  # the last mode's
            profile_step(name, step, device)


def mode_name(args: argparse.Namespace, compiled: bool) -> str:
    """``eager``, ``compile`` (the default mode, as RunConfig.compile) or the mode's name."""
    if not compiled:
        return "eager"
    return "compile" if args.compile_mode == "default" else args.compile_mode


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
    p.add_argument(
        "--compile-mode",
        default="default",
        choices=("default", "reduce-overhead", "max-autotune-no-cudagraphs"),
        help="torch.compile mode of the compiled runs (reduce-overhead: CUDA graphs)",
    )
    p.add_argument(
        "--candidates",
        nargs="+",
        choices=CANDIDATES,
        default=["resnet50", "a3m", "trainer"],
        help="what to time (the first of resnet50/baseline1 is the reference)",
    )
    p.add_argument("--json", help="write the rates here (for paper_budget.py --options)")
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
            args.backbone, args.candidates = "resnet18", list(CANDIDATES)
            run(args, torch.device("cpu"), [False])
        return
    if args.smoke_test:
        args.batch_size, args.steps, args.repeats, args.no_compile = 8, 2, 1, True
    torch.backends.cudnn.benchmark = True
    run(args, torch.device("cuda"), [False] if args.no_compile else [False, True])


if __name__ == "__main__":
    main(get_args_parser().parse_args())
