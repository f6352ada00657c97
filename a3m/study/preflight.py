"""Fail fast, before a study launches anything: the data loads, the tracking store answers, the
storage path is writable, the cluster has the resources a trial asks for. Each check raises
:class:`PreflightError` with one line that names the flag and what to do.
"""

from __future__ import annotations

import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path

from a3m.data import build_dataset
from a3m.data.fingerprint import dataset_fingerprint
from a3m.data.registry import dataset_splits
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


def check_tracking(uri: str, timeout: float = TRACKING_TIMEOUT_S) -> None:
    """An MLflow server must answer its ``/health`` within ``timeout`` seconds (MLflow's own
    client retries for minutes before it gives up); local stores need no check."""
    if not uri.startswith(("http://", "https://")):
        return
    url = USERINFO.sub(r"\g<scheme>", uri).rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (http only)
            response.read()
    except urllib.error.HTTPError:
        return  # it answered: a server behind auth or a proxy may refuse /health
    except (OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        raise PreflightError(
            f"--tracking-uri {redact(uri)}: no MLflow server answered within {timeout:.0f} s "
            f"({reason}); start it (cluster/README.md) or pass another URI"
        ) from None


def check_storage(path: str) -> None:
    """A local ``--storage-path`` must be a writable folder (buckets are checked by Tune)."""
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
