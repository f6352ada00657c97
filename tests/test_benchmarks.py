"""Every benchmark script still runs: each with ``--smoke-test``, in a subprocess.

No timing is asserted (benchmarks print ratios; RESULTS.md keeps them). The two scripts that
run studies connect to the session's local Ray (``RAY_ADDRESS``, ``ray_local`` in
tests/conftest.py) instead of starting their own.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "benchmarks").glob("bench_*.py"))
TIMEOUT_S = 180  # a hang, not a slow machine, should fail the test


@pytest.mark.slow  # a subprocess per script: about 5 minutes on 2 cores
@pytest.mark.parametrize("script", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_benchmark_smoke_test_runs(script, ray_local, tmp_path):
    env = {**os.environ, "RAY_ADDRESS": ray_local.get_runtime_context().gcs_address}
    out = subprocess.run(
        [sys.executable, str(script), "--smoke-test"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=TIMEOUT_S,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "load average" in out.stdout  # every script names the machine's state first
    if script.stem == "bench_gpu_throughput" and not _has_cuda():
        assert "skipped: no CUDA" in out.stdout  # says so, instead of failing silently


def test_there_is_a_script_per_target():
    names = {p.stem for p in SCRIPTS}
    expected = {"head_overhead", "fused_heads", "gpu_throughput", "input_pipeline", "reid_eval",
                "study_efficiency", "end_to_end", "cache", "shared_gpu", "scale"}  # fmt: skip
    assert {f"bench_{n}" for n in expected} <= names


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()
