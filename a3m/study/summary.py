"""What a study ends with: its leaderboard and paired verdicts (CSV, the parent run, the
console), the parent run's final status, what to do next, and the :class:`StudyResult` the
after-study hooks receive."""

from __future__ import annotations

import signal
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from a3m.sequential import Inference
from a3m.study.disk import disk_full_note
from a3m.study.exits import EXIT_ALL_FAILED, EXIT_OK, EXIT_SOME_FAILED
from a3m.study.inputs import study_data_line
from a3m.study.plan import StudyPlan
from a3m.study.signals import exit_code_of


class StudyCrash(RuntimeError):
    """The study stopped for a cause outside its trials (a full disk under Tune's state); the
    message is one line, the exit status 1."""


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
    interrupted: bool = False  # stopped by Ctrl-C, SIGTERM (or SIGUSR1) before every trial ended
    optuna_storage: str | None = None  # the Optuna RDB URL an Optuna study used
    reused: int = 0  # trials not trained again: their identical run had FINISHED
    num_preempted: int = 0  # trials lost with their node, KILLED: a re-run continues them
    stop_signal: int = signal.SIGINT  # what interrupted it: SIGINT (Ctrl-C) or SIGTERM

    @property
    def exit_code(self) -> int:
        """The study script's exit status (README "Exit codes"): a trial lost with its node
        leaves the study unfinished, so it is not 0, but the trial did not fail."""
        if self.interrupted:
            return exit_code_of(self.stop_signal)
        if self.num_errors and self.num_errors >= self.num_trials:
            return EXIT_ALL_FAILED
        return EXIT_SOME_FAILED if self.num_errors or self.num_preempted else EXIT_OK


@dataclass
class Outcome:
    """What the rounds of one invocation trained (summed over ``--seeds auto``'s rounds)."""

    trained: int = 0
    errors: int = 0  # trials that failed: Tune's errors and runs a trial ended FAILED
    preempted: int = 0  # trials lost with their node or process once their retries ran out
    interrupted: bool = False
    reused: int = 0
    stop_signal: int = signal.SIGINT  # what interrupted it


def summarise(plan: StudyPlan, client: Any, parent_run_id: str, outcome: Outcome) -> StudyResult:
    """Leaderboard and paired verdicts (CSV, MLflow table on the parent run, console), the
    parent run's final status, and what to do next after an interrupt or a lost trial."""
    from a3m.study import leaderboard as lb
    from a3m.study.tracking import INFERENCE_TAG, finish_run

    out_dir = plan.out_dir
    csv: Path | None = out_dir / "leaderboard.csv"
    table, comparisons = None, None
    try:
        table, comparisons = lb.export_leaderboard(
            plan.experiment, plan.tracking_uri, csv, sort_by="score_mean",
            reference=plan.reference, inference=plan.inference,
        )  # fmt: skip
        client.log_artifact(parent_run_id, str(csv))
        if not comparisons.empty:
            # MLflow's table view (the run's artifacts) and the CSV beside the leaderboard.
            with warnings.catch_warnings():  # pandas 3's dtype notice, from inside MLflow
                warnings.filterwarnings("ignore", message=".*select_dtypes.*")
                client.log_table(parent_run_id, data=comparisons, artifact_file="comparisons.json")
            client.log_artifact(parent_run_id, str(csv.with_name("comparisons.csv")))
    except ValueError as e:
        print(f"no leaderboard: {e}")
        csv = None
    n, errors = outcome.trained, outcome.errors
    unfinished = outcome.interrupted or outcome.preempted
    status = "KILLED" if unfinished else "FINISHED" if errors < n or not n else "FAILED"
    client.set_tag(parent_run_id, INFERENCE_TAG, plan.inference.to_json())
    disk_full = disk_full_note(plan.storage, errors)
    finish_run(client, parent_run_id, status, error=disk_full)

    print(f"\n{study_data_line(plan)}")  # what the data is; a dry run says so first
    _print_summary(table, csv, plan.tracking_uri, n, errors, plan.tune_path, outcome.reused)
    if disk_full:
        print(f"\n{disk_full}")
    print_verdicts(comparisons, plan.reference, plan.seeds if plan.auto is None else 3,
                   plan.inference)  # fmt: skip
    if outcome.preempted:
        print(f"\n{outcome.preempted} trial(s) lost with their node or process after their "
              "retries: KILLED and tagged a3m.preempted in MLflow, not failed. Run the same "
              "command again to continue them from their checkpoints.")  # fmt: skip
    if outcome.interrupted:
        command = plan.command
        if not (plan.resume or plan.auto):  # an auto study continues by running it again
            command = f"{plan.command} --resume {plan.tune_path}"
        print(f"\ninterrupted: the unfinished trials are KILLED in MLflow. Continue with:\n"
              f"  python {command}")  # fmt: skip
    optuna = plan.optuna_storage if not plan.search.is_grid else None
    return StudyResult(
        plan.spec.name, plan.experiment, plan.tracking_uri, out_dir, csv, n, errors,
        plan.tune_path, outcome.interrupted, optuna_storage=optuna, reused=outcome.reused,
        num_preempted=outcome.preempted, stop_signal=outcome.stop_signal,
    )  # fmt: skip


def print_verdicts(
    comparisons: Any, reference: dict[str, Any] | None, seeds: int, inference: Inference
) -> None:
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
    print("\n".join(format_verdicts(comparisons, inference)))


def _print_summary(table, csv, tracking_uri, n, errors, tune_path, reused=0) -> None:
    from a3m.study.tracking import redact

    print()
    done = f"; {reused} reused (FINISHED before)" if reused else ""
    if n:
        print(f"{n} trials trained, {errors} failed{done}. Tune results: {tune_path}")
    else:  # Tune never ran: there is no folder to point at
        print(f"nothing trained{done}")
    if table is not None:
        shown = table.drop(columns=["run_ids"]).dropna(axis=1, how="all")  # CIs need 2+ seeds
        with _pd_options():
            print(shown.iloc[:, :12].head(20).to_string(index=False, na_rep="-"))
        print(f"\nleaderboard: {csv}")
    print(f"browse: mlflow ui --backend-store-uri {redact(tracking_uri)}")


def _pd_options():
    import pandas as pd

    return pd.option_context("display.width", 200, "display.float_format", "{:.4f}".format)
