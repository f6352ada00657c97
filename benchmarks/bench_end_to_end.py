"""End to end: wall time of ``python studies/alpha_beta_cub.py --synthetic`` and its overhead.

Runs the study's own command line in a subprocess (``--tracking-uri``, ``--storage-path`` and
``--out`` point into a temporary folder, so every run starts from an empty MLflow store; the
after-study report is skipped with ``--no-report`` unless ``--with-report``) and times it. Then
it reads from MLflow each trial's run (created and ended by the trial) and the trainer's own
per-epoch ``train_time_s`` and ``eval_time_s``, and splits the machine's trial slots
(concurrency = CPUs / CPUs per trial, capped at the number of trials) over the wall time:

- **training**: the trainer's own time, summed over trials (what a study is for);
- **start-up**: before the first trial's run exists: interpreter and imports, ``ray.init``,
  the MLflow store (created on first use) and parent run, Tune's set-up, the trial worker's
  start and imports (phases timed from the driver's log and the parent run);
- **in-trial, not training**: the rest of each trial's run: building datasets and model,
  per-epoch checkpoints, MLflow logging, Tune reports, the final attention maps;
- **idle slots**: slots without a trial between the first start and the last end (a worker
  being replaced, the tail when 9 trials share 2 slots);
- **shutdown**: after the last trial: leaderboard, summary, Ray's shutdown.

Overhead share = 1 - training / (wall x slots); target <= 15%.

    python benchmarks/bench_end_to_end.py                 # the study as the README runs it
    python benchmarks/bench_end_to_end.py --epochs 24     # longer trials, same fixed costs
    python benchmarks/bench_end_to_end.py --compare-no-reuse   # + a worker process per trial
    python benchmarks/bench_end_to_end.py --smoke-test    # 1 point, 1 epoch
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from benchlib import machine_line, print_table

ROOT = Path(__file__).resolve().parents[1]
RAY_STARTED = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}).*Started a local Ray instance")


def run_study(args: argparse.Namespace, tmp: Path, script: Path) -> tuple[float, float, float, str]:
    """(start, end) epoch seconds of the study's process, its wall seconds, its stderr."""
    tmp.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable, str(script), "--synthetic",
        "--tracking-uri", f"sqlite:///{tmp}/mlflow.db",
        "--storage-path", str(tmp / "tune"),
        "--out", str(tmp / "results"),
        *(["--epochs", str(args.epochs)] if args.epochs else []),
        *(["--data-root", args.data_root] if args.data_root else []),
        *([] if args.with_report else ["--no-report"]),
    ]  # fmt: skip
    print("command:", " ".join(cmd[1:]))
    start, t0 = time.time(), time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stdout.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise SystemExit(f"the study failed with exit code {proc.returncode}")
    return start, start + wall, wall, proc.stderr


def analyse(
    tmp: Path, start: float, end: float, wall: float, stderr: str, cpus: float
) -> tuple[float, float]:
    """Print the breakdown of one run; return (training seconds, overhead share)."""
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp}/mlflow.db")
    (exp,) = [e for e in client.search_experiments() if e.name != "Default"]
    runs = client.search_runs([exp.experiment_id])
    parent = next(r for r in runs if "a3m.trial_id" not in r.data.tags)
    trials = [r for r in runs if "a3m.trial_id" in r.data.tags]

    def history_sum(run_id: str, key: str) -> float:
        return sum(m.value for m in client.get_metric_history(run_id, key))

    training = sum(
        history_sum(r.info.run_id, "train_time_s") + history_sum(r.info.run_id, "eval_time_s")
        for r in trials
    )
    spans = [(r.info.start_time / 1e3, r.info.end_time / 1e3) for r in trials]
    in_runs = sum(b - a for a, b in spans)
    first, last = min(a for a, _ in spans), max(b for _, b in spans)
    slots = min(cpus, len(trials))
    capacity = wall * slots

    # Per-epoch view: time between successive epoch logs minus that epoch's training.
    gaps = []
    for r in trials:
        epochs = sorted(client.get_metric_history(r.info.run_id, "epoch"), key=lambda m: m.step)
        train = {m.step: m.value for m in client.get_metric_history(r.info.run_id, "train_time_s")}
        evals = {m.step: m.value for m in client.get_metric_history(r.info.run_id, "eval_time_s")}
        for a, b in zip(epochs, epochs[1:], strict=False):
            gaps.append((b.timestamp - a.timestamp) / 1e3 - train[b.step] - evals.get(b.step, 0))

    matches = [m for m in map(RAY_STARTED.match, stderr.splitlines()) if m]
    ray_up = (
        datetime.strptime(matches[0].group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        if matches
        else None
    )
    parent_start = parent.info.start_time / 1e3
    print(
        f"\n{len(trials)} trials, {slots:g} slots ({cpus:g} CPUs, 1 per trial); "
        f"wall {wall:.1f} s; training {training:.1f} s "
        f"(train {sum(history_sum(r.info.run_id, 'train_time_s') for r in trials):.1f} + "
        f"eval {sum(history_sum(r.info.run_id, 'eval_time_s') for r in trials):.1f})"
    )
    parts = {
        "training (trainer's train + eval time)": training,
        "start-up (to the first trial's run)": slots * (first - start),
        "in-trial, not training": in_runs - training,
        "idle slots between trials": slots * (last - first) - in_runs,
        "shutdown (after the last trial)": slots * (end - last),
    }
    rows = [[name, value, value / capacity] for name, value in parts.items()]
    print_table(["slot-seconds", "s", "share of wall x slots"], rows)
    print(f"overhead share = 1 - training / (wall x slots) = {1 - training / capacity:.1%}")
    print("start-up phases (wall seconds from the process start):")
    if ray_up is not None:
        print(f"  imports + ray.init done:                 {ray_up - start:6.1f}")
    print(f"  MLflow store + parent run created:       {parent_start - start:6.1f}")
    print(f"  first trial's MLflow run created:        {first - start:6.1f}")
    print(f"  last trial's run ended:                  {last - start:6.1f}")
    print(f"  process exited:                          {end - start:6.1f}")
    if gaps:
        print(
            f"per-epoch time outside train/eval inside a trial (checkpoints, MLflow, Tune "
            f"report): median {1e3 * statistics.median(gaps):.0f} ms over {len(gaps)} epochs"
        )
    durations = sorted(b - a for a, b in spans)
    print(f"trial run durations: {', '.join(f'{d:.1f}' for d in durations)} s")
    return training, 1 - training / capacity


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--study", default=str(ROOT / "studies" / "alpha_beta_cub.py"))
    p.add_argument("--epochs", type=int, help="epochs per trial (default: the study's, 8)")
    p.add_argument("--data-root", help="synthetic cache (default: the study's)")
    p.add_argument("--with-report", action="store_true", help="run the after-study report too")
    p.add_argument("--keep", help="write the MLflow store and Tune results here, not a temp dir")
    p.add_argument(
        "--compare-no-reuse", action="store_true",
        help="also run the study with a fresh worker process per trial (before a3m reused them)",
    )  # fmt: skip
    p.add_argument("--repeats", type=int, default=1, help="interleaved rounds")
    p.add_argument("--smoke-test", action="store_true", help="1 of the 9 points, 1 epoch")
    return p


NO_REUSE = """
import runpy, sys
from ray import tune
_TuneConfig = tune.TuneConfig
def _no_reuse(*args, **kwargs):
    kwargs["reuse_actors"] = False
    return _TuneConfig(*args, **kwargs)
tune.TuneConfig = _no_reuse
sys.argv = [{study!r}, *sys.argv[1:]]
runpy.run_path({study!r}, run_name="__main__")
"""
"""The study with a fresh worker process per trial (Ray Tune's default), for --compare."""

SMOKE_STUDY = """
import dataclasses, sys
sys.path.insert(0, {studies!r})
from alpha_beta_cub import SPEC
from a3m.study import main
main(dataclasses.replace(SPEC, synthetic_points=SPEC.synthetic_points[:1]))
"""


def main(args: argparse.Namespace) -> None:
    print(machine_line())
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(args.keep or scratch).resolve()
        tmp.mkdir(parents=True, exist_ok=True)
        study = Path(args.study)
        if args.smoke_test:
            args.epochs, study = 1, tmp / "smoke_study.py"
            study.write_text(SMOKE_STUDY.format(studies=str(ROOT / "studies")))
        scripts = {"reused workers (a3m)": study}
        if args.compare_no_reuse:
            scripts["a worker per trial (Tune's default)"] = tmp / "no_reuse.py"
            scripts["a worker per trial (Tune's default)"].write_text(
                NO_REUSE.format(study=str(study))
            )
        rows = []
        for r in range(args.repeats):
            for i, (label, script) in enumerate(scripts.items()):
                print(f"\n== {label}, round {r + 1} ==")
                out = tmp / f"run{r}-{i}"
                start, end, wall, stderr = run_study(args, out, script)
                cpus = float(os.cpu_count() or 1)
                training, overhead = analyse(out, start, end, wall, stderr, cpus)
                rows.append([label, r + 1, wall, training, overhead])
        print("\n== summary ==")
        print_table(["run", "round", "wall s", "training s", "overhead share"], rows)


if __name__ == "__main__":
    main(get_args_parser().parse_args())
