"""Classification (paper eq. 9, Tables 2-3, Fig. 8): top-1 :func:`accuracy` and
:func:`attribute_accuracy`, one score per attribute head with ``IGNORE_INDEX`` labels skipped."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import torch

from a3m.data.base import IGNORE_INDEX
from a3m.metrics.common import (
    ArrayLike,
    UndefinedMetricWarning,
    _as_labels,
    _as_tensor,
    _warn_undefined,
)

ATTRIBUTE_MEAN_KEY = "mean"
"""Key of the mean over attributes (NaN attributes left out) in :func:`attribute_accuracy`."""


def _check_finite_logits(scores: torch.Tensor, name: str) -> None:
    """Refuse logits with a NaN or infinite entry: argmax would pick it and score a broken
    model as if it had predicted a class."""
    bad = int((~torch.isfinite(scores)).any(dim=1).sum()) if scores.numel() else 0
    if bad:
        raise ValueError(
            f"{name} must be finite, got {bad} of {scores.shape[0]} rows with NaN or infinite "
            "values"
        )


def accuracy(logits: ArrayLike, labels: ArrayLike, *, ignore_index: int = IGNORE_INDEX) -> float:
    """Top-1 accuracy: the share of samples whose arg-max logit is the label.

    Works for the final head (eq. 9), the category head (eq. 1) or one attribute head (eq. 3).

    Args:
        logits: (N, C) scores; any monotonic transform (probabilities) gives the same result.
        labels: (N,) integer class ids; entries equal to ``ignore_index`` are left out.
        ignore_index: label value meaning "unknown" (default ``IGNORE_INDEX`` = -100).

    Returns:
        The fraction in [0, 1]; NaN (with an :class:`UndefinedMetricWarning`) when no sample is
        labelled.

    Raises:
        ValueError: on bad shapes, or when a row of ``logits`` (labelled or not) holds NaN or
            infinity: the model is broken, and argmax would hide it.
    """
    scores = _as_tensor(logits, "logits")
    if scores.ndim != 2:
        raise ValueError(f"logits must have shape (N, C), got {tuple(scores.shape)}")
    _check_finite_logits(scores, "logits")
    target = _as_labels(labels, "labels", scores.shape[0]).to(scores.device)
    known = target != ignore_index  # (N,)
    n_known = int(known.sum())
    if n_known == 0:
        _warn_undefined("accuracy is undefined: no labelled sample; returning NaN")
        return math.nan
    correct = scores[known].argmax(dim=1) == target[known]
    return float(correct.sum()) / n_known


def attribute_accuracy(
    attribute_logits: Sequence[ArrayLike],
    attribute_targets: ArrayLike,
    names: Sequence[str] | None = None,
    *,
    ignore_index: int = IGNORE_INDEX,
) -> dict[str, float]:
    """Per-attribute top-1 accuracy (paper Fig. 8), ignoring unknown labels.

    Args:
        attribute_logits: K arrays, the k-th of shape (N, C_k) (the model's attribute heads).
        attribute_targets: (N, K) integer labels, ``ignore_index`` where unknown.
        names: K attribute names used as keys; default ``"attr0"``, ``"attr1"``, ...
        ignore_index: label value meaning "unknown".

    Returns:
        ``{name: accuracy}`` for every attribute, in order, plus ``ATTRIBUTE_MEAN_KEY``
        (``"mean"``): the mean over attributes that are defined. An attribute with no labelled
        sample is NaN (with an :class:`UndefinedMetricWarning`) and is left out of the mean.
        With no attribute head at all (K = 0) the result is ``{"mean": NaN}``, without warning.

    Raises:
        ValueError: on bad shapes or names, or when a head's logits hold NaN or infinity (the
            message names the head and counts the bad rows).
    """
    targets = _as_tensor(attribute_targets, "attribute_targets")
    k = len(attribute_logits)
    if targets.ndim != 2 or targets.shape[1] != k:
        raise ValueError(
            f"attribute_targets must have shape (N, K={k}) to match {k} attribute heads, "
            f"got {tuple(targets.shape)}"
        )
    if names is None:
        names = [f"attr{i}" for i in range(k)]
    names = list(names)
    if len(names) != k:
        raise ValueError(f"got {len(names)} names for {k} attribute heads")
    if len(set(names)) != k or ATTRIBUTE_MEAN_KEY in names:
        raise ValueError(f"names must be unique and must not be {ATTRIBUTE_MEAN_KEY!r}: {names}")

    result: dict[str, float] = {}
    for i, (name, logits) in enumerate(zip(names, attribute_logits, strict=True)):
        with warnings.catch_warnings():
            # Re-raised below with the attribute's name, which accuracy() does not know.
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            try:
                result[name] = accuracy(logits, targets[:, i], ignore_index=ignore_index)
            except ValueError as err:  # accuracy() does not know which head it scores
                raise ValueError(f"attribute head {i} ({name!r}): {err}") from err
        if math.isnan(result[name]):
            _warn_undefined(f"attribute {name!r} has no labelled sample; its accuracy is NaN")
    defined = [v for v in result.values() if not math.isnan(v)]
    if not defined and k > 0:
        _warn_undefined("no attribute has a labelled sample; the mean attribute accuracy is NaN")
    result[ATTRIBUTE_MEAN_KEY] = sum(defined) / len(defined) if defined else math.nan
    return result
