"""Fail fast, before a study launches anything: the data loads, the tracking store answers, the
storage path is writable, the cluster has the resources a trial asks for. Each check raises
:class:`PreflightError` with one line that names the flag and what to do.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path

from a3m.data import build_dataset
from a3m.data.fingerprint import dataset_fingerprint
from a3m.data.registry import dataset_splits
from a3m.study.disk import check_free_space
from a3m.study.tracking import USERINFO, redact

TRACKING_TIMEOUT_S = 5.0


class PreflightError(RuntimeError):
    """A study that cannot run as asked; the message is one line for the user."""


def check_data(root: Path, datasets: Iterable[str]) -> dict[str, str]:
    """Load every split's index of each dataset (no images) and fingerprint the copy.

    Returns:
        dataset -> fingerprint.
    """
    fingerprints: dict[str, str] = {}
    fingerprint = ""  # of the one copy: hashed once, not once per dataset read from it
    for name in datasets:
        try:
            for split in dataset_splits(name):
                build_dataset(name, root, split)
            fingerprint = fingerprint or dataset_fingerprint(root)
        except (OSError, ValueError) as err:  # DatasetFormatError is a ValueError
            raise PreflightError(
                f"--data-root {root}: the {name} copy does not load ({err}); check it with "
                f"`a3m data check --dataset {name} --root {root}`"
            ) from None
        fingerprints[name] = fingerprint
    return fingerprints


MLFLOW_PROBE = "/api/2.0/mlflow/experiments/get-by-name?experiment_name=Default"
"""A read every MLflow server answers in JSON (the experiment, or ``RESOURCE_DOES_NOT_EXIST``),
and a plain web server does not."""


def check_tracking(uri: str, timeout: float = TRACKING_TIMEOUT_S) -> None:
    """An MLflow server must answer its ``/health`` within ``timeout`` seconds (MLflow's own
    client retries for minutes before it gives up), and answer as MLflow: its REST API in JSON
    (a plain web server or a wrong port answers HTML, which MLflow's client would print whole).
    A server behind auth (401, 403) counts as answering. Local stores: :func:`check_store`."""
    if not uri.startswith(("http://", "https://")):
        return
    base = USERINFO.sub(r"\g<scheme>", uri).rstrip("/")
    try:
        with urllib.request.urlopen(base + "/health", timeout=timeout) as response:  # noqa: S310
            response.read()
    except urllib.error.HTTPError as err:
        if err.code in (401, 403):
            return  # it answered: a server behind auth or a proxy may refuse /health
    except (OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        raise PreflightError(
            f"--tracking-uri {redact(uri)}: no MLflow server answered within {timeout:.0f} s "
            f"({reason}); start it (cluster/README.md) or pass another URI"
        ) from None
    try:
        with urllib.request.urlopen(base + MLFLOW_PROBE, timeout=timeout) as response:  # noqa: S310
            status, body = response.status, response.read(4096)
    except urllib.error.HTTPError as err:
        if err.code in (401, 403):
            return
        status, body = err.code, err.read(4096)
    except (OSError, ValueError) as err:
        raise PreflightError(
            f"--tracking-uri {redact(uri)}: the server did not answer MLflow's API within "
            f"{timeout:.0f} s ({getattr(err, 'reason', err)})"
        ) from None
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if not isinstance(answer, dict) or not ({"experiment", "error_code"} & set(answer)):
        raise PreflightError(
            f"--tracking-uri {redact(uri)}: it answers, but not as an MLflow server (HTTP "
            f"{status} for its REST API); check the host and port, or start `mlflow server`"
        )


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` tracking URI; None for other stores."""
    return Path(uri[len("sqlite:///") :]) if uri.startswith("sqlite:///") else None


def check_store(uri: str, *, write: bool = False, must_exist: bool = False) -> None:
    """A local SQLite MLflow store must be one: a file SQLite opens that holds MLflow's tables
    (not truncated, not random bytes), in a folder this process can write to when ``write``
    (SQLite writes its journal beside the file). ``must_exist``: a command that only reads
    says so when there is no store, instead of creating an empty one. A server: see
    :func:`check_tracking`."""
    path = sqlite_path(uri)
    if path is None:
        return
    flag = f"--tracking-uri {redact(uri)}"
    if not path.exists():
        if must_exist:
            raise PreflightError(f"{flag}: no MLflow store there (no such file); pass the "
                                 "study's --tracking-uri")  # fmt: skip
        if write:
            check_writable_folder(path.parent, flag)
        return
    if not path.is_file():
        raise PreflightError(f"{flag}: not an MLflow database (a folder)")
    if path.stat().st_size:
        try:
            with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
                tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
                if path.stat().st_size <= QUICK_CHECK_BYTES:
                    (verdict,) = db.execute("PRAGMA quick_check(1)").fetchone()
                    if verdict != "ok":
                        raise sqlite3.DatabaseError(verdict)
        except sqlite3.Error as err:
            raise PreflightError(
                f"{flag}: the MLflow database is damaged ({err}); restore it from a backup "
                "or pass another store"
            ) from None
        if "experiments" not in tables:
            raise PreflightError(f"{flag}: {path.name} is an SQLite file but not an MLflow "
                                 "store (it has no experiments table)")  # fmt: skip
    if write:
        check_writable_folder(path.parent, flag)
        if not os.access(path, os.W_OK):
            raise PreflightError(f"{flag}: the MLflow database is read-only")


QUICK_CHECK_BYTES = 256 * 2**20
"""Stores up to this size get SQLite's ``quick_check`` (a truncated file is found before the
command reads half of it); a larger one is only opened (the check reads every page)."""


def check_writable_folder(folder: Path, flag: str) -> None:
    """``folder`` takes a new file (where it is missing: its nearest existing parent, so that
    the command can make it; nothing is left behind); else one line naming ``flag``."""
    existing = folder.expanduser().absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        if not existing.is_dir():
            raise NotADirectoryError(20, f"{existing} is a file")
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".a3m-write-test-"):
            pass
    except OSError as err:
        raise PreflightError(
            f"{flag}: {folder} is not a writable folder ({err.strerror or err})"
        ) from None


def check_output(path: str | Path, flag: str) -> None:
    """An output file's folder takes a new file and the file, where it exists, can be
    replaced: checked before any work, so that an unwritable ``-o`` is not found at the end."""
    target = Path(path).expanduser()
    if target.is_dir():
        raise PreflightError(f"{flag} {target}: a folder, not a file")
    check_writable_folder(target.parent, f"{flag} {target}")
    if target.exists() and not os.access(target, os.W_OK):
        raise PreflightError(f"{flag} {target}: the file is read-only")


def check_command(
    uri: str, outputs: Iterable[tuple[str, str | Path | None]] = (), write: bool = False
) -> None:
    """Before a command reads (or writes, ``write``) the MLflow store at ``uri`` and writes its
    ``outputs`` ((flag, path) pairs; a None path: not asked for): the server answers as MLflow
    within seconds, a SQLite store is one and is there (a command that only reads creates
    none), and every output can be written."""
    check_tracking(uri)
    check_store(uri, write=write, must_exist=not write)
    for flag, path in outputs:
        if path is not None:
            check_output(path, flag)


def store_error(uri: str, err: BaseException) -> str | None:
    """The one line for an error of the store itself while a command reads or writes it (a
    database that is damaged, read-only or locked; a server's refusal), or None for another
    error."""
    from sqlalchemy.exc import DatabaseError, OperationalError

    flag = f"--tracking-uri {redact(uri)}"
    if isinstance(err, (DatabaseError, OperationalError)):
        reason = str(getattr(err, "orig", None) or err).splitlines()[0]
        return f"{flag}: the MLflow store cannot be used ({reason})"
    if type(err).__name__ == "MlflowException" and "Traceback" not in str(err):
        return f"{flag}: {redact(str(err).splitlines()[0] if str(err) else type(err).__name__)}"
    return None


def check_optuna_storage(url: str | None, timeout: float = TRACKING_TIMEOUT_S) -> None:
    """An Optuna RDB store must connect within ``timeout`` seconds (a SQLite one: its folder
    writable), before a study opens its parent run."""
    if not url:
        return
    flag = f"--optuna-storage {redact(url)}"
    if url.startswith("sqlite:///"):
        check_writable_folder(Path(url[len("sqlite:///") :]).parent, flag)
        return
    failure: list[BaseException] = []

    def probe() -> None:
        try:
            from sqlalchemy import create_engine

            engine = create_engine(url, pool_pre_ping=True)
            with engine.connect():
                pass
            engine.dispose()
        except BaseException as err:
            failure.append(err)

    worker = threading.Thread(target=probe, daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise PreflightError(f"{flag}: no database answered within {timeout:.0f} s")
    if failure:
        err = failure[0]
        reason = redact(str(getattr(err, "orig", None) or err).strip().splitlines()[0])
        raise PreflightError(f"{flag}: cannot connect ({type(err).__name__}: {reason})")


def check_storage(path: str) -> None:
    """A local ``--storage-path`` must be a writable folder with room for checkpoints
    (:func:`a3m.study.disk.check_free_space`); buckets are checked by Tune."""
    if "://" in path:
        return
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".a3m-write-test-"):
            pass
    except OSError as err:
        raise PreflightError(
            f"--storage-path {path}: not a writable folder ({err.strerror or err})"
        ) from None
    try:
        check_free_space(path)
    except OSError as err:
        raise PreflightError(err.strerror) from None


def check_resources(
    gpus_per_trial: float, cpus_per_trial: float, cluster: dict[str, float], autoscaling: bool
) -> None:
    """A trial must fit on the cluster, or Tune waits for it forever. On a cluster that may
    add nodes (``--address``) a shortfall is not an error; on a local Ray it is."""
    if autoscaling:
        return
    for flag, asked, kind in (("--gpus-per-trial", gpus_per_trial, "GPU"),
                              ("--cpus-per-trial", cpus_per_trial, "CPU")):  # fmt: skip
        have = cluster.get(kind, 0.0)
        if asked > have:
            raise PreflightError(
                f"{flag} {asked:g}: this Ray has {have:g} {kind}s, so no trial could ever start"
                + ("; leave the flag out to train on the CPU" if kind == "GPU" else "")
            )
