"""Fixtures every test folder shares: one local Ray per session, and MLflow stores that start
from one migrated template instead of running MLflow's migrations each time (seconds each)."""

from __future__ import annotations

import shutil

import pytest


@pytest.fixture(scope="session")
def ray_local():
    """A local Ray with 2 CPUs for the whole session (the studies, the end-to-end report, the
    benchmark scripts through ``RAY_ADDRESS``); shut down at the end if this fixture started it."""
    import ray

    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    if started:
        ray.shutdown()


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory):
    """An empty SQLite MLflow store, migrated once per session."""
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("mlflow_template") / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()  # creates and migrates the tables
    return path


@pytest.fixture
def mlflow_uri(tmp_path, mlflow_template):
    """``sqlite:///<tmp_path>/mlflow.db``, an empty store ready to use (a copy of the
    template): what ``--tracking-uri`` gets in a test."""
    shutil.copyfile(mlflow_template, tmp_path / "mlflow.db")
    return f"sqlite:///{tmp_path}/mlflow.db"


@pytest.fixture
def store_untouched(tmp_path, mlflow_template):
    """``store_untouched()``: the test's store (``mlflow_uri``) is the template still, byte for
    byte: nothing was logged, nor a run opened."""
    import filecmp

    return lambda: filecmp.cmp(mlflow_template, tmp_path / "mlflow.db", shallow=False)


@pytest.fixture(scope="session")
def synthetic_cache(tmp_path_factory):
    """A folder of synthetic copies for the session's studies (their ``--data-root`` with
    ``--synthetic``): each dataset's copy is written once, by the first study that reads it."""
    return tmp_path_factory.mktemp("synthetic")


@pytest.fixture(scope="session")
def synthetic_copy(tmp_path_factory):
    """``synthetic_copy(dataset, **params)``: the root of a synthetic copy
    (:func:`a3m.data.synthetic.write_synthetic`), written once per session for each dataset and
    ``params``; tests that change files work on a copy of it."""
    from a3m.data.synthetic import write_synthetic

    written = {}

    def get(dataset: str, **params):
        key = (dataset, *sorted(params.items()))
        if key not in written:
            written[key] = write_synthetic(dataset, tmp_path_factory.mktemp(dataset), **params)
        return written[key]

    return get


TINY_RUN = dict(
    dataset="cub",
    backbone="tiny",
    d=16,
    input_size=(64, 64),
    epochs=3,
    lr_drop_epochs=1,
    batch_size=8,
    lr=0.03,
    num_workers=0,
)
"""A run of seconds on a small synthetic CUB copy: the tiny backbone, no worker process."""


@pytest.fixture(scope="session")
def tiny_run():
    """``tiny_run(root, **changes)``: the :data:`TINY_RUN` config on the data at ``root``, with
    ``changes``."""
    from a3m.config import RunConfig

    return lambda root, **changes: RunConfig(**(TINY_RUN | {"data_root": str(root)} | changes))


@pytest.fixture
def one_thread():
    """One intra-op thread for a test that compares weights bitwise: with several, oneDNN's
    reductions can differ in the last bits between ANY two runs, interrupted or not."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def stopped_fit():
    """``stopped_fit(fit, cfg, out, epoch, error)``: ``fit(cfg, out)`` stopped by ``error``
    raised after ``epoch`` (a crash, or a Ctrl-C), ready to be resumed from ``out``."""

    def run(fit, cfg, out, epoch: int, error: type[BaseException] = KeyboardInterrupt) -> None:
        def stop(result) -> None:
            if result.epoch == epoch:
                raise error

        with pytest.raises(error):
            fit(cfg, out, callback=stop)

    return run


@pytest.fixture
def read_only():
    """``read_only(folder)``: make ``folder`` read-only for this process, its content kept. A
    user's folder gets mode 0555; root, whom modes do not stop, gets a tmpfs holding the same
    files mounted read-only over it (skipped where mounting is not allowed)."""
    import os
    import subprocess

    undo: list = []

    def make(folder):
        if os.geteuid() != 0:
            mode = folder.stat().st_mode
            folder.chmod(0o555)
            undo.append(lambda: folder.chmod(mode))
            return folder
        content = folder.with_name(folder.name + ".content")
        shutil.copytree(folder, content)
        mounted = subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(folder)],
                                 capture_output=True, text=True)  # fmt: skip
        if mounted.returncode:
            pytest.skip(f"root needs a read-only mount here, and mount says: {mounted.stderr}")
        undo.append(lambda: subprocess.run(["umount", "-l", str(folder)], check=False))
        shutil.copytree(content, folder, dirs_exist_ok=True)
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        return folder

    yield make
    for step in reversed(undo):
        step()


PLUGINS = "tests.plugins"
"""The user's modules of the plugin tests (tests/plugins/), importable from the repository root
(which a local Ray's workers have on their path when pytest runs from it, as CI does)."""


@pytest.fixture
def own_plugins(monkeypatch):
    """The registries of variants and backbones as this test leaves them are undone after it,
    and the modules of tests/plugins/ import afresh (so that they register again), from the
    repository root put on the path."""
    import sys
    from pathlib import Path

    from a3m import plugins
    from a3m.models import backbones, registry

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1]))
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(backbones, "_PLUGINS", dict(backbones._PLUGINS))
    for name in [m for m in sys.modules if m.startswith(PLUGINS)]:
        monkeypatch.delitem(sys.modules, name)
    plugins.entry_points_of.cache_clear()
    yield PLUGINS
    for name in [m for m in sys.modules if m.startswith(PLUGINS)]:
        del sys.modules[name]
    plugins.entry_points_of.cache_clear()
