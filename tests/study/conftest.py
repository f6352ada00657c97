"""A study's flags per test (the local Ray they run on: ``ray_local``, the synthetic-data cache
they read: ``synthetic_cache``, both in tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture
def study_args(tmp_path, synthetic_cache, mlflow_uri):
    """Flags that keep a study's files inside the test's folder, plus ``extra``; its MLflow store
    (``tmp_path/mlflow.db``) is a copy of the session's migrated one: MLflow's migrations of a
    new SQLite file cost seconds a study."""
    return lambda *extra: [
        "--synthetic",
        "--data-root", str(synthetic_cache),
        "--tracking-uri", mlflow_uri,
        "--storage-path", str(tmp_path / "tune"),
        "--out", str(tmp_path / "results"),
        *extra,
    ]  # fmt: skip
