"""Run a study: a :class:`~a3m.study.spec.StudySpec` + the shared command-line flags (both in
:mod:`a3m.study.spec`) -> Ray Tune trials logged to MLflow, then the leaderboard and the paired
verdicts.

A study script is a spec and a call (``main(SPEC)``). The runner connects to Ray (a local
instance started for the run, or ``--address``), opens the MLflow experiment and the parent run,
builds the search (grid over the spec's axes and seeds, or Optuna TPE) and the scheduler
(FIFO or ASHA), runs or restores the Tuner (``--resume``), reconciles the trials' MLflow runs
with Tune's outcome (errored -> FAILED with the reason, stopped early -> tagged), and writes
the leaderboard CSV.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from a3m.config import RunConfig
from a3m.study.spec import (
    EXIT_ALL_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_SOME_FAILED,
    StudySpec,
    UsageError,
    build_base,
    check_same_launch,
    grid_trials,
    hold_out_for_search,
    launch_settings,
    search_metric,
    study_axes,
    study_parser,
    study_reference_of,
)


@contextlib.contextmanager
def graceful_interrupt() -> Iterator[dict[str, bool]]:
    """Around ``Tuner.fit``: the first Ctrl-C asks Tune to stop the trials and save its state
    (through SIGUSR1, which Tune always handles) and is remembered, so the study can end as
    interrupted; a second Ctrl-C exits at once. Yields ``{"interrupted": bool}``."""
    state = {"interrupted": False}
    if threading.current_thread() is not threading.main_thread():
        yield state  # signal handlers can only be set from the main thread
        return

    def on_sigint(signum: int, frame: Any) -> None:
        if state["interrupted"]:
            print("\nsecond interrupt: exiting now", file=sys.stderr)
            os._exit(EXIT_INTERRUPTED)
        state["interrupted"] = True
        print("\ninterrupted: stopping the trials and saving the study's state "
              "(Ctrl-C again to exit at once)", file=sys.stderr)  # fmt: skip
        if signal.getsignal(signal.SIGUSR1) in (signal.SIG_DFL, None):
            raise KeyboardInterrupt  # Tune has not set up yet: nothing to stop gracefully
        signal.raise_signal(signal.SIGUSR1)

    previous = signal.getsignal(signal.SIGINT)
    previous_env = os.environ.get("TUNE_DISABLE_SIGINT_HANDLER")
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"  # ours instead of Tune's, which forgets
    signal.signal(signal.SIGINT, on_sigint)
    try:
        yield state
    finally:
        signal.signal(signal.SIGINT, previous)
        if previous_env is None:
            os.environ.pop("TUNE_DISABLE_SIGINT_HANDLER", None)
        else:
            os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = previous_env


@dataclass
class StudyResult:
    """What a finished study hands to its caller and to the after-study hooks."""

    study: str  # the spec's name
    experiment: str  # the MLflow experiment
    tracking_uri: str
    out_dir: Path  # where the leaderboard (and the report) go
    leaderboard_csv: Path | None
    num_trials: int
    num_errors: int
    tune_path: str
    interrupted: bool = False  # stopped by Ctrl-C (or SIGUSR1) before every trial ended
    optuna_storage: str | None = None  # the Optuna RDB URL an Optuna study used
    reused: int = 0  # trials not trained again: their identical run had FINISHED

    @property
    def exit_code(self) -> int:
        """The study script's exit status (README "Exit codes")."""
        if self.interrupted:
            return EXIT_INTERRUPTED
        if self.num_errors and self.num_errors >= self.num_trials:
            return EXIT_ALL_FAILED
        return EXIT_SOME_FAILED if self.num_errors else EXIT_OK


def _latest_run(storage: str, name: str) -> str:
    """The newest ``<name>_<%Y%m%d-%H%M%S>`` folder under the storage path (local or a bucket,
    listed through pyarrow, Tune's own file-system layer); name order is time order."""
    import pyarrow.fs

    fs, root = pyarrow.fs.FileSystem.from_uri(storage)
    infos = fs.get_file_info(pyarrow.fs.FileSelector(root, allow_not_found=True))
    names = sorted(
        i.base_name
        for i in infos
        if i.type == pyarrow.fs.FileType.Directory and i.base_name.startswith(f"{name}_")
    )
    if not names:
        raise UsageError(f"--resume: no earlier run of {name!r} under {storage}")
    return f"{storage.rstrip('/')}/{names[-1]}"


def ray_address(flag: str | None) -> str:
    """What ``ray.init`` connects to: ``--address``; else ``$RAY_ADDRESS`` (set inside a
    ``ray job submit`` job); else a new local Ray for this study ("local"), never a cluster that
    ``ray start`` left running on this machine."""
    return flag or os.environ.get("RAY_ADDRESS") or "local"


def describe_ray(flag: str | None) -> str:
    """One line: which Ray the study runs on, and what it has."""
    import ray

    have = ray.cluster_resources()
    size = f"{have.get('CPU', 0):g} CPUs, {have.get('GPU', 0):g} GPUs"
    if ray_address(flag) == "local":
        return f"Ray: a local instance for this study ({size})"
    source = "--address" if flag else "$RAY_ADDRESS"
    return f"Ray: joined the cluster at {ray_address(flag)} ({source}; {size})"


def cpus_per_gpu() -> float:
    """CPUs per GPU on the GPU nodes of the connected Ray cluster (the fewest over its
    nodes, so a trial of one GPU fits on any of them); 1 without GPU nodes."""
    import ray

    ratios = [
        node["Resources"].get("CPU", 0) / node["Resources"]["GPU"]
        for node in ray.nodes()
        if node.get("Alive") and node["Resources"].get("GPU", 0) > 0
    ]
    return max(1.0, min(ratios)) if ratios else 1.0


@dataclass
class StudyPlan:
    """Everything decided before anything launches (flags parsed once, checks passed)."""

    spec: StudySpec
    args: argparse.Namespace
    base: dict[str, Any]  # the RunConfig overrides every trial shares
    reference: dict[str, Any] | None
    fingerprints: dict[str, str]  # dataset -> fingerprint of the copy the trials read
    experiment: str
    tracking_uri: str
    optuna_storage: str | None
    storage: str  # Tune's storage path (absolute when local)
    tune_path: str  # this study's folder under it
    command: str  # the command line, credentials redacted

    @property
    def epochs(self) -> int:
        return RunConfig.from_flat_dict(self.base).epochs


FAULT_ENV = "A3M_TEST_FAULT"
"""Tests only: JSON of a fault every trial of the study injects (see ``StudyContext.fault``),
read by the driver from its environment, so no public function takes it."""


def run_study(spec: StudySpec, argv: list[str] | None = None) -> StudyResult:
    """Parse the flags, run (or resume) the study, write its leaderboard and verdicts."""
    return run_parsed(spec, study_parser(spec).parse_args(argv), argv)


def run_parsed(spec: StudySpec, args: argparse.Namespace, argv: list[str] | None) -> StudyResult:
    """Run a study whose flags are parsed (``argv``, as given, goes into the parent run's
    command tag and the printed ``--resume`` command).

    Steps: :func:`plan_study` (checks, nothing launched) -> :func:`select_trials` (what is not
    finished yet) -> :func:`connect` (Ray, the parent MLflow run) -> :func:`build_tuner` ->
    ``fit`` -> :func:`reconcile` -> :func:`summarise`. The parent run ends KILLED (Ctrl-C) or
    FAILED with the reason on every path that raises.
    """
    from a3m.study.tracking import finish_run, redact

    plan = plan_study(spec, args, argv)
    todo, reused = select_trials(plan)
    if todo == []:  # every trial already finished: no Ray, no training
        client, _, parent_run_id = open_parent_run(plan)
        link_reused(client, parent_run_id, reused)
        return summarise(plan, client, parent_run_id, 0, 0, False, reused=len(reused))
    client, experiment_id, parent_run_id, resources = connect(plan)
    link_reused(client, parent_run_id, reused)
    try:
        tuner = build_tuner(plan, experiment_id, parent_run_id, resources, todo)
        with graceful_interrupt() as interrupt:
            results = tuner.fit()
        interrupted = interrupt["interrupted"] or (
            results.num_terminated + results.num_errors < len(results)
        )
        errors = reconcile(client, experiment_id, results, interrupted)
    except BaseException as err:
        status = "KILLED" if isinstance(err, KeyboardInterrupt) else "FAILED"
        finish_run(client, parent_run_id, status, error=redact(f"{type(err).__name__}: {err}"))
        raise
    return summarise(
        plan, client, parent_run_id, len(results), errors, interrupted, reused=len(reused)
    )


def link_reused(client: Any, parent_run_id: str, reused: dict[str, str]) -> None:
    """The parent run names the finished runs this invocation reused (``reused_runs.json``:
    identity -> run id) and counts them (tag ``a3m.reused``)."""
    if not reused:
        return
    client.set_tag(parent_run_id, "a3m.reused", str(len(reused)))
    client.log_dict(parent_run_id, reused, "reused_runs.json")


def plan_study(
    spec: StudySpec, args: argparse.Namespace, argv: list[str] | None = None
) -> StudyPlan:
    """Decide the study's settings and check, before launching anything, that it can run: the
    data loads, the storage path is writable, the tracking store answers.

    Raises:
        UsageError: with one line naming the flag and what to do.
    """
    from a3m.data.fingerprint import dataset_fingerprint
    from a3m.study.preflight import (
        PreflightError,
        check_data,
        check_storage,
        check_tracking,
    )
    from a3m.study.tracking import default_optuna_storage, redact, resolve_tracking_uri
    from a3m.train import dataset_root

    if args.smoke_test:
        args.synthetic, args.epochs, args.seeds, args.no_report = True, 1, 1, True
        # an Optuna search samples 2 trials; a grid runs its first and last (select_trials) once
        args.num_samples = 2 if spec.pick("optuna_space", True) is not None else 1
    base = build_base(spec, args)
    if not args.resume:  # a resumed study keeps what it was launched with
        hold_out_for_search(spec, args, base)
    cfg = RunConfig.from_flat_dict(base)
    if spec.pick("optuna_space", args.synthetic) is not None and args.seeds > 1:
        raise UsageError("--seeds > 1 is for grid studies; Optuna samples one seed per trial")
    experiment = args.experiment or spec.name + ("-synthetic" if args.synthetic else "")
    tracking_uri = resolve_tracking_uri(args.tracking_uri)
    storage = args.storage_path
    if "://" not in storage:
        storage = str(Path(storage).expanduser().resolve())
    datasets = spec.pick("grid", args.synthetic).get("dataset", [cfg.dataset])
    try:
        check_storage(storage)
        if args.synthetic:  # generated (or reused) once here, not in every trial
            fingerprints = {
                name: dataset_fingerprint(dataset_root(cfg.replace(dataset=name)))
                for name in datasets
            }
        else:
            fingerprints = check_data(Path(cfg.data_root), datasets)
        check_tracking(tracking_uri)
    except PreflightError as err:
        raise UsageError(str(err)) from None
    if args.resume:
        tune_path = _latest_run(storage, experiment) if args.resume == "latest" else args.resume
        if "://" not in tune_path and not (Path(tune_path) / "tuner.pkl").is_file():
            raise UsageError(f"--resume {tune_path}: not a study folder (it has no tuner.pkl)")
    else:
        tune_path = f"{storage.rstrip('/')}/{experiment}_{time.strftime('%Y%m%d-%H%M%S')}"
    return StudyPlan(
        spec=spec,
        args=args,
        base=base,
        reference=study_reference_of(spec, args.synthetic),
        fingerprints=fingerprints,
        experiment=experiment,
        tracking_uri=tracking_uri,
        optuna_storage=args.optuna_storage or default_optuna_storage(tracking_uri),
        storage=storage,
        tune_path=tune_path,
        command=redact(" ".join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])])),
    )


def open_parent_run(plan: StudyPlan) -> tuple[Any, str, str]:
    """The study invocation's parent MLflow run (the interrupted one's again on ``--resume``,
    refused if a flag would change the study). Returns (client, experiment id, run id)."""
    from a3m.study.tracking import (
        REFERENCE_TAG,
        find_parent_run,
        get_or_create_experiment,
        open_store,
        start_parent_run,
    )

    args = plan.args
    client = open_store(plan.tracking_uri)
    experiment_id = get_or_create_experiment(client, plan.experiment)
    source = {"mlflow.source.name": plan.command.split()[0], "mlflow.source.type": "LOCAL"}
    tags = {"a3m.study": plan.spec.name, "a3m.command": plan.command, **source}
    if plan.reference:
        tags[REFERENCE_TAG] = json.dumps(plan.reference, sort_keys=True)
    settings = launch_settings(args, plan.base)
    if args.resume:
        launched = find_parent_run(client, experiment_id, plan.tune_path)
        if launched is not None:
            check_same_launch({**launched.data.params, **launched.data.tags}, settings)
    tags |= {k: v for k, v in settings.items() if k.startswith("a3m.")}
    name = f"{plan.spec.name} {time.strftime('%Y-%m-%d %H:%M')}"
    run_id = start_parent_run(client, experiment_id, plan.tune_path, tags, plan.base, name)
    return client, experiment_id, run_id


def select_trials(plan: StudyPlan) -> tuple[list[dict] | None, dict[str, str]]:
    """The trials this invocation trains, and those it reuses: a grid trial whose identity
    (settings, seed, data: :func:`a3m.study.tracking.trial_identity`) already FINISHED in the
    experiment is not trained again unless ``--rerun``. So the same command twice trains
    nothing the second time, and ``--seeds 5`` after ``--seeds 3`` trains seeds 3 and 4 only.

    Returns:
        (the trials to train as their settings beyond the base, or None for an Optuna search
        or a resumed study, which Tune plans; identity -> run id of each reused trial).
    """
    from a3m.study.tracking import finished_identities, open_store, trial_identity

    spec, args = plan.spec, plan.args
    if args.resume or spec.pick("optuna_space", args.synthetic) is not None:
        return None, {}
    trials = grid_trials(spec, args, plan.base)
    if args.smoke_test:  # the first and the last: both ends of every axis's order
        trials = [trials[0], trials[-1]] if len(trials) > 1 else trials
    if args.rerun:
        return trials, {}
    client = open_store(plan.tracking_uri)
    experiment = client.get_experiment_by_name(plan.experiment)
    done = finished_identities(client, experiment.experiment_id) if experiment else {}
    todo, reused = [], {}
    for trial in trials:
        cfg = RunConfig.from_flat_dict({**plan.base, **trial})
        identity = trial_identity(cfg.to_flat_dict(), plan.fingerprints.get(cfg.dataset, ""))
        if identity in done:
            reused[identity] = done[identity]
        else:
            todo.append(trial)
    if reused:
        print(f"{len(reused)} of {len(trials)} trials already FINISHED in {plan.experiment!r} "
              f"(same settings, seed and data): reused, not trained again; "
              f"{len(todo)} to train (--rerun trains every one)", flush=True)  # fmt: skip
    return todo, reused


def connect(plan: StudyPlan) -> tuple[Any, str, str, dict[str, float]]:
    """Start (or join) Ray and open the study's parent MLflow run, overlapped: MLflow's store
    set-up (a new SQLite file runs its migrations, ~2 s) runs while ``ray.init`` waits for
    Ray's processes. Returns (client, experiment id, parent run id, a trial's resources)."""
    import ray

    from a3m.study.preflight import PreflightError, check_resources
    from a3m.study.tracking import finish_run

    args = plan.args

    with ThreadPoolExecutor(max_workers=1) as pool:
        tracking = pool.submit(open_parent_run, plan)
        if not ray.is_initialized():
            ray.init(address=ray_address(args.address), include_dashboard=False,
                     log_to_driver=args.verbose)  # fmt: skip
            print(describe_ray(args.address), flush=True)
        gpus = args.gpus_per_trial
        if gpus is None:
            gpus = 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0
        cpus = args.cpus_per_trial
        if cpus is None:
            cpus = float(max(1, math.floor(cpus_per_gpu() * gpus))) if gpus else 1.0
        client, experiment_id, parent_run_id = tracking.result()
    try:
        check_resources(gpus, cpus, ray.cluster_resources(), autoscaling=args.address is not None)
    except PreflightError as err:
        finish_run(client, parent_run_id, "FAILED", error=str(err))
        raise UsageError(str(err)) from None
    return client, experiment_id, parent_run_id, {"cpu": cpus, "gpu": gpus}


def build_tuner(
    plan: StudyPlan,
    experiment_id: str,
    parent_run_id: str,
    resources: dict[str, float],
    trials: list[dict] | None = None,
):
    """A new Tuner over the study's search space (the grid trials to train, ``trials``, as one
    axis), or the interrupted one restored."""
    from ray import tune

    from a3m.study.console import TrialLines
    from a3m.study.trainable import POINT_KEY, StudyContext, train_trial

    args, spec = plan.args, plan.spec
    context = StudyContext(
        tracking_uri=plan.tracking_uri,
        experiment_id=experiment_id,
        parent_run_id=parent_run_id,
        fingerprints=plan.fingerprints,
        threads=max(1, math.floor(resources["cpu"])),
        fault=json.loads(os.environ.get(FAULT_ENV) or "{}"),
        axes=study_axes(spec, args.synthetic),
        source=plan.command.split()[0] if plan.command else spec.name,
        system_metrics=resources["gpu"] > 0 if args.system_metrics is None else args.system_metrics,
    )
    trainable = tune.with_resources(tune.with_parameters(train_trial, study=context), resources)
    if args.resume:
        return tune.Tuner.restore(plan.tune_path, trainable, resume_unfinished=True)
    metric, mode = search_metric(plan.base), "max"
    optuna_space = spec.pick("optuna_space", args.synthetic)
    space = dict(plan.base) | (optuna_space or {})
    if trials is not None:
        space[POINT_KEY] = tune.grid_search(trials)
    search_alg = None
    if optuna_space is not None:
        search_alg = _optuna_search(plan.optuna_storage, plan.experiment, metric, mode)
    return tune.Tuner(
        trainable,
        param_space=space,
        tune_config=tune.TuneConfig(
            metric=metric,
            mode=mode,
            search_alg=search_alg,
            scheduler=_scheduler(args.scheduler, plan.epochs),
            num_samples=args.num_samples or spec.pick("num_samples", args.synthetic),
            # One worker process per concurrent slot, reused by the next trial: a fresh
            # process per trial paid 3-15 s of imports (torch, torchvision, Ray, MLflow)
            # and MLflow store set-up on a 2-core machine, more than a synthetic trial's
            # training. Every trial still starts from its own seed and config.
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=Path(plan.tune_path).name,
            storage_path=plan.storage,
            failure_config=tune.FailureConfig(max_failures=args.max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
            verbose=3 if args.verbose else 1,  # 1: Tune's status table only
            callbacks=[] if args.verbose else [TrialLines(context.axes)],
        ),
    )


def reconcile(client: Any, experiment_id: str, results: Any, interrupted: bool) -> int:
    """Make MLflow agree with what Tune saw (a trial killed from outside cannot end its own
    run; one stopped by an interrupt is KILLED, resumable, not finished). Returns the number
    of failed trials: Tune's errors and the runs a trial itself ended FAILED."""
    from a3m.study.tracking import STOPPED_EARLY_TAG, TRIAL_TAG, finish_run

    errors = 0
    for result in results:
        trial_id = (result.metrics or {}).get("trial_id") or _trial_id_from_path(result.path)
        runs = client.search_runs(
            [experiment_id], filter_string=f"tags.`{TRIAL_TAG}` = '{trial_id}'", max_results=1
        )
        if not runs:
            errors += result.error is not None
            continue
        run, run_id = runs[0], runs[0].info.run_id
        if result.error is not None:
            errors += 1
            finish_run(client, run_id, "FAILED", error=f"{type(result.error).__name__}: "
                       f"{result.error}")  # fmt: skip
        elif run.info.status == "FAILED":  # the trial's own verdict: not worth a retry
            errors += 1
        elif interrupted and (
            run.info.status == "RUNNING" or run.data.tags.get(STOPPED_EARLY_TAG) == "true"
        ):
            if STOPPED_EARLY_TAG in run.data.tags:
                client.delete_tag(run_id, STOPPED_EARLY_TAG)
            finish_run(client, run_id, "KILLED", force=True)
        elif run.info.status == "RUNNING":
            client.set_tag(run_id, STOPPED_EARLY_TAG, "true")
            finish_run(client, run_id, "FINISHED")
    return errors


def summarise(
    plan: StudyPlan,
    client: Any,
    parent_run_id: str,
    num_trials: int,
    errors: int,
    interrupted: bool,
    reused: int = 0,
) -> StudyResult:
    """Leaderboard and paired verdicts (CSV, MLflow table on the parent run, console), the
    parent run's final status, and what to do next after an interrupt."""
    from a3m.study import leaderboard as lb
    from a3m.study.tracking import finish_run

    args = plan.args
    out_dir = Path(args.out).expanduser().resolve() / plan.experiment
    csv: Path | None = out_dir / "leaderboard.csv"
    table, comparisons = None, None
    try:
        table, comparisons = lb.export_leaderboard(
            plan.experiment, plan.tracking_uri, csv, sort_by="score_mean", reference=plan.reference
        )
        client.log_artifact(parent_run_id, str(csv))
        if not comparisons.empty:
            # MLflow's table view (the run's artifacts) and the CSV beside the leaderboard.
            client.log_table(parent_run_id, data=comparisons, artifact_file="comparisons.json")
            client.log_artifact(parent_run_id, str(csv.with_name("comparisons.csv")))
    except ValueError as e:
        print(f"no leaderboard: {e}")
        csv = None
    status = "KILLED" if interrupted else "FINISHED" if errors < num_trials else "FAILED"
    finish_run(client, parent_run_id, status)

    _print_summary(table, csv, plan.tracking_uri, num_trials, errors, plan.tune_path)
    print_verdicts(comparisons, plan.reference, args.seeds)
    if interrupted:
        command = plan.command if args.resume else f"{plan.command} --resume {plan.tune_path}"
        print(f"\ninterrupted: the unfinished trials are KILLED in MLflow. Continue with:\n"
              f"  python {command}")  # fmt: skip
    optuna = plan.optuna_storage if plan.spec.pick("optuna_space", args.synthetic) else None
    return StudyResult(
        plan.spec.name, plan.experiment, plan.tracking_uri, out_dir, csv, num_trials, errors,
        plan.tune_path, interrupted, optuna_storage=optuna, reused=reused,
    )  # fmt: skip


def print_verdicts(comparisons: Any, reference: dict[str, Any] | None, seeds: int) -> None:
    """The paired verdicts, one line per configuration, or why there are none."""
    from a3m.stats import min_pairs_to_decide
    from a3m.study.compare import describe, format_verdicts

    if not reference:
        return
    if comparisons is None or comparisons.empty:
        why = "no pairs"
        if seeds < 2:
            why = (
                "one seed per configuration; run with --seeds N "
                f"(N >= {min_pairs_to_decide()} can reach p < 0.05)"
            )
        print(f"\nno paired verdicts against {describe(reference)}: {why}")
        return
    print()
    print("\n".join(format_verdicts(comparisons)))


def _trial_id_from_path(path: str | None) -> str:
    # A trial that failed before its first report has no metrics; its folder is named
    # "<trainable>_<experiment id>_<trial number>_<params>_<date>", the id being "xxxxx_nnnnn".
    match = re.search(r"_([0-9a-f]{5}_\d{5})_", Path(path or "").name)
    return match.group(1) if match else ""


def _scheduler(name: str, epochs: int):
    if name == "fifo":
        return None
    from ray.tune.schedulers import ASHAScheduler

    return ASHAScheduler(
        time_attr="training_iteration",
        max_t=epochs,
        grace_period=max(1, epochs // 4),
        reduction_factor=2,
    )


def _optuna_search(storage_url: str | None, experiment: str, metric: str, mode: str):
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    storage = optuna.storages.RDBStorage(storage_url) if storage_url else None
    return OptunaSearch(
        metric=metric, mode=mode, storage=storage, study_name=experiment if storage else None,
        seed=0,
    )  # fmt: skip


def _print_summary(table, csv, tracking_uri, n, errors, tune_path) -> None:
    from a3m.study.tracking import redact

    print()
    print(f"{n} trials, {errors} failed. Tune results: {tune_path}")
    if table is not None:
        shown = table.drop(columns=["run_ids"]).dropna(axis=1, how="all")  # CIs need 2+ seeds
        with _pd_options():
            print(shown.iloc[:, :12].head(20).to_string(index=False))
        print(f"\nleaderboard: {csv}")
    print(f"browse: mlflow ui --backend-store-uri {redact(tracking_uri)}")


def _pd_options():
    import pandas as pd

    return pd.option_context("display.width", 200, "display.float_format", "{:.4f}".format)


AFTER_STUDY_GROUP = "a3m.after_study"
"""Entry-point group of functions called with the :class:`StudyResult` when a study ends
(the dashboards package registers its report there), so the study layer needs no import of
what comes after it."""


def main(spec: StudySpec, argv: list[str] | None = None) -> StudyResult:
    """Entry point of every study script: parse the flags once, run the study, then the
    after-study hooks (e.g. the HTML report) unless ``--no-report``, ``--smoke-test`` or
    interrupted. A failing hook is reported, never fatal. Exits with
    :attr:`StudyResult.exit_code` when it is not 0, and with a one-line reason on a
    :class:`~a3m.study.spec.UsageError`."""
    from importlib.metadata import entry_points

    args = study_parser(spec).parse_args(argv)
    try:
        result = run_parsed(spec, args, argv)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        raise
    if not (args.no_report or args.smoke_test or result.interrupted):
        for hook in entry_points(group=AFTER_STUDY_GROUP):
            try:
                hook.load()(result)
            except Exception as err:  # the study's results are already safe in MLflow
                print(f"after-study hook {hook.name!r} failed: {type(err).__name__}: {err}")
    if result.exit_code:
        raise SystemExit(result.exit_code)
    return result
