"""One driver per experiment and store.

Two drivers of one study on one store would train every trial twice and log each seed twice,
which a leaderboard would read as two agreeing seeds. So a driver holds a lock for as long as
it runs: an experiment tag (:data:`DRIVER_TAG`) naming its PID, host and start, refreshed by a
heartbeat. A tag works on every store (a SQLite file, a folder, a tracking server that drivers
on several machines share), where a file lock would only serve one machine.

A lock whose driver is gone is stale and taken over: on the same host, its PID no longer runs
(or runs another program since); on another host, its heartbeat is older than
:data:`STALE_AFTER_S`. Two drivers that write the tag at the same moment both read it back
after :data:`SETTLE_S`, and only the one whose tag stayed goes on.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

DRIVER_TAG = "a3m.driver"
"""Experiment tag of the driver that runs the experiment now (JSON of :class:`Holder`)."""

HEARTBEAT_S = 30.0
"""How often the running driver refreshes its tag."""

STALE_AFTER_S = 4 * HEARTBEAT_S
"""A lock of another host whose heartbeat is older than this is a killed driver's."""

SETTLE_S = 0.5
"""Wait between writing the tag and reading it back (two drivers started together)."""


class DriverBusy(RuntimeError):
    """Another driver runs this experiment on this store now."""


@dataclass(frozen=True)
class Holder:
    """Who holds an experiment's lock."""

    pid: int
    host: str
    started: float  # epoch seconds the driver took the lock
    heartbeat: float  # epoch seconds of its last refresh
    token: str  # this acquisition's own id (a PID alone is reused)
    process_started: float = 0.0  # the PID's start time, to tell a reused PID apart

    def describe(self) -> str:
        """ "PID 123 on host h since 2026-12-07 19:40:02"."""
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))
        return f"PID {self.pid} on host {self.host} since {since}"


def _process_started(pid: int) -> float:
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return 0.0


def read_holder(client: Any, experiment_id: str) -> Holder | None:
    """The experiment's lock holder as tagged, or None (no tag, or a tag that does not read)."""
    text = client.get_experiment(experiment_id).tags.get(DRIVER_TAG)
    if not text:
        return None
    try:
        return Holder(**json.loads(text))
    except (TypeError, ValueError):
        return None


def is_alive(holder: Holder, now: float | None = None) -> bool:
    """Whether the holder's driver still runs: on this host, its PID runs the same process
    that took the lock; on another, its heartbeat is recent."""
    import psutil

    if holder.host == socket.gethostname():
        if not psutil.pid_exists(holder.pid):
            return False
        started = _process_started(holder.pid)
        return not holder.process_started or abs(started - holder.process_started) < 1.0
    return (now if now is not None else time.time()) - holder.heartbeat < STALE_AFTER_S


def _write(client: Any, experiment_id: str, holder: Holder) -> None:
    client.set_experiment_tag(experiment_id, DRIVER_TAG, json.dumps(asdict(holder)))


def _busy(holder: Holder, experiment: str, store: str) -> DriverBusy:
    return DriverBusy(
        f"experiment {experiment!r} at {store} is being run by another driver "
        f"({holder.describe()}): wait for it to end, or stop it (Ctrl-C; its --resume line "
        "continues it), then run this again"
    )


@contextlib.contextmanager
def _machine_mutex(store: str) -> Iterator[None]:
    """For a store on this machine (a SQLite file), read-check-write under a file lock beside
    it, so two drivers on this machine can never both take the lock; a server's drivers rely
    on :data:`SETTLE_S`."""
    from a3m.study.preflight import sqlite_path

    database = sqlite_path(store)
    if database is None:
        yield
        return
    import fcntl

    with open(database.with_name(database.name + ".driver-lock"), "w") as mutex:
        fcntl.flock(mutex, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(mutex, fcntl.LOCK_UN)


def acquire(client: Any, experiment_id: str, *, experiment: str, store: str) -> Holder:
    """Take the experiment's lock on the tracking store ``store`` (its URI), or raise
    :class:`DriverBusy` naming the holder's PID and host. A stale holder's lock is taken over,
    with a line on stdout saying whose it was."""
    import os

    from a3m.study.tracking import redact

    with _machine_mutex(store):
        held = read_holder(client, experiment_id)
        if held is not None and is_alive(held):
            raise _busy(held, experiment, redact(store))
        if held is not None:
            print(f"a stale lock of a driver that is gone ({held.describe()}) taken over")
        now = time.time()
        mine = Holder(os.getpid(), socket.gethostname(), now, now, uuid.uuid4().hex,
                      _process_started(os.getpid()))  # fmt: skip
        _write(client, experiment_id, mine)
    time.sleep(SETTLE_S)
    held = read_holder(client, experiment_id)
    if held is None or held.token != mine.token:  # a driver that started with this one won
        raise _busy(held or mine, experiment, redact(store))
    return mine


def release(client: Any, experiment_id: str, mine: Holder) -> None:
    """Drop the lock if it is still this driver's (never another's that took over)."""
    with contextlib.suppress(Exception):
        held = read_holder(client, experiment_id)
        if held is not None and held.token == mine.token:
            client.delete_experiment_tag(experiment_id, DRIVER_TAG)


@contextlib.contextmanager
def driver_lock(
    client: Any, experiment_id: str, *, experiment: str, store: str
) -> Iterator[Holder]:
    """Hold the experiment's lock (:func:`acquire`) while the block runs, refreshing its
    heartbeat every :data:`HEARTBEAT_S`; released on every way out of the block."""
    mine = acquire(client, experiment_id, experiment=experiment, store=store)
    stop = threading.Event()

    def beat() -> None:
        holder = mine
        while not stop.wait(HEARTBEAT_S):
            holder = Holder(**{**asdict(holder), "heartbeat": time.time()})
            with contextlib.suppress(Exception):  # a store that hiccups: the next beat
                _write(client, experiment_id, holder)

    thread = threading.Thread(target=beat, name="a3m-driver-heartbeat", daemon=True)
    thread.start()
    try:
        yield mine
    finally:
        stop.set()
        thread.join(timeout=5.0)  # no beat rewrites the tag after its release
        release(client, experiment_id, mine)
