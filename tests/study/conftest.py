"""A synthetic-data cache per session and a study's flags per test (the local Ray they run
on: ``ray_local`` in tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def synthetic_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("synthetic")


@pytest.fixture
def study_args(tmp_path, synthetic_cache):
    """Flags that keep a study's files inside the test's folder, plus ``extra``."""
    return lambda *extra: [
        "--synthetic",
        "--data-root", str(synthetic_cache),
        "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db",
        "--storage-path", str(tmp_path / "tune"),
        "--out", str(tmp_path / "results"),
        *extra,
    ]  # fmt: skip
