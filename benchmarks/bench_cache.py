"""Decode once: images/s per DataLoader worker, decoding JPEGs against reading the image cache.

A synthetic CUB-200-2011 copy (``a3m.data.synthetic.write_synthetic``, JPEGs of
``--image-size`` pixels; real CUB images are about 500x375) is cached with
``a3m.data.cache.write_cache`` at the resize size of ``--input-size`` (256x256 for 224), then
read by the trainer's own code (``a3m.loaders.build_split`` + ``build_loader``, a fresh training
loader per timing, as every epoch starts one) in three ways:

- ``decode``: ``image_cache="off"``: the workers decode, box-crop, resize, crop and flip;
- ``cache``: the workers copy the cached uint8 image out of the memory-mapped shard, then crop
  and flip it (the same pixels as ``decode``);
- ``cache+device``: ``augment_on="device"``: the workers copy the cached image whole and draw
  its crop and flip; ``crop_flip_batch`` does them on the batch after the transfer (timed
  apart below, on this machine's device: on a GPU it is one gather kernel).

Printed per pipeline and worker count, interleaved in rounds: steady images/s (after the
first batch), images/s per worker (0 workers: the main process alone), the first batch's
latency and the ratio to ``decode`` at the same worker count. Also: the cache writer's
images/s, and how many workers each pipeline needs to feed ``--target-rate`` images/s (the
A3M step on one H100, compiled, batch 256) with 20% to spare.

    python benchmarks/bench_cache.py
    python benchmarks/bench_cache.py --workers 0 1 2 4 8 15 --data-dir /tmp/a3m-pipeline-cub
    python benchmarks/bench_cache.py --smoke-test
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
from benchlib import machine_line, print_table, synchronize

from a3m.config import RunConfig
from a3m.data import build_dataset
from a3m.data.cache import write_cache
from a3m.data.device_augment import CROP_KEY, crop_flip_batch
from a3m.data.synthetic import write_synthetic
from a3m.loaders import build_loader, build_split

PIPELINES = ("decode", "cache", "cache+device")


def pipeline_config(base: RunConfig, pipeline: str, cache_dir: Path) -> RunConfig:
    """The run settings of one pipeline."""
    if pipeline == "decode":
        return base.replace(image_cache="off")
    device = "device" if pipeline == "cache+device" else "loader"
    return base.replace(image_cache=str(cache_dir), augment_on=device)


def time_loader(dataset, cfg: RunConfig, workers: int, batches: int) -> tuple[float, float]:
    """(seconds to the first batch, seconds for the next ``batches - 1``) of a fresh training
    loader with ``workers`` workers."""
    loader = build_loader(
        dataset, cfg.replace(num_workers=workers), train=True, device=torch.device("cpu")
    )
    start = time.perf_counter()
    it = iter(loader)
    next(it)
    first = time.perf_counter()
    for _ in range(batches - 1):
        next(it)
    end = time.perf_counter()
    del it
    return first - start, end - first


def time_device_crop(dataset, batch_size: int, repeats: int) -> float:
    """Seconds per batch of ``crop_flip_batch`` on this machine's device (the median)."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    items = [dataset[i % len(dataset)] for i in range(batch_size)]
    images = torch.stack([image for image, _ in items]).to(device)
    crops = torch.stack([target[CROP_KEY] for _, target in items])
    crop_flip_batch(images, crops)  # warm-up
    times = []
    for _ in range(max(3, repeats)):
        synchronize(device)
        start = time.perf_counter()
        crop_flip_batch(images, crops)
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(args: argparse.Namespace, root: Path, cache_dir: Path) -> None:
    size = (args.input_size, args.input_size)
    base = RunConfig(
        dataset="cub", data_root=str(root), input_size=size, batch_size=args.batch_size
    )
    start = time.perf_counter()
    n_written = 0
    for split in ("train", "test"):  # as `a3m data cache` writes them
        dataset = build_dataset("cub", root, split, bbox_crop=True)
        path = write_cache(dataset, size, cache_dir, workers=args.write_workers)
        n_written += len(dataset)
    seconds = time.perf_counter() - start
    print(
        f"cache written in {seconds:.1f} s ({n_written / seconds:.3g} images/s with "
        f"{args.write_workers} workers): {path.parent}, {path.name.split('-')[1]} uint8"
    )
    parts = {}
    for pipeline in PIPELINES:
        with contextlib.redirect_stdout(io.StringIO()):  # the "image cache: reading" lines
            parts[pipeline] = build_split(
                pipeline_config(base, pipeline, cache_dir), "train", train=True
            )
    n_train = len(parts["decode"])
    if n_train < args.batch_size * args.batches:
        raise SystemExit(
            f"the synthetic copy has {n_train} training images, fewer than --batches x "
            f"--batch-size = {args.batches * args.batch_size}: raise --per-class"
        )
    runs = [(p, w) for p in PIPELINES for w in args.workers]
    first: dict[tuple[str, int], list[float]] = {r: [] for r in runs}
    steady: dict[tuple[str, int], list[float]] = {r: [] for r in runs}
    for r in range(args.repeats):
        shift = r % len(runs)  # rotate the order: a burst of load hits every pipeline alike
        for pipeline, workers in runs[shift:] + runs[:shift]:
            parts[pipeline].set_epoch(r)
            t_first, t_rest = time_loader(parts[pipeline], base, workers, args.batches)
            first[pipeline, workers].append(t_first)
            steady[pipeline, workers].append((args.batches - 1) * args.batch_size / t_rest)
    rate = {run: statistics.median(steady[run]) for run in runs}
    rows = [
        [
            pipeline,
            w,
            rate[pipeline, w],
            rate[pipeline, w] / max(w, 1),
            statistics.median(first[pipeline, w]),
            rate[pipeline, w] / rate["decode", w],
        ]
        for pipeline, w in runs
    ]
    print(f"training loader, batch {args.batch_size}, {args.input_size}px crops, {n_train} images")
    print_table(
        [
            "pipeline",
            "workers",
            "images/s (steady)",
            "images/s per worker",
            "first batch s",
            "vs decode",
        ],
        rows,
    )
    crop_s = time_device_crop(parts["cache+device"], args.batch_size, args.repeats)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(
        f"cache+device: crop_flip_batch of {args.batch_size} images on {device}: "
        f"{crop_s * 1e3:.3g} ms per batch ({args.batch_size / crop_s:.3g} images/s)"
    )
    near_one = min(args.workers, key=lambda w: abs(w - 1))
    need = []
    for pipeline in PIPELINES:
        per_worker = rate[pipeline, near_one] / max(near_one, 1)
        workers = math.ceil(1.2 * args.target_rate / per_worker)
        need.append(f"{pipeline} {workers} ({per_worker:.3g} images/s each)")
    print(
        f"workers to feed {args.target_rate:g} images/s x 1.2 at this machine's rate with "
        f"{near_one} worker(s): " + ", ".join(need)
    )


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--image-size", type=int, default=500, help="synthetic JPEG side (pixels)")
    p.add_argument("--input-size", type=int, default=224, help="network input side")
    p.add_argument("--classes", type=int, default=20)
    p.add_argument("--per-class", type=int, default=40, help="images per class (half train)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--batches", type=int, default=8, help="batches per loader timing")
    p.add_argument("--workers", type=int, nargs="+", help="worker counts (default: 0, 1, 2, "
                   "powers of two up to the CPUs)")  # fmt: skip
    p.add_argument("--write-workers", type=int, default=min(8, os.cpu_count() or 1),
                   help="processes writing the cache")  # fmt: skip
    p.add_argument("--repeats", type=int, default=3, help="interleaved rounds")
    p.add_argument("--target-rate", type=float, default=5300.0,
                   help="images/s to feed (A3M step on one H100, compiled, batch 256)")  # fmt: skip
    p.add_argument("--data-dir", help="reuse/keep the synthetic copy here (default: a temp dir)")
    p.add_argument("--smoke-test", action="store_true", help="tiny sizes, seconds")
    return p


def main(args: argparse.Namespace) -> None:
    if args.smoke_test:
        args.image_size, args.input_size, args.classes, args.per_class = 64, 32, 4, 8
        args.batch_size, args.batches, args.workers, args.repeats = 4, 2, [0, 1], 1
        args.write_workers = 0
    if args.workers is None:
        cpus = os.cpu_count() or 1
        args.workers = sorted({0, 1, 2, *(2**k for k in range(2, 8) if 2**k <= cpus)})
    # Enough batches that every worker delivers a few, and enough images for them.
    args.batches = max(args.batches, 3 * max(args.workers))
    need = 2 * args.batches * args.batch_size  # about half the images are for training
    args.per_class = max(args.per_class, math.ceil(need / args.classes))
    print(machine_line())
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.data_dir or tmp)
        start = time.perf_counter()
        if not (root / "CUB_200_2011").is_dir():
            write_synthetic(
                "cub", root, num_classes=args.classes, images_per_class=args.per_class,
                image_size=args.image_size,
            )  # fmt: skip
        print(
            f"synthetic CUB: {args.classes} classes x {args.per_class} images of "
            f"{args.image_size}px in {root} ({time.perf_counter() - start:.1f} s to write)"
        )
        with tempfile.TemporaryDirectory() as cache_dir:
            run(args, root, Path(cache_dir))


if __name__ == "__main__":
    main(get_args_parser().parse_args())
