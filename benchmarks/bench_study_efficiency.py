"""Study efficiency: ASHA against the full grid on the synthetic alpha/beta study (Fig. 7).

Runs ``studies/alpha_beta_cub.py``'s spec twice in this process with ``a3m.study.run_study``,
each into its own MLflow experiment in a temporary folder: the grid (9 points x 8 epochs, FIFO)
and the same grid under ``--scheduler asha`` (``a3m.study.runner._scheduler``). From MLflow it
reads every trial's per-epoch ``score`` and its ``epoch`` history, and prints:

- the grid's best configuration and score (mean over seeds with ``--seeds``);
- ASHA's pick (the best configuration among the trials it ran to the end) and that
  configuration's score **in the grid** (its trials are deterministic: same seed, one thread),
  so the regret is in the grid's own numbers: target within 0.5 points (0.005 accuracy);
- the share of the grid's trial-epochs ASHA spent (target <= 30%) and both wall times.

Then it replays Ray's ASHA rule (a trial is stopped at a rung when its score is below the
(1 - 1/rf) quantile of the scores recorded there before it; trials start in order, two at a
time) on the grid's curves for other grace periods and reduction factors, to show which settings
could meet the target on these curves and why the default does or does not.

    python benchmarks/bench_study_efficiency.py               # ~3 min on 2 cores
    python benchmarks/bench_study_efficiency.py --seeds 3
    python benchmarks/bench_study_efficiency.py --smoke-test  # 1 point x 1 epoch
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import itertools
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from benchlib import machine_line, print_table

from a3m.study import StudySpec, run_study

ROOT = Path(__file__).resolve().parents[1]


def load_spec(path: Path) -> StudySpec:
    """The ``SPEC`` of a study script (the studies are scripts, not a package)."""
    module_spec = importlib.util.spec_from_file_location(path.stem, path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.SPEC


@dataclass
class Trial:
    config: tuple[float, float]  # (alpha, beta)
    seed: int
    scores: list[float]  # per epoch, in order
    epochs: int  # epochs logged


def read_trials(tracking_uri: str, experiment: str) -> list[Trial]:
    """Every trial run of an experiment, from MLflow, in trial order."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    runs = [r for r in client.search_runs([exp.experiment_id]) if "a3m.trial_id" in r.data.tags]
    trials = []
    for run in sorted(runs, key=lambda r: r.data.tags["a3m.trial_id"]):
        params = run.data.params
        history = client.get_metric_history(run.info.run_id, "score")
        scores = [m.value for m in sorted(history, key=lambda m: m.step)]
        epochs = len(client.get_metric_history(run.info.run_id, "epoch"))
        config = (float(params["alpha"]), float(params["beta"]))
        trials.append(Trial(config, int(params["seed"]), scores, epochs))
    return trials


def grid_scores(trials: list[Trial]) -> dict[tuple[float, float], float]:
    """Configuration -> mean final score over its seeds."""
    by_config: dict[tuple[float, float], list[float]] = {}
    for t in trials:
        by_config.setdefault(t.config, []).append(t.scores[-1])
    return {c: statistics.mean(v) for c, v in by_config.items()}


def asha_pick(trials: list[Trial], max_t: int) -> tuple[float, float]:
    """The configuration with the best mean final score among trials run to ``max_t``."""
    done = [t for t in trials if t.epochs >= max_t]
    return max(grid_scores(done).items(), key=lambda kv: kv[1])[0]


def replay_asha(curves: list[list[float]], grace: int, rf: float, slots: int = 2) -> list[int]:
    """Epochs each trial would run under Ray's ASHA rule (one bracket), trials started in
    order, ``slots`` at a time, every epoch taking the same time (ties in trial order)."""
    max_t = len(curves[0])
    n_rungs = int(np.log(max_t / grace) / np.log(rf) + 1)
    rungs = [(grace * rf**k, {}) for k in reversed(range(n_rungs))]
    queue, running, ran = list(range(len(curves))), {}, {}
    while queue or running:
        while len(running) < slots and queue:
            running[queue.pop(0)] = 0
        for trial in sorted(running):
            running[trial] += 1
            it = running[trial]
            stop = it >= max_t
            for milestone, recorded in rungs:
                if stop or it < milestone or trial in recorded:
                    continue
                if recorded:
                    cutoff = np.nanpercentile(list(recorded.values()), (1 - 1 / rf) * 100)
                    stop = curves[trial][it - 1] < cutoff
                recorded[trial] = curves[trial][it - 1]
                break
            if stop:
                ran[trial] = running.pop(trial)
    return [ran[i] for i in range(len(curves))]


def run(spec: StudySpec, args: argparse.Namespace, tmp: Path, name: str, *extra: str) -> float:
    argv = [
        "--synthetic",
        "--tracking-uri", f"sqlite:///{tmp}/mlflow.db",
        "--storage-path", str(tmp / "tune"),
        "--out", str(tmp / "results"),
        "--experiment", name,
        "--seeds", str(args.seeds),
        *(["--epochs", str(args.epochs)] if args.epochs else []),
        *(["--data-root", args.data_root] if args.data_root else []),
        *extra,
    ]  # fmt: skip
    start = time.perf_counter()
    run_study(spec, argv)
    return time.perf_counter() - start


def report(args: argparse.Namespace, tmp: Path, walls: dict[str, float]) -> None:
    uri = f"sqlite:///{tmp}/mlflow.db"
    grid, asha = read_trials(uri, "grid"), read_trials(uri, "asha")
    max_t = max(t.epochs for t in grid)
    scores = grid_scores(grid)
    best = max(scores, key=lambda c: scores[c])
    pick = asha_pick(asha, max_t)
    asha_epochs, grid_epochs = sum(t.epochs for t in asha), sum(t.epochs for t in grid)
    regret = 100 * (scores[best] - scores[pick])
    print(f"\n== {len(grid)} trials x {max_t} epochs, {args.seeds} seed(s) per configuration ==")
    print_table(
        ["run", "wall s", "trial-epochs", "share of grid", "best (alpha, beta)", "its grid score"],
        [
            ["grid", walls["grid"], grid_epochs, 1.0, best, scores[best]],
            ["asha", walls["asha"], asha_epochs, asha_epochs / grid_epochs, pick, scores[pick]],
        ],
    )
    print(
        f"ASHA's pick is {regret:.2f} points below the grid's best (target <= 0.5) for "
        f"{asha_epochs / grid_epochs:.0%} of the grid's trial-epochs (target <= 30%)"
    )
    by_key = {(t.config, t.seed): t for t in grid}
    same = all(t.scores == by_key[(t.config, t.seed)].scores for t in asha if t.epochs >= max_t)
    print(f"ASHA's completed trials reproduce their grid curves exactly: {same}")
    spread = [
        statistics.stdev([t.scores[-1] for t in grid if t.config == c])
        for c in scores
        if args.seeds > 1
    ]
    if spread:
        std = 100 * statistics.mean(spread)
        print(f"seed-to-seed std of a configuration's final score: {std:.2f} points (mean)")
    print(
        f"grid final scores: {', '.join(f'{c}: {100 * s:.1f}' for c, s in sorted(scores.items()))}"
    )
    print("per-epoch scores of the grid (rows: trials in order):")
    for t in grid:
        print(f"  {t.config} seed {t.seed}: " + " ".join(f"{100 * s:5.1f}" for s in t.scores))

    curves = [t.scores for t in grid]
    rows = []
    for grace, rf in itertools.product(args.replay_grace, args.replay_rf):
        if grace >= max_t:
            continue
        ran = replay_asha(curves, grace, rf)
        finished = [t for t, e in zip(grid, ran, strict=True) if e >= max_t]
        choice = max(grid_scores(finished).items(), key=lambda kv: kv[1])[0]
        rows.append(
            [grace, rf, sum(ran) / grid_epochs, choice, 100 * (scores[best] - scores[choice])]
        )
    print("\nreplay of ASHA's rule on the grid's curves:")
    print_table(["grace", "reduction factor", "epoch share", "pick", "regret (points)"], rows)


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--study", default=str(ROOT / "studies" / "alpha_beta_cub.py"))
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--epochs", type=int, help="epochs per trial (default: the study's)")
    p.add_argument("--data-root", help="synthetic cache (default: the study's)")
    p.add_argument("--keep", help="write the MLflow store and Tune results here, not a temp dir")
    p.add_argument("--replay-grace", type=int, nargs="+", default=[1, 2, 3, 4])
    p.add_argument("--replay-rf", type=float, nargs="+", default=[2, 3, 4])
    p.add_argument("--smoke-test", action="store_true", help="1 point x 1 epoch")
    return p


def main(args: argparse.Namespace) -> None:
    import ray

    print(machine_line())
    spec = load_spec(Path(args.study))
    if args.smoke_test:
        points = spec.pick("points", True)
        spec = dataclasses.replace(spec, synthetic_points=points[:1])
        args.epochs, args.replay_grace, args.replay_rf = 1, [1], [2]
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(args.keep or scratch).resolve()
        tmp.mkdir(parents=True, exist_ok=True)
        if not ray.is_initialized():
            ray.init(include_dashboard=False, log_to_driver=False)
        walls = {
            "grid": run(spec, args, tmp, "grid"),
            "asha": run(spec, args, tmp, "asha", "--scheduler", "asha"),
        }
        report(args, tmp, walls)
        ray.shutdown()


if __name__ == "__main__":
    main(get_args_parser().parse_args())
