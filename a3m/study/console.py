"""What a study's driver prints while its trials run: how many trials it queued, one line per
trial that ends, and every :data:`STATUS_EVERY_S` seconds the trials running, each named like its
MLflow run. This replaces Tune's own output (a table of every trial's configuration as it
starts and of every result as it ends); ``--verbose`` brings that and the trials' own log lines
back."""

from __future__ import annotations

import logging
import math
import os
import time
from collections import Counter
from typing import Any

from ray import tune

from a3m.study.disk import quiet_disk_full_logs
from a3m.study.trainable import run_name, trial_config

QUIET_LOGGERS = ("ray._private.worker", "ray.tune.tune")
"""Ray's loggers whose INFO lines the quiet console drops: "Started a local Ray instance" (the
driver says which Ray it uses) and "Wrote the latest version of all result files" (the
summary says where Tune's results are). Their warnings stay."""


def set_console(verbose: bool) -> None:
    """Quiet (``verbose`` False): Tune and Ray print only warnings and errors, and
    :class:`TrialLines` says the rest. Verbose: Tune's and Ray's own output, as they make it.

    Tune's default output engine prints a box with the experiment's searcher and scheduler
    and a "View detailed results here" line at any verbosity; its older engine, at verbosity
    0, prints nothing (``RAY_AIR_NEW_OUTPUT=0``, read when the Tuner runs)."""
    if verbose:
        os.environ.pop("RAY_AIR_NEW_OUTPUT", None)
    else:
        os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if verbose else logging.WARNING)
    quiet_disk_full_logs(verbose)


STATUS_EVERY_S = 30.0
"""Least time between two status blocks."""
MAX_SHOWN = 8
"""Running trials listed in a status block (the rest are counted)."""


class TrialLines(tune.Callback):
    """``[3/9] a3m alpha=0.1 beta=0.5 seed=0: score 0.4267 after 8 epochs, 14 s``, or the
    trial's failure, as each trial ends; and a status block now and then::

        [14:02:31] 3 of 9 trials ended, 2 running, 4 pending
          a3m alpha=0.5 beta=0.1 seed=0: epoch 5/8, score 0.4133
          a3m alpha=0.5 beta=0.3 seed=0: epoch 2/8, score 0.2900

    Args:
        axes: the fields the study varies (they name the trial, as its MLflow run).
        every_s: least time between two status blocks.
    """

    def __init__(
        self, axes: tuple[str, ...], every_s: float = STATUS_EVERY_S, dry_run: bool = False
    ):
        self.axes = axes
        self.score_word = "made-up score" if dry_run else "score"  # a dry run's are not results
        self.every_s = every_s
        self.ended = 0
        self._last_status = time.monotonic()

    def name(self, trial: Any) -> str:
        """The trial as its MLflow run is named; Tune's name if its config does not build."""
        try:
            return run_name(trial_config(trial.config), self.axes)
        except Exception:
            return str(trial)

    def setup(self, total_num_samples: int | None = None, **info: Any) -> None:
        if total_num_samples:
            print(f"{total_num_samples} trials queued: a line as each ends, the running ones "
                  f"every {self.every_s:.0f} s (--verbose: Tune's own tables)",
                  flush=True)  # fmt: skip

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        now = time.monotonic()
        if now - self._last_status >= self.every_s:
            self._last_status = now
            print(self.status(trials), flush=True)

    def status(self, trials: list) -> str:
        """The status block: counts, then the running trials with their epoch and score."""
        counts = Counter(t.status for t in trials)
        running = [t for t in trials if t.status == "RUNNING"]
        ended = counts["TERMINATED"] + counts["ERROR"]
        lines = [f"[{time.strftime('%H:%M:%S')}] {ended} of {len(trials)} trials ended, "
                 f"{len(running)} running, {counts['PENDING']} pending"]  # fmt: skip
        for trial in running[:MAX_SHOWN]:
            last = trial.last_result or {}
            epochs = trial.config.get("epochs", "?")
            progress = f"epoch {last.get('training_iteration', 0)}/{epochs}"
            if "score" in last:
                progress += f", {self.score_word} {last['score']:.4f}"
            lines.append(f"  {self.name(trial)}: {progress}")
        if len(running) > MAX_SHOWN:
            lines.append(f"  ... and {len(running) - MAX_SHOWN} more")
        return "\n".join(lines)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.ended += 1
        last = trial.last_result or {}
        score = last.get("score", math.nan)
        epochs, seconds = last.get("training_iteration", 0), last.get("time_total_s", math.nan)
        outcome = f"{self.score_word} {score:.4f} after {epochs} epochs, {seconds:.0f} s"
        if not math.isfinite(score):  # it ended itself FAILED (an error a retry would repeat)
            outcome = "ended without a score: its MLflow run says why (a3m.error)"
        print(f"[{self.ended}/{len(trials)}] {self.name(trial)}: {outcome}", flush=True)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.ended += 1
        print(f"[{self.ended}/{len(trials)}] {self.name(trial)}: lost or FAILED (its MLflow run "
              "says which, and why)", flush=True)  # fmt: skip

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        print(f"{self.name(trial)}: its process or node was lost; retrying from its last "
              "checkpoint", flush=True)  # fmt: skip
