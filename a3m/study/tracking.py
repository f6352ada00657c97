"""MLflow tracking: one experiment per study, a parent run per invocation, a child run per
trial; and ``a3m train``'s runs, logged the same way so that leaderboards rank them too.

Everything goes through :class:`mlflow.MlflowClient` with explicit run ids (no global "active
run"), so trials in Ray workers, retried trials and resumed studies all find their own runs:
:class:`RunTracker` looks a run up by its key tags (a trial's id under its parent, a single
run's folder) before it creates one, which is what keeps a retried or restored trial from
making a duplicate run. Metrics, params and tags go in batches (``log_batch``, which splits
them into requests MLflow accepts), never one request per value.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import re
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.entities import DatasetInput, Metric, Param, Run, RunStatus, RunTag
from mlflow.exceptions import MlflowException

from a3m.config import RunConfig, fields_with_role
from a3m.data.kind import KIND_TAG, DataKind, dataset_kind
from a3m.provenance import ANY_CODE, CODE_TAG, code_fingerprint, code_version


def _telemetry_off_unless_asked() -> None:
    """MLflow's usage telemetry thread sets and unsets a variable of ``os.environ`` while
    requests read it: a KeyError now and then in a trial's logging call under load (seen with
    32 writers). Off unless ``MLFLOW_DISABLE_TELEMETRY`` says otherwise; ``import mlflow``
    already started it, so it is set up again."""
    if "MLFLOW_DISABLE_TELEMETRY" in os.environ:
        return
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    try:
        from mlflow.telemetry.client import set_telemetry_client
    except ImportError:  # an MLflow without telemetry
        return
    set_telemetry_client()


_telemetry_off_unless_asked()

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
PARENT_TAG = "mlflow.parentRunId"
TRIAL_TAG = "a3m.trial_id"
STUDY_PATH_TAG = "a3m.study_path"
ERROR_TAG = "a3m.error"
STOPPED_EARLY_TAG = "a3m.stopped_early"
RETRIES_TAG = "a3m.retries"  # on a trial run: how many times it was started again after a crash
RETRIED_AFTER_TAG = "a3m.retried_after"  # ... and the reason of the last crash
PREEMPTED_TAG = "a3m.preempted"  # on a trial run: times it lost its process or node (a count)
CHECKPOINT_TAG = "a3m.checkpoint"  # on an unfinished trial run: its last checkpoint's URI
RESUMED_AT_TAG = "a3m.resumed_at_epoch"  # the epoch of the checkpoint its last attempt began at
CONTINUED_FROM_TAG = "a3m.continued_from"  # a run adopted by a re-run: its first parent run
REFERENCE_TAG = "a3m.reference"  # on a parent run: JSON of the study's reference FIELD -> value
VERDICT_ALPHA_TAG = "a3m.verdict_alpha"  # on parent runs before a3m.inference: their alpha
INFERENCE_TAG = "a3m.inference"  # on a parent run: JSON of how its verdicts are decided
STUDY_TAG = "a3m.study"  # on a parent run: the study script's name
RUN_KIND_TAG = "a3m.run_kind"  # "trial" (a study's) or "single" (a3m train): a training run
RUN_DIR_TAG = "a3m.run_dir"  # on a single run: its output folder (its key)
MAX_ERROR_CHARS = 5000  # of a failure's reason kept in a3m.error
IDENTITY_TAG = "a3m.identity"  # on a training run: what it computes (trial_identity)
NOT_IDENTITY = fields_with_role("speed", "place")
"""RunConfig fields that say where and how fast a run ran, not what it computed (their roles:
:data:`a3m.config.ROLES`)."""


USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/@:\s]*):[^@/\s]*@")
"""The ``user:password@`` of a URL."""


def redact(text: str) -> str:
    """``postgresql://user:secret@host/db`` -> ``postgresql://user:***@host/db``, anywhere in
    ``text``."""
    return USERINFO.sub(r"\g<scheme>\g<user>:***@", text)


def resolve_tracking_uri(uri: str | None = None) -> str:
    """``uri``, else ``$MLFLOW_TRACKING_URI``, else a SQLite file in the working directory.

    A relative SQLite path is made absolute, because Ray Tune runs each trial in its own
    working directory and must still reach the same database.
    """
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        uri = "sqlite:///" + str(Path(uri[len("sqlite:///") :]).resolve())
    elif "://" not in uri:  # a plain folder: MLflow's file store
        uri = Path(uri).resolve().as_uri()
    return uri


def open_store(tracking_uri: str) -> MlflowClient:
    """A client whose store is set up, safely when several studies start on one new SQLite
    file: MLflow creates or migrates the schema when it first opens a store, and two processes
    doing that at once collide (``duplicate column name``). The first to take the file lock
    beside the database sets the schema up; the others then find it done."""
    if not tracking_uri.startswith("sqlite:///"):
        return MlflowClient(tracking_uri)
    import fcntl

    database = Path(tracking_uri[len("sqlite:///") :])
    database.parent.mkdir(parents=True, exist_ok=True)
    with open(database.with_name(database.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            client = MlflowClient(tracking_uri)
            client.search_experiments(max_results=1)  # opens the store: schema set-up
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return client


def default_optuna_storage(tracking_uri: str) -> str | None:
    """Where a study keeps its Optuna trials unless ``--optuna-storage`` says: ``optuna.db``
    beside a SQLite MLflow store (both use Alembic's version table, so they cannot share one
    database); None for other stores."""
    uri = resolve_tracking_uri(tracking_uri)
    if not uri.startswith("sqlite:///"):
        return None
    return "sqlite:///" + str(Path(uri[len("sqlite:///") :]).with_name("optuna.db"))


@functools.lru_cache(maxsize=1)
def environment_tags() -> dict[str, str]:
    """Git commit of the code, the fingerprint of the code that computes a result
    (:data:`a3m.provenance.CODE_TAG`) and the versions of the packages that decide one."""
    import mlflow
    import ray
    import torch
    import torchvision

    import a3m

    here = Path(a3m.__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here, capture_output=True, text=True, timeout=10,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "", ""
    # `ray job submit --working-dir` uploads the code without .git: the submitter names it.
    commit = commit or os.environ.get("A3M_GIT_COMMIT", "")
    return {
        "mlflow.source.git.commit": commit or "unknown",
        "a3m.git_dirty": str(bool(dirty)).lower(),
        CODE_TAG: code_fingerprint(),
        "a3m.version": a3m.__version__,
        "a3m.torch": torch.__version__,
        "a3m.torchvision": torchvision.__version__,
        "a3m.ray": ray.__version__,
        "a3m.mlflow": mlflow.__version__,
    }


def config_tags(cfg: RunConfig, fingerprint: str, source: str = "") -> dict[str, str]:
    """The tags of a training run that MLflow's search and our tables filter on, and the
    ``source`` (the study script, ``a3m train``) in the UI's Source column."""
    return {
        "mlflow.source.name": source or "a3m",
        "mlflow.source.type": "LOCAL",
        "a3m.dataset_fingerprint": fingerprint,
        "a3m.variant": cfg.variant,
        "a3m.seed": str(cfg.seed),
        "a3m.dataset": cfg.dataset,
        "a3m.backbone": cfg.backbone,
    }


EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}
"""The experiment tag from which MLflow 3's UI opens an experiment on its training runs (not on
its GenAI overview of traces, which our experiments never have)."""


def canonical(value: Any) -> str:
    """A param value as comparable text: ``0.5`` == ``"0.50"``, ``True`` == ``"true"``."""
    text = str(value).strip()
    if text.lower() in ("true", "false"):
        return text.lower()
    try:
        number = float(text)
    except ValueError:
        return text
    return repr(number) if math.isfinite(number) else text


def trial_identity(flat_config: Mapping[str, Any], fingerprint: str) -> str:
    """A run's identity: a stable hash of every setting that changes its result (the seed
    included, :data:`NOT_IDENTITY` left out) and of its data's fingerprint. Two runs with one
    identity compute the same thing; a study re-run skips the identities already FINISHED."""
    settings = {k: canonical(v) for k, v in flat_config.items() if k not in NOT_IDENTITY}
    text = json.dumps({"config": settings, "data": fingerprint}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def search_all(client: MlflowClient, experiment_id: str, filter_string: str) -> Iterable[Run]:
    """Every run of the experiment matching ``filter_string``, page by page."""
    token = None
    while True:
        page = client.search_runs(
            [experiment_id], filter_string=filter_string, max_results=5000, page_token=token
        )
        yield from page
        token = page.token
        if not token:
            return


def _latest_of_code(
    runs: Iterable[tuple[str, int, str, Any]], code: str | None, others: dict[str, str] | None
) -> dict[str, Any]:
    """identity -> the value of its latest run among ``runs`` (identity, start time, code
    fingerprint, value) trained by ``code`` (None: this code; :data:`ANY_CODE`: any, this
    code's runs first). ``others``, when given, gets identity -> fingerprint of each identity
    whose run is not this code's: left out, or with ANY_CODE taken all the same."""
    current = code_fingerprint() if code in (None, ANY_CODE) else code
    chosen: dict[str, tuple[tuple[bool, int], str, Any]] = {}
    passed: dict[str, tuple[int, str]] = {}  # identity -> the latest run left out for its code
    for key, started, run_code, value in runs:
        if code == ANY_CODE or run_code == current:
            rank = (run_code == current, started)
            if key not in chosen or rank > chosen[key][0]:
                chosen[key] = (rank, run_code, value)
        elif key not in passed or started > passed[key][0]:
            passed[key] = (started, run_code)
    if others is not None:
        others.update({k: c for k, (_, c) in passed.items() if k not in chosen})
        others.update({k: c for k, (_, c, _) in chosen.items() if c != current})
    return {key: value for key, (_, _, value) in chosen.items()}


def finished_identities(
    client: MlflowClient,
    experiment_id: str,
    code: str | None = None,
    others: dict[str, str] | None = None,
) -> dict[str, str]:
    """identity -> run id of the experiment's training runs that FINISHED their whole budget
    (not stopped early), the latest one per identity, among the runs trained by the code
    ``code`` (tag ``a3m.code``; None: this code, :func:`a3m.provenance.code_fingerprint`;
    :data:`a3m.provenance.ANY_CODE`: any code, this code's runs first). A run without the tag
    (logged before runs had one) is of no code but ANY_CODE's.

    Args:
        others: filled, when given, with identity -> code fingerprint of the identities whose
            run is of other code (``unrecorded`` without one): those left out, or, with
            ANY_CODE, those taken all the same.
    """
    query = f"attributes.status = 'FINISHED' and tags.`{IDENTITY_TAG}` LIKE '%'"
    runs = []
    for run in search_all(client, experiment_id, query):
        tags = run.data.tags
        if tags.get(STOPPED_EARLY_TAG) == "true":
            continue
        started = run.info.start_time or 0
        runs.append((tags[IDENTITY_TAG], started, code_version(tags), run.info.run_id))
    return _latest_of_code(runs, code, others)


def continuable_runs(
    client: MlflowClient,
    experiment_id: str,
    code: str | None = None,
    others: dict[str, str] | None = None,
) -> dict[str, tuple[str, str]]:
    """identity -> (run id, checkpoint URI) of the experiment's trial runs that ended KILLED
    (lost with their node, or interrupted) with a checkpoint on record: what a re-run of the
    study continues instead of starting again. The latest run per identity among those trained
    by the code ``code`` and ``others`` as in :func:`finished_identities` (a checkpoint of
    other code is not continued by this one unless ANY_CODE says)."""
    query = f"attributes.status = 'KILLED' and tags.`{CHECKPOINT_TAG}` LIKE '%'"
    runs = []
    for run in search_all(client, experiment_id, query):
        tags = run.data.tags
        if key := tags.get(IDENTITY_TAG):
            found = (run.info.run_id, tags[CHECKPOINT_TAG])
            runs.append((key, run.info.start_time or 0, code_version(tags), found))
    return _latest_of_code(runs, code, others)


def get_or_create_experiment(client: MlflowClient, name: str) -> str:
    """The experiment's id (created, or restored from the trash), tagged so that the MLflow UI
    opens it on its training runs."""
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        return client.create_experiment(name, tags=EXPERIMENT_KIND)
    if experiment.lifecycle_stage == "deleted":
        client.restore_experiment(experiment.experiment_id)
    for key, value in EXPERIMENT_KIND.items():
        if experiment.tags.get(key) != value:
            client.set_experiment_tag(experiment.experiment_id, key, value)
    return experiment.experiment_id


def find_parent_run(client: MlflowClient, experiment_id: str, study_path: str) -> Run | None:
    """The parent run of the study invocation whose Tune folder is ``study_path``, if any."""
    found = client.search_runs(
        [experiment_id], filter_string=f"tags.`{STUDY_PATH_TAG}` = '{study_path}'", max_results=1
    )
    return found[0] if found else None


def start_parent_run(
    client: MlflowClient,
    experiment_id: str,
    study_path: str,
    tags: Mapping[str, str],
    params: Mapping[str, Any] | None = None,
    run_name: str | None = None,
) -> str:
    """The study invocation's parent run: reused (set running again) when a run with the same
    Tune experiment path exists, i.e. when a study is resumed. ``params``: the settings every
    trial shares."""
    existing = find_parent_run(client, experiment_id, study_path)
    if existing is not None:
        run_id = existing.info.run_id
        client.update_run(run_id, status="RUNNING")
        return run_id
    run = client.create_run(
        experiment_id,
        tags={**environment_tags(), **tags, STUDY_PATH_TAG: study_path},
        run_name=run_name or Path(study_path).name,
    )
    client.log_batch(run.info.run_id, params=as_params(params or {}))
    return run.info.run_id


def metrics_at(values: Mapping[str, Any], step: int, timestamp: int | None = None) -> list[Metric]:
    """MLflow metrics of the numeric values of a dict, at one step (non-numbers skipped)."""
    timestamp = int(time.time() * 1000) if timestamp is None else timestamp
    out = []
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        out.append(Metric(key, float(value), timestamp, step))
    return out


def as_params(values: Mapping[str, Any]) -> list[Param]:
    """MLflow params (text) of a dict, for ``MlflowClient.log_batch`` (which chunks them)."""
    return [Param(k, str(v)) for k, v in values.items()]


def as_tags(values: Mapping[str, Any]) -> list[RunTag]:
    """MLflow tags of a dict, for ``MlflowClient.log_batch``."""
    return [RunTag(k, str(v)) for k, v in values.items()]


LOG_EVERY_S = 5.0
"""Least time between two requests of a run's epoch metrics (:meth:`RunTracker.log_epoch`).
Epochs of real training take longer and each goes at once; the epochs of a synthetic or
dry-run trial (a second or less) go several to a request: an epoch's metrics (~60 values) were
one request (and on SQLite one fsync'd commit) each, the most of a dry-run trial's time."""


def is_duplicate_key(err: Exception) -> bool:
    """Whether a store refused a write because its row exists (PostgreSQL, MySQL, SQLite)."""
    text = str(err)
    return any(m in text for m in ("UniqueViolation", "duplicate key", "Duplicate entry",
                                   "UNIQUE constraint failed"))  # fmt: skip


class RunTracker:
    """The MLflow run of one training run: params, per-epoch metrics, artifacts, its end.

    The run is found again by its *key* tags before one is created, which is what keeps a
    retried or restored trial, or ``a3m train --resume``, in the run it started:
    :meth:`for_trial` keys a study's trial by its Tune trial id under the study's parent run,
    :meth:`for_single_run` keys ``a3m train`` by its output folder. Both carry
    ``a3m.run_kind``, which the leaderboard, ``a3m compare`` and the dashboards read.

    Args:
        tracking_uri: absolute tracking URI.
        experiment_id: the run's experiment.
        key: the tags that identify the run (all must match).
        run_name: a readable name for a new run.
    """

    def __init__(
        self,
        tracking_uri: str,
        experiment_id: str,
        key: Mapping[str, str],
        run_name: str | None = None,
        adopt: str | None = None,
    ):
        self.client = MlflowClient(tracking_uri)
        found = self.client.search_runs(
            [experiment_id],
            filter_string=" and ".join(f"tags.`{k}` = '{v}'" for k, v in key.items()),
            max_results=1,
        )
        if not found and adopt:
            # A run an earlier invocation left unfinished: it becomes this key's run, so the
            # continued trial keeps one history (its first parent is named on it).
            run = self.client.get_run(adopt)
            first_parent = run.data.tags.get(PARENT_TAG, "")
            self.client.log_batch(adopt, tags=as_tags({**key, CONTINUED_FROM_TAG: first_parent}))
            found = [self.client.get_run(adopt)]
        if found:
            self.run_id = found[0].info.run_id
            self.status = found[0].info.status
            self._error = found[0].data.tags.get(ERROR_TAG)
            self._stopped_early = STOPPED_EARLY_TAG in found[0].data.tags
            self._retries = int(found[0].data.tags.get(RETRIES_TAG, 0))
            self._preempted = int(found[0].data.tags.get(PREEMPTED_TAG, 0))
            self._existing = True
            # the code of its earlier attempts: a3m.provenance.provenance_tags(before=...)
            self.code_before: str | None = found[0].data.tags.get(CODE_TAG)
        else:
            tags = {**environment_tags(), **key}
            run = self.client.create_run(experiment_id, tags=tags, run_name=run_name)
            self.run_id, self.status, self._error = run.info.run_id, "RUNNING", None
            self._stopped_early = False
            self._retries, self._preempted, self._existing = 0, 0, False
            self.code_before = None
        # A run created just now has nothing logged: no request to ask (nor below).
        self._logged_epochs = self._epochs_in_store() if self._existing else set()
        self._pending: list[Metric] = []  # epochs logged here, not yet sent (LOG_EVERY_S)
        self._sent_at = -math.inf  # the first epoch goes at once

    @classmethod
    def for_trial(
        cls,
        tracking_uri: str,
        experiment_id: str,
        parent_run_id: str,
        trial_id: str,
        run_name: str | None = None,
        adopt: str | None = None,
    ) -> RunTracker:
        """A study's trial: the child of the parent run, found by Tune's trial id (stable
        across retries and ``Tuner.restore``); where there is none yet, the run ``adopt`` (an
        unfinished run of the same identity that this trial continues), else a new one."""
        key = {RUN_KIND_TAG: "trial", PARENT_TAG: parent_run_id, TRIAL_TAG: trial_id}
        return cls(tracking_uri, experiment_id, key, run_name, adopt=adopt)

    @classmethod
    def for_single_run(
        cls, tracking_uri: str, experiment: str, run_dir: str | Path, run_name: str | None = None
    ) -> RunTracker:
        """``a3m train``: a run of its own, found by its output folder (``--resume`` of the
        same folder continues it)."""
        uri = resolve_tracking_uri(tracking_uri)
        experiment_id = get_or_create_experiment(open_store(uri), experiment)
        key = {RUN_KIND_TAG: "single", RUN_DIR_TAG: str(Path(run_dir).resolve())}
        return cls(uri, experiment_id, key, run_name)

    def start(self) -> None:
        """Mark the run RUNNING (again, for a retried or restored trial). A run found RUNNING
        or FAILED did not end cleanly: this start is a retry, counted (``a3m.retries``) with
        the reason of the attempt before (``a3m.retried_after``). A run found RUNNING lost its
        process or node without a word (SIGKILL, out of memory, a node gone): that attempt was
        preempted, not failed, and is counted as such too (``a3m.preempted``)."""
        if self._existing and self.status in ("RUNNING", "FAILED"):
            self._retries += 1
            reason = self._error or (
                "the attempt ended without a word: its process was killed (out of memory, "
                "SIGKILL) or its node or driver was lost"
            )
            tags = {RETRIES_TAG: str(self._retries), RETRIED_AFTER_TAG: reason[:MAX_ERROR_CHARS]}
            if self.status == "RUNNING":
                self._preempted += 1
                tags[PREEMPTED_TAG] = str(self._preempted)
            self.client.log_batch(self.run_id, tags=as_tags(tags))
        if self.status != "RUNNING":
            self.client.update_run(self.run_id, status="RUNNING")
            self.status = "RUNNING"
        if self._stopped_early:
            # A resumed trial: the tag of an earlier stop (an interrupt) no longer holds.
            self.client.delete_tag(self.run_id, STOPPED_EARLY_TAG)
            self._stopped_early = False
        if self._error:  # the crash's reason is kept above, not as this attempt's error
            self.client.delete_tag(self.run_id, ERROR_TAG)
            self._error = None

    def complete(self, epochs: int) -> bool:
        """Whether the run already ended FINISHED with all ``epochs`` logged (not stopped
        early): a trial started again on it has nothing left to do."""
        done = max(self._logged_epochs, default=0) >= epochs
        return self.status == "FINISHED" and done and not self._stopped_early

    def last_metrics(self, names: Iterable[str]) -> dict[str, float]:
        """The run's latest value of each metric in ``names`` (NaN where it has none)."""
        logged = self.client.get_run(self.run_id).data.metrics
        return {name: logged.get(name, math.nan) for name in names}

    def _epochs_in_store(self) -> set[int]:
        return {int(m.step) for m in self.client.get_metric_history(self.run_id, "epoch")}

    @property
    def logged_epochs(self) -> set[int]:
        return set(self._logged_epochs)

    def log_params(self, params: Mapping[str, Any], tags: Mapping[str, str]) -> None:
        """Params once per run (MLflow refuses to change a param); tags any time."""
        existing = self.client.get_run(self.run_id).data.params if self._existing else {}
        new = {k: v for k, v in params.items() if k not in existing}
        self.client.log_batch(self.run_id, params=as_params(new), tags=as_tags(tags))

    def log_epoch(self, epoch: int, values: Mapping[str, float]) -> bool:
        """Log one epoch's metrics at step = epoch, unless that epoch is already logged (a
        trial retried after it logged but before its checkpoint was kept). Returns whether
        it logged. Sent at once when :data:`LOG_EVERY_S` have passed since the last request
        of the run's metrics (the first epoch always), else with the next one or at
        :meth:`flush`."""
        if epoch in self._logged_epochs:
            return False
        self._pending += metrics_at({**values, "epoch": epoch}, epoch)
        self._logged_epochs.add(epoch)
        if time.monotonic() - self._sent_at >= LOG_EVERY_S:
            self.flush()
        return True

    def flush(self) -> None:
        """Send the epochs logged but not yet sent (one request; MLflow's client splits
        batches beyond its limits). The trainable flushes before it hands Tune a checkpoint,
        and :meth:`finish` does: an epoch lost with its process is one the trial computes
        again, or finds in its checkpoint's history."""
        if self._pending:
            self.client.log_batch(self.run_id, metrics=self._pending)
            self._pending = []
        self._sent_at = time.monotonic()

    def log_history(self, history: Iterable[Mapping[str, float]]) -> int:
        """Log the epochs of a restored checkpoint's history that the store lacks."""
        return sum(self.log_epoch(int(row["epoch"]), row) for row in history)

    def log_dataset(
        self, name: str, fingerprint: str, root: str | Path, inputs: Sequence[DatasetInput]
    ) -> DataKind:
        """The run's data: ``inputs``, one per split it reads (the UI's Dataset column:
        :func:`a3m.study.inputs.dataset_inputs`), each logged once, and what the data is as the
        tag ``a3m.data.kind`` (:func:`a3m.data.kind.dataset_kind`), which it returns."""
        kind = dataset_kind(name, root, fingerprint=fingerprint)
        self.client.set_tag(self.run_id, KIND_TAG, kind.value)
        logged = self.client.get_run(self.run_id).inputs.dataset_inputs if self._existing else []
        have = {(i.dataset.name, i.dataset.digest) for i in logged}
        inputs = [i for i in inputs if (i.dataset.name, i.dataset.digest) not in have]
        if not inputs:
            return kind
        try:
            self.client.log_inputs(self.run_id, inputs)
        except MlflowException as err:
            # Trials starting together each insert the dataset's row (MLflow looks, then
            # inserts): on PostgreSQL all but one meet a duplicate key; a retry links to it.
            if not is_duplicate_key(err):
                raise
            self.client.log_inputs(self.run_id, inputs)
        return kind

    def log_dict(self, obj: Any, artifact_file: str) -> None:
        self.client.log_text(self.run_id, json.dumps(obj, indent=2, sort_keys=True), artifact_file)

    def log_artifacts(self, local_dir: str | Path, artifact_path: str | None = None) -> None:
        self.client.log_artifacts(self.run_id, str(local_dir), artifact_path)

    def finish(
        self, status: str = "FINISHED", error: str | None = None, force: bool = True
    ) -> None:
        """End the run (its pending epochs sent first); a failure keeps its reason as the tag
        ``a3m.error``. ``force=False``: unless something else ended it already."""
        self.flush()
        finish_run(self.client, self.run_id, status, error=error, force=force)
        self.status = status


def finish_run(
    client: MlflowClient, run_id: str, status: str, error: str | None = None, force: bool = False
) -> None:
    """End a run with ``status``; ``error`` (credentials redacted, cut to 5,000 characters)
    becomes its ``a3m.error`` tag. A run that already ended keeps its status unless ``force``
    (the driver reconciling after ``Tuner.fit`` does not overwrite what a trial said)."""
    if error:
        client.set_tag(run_id, ERROR_TAG, redact(error)[:MAX_ERROR_CHARS])
    if not force:
        status_now = client.get_run(run_id).info.status
        if RunStatus.is_terminated(RunStatus.from_string(status_now)):
            return
    client.set_terminated(run_id, status=status)
