"""Which of ``a3m``'s files are the code that computes a result, and the fingerprint of a tree of
Python source.

The fingerprint is pure hashing of files: this module imports nothing of ``a3m``, so that the
plugin mechanics below the registries (:func:`a3m.plugins.note_module`, a module of yours as it
registers) and the run's provenance above them (:func:`a3m.provenance.package_fingerprint`,
this package) hash alike. What a run records of it: :mod:`a3m.provenance`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent
"""The ``a3m`` package folder: a git checkout's and a pip-installed copy's hash alike."""

CODE_PATHS: tuple[str, ...] = (
    "models",  # the networks, their heads and losses: what is trained
    "train.py",  # the training loop, optimiser, schedule: how it is trained
    "loaders.py",  # which splits a run reads, with which transforms, held-out part, noise
    "evaluation.py",  # the protocol a trained model is scored by
    "checkpoint.py",  # what a resumed run starts from
    "data",  # datasets, splits, transforms, sampling; synthetic/ writes the synthetic data
    "metrics",  # how a trained model is scored: the numbers that are compared
    "config.py",  # the settings' defaults and how they resolve: what a setting means
)
"""The paths under :data:`PACKAGE_ROOT` whose source computes a result (every ``.py`` file of
a folder). What is not here (the study driver ``a3m/study/``, ``a3m/stats.py``, the CLI,
dashboards, docs, tests, benchmarks) decides which runs are trained or how they are read, not
what one computes: editing it leaves finished runs valid."""

FINGERPRINT_CHARS = 12
"""Hex characters of the sha256 kept: short enough to read in a table, ample to tell apart."""


def source_fingerprint(root: str | Path, paths: Iterable[str] = CODE_PATHS) -> str:
    """A hash of the ``.py`` files at ``paths`` under ``root``: each file's path relative to
    ``root`` and its bytes, in sorted order (contents, not modification times, so copies of one
    source agree). A path missing under ``root`` counts as such, not as an error.

    Args:
        root: the folder the paths are relative to (:data:`PACKAGE_ROOT` for this code).
        paths: files and folders under it (folders: every ``.py`` file below them).

    Returns:
        :data:`FINGERPRINT_CHARS` hex characters of a sha256.
    """
    root = Path(root)
    files: list[Path] = []
    for name in paths:
        path = root / name
        if path.is_dir():
            files += [p for p in path.rglob("*.py") if "__pycache__" not in p.parts]
        elif path.is_file():
            files.append(path)
    digest = hashlib.sha256()
    for path in sorted(files, key=lambda p: p.relative_to(root).as_posix()):
        data = path.read_bytes()
        # the length between path and bytes: no two trees can run together into one stream
        digest.update(f"{path.relative_to(root).as_posix()}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()[:FINGERPRINT_CHARS]
