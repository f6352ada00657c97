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
    ensure_synthetic("market1501", "~/.cache/a3m")      # cached by name and parameters

Roots returned (what a loader takes): the folder that contains ``CUB_200_2011/`` (cub,
cub_retrieval), ``Market-1501-v15.09.15/`` (market1501), CompCars' ``data/`` (compcars), and
``cars_annos.mat`` (cars196).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from a3m.data.synthetic.cars196 import write_cars196
from a3m.data.synthetic.compcars import write_compcars
from a3m.data.synthetic.cub import write_cub
from a3m.data.synthetic.market1501 import write_market1501

__all__ = [
    "DEFAULTS",
    "GENERATOR_VERSION",
    "SYNTHETIC_DATASETS",
    "ensure_synthetic",
    "resolve_params",
    "write_synthetic",
]

GENERATOR_VERSION = 1
"""Bumped whenever a writer's output changes, so cached copies are regenerated."""

_WRITERS: dict[str, Callable[..., Path]] = {
    "cub": write_cub,
    "cub_retrieval": write_cub,  # same files; the retrieval split is a loader's concern
    "market1501": write_market1501,
    "compcars": write_compcars,
    "cars196": write_cars196,
}
SYNTHETIC_DATASETS: tuple[str, ...] = tuple(_WRITERS)
"""Names accepted by :func:`write_synthetic` and :func:`ensure_synthetic`."""

DEFAULTS: dict[str, dict[str, int]] = {
    # cub: 20 classes x 30 images (about 15 train / 15 test each), 64x64.
    "cub": {"seed": 0, "num_classes": 20, "images_per_class": 30, "image_size": 64},
    "cub_retrieval": {"seed": 0, "num_classes": 20, "images_per_class": 30, "image_size": 64},
    # market1501: 40 train + 40 test identities, 10 images each (+ queries, distractors,
    # junk), 128x64.
    "market1501": {"seed": 0, "num_classes": 40, "images_per_class": 10, "image_size": 128},
    # compcars: 20 models x 30 images, 96x128.
    "compcars": {"seed": 0, "num_classes": 20, "images_per_class": 30, "image_size": 96},
    # cars196: 20 classes (10 train + 10 test for retrieval) x 30 images, 64x85.
    "cars196": {"seed": 0, "num_classes": 20, "images_per_class": 30, "image_size": 64},
}
"""Default parameters per dataset (``num_classes`` is identities per split for Market)."""

_PARAMS = ("seed", "num_classes", "images_per_class", "image_size")
_MANIFEST = "synthetic.json"
_STALE_SECONDS = 3600.0


def _check_name(name: str) -> str:
    if name not in _WRITERS:
        valid = ", ".join(repr(n) for n in SYNTHETIC_DATASETS)
        raise ValueError(f"unknown synthetic dataset {name!r}; valid names: {valid}")
    return name


def resolve_params(name: str, **params: Any) -> dict[str, int]:
    """The full parameter set for ``name``: its defaults overridden by non-``None`` params.

    Raises:
        ValueError: for an unknown dataset name or parameter name.
    """
    _check_name(name)
    unknown = sorted(set(params) - set(_PARAMS))
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown}; valid: {', '.join(_PARAMS)}")
    resolved = dict(DEFAULTS[name])
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
        name: one of :data:`SYNTHETIC_DATASETS` (``cub``, ``cub_retrieval``, ``market1501``,
            ``compcars``, ``cars196``).
        out: folder to write into (created if needed); a previous copy of the same dataset
            in it (its ``CUB_200_2011/``, ``Market-1501-v15.09.15/``, ``data/`` or ``car_ims/``)
            is replaced, so no stale image survives.
        seed: random seed; the same seed gives byte-identical label files and images.
        num_classes: classes (for ``market1501``: identities in each of train and test);
            ``None`` = the dataset's default (:data:`DEFAULTS`).
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
    return _WRITERS[name](out, **params)


def _cache_key(name: str, params: dict[str, int]) -> str:
    # cub_retrieval writes the same files as cub: share the cached copy.
    canonical = "cub" if name == "cub_retrieval" else name
    blob = json.dumps(
        {"name": canonical, "params": params, "version": GENERATOR_VERSION}, sort_keys=True
    )
    return f"{canonical}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


def ensure_synthetic(name: str, cache_dir: str | Path, **params: Any) -> Path:
    """Return a cached synthetic copy of ``name``, writing it first if needed.

    The copy lives in ``cache_dir/<name>-<hash of name, resolved params, generator version>``.
    It is written into a temporary sibling folder and renamed into place only when complete,
    so a crash mid-write never leaves a half copy that a later call would reuse; concurrent
    callers may both write, and the first rename wins.

    Args:
        name: one of :data:`SYNTHETIC_DATASETS`.
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
