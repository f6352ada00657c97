"""A local Ray with 2 CPUs shared by the study tests, and a synthetic-data cache per session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def ray_local():
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


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
