"""What a study's driver prints while its trials run: one line per trial that ends, in place of
Tune's per-result tables (``--verbose`` brings those and the trials' own log lines back)."""

from __future__ import annotations

import math
from typing import Any

from ray import tune

from a3m.study.trainable import run_name, trial_config


class TrialLines(tune.Callback):
    """``[3/9] a3m alpha=0.1 beta=0.5 seed=0: score 0.4267 after 8 epochs, 14 s``, or the
    trial's failure, as each trial ends.

    Args:
        axes: the fields the study varies (they name the trial, as its MLflow run).
    """

    def __init__(self, axes: tuple[str, ...]):
        self.axes = axes
        self.ended = 0

    def name(self, trial: Any) -> str:
        """The trial as its MLflow run is named; Tune's name if its config does not build."""
        try:
            return run_name(trial_config(trial.config), self.axes)
        except Exception:
            return str(trial)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.ended += 1
        last = trial.last_result or {}
        score = last.get("score", math.nan)
        epochs, seconds = last.get("training_iteration", 0), last.get("time_total_s", math.nan)
        outcome = f"score {score:.4f} after {epochs} epochs, {seconds:.0f} s"
        if not math.isfinite(score):  # it ended itself FAILED (an error a retry would repeat)
            outcome = "ended without a score: its MLflow run says why (a3m.error)"
        print(f"[{self.ended}/{len(trials)}] {self.name(trial)}: {outcome}", flush=True)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.ended += 1
        print(f"[{self.ended}/{len(trials)}] {self.name(trial)}: FAILED (its MLflow run "
              "says why)", flush=True)  # fmt: skip

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        print(f"{self.name(trial)}: crashed, retrying from its last checkpoint", flush=True)
