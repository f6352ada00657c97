"""The rates file ``paper_budget.py`` prices the studies from (``--rates``, JSON;
``rates_h100.json`` is one): seconds per batch of each configuration (keyed by
:func:`step_rates.step_key`), the per-trial, per-epoch and metric overheads, the loader's
images/s per worker, and the speed-ups of the options a plan may use.

- :func:`load_rates` reads one into a :class:`RateTable`; :func:`write_rates` writes one;
- :func:`merge_options` adds the speed-ups measured by ``bench_shared_gpu.py --json`` and
  ``bench_gpu_throughput.py --json``, and loader rates (``--options``);
- :func:`extrapolate_rows` gives every configuration a row: its measured fields kept, the
  others extrapolated from measured anchors of the same head (``step_rates.extrapolate``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from step_rates import StepCounts, StepTimes, count_step, extrapolate

from a3m.config import RunConfig

# -- reading, merging and writing --------------------------------------------------------------
TIME_FIELDS = ("train_s", "eval_s", "train_gpu_s", "eval_gpu_s")  # StepTimes' order


@dataclass(frozen=True)
class RateTable:
    """A rates file: seconds per batch per configuration, the overheads, the speed-ups."""

    path: str
    rows: dict[str, dict[str, Any]]
    overheads: dict[str, Any]
    loader: dict[str, Any]
    speedups: dict[str, Any]
    meta: dict[str, Any]

    def times(self, key: str) -> StepTimes:
        """The configuration's :class:`StepTimes`; a missing one is an error naming it."""
        row = self.rows.get(key)
        if row is None:
            raise KeyError(
                f"{self.path}: no rates for configuration {key!r}; measure it "
                "(--measure on a GPU) or refill the file (--extrapolate)"
            )
        missing = [f for f in TIME_FIELDS if not isinstance(row.get(f), (int, float))]
        if missing:
            raise ValueError(f"{self.path}: row {key!r} lacks {missing} (--extrapolate fills them)")
        return StepTimes(*(float(row[f]) for f in TIME_FIELDS))

    def measured(self, key: str) -> bool:
        """Whether the configuration's training step was measured (not extrapolated)."""
        return "train_s" in self.rows.get(key, {}).get("measured", ())

    def speedup(self, name: str, n: int = 1) -> float | None:
        """Speed-up of an option over one eager trial per GPU (None: not measured)."""
        if name == "trials_per_gpu":
            return 1.0 if n == 1 else self.speedups["trials_per_gpu"].get(str(n))
        return self.speedups.get(name)


def load_rates(path: str | Path) -> RateTable:
    """Read a rates file (the format of ``rates_h100.json``)."""
    data = json.loads(Path(path).read_text())
    for section in ("rows", "overheads", "loader", "speedups"):
        if section not in data:
            raise ValueError(f"{path}: missing section {section!r}")
    meta = {k: v for k, v in data.items() if k not in ("rows", "overheads", "loader", "speedups")}
    return RateTable(str(path), data["rows"], data["overheads"], data["loader"],
                     data["speedups"], meta)  # fmt: skip


def merge_options(table: RateTable, paths: Iterable[str]) -> RateTable:
    """Speed-ups measured by ``bench_shared_gpu.py --json`` (aggregate images/s of N trials on
    one GPU) and ``bench_gpu_throughput.py --json`` (batch-32 A3M step, eager and CUDA graphs),
    and loader rates (``{"kind": "loader", "cache_per_worker": images/s}``, e.g. from
    bench_cache.py's table)."""
    speedups = json.loads(json.dumps(table.speedups))  # a copy
    loader = dict(table.loader)
    for path in paths:
        data = json.loads(Path(path).read_text())
        if data.get("kind") == "loader":
            loader |= {k: v for k, v in data.items() if k.endswith("_per_worker")}
            loader["source"] = f"{loader.get('source', '')} Updated from {path}."
        elif data.get("kind") == "shared_gpu":
            agg = {int(n): v for n, v in data["aggregate_images_per_s"].items()}
            for n, value in agg.items():
                if n > 1 and 1 in agg:
                    speedups["trials_per_gpu"][str(n)] = value / agg[1]
            speedups["trials_per_gpu_source"] = f"measured: {path} ({data.get('config', '')})"
        elif data.get("kind") == "gpu_throughput":
            rates = {(r["mode"], r["candidate"]): r["images_per_s"] for r in data["rows"]}
            if ("eager", "a3m") in rates and ("reduce-overhead", "a3m") in rates:
                speedups["reduce-overhead"] = (
                    rates[("reduce-overhead", "a3m")] / rates[("eager", "a3m")]
                )
                speedups["compile_s"] = data.get("compile_s", {}).get("a3m")
                speedups["reduce-overhead_source"] = f"measured: {path}"
        else:
            raise ValueError(f"{path}: expected kind 'shared_gpu', 'gpu_throughput' or 'loader'")
    return replace(table, speedups=speedups, loader=loader)


def write_rates(path: str, table: RateTable, rows: dict[str, dict[str, Any]]) -> None:
    """``table`` with ``rows`` as a rates file."""
    data = {**table.meta, "rows": rows, "overheads": table.overheads, "loader": table.loader,
            "speedups": table.speedups}  # fmt: skip
    Path(path).write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {path} ({len(rows)} configurations)")


# -- extrapolating -----------------------------------------------------------------------------
def _anchor(rows: dict[str, dict[str, Any]], head: str, field: str) -> str:
    """The measured row whose ``field`` anchors the extrapolation of a ``head``: the same head
    on ResNet-50 at the smallest input, else any measured row of that head, else of ``a3m``."""
    for wanted in (head, "a3m", "baseline1"):
        found = [k for k, r in rows.items() if field in r.get("measured", ())
                 and k.split()[2] == wanted]  # fmt: skip
        if found:
            return min(found, key=lambda k: (k.split()[1] != "resnet50", _pixels(k)))
    raise ValueError(f"no measured {field} to extrapolate a {head!r} configuration from")


def _pixels(key: str) -> int:
    """Input pixels of a :func:`step_rates.step_key`."""
    h, w = key.split()[4].split("x")
    return int(h) * int(w)


def extrapolate_rows(
    configs: dict[str, RunConfig], rows: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """A row for every configuration: measured fields kept, the others extrapolated from
    anchors (``step_rates.extrapolate``) with the operator and FLOP counts recorded."""
    out = {}
    for key, cfg in sorted(configs.items()):
        old = rows.get(key, {})
        measured = list(old.get("measured", []))
        counts = StepCounts(**old["counts"]) if "counts" in old else count_step(cfg)
        out[key] = {"source": old.get("source", ""), "measured": measured,
                    **{f: old[f] for f in measured}, "counts": counts.__dict__}  # fmt: skip
    for key, row in out.items():
        if set(row["measured"]) >= set(TIME_FIELDS):
            continue
        head = key.split()[2]
        launch, gpu = _anchor(out, head, "train_s"), _anchor(out, head, "train_gpu_s")
        anchor = StepTimes(out[launch]["train_s"], 0.0, out[gpu]["train_gpu_s"], 0.0)
        anchor_counts = StepCounts(out[launch]["counts"]["train_ops"],
                                   out[gpu]["counts"]["train_gflop"], 0, 0.0)  # fmt: skip
        guess = extrapolate(StepCounts(**row["counts"]), anchor, anchor_counts)
        row |= {k: v for k, v in guess.__dict__.items() if k not in row["measured"]}
        row |= {"launch_anchor": launch, "gpu_anchor": gpu}
        if not row["measured"]:
            row["source"] = (
                f"extrapolated from the launch time of '{launch}' (x operators) and the GPU "
                f"time of '{gpu}' (x FLOPs): step = max of the two (step_rates.extrapolate)"
            )
    return out
