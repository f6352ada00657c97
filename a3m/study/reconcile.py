"""After Tune's ``fit``: make MLflow agree with what Tune saw. A trial killed from outside
cannot end its own run; one lost with its node is preempted (KILLED), not failed."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any


def reconcile(client: Any, experiment_id: str, results: Any, interrupted: bool) -> tuple[int, int]:
    """Make MLflow agree with what Tune saw (a trial killed from outside cannot end its own
    run). A trial lost with its process or node after its retries (SIGKILL, out of memory, a
    node gone) is not failed: KILLED, tagged ``a3m.preempted``; so is one stopped by an
    interrupt (without the tag). Both keep their last checkpoint's URI (``a3m.checkpoint``),
    where a re-run of the study continues them. Returns (failed trials: Tune's errors and the
    runs a trial itself ended FAILED, preempted trials)."""
    from a3m.study.tracking import (
        CHECKPOINT_TAG,
        PREEMPTED_TAG,
        STOPPED_EARLY_TAG,
        as_tags,
        finish_run,
    )
    from a3m.study.trainable import plain_error

    errors = preempted = 0
    trial_ids = [
        (result.metrics or {}).get("trial_id") or _trial_id_from_path(result.path)
        for result in results
    ]
    run_of = _runs_by_trial(client, experiment_id, trial_ids)
    for result, trial_id in zip(results, trial_ids, strict=True):
        run = run_of.get(trial_id)
        if run is None:
            errors += result.error is not None
            continue
        run_id = run.info.run_id
        checkpoint = _checkpoint_uri(result.checkpoint)
        keep = {CHECKPOINT_TAG: checkpoint} if checkpoint else {}
        if result.error is not None and is_preemption(result.error):
            preempted += 1
            count = int(run.data.tags.get(PREEMPTED_TAG, 0)) + (run.info.status == "RUNNING")
            client.log_batch(run_id, tags=as_tags({**keep, PREEMPTED_TAG: str(max(1, count))}))
            finish_run(client, run_id, "KILLED", force=True)
        elif result.error is not None:
            errors += 1
            finish_run(client, run_id, "FAILED", error=plain_error(result.error))
        elif run.info.status == "FAILED":  # the trial's own verdict: not worth a retry
            errors += 1
        elif interrupted and (run.info.status == "RUNNING" or _short(run)):
            if STOPPED_EARLY_TAG in run.data.tags:
                client.delete_tag(run_id, STOPPED_EARLY_TAG)
            client.log_batch(run_id, tags=as_tags(keep))
            finish_run(client, run_id, "KILLED", force=True)
        elif run.info.status == "RUNNING" or _short(run):
            # stopped by Tune (ASHA) before its last epoch: the trial ended its run FINISHED,
            # or was ended before it could
            client.set_tag(run_id, STOPPED_EARLY_TAG, "true")
            finish_run(client, run_id, "FINISHED")
    return errors, preempted


def _short(run: Any) -> bool:
    """Whether a run logged fewer epochs than its config asks for (its ``epoch`` metric, the
    last one logged, below its ``epochs`` param): stopped early, or interrupted."""
    epochs, last = run.data.params.get("epochs"), run.data.metrics.get("epoch")
    return epochs is not None and (last is None or last < float(epochs))


def _runs_by_trial(client: Any, experiment_id: str, trial_ids: list[str]) -> dict[str, Any]:
    """Tune trial id -> its MLflow run: one paged search per Tune experiment (its trial ids
    share a prefix: ``0fdcf_00003``), not one per trial, which made reconciling 1,000 trials
    1,000 searches of a growing experiment."""
    from a3m.study.runs import search_all_runs
    from a3m.study.tracking import TRIAL_TAG

    found: dict[str, Any] = {}
    for prefix in sorted({t.split("_")[0] for t in trial_ids if t}):
        like = f"tags.`{TRIAL_TAG}` LIKE '{prefix}_%'"
        for run in search_all_runs(client, [experiment_id], like):  # newest first, as before
            found.setdefault(run.data.tags.get(TRIAL_TAG), run)
    return found


LOST_WITH_NODE = (
    "ActorDiedError",
    "ActorUnavailableError",
    "NodeDiedError",
    "OutOfMemoryError",
    "WorkerCrashedError",
    "LocalRayletDiedError",
)
"""Ray's errors for a trial whose process or node went away (not an exception of its code)."""


def is_preemption(error: BaseException) -> bool:
    """Whether Tune's error for a trial means it was lost with its process or node (SIGKILL,
    the out-of-memory killer, a spot node gone) rather than raised by its code."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if any(cls.__name__ in LOST_WITH_NODE for cls in type(error).__mro__):
            return True
        error = getattr(error, "cause", None) or error.__cause__
    return False


def _checkpoint_uri(checkpoint: Any) -> str | None:
    """A Tune checkpoint's location as a URI ``tune.Checkpoint`` opens again (a local path as
    it is)."""
    if checkpoint is None:
        return None
    scheme = checkpoint.filesystem.type_name
    return checkpoint.path if scheme == "local" else f"{scheme}://{checkpoint.path}"


def _trial_id_from_path(path: str | None) -> str:
    # A trial that failed before its first report has no metrics; its folder is named
    # "<trainable>_<experiment id>_<trial number>_<params>_<date>", the id being "xxxxx_nnnnn".
    match = re.search(r"_([0-9a-f]{5}_\d{5})_", Path(path or "").name)
    return match.group(1) if match else ""
