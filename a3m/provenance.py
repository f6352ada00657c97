"""What trained a run: a fingerprint of the code that computes its result, and beside it what
else can change that result (torch, CUDA, cuDNN, the GPU, the determinism settings).

A trial's identity (:func:`a3m.study.tracking.trial_identity`) is its settings, seed and data;
two runs of one identity trained by different code are not the same result. Every training run
carries :data:`CODE_TAG` (from :func:`code_fingerprint`) and :data:`ENVIRONMENT_TAGS` (from
:func:`runtime_tags`, taken in the process that trains). A study reuses a finished run only
when its code tag is this code's (``--reuse-older-code`` says otherwise), and the comparison
code names the code versions a set of runs mixes (:func:`code_versions`,
:func:`code_version_counts`) and the environments two paired runs differ in
(:func:`environment_differences`).

Which files make up ``a3m``'s part of the fingerprint and how they are hashed
(:data:`CODE_PATHS`, :func:`source_fingerprint`, :data:`PACKAGE_ROOT`, importable from here)
live in :mod:`a3m.code_files`, which imports nothing of ``a3m``: the plugin mechanics
(:mod:`a3m.plugins`) hash a module of yours with it as the module registers. The part from
outside ``a3m`` is :func:`a3m.plugin_code.outside_codes`, which asks the registries; this module
sits above it and imports it when :func:`code_fingerprint` is called (the registries bring
torch, which reading runs' tags does without).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from a3m.code_files import CODE_PATHS as CODE_PATHS  # re-exported: which files are hashed
from a3m.code_files import FINGERPRINT_CHARS, PACKAGE_ROOT, source_fingerprint

if TYPE_CHECKING:
    import torch

UNRECORDED = "unrecorded"
"""The code version or environment of a run logged before runs recorded them."""

ANY_CODE = "*"
"""Passed as ``code`` to :func:`a3m.study.tracking.finished_identities` and
:func:`~a3m.study.tracking.continuable_runs`: runs of any code count (``--reuse-older-code``)."""

CODE_TAG = "a3m.code"
"""A training run's (and a study invocation's parent run's) :func:`code_fingerprint`."""

TORCH_TAG = "a3m.env.torch"  # torch.__version__
CUDA_TAG = "a3m.env.cuda"  # torch.version.cuda: the CUDA torch was built with, or "none"
CUDNN_TAG = "a3m.env.cudnn"  # torch.backends.cudnn.version(), or "none"
GPU_TAG = "a3m.env.gpu"  # the training device's model name, or its type ("cpu")
GPU_COUNT_TAG = "a3m.env.gpu_count"  # GPUs the training process sees ("0" off CUDA)
DETERMINISTIC_TAG = "a3m.env.deterministic"  # torch's and cuDNN's determinism settings
ENVIRONMENT_TAGS: tuple[str, ...] = (
    TORCH_TAG,
    CUDA_TAG,
    CUDNN_TAG,
    GPU_TAG,
    GPU_COUNT_TAG,
    DETERMINISTIC_TAG,
)
"""The tags of :func:`runtime_tags`: what besides the code and the settings can change a
result (kernels, their numerics, their order of summation)."""


@functools.lru_cache(maxsize=1)
def package_fingerprint() -> str:
    """The fingerprint of the installed ``a3m`` (its :data:`CODE_PATHS`), read once per
    process."""
    return source_fingerprint(PACKAGE_ROOT)


def code_fingerprint() -> str:
    """This process's fingerprint of the code that computes a result: the installed ``a3m``
    (:func:`package_fingerprint`) and, where modules outside it registered a variant or a
    backbone here (:func:`a3m.plugin_code.outside_codes`), their sources too, so that a run
    trained by an edited plugin is another code's run (never reused for, nor paired as, the
    old one's). A study's driver and its trials' workers import the same modules, so they
    agree."""
    from a3m.plugin_code import outside_codes  # imports the registries (and torch): on call

    own, plugins = package_fingerprint(), outside_codes()
    if not plugins:
        return own
    joined = "\0".join([own, *plugins]).encode()
    return hashlib.sha256(joined).hexdigest()[:FINGERPRINT_CHARS]


def runtime_tags(device: str | torch.device) -> dict[str, str]:
    """:data:`ENVIRONMENT_TAGS` -> their values in this process, which is to train on
    ``device`` (call it in the trial's worker, not the study's driver: that is where the GPU
    and the settings are). ``device``: a torch device or a RunConfig's name of one (``auto``
    included); it never raises for a device this process lacks."""
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    on_cuda = device.type == "cuda" and torch.cuda.is_available()
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    determinism = {
        "algorithms": torch.are_deterministic_algorithms_enabled(),
        "cudnn.benchmark": torch.backends.cudnn.benchmark,
        "cudnn.deterministic": torch.backends.cudnn.deterministic,
    }
    return {
        TORCH_TAG: torch.__version__,
        CUDA_TAG: torch.version.cuda or "none",
        CUDNN_TAG: str(cudnn) if cudnn else "none",
        GPU_TAG: torch.cuda.get_device_name(device) if on_cuda else device.type,
        GPU_COUNT_TAG: str(torch.cuda.device_count() if on_cuda else 0),
        DETERMINISTIC_TAG: ",".join(f"{k}={str(v).lower()}" for k, v in determinism.items()),
    }


def provenance_tags(device: str | torch.device, before: str | None = None) -> dict[str, str]:
    """What a training run records of what trained it: :data:`CODE_TAG` and
    :func:`runtime_tags`.

    Args:
        device: the device it trains on.
        before: the run's code tag from an earlier attempt (a resumed or continued run), if
            any. Where it is another code's, the tag names both (``old>new``): a run trained
            partly by each is neither's result, and is reused by neither.
    """
    code = code_fingerprint()
    if before and before != code:
        code = before if before.endswith(f">{code}") else f"{before}>{code}"
    return {CODE_TAG: code, **runtime_tags(device)}


def _text(value: Any) -> str:
    """A tag's value as text; :data:`UNRECORDED` where a run has none (None, NaN, empty)."""
    if isinstance(value, str):
        return value or UNRECORDED
    return UNRECORDED if value is None or pd.isna(value) else str(value)


def code_version(tags: Mapping[str, Any]) -> str:
    """The code fingerprint of one run, from its tags (keys ``a3m.code`` or, as in a row of
    :func:`a3m.study.runs.runs_frame`, ``tags.a3m.code``); :data:`UNRECORDED` without one."""
    return _text(tags.get(CODE_TAG, tags.get(f"tags.{CODE_TAG}")))


def run_code_versions(runs: pd.DataFrame) -> pd.Series:
    """Each run's code fingerprint (:data:`UNRECORDED` where it has none), by row of a
    :func:`a3m.study.runs.runs_frame` frame."""
    column = f"tags.{CODE_TAG}"
    if column not in runs:
        return pd.Series(UNRECORDED, index=runs.index, dtype=object)
    return runs[column].map(_text).astype(object)


def code_version_counts(runs: pd.DataFrame) -> dict[str, int]:
    """Code fingerprint -> number of runs, of a :func:`a3m.study.runs.runs_frame` frame (or a
    part of one, e.g. the two sides of a comparison); most runs first, ties by name."""
    counts = run_code_versions(runs).value_counts()
    return dict(sorted(((str(k), int(n)) for k, n in counts.items()), key=lambda c: (-c[1], c[0])))


def code_versions(runs: pd.DataFrame) -> list[str]:
    """The distinct code fingerprints of the runs (``tags.a3m.code``), sorted, with
    :data:`UNRECORDED` (last) for runs logged before runs recorded one. More than one: the
    runs mix results of different code, which a comparison must name."""
    found = set(run_code_versions(runs))
    return sorted(found - {UNRECORDED}) + ([UNRECORDED] if UNRECORDED in found else [])


def describe_mix(runs: pd.DataFrame) -> str | None:
    """One line naming the code versions the runs mix, e.g. ``"runs of 2 code versions:
    3f1c2a9b7d01 (8 runs), unrecorded (4 runs)"``; None when all are of one."""
    counts = code_version_counts(runs)
    if len(counts) < 2:
        return None
    parts = ", ".join(f"{code} ({n} run{'s' if n != 1 else ''})" for code, n in counts.items())
    return f"runs of {len(counts)} code versions: {parts}"


def environment_differences(
    run_a_tags: Mapping[str, Any], run_b_tags: Mapping[str, Any]
) -> list[str]:
    """The :data:`ENVIRONMENT_TAGS` in which two runs differ, each as ``"tag: a vs b"`` (e.g.
    ``"a3m.env.gpu: cpu vs NVIDIA H100 80GB HBM3"``), in :data:`ENVIRONMENT_TAGS`' order; a tag
    a run lacks reads :data:`UNRECORDED`. The tags' keys may be bare (``a3m.env.gpu``, a run's
    ``data.tags``) or prefixed (``tags.a3m.env.gpu``, a row of a runs frame)."""
    out = []
    for tag in ENVIRONMENT_TAGS:
        a = _text(run_a_tags.get(tag, run_a_tags.get(f"tags.{tag}")))
        b = _text(run_b_tags.get(tag, run_b_tags.get(f"tags.{tag}")))
        if a != b:
            out.append(f"{tag}: {a} vs {b}")
    return out
