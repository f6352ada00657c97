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
import json
import math
import os
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from a3m.config import RunConfig
from a3m.sequential import Inference, SequentialDesign
from a3m.study.disk import disk_full_note, is_disk_full
from a3m.study.exits import EXIT_SOME_FAILED, UsageError
from a3m.study.grow import Selection, link_reused, seed_rounds, select_trials
from a3m.study.local_ray import cpus_per_gpu, start_ray
from a3m.study.model_check import ModelCheckError, check_models
from a3m.study.plan import Resources, Search, StudyPlan
from a3m.study.reconcile import reconcile
from a3m.study.seeds import AutoSeeds
from a3m.study.signals import exit_code_of, graceful_interrupt, kill_unfinished, stop_signals
from a3m.study.spec import (
    StudySpec,
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
from a3m.study.summary import Outcome, StudyCrash, StudyResult, summarise


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


KEEP_CHECKPOINTS = 2
"""Checkpoints Tune keeps per trial (the newest); see ``trainable.CHECKPOINT_EVERY_S``."""

FAULT_ENV = "A3M_TEST_FAULT"
"""Tests only: JSON of a fault every trial of the study injects (see ``StudyContext.fault``;
``checkpoint_every_s`` also sets how often trials checkpoint), read by the driver from its
environment, so no public function takes it."""


def run_study(spec: StudySpec, argv: list[str] | None = None) -> StudyResult:
    """Parse the flags, run (or resume) the study, write its leaderboard and verdicts."""
    return run_parsed(spec, study_parser(spec).parse_args(argv), argv)


def run_parsed(spec: StudySpec, args: argparse.Namespace, argv: list[str] | None) -> StudyResult:
    """Run a study whose flags are parsed (``argv``, as given, goes into the parent run's
    command tag and the printed ``--resume`` command).

    Steps: :func:`plan_study` (checks, nothing launched) -> the experiment's driver lock
    (:mod:`a3m.study.driver_lock`: one driver per experiment and store) ->
    :func:`select_trials` (what is not finished yet) -> :func:`connect` (Ray, the parent
    MLflow run) -> for each round of :func:`seed_rounds` (one, unless ``--seeds auto``):
    :func:`build_tuner` -> ``fit`` -> :func:`reconcile` -> :func:`summarise`. The parent run
    ends KILLED (Ctrl-C, a trial lost with its node) or FAILED with the reason on every path
    that raises.
    """
    from a3m.study.driver_lock import DriverBusy, driver_lock
    from a3m.study.tracking import get_or_create_experiment, open_store

    plan = plan_study(spec, args, argv)
    if plan.dry_run:  # what the study would do, before its made-up trials run
        print(f"DRY RUN: the plan (made-up metrics follow; nothing is trained)\n{plan.describe()}")
    check_planned_models(spec, plan)
    client = open_store(plan.tracking_uri)
    experiment_id = get_or_create_experiment(client, plan.experiment)
    store = plan.tracking_uri
    try:
        with driver_lock(client, experiment_id, experiment=plan.experiment, store=store):
            return run_planned(plan)
    except DriverBusy as err:
        raise UsageError(str(err)) from None


def run_planned(plan: StudyPlan) -> StudyResult:
    """:func:`run_parsed` once the plan is checked and this driver holds the experiment."""
    from a3m.study.tracking import finish_run, redact

    first = select_trials(plan, seeds=plan.auto.schedule[0] if plan.auto else None)
    if first.todo == [] and plan.auto is None:  # every trial already finished: no Ray
        client, _, parent_run_id = open_parent_run(plan)
        link_reused(client, parent_run_id, first.reused)
        return summarise(plan, client, parent_run_id, Outcome(reused=len(first.reused)))
    client, experiment_id, parent_run_id, resources = connect(plan)
    outcome, reused = Outcome(), {}
    # Ctrl-C and SIGTERM alike from here on (ray.init has just set a SIGTERM handler that
    # aborts the driver); a second one marks the runs KILLED and exits at once
    with stop_signals(lambda: kill_unfinished(client, experiment_id, parent_run_id)) as stop:
        try:
            for seeds, selection in seed_rounds(plan, first):
                reused |= selection.reused
                link_reused(client, parent_run_id, reused)
                if selection.todo == []:
                    continue
                # each round of --seeds auto is a Tune experiment of its own, beside the first
                path = plan.tune_path if selection is first else f"{plan.tune_path}-seeds{seeds}"
                tuner = build_tuner(plan, experiment_id, parent_run_id, resources, selection, path)
                with graceful_interrupt(stop):
                    results = tuner.fit()
                interrupted = stop.interrupted or (
                    results.num_terminated + results.num_errors < len(results)
                )
                errors, preempted = reconcile(client, experiment_id, results, interrupted)
                outcome.trained += len(results)
                outcome.errors += errors
                outcome.preempted += preempted
                if interrupted:
                    outcome.interrupted = True
                    outcome.stop_signal = stop.signum or signal.SIGINT
                    break
            outcome.reused = len(reused)
            return summarise(plan, client, parent_run_id, outcome)
        except BaseException as err:
            status = "KILLED" if isinstance(err, KeyboardInterrupt) else "FAILED"
            error = redact(f"{type(err).__name__}: {err}")
            # Tune's state, unreadable once a full disk truncated it, is the disk's fault
            disk_full = (is_disk_full(err) or isinstance(err, EOFError)) and disk_full_note(
                plan.storage, max(1, outcome.errors)
            )
            finish_run(client, parent_run_id, status, error=disk_full or error,
                       force=status == "KILLED")  # fmt: skip
            if disk_full:
                raise StudyCrash(disk_full) from err
            raise


def check_planned_models(spec: StudySpec, plan: StudyPlan) -> int:
    """Build every model the plan trains (each distinct one once, with its starting weights, on
    one input of the data's size), before anything is written: a setting no trial could train
    with is found here. Returns how many were built.

    Raises:
        UsageError: the first model that cannot be built or run, named with its setting.
    """
    grid = plan.search.is_grid and not plan.resume
    trials = grid_trials(spec, plan.base, synthetic=plan.synthetic, seeds=1) if grid else [{}]
    try:
        return check_models(RunConfig.from_flat_dict({**plan.base, **t}) for t in trials)
    except ModelCheckError as err:
        raise UsageError(f"bad study setting: {err}") from None


def plan_study(
    spec: StudySpec, args: argparse.Namespace, argv: list[str] | None = None
) -> StudyPlan:
    """Decide the study's settings and check, before launching anything, that it can run: the
    data loads, the storage path is writable, the tracking store answers.

    Raises:
        UsageError: with one line naming the flag and what to do.
    """
    from a3m.study.tracking import resolve_tracking_uri

    if args.smoke_test:
        args.synthetic, args.epochs, args.seeds, args.no_report = True, 1, 1, True
        # an Optuna search samples 2 trials; a grid runs its first and last (select_trials) once
        args.num_samples = 2 if spec.pick("optuna_space", True) is not None else 1
    base = build_base(spec, args)
    if not args.resume:  # a resumed study keeps what it was launched with
        hold_out_for_search(spec, args, base)
    if spec.pick("optuna_space", args.synthetic) is not None and args.seeds != 1:
        raise UsageError("--seeds > 1 is for grid studies; Optuna samples one seed per trial")
    auto = _auto_seeds(spec, args)
    experiment = args.experiment or spec.name + ("-synthetic" if args.synthetic else "")
    if args.dry_run and not args.experiment:  # made-up runs never mix with trained ones
        experiment += "-dry-run"
    tracking_uri = resolve_tracking_uri(args.tracking_uri)
    storage = args.storage_path
    if "://" not in storage:
        storage = str(Path(storage).expanduser().resolve())
    fingerprints = _preflight(spec, args, base, experiment, tracking_uri, storage)
    if args.resume:
        tune_path = _latest_run(storage, experiment) if args.resume == "latest" else args.resume
        if "://" not in tune_path and not (Path(tune_path) / "tuner.pkl").is_file():
            raise UsageError(f"--resume {tune_path}: not a study folder (it has no tuner.pkl)")
    else:
        tune_path = f"{storage.rstrip('/')}/{experiment}_{time.strftime('%Y%m%d-%H%M%S')}"
    where = {"experiment": experiment, "tracking_uri": tracking_uri, "storage": storage,
             "tune_path": tune_path, "fingerprints": fingerprints}  # fmt: skip
    return _assemble(spec, args, argv, base, auto, where)


def _preflight(
    spec: StudySpec,
    args: argparse.Namespace,
    base: dict[str, Any],
    experiment: str,
    tracking_uri: str,
    storage: str,
) -> dict[str, str]:
    """The checks before anything launches (:mod:`a3m.study.preflight`); returns each
    dataset's fingerprint (a dry run's marked, so its made-up runs never share an identity
    with trained ones)."""
    from a3m.data.fingerprint import dataset_fingerprint
    from a3m.loaders import dataset_root
    from a3m.study.preflight import (
        PreflightError,
        check_data,
        check_optuna_storage,
        check_storage,
        check_store,
        check_tracking,
        check_writable_folder,
    )
    from a3m.study.tracking import default_optuna_storage

    cfg = RunConfig.from_flat_dict(base)
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
        check_store(tracking_uri, write=True)
        if spec.pick("optuna_space", args.synthetic) is not None:  # before any parent run
            check_optuna_storage(args.optuna_storage or default_optuna_storage(tracking_uri))
        # the leaderboard's folder: found unwritable now, not after every trial trained
        check_writable_folder(Path(args.out).expanduser().resolve() / experiment, "--out")
    except PreflightError as err:
        raise UsageError(str(err)) from None
    if args.dry_run:
        from a3m.study.dry_run import FINGERPRINT_PREFIX

        fingerprints = {k: FINGERPRINT_PREFIX + v for k, v in fingerprints.items()}
    return fingerprints


def _assemble(
    spec: StudySpec,
    args: argparse.Namespace,
    argv: list[str] | None,
    base: dict[str, Any],
    auto: AutoSeeds | None,
    where: dict[str, Any],
) -> StudyPlan:
    """The plan from the parsed flags, once they are checked: the only place past which no
    step reads the command line."""
    from a3m.study.tracking import default_optuna_storage, redact

    num_samples = args.num_samples or spec.pick("num_samples", args.synthetic)
    command = redact(" ".join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])]))
    return StudyPlan(
        spec=spec,
        base=base,
        reference=study_reference_of(spec, args.synthetic),
        optuna_storage=args.optuna_storage or default_optuna_storage(where["tracking_uri"]),
        command=command,
        out_dir=Path(args.out).expanduser().resolve() / where["experiment"],
        search=Search(
            spec.pick("optuna_space", args.synthetic),
            num_samples,
            args.scheduler,
            study_axes(spec, args.synthetic),
        ),  # fmt: skip
        resources=Resources(
            args.address, args.gpus_per_trial, args.cpus_per_trial, args.max_failures
        ),  # fmt: skip
        seeds=auto.schedule[0] if auto else args.seeds,
        synthetic=args.synthetic,
        resume=where["tune_path"] if args.resume else None,
        rerun=args.rerun,
        reuse_older_code=getattr(args, "reuse_older_code", False),
        dry_run=args.dry_run,
        smoke_test=args.smoke_test,
        verbose=args.verbose,
        system_metrics=args.system_metrics,
        # the resolved count (a blank tag said nothing of what an Optuna study sampled)
        launch=launch_settings(args, base) | {"a3m.num_samples": str(num_samples)},
        auto=auto,
        inference=_inference(spec, args, auto),
        **where,
    )


def _inference(spec: StudySpec, args: argparse.Namespace, auto: AutoSeeds | None) -> Inference:
    """How the study's verdicts are decided: alpha 0.05, the looks of ``--seeds auto`` and the
    equivalence margin (``--min-effect`` points, else the study's own default)."""
    points = args.min_effect if args.min_effect is not None else spec.min_effect_points
    design = SequentialDesign(tuple(auto.schedule)) if auto is not None else None
    return Inference(design=design, min_effect=points / 100 if points else None)


def _auto_seeds(spec: StudySpec, args: argparse.Namespace) -> AutoSeeds | None:
    """``--seeds auto``'s settings, or None; refused where it cannot work."""
    if args.seeds != "auto":
        return None
    if args.resume:
        raise UsageError("--seeds auto continues by running the same command again (finished "
                         "trials are reused, unfinished ones continue from their checkpoints), "
                         "not with --resume")  # fmt: skip
    if not study_reference_of(spec, args.synthetic):
        raise UsageError(f"--seeds auto needs a reference to compare with; study {spec.name!r} "
                         "declares none: give --seeds N")  # fmt: skip
    return AutoSeeds(args.max_seeds)


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

    client = open_store(plan.tracking_uri)
    experiment_id = get_or_create_experiment(client, plan.experiment)
    source = {"mlflow.source.name": plan.command.split()[0], "mlflow.source.type": "LOCAL"}
    tags = {"a3m.study": plan.spec.name, "a3m.command": plan.command, **source}
    if plan.reference:
        tags[REFERENCE_TAG] = json.dumps(plan.reference, sort_keys=True)
    if plan.resume:
        launched = find_parent_run(client, experiment_id, plan.tune_path)
        if launched is not None:
            before = {**launched.data.params, **launched.data.tags}
            if before.get("a3m.num_samples") == "":  # recorded blank before it was resolved
                del before["a3m.num_samples"]
            check_same_launch(before, plan.launch)
    tags |= {k: v for k, v in plan.launch.items() if k.startswith("a3m.")}
    name = f"{plan.spec.name} {time.strftime('%Y-%m-%d %H:%M')}"
    run_id = start_parent_run(client, experiment_id, plan.tune_path, tags, plan.base, name)
    return client, experiment_id, run_id


def connect(plan: StudyPlan) -> tuple[Any, str, str, dict[str, float]]:
    """Start (or join) Ray and open the study's parent MLflow run, overlapped: MLflow's store
    set-up (a new SQLite file runs its migrations, ~2 s) runs while ``ray.init`` waits for
    Ray's processes. Returns (client, experiment id, parent run id, a trial's resources)."""
    import ray

    from a3m.study.console import set_console
    from a3m.study.preflight import PreflightError, check_resources
    from a3m.study.tracking import finish_run

    asked = plan.resources

    with ThreadPoolExecutor(max_workers=1) as pool:
        tracking = pool.submit(open_parent_run, plan)
        set_console(plan.verbose)
        if not ray.is_initialized():
            print(start_ray(asked.address, verbose=plan.verbose), flush=True)
        gpus = asked.gpus_per_trial
        if gpus is None:
            gpus = 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0
        cpus = asked.cpus_per_trial
        if cpus is None:
            cpus = float(max(1, math.floor(cpus_per_gpu() * gpus))) if gpus else 1.0
        client, experiment_id, parent_run_id = tracking.result()
    try:
        check_resources(gpus, cpus, ray.cluster_resources(), autoscaling=asked.address is not None)
    except PreflightError as err:
        finish_run(client, parent_run_id, "FAILED", error=str(err))
        raise UsageError(str(err)) from None
    return client, experiment_id, parent_run_id, {"cpu": cpus, "gpu": gpus}


def build_tuner(
    plan: StudyPlan,
    experiment_id: str,
    parent_run_id: str,
    resources: dict[str, float],
    selection: Selection | None = None,
    tune_path: str | None = None,
):
    """A new Tuner over the study's search space (the grid trials to train, ``selection``, as
    one axis) in ``tune_path`` (default the plan's), or the interrupted one restored: its
    unfinished trials, and those that errored (e.g. lost with their node after their retries)
    continue from their last checkpoints."""
    from ray import tune

    from a3m.study.trainable import grid_space, train_trial

    # Tune's result files but not its TensorBoard ones (MLflow keeps every metric): their
    # writer, a thread and a file per trial written at every result, took a tenth of the
    # driver's time in a dry run of 200 trials (benchmarks/bench_scale.py). The JSON and CSV,
    # which Tune's result analysis reads, stay; Tune adds its defaults unless told not to.
    os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] = "1"
    context = _trial_context(plan, experiment_id, parent_run_id, resources, selection)
    trainable = tune.with_resources(tune.with_parameters(train_trial, study=context), resources)
    if plan.resume:
        return tune.Tuner.restore(
            plan.tune_path, trainable, resume_unfinished=True, resume_errored=True
        )
    search = plan.search
    metric, mode = search_metric(plan.base), "max"
    optuna_space = search.optuna_space
    space = dict(plan.base) | (optuna_space or {})
    if selection is not None and selection.todo is not None:
        space |= grid_space(selection.todo, plan.base)
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
            scheduler=_scheduler(search.scheduler, plan.epochs),
            num_samples=search.num_samples,
            # One worker process per concurrent slot, reused by the next trial: a fresh
            # process per trial paid 3-15 s of imports (torch, torchvision, Ray, MLflow)
            # and MLflow store set-up on a 2-core machine, more than a synthetic trial's
            # training. Every trial still starts from its own seed and config.
            reuse_actors=True,
        ),
        run_config=_run_config(plan, tune_path or plan.tune_path, context.axes),
    )


def _trial_context(
    plan: StudyPlan,
    experiment_id: str,
    parent_run_id: str,
    resources: dict[str, float],
    selection: Selection | None,
) -> Any:
    """What every trial of the study gets besides its settings (a
    :class:`~a3m.study.trainable.StudyContext`)."""
    from a3m.study.trainable import CHECKPOINT_EVERY_S, StudyContext

    fault = json.loads(os.environ.get(FAULT_ENV) or "{}")
    system_metrics = plan.system_metrics
    return StudyContext(
        tracking_uri=plan.tracking_uri,
        experiment_id=experiment_id,
        parent_run_id=parent_run_id,
        fingerprints=plan.fingerprints,
        threads=max(1, math.floor(resources["cpu"])),
        fault=fault,
        checkpoint_every_s=fault.get("checkpoint_every_s", CHECKPOINT_EVERY_S),
        axes=plan.search.axes,
        source=plan.command.split()[0] if plan.command else plan.spec.name,
        system_metrics=resources["gpu"] > 0 if system_metrics is None else system_metrics,
        dry_run=plan.dry_run,
        continue_from=selection.continued if selection else {},
    )


def _run_config(plan: StudyPlan, tune_path: str, axes: tuple[str, ...]) -> Any:
    """Tune's run settings: where it writes, how often a trial is retried, which checkpoints
    it keeps, what it prints."""
    from ray import tune
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

    from a3m.study.console import TrialLines

    callbacks: list = [JsonLoggerCallback(), CSVLoggerCallback()]
    if not plan.verbose:  # one line per trial instead of Tune's tables
        callbacks.append(TrialLines(axes, dry_run=plan.dry_run))
    return tune.RunConfig(
        name=Path(tune_path).name,
        storage_path=plan.storage,
        failure_config=tune.FailureConfig(max_failures=plan.resources.max_failures),
        # Tune snapshots the experiment whenever a trial has made num_to_keep checkpoints
        # since the last snapshot: with 1, every checkpoint forced one, and trials ending
        # together forced several a second (Ray's "snapshotting has been triggered multiple
        # times" warning). With 2, the periodic snapshot (every 10 s or more) comes first,
        # since a trial checkpoints every 15 s at most.
        checkpoint_config=tune.CheckpointConfig(num_to_keep=KEEP_CHECKPOINTS),
        verbose=3 if plan.verbose else 0,  # 0: TrialLines instead of Tune's tables
        callbacks=callbacks,
    )


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


AFTER_STUDY_GROUP = "a3m.after_study"
"""Entry-point group of functions called with the :class:`StudyResult` when a study ends
(the dashboards package registers its report there), so the study layer needs no import of
what comes after it."""


def main(spec: StudySpec, argv: list[str] | None = None) -> StudyResult:
    """Entry point of every study script: parse the flags once, run the study, then the
    after-study hooks (e.g. the HTML report) unless ``--no-report``, ``--smoke-test`` or
    interrupted. A failing hook is reported, never fatal. Exits with
    :attr:`StudyResult.exit_code` when it is not 0, and with a one-line reason on a
    :class:`~a3m.study.exits.UsageError`."""
    from importlib.metadata import entry_points

    args = study_parser(spec).parse_args(argv)
    try:
        result = run_parsed(spec, args, argv)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        raise
    except StudyCrash as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(EXIT_SOME_FAILED) from None
    except KeyboardInterrupt as err:  # a stop signal before or after Tune's fit
        signum = getattr(err, "signum", signal.SIGINT)
        print(f"\n{signal.Signals(signum).name}: stopped before the trials ran or after they "
              "ended; the study's parent run is KILLED", file=sys.stderr)  # fmt: skip
        raise SystemExit(exit_code_of(signum)) from None
    if not (args.no_report or args.smoke_test or result.interrupted):
        for hook in entry_points(group=AFTER_STUDY_GROUP):
            try:
                hook.load()(result)
            except Exception as err:  # the study's results are already safe in MLflow
                print(f"after-study hook {hook.name!r} failed: {type(err).__name__}: {err}")
    if result.exit_code:
        raise SystemExit(result.exit_code)
    return result
