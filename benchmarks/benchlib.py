"""What every benchmark shares: interleaved timing, medians, ratios and the machine's state.

The machine these scripts run on is often shared (other jobs on the same cores), so absolute
times drift by a factor of several within a minute. Every comparison is therefore measured in
one run with its candidates **interleaved**: round r times each candidate once, in an order
rotated per round, so a burst of load hits all of them alike. The reported ratio is the
median over rounds of the per-round ratio (candidates timed seconds apart see the same load),
printed with the ratio of the medians as a cross-check.

Nothing here asserts on a time: benchmarks print, tests only check that they run.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch


def machine_line() -> str:
    """One line naming the software, the cores, the accelerator and the current load."""
    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA"
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    return (
        f"python {platform.python_version()}, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), {os.cpu_count()} CPUs, {cuda}; "
        f"load average {load} (1/5/15 min)"
    )


def synchronize(device: torch.device | str) -> None:
    """Wait for queued GPU work (no-op on CPU), so a wall-clock time covers it."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


@dataclass
class Timings:
    """Seconds per call of each candidate, one entry per round (same round = same index)."""

    times: dict[str, list[float]]

    def median(self, name: str) -> float:
        return statistics.median(self.times[name])

    def ratio(self, name: str, reference: str) -> float:
        """Median over rounds of time(name) / time(reference) in the same round."""
        pairs = zip(self.times[name], self.times[reference], strict=True)
        return statistics.median(a / b for a, b in pairs)

    def ratio_of_medians(self, name: str, reference: str) -> float:
        return self.median(name) / self.median(reference)

    def spread(self, name: str) -> str:
        """min-max of the rounds, to show how noisy the machine was."""
        values = self.times[name]
        return f"{min(values):.4g}-{max(values):.4g}"


def interleaved(
    candidates: Mapping[str, Callable[[], object]],
    *,
    repeats: int,
    warmup: int = 1,
    device: torch.device | str = "cpu",
    inner: int = 1,
) -> Timings:
    """Time each candidate ``repeats`` times, interleaved and in rotating order.

    Args:
        candidates: name -> function of no argument doing one unit of work.
        repeats: rounds; each round times every candidate once.
        warmup: untimed calls of each candidate first (allocator, oneDNN/cuDNN plans, caches).
        device: synchronised around each timed call when it is a GPU.
        inner: calls per timing (for calls far shorter than the clock's resolution); the time
            reported is per call.

    Returns:
        the :class:`Timings` in seconds per call.
    """
    names = list(candidates)
    for name in names:
        for _ in range(warmup):
            candidates[name]()
    synchronize(device)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            synchronize(device)
            start = time.perf_counter()
            for _ in range(inner):
                candidates[name]()
            synchronize(device)
            times[name].append((time.perf_counter() - start) / inner)
    return Timings(times)


def print_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A plain fixed-width table (also valid Markdown), for copying into RESULTS.md."""
    cells = [[str(c) for c in header]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for i, row in enumerate(cells):
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
        if i == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def kernel_seconds(fn: Callable[[], object], calls: int) -> float:
    """GPU time per call of ``fn`` (``calls`` calls): the kernels' time summed by
    ``torch.profiler``, i.e. how long the GPU is busy, however long the host takes to queue
    the work. On a launch-bound step this is well below the wall time; it is the floor that
    removing the launch overhead (CUDA graphs, several trials per GPU) can reach."""
    from torch.profiler import ProfilerActivity, profile

    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(calls):
            fn()
        torch.cuda.synchronize()
    kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    return sum(getattr(e, "device_time", 0.0) for e in kernels) / 1e6 / calls
