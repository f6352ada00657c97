"""What every metric module shares: the inputs they accept and how they check them, the
warning of an undefined metric, and the default chunk of queries."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

ArrayLike = torch.Tensor | np.ndarray | Sequence[Any]

DEFAULT_CHUNK_SIZE = 512
"""Queries per re-id chunk: 512 x 15,913 gallery items keep each chunk's buffers near 100 MB."""


class UndefinedMetricWarning(RuntimeWarning):
    """A metric had no sample to be computed on and was set to NaN."""


def _warn_undefined(message: str) -> None:
    # stacklevel=3: point at the caller of the public metric, not at this helper.
    warnings.warn(message, UndefinedMetricWarning, stacklevel=3)


def _as_tensor(x: ArrayLike, name: str) -> torch.Tensor:
    """A CPU-or-device tensor view of ``x`` (no copy for NumPy arrays or tensors)."""
    if isinstance(x, torch.Tensor):
        return x.detach()
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x))
    try:
        return torch.as_tensor(np.asarray(x))
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a tensor or an array, got {type(x).__name__}") from err


def _as_features(x: ArrayLike, name: str) -> torch.Tensor:
    """A 2-D floating tensor; integer input is promoted, float64 kept (for exact comparisons)."""
    t = _as_tensor(x, name)
    if t.ndim != 2:
        raise ValueError(f"{name} must have shape (N, D), got {tuple(t.shape)}")
    if not t.is_floating_point():
        t = t.float()
    elif t.dtype in (torch.float16, torch.bfloat16):
        # Half precision cannot separate near neighbours; rank in float32.
        t = t.float()
    return t


def _as_labels(x: ArrayLike, name: str, n: int | None = None) -> torch.Tensor:
    t = _as_tensor(x, name)
    if t.ndim != 1:
        raise ValueError(f"{name} must have shape (N,), got {tuple(t.shape)}")
    # An empty list arrives as float64 from np.asarray; there is nothing to check in it.
    if t.numel() and (t.is_floating_point() or t.is_complex() or t.dtype == torch.bool):
        raise ValueError(f"{name} must hold integer ids, got dtype {t.dtype}")
    if n is not None and t.numel() != n:
        raise ValueError(f"{name} has {t.numel()} entries, expected {n}")
    return t.long()


def _check_chunk_size(chunk_size: int) -> None:
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")
