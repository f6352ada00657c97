"""Ctrl-C and SIGTERM stop a study alike: the trials stop, their runs and the parent end KILLED,
the ``--resume`` line is printed; a second signal exits at once, after marking the study's
RUNNING runs KILLED and ending the study's own Ray. The exit status says which signal
(130 or 143)."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from a3m.study.exits import EXIT_INTERRUPTED, EXIT_TERMINATED
from a3m.study.local_ray import end_own_ray

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
"""What stops a study: Ctrl-C, and SIGTERM, which batch schedulers, Kubernetes, systemd and
``timeout`` send. Both end it alike; the exit status says which (130 or 143)."""

SECOND_SIGNAL_GRACE_S = 5.0
"""After a second stop signal, the most time spent marking the study's runs KILLED before
exiting."""


def exit_code_of(signum: int) -> int:
    """The exit status of a study a signal stopped: 128 + the signal's number, as a shell
    reports a process it ended (130 for Ctrl-C, 143 for SIGTERM)."""
    return EXIT_TERMINATED if signum == signal.SIGTERM else EXIT_INTERRUPTED


class Interrupted(KeyboardInterrupt):
    """A stop signal (Ctrl-C or SIGTERM) outside Tune's fit, where there are no trials to stop
    gracefully: it ends the study as Ctrl-C does (a KeyboardInterrupt)."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@dataclass
class StopState:
    """What the study's stop signals did so far (:func:`stop_signals`)."""

    signum: int = 0  # the first stop signal (SIGINT or SIGTERM); 0 before any
    in_fit: bool = False  # Tune's fit runs: a stop asks it to stop the trials (SIGUSR1)
    on_second: Any = None  # () -> None: best effort before a second signal exits

    @property
    def interrupted(self) -> bool:
        return bool(self.signum)


@contextlib.contextmanager
def stop_signals(on_second: Any = None) -> Iterator[StopState]:
    """Around a study, once its Ray has started (``ray.init`` sets a SIGTERM handler of its own
    that aborts the driver): Ctrl-C (SIGINT) and SIGTERM stop it alike. The first, while Tune's
    fit runs (:func:`graceful_interrupt`), asks Tune to stop the trials and save its state
    (through SIGUSR1, which Tune always handles) and is remembered, so the study ends as
    interrupted; elsewhere it raises :class:`Interrupted`. A second one exits at once with the
    first one's status, after ``on_second`` (marking the study's runs KILLED, at most
    :data:`SECOND_SIGNAL_GRACE_S`) and after ending the local Ray this driver started."""
    state = StopState(on_second=on_second)
    if threading.current_thread() is not threading.main_thread():
        yield state  # signal handlers can only be set from the main thread
        return

    def on_signal(signum: int, frame: Any) -> None:
        if state.interrupted:
            print(f"\nsecond stop signal ({signal.Signals(signum).name}): exiting now",
                  file=sys.stderr)  # fmt: skip
            exit_now(exit_code_of(state.signum), state.on_second)
        state.signum = signum
        if not state.in_fit or signal.getsignal(signal.SIGUSR1) in (signal.SIG_DFL, None):
            raise Interrupted(signum)  # Tune is not running: nothing to stop gracefully
        what = "interrupted" if signum == signal.SIGINT else "terminated (SIGTERM)"
        print(f"\n{what}: stopping the trials and saving the study's state "
              "(Ctrl-C again to exit at once)", file=sys.stderr)  # fmt: skip
        signal.raise_signal(signal.SIGUSR1)

    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    previous_env = os.environ.get("TUNE_DISABLE_SIGINT_HANDLER")
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"  # ours instead of Tune's, which forgets
    for s in STOP_SIGNALS:
        signal.signal(s, on_signal)
    try:
        yield state
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)
        if previous_env is None:
            os.environ.pop("TUNE_DISABLE_SIGINT_HANDLER", None)
        else:
            os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = previous_env


@contextlib.contextmanager
def graceful_interrupt(state: StopState | None = None) -> Iterator[StopState]:
    """Around ``Tuner.fit``: a stop signal asks Tune to stop the trials (:func:`stop_signals`,
    set up here when the caller has not). Yields the :class:`StopState`."""
    if state is None:
        with stop_signals() as own, graceful_interrupt(own):
            yield own
        return
    state.in_fit = True
    try:
        yield state
    finally:
        state.in_fit = False


def exit_now(code: int, on_second: Any = None) -> None:
    """Exit at once (a second stop signal): ``on_second`` for at most
    :data:`SECOND_SIGNAL_GRACE_S`, then the driver's own Ray, then ``os._exit``."""
    if on_second is not None:
        worker = threading.Thread(target=on_second, daemon=True)
        worker.start()
        worker.join(SECOND_SIGNAL_GRACE_S)
    with contextlib.suppress(Exception):
        end_own_ray()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def kill_unfinished(client: Any, experiment_id: str, parent_run_id: str) -> None:
    """The study's trial runs still RUNNING, and its parent run, end KILLED (a second stop
    signal: the driver will not reconcile them); ``--resume`` continues them."""
    from a3m.study.runs import search_all_runs
    from a3m.study.tracking import PARENT_TAG, finish_run

    running = f"tags.`{PARENT_TAG}` = '{parent_run_id}' AND attributes.status = 'RUNNING'"
    for run in search_all_runs(client, [experiment_id], running):
        finish_run(client, run.info.run_id, "KILLED", force=True)
    finish_run(client, parent_run_id, "KILLED", error="stopped by a second signal")
