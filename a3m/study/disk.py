"""A full disk under ``--storage-path``, said once and by name.

A study writes checkpoints and Tune's experiment state under ``--storage-path``. With too
little room it is refused before launching (:func:`check_free_space`); a disk that fills while
trials run fails them at once (``OSError`` ENOSPC is a deterministic error, never retried), and
Tune logs a traceback for every state or sync write it could not make. The quiet console drops
those tracebacks (:class:`DiskFullFilter`) and the study's summary says it in one line instead
(:func:`disk_full_note`).
"""

from __future__ import annotations

import errno
import logging
import shutil
from pathlib import Path

MIN_FREE_BYTES = 64 * 2**20
"""Least free space under a local ``--storage-path`` a study starts with: a trial keeps two
checkpoints (a few MB for the synthetic budget, ~100-300 MB for a ResNet-50 with its optimizer
state), and Tune its experiment state."""

DISK_FULL_TEXT = "No space left on device"

DISK_FULL_LOGGERS = ("ray.tune.execution.experiment_state", "ray.train._internal.syncer")
"""Where Tune logs a traceback for each experiment-state save or sync a full disk stopped."""


def is_disk_full(error: BaseException | str | None) -> bool:
    """Whether an error (or its text) is ENOSPC, also when wrapped (its cause or context)."""
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, str):
            return DISK_FULL_TEXT in error
        if isinstance(error, OSError) and error.errno == errno.ENOSPC:
            return True
        if DISK_FULL_TEXT in str(error):
            return True
        error, seen = error.__cause__ or error.__context__, seen + 1
    return False


def _human(size: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def free_bytes(path: str) -> int | None:
    """Free bytes on the disk of a local path (its nearest existing parent); None for a
    bucket."""
    if "://" in path:
        return None
    folder = Path(path)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return shutil.disk_usage(folder).free


def check_free_space(path: str, flag: str = "--storage-path") -> None:
    """Refuse a local folder whose disk has less than :data:`MIN_FREE_BYTES` free.

    Raises:
        OSError: ENOSPC, with a one-line message naming the flag, the folder and what is free.
    """
    free = free_bytes(path)
    if free is not None and free < MIN_FREE_BYTES:
        raise OSError(
            errno.ENOSPC,
            f"{flag} {path}: only {_human(free)} free on its disk; a study needs at least "
            f"{_human(MIN_FREE_BYTES)} for its checkpoints: free some, or point {flag} elsewhere",
        )


def disk_full_note(path: str, failed: int) -> str | None:
    """One line for the summary when ``failed`` trials failed and the disk under ``path`` is
    (nearly) full; None otherwise."""
    free = free_bytes(path)
    if not failed or free is None or free >= MIN_FREE_BYTES:
        return None
    return (
        f"the disk under --storage-path {path} is full ({_human(free)} free): {failed} trial(s) "
        "failed writing to it. Free some space or point --storage-path elsewhere, then run the "
        "same command again (finished trials are reused)"
    )


class DiskFullFilter(logging.Filter):
    """Drops Tune's log records of a full disk (the summary names the disk once instead)."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not (is_disk_full(error) or DISK_FULL_TEXT in record.getMessage())


def quiet_disk_full_logs(verbose: bool) -> None:
    """Attach (quiet) or detach (``--verbose``) :class:`DiskFullFilter` on Tune's loggers."""
    for name in DISK_FULL_LOGGERS:
        logger = logging.getLogger(name)
        for old in [f for f in logger.filters if isinstance(f, DiskFullFilter)]:
            logger.removeFilter(old)
        if not verbose:
            logger.addFilter(DiskFullFilter())
