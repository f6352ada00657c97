"""The driver's console while trials run: a line per ended trial, a short status block."""

from __future__ import annotations

import os
from types import SimpleNamespace

from a3m.study.console import MAX_SHOWN, TrialLines


def trial(status: str, alpha: float, epoch: int = 0, score: float | None = None):
    result = {"training_iteration": epoch} | ({"score": score} if score is not None else {})
    config = {"dataset": "cub", "variant": "a3m", "alpha": alpha, "epochs": 8}
    return SimpleNamespace(status=status, config=config, last_result=result)


def test_status_names_the_running_trials_like_their_runs():
    lines = TrialLines(("alpha",))
    trials = [trial("TERMINATED", 0.1, 8, 0.4), trial("RUNNING", 0.3, 5, 0.4133),
              trial("RUNNING", 0.5, 0), trial("PENDING", 0.7)]  # fmt: skip
    text = lines.status(trials).splitlines()
    assert text[0].endswith("1 of 4 trials ended, 2 running, 1 pending")
    assert text[1:] == ["  a3m alpha=0.3 seed=0: epoch 5/8, score 0.4133",
                        "  a3m alpha=0.5 seed=0: epoch 0/8"]  # fmt: skip


def test_status_lists_a_few_running_trials_and_counts_the_rest():
    many = [trial("RUNNING", i / 100, 1, 0.1) for i in range(MAX_SHOWN + 3)]
    text = TrialLines(("alpha",)).status(many).splitlines()
    assert len(text) == 1 + MAX_SHOWN + 1 and text[-1] == "  ... and 3 more"


def test_a_line_per_ended_trial(capsys):
    lines = TrialLines(("alpha",))
    done = trial("TERMINATED", 0.1, 8, 0.4267)
    done.last_result["time_total_s"] = 14.2
    lines.on_trial_complete(0, [done, done], done)
    lines.on_trial_error(0, [done, done], trial("ERROR", 0.3))
    out = capsys.readouterr().out.splitlines()
    assert out == ["[1/2] a3m alpha=0.1 seed=0: score 0.4267 after 8 epochs, 14 s",
                   "[2/2] a3m alpha=0.3 seed=0: lost or FAILED (its MLflow run says which, "
                   "and why)"]  # fmt: skip


def test_a_dry_runs_lines_say_its_scores_are_made_up(capsys):
    done = trial("TERMINATED", 0.1, 8, 0.4267)
    done.last_result["time_total_s"] = 0.4
    TrialLines(("alpha",), dry_run=True).on_trial_complete(0, [done], done)
    assert capsys.readouterr().out.strip() == (
        "[1/1] a3m alpha=0.1 seed=0: made-up score 0.4267 after 8 epochs, 0 s"
    )


def test_verbose_gives_tune_and_ray_their_own_output_back(monkeypatch):
    import logging

    from a3m.study.console import QUIET_LOGGERS, set_console

    monkeypatch.delenv("RAY_AIR_NEW_OUTPUT", raising=False)
    for name in QUIET_LOGGERS:
        monkeypatch.setattr(logging.getLogger(name), "level", logging.NOTSET)
    set_console(verbose=False)
    assert os.environ["RAY_AIR_NEW_OUTPUT"] == "0"  # Tune's older engine: silent at verbose 0
    assert not logging.getLogger("ray.tune.tune").isEnabledFor(logging.INFO)
    assert logging.getLogger("ray.tune.tune").isEnabledFor(logging.WARNING)
    set_console(verbose=True)  # a later study of the same process, with --verbose
    assert "RAY_AIR_NEW_OUTPUT" not in os.environ
    assert logging.getLogger("ray._private.worker").level == logging.NOTSET
