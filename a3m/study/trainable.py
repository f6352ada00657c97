"""The Ray Tune function trainable: one trial = one :func:`a3m.train.fit` run.

It reuses the trainer unchanged; every epoch it logs to the trial's MLflow child run, then
reports the metrics to Tune with the epoch's checkpoint (MLflow first: Tune may stop the
trial, e.g. ASHA, as soon as it has the report). A retried or restored trial starts from
``tune.get_checkpoint()``, finds its own MLflow run again by trial id, and logs the epochs of
the checkpoint's history the store lacks, so every epoch is logged exactly once.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import re
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray
import torch
from ray import tune

from a3m.checkpoint import CHECKPOINT_NAME, CheckpointMismatchError, load_checkpoint
from a3m.config import ConfigError, RunConfig
from a3m.data._io import ImageReadError
from a3m.data.base import DatasetFormatError
from a3m.loaders import resolve_num_workers
from a3m.plugin_code import plugin_tags
from a3m.provenance import provenance_tags
from a3m.study.dry_run import dry_fit
from a3m.study.inputs import log_run_data
from a3m.study.tracking import (
    IDENTITY_TAG,
    RESUMED_AT_TAG,
    RunTracker,
    config_tags,
    trial_identity,
)
from a3m.train import ATTENTION_DIR_NAME, EpochResult, NonFiniteLossError, fit, resolve_device

DETERMINISTIC_ERRORS: tuple[type[BaseException], ...] = (
    ConfigError,  # a setting out of range
    DatasetFormatError,  # the copy does not match its public format
    ImageReadError,  # a missing or corrupt image
    CheckpointMismatchError,  # a checkpoint of another model
    NonFiniteLossError,  # diverges again from the same checkpoint and seed
)
"""Errors a retry from the last checkpoint would meet again: the trial ends FAILED at once."""

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError)
"""Errors of the trial's code that may pass (a store or a network that answered late): Tune
retries them. Also CUDA running out of memory (other trials on the GPU) and MLflow's
exceptions (a tracking server's hiccup), by name: see :func:`is_deterministic`."""

TRANSIENT_NAMES = ("OutOfMemoryError", "MlflowException", "RestException")

FULL_DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS}
"""An OSError a retry would meet again: a full disk, a quota, a read-only file system."""


def is_deterministic(error: BaseException) -> bool:
    """Whether a retry from the same checkpoint and seed would meet ``error`` again: anything
    the trial's code raised (a bad setting, such as pretrained weights the backbone does not
    have; a missing file; a shape mismatch; a full disk), but errors that may pass
    (:data:`TRANSIENT_ERRORS`). Only a lost process or node (Ray's errors, which never reach
    the trial's code) and those are retried."""
    seen: set[int] = set()
    chain: list[BaseException] = []
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        chain.append(error)
        error = error.__cause__ or error.__context__
    for err in chain:
        if isinstance(err, DETERMINISTIC_ERRORS):
            return True
        if isinstance(err, OSError) and err.errno in FULL_DISK_ERRNOS:
            return True
    for err in chain:
        if isinstance(err, TRANSIENT_ERRORS) or any(
            cls.__name__ in TRANSIENT_NAMES for cls in type(err).__mro__
        ):
            return False
    return isinstance(chain[0], Exception)


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def plain_error(error: BaseException) -> str:
    """An error as ``Type: message`` in plain text: the cause Ray wrapped
    (``RayTaskError(ValueError)`` -> the ValueError), without ANSI colour codes, Ray's
    ``ray::ImplicitFunc.train()`` banner or its traceback (where only Ray's text is left, its
    last line: the error)."""
    cause = error
    while type(cause).__name__.startswith("RayTaskError") and getattr(cause, "cause", None):
        cause = cause.cause
    lines = [ANSI.sub("", line).rstrip() for line in str(cause).splitlines()]
    if any(line.startswith(("Traceback (most recent call last)", "ray::")) for line in lines):
        tail = [ln for ln in lines if ln and not ln.startswith((" ", "\t", "ray::", "Traceback"))]
        return tail[-1] if tail else type(cause).__name__
    text = "\n".join(lines).strip()
    return f"{type(cause).__name__}: {text}"


CHECKPOINT_EVERY_S = 15.0
"""Least time from a trial's start, and between two checkpoints, before it hands Tune one (the
last epoch's always goes; a trial shorter than this makes only that one).
Tune snapshots the experiment's state when a trial has made ``num_to_keep`` checkpoints since
the last snapshot (``runner.KEEP_CHECKPOINTS``), and the 1-2 s epochs of a synthetic trial made
it snapshot several times a second (Ray's "snapshotting has been triggered multiple times"
warning, 71 times in one headline run). A retry recomputes at most this long; an epoch of a
real dataset takes longer, so it is checkpointed every epoch."""

TUNE_METRICS = ("score", "val_score")
"""What Tune ranks trials by: the held-out ``val_score`` when the run has a validation part,
else ``score`` (a3m.study.spec.search_metric)."""

POINT_KEY = "point"
"""The param-space key of a grid's explicit points in studies launched before the varying
fields were columns (a dict merged into the run config); still read when one is resumed."""
LABEL_SEP = ","
"""Joins the varying fields into the key of a grid's trial labels (``alpha,beta,seed``): no
RunConfig field has it, and Tune's tables keep the key and the values readable."""


@dataclass(frozen=True)
class PointValue:
    """``tune.sample_from`` callable: one field's value in the trial labelled ``config[key]``."""

    key: str  # the label key
    values: dict[str, Any]  # label -> the field's value

    def __call__(self, config: dict[str, Any]) -> Any:
        return self.values[config[self.key]]


def grid_space(trials: list[dict[str, Any]], base: dict[str, Any]) -> dict[str, Any]:
    """The param space of a grid over explicit ``trials`` (each: its settings beyond ``base``),
    shaped for Tune's status table: a field set alike in every trial is a plain value; a single
    varying field is the grid itself; several are one grid over labels (key ``alpha,beta,seed``,
    values ``0.1,0.5,0``) from which each field is looked up (:class:`PointValue`), so the
    table shows them as one readable column instead of a truncated dict."""
    from ray import tune

    defaults = RunConfig.from_flat_dict(base).to_flat_dict()
    fields = list(dict.fromkeys(k for trial in trials for k in trial))
    values = {name: [trial.get(name, defaults.get(name)) for trial in trials] for name in fields}
    varying = [name for name in fields if len({repr(v) for v in values[name]}) > 1]
    space: dict[str, Any] = {name: values[name][0] for name in fields if name not in varying}
    if len(varying) == 1:
        space[varying[0]] = tune.grid_search(values[varying[0]])
    elif varying:
        key = LABEL_SEP.join(varying)
        labels = [LABEL_SEP.join(str(values[n][i]) for n in varying) for i in range(len(trials))]
        space[key] = tune.grid_search(labels)
        for name in varying:
            by_label = dict(zip(labels, values[name], strict=True))
            space[name] = tune.sample_from(PointValue(key, by_label))
    return space


@dataclass(frozen=True)
class StudyContext:
    """What every trial of a study shares (passed with ``tune.with_parameters``)."""

    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    fingerprints: dict[str, str] = field(default_factory=dict)  # dataset -> fingerprint
    threads: int = 1  # torch intra-op threads per trial (= its CPUs)
    attention_images: int = 4  # attention-map PNGs logged per trial (Fig. 6)
    fault: dict[str, Any] = field(default_factory=dict)  # test-only fault injection
    axes: tuple[str, ...] = ()  # the fields the study varies: they name each trial's run
    source: str = ""  # the study script, MLflow's Source of every trial run
    system_metrics: bool = False  # MLflow's CPU, memory (and GPU) utilisation of each trial
    checkpoint_every_s: float = CHECKPOINT_EVERY_S  # tests of retries set 0: every epoch
    # identity -> (run id, checkpoint URI) of runs an earlier invocation left unfinished (lost
    # with their node, or interrupted): a trial of that identity continues them
    continue_from: dict[str, tuple[str, str]] = field(default_factory=dict)
    dry_run: bool = False  # --dry-run: a3m.study.dry_run.dry_fit (made-up metrics), not fit


def trial_config(config: dict[str, Any]) -> RunConfig:
    """Tune's config dict (possibly with a grid's label or an old study's ``point``) -> a
    validated RunConfig."""
    flat = {k: v for k, v in config.items() if k != POINT_KEY and LABEL_SEP not in k}
    point = config.get(POINT_KEY)
    if isinstance(point, dict):  # a study launched before the fields were columns, resumed
        flat.update(point)
    return RunConfig.from_flat_dict(flat)


def run_name(cfg: RunConfig, axes: tuple[str, ...]) -> str:
    """A trial's MLflow run name: what it is among the study's trials, e.g.
    ``a3m alpha=0.1 beta=0.5 seed=0`` (the variant, then the varied fields, then the seed)."""
    values = cfg.to_flat_dict()
    parts = [str(cfg.variant)]
    parts += [f"{k}={values[k]}" for k in axes if k in values and k not in ("variant", "seed")]
    return " ".join([*parts, f"seed={cfg.seed}"])


def train_trial(config: dict[str, Any], study: StudyContext) -> None:
    """Ray Tune function trainable (use with ``tune.with_parameters(train_trial, study=...)``)."""
    torch.set_num_threads(max(1, study.threads))
    # Else ending a run on a tracking server asks for the run again, only to print its URL.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    try:
        cfg = trial_config(config)
    except ConfigError as err:  # a value or a plugin module this worker refuses: no retry mends it
        _fail_unbuilt(config, study, err)
        return
    trial = _build_run(cfg, study)
    if trial.tracker.complete(trial.cfg.epochs):
        # A study resumed after its driver died just as this trial ended, before Tune saved it
        # as terminated (or with an older checkpoint than the last): the MLflow run says the
        # trial is done; leave it alone rather than train its last epochs again. Tune still
        # wants the metric it ranks by in the trial's last result (else it stops the study):
        # the run's own, from MLflow.
        tune.report(trial.tracker.last_metrics(TUNE_METRICS))
        return
    work = Path(tune.get_context().get_trial_dir()) / "work"
    work.mkdir(parents=True, exist_ok=True)
    resume, history = _restore(trial, work)
    _start_run(trial, study, history)
    _train(trial, study, work, resume)


@dataclass(frozen=True)
class _Trial:
    """One trial as its worker builds it: the resolved config, what identifies it, its run."""

    cfg: RunConfig  # num_workers resolved
    device: torch.device
    flat: dict[str, Any]  # cfg.to_flat_dict()
    fingerprint: str  # the dataset's
    identity: str  # a3m.study.tracking.trial_identity
    tracker: RunTracker
    earlier_checkpoint: str | None  # of the unfinished run of an earlier invocation it continues


def _build_run(cfg: RunConfig, study: StudyContext) -> _Trial:
    """The trial's config as it runs here, and its MLflow run's tracker (not started yet)."""
    # Auto workers from the trial's own CPUs, not the node's (trials share a node); logged
    # as resolved, so the run shows what it used.
    device = resolve_device(cfg.device)
    workers = resolve_num_workers(cfg.num_workers, device, study.threads)
    cfg = cfg.replace(num_workers=workers)
    flat, fingerprint = cfg.to_flat_dict(), study.fingerprints.get(cfg.dataset, "unknown")
    identity = trial_identity(flat, fingerprint)
    ctx = tune.get_context()
    earlier_run, earlier_checkpoint = study.continue_from.get(identity, (None, None))
    tracker = RunTracker.for_trial(
        study.tracking_uri,
        study.experiment_id,
        study.parent_run_id,
        ctx.get_trial_id(),
        run_name=run_name(cfg, study.axes),
        adopt=earlier_run,
    )
    return _Trial(cfg, device, flat, fingerprint, identity, tracker, earlier_checkpoint)


def _restore(trial: _Trial, work: Path) -> tuple[Path | None, list[dict[str, Any]]]:
    """The checkpoint the trial resumes from, copied into ``work``, and its history (none: a
    fresh start)."""
    checkpoint = tune.get_checkpoint()
    if checkpoint is None and trial.earlier_checkpoint:  # the first attempt of a continued trial
        checkpoint = tune.Checkpoint(trial.earlier_checkpoint)
    if checkpoint is None:
        return None, []
    with checkpoint.as_directory() as d:
        shutil.copy2(Path(d) / CHECKPOINT_NAME, work / CHECKPOINT_NAME)
    resume = work / CHECKPOINT_NAME
    return resume, load_checkpoint(resume)["history"]


def _start_run(trial: _Trial, study: StudyContext, history: list[dict[str, Any]]) -> None:
    """Start the trial's MLflow run: its params and tags, its data, the resumed epochs."""
    tracker = trial.tracker
    tracker.start()
    tags = _run_tags(trial, study)
    if history:
        tags[RESUMED_AT_TAG] = str(int(history[-1]["epoch"]))
    tracker.log_params(trial.flat, tags)
    if trial.cfg.dataset in study.fingerprints:  # every split it reads, and what the data is
        log_run_data(tracker, trial.cfg, trial.fingerprint)
    tracker.log_history(history)


def _run_tags(trial: _Trial, study: StudyContext) -> dict[str, str]:
    """The tags of a trial's run: its config, identity, provenance, plugins and node."""
    return {
        **config_tags(trial.cfg, trial.fingerprint, study.source),
        IDENTITY_TAG: trial.identity,
        # the code that trains it and what else can change its result, from this worker
        **provenance_tags(trial.device, before=trial.tracker.code_before),
        # which module registered its variant and backbone, and that code's fingerprint
        **plugin_tags(trial.cfg),
        # where it ran: a cluster's trials spread over nodes
        "a3m.ray_node_id": ray.get_runtime_context().get_node_id(),
        "a3m.hostname": socket.gethostname(),
    }


@dataclass
class _Reporter:
    """``fit``'s callback: each epoch to MLflow, then to Tune, with a checkpoint now and then."""

    trial: _Trial
    study: StudyContext
    work: Path
    last_score: dict[str, float] = field(default_factory=dict)
    # of the last checkpoint handed to Tune (or the start)
    last_checkpoint: float = field(default_factory=time.monotonic)

    def __call__(self, result: EpochResult) -> None:
        """Log the epoch, report it to Tune, then the test-only fault, if any."""
        cfg, tracker = self.trial.cfg, self.trial.tracker
        tracker.log_epoch(result.epoch, result.metrics)
        if result.epoch == cfg.epochs:
            # Before the last report: Tune may stop the trial as soon as it has it.
            _log_final_artifacts(tracker, result.config or cfg, result.metrics, self.work)
        # Tune's scheduler needs the metric every epoch: between evaluations, the last one.
        self.last_score.update({k: v for k, v in result.metrics.items() if k in TUNE_METRICS})
        self._report({**self.last_score, **result.metrics}, result)
        _maybe_inject_fault(self.study.fault, result.epoch, cfg)

    def _report(self, metrics: dict[str, float], result: EpochResult) -> None:
        """Hand Tune the epoch's metrics, with its checkpoint when one is due."""
        now = time.monotonic()
        due = now - self.last_checkpoint >= self.study.checkpoint_every_s
        if result.epoch < self.trial.cfg.epochs and not due:
            tune.report(metrics)
            return
        self.last_checkpoint = now
        self.trial.tracker.flush()  # the epochs Tune's checkpoint holds are in MLflow first
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copy2(result.checkpoint, Path(tmp) / CHECKPOINT_NAME)
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(tmp))


def _train(trial: _Trial, study: StudyContext, work: Path, resume: Path | None) -> None:
    """Train the trial (``fit``, or ``dry_fit`` with ``--dry-run``) and end its run as it ended."""
    tracker = trial.tracker
    report = _Reporter(trial, study, work)
    with system_metrics(tracker.run_id, study.tracking_uri, on=study.system_metrics):
        try:
            train = dry_fit if study.dry_run else fit
            images = study.attention_images
            train(trial.cfg, work, resume=resume, callback=report, attention_images=images)
        except SystemExit:
            # Tune stops a trial (ASHA, the end of its budget, the study's Ctrl-C) by raising
            # SystemExit at its next report. Whether it stopped early or was interrupted is
            # the driver's to say (a3m.study.reconcile, from the epochs the run logged): after a
            # Ctrl-C this report can come while or after the driver reconciles the run, so
            # the run ends FINISHED here only if nothing ended it yet.
            tracker.finish("FINISHED", force=False)
            raise
        except BaseException as exc:
            tracker.finish("FAILED", error=plain_error(exc))
            if not is_deterministic(exc):
                raise  # Tune retries it from its last checkpoint (--max-failures)
            # It would fail the same way from the same checkpoint: FAILED with its reason, and
            # no exception, so Tune does not retry it (the driver counts it from MLflow).
            _report_failed()
            return
        tracker.finish("FINISHED")


def _report_failed() -> None:
    """A failed trial's last result: the metrics Tune ranks by, as NaN (without a checkpoint:
    on a full disk, writing one is what failed)."""
    with contextlib.suppress(Exception):
        tune.report({"score": math.nan, "val_score": math.nan, "a3m_failed": 1})


def _fail_unbuilt(config: dict[str, Any], study: StudyContext, error: ConfigError) -> None:
    """A trial whose config does not build in its worker (the driver checked it, so: a value
    an Optuna search drew, a plugin module this worker cannot import): its run ends FAILED with
    the reason at once, its settings as params, and Tune gets a result, not an exception to
    retry."""
    name = f"{config.get('variant', '?')} seed={config.get('seed', '?')}"  # as run_name's
    trial_id = tune.get_context().get_trial_id()
    tracker = RunTracker.for_trial(
        study.tracking_uri, study.experiment_id, study.parent_run_id, trial_id, name
    )
    settings = {k: v for k, v in config.items() if k != POINT_KEY and LABEL_SEP not in k}
    tracker.log_params(settings, {})
    tracker.finish("FAILED", error=plain_error(error))
    _report_failed()


@contextlib.contextmanager
def system_metrics(
    run_id: str, tracking_uri: str, on: bool = True, every_s: float = 10.0
) -> Iterator[None]:
    """MLflow's system-metrics monitor on a trial's run while the block runs: ``system/*``
    metrics every ``every_s`` seconds (CPU, memory, disk, network; GPU utilisation and memory
    through NVML on GPU nodes). Where its dependencies are missing it says so and the trial
    runs without: never worth failing a trial."""
    monitor = None
    if on:
        try:
            from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

            monitor = SystemMetricsMonitor(
                run_id, sampling_interval=every_s, tracking_uri=tracking_uri
            )
            monitor.start()
        except Exception as err:  # psutil / NVML missing or broken on this node
            print(f"system metrics off for run {run_id}: {type(err).__name__}: {err}")
            monitor = None
    try:
        yield
    finally:
        if monitor is not None:
            monitor.finish()


def _log_final_artifacts(
    tracker: RunTracker, cfg: RunConfig, final: dict[str, float], work: Path
) -> None:
    """Final metrics JSON, per-attribute accuracies, config, and the attention maps ``fit``
    drew from the final model (``attention_images``) before this last callback."""
    tracker.log_dict(final, "metrics/final.json")
    per_attr = {k.split("/", 1)[1]: v for k, v in final.items() if k.startswith("attr_acc/")}
    if per_attr:
        tracker.log_dict(per_attr, "metrics/attribute_accuracy.json")
    tracker.log_dict(cfg.to_flat_dict(), "config.json")
    drawn = work / ATTENTION_DIR_NAME
    if any(drawn.glob("*.png")):  # none for Baseline-1, or with attention_images = 0
        tracker.log_artifacts(drawn, ATTENTION_DIR_NAME)


FAULT_NAME = "A3M_TEST_FAULT"


def _maybe_inject_fault(fault: dict[str, Any], epoch: int, cfg: RunConfig) -> None:
    """Tests only. ``fail``: raise in the trials of given seeds whose settings match (a variant
    that fails on its hard seeds). ``exit_after_epoch``: SIGKILL this worker process once, after
    that epoch, as the out-of-memory killer or a lost node would (tests of preemption and of
    retry from a checkpoint). ``sleep_s``: wait that long after each epoch (a study that
    stays up long enough to be looked at)."""
    if fault and fault.get("sleep_s"):
        time.sleep(float(fault["sleep_s"]))
    fail = fault.get("fail") if fault else None
    if fail and cfg.seed in fail["seeds"]:
        flat = cfg.to_flat_dict()
        if all(str(flat[k]) == str(v) for k, v in fail.get("where", {}).items()):
            raise RuntimeError(f"injected failure on seed {cfg.seed} ({FAULT_NAME})")
    if not fault or epoch != fault.get("exit_after_epoch"):
        return
    marker = Path(fault["marker"])
    if marker.exists():
        return
    marker.write_text(str(os.getpid()))
    os.kill(os.getpid(), signal.SIGKILL)
