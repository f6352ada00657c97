"""Errors are classified by their cause, not by Ray's wrapper (issue 24): what a retry would meet
again (a bad setting, a missing file, a shape mismatch, a full disk) ends the trial FAILED at
once with a plain reason; only a lost process or node, or what may pass, is retried."""

from __future__ import annotations

import errno
import json

import pytest
from mlflow import MlflowClient

from a3m.config import ConfigError, RunConfig
from a3m.study import StudySpec
from a3m.study.runner import FAULT_ENV, run_study
from a3m.study.trainable import is_deterministic, plain_error

TINY = {"dataset": "cub", "variant": "a3m", "backbone": "tiny", "d": 16}


@pytest.mark.parametrize(
    "error, retried",
    [
        (ValueError("backbone 'tiny' has no pretrained weights"), False),
        (FileNotFoundError(errno.ENOENT, "No such file", "/data/x.jpg"), False),
        (RuntimeError("size mismatch for fc.weight: copying a param with shape [5, 16]"), False),
        (OSError(errno.ENOSPC, "No space left on device"), False),
        (ConfigError("lr must be > 0"), False),
        (ConnectionError("the tracking server hung up"), True),
        (TimeoutError(), True),
    ],
)
def test_what_a_retry_would_meet_again_is_not_retried(error, retried):
    assert is_deterministic(error) is not retried
    try:  # the cause counts, not the wrapper
        raise RuntimeError("while writing the checkpoint") from error
    except RuntimeError as wrapped:
        assert is_deterministic(wrapped) is not retried


def test_the_reason_is_plain_text_without_rays_banner():
    import ray.exceptions

    try:
        raise ValueError("backbone 'tiny' has no pretrained weights")
    except ValueError as cause:
        banner = ("\x1b[36mray::ImplicitFunc.train()\x1b[39m (pid=1, ip=127.0.0.1)\n"
                  "Traceback (most recent call last):\n  File \"x.py\", line 1\n"
                  "ValueError: backbone 'tiny' has no pretrained weights")  # fmt: skip
        wrapped = ray.exceptions.RayTaskError("train", banner, cause).as_instanceof_cause()
    assert plain_error(wrapped) == "ValueError: backbone 'tiny' has no pretrained weights"
    assert plain_error(RuntimeError(banner)) == (
        "ValueError: backbone 'tiny' has no pretrained weights"
    )  # only Ray's text is left: its last line
    assert "\x1b" not in plain_error(RuntimeError("\x1b[31mred\x1b[0m"))


def test_pretrained_weights_for_the_tiny_backbone_are_a_bad_setting():
    with pytest.raises(ConfigError, match="'tiny' has no pretrained weights"):
        RunConfig.from_flat_dict({**TINY, "pretrained": True})


@pytest.mark.slow
def test_a_raising_trial_fails_at_once_with_a_plain_reason(ray_local, study_args, monkeypatch):
    spec = StudySpec("raises", "every seed raises", base=TINY)
    monkeypatch.setenv(FAULT_ENV, json.dumps({"fail": {"seeds": [0]}}))
    result = run_study(spec, study_args("--epochs", "2", "--max-failures", "2"))
    assert (result.num_trials, result.num_errors, result.exit_code) == (1, 1, 3)
    client = MlflowClient(result.tracking_uri)
    exp = client.get_experiment_by_name("raises-synthetic")
    (run,) = [r for r in client.search_runs([exp.experiment_id]) if "a3m.trial_id" in r.data.tags]
    assert run.info.status == "FAILED"
    assert run.data.tags["a3m.error"] == "RuntimeError: injected failure on seed 0 (A3M_TEST_FAULT)"
    assert "a3m.retries" not in run.data.tags and "a3m.preempted" not in run.data.tags
