"""One driver per experiment and store: a second driver is refused naming the first one's PID
and host; a lock whose driver is gone (a dead PID here, an old heartbeat elsewhere) is taken
over; two drivers that lock at the same moment leave exactly one running."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict

import pytest
from mlflow import MlflowClient

from a3m.study import driver_lock as dl


@pytest.fixture(scope="module")
def uri(tmp_path_factory):
    return f"sqlite:///{tmp_path_factory.mktemp('lock')}/mlflow.db"


@pytest.fixture
def store(uri, request, monkeypatch):
    """The module's store (one SQLite set-up, ~2 s), an experiment of the test's own, and the
    lock's keyword arguments."""
    monkeypatch.setattr(dl, "SETTLE_S", 0.05)
    client = MlflowClient(uri)
    return (
        client,
        client.create_experiment(request.node.name),
        {"experiment": "study", "store": uri},
    )


def _tag(client, experiment_id, **changes) -> dl.Holder:
    now = time.time()
    holder = dl.Holder(os.getpid(), socket.gethostname(), now, now, "theirs", 0.0)
    holder = dl.Holder(**{**asdict(holder), **changes})
    client.set_experiment_tag(experiment_id, dl.DRIVER_TAG, json.dumps(asdict(holder)))
    return holder


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_second_driver_is_refused_with_the_first_ones_pid_and_host(store):
    client, eid, kw = store
    with dl.driver_lock(client, eid, **kw) as mine:
        assert dl.read_holder(client, eid).token == mine.token
        with pytest.raises(dl.DriverBusy) as err:
            dl.acquire(client, eid, **kw)
        message = str(err.value)
        assert f"PID {os.getpid()} on host {socket.gethostname()}" in message
        assert f"'study' at {kw['store']}" in message
    assert dl.read_holder(client, eid) is None  # released on the way out
    dl.release(client, eid, dl.acquire(client, eid, **kw))


def test_a_stale_lock_of_a_dead_driver_is_taken_over(store, capsys):
    client, eid, kw = store
    _tag(client, eid, pid=_dead_pid())
    mine = dl.acquire(client, eid, **kw)
    assert dl.read_holder(client, eid).token == mine.token
    assert "stale lock" in capsys.readouterr().out


def test_a_reused_pid_is_not_the_driver_that_took_the_lock(store):
    client, eid, kw = store
    _tag(client, eid, process_started=12.0)  # this PID, but a process started in 1970
    dl.acquire(client, eid, **kw)


def test_another_hosts_lock_is_stale_only_once_its_heartbeat_is_old(store):
    client, eid, kw = store
    _tag(client, eid, host="elsewhere", heartbeat=time.time() - 5)
    with pytest.raises(dl.DriverBusy, match="on host elsewhere"):
        dl.acquire(client, eid, **kw)
    _tag(client, eid, host="elsewhere", heartbeat=time.time() - dl.STALE_AFTER_S - 1)
    dl.acquire(client, eid, **kw)


def test_release_never_drops_a_lock_another_driver_took_over(store):
    client, eid, kw = store
    mine = dl.acquire(client, eid, **kw)
    theirs = _tag(client, eid, token="theirs")
    dl.release(client, eid, mine)
    assert dl.read_holder(client, eid) == theirs


def test_two_drivers_locking_at_once_leave_exactly_one(store):
    client, eid, kw = store
    outcomes: list[str] = []
    start = threading.Barrier(2)

    def driver() -> None:
        start.wait()
        try:
            dl.acquire(client, eid, **kw)
            outcomes.append("runs")
        except dl.DriverBusy:
            outcomes.append("refused")

    threads = [threading.Thread(target=driver) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["refused", "runs"]


def test_the_heartbeat_refreshes_the_tag(store, monkeypatch):
    client, eid, kw = store
    monkeypatch.setattr(dl, "HEARTBEAT_S", 0.1)
    with dl.driver_lock(client, eid, **kw) as mine:
        time.sleep(0.5)
        assert dl.read_holder(client, eid).heartbeat > mine.heartbeat
