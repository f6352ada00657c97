"""GPU-hours of every study at the paper's budget, from step rates measured on a GPU.

The arithmetic, each number from where the code keeps it (nothing copied):

- **trials**: each ``studies/*.py``'s ``SPEC`` (grid x points x seeds, as
  ``a3m.study.spec.grid_trials`` expands them without ``--synthetic``); every study runs with
  at least ``--seeds`` seeds (3: the issue's budget) or its own default when larger (the
  8-seed control studies). An Optuna study runs its ``num_samples`` trials with one seed;
  its categorical axes (backbone, d) are priced as equally likely choices.
- **work per trial**: ``RunConfig``'s epochs (60, the paper's) and batch (32); per epoch
  floor(train images / batch) steps (the loader drops the last partial batch), and one
  evaluation forward pass over the protocol's splits every ``eval_every`` epochs and at the
  last (``a3m.train.fit``); image counts from the registry's public counts
  (``a3m.data.registry``); a search's held-out part (``val_fraction``) trains less and
  evaluates more.
- **seconds per batch** (training step and evaluation batch) of each configuration
  (:func:`step_rates.step_key`) from a rates file (``--rates``, JSON), plus the per-trial,
  per-epoch and metric overheads it lists. ``rates_h100.json`` holds the H100 figures of
  benchmarks/RESULTS.md (25 November 2026) and, for the configurations nobody measured,
  extrapolations (``step_rates.extrapolate``), each row saying which.
- **GPU-hours** = the trials' wall time on one GPU / trials per GPU.

The plan: for trials per GPU (1, 2, 4), compile mode (eager, CUDA graphs), input (JPEG decode,
uint8 cache) and evaluation frequency (every epoch, every 10, the last only), the GPU-hours
from the speed-ups the rates file (or ``--options`` JSON from bench_shared_gpu.py /
bench_gpu_throughput.py) records; an option nobody measured is listed as pending.

    python benchmarks/paper_budget.py                                # the budget, H100 rates
    python benchmarks/paper_budget.py --detail                       # + every configuration
    python benchmarks/paper_budget.py --measure --write-rates r.json # on a GPU: measure first
    python benchmarks/paper_budget.py --extrapolate benchmarks/rates_h100.json  # refill rows
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import math
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

import torch
from bench_head_overhead import CUB_ATTRIBUTE_CLASSES
from benchlib import machine_line, print_table
from rates_file import (  # the rates file: read, merged, extrapolated, written
    TIME_FIELDS,
    RateTable,
    extrapolate_rows,
    load_rates,
    merge_options,
    write_rates,
)
from step_rates import count_step, measure, step_key

from a3m.config import RunConfig
from a3m.data import compcars, market1501
from a3m.data.registry import DatasetEntry, get_entry
from a3m.data.tasks import get_task
from a3m.loaders import MAX_AUTO_WORKERS

ROOT = Path(__file__).resolve().parents[1]
STUDIES_DIR = ROOT / "studies"
DEFAULT_RATES = Path(__file__).resolve().parent / "rates_h100.json"

# The studies behind the paper's tables and figures (their docstrings say which); the others
# (controls, diagnosis, sweeps beyond the paper) are priced too, in the "all studies" total.
PAPER_STUDIES = (
    "ablation_market",  # Table 1, Fig. 5
    "ablation_cub",  # Table 2, Fig. 8
    "ablation_compcars",  # Table 3
    "retrieval_cub",  # Table 4
    "retrieval_cars196",  # Table 5
    "alpha_beta_cub",  # Fig. 7
)

# Attribute class counts per head, as the loaders report them for the public releases.
ATTRIBUTE_CLASSES: dict[str, tuple[int, ...]] = {
    "cub": CUB_ATTRIBUTE_CLASSES,
    "market1501": tuple(market1501.ATTRIBUTE_CLASSES),
    "compcars": tuple(compcars.ATTRIBUTE_CLASSES),
}
# The registry count that is the training split's number of classes, by dataset kind.
_CLASS_COUNTS = ("classes", "models", "train ids", "train classes")


# -- trials ------------------------------------------------------------------------------------
def load_specs(names: Iterable[str] | None = None) -> dict[str, Any]:
    """``SPEC`` of each ``studies/<name>.py`` (all of them by default), by study name."""
    paths = sorted(STUDIES_DIR.glob("*.py"))
    wanted = set(names) if names else {p.stem for p in paths}
    unknown = wanted - {p.stem for p in paths}
    if unknown:
        raise SystemExit(f"--studies: no studies/{sorted(unknown)[0]}.py; have "
                         f"{', '.join(p.stem for p in paths)}")  # fmt: skip
    specs = {}
    for path in paths:
        if path.stem in wanted:
            module_spec = importlib.util.spec_from_file_location(f"study_{path.stem}", path)
            module = importlib.util.module_from_spec(module_spec)
            try:
                module_spec.loader.exec_module(module)  # type: ignore[union-attr]
            except ImportError as e:  # e.g. Ray missing on a bare GPU machine: price the rest
                print(f"warning: studies/{path.name} not priced: {e}", file=sys.stderr)
                continue
            specs[path.stem] = module.SPEC
    return specs


def num_classes(entry: DatasetEntry) -> int:
    """The training split's classes, from the registry's public counts."""
    for name in _CLASS_COUNTS:
        if entry.public_counts.get(name):
            return int(entry.public_counts[name])  # type: ignore[arg-type]
    raise ValueError(f"registry entry {entry.name!r} has none of the counts {_CLASS_COUNTS}")


def resolve(flat: Mapping[str, Any]) -> RunConfig:
    """A trial's RunConfig resolved against its dataset's public release (classes, attribute
    heads, the paper's input size), as ``fit`` resolves it against the files."""
    cfg = RunConfig.from_flat_dict(dict(flat))
    entry = get_entry(cfg.dataset)
    attrs = ATTRIBUTE_CLASSES.get(cfg.dataset, ()) if entry.attribute_heads else ()
    if len(attrs) != entry.attribute_heads:
        raise ValueError(
            f"{cfg.dataset}: {len(attrs)} attribute class counts in ATTRIBUTE_CLASSES, the "
            f"registry says {entry.attribute_heads} heads"
        )
    return cfg.resolve(num_classes(entry), attrs, entry.input_size)


@dataclass(frozen=True)
class Trial:
    """One trial's configuration; ``weight`` < 1 for one of an Optuna study's equally likely
    choices (their weights add up to its ``num_samples``)."""

    config: RunConfig
    weight: float = 1.0


def study_trials(spec: Any, seeds: int) -> list[Trial]:
    """The trials ``spec`` runs at the paper's budget (no ``--synthetic``) with ``--seeds``."""
    from a3m.study.spec import grid_trials

    base = dict(spec.base)
    if spec.optuna_space is not None:
        return _optuna_trials(spec, base)
    count = max(seeds, spec.seeds)
    return [Trial(resolve(base | t)) for t in grid_trials(spec, base, synthetic=False, seeds=count)]


def _optuna_trials(spec: Any, base: dict[str, Any]) -> list[Trial]:
    """``num_samples`` trials, one seed each; what changes the cost must be a categorical axis
    (each choice equally likely), the rest (lr, alpha, beta) costs the same at any value."""
    from a3m.study.spec import SEARCH_VAL_FRACTION as held_out

    base = {"val_fraction": held_out} | base  # a3m.study.spec.hold_out_for_search
    choices = {k: v.categories for k, v in spec.optuna_space.items() if hasattr(v, "categories")}
    costly = {"dataset", "backbone", "variant", "d", "input_size", "batch_size", "epochs",
              "branch_bn_relu", "attr_pooling", "eval_every"}  # fmt: skip
    numeric = sorted((set(spec.optuna_space) - set(choices)) & costly)
    if numeric:
        raise ValueError(f"study {spec.name!r}: cannot price the continuous axes {numeric}")
    combos = list(itertools.product(*choices.values()))
    weight = spec.num_samples / len(combos)
    return [Trial(resolve(base | dict(zip(choices, c, strict=True))), weight) for c in combos]


# -- work --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Work:
    """What one trial computes, by ``a3m.train.fit``'s loop."""

    epochs: int
    train_images: int  # per epoch: whole batches only (drop_last)
    eval_images: int  # per evaluation: the protocol's splits, plus the held-out part
    task: str

    def evaluations(self, eval_every: int) -> int:
        """Epochs that evaluate: every ``eval_every``-th and the last."""
        epochs = range(1, self.epochs + 1)
        return sum(1 for e in epochs if e % eval_every == 0 or e == self.epochs)


def trial_work(cfg: RunConfig) -> Work:
    """:class:`Work` of ``cfg`` from the registry's public image counts."""
    counts = get_entry(cfg.dataset).public_counts
    train = int(counts["train images"])  # type: ignore[arg-type]
    held = round(cfg.val_fraction * train)  # stratified per class: about this many
    evals = sum(int(counts[f"{s} images"]) for s in get_task(cfg.task).eval_splits)  # type: ignore[arg-type]
    steps = (train - held) // cfg.batch_size
    return Work(cfg.epochs, steps * cfg.batch_size, evals + held, cfg.task)


# -- the budget --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    """How the trials run: the options the budget is minimised over."""

    trials_per_gpu: int = 1
    compile_mode: str = "eager"  # or "reduce-overhead" (CUDA graphs)
    input: str = "jpeg"  # or "cache" (decoded uint8 images)
    eval_every: int | None = None  # None: the trials' own (RunConfig: every epoch)

    def __str__(self) -> str:
        every = {None: "each epoch", 10: "every 10 epochs"}.get(self.eval_every, "last epoch")
        return f"{self.trials_per_gpu}/GPU, {self.compile_mode}, {self.input}, eval {every}"


def missing_factors(table: RateTable, plan: Plan) -> list[str]:
    """The options of ``plan`` the rates file has no measurement for."""
    missing = []
    if table.speedup("trials_per_gpu", plan.trials_per_gpu) is None:
        missing.append(f"{plan.trials_per_gpu} trials per GPU")
    if plan.compile_mode != "eager" and table.speedup(plan.compile_mode) is None:
        missing.append(plan.compile_mode)
    if table.loader.get(f"{plan.input}_per_worker") is None:
        missing.append(f"{plan.input} loader")
    return missing


def trial_seconds(trial: Trial, table: RateTable, plan: Plan) -> float:
    """GPU-seconds of one trial: its wall time under ``plan`` / the trials sharing the GPU.

    Per batch of B images, with t the row's seconds and g its GPU-bound seconds: N trials on
    one GPU together run at min(B/t * s_N * s_c, B/g) images/s (s_N, s_c: the measured
    speed-ups of N trials and of the compile mode; the trainer evaluates the eager model, so
    s_c = 1 there), each at 1/N of it, and no faster than its loader (workers x images/s per
    worker). Wall = trial overhead (+ compile) + epochs x (train images / rate + epoch
    overhead) + evaluations x (eval images / rate + metric) + the last evaluation's extra."""
    cfg, n = trial.config, plan.trials_per_gpu
    times = table.times(step_key(cfg))
    work = trial_work(cfg)
    batch = cfg.batch_size
    s_n = table.speedup("trials_per_gpu", n)
    s_c = 1.0 if plan.compile_mode == "eager" else table.speedup(plan.compile_mode)
    if s_n is None or s_c is None:
        raise ValueError(f"{table.path}: no speed-up measured for {plan}")
    loader = loader_rate(table, plan)
    train_rate = min(min(batch / times.train_s * s_n * s_c, batch / times.train_gpu_s) / n, loader)
    eval_rate = min(min(batch / times.eval_s * s_n, batch / times.eval_gpu_s) / n, loader)
    oh = table.overheads
    evaluations = work.evaluations(plan.eval_every or cfg.eval_every)
    compile_s = (table.speedups.get("compile_s") or 0.0) if plan.compile_mode != "eager" else 0.0
    wall = (
        oh["trial_s"]
        + compile_s
        + work.epochs * (work.train_images / train_rate + oh["epoch_s"])
        + evaluations * (work.eval_images / eval_rate + oh["metric_s"].get(work.task, 0.0))
        + oh["final_metric_s"].get(work.task, 0.0)
    )
    return wall / n * trial.weight


def loader_rate(table: RateTable, plan: Plan) -> float:
    """Images/s one trial's loader delivers: the trainer's auto workers (its CPUs but one, at
    most MAX_AUTO_WORKERS; a trial gets the GPU node's CPUs per GPU / trials per GPU) times
    a worker's images/s."""
    cpus = table.loader["cpus_per_gpu"] // plan.trials_per_gpu
    workers = max(1, min(MAX_AUTO_WORKERS, cpus - 1))
    return workers * table.loader[f"{plan.input}_per_worker"]


def bound_seconds(trial: Trial, table: RateTable) -> float:
    """GPU-seconds of a trial whose every batch runs at the GPU-bound rate (no launch
    overhead at all, the loader of one trial per GPU): a floor for any plan at this batch."""
    cfg, times, work = trial.config, table.times(step_key(trial.config)), trial_work(trial.config)
    loader = loader_rate(table, Plan())
    train = work.train_images / min(cfg.batch_size / times.train_gpu_s, loader)
    evals = work.evaluations(cfg.eval_every)
    ev = work.eval_images / min(cfg.batch_size / times.eval_gpu_s, loader)
    return (work.epochs * train + evals * ev) * trial.weight


def all_plans(epochs: int) -> list[Plan]:
    """Every combination the budget is minimised over."""
    return [
        Plan(n, mode, source, every)
        for n in (1, 2, 4)
        for mode in ("eager", "reduce-overhead")
        for source in ("jpeg", "cache")
        for every in (None, 10, epochs)
    ]


# -- measuring ---------------------------------------------------------------------------------
def measure_rows(
    configs: dict[str, RunConfig],
    order: list[str],
    *,
    device: torch.device,
    steps: int,
    max_configs: int | None = None,
    time_limit: float | None = None,
) -> dict[str, dict[str, Any]]:
    """Rows measured on ``device`` for the configurations in ``order`` (most GPU-hours first),
    until ``max_configs`` of them, or until the next one (taken to last as long as the longest
    so far) would end past ``time_limit`` seconds."""
    rows = {}
    start, longest = time.perf_counter(), 0.0
    name = torch.cuda.get_device_name(0) if device.type == "cuda" else "the CPU"
    for i, key in enumerate(order[:max_configs]):
        if time_limit is not None and time.perf_counter() - start + longest > time_limit:
            print(f"time limit: measured {i} of {len(order)} configurations")
            break
        t0 = time.perf_counter()
        times = measure(configs[key], device, steps=steps)
        rows[key] = {
            "source": f"measured on {name} on {date.today()}: paper_budget.py --measure "
            f"--steps {steps} (train_one_epoch and predict; GPU time by torch.profiler)",
            "measured": list(TIME_FIELDS),
            **times.__dict__,
        }
        print(f"  {key}: train {times.train_s * 1e3:.2f} ms (GPU {times.train_gpu_s * 1e3:.2f}), "
              f"eval {times.eval_s * 1e3:.2f} ms (GPU {times.eval_gpu_s * 1e3:.2f}) "
              f"[{time.perf_counter() - t0:.1f} s]", flush=True)  # fmt: skip
        longest = max(longest, time.perf_counter() - t0)
    return rows


def measured_table(
    trials: dict[str, list[Trial]], table: RateTable, args: argparse.Namespace
) -> RateTable:
    """``--measure``: the configurations of the paper's studies, then the others, each group
    with the most GPU-hours (by ``table``) first; then every other row extrapolated from this
    machine's measurements (the table's own figures, from another machine, are dropped; its
    operator and FLOP counts are kept)."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    configs = {step_key(t.config): t.config for ts in trials.values() for t in ts}
    hours = dict.fromkeys(configs, 0.0)
    for ts in trials.values():
        for t in ts:
            key = step_key(t.config)
            hours[key] += trial_seconds(t, table, Plan()) if key in table.rows else math.inf
    paper = {step_key(t.config) for n in PAPER_STUDIES for t in trials.get(n, [])}
    order = sorted(configs, key=lambda k: (k not in paper, -hours[k]))
    print(f"\n== measuring up to {len(order)} configurations on {device}: the paper's, then "
          "the others, most GPU-h first ==")  # fmt: skip
    rows = measure_rows(configs, order, device=device, steps=args.steps,
                        max_configs=args.max_configs, time_limit=args.time_limit)  # fmt: skip
    if not rows:
        return table
    counts = {k: {"counts": r["counts"]} for k, r in table.rows.items() if "counts" in r}
    for key, row in rows.items():
        row |= counts.get(key, {})
    name = torch.cuda.get_device_name(0) if device.type == "cuda" else "CPU"
    about = (
        f"Seconds per batch of every study configuration, {len(rows)} of them measured on "
        f"{name} by paper_budget.py --measure (their 'measured' list is full), the others "
        "extrapolated from those (step_rates.extrapolate; 'launch_anchor', 'gpu_anchor')."
    )
    meta = table.meta | {"about": about, "device": name, "recorded": str(date.today())}
    out = args.write_rates or "rates_measured.json"
    write_rates(out, replace(table, meta=meta), extrapolate_rows(configs, counts | rows))
    return load_rates(out)


# -- printing ----------------------------------------------------------------------------------
def budget(trials: dict[str, list[Trial]], table: RateTable, plan: Plan) -> dict[str, float]:
    """GPU-hours of each study under ``plan``."""
    return {
        name: sum(trial_seconds(t, table, plan) for t in ts) / 3600 for name, ts in trials.items()
    }


def study_row(name: str, trials: list[Trial], table: RateTable, plan: Plan) -> list[Any]:
    """A row of the budget's table: trials, configurations, GPU-h, the share of them on
    measured rates, and the GPU-bound floor."""
    seconds = [trial_seconds(t, table, plan) for t in trials]
    hours = sum(seconds) / 3600
    measured = sum(
        s for s, t in zip(seconds, trials, strict=True) if table.measured(step_key(t.config))
    )
    floor = sum(bound_seconds(t, table) for t in trials) / 3600
    return [
        name,
        "yes" if name in PAPER_STUDIES else "",
        round(sum(t.weight for t in trials), 2),
        len({step_key(t.config) for t in trials}),
        hours,
        f"{measured / 3600 / hours:.0%}" if hours else "-",
        floor,
    ]


def print_budget(
    trials: dict[str, list[Trial]], table: RateTable, seeds: int, detail: bool
) -> None:
    """The budget of every study (one eager trial per GPU), then the plans."""
    plan = Plan()
    everything = [t for ts in trials.values() for t in ts]
    epochs = sorted({t.config.epochs for t in everything})
    batches = sorted({t.config.batch_size for t in everything})
    print(f"\n== GPU-hours at the paper's budget: epochs {epochs}, batch {batches}, at least "
          f"{seeds} seeds; {plan}; rates: {table.path} ==")  # fmt: skip
    paper = [n for n in trials if n in PAPER_STUDIES]
    rows = [study_row(name, ts, table, plan) for name, ts in trials.items()]
    for label, names in (("paper's tables and figures", paper), ("all studies", list(trials))):
        rows.append(study_row(f"**{label}**", [t for n in names for t in trials[n]], table, plan))
    print_table(["study", "paper", "trials", "configurations", "GPU-h", "on measured rates",
                 "GPU-bound floor h"], rows)  # fmt: skip
    print("(Optuna: num_samples trials, one seed each, its choices equally likely. 'on measured "
          "rates': share of the GPU-h whose training step was measured, the rest extrapolated. "
          "Floor: every batch at its GPU time, no overheads.)")  # fmt: skip
    if detail:
        print_detail(trials, table, plan)
    print_plans(trials, table, paper)


def print_detail(trials: dict[str, list[Trial]], table: RateTable, plan: Plan) -> None:
    """A row per configuration: its trials, GPU-hours and rates (most GPU-hours first)."""
    per_key: dict[str, list[Any]] = {}
    for t in (t for ts in trials.values() for t in ts):
        entry = per_key.setdefault(step_key(t.config), [t.config.batch_size, 0.0, 0.0])
        entry[1] += t.weight
        entry[2] += trial_seconds(t, table, plan) / 3600
    rows = []
    for key, (b, count, hours) in sorted(per_key.items(), key=lambda kv: -kv[1][2]):
        t = table.times(key)
        rows.append([key, round(count, 2), hours, b / t.train_s, b / t.train_gpu_s, b / t.eval_s,
                     "measured" if table.measured(key) else "extrapolated"])  # fmt: skip
    print("\n== every configuration (most GPU-hours first) ==")
    print_table(["configuration", "trials", "GPU-h", "train img/s", "GPU-bound train img/s",
                 "eval img/s", "rates"], rows)  # fmt: skip


def print_plans(trials: dict[str, list[Trial]], table: RateTable, paper: list[str]) -> None:
    """Every plan whose speed-ups are measured, the fewest GPU-hours for the paper first."""
    epochs = max(t.config.epochs for ts in trials.values() for t in ts)
    rows, pending = [], {}
    for plan in all_plans(epochs):
        missing = missing_factors(table, plan)
        if missing:
            pending.setdefault(", ".join(missing), []).append(plan)
            continue
        hours = budget(trials, table, plan)
        rows.append([str(plan), sum(hours[n] for n in paper), sum(hours.values())])
    rows.sort(key=lambda r: r[1])
    print("\n== plans (GPU-hours; the best first) ==")
    print_table(["plan", "paper's tables and figures", "all studies"], rows)
    if rows:
        print(f"best: {rows[0][0]}: {rows[0][1]:.1f} GPU-h for the paper, "
              f"{rows[0][2]:.1f} for all studies")  # fmt: skip
    if pending:
        needed = sorted({m for key in pending for m in key.split(", ")})
        count = sum(len(plans) for plans in pending.values())
        print(f"pending: {count} of {count + len(rows)} plans need a measurement of "
              f"{', '.join(needed)} (run_gpu.sh LOGDIR issue15; --options)")  # fmt: skip
    print(
        "(eval every 10 / the last epoch only: the reported final scores are unchanged, the "
        "per-epoch curves are coarser; ASHA needs an evaluation at each rung)"
    )


# -- main --------------------------------------------------------------------------------------
def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rates", default=str(DEFAULT_RATES), help="rates file (JSON)")
    p.add_argument("--options", nargs="*", default=[], metavar="JSON",
                   help="speed-ups measured by bench_shared_gpu.py / bench_gpu_throughput.py "
                   "--json")  # fmt: skip
    p.add_argument("--seeds", type=int, default=3, help="at least this many seeds per config")
    p.add_argument("--studies", nargs="*", help="study names (default: every studies/*.py)")
    p.add_argument("--detail", action="store_true", help="a row per configuration")
    p.add_argument("--measure", action="store_true",
                   help="measure the configurations on this machine's GPU first")  # fmt: skip
    p.add_argument("--steps", type=int, default=200, help="--measure: batches per timing")
    p.add_argument(
        "--max-configs", type=int, help="--measure: at most this many (most GPU-h first)"
    )
    p.add_argument("--time-limit", type=float, help="--measure: stop starting new ones after S s")
    p.add_argument("--write-rates", help="--measure: write the updated rates file here")
    p.add_argument("--extrapolate", metavar="OUT",
                   help="write --rates with a row for every configuration (CPU)")  # fmt: skip
    p.add_argument("--smoke-test", action="store_true", help="CPU, seconds: code check only")
    return p


def main(args: argparse.Namespace) -> None:
    print(machine_line())
    table = merge_options(load_rates(args.rates), args.options)
    trials = {
        name: study_trials(spec, args.seeds) for name, spec in load_specs(args.studies).items()
    }
    if not trials:
        raise SystemExit("no study could be loaded (see the warnings above)")
    if args.smoke_test:
        smoke_measure()
    if args.extrapolate:
        configs = {step_key(t.config): t.config for ts in trials.values() for t in ts}
        write_rates(args.extrapolate, table, extrapolate_rows(configs, table.rows))
        table = load_rates(args.extrapolate)
    if args.measure:
        table = measured_table(trials, table, args)
    print_budget(trials, table, args.seeds, args.detail)


def smoke_measure() -> None:
    """The measuring and counting code on the CPU at a tiny size (a code check, not a rate)."""
    cfg = RunConfig(dataset="cub", backbone="tiny", d=16, batch_size=4, input_size=(32, 32))
    cfg = cfg.resolve(200, CUB_ATTRIBUTE_CLASSES, (32, 32))
    times = measure(cfg, torch.device("cpu"), steps=2, warmup=1)
    counts = count_step(cfg)
    print(f"smoke test (CPU, tiny; not a measurement): {step_key(cfg)}: {times}, {counts}")


if __name__ == "__main__":
    main(get_args_parser().parse_args())
