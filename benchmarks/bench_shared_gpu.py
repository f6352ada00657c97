"""Trials sharing one GPU: images/s of 1, 2 and 4 training processes on the same GPU.

At the paper's batch (32) an eager A3M ResNet-50 step is launch-bound: the GPU idles while the
CPU queues the next kernels (benchmarks/RESULTS.md, "GPU runs"). Several trials on one GPU
(a study's ``--gpus-per-trial 0.5`` or ``0.25``) fill those gaps with another process's
kernels. This script measures how much: it starts ``max(--trials)`` processes (``spawn``),
each with the trainer's own loop (``a3m.train.train_one_epoch`` over device-resident uint8
batches of A3M ResNet-50 at 224 px, batch 32, as ``fit`` runs it) and its share of the CPU
threads. Then, in windows, the first N processes train together for ``--seconds`` (a barrier
starts them at once; the others wait), for each N of ``--trials``, in an order rotated per
round. Printed per N: the median over rounds of each process's images/s, their sum (the GPU's
aggregate) and the aggregate's ratio to one process alone: the speed-up ``paper_budget.py``
uses for N trials per GPU (``--json``).

Without MPS the GPU time-slices between the processes' contexts; a process's kernels never
run beside another's, only in its idle gaps.

Without CUDA it prints "skipped: no CUDA"; ``--smoke-test`` then runs the same code on the CPU
(tiny backbone, 1 and 2 processes, half-second windows): a code check, not a measurement.

    python benchmarks/bench_shared_gpu.py                          # 1, 2, 4 trials, 10 s windows
    python benchmarks/bench_shared_gpu.py --variant baseline1 --json shared.json
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import statistics
import time
from pathlib import Path
from typing import Any

import torch
import torch.multiprocessing as mp
from bench_head_overhead import make_config
from benchlib import machine_line, print_table
from step_rates import synthetic_batch

from a3m.models import build_loss, build_model
from a3m.train import build_optimizer, train_one_epoch

CHUNK = 5  # steps per train_one_epoch call: the window's clock is read between calls


def worker(rank: int, args: argparse.Namespace, commands: Any, results: Any, barriers: Any) -> None:
    """One trial: build the model, warm up, then train whenever told, for the window's time."""
    device = torch.device(args.device)
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // max(args.trials)))
    cfg = make_config(args, variant=args.variant)
    torch.manual_seed(rank)
    model = build_model(cfg).to(device)
    channels_last = device.type == "cuda"
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    loss_fn, optimizer = build_loss(cfg), build_optimizer(cfg, model)
    step_model = torch.compile(model, mode=args.compile_mode) if args.compile_mode else model
    batches = [synthetic_batch(cfg, device)] * CHUNK

    def train() -> None:
        train_one_epoch(step_model, loss_fn, batches, optimizer, device, 0,  # type: ignore[arg-type]
                        amp=True, channels_last=channels_last)  # fmt: skip

    start = time.perf_counter()
    for _ in range(args.warmup):
        train()
    results.put(("ready", rank, time.perf_counter() - start))
    parent = mp.parent_process()
    while True:
        try:
            command = commands.get(timeout=5)
        except queue.Empty:  # the parent was killed (a time limit): free the GPU
            if parent is not None and not parent.is_alive():
                return
            continue
        if command is None:
            return
        n, seconds = command
        barriers[n].wait()
        start, steps = time.perf_counter(), 0
        while time.perf_counter() - start < seconds:
            train()  # ends with a read of the losses: the GPU work is done when it returns
            steps += CHUNK
        results.put(("done", rank, steps * args.batch_size / (time.perf_counter() - start)))


def run(args: argparse.Namespace) -> dict[int, list[list[float]]]:
    """Images/s of each process in each window: {N: [[rate of process 0..N-1], per round]}."""
    ctx = mp.get_context("spawn")
    procs = max(args.trials)
    barriers = {n: ctx.Barrier(n) for n in args.trials}
    commands = [ctx.Queue() for _ in range(procs)]
    results = ctx.Queue()
    workers = [
        ctx.Process(target=worker, args=(r, args, commands[r], results, barriers), daemon=True)
        for r in range(procs)
    ]
    for w in workers:
        w.start()
    try:
        ready = [results.get(timeout=args.start_timeout) for _ in workers]
        print(f"{procs} processes ready (start and warm-up {max(r[2] for r in ready):.1f} s)")
        rates: dict[int, list[list[float]]] = {n: [] for n in args.trials}
        for r in range(args.repeats):
            order = args.trials[r % len(args.trials) :] + args.trials[: r % len(args.trials)]
            for n in order:
                for rank in range(n):
                    commands[rank].put((n, args.seconds))
                done = [results.get(timeout=args.seconds * 10 + 60) for _ in range(n)]
                rates[n].append([rate for _, _, rate in sorted(done, key=lambda d: d[1])])
        return rates
    finally:
        for q in commands:
            q.put(None)
        for w in workers:
            w.join(timeout=30)
            if w.is_alive():
                w.terminate()


def report(args: argparse.Namespace, rates: dict[int, list[list[float]]]) -> dict[str, Any]:
    """Print the table; return what ``--json`` writes."""
    aggregate = {
        n: statistics.median(sum(window) for window in rounds) for n, rounds in rates.items()
    }
    per_process = {
        n: statistics.median(rate for window in rounds for rate in window)
        for n, rounds in rates.items()
    }
    one = aggregate.get(1)
    rows = [
        [n, f"{1 / n:g}", per_process[n], aggregate[n], aggregate[n] / one if one else "-"]
        for n in sorted(rates)
    ]
    print_table(["trials per GPU", "--gpus-per-trial", "images/s per process (median)",
                 "aggregate images/s (median)", "aggregate / 1 trial"], rows)  # fmt: skip
    config = (
        f"{args.variant} {args.backbone}, {args.size}x{args.size}, batch {args.batch_size}, "
        f"{args.compile_mode or 'eager'}, {args.seconds} s windows x {args.repeats} rounds"
    )
    return {
        "kind": "shared_gpu",
        "config": config,
        "device": torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu",
        "aggregate_images_per_s": {str(n): v for n, v in aggregate.items()},
        "per_process_images_per_s": {str(n): v for n, v in per_process.items()},
    }


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--trials", type=int, nargs="+", default=[1, 2, 4], help="processes per GPU")
    p.add_argument("--variant", default="a3m", help="a3m or baseline1 (the paper's CUB setting)")
    p.add_argument("--backbone", default="resnet50")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--d", type=int, default=512)
    p.add_argument("--num-attributes", type=int, default=28)
    p.add_argument(
        "--compile-mode", help="torch.compile mode of each trial's model (default eager)"
    )
    p.add_argument("--seconds", type=float, default=10.0, help="length of a timed window")
    p.add_argument("--repeats", type=int, default=2, help="rounds over --trials")
    p.add_argument("--warmup", type=int, default=2, help=f"untimed calls of {CHUNK} steps")
    p.add_argument("--start-timeout", type=float, default=600.0, help="seconds to start workers")
    p.add_argument("--json", help="write the aggregate rates here (for paper_budget.py --options)")
    p.add_argument("--smoke-test", action="store_true", help="CPU, tiny: code check only")
    return p


def main(args: argparse.Namespace) -> None:
    print(machine_line())
    args.trials = sorted(set(args.trials))
    if torch.cuda.is_available():
        args.device = "cuda"
        if args.smoke_test:
            args.trials, args.seconds, args.repeats = [1, 2], 1.0, 1
    else:
        print("\n== cuda: skipped: no CUDA ==")
        if not args.smoke_test:
            return
        print("(smoke test: the same code on the CPU at a tiny size, not a measurement)")
        args.device, args.backbone, args.size, args.batch_size, args.d = "cpu", "tiny", 32, 2, 16
        args.trials, args.seconds, args.repeats, args.warmup = [1, 2], 0.5, 1, 1
    print(f"\n== {args.device}: {args.variant} {args.backbone}, {args.size}x{args.size}, batch "
          f"{args.batch_size}, {args.compile_mode or 'eager'}; trials per GPU {args.trials}, "
          f"{args.seconds} s windows, {args.repeats} rounds ==")  # fmt: skip
    result = report(args, run(args))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main(get_args_parser().parse_args())
