"""Small synthetic datasets in the exact public on-disk formats.

The real datasets (CUB-200-2011, Market-1501 with Lin et al.'s attributes, CompCars, CARS196) cannot
be downloaded everywhere. These writers produce small copies *in the same file layout*
(docs/reproduction.md, "Dataset formats"), so the same loaders read real and synthetic data, and
every study has a ``--synthetic`` mode that runs on a laptop CPU in minutes while still showing the
paper's effect: classes are combinations of attribute values drawn as small local parts (see
:mod:`a3m.data.synthetic.render`, the renderer they share, and the painters beside the writers:
:mod:`~a3m.data.synthetic.bird`, :mod:`~a3m.data.synthetic.person`, :mod:`~a3m.data.synthetic.car`).

Public API::

    write_synthetic("cub", "/tmp/cub", seed=0)          # -> Path("/tmp/cub") holding CUB_200_2011/
    ensure_synthetic("market1501", synthetic_cache())   # cached by name and parameters

Roots returned (what a loader takes): the folder that contains ``CUB_200_2011/`` (cub,
cub_retrieval), ``Market-1501-v15.09.15/`` (market1501), CompCars' ``data/`` (compcars), and
``cars_annos.mat`` (cars196). Each dataset's writer, default parameters and training size are
in its registry entry (:class:`a3m.data.registry.SyntheticCopy`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from a3m.data.registry import DatasetEntry

__all__ = [
    "CACHE_ENV",
    "DEFAULT_CACHE",
    "GENERATOR_VERSION",
    "MANIFEST_NAME",
    "ensure_synthetic",
    "resolve_params",
    "synthetic_cache",
    "write_synthetic",
]

GENERATOR_VERSION = 1
"""Bumped whenever a writer's output changes, so cached copies are regenerated."""

CACHE_ENV = "A3M_SYNTHETIC_DIR"
DEFAULT_CACHE = "~/.cache/a3m/synthetic"


def synthetic_cache(root: str | Path | None = None) -> Path:
    """The folder synthetic copies are cached in: ``root``, else ``$A3M_SYNTHETIC_DIR``, else
    ``~/.cache/a3m/synthetic``; absolute, so every process of a study reads the same one."""
    return Path(root or os.environ.get(CACHE_ENV) or DEFAULT_CACHE).expanduser().resolve()


_PARAMS = ("seed", "num_classes", "images_per_class", "image_size")
MANIFEST_NAME = "synthetic.json"
"""Written into a cached copy once complete: what marks a folder as a synthetic copy."""
_MANIFEST = MANIFEST_NAME
_STALE_SECONDS = 3600.0


def _entry(name: str) -> DatasetEntry:
    # On use: the registry imports the writers, so a module-level import would be a cycle.
    from a3m.data.registry import DATASETS

    if name not in DATASETS:
        valid = ", ".join(repr(n) for n in DATASETS)
        raise ValueError(f"unknown synthetic dataset {name!r}; valid names: {valid}")
    return DATASETS[name]


def resolve_params(name: str, **params: Any) -> dict[str, int]:
    """The full parameter set for ``name``: its defaults overridden by non-``None`` params.

    Raises:
        ValueError: for an unknown dataset name or parameter name.
    """
    defaults = _entry(name).synthetic.params
    unknown = sorted(set(params) - set(_PARAMS))
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown}; valid: {', '.join(_PARAMS)}")
    resolved = dict(defaults)
    resolved.update({k: v for k, v in params.items() if v is not None})
    return resolved


def write_synthetic(
    name: str,
    out: str | Path,
    *,
    seed: int = 0,
    num_classes: int | None = None,
    images_per_class: int | None = None,
    image_size: int | None = None,
) -> Path:
    """Write a synthetic copy of dataset ``name`` into ``out``.

    Args:
        name: a registry name (``cub``, ``cub_retrieval``, ``market1501``, ``compcars``,
            ``cars196``).
        out: folder to write into (created if needed); a previous copy of the same dataset
            in it (its ``CUB_200_2011/``, ``Market-1501-v15.09.15/``, ``data/`` or ``car_ims/``)
            is replaced, so no stale image survives.
        seed: random seed; the same seed gives byte-identical label files and images.
        num_classes: classes (for ``market1501``: identities in each of train and test);
            ``None`` = the dataset's default (its registry entry's ``synthetic.params``).
        images_per_class: images per class / identity; ``None`` = default.
        image_size: image height in pixels (square for CUB; width = height / 2 for Market,
            4/3 height for the car datasets); ``None`` = default.

    Returns:
        The root a loader takes: ``out``, which contains ``CUB_200_2011/``,
        ``Market-1501-v15.09.15/``, ``data/`` (CompCars) or ``cars_annos.mat`` (CARS196).

    Raises:
        ValueError: for an unknown name (the message lists the valid ones) or a bad parameter.
    """
    params = resolve_params(
        name,
        seed=seed,
        num_classes=num_classes,
        images_per_class=images_per_class,
        image_size=image_size,
    )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    return _entry(name).synthetic.writer(out, **params)


def _cache_key(name: str, params: dict[str, int]) -> str:
    # Keyed by the release, not the name: CUB's retrieval entry shares the classification copy.
    release = _entry(name).release
    blob = json.dumps(
        {"name": release, "params": params, "version": GENERATOR_VERSION}, sort_keys=True
    )
    return f"{release}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


def ensure_synthetic(name: str, cache_dir: str | Path, **params: Any) -> Path:
    """Return a cached synthetic copy of ``name``, writing it first if needed.

    The copy lives in ``cache_dir/<release>-<hash of release, resolved params, generator
    version>`` (the release: the registry entry's, shared by CUB's two entries).
    It is written into a temporary sibling folder and renamed into place only when complete,
    so a crash mid-write never leaves a half copy that a later call would reuse; concurrent
    callers may both write, and the first rename wins.

    Args:
        name: a registry name.
        cache_dir: folder holding the cached copies (created if needed).
        **params: ``seed``, ``num_classes``, ``images_per_class``, ``image_size`` (as in
            :func:`write_synthetic`; defaults are filled in before hashing).

    Returns:
        The root a loader takes (see :func:`write_synthetic`).
    """
    resolved = resolve_params(name, **params)
    cache_dir = Path(cache_dir).expanduser()
    cache_dir.mkdir(parents=True, exist_ok=True)
    final = cache_dir / _cache_key(name, resolved)
    if (final / _MANIFEST).is_file():
        return final
    if final.exists():  # not made by us (only complete copies are renamed in): rebuild it
        shutil.rmtree(final)
    _remove_stale_temporaries(cache_dir, final.name)

    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=cache_dir))
    try:
        write_synthetic(name, tmp, **resolved)
        manifest = {"name": name, "params": resolved, "version": GENERATOR_VERSION}
        (tmp / _MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / _MANIFEST).is_file():
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # another process finished first
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _remove_stale_temporaries(cache_dir: Path, stem: str) -> None:
    """Delete temporary folders of ``stem`` left by crashed runs (older than an hour)."""
    now = time.time()
    for path in cache_dir.glob(f".{stem}.tmp-*"):
        try:
            if now - path.stat().st_mtime > _STALE_SECONDS:
                shutil.rmtree(path, ignore_errors=True)
        except FileNotFoundError:
            pass
