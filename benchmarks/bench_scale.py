"""Scale: what a study costs beyond its training, and what its results cost to read, measured.

Two parts, each printed as a table (seconds, peak memory, the load average beside each figure:
the cores are often shared):

1. **Trial overhead**: a dry-run study (``--dry-run``: the real runner, Ray Tune, trainable and
   MLflow tracker; made-up metrics instead of training, :mod:`a3m.study.dry_run`) of N trials
   (``--trials 100 1000``), each ``--epochs`` epochs, 1 CPU per trial on the Ray this process
   starts (or ``$RAY_ADDRESS``), logging to ``--tracking-uri`` (default a new SQLite file; an
   ``http://`` MLflow server, e.g. the PostgreSQL-backed one of ``cluster/``, works the same).
   Since nothing trains, all of the study's wall time is overhead: printed per trial, whole
   and by step of :func:`a3m.study.runner.run_parsed` (the Tuner's ``fit`` is what the other
   steps leave), with the trials' own time in MLflow (run start to end: the tracker's
   requests and the dry fit) and the slots left idle between trials (Tune's scheduling).
2. **Reading 10,000 runs**: an experiment of ``--runs`` runs written straight into the store
   with the tags, params and metric histories a trial writes (:func:`fake_trial`, built from
   the trainable's own helpers and :func:`a3m.study.dry_run.dry_metrics`), then
   ``a3m leaderboard``, ``a3m compare`` and the report (``dashboards/build.py --no-png``), each
   in its own process: wall seconds and peak RSS (``wait4``). ``--profile`` also runs each
   of the three in this process under cProfile and prints its top functions.

    python benchmarks/bench_scale.py --trials 100 --runs 0        # ~1 min on 2 cores
    python benchmarks/bench_scale.py --trials 1000 --runs 0       # ~3 min
    python benchmarks/bench_scale.py --trials --runs 10000 --store /tmp/scale10k.db
    python benchmarks/bench_scale.py --trials 1000 --runs 0 --tracking-uri http://127.0.0.1:5000
                                                                  # ~8 min (cluster/'s server)
    python benchmarks/bench_scale.py --smoke-test                 # 2 trials, 40 runs

``--store`` keeps the populated SQLite file: a later run reuses it (10,000 runs take minutes
to write). Targets (issue 12): <= 0.5 s of overhead per trial at 1,000 trials; the report and
the leaderboard of 10,000 runs in <= 60 s and <= 4 GB.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import functools
import io
import os
import pstats
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from benchlib import machine_line, print_table

ROOT = Path(__file__).resolve().parents[1]
STUDY_STEPS = ("plan_study", "select_trials", "connect", "build_tuner", "reconcile", "summarise")
"""The steps of :func:`a3m.study.runner.run_parsed` timed one by one; ``fit`` is the rest."""
VARIANTS = ("baseline1", "a3m")
RUNS_EXPERIMENT = "scale-runs"
WRITTEN_TAG = "bench_scale.runs"  # on RUNS_EXPERIMENT: how many runs it was written with


def load() -> str:
    """The 1-minute load average, printed beside each figure."""
    return f"{os.getloadavg()[0]:.2f}"


# -- 1. trial overhead ------------------------------------------------------------------------
def study_spec(trials: int, seeds: int):
    """A grid of ``trials`` trials: variant x alpha x seeds, against ``variant=baseline1``."""
    from a3m.study import StudySpec

    per_variant = max(1, trials // (len(VARIANTS) * seeds))
    alphas = [round(0.01 * (i + 1), 4) for i in range(per_variant)]
    return StudySpec(
        name="scale",
        description="bench_scale: a grid of dry-run trials",
        base={"dataset": "cub", "d": 16},
        grid={"variant": list(VARIANTS), "alpha": alphas},
        seeds=seeds,
        reference={"variant": "baseline1"},
    )


@contextlib.contextmanager
def timed_steps(module: Any, names: tuple[str, ...]) -> Iterator[dict[str, float]]:
    """Seconds spent in each of ``module``'s functions ``names`` while the block runs (they are
    looked up as module globals by their caller, so wrapping them there times every call)."""
    spent = dict.fromkeys(names, 0.0)
    originals = {n: getattr(module, n) for n in names if hasattr(module, n)}

    def wrap(name: str, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - start

        return timed

    for name, fn in originals.items():
        setattr(module, name, wrap(name, fn))
    try:
        yield spent
    finally:
        for name, fn in originals.items():
            setattr(module, name, fn)


def trial_overhead(trials: int, uri: str, work: Path, seeds: int, epochs: int) -> dict[str, Any]:
    """Run a dry-run study of ``trials`` trials; its wall time, by step, and per trial."""
    import ray
    from mlflow import MlflowClient

    from a3m.study import runner

    spec = study_spec(trials, seeds)
    experiment = f"scale-{trials}-{time.strftime('%H%M%S')}"
    argv = [
        "--synthetic", "--dry-run", "--epochs", str(epochs), "--seeds", str(seeds),
        "--tracking-uri", uri, "--experiment", experiment,
        "--storage-path", str(work / "tune"), "--out", str(work / "results"),
    ]  # fmt: skip
    start = time.perf_counter()
    with timed_steps(runner, STUDY_STEPS) as steps, contextlib.redirect_stdout(io.StringIO()):
        result = runner.run_study(spec, argv)
    wall = time.perf_counter() - start
    slots = int(ray.cluster_resources().get("CPU", 1))
    client = MlflowClient(result.tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    durations = []
    token = None
    while True:  # the trial runs' own time, start to end
        page = client.search_runs(
            [exp.experiment_id], "tags.`a3m.run_kind` = 'trial'", max_results=1000, page_token=token
        )
        durations += [(r.info.end_time - r.info.start_time) / 1000 for r in page if r.info.end_time]
        token = page.token
        if not token:
            break
    fit = wall - sum(steps.values())
    return {
        "trials": result.num_trials,
        "failed": result.num_errors,
        "wall": wall,
        "steps": {**steps, "fit": fit},
        "in_trial": sum(durations) / max(1, len(durations)),
        "idle_slots": max(0.0, fit * min(slots, trials) - sum(durations)) / max(1, trials),
        "slots": slots,
        "load": load(),
    }


def print_trial_overhead(rows: list[dict[str, Any]], uri: str) -> None:
    print(f"\n1. trial overhead: dry-run studies, store {redact(uri)}")
    header = ["trials", "failed", "wall s", "s per trial", "slot-s per trial", "in-trial s",
              "idle slot-s per trial", "load"]  # fmt: skip
    table = [
        [r["trials"], r["failed"], r["wall"], r["wall"] / r["trials"],
         r["wall"] * r["slots"] / r["trials"], r["in_trial"], r["idle_slots"], r["load"]]
        for r in rows
    ]  # fmt: skip
    print_table(header, table)
    print("\nby step (s; fit = the Tuner, the rest of the wall):")
    names = [*STUDY_STEPS, "fit"]
    print_table(["trials", *names], [[r["trials"], *(r["steps"][n] for n in names)] for r in rows])


def redact(uri: str) -> str:
    from a3m.study.tracking import redact as hide

    return hide(uri)


# -- 2. reading many runs ---------------------------------------------------------------------
def fake_trial(
    client: Any, experiment_id: str, parent_run_id: str, cfg: Any, number: int, fingerprint: str
) -> str:
    """One finished trial run, shaped as :func:`a3m.study.trainable.train_trial` leaves it
    (its key and environment tags, the config's params and tags, the identity, every epoch's
    :func:`~a3m.study.dry_run.dry_metrics`, the dataset input), written in 4 requests."""
    from mlflow.entities import Dataset as DatasetEntity
    from mlflow.entities import DatasetInput, InputTag

    from a3m.study.dry_run import dry_metrics
    from a3m.study.tracking import (
        IDENTITY_TAG,
        PARENT_TAG,
        RUN_KIND_TAG,
        TRIAL_TAG,
        as_params,
        as_tags,
        config_tags,
        environment_tags,
        metrics_at,
        trial_identity,
    )
    from a3m.study.trainable import run_name

    flat = cfg.to_flat_dict()
    start = 1_700_000_000_000 + number * 10_000
    tags = {
        **environment_tags(),
        RUN_KIND_TAG: "trial",
        PARENT_TAG: parent_run_id,
        TRIAL_TAG: f"bench_{number:05d}",
        **config_tags(cfg, fingerprint, "bench_scale.py"),
        IDENTITY_TAG: trial_identity(flat, fingerprint),
        "a3m.ray_node_id": "0" * 56,
        "a3m.hostname": "bench",
    }
    run = client.create_run(experiment_id, start_time=start, run_name=run_name(cfg, ("alpha",)))
    run_id = run.info.run_id
    metrics = []
    for epoch in range(1, cfg.epochs + 1):
        values = {**dry_metrics(cfg, epoch), "epoch": epoch}
        metrics += metrics_at(values, epoch, timestamp=start + epoch)
    client.log_batch(run_id, metrics=metrics, params=as_params(flat), tags=as_tags(tags))
    dataset = DatasetEntity(cfg.dataset, fingerprint, "local", '{"uri": "/data"}')
    context = InputTag("mlflow.data.context", "train")
    client.log_inputs(run_id, [DatasetInput(dataset, tags=[context])])
    client.set_terminated(run_id, "FINISHED", end_time=start + 5_000)
    return run_id


def populate(uri: str, runs: int, seeds: int, epochs: int) -> tuple[float, int]:
    """An experiment of ``runs`` trial runs (variant x alpha x beta x seeds) under one parent
    run that declares ``variant=baseline1`` the reference; kept when it already has them.
    Returns (seconds spent writing, runs written)."""
    import json

    from a3m.config import RunConfig
    from a3m.study.spec import SYNTHETIC_BUDGET
    from a3m.study.tracking import REFERENCE_TAG, get_or_create_experiment, open_store

    client = open_store(uri)
    experiment_id = get_or_create_experiment(client, RUNS_EXPERIMENT)
    written = client.get_experiment(experiment_id).tags.get(WRITTEN_TAG)
    if written == str(runs):
        return 0.0, 0
    if written or client.search_runs([experiment_id], max_results=1):
        raise SystemExit(
            f"{uri}: {RUNS_EXPERIMENT!r} is not an experiment of {runs} runs; remove it"
        )
    parent = client.create_run(
        experiment_id, run_name="scale", tags={REFERENCE_TAG: json.dumps({"variant": "baseline1"})}
    )
    configs = max(1, runs // seeds)
    betas = 20 if configs >= 400 else max(1, configs // (2 * 5))
    alphas = max(1, configs // (len(VARIANTS) * betas))
    base = {**SYNTHETIC_BUDGET, "dataset": "cub", "d": 16, "epochs": epochs, "synthetic": True}
    start, number = time.perf_counter(), 0
    for variant in VARIANTS:
        for a in range(alphas):
            for b in range(betas):
                for seed in range(seeds):
                    if number == runs:
                        break
                    cfg = RunConfig.from_flat_dict(
                        {**base, "variant": variant, "alpha": round(0.02 * (a + 1), 4),
                         "beta": round(0.05 * (b + 1), 4), "seed": seed}
                    )  # fmt: skip
                    fake_trial(client, experiment_id, parent.info.run_id, cfg, number, "f" * 16)
                    number += 1
    client.set_terminated(parent.info.run_id, "FINISHED")
    client.set_experiment_tag(experiment_id, WRITTEN_TAG, str(number))
    return time.perf_counter() - start, number


LAUNCHER = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
with open(sys.argv[1], "w") as out:
    out.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""
"""Runs the measured command and writes its peak RSS (KiB): from a small process, since Linux
counts in a child's peak the RSS of the process it was forked from, and this script's own
reaches GBs after writing the runs."""


def command_cost(argv: list[str], cwd: Path) -> tuple[float, float, int]:
    """(wall seconds, peak RSS in MB, exit status) of a command in its own process."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}  # the checkout, installed or not
    rss, log = cwd / "maxrss.txt", cwd / "stderr.txt"
    with open(log, "w") as err:
        start = time.perf_counter()
        status = subprocess.run(
            [sys.executable, "-c", LAUNCHER, str(rss), *argv],
            cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=err,
        ).returncode  # fmt: skip
        wall = time.perf_counter() - start
    if status:
        print(f"  {' '.join(argv[1:4])}... exited {status}: {log.read_text()[-800:]}")
    return wall, int(rss.read_text()) / 1024, status


def reading_commands(uri: str, out: Path) -> dict[str, list[str]]:
    py = sys.executable
    return {
        "a3m leaderboard": [py, "-m", "a3m.cli", "leaderboard", "--experiment", RUNS_EXPERIMENT,
                            "--tracking-uri", uri, "-o", str(out / "leaderboard.csv")],
        "a3m compare": [py, "-m", "a3m.cli", "compare", "--experiment", RUNS_EXPERIMENT,
                        "--tracking-uri", uri, "-o", str(out / "comparisons.csv")],
        "report (dashboards/build.py --no-png)": [
            py, str(ROOT / "dashboards" / "build.py"), "--experiment", RUNS_EXPERIMENT,
            "--tracking-uri", uri, "--out", str(out / "report"), "--no-png"],
    }  # fmt: skip


def profile(argv: list[str], top: int = 25) -> str:
    """cProfile of one reading command run in this process: its ``top`` functions by own time
    and by cumulative time."""
    if argv[1] == "-m":
        from a3m.cli import main as entry

        args = argv[3:]
    else:
        sys.path.insert(0, str(ROOT))
        from dashboards.build import main as entry

        args = argv[2:]
    profiler = cProfile.Profile()
    with contextlib.redirect_stdout(io.StringIO()):
        profiler.runcall(entry, args)
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text).strip_dirs()
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return text.getvalue()


def prepare_store(store: Path, runs: int, seeds: int, epochs: int) -> None:
    """Write the experiment of part 2 into ``store`` unless it holds it already: on a tmpfs
    (``/dev/shm``) when there is one, then moved, since a SQLite commit on disk waits for its
    fsync (~20 ms each, 9 per run)."""
    import shutil

    shm = Path("/dev/shm")
    target = shm / f"bench_scale_{os.getpid()}.db" if shm.is_dir() and not store.exists() else store
    written_s, written = populate(f"sqlite:///{target}", runs, seeds, epochs)
    if target != store:
        shutil.move(target, store)
    if written:
        print(f"\nwrote {written} runs in {written_s:.0f} s ({written_s / written * 1000:.0f} ms "
              f"per run), load {load()}")  # fmt: skip


def reading_cost(uri: str, runs: int, work: Path, prof: bool, only: str | None = None) -> None:
    """Time (and with ``prof`` profile) the reading commands on the experiment of ``runs``
    (``only``: just the command of that name)."""
    print(f"\n2. reading an experiment of {runs} runs ({redact(uri)})")
    rows = []
    commands = reading_commands(uri, work)
    for name, argv in commands.items():
        if only is not None and name != only:
            continue
        wall, rss, status = command_cost(argv, work)
        rows.append([name, wall, rss, status, load()])
    print_table(["command", "wall s", "peak RSS MB", "exit", "load"], rows)
    if prof:
        for name, argv in reading_commands(uri, work).items():
            print(f"\nprofile of {name}:\n{profile(argv)}")


# -- main -------------------------------------------------------------------------------------
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, nargs="*", default=[100],
                   help="dry-run studies of these many trials (none: skip part 1)")  # fmt: skip
    p.add_argument("--runs", type=int, default=10_000, help="runs to read in part 2 (0: skip)")
    p.add_argument("--seeds", type=int, default=5, help="seeds per configuration")
    p.add_argument("--epochs", type=int, default=8, help="epochs per trial (synthetic budget)")
    p.add_argument("--tracking-uri", help="store of part 1 (default: a new SQLite file)")
    p.add_argument("--store", type=Path, help="SQLite file of part 2, kept and reused "
                   "(default: a new one)")  # fmt: skip
    p.add_argument("--profile", action="store_true", help="cProfile each reading command")
    p.add_argument("--smoke-test", action="store_true", help="2 trials, 40 runs")
    args = p.parse_args()
    if args.smoke_test:
        args.trials, args.runs, args.seeds, args.epochs = [2], 40, 1, 1
    print(machine_line())
    with tempfile.TemporaryDirectory(prefix="bench_scale.") as tmp:
        work = Path(tmp)
        rows = []
        uri = args.tracking_uri or f"sqlite:///{work}/study.db"
        for n in args.trials:
            rows.append(trial_overhead(n, uri, work / str(n), args.seeds, args.epochs))
        if rows:
            print_trial_overhead(rows, uri)
        if args.runs:
            store = args.store.resolve() if args.store else work / "runs.db"
            prepare_store(store, args.runs, args.seeds, args.epochs)
            # the smoke test times one command: each costs ~10 s of imports on 2 cores
            only = "a3m leaderboard" if args.smoke_test else None
            reading_cost(f"sqlite:///{store}", args.runs, work, args.profile, only)


if __name__ == "__main__":
    main()
