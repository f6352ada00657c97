"""Which Ray a study runs on, and a local one that stays local.

A study without ``--address`` starts a Ray of its own on this machine. Left to its defaults,
that Ray listens on every interface (GCS, raylet, workers, the agents), keeps its sockets and
logs under a temp folder anyone can read, and Ray Tune copies the AWS credentials of the
driver's environment into every trial's runtime environment, which Ray's runtime-env agent
writes to its log in clear. :func:`start_ray` closes all three for a local Ray; a joined
cluster is the operator's to configure (its nodes need their own credentials for a bucket).
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

RAY_AUTH_LOGGER = "ray._private.authentication.authentication_token_setup"
"""Where Ray says that a new local instance has token authentication, as by default."""

LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
"""Set to 0, Ray takes the loopback address as the node's address (as it does on a laptop of
those systems), so every server of a local Ray binds to 127.0.0.1 only. Ray reads it when
``ray`` is imported; :func:`start_ray` also sets the constant Ray read from it."""

SECRET_ENV_VARS = frozenset(
    {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECURITY_TOKEN", "AWS_SESSION_TOKEN"}
)
"""What Ray Tune would copy from the driver's environment into each trial's runtime
environment (and so into ``runtime_env_agent.log``). A local Ray's workers inherit the
driver's environment anyway, so a bucket under ``--storage-path`` still works without it."""

OWN_RAY: dict[str, Any] = {"started": False}
"""Whether this process started the local Ray it runs on (:func:`start_ray`), so that it is
the one to end it."""


def ray_address(flag: str | None) -> str:
    """What ``ray.init`` connects to: ``--address``; else ``$RAY_ADDRESS`` (set inside a
    ``ray job submit`` job); else a new local Ray for this study ("local"), never a cluster that
    ``ray start`` left running on this machine."""
    return flag or os.environ.get("RAY_ADDRESS") or "local"


def private_temp_dir() -> Path:
    """``<tmp>/ray-a3m-<uid>``, mode 0700 (Ray's default ``/tmp/ray`` is shared by every user
    of the machine). Kept short: Ray's Unix sockets live under it (a path of 107 bytes at most).

    Raises:
        PermissionError: the folder exists but belongs to another user.
    """
    folder = Path(tempfile.gettempdir()) / f"ray-a3m-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    if folder.stat().st_uid != os.getuid():
        raise PermissionError(f"{folder}: Ray's temp folder belongs to another user")
    folder.chmod(0o700)
    return folder


def keep_secrets_out_of_runtime_env() -> None:
    """Ray Tune copies :data:`SECRET_ENV_VARS` into every trial actor's runtime environment;
    take them off its list (the list is a module global it reads at each trial's start)."""
    from ray.tune.execution import class_cache

    class_cache.ENV_VARS_TO_PROPAGATE = set(class_cache.ENV_VARS_TO_PROPAGATE) - SECRET_ENV_VARS


def start_ray(address_flag: str | None, *, verbose: bool = False) -> str:
    """Start a local Ray for the study, or join ``--address`` / ``$RAY_ADDRESS``; returns the
    one-line description of :func:`describe_ray`. A local Ray binds to loopback only, keeps its
    files in :func:`private_temp_dir`, and its trials get no secret from the environment."""
    address = ray_address(address_flag)
    local = address == "local"
    if local:
        os.environ[LOOPBACK_ENV] = "0"  # for Ray's own processes, which import ray afresh
    import ray
    from ray._private import ray_constants

    keep_secrets_out_of_runtime_env()
    if not verbose:  # "token authentication is enabled": Ray's default, kept
        logging.getLogger(RAY_AUTH_LOGGER).setLevel(logging.ERROR)
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": verbose}
    if local:
        ray_constants.ENABLE_RAY_CLUSTER = False  # if ray was imported before the line above
        options["_temp_dir"] = str(private_temp_dir())
    ray.init(address=address, **options)
    OWN_RAY["started"] = local
    return describe_ray(address_flag)


def describe_ray(flag: str | None) -> str:
    """One line: which Ray the study runs on, and what it has."""
    import ray

    have = ray.cluster_resources()
    size = f"{have.get('CPU', 0):g} CPUs, {have.get('GPU', 0):g} GPUs"
    if ray_address(flag) == "local":
        return f"Ray: a local instance for this study, on 127.0.0.1 only ({size})"
    source = "--address" if flag else "$RAY_ADDRESS"
    return f"Ray: joined the cluster at {ray_address(flag)} ({source}; {size})"


def cpus_per_gpu() -> float:
    """CPUs per GPU on the GPU nodes of the connected Ray cluster (the fewest over its
    nodes, so a trial of one GPU fits on any of them); 1 without GPU nodes."""
    import ray

    ratios = [
        node["Resources"].get("CPU", 0) / node["Resources"]["GPU"]
        for node in ray.nodes()
        if node.get("Alive") and node["Resources"].get("GPU", 0) > 0
    ]
    return max(1.0, min(ratios)) if ratios else 1.0


def end_own_ray() -> None:
    """SIGKILL the processes of the local Ray this driver started: its node's (GCS, raylet,
    monitors) and their children (workers, the dashboard and runtime-env agents, which
    otherwise outlive a driver that did not shut Ray down by a minute or more). Nothing for a
    joined cluster."""
    if not OWN_RAY["started"]:
        return
    import psutil

    processes = psutil.Process().children(recursive=True)
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(processes, timeout=2.0)
