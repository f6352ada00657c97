"""Many trials logging at once to one MLflow server: is every metric kept, every connection spared?

N writer processes, as the trials of a study: each creates a run, logs EPOCHS batches of
METRICS metrics and a few tags (``log_batch``, as ``a3m.study.tracking.RunTracker`` does), and
finishes the run. They start together and end each epoch together (a barrier), so that each
step's requests reach the server at once. Meanwhile the server's PostgreSQL connections are
counted in ``pg_stat_activity``; afterwards every run is read back. The writers do not retry
(``MLFLOW_HTTP_REQUEST_MAX_RETRIES=0``), so a failed request (a 400 "QueuePool limit ...
reached", a 503 "too many clients already") shows instead of hiding behind the client's
retries.

    MLFLOW_TRACKING_URI=... MLFLOW_TRACKING_USERNAME=... MLFLOW_TRACKING_PASSWORD=... \\
    PGPASSWORD=... python cluster/tests/many_writers.py --writers 32 \\
        --pg-url postgresql://optuna@127.0.0.1:5432/optuna --server-role mlflow

The PostgreSQL role of --pg-url may be any role that can connect: pg_stat_activity shows every
session's role to everyone. Prints a JSON report; exits 1 when a check fails (see
``problems``), so it also serves as a manual check of a deployed server.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import multiprocessing.forkserver
import os
import sys
import threading
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

# Filled in each writer process by _init_writer.
_BARRIER: Any = None
# Longer than a request may take: the client's timeout (120 s) and the pool's (30 s).
BARRIER_TIMEOUT = 300


@dataclass
class Report:
    """What one burst of writers did and what the server kept of it."""

    writers: int
    epochs: int
    metrics: int
    seconds: float = 0.0  # from the barrier to the last writer's last request
    start_seconds: float = 0.0  # to start the writer processes
    check_seconds: float = 0.0  # to read every run back
    peak_in_flight: int = 0  # the most requests the writers had under way at one moment
    errors: list[str] = field(default_factory=list)
    no_run: list[str] = field(default_factory=list)
    not_finished: list[str] = field(default_factory=list)
    incomplete_metrics: list[str] = field(default_factory=list)
    missing_tags: list[str] = field(default_factory=list)
    max_connections: int | None = None
    usable_connections: int | None = None  # max_connections less the reserved ones
    peak_server_connections: int | None = None
    peak_all_connections: int | None = None
    samples: int = 0

    def problems(self) -> list[str]:
        """Every failed check, in words; empty when the burst went through cleanly."""
        out = [f"writer error: {e}" for e in self.errors]
        out += [f"no run: {w}" for w in self.no_run]
        out += [f"run not FINISHED: {r}" for r in self.not_finished]
        out += [f"metric history incomplete: {m}" for m in self.incomplete_metrics]
        out += [f"tag missing: {t}" for t in self.missing_tags]
        if self.usable_connections is not None and self.peak_all_connections is not None:
            if self.peak_all_connections >= self.usable_connections:
                out.append(
                    f"{self.peak_all_connections} connections: all {self.usable_connections} "
                    f"that PostgreSQL gives ordinary roles (max_connections "
                    f"{self.max_connections}) were taken"
                )
        return out


def metric_value(writer: int, epoch: int, index: int) -> float:
    """The value writer `writer` logs for metric `index` at `epoch` (exact in a double)."""
    return writer + epoch / 8 + index / 64


def _init_writer(barrier: Any) -> None:
    global _BARRIER
    _BARRIER = barrier
    # No retries: a failed request must show up, not be papered over by the client.
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"  # a line per run otherwise
    # The telemetry thread sets and unsets _MLFLOW_TELEMETRY_SESSION_ID in os.environ while
    # requests read it: a KeyError now and then in a request ('_MLFLOW_TELEMETRY_SESSION_ID').
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"


def _first_tags(writer: int) -> dict[str, str]:
    """Tags a trial sets once, with its first epoch."""
    return {"a3m.ray_node_id": f"node-{writer % 2}", "a3m.trial": f"trial_{writer:03d}"}


def _write(job: tuple[str, str, str, int, int, int]) -> dict[str, Any]:
    """One trial: create a run, log its epochs, finish it.

    The writers start together and end each epoch together (a barrier before each step), the
    hardest case for the server: every request of a step arrives at once. Returns the run id
    (None if it could not be created), the first error, and the (start, end) of each request.
    """
    from mlflow import MlflowClient
    from mlflow.entities import Metric, RunTag

    uri, experiment_id, burst, writer, epochs, metrics = job
    client = MlflowClient(uri)
    out: dict[str, Any] = {"writer": writer, "run_id": None, "error": None, "requests": []}

    def request(call: Any, *args: Any, **kwargs: Any) -> Any:
        """Make one request unless this writer failed before (it keeps its first error)."""
        if out["error"] is not None:
            return None
        start = time.time()
        try:
            return call(*args, **kwargs)
        except Exception as err:  # noqa: BLE001 - every failure is a finding, reported by writer
            out["error"] = f"writer {writer}: {type(err).__name__}: {err}"[:2000]
            return None
        finally:
            out["requests"].append((start, time.time()))

    # A writer that failed still meets the others at each barrier, so that they go on.
    _BARRIER.wait(timeout=BARRIER_TIMEOUT)
    tags = {"a3m.burst": burst, "a3m.writer": str(writer)}
    run = request(client.create_run, experiment_id, tags=tags)
    out["run_id"] = run_id = run.info.run_id if run else None
    for epoch in range(epochs):
        _BARRIER.wait(timeout=BARRIER_TIMEOUT)
        now = int(time.time() * 1000)
        batch = [Metric(f"m{i}", metric_value(writer, epoch, i), now, epoch)
                 for i in range(metrics)]  # fmt: skip
        tags = {"epoch": str(epoch)} | (_first_tags(writer) if epoch == 0 else {})
        if run_id:
            request(client.log_batch, run_id, metrics=batch,
                    tags=[RunTag(k, v) for k, v in tags.items()])  # fmt: skip
    if run_id:
        request(client.set_terminated, run_id, status="FINISHED")
    return out


def read_back(
    tracking_uri: str, experiment_id: str, burst: str, runs: dict[str, int], report: Report
) -> None:
    """Check every run (run id -> writer) of `burst`: status, tags, full metric histories.

    One search for the runs, and one request per metric for all their histories (the REST
    API's get-history-bulk-interval, which returns every point of a run up to 2500).
    """
    import requests
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    burst_runs = client.search_runs(
        [experiment_id], filter_string=f"tags.`a3m.burst` = '{burst}'", max_results=1000
    )
    found = {run.info.run_id: run for run in burst_runs}
    for run_id, writer in runs.items():
        run = found.get(run_id)
        if run is None:
            report.not_finished.append(f"{run_id} (writer {writer}): not found")
            continue
        if run.info.status != "FINISHED":
            report.not_finished.append(f"{run_id} (writer {writer}): {run.info.status}")
        expected_tags = {"a3m.writer": str(writer), "epoch": str(report.epochs - 1)}
        expected_tags |= _first_tags(writer)
        for key, value in expected_tags.items():
            if run.data.tags.get(key) != value:
                report.missing_tags.append(f"{run_id} {key}={run.data.tags.get(key)!r}")

    auth = (os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD"))
    url = f"{tracking_uri.rstrip('/')}/api/2.0/mlflow/metrics/get-history-bulk-interval"
    ids = list(runs)
    points: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for key in (f"m{i}" for i in range(report.metrics)):
        for first in range(0, len(ids), 100):  # the endpoint's limit of runs per request
            response = requests.get(
                url,
                params={"run_ids": ids[first : first + 100], "metric_key": key,
                        "max_results": 2500},
                auth=auth if auth[0] else None, timeout=120,
            )  # fmt: skip
            if response.status_code != 200:
                report.errors.append(f"reading {key}: HTTP {response.status_code} {response.text}")
                continue
            for metric in response.json().get("metrics", []):
                point = (int(metric.get("step", 0)), metric["value"])
                points.setdefault((metric["run_id"], key), []).append(point)
    for run_id, writer in runs.items():
        for i in range(report.metrics):
            got = sorted(points.get((run_id, f"m{i}"), []))
            if got != [(e, metric_value(writer, e, i)) for e in range(report.epochs)]:
                report.incomplete_metrics.append(
                    f"{run_id} (writer {writer}) m{i}: {len(got)} of {report.epochs} points"
                )


def peak_overlap(intervals: list[tuple[float, float]]) -> int:
    """The most intervals (start, end) open at one moment."""
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    peak = now = 0
    for _, step in events:  # at equal times an end (-1) sorts first: touching is no overlap
        now += step
        peak = max(peak, now)
    return peak


class ConnectionSampler(threading.Thread):
    """Counts client connections in pg_stat_activity every `interval` s until stopped."""

    def __init__(self, pg_url: str, server_role: str, interval: float = 0.02) -> None:
        super().__init__(daemon=True)
        import psycopg

        # A SQLAlchemy URL names its driver (postgresql+psycopg://); libpq wants it without.
        self.conn = psycopg.connect(pg_url.replace("+psycopg", "", 1), autocommit=True)
        setting = dict(
            self.conn.execute(
                "SELECT name, setting::int FROM pg_settings WHERE name IN ('max_connections',"
                " 'superuser_reserved_connections', 'reserved_connections')"  # >= 16: reserved
            ).fetchall()
        )
        self.max_connections = setting["max_connections"]
        self.usable_connections = self.max_connections - sum(
            v for k, v in setting.items() if k != "max_connections"
        )
        self.server_role, self.interval = server_role, interval
        self.peak_server = self.peak_all = self.samples = 0
        self.error: str | None = None
        self._stop_event = threading.Event()

    def sample(self) -> None:
        # Sessions of other roles show only their role and database to a plain role (no
        # backend_type): a database names a client's session, background processes have none.
        server, everyone = self.conn.execute(
            "SELECT count(*) FILTER (WHERE usename = %s), count(*) FROM pg_stat_activity"
            " WHERE datname IS NOT NULL",
            (self.server_role,),
        ).fetchone()
        self.peak_server = max(self.peak_server, server)
        self.peak_all = max(self.peak_all, everyone)
        self.samples += 1

    def run(self) -> None:
        try:
            while not self._stop_event.is_set():
                self.sample()
                time.sleep(self.interval)
        except Exception as err:  # noqa: BLE001 - reported, the burst goes on
            self.error = f"connection sampler: {type(err).__name__}: {err}"

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)
        self.conn.close()


def run_burst(
    tracking_uri: str,
    experiment: str,
    writers: int = 32,
    epochs: int = 5,
    metrics: int = 10,
    pg_url: str | None = None,
    server_role: str = "mlflow",
) -> Report:
    """Start `writers` writers together against `tracking_uri`, then read every run back.

    Credentials come from MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD (inherited by the
    writers, as by the trials); with `pg_url` (and PGPASSWORD for libpq) the server's
    connections are sampled during the burst.
    """
    t0 = time.time()
    # forkserver with mlflow preloaded: 32 writers without 32 imports of mlflow (seconds of
    # CPU each), and without forking this possibly multi-threaded process. (The client's first
    # request imports much more: its request headers look for IPython.) Started first, so that
    # it imports while this process does.
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(
        ["mlflow", "mlflow.entities", "mlflow.tracking.request_header.registry", "IPython"]
    )
    multiprocessing.forkserver.ensure_running()
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else client.create_experiment(experiment)
    burst = uuid.uuid4().hex  # tags this burst's runs: the experiment may hold earlier ones
    report = Report(writers=writers, epochs=epochs, metrics=metrics)
    sampler = ConnectionSampler(pg_url, server_role) if pg_url else None
    barrier = ctx.Barrier(writers)
    with ProcessPoolExecutor(writers, ctx, initializer=_init_writer, initargs=(barrier,)) as pool:
        jobs = [(tracking_uri, experiment_id, burst, w, epochs, metrics) for w in range(writers)]
        if sampler:
            sampler.start()
        results = list(pool.map(_write, jobs))
        if sampler:
            sampler.sample()  # at least one sample, however fast the burst was
            sampler.stop()
            report.max_connections = sampler.max_connections
            report.usable_connections = sampler.usable_connections
            report.peak_server_connections = sampler.peak_server
            report.peak_all_connections = sampler.peak_all
            report.samples = sampler.samples
            if sampler.error:
                report.errors.append(sampler.error)
        intervals = [interval for r in results for interval in r["requests"]]
        if intervals:
            start, end = min(s for s, _ in intervals), max(e for _, e in intervals)
            report.seconds = round(end - start, 2)
            report.start_seconds = round(start - t0, 2)
            report.peak_in_flight = peak_overlap(intervals)
        report.errors += [r["error"] for r in results if r["error"]]
        report.no_run += [f"writer {r['writer']}" for r in results if not r["run_id"]]
    # Every run made is read back, those of failed writers too: what did they lose?
    t1 = time.time()
    made = {r["run_id"]: r["writer"] for r in results if r["run_id"]}
    read_back(tracking_uri, experiment_id, burst, made, report)
    report.check_seconds = round(time.time() - t1, 2)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI"))
    parser.add_argument("--experiment", default="many-writers")
    parser.add_argument("--writers", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--metrics", type=int, default=10)
    parser.add_argument("--pg-url", help="libpq/SQLAlchemy URL of any database of the server's "
                        "PostgreSQL, to count connections (password: PGPASSWORD)")  # fmt: skip
    parser.add_argument("--server-role", default="mlflow", help="the MLflow server's DB role")
    args = parser.parse_args(argv)
    if not args.tracking_uri:
        parser.error("--tracking-uri (or MLFLOW_TRACKING_URI) is required")
    report = run_burst(args.tracking_uri, args.experiment, args.writers, args.epochs,
                       args.metrics, args.pg_url, args.server_role)  # fmt: skip
    print(json.dumps(asdict(report) | {"problems": report.problems()}, indent=1))
    return 1 if report.problems() else 0


if __name__ == "__main__":
    sys.exit(main())
