"""A full disk under --storage-path: refused up front when there is too little room; when it
fills while trials run, they fail at once (not retried), Tune's tracebacks of the writes it could
not make are dropped, and the summary and the parent run name the disk in one line."""

from __future__ import annotations

import errno
import logging
import shutil
import subprocess

import pytest
from mlflow import MlflowClient

from a3m.study import StudySpec, disk
from a3m.study.exits import UsageError
from a3m.study.runner import run_study

TINY = {"dataset": "cub", "variant": "a3m", "backbone": "tiny", "d": 16}


def test_a_disk_full_error_is_recognised_through_its_wrappers():
    full = OSError(errno.ENOSPC, "No space left on device")
    try:
        try:
            raise full
        except OSError as err:
            raise RuntimeError("saving the checkpoint failed") from err
    except RuntimeError as wrapped:
        assert disk.is_disk_full(wrapped)
    assert disk.is_disk_full("OSError: [Errno 28] Error writing bytes. No space left on device")
    assert not disk.is_disk_full(OSError(errno.EACCES, "Permission denied"))
    assert not disk.is_disk_full(None)


def test_tunes_disk_full_tracebacks_are_dropped_and_nothing_else(caplog):
    disk.quiet_disk_full_logs(verbose=False)
    logger = logging.getLogger(disk.DISK_FULL_LOGGERS[0])
    logger.addHandler(caplog.handler)  # Ray's loggers may not propagate to the root
    try:
        with caplog.at_level(logging.WARNING, logger=logger.name):
            try:
                raise OSError(errno.ENOSPC, "No space left on device")
            except OSError:
                logger.exception("Saving experiment state failed")
            logger.error("Saving experiment state failed: permission denied")
    finally:
        logger.removeHandler(caplog.handler)
        disk.quiet_disk_full_logs(verbose=True)
    assert [r.getMessage() for r in caplog.records] == [
        "Saving experiment state failed: permission denied"
    ]


def test_too_little_room_is_refused_before_anything_runs(
    study_args, store_untouched, tmp_path, monkeypatch
):
    free = shutil.disk_usage(tmp_path).free
    monkeypatch.setattr(disk, "MIN_FREE_BYTES", free * 2)
    spec = StudySpec("room", "too little room", base=TINY)
    with pytest.raises(UsageError, match=r"--storage-path .*: only .* free on its disk"):
        run_study(spec, study_args())
    assert store_untouched()  # refused before any run was opened


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MiB tmpfs: room for a study to start, not for its checkpoints (root only)."""
    mount = tmp_path / "small"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)],
                          capture_output=True, text=True)  # fmt: skip
    if made.returncode:
        pytest.skip(f"cannot mount a small tmpfs here: {made.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.slow
def test_a_disk_that_fills_mid_study_is_named_once(ray_local, study_args, small_disk, capfd,
                                                   monkeypatch):  # fmt: skip
    monkeypatch.setattr(disk, "MIN_FREE_BYTES", 2**20)
    flags = study_args("--epochs", "2", "--seeds", "3", "--no-report")
    flags[flags.index("--storage-path") + 1] = str(small_disk / "tune")
    result = run_study(StudySpec("full", "a disk that fills", base=TINY), flags)
    out, err = capfd.readouterr()
    assert result.num_errors >= 1, out[-3000:]
    assert f"the disk under --storage-path {small_disk / 'tune'} is full" in out, out[-3000:]
    assert "Traceback" not in out + err, (out + err)[-3000:]
    client = MlflowClient(result.tracking_uri)
    exp = client.get_experiment_by_name(result.experiment)
    runs = client.search_runs([exp.experiment_id])
    (parent,) = [r for r in runs if "a3m.trial_id" not in r.data.tags]
    assert "is full" in parent.data.tags["a3m.error"]
    trials = [r for r in runs if "a3m.trial_id" in r.data.tags]
    failed = [r for r in trials if r.info.status == "FAILED"]
    assert failed and all("No space left" in r.data.tags["a3m.error"] for r in failed)
    assert not any("a3m.retries" in r.data.tags for r in trials)  # never retried
