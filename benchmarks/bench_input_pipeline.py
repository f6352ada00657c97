"""Input pipeline: images/s the dataset + transforms + DataLoader deliver, against the step's.

A synthetic CUB-200-2011 copy (``a3m.data.synthetic.write_synthetic``, in the public layout,
JPEG images of ``--image-size`` pixels: real CUB images are about 500x375) is read by the
trainer's own code: ``a3m.loaders.build_split`` (CUB loader, bounding-box crop, the paper's
training transform at 224x224: resize, random crop, flip, normalise) and
``a3m.loaders.build_loader`` with N workers (training loaders start their workers every epoch,
so the start-up is timed too). Against it, the training step of A3M ResNet-50 at the same batch
size on this machine's device (``bench_head_overhead.make_step``: on CUDA with bf16 autocast and
channels_last, as the trainer runs), interleaved in one run. Default worker counts: 0, 1, 2 and
powers of two up to the machine's CPUs.

Printed per worker count: steady images/s (after the first batch), the first batch's latency
(worker start-up), images/s per worker, and the ratio of loader to step images/s (target
>= 1.2: the loader must not be the bottleneck). Also printed: how many workers a GPU machine
would need to feed ``--target-rate`` images/s (bench_gpu_throughput.py's A3M rate) with 20%
to spare, from the measured per-worker rate.

    python benchmarks/bench_input_pipeline.py
    python benchmarks/bench_input_pipeline.py --workers 0 1 2 4 8 --target-rate 3000
    python benchmarks/bench_input_pipeline.py --smoke-test
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
from bench_head_overhead import build, make_config, make_step
from benchlib import machine_line, print_table, synchronize
from torch.utils.data import Dataset
from torchvision.transforms import v2

from a3m.config import RunConfig
from a3m.data._io import ImageDataset
from a3m.data.synthetic import write_synthetic
from a3m.data.transforms import build_transform
from a3m.loaders import build_loader, build_split


class BeforeDataset(Dataset):
    """The pipeline as it was before this change, for the comparison: PIL decodes, the
    PIL image becomes a tensor, and the workers convert to float and normalise (4x the bytes
    through the queues and pinned memory)."""

    def __init__(self, base: ImageDataset, transform: v2.Compose):
        self.base, self.transform = base, transform

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, dict]:
        b = self.base
        target = {"label": int(b.labels[i]), "attributes": torch.from_numpy(b.attributes[i])}
        return self.transform(b.load_image(i)), target | {"index": i}


def time_loader(
    cfg: RunConfig, workers: int, batches: int, before: bool = False
) -> tuple[float, float]:
    """(seconds to the first batch, seconds for the remaining ``batches - 1``) of a fresh
    training loader with ``workers`` workers, as an epoch of ``a3m.train.fit`` starts it
    (``before``: the pipeline before uint8 loading, :class:`BeforeDataset`)."""
    cfg = cfg.replace(num_workers=workers)
    dataset = build_split(cfg, "train", train=True)
    if before:
        float_transform = build_transform(cfg.dataset, True, tuple(cfg.input_size))
        dataset = BeforeDataset(dataset.dataset, float_transform)  # the split under the part
    loader = build_loader(dataset, cfg, train=True, device=torch.device("cpu"))
    start = time.perf_counter()
    it = iter(loader)
    next(it)
    first = time.perf_counter()
    for _ in range(batches - 1):
        next(it)
    end = time.perf_counter()
    del it
    return first - start, end - first


def run(args: argparse.Namespace, root: Path) -> None:
    size = (args.input_size, args.input_size)
    cfg = RunConfig(dataset="cub", data_root=str(root), input_size=size, batch_size=args.batch_size)
    n_train = len(build_split(cfg, "train", train=True))
    if n_train < args.batch_size * args.batches:
        raise SystemExit(
            f"the synthetic copy has {n_train} training images, fewer than --batches x "
            f"--batch-size = {args.batches * args.batch_size}: raise --per-class"
        )
    step_args = argparse.Namespace(
        backbone=args.backbone, d=512, batch_size=args.batch_size, num_attributes=28,
        size=args.input_size,
    )  # fmt: skip
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    step_cfg = make_config(step_args)
    images = torch.randn(args.batch_size, 3, *size, device=device)
    if device.type == "cuda":
        images = images.contiguous(memory_format=torch.channels_last)
    step = make_step(build(step_cfg, device, head_only=False), step_cfg, images, device)
    step()  # warm-up
    runs = [(w, False) for w in args.workers] + [(w, True) for w in args.before_workers]
    first: dict[tuple[int, bool], list[float]] = {r: [] for r in runs}
    steady: dict[tuple[int, bool], list[float]] = {r: [] for r in runs}
    steps: list[float] = []
    for _ in range(args.repeats):
        for w, before in runs:
            t_first, t_rest = time_loader(cfg, w, args.batches, before)
            first[w, before].append(t_first)
            steady[w, before].append((args.batches - 1) * args.batch_size / t_rest)
        synchronize(device)
        start = time.perf_counter()
        for _ in range(args.steps):
            step()
        synchronize(device)
        steps.append(args.steps * args.batch_size / (time.perf_counter() - start))
    step_rate = statistics.median(steps)
    print(
        f"training step (A3M {args.backbone}, batch {args.batch_size}, {args.input_size}px, "
        f"{device.type}): {step_rate:.3g} images/s (median of {args.repeats})"
    )
    rows = []
    for w, before in runs:
        rate = statistics.median(steady[w, before])
        rows.append(
            [
                "before (PIL, float in workers)" if before else "now (uint8)",
                w,
                rate,
                rate / max(w, 1),
                statistics.median(first[w, before]),
                rate / step_rate,
                rate / args.target_rate,
            ]
        )
    print_table(
        [
            "pipeline",
            "workers",
            "loader images/s (steady)",
            "images/s per worker",
            "first batch s",
            "loader / step",
            f"loader / {args.target_rate:g}",
        ],
        rows,
    )
    near_one = min(args.workers, key=lambda w: abs(w - 1))
    per_worker = statistics.median(steady[near_one, False]) / max(near_one, 1)
    need = math.ceil(1.2 * args.target_rate / per_worker)
    print(
        f"a GPU step at {args.target_rate:g} images/s needs the loader at "
        f"{1.2 * args.target_rate:g} images/s (ratio 1.2): about {need} workers at "
        f"{per_worker:.3g} images/s each (this machine's per-worker rate)"
    )


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--image-size", type=int, default=500, help="synthetic JPEG side (pixels)")
    p.add_argument("--input-size", type=int, default=224, help="network input side")
    p.add_argument("--classes", type=int, default=20)
    p.add_argument("--per-class", type=int, default=40, help="images per class (half train)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--batches", type=int, default=8, help="batches per loader timing")
    p.add_argument("--workers", type=int, nargs="+", help="worker counts (default: see above)")
    p.add_argument("--before-workers", type=int, nargs="*", default=None,
                   help="worker counts for the pipeline before uint8 loading (default: 1 and "
                   "the largest of --workers)")  # fmt: skip
    p.add_argument("--steps", type=int, default=1, help="training steps per timing")
    p.add_argument("--backbone", default="resnet50", help="of the training step")
    p.add_argument("--repeats", type=int, default=3, help="interleaved rounds")
    p.add_argument("--target-rate", type=float, default=3000.0,
                   help="GPU step images/s at its efficient batch (bench_gpu_throughput.py's "
                   "'a3m trainer' rate); the last column is the loader's rate over it")  # fmt: skip
    p.add_argument("--data-dir", help="reuse/keep the synthetic copy here (default: a temp dir)")
    p.add_argument("--smoke-test", action="store_true", help="tiny sizes, seconds")
    return p


def main(args: argparse.Namespace) -> None:
    if args.smoke_test:
        args.image_size, args.input_size, args.classes, args.per_class = 64, 32, 4, 8
        args.batch_size, args.batches, args.workers, args.repeats = 4, 2, [0, 1], 1
        args.before_workers = [1]
        args.backbone = "tiny"
    if args.workers is None:
        cpus = os.cpu_count() or 1
        args.workers = sorted({0, 1, 2, *(2**k for k in range(2, 8) if 2**k <= cpus)})
    if torch.cuda.is_available() and not args.smoke_test:
        args.steps = max(args.steps, 10)  # a GPU step is short: time several
    if args.before_workers is None:
        args.before_workers = sorted({min(1, max(args.workers)), max(args.workers)})
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
        run(args, root)


if __name__ == "__main__":
    main(get_args_parser().parse_args())
