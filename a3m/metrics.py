"""Evaluation metrics as pure functions of tensors/arrays (paper Sec. 4; the protocols:
docs/reproduction.md, "Evaluation protocols").

Every function takes torch tensors or NumPy arrays, knows nothing of models or files, and returns
Python numbers (or a dict of them). **All scores are fractions in [0, 1]**, never percent: multiply
by 100 to compare with the paper's tables.

- Classification (paper eq. 9, Tables 2-3, Fig. 8): :func:`accuracy` (top-1) and
  :func:`attribute_accuracy` (one score per attribute head, ``IGNORE_INDEX`` labels skipped).
- Person re-id (Table 1), the Market-1501 protocol: :func:`reid_evaluate` gives CMC rank-k and
  mAP. For each query, gallery items with the same person id AND the same camera are removed, and
  so are junk items (pid -1) for every query, as the official evaluation does; the same person
  seen by another camera is a hit; distractors (pid 0) stay in the gallery as wrong matches; a
  query with no hit left is skipped (and counted). AP follows the official Market-1501 code
  (``ap_mode="official"``, the default, a trapezoid rule) or torchreid / fast-reid
  (``"torchreid"``, the mean precision at the hits): see :data:`AP_MODES`.
- Retrieval (Tables 4-5): :func:`recall_at_k` (each item queries all the others) and :func:`nmi`
  (k-means with as many clusters as classes, then sklearn's arithmetic NMI);
  :func:`retrieval_evaluate` returns both.

The expensive step (the query x gallery distance matrix and its sort) is done once per chunk of
queries, so Market-1501 (3,368 x 15,913 at d = 2048) fits in a laptop's memory; nothing loops over
the gallery in Python. A metric that is undefined on the given data is NaN with an
:class:`UndefinedMetricWarning`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from a3m.data.base import IGNORE_INDEX

__all__ = [
    "AP_MODES",
    "ATTRIBUTE_MEAN_KEY",
    "DEFAULT_CHUNK_SIZE",
    "DISTANCES",
    "JUNK_PID",
    "UndefinedMetricWarning",
    "accuracy",
    "ap_official",
    "ap_torchreid",
    "attribute_accuracy",
    "nmi",
    "pairwise_distance",
    "recall_at_k",
    "reid_evaluate",
    "retrieval_evaluate",
]

ArrayLike = torch.Tensor | np.ndarray | Sequence[Any]

ATTRIBUTE_MEAN_KEY = "mean"
"""Key of the mean over attributes (NaN attributes left out) in :func:`attribute_accuracy`."""

DEFAULT_CHUNK_SIZE = 512
"""Queries per re-id chunk: 512 x 15,913 gallery items keep each chunk's buffers near 100 MB."""

JUNK_PID = -1
"""Person id of Market-1501's junk images (partial or bad crops): removed from every ranking."""


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


# ----------------------------------------------------------------------------- classification


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


# ----------------------------------------------------------------------------- distances

DistanceFn = Callable[[torch.Tensor], torch.Tensor]
"""Distances of a chunk of queries (q, D) to a fixed reference set: (q, N)."""


def _euclidean(y: torch.Tensor) -> DistanceFn:
    """Squared Euclidean distances to the rows of ``y``, by ||x||^2 + ||y||^2 - 2 x.y.

    Both sides are shifted by the mean of ``y`` first: distances do not change, but the squared
    norms shrink, so the expansion loses far fewer digits in float32 (CNN features after a ReLU
    are all positive, far from the origin). The reference side is prepared once, not per chunk.
    Squared: the ranking is the same as with the distance, without a square root.
    """
    centre = y.mean(0, keepdim=True)  # (1, D)
    yc = y - centre  # (N, D)
    y_sq = (yc * yc).sum(1)  # (N,)

    def distance(x: torch.Tensor) -> torch.Tensor:
        xc = x.to(yc.dtype) - centre  # (q, D)
        d = (xc * xc).sum(1, keepdim=True) + y_sq  # (q, N)
        d.addmm_(xc, yc.T, alpha=-2.0)
        return d.clamp_min_(0.0)  # rounding can make a true 0 slightly negative

    return distance


def _cosine(y: torch.Tensor) -> DistanceFn:
    """Cosine distances 1 - cos(x, y) to the rows of ``y`` (normalised once)."""
    yn = F.normalize(y, dim=1)  # (N, D)

    def distance(x: torch.Tensor) -> torch.Tensor:
        return (1.0 - F.normalize(x.to(yn.dtype), dim=1) @ yn.T).clamp_min_(0.0)  # (q, N)

    return distance


DISTANCES: dict[str, Callable[[torch.Tensor], DistanceFn]] = {
    "euclidean": _euclidean,
    "cosine": _cosine,
}
"""Distance builders by name: ``DISTANCES[metric](reference)`` prepares the reference set once
and returns a function of a query chunk. ``"euclidean"`` gives squared distances (same ranking)."""


def _check_metric(metric: str) -> None:
    if metric not in DISTANCES:
        raise ValueError(f"unknown metric {metric!r}; valid: {sorted(DISTANCES)}")


def _all_finite(t: torch.Tensor) -> bool:
    """Whether every entry is finite, from the extremes alone: min and max propagate NaN and
    are infinite exactly when some entry is. One reduction pass, without the (N, D) boolean
    tensor of ``isfinite(t).all()`` (10x faster on Market-1501's gallery on CPU)."""
    if t.numel() == 0:
        return True
    return bool(torch.isfinite(torch.stack(torch.aminmax(t))).all())


def _distance_to(reference: torch.Tensor, queries: torch.Tensor, metric: str) -> DistanceFn:
    """The distance function of ``metric`` to ``reference``, in a dtype both sides share."""
    # NaN would sort anywhere and silently corrupt ranks: refuse it (one cheap pass).
    sets = (reference,) if queries is reference else (reference, queries)
    if not all(_all_finite(t) for t in sets):
        raise ValueError("features contain NaN or infinite values; distances are undefined")
    dtype = torch.promote_types(reference.dtype, queries.dtype)
    return DISTANCES[metric](reference.to(dtype))


def pairwise_distance(x: ArrayLike, y: ArrayLike, metric: str = "euclidean") -> torch.Tensor:
    """The full distance matrix between two feature sets (for small sets; metrics chunk it).

    Args:
        x: (M, D) features.
        y: (N, D) features.
        metric: ``"euclidean"`` (the true, not squared, distance) or ``"cosine"`` (1 - cos).

    Returns:
        (M, N) tensor of distances.
    """
    _check_metric(metric)
    xt, yt = _as_features(x, "x"), _as_features(y, "y")
    if xt.shape[1] != yt.shape[1]:
        raise ValueError(f"feature dims differ: x has {xt.shape[1]}, y has {yt.shape[1]}")
    d = _distance_to(yt, xt, metric)(xt)  # (M, N)
    return d.sqrt_() if metric == "euclidean" else d


# ----------------------------------------------------------------------------- person re-id


def _sort_rows(dist: torch.Tensor) -> torch.Tensor:
    """Each row's values in ascending order (values only, no indices).

    On CPU NumPy's sort is used: it is SIMD-accelerated and several times faster than
    ``torch.sort`` there, and only the sorted values are needed (see :func:`_stable_positions`).
    """
    if dist.device.type == "cpu":
        return torch.from_numpy(np.sort(dist.numpy(), axis=1))
    return torch.sort(dist, dim=1).values


_TIE_BLOCK = 1024
"""Tied entries resolved at once in :func:`_stable_positions` (a (1024, G) buffer)."""


def _stable_positions(
    dist: torch.Tensor, sorted_dist: torch.Tensor, cols: torch.Tensor, valid: torch.Tensor
) -> torch.Tensor:
    """0-based position of chosen gallery items in each row's stable ascending order.

    The position of item j in row r is the number of items closer than it, plus the number of
    items at exactly the same distance with a smaller gallery index: that is what a stable
    argsort gives, without sorting indices. Ties are rare, so they are resolved only for the
    entries that have one.

    Args:
        dist: (q, G) distances. sorted_dist: (q, G) the same rows sorted.
        cols: (q, S) gallery indices of the chosen items. valid: (q, S) bool, which are real.

    Returns:
        (q, S) int64 positions (undefined where not valid).
    """
    d_sel = dist.gather(1, cols)  # (q, S)
    left = torch.searchsorted(sorted_dist, d_sel)  # (q, S) items strictly closer
    right = torch.searchsorted(sorted_dist, d_sel, right=True)  # (q, S) closer or equal
    tied = valid & (right - left > 1)  # (q, S) someone else has the same distance
    if bool(tied.any()):
        rows, slots = tied.nonzero(as_tuple=True)  # (T,) each
        gallery_index = torch.arange(dist.shape[1], device=dist.device)  # (G,)
        # Blocks of tied entries bound the (T, G) comparison: a collapsed model (all features
        # equal) makes every entry tied.
        for lo in range(0, len(rows), _TIE_BLOCK):
            r, s = rows[lo : lo + _TIE_BLOCK], slots[lo : lo + _TIE_BLOCK]  # (t,) each
            same = dist[r] == d_sel[r, s][:, None]  # (t, G)
            left[r, s] += (same & (gallery_index < cols[r, s][:, None])).sum(1)
    return left


def ap_official(k: torch.Tensor, rank: torch.Tensor) -> torch.Tensor:
    """Per-hit AP term of the official Market-1501 code (``compute_AP.m``): a trapezoid.

    The MATLAB code walks the ranking (junk skipped) and, at every item, adds
    ``(recall - old_recall) * (old_precision + precision) / 2``, with ``old_precision`` starting
    at 1 and updated at every item, not only at hits. Recall only grows at hits, by 1 / n_good,
    so for the k-th hit at rank r (1-based, junk removed) the precision just before it is that
    at rank r - 1, and

        AP = (1 / n_good) * sum_k ((k - 1) / (r_k - 1) + k / r_k) / 2,

    with (k - 1) / (r_k - 1) read as 1 when r_k = 1. One hit at rank 2 gives (0 + 1/2) / 2 =
    0.25 (torchreid: 0.5); hits at ranks 1 and 3 give (1 + (1/2 + 2/3) / 2) / 2 = 19/24.

    Args:
        k: hits so far, counting this one (float64, any shape). rank: its rank, same shape.

    Returns:
        ``((k - 1) / (rank - 1) + k / rank) / 2``, elementwise; AP is its mean over the hits.
    """
    before = torch.where(rank > 1, (k - 1) / (rank - 1).clamp_min(1), 1.0)
    return (before + k / rank) / 2


def ap_torchreid(k: torch.Tensor, rank: torch.Tensor) -> torch.Tensor:
    """Per-hit AP term of torchreid / fast-reid: the precision at the hit, non-interpolated.

        AP = (1 / n_good) * sum_k k / r_k

    for the k-th hit at rank r_k (1-based, junk removed). Never below :func:`ap_official`'s
    value: each term is at least the trapezoid's, since the precision just before a hit is at
    most the precision at it.

    Args:
        k: hits so far, counting this one (float64, any shape). rank: its rank, same shape.

    Returns:
        ``k / rank``, elementwise; AP is its mean over the hits.
    """
    return k / rank


APTerm = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""Per-hit AP term from (hits so far, rank); AP is the mean of the terms over the hits."""

AP_MODES: dict[str, APTerm] = {"official": ap_official, "torchreid": ap_torchreid}
"""AP definitions by name for :func:`reid_evaluate`'s ``ap_mode``: ``"official"`` is the
Market-1501 authors' ``compute_AP.m`` (the paper's Table 1), ``"torchreid"`` torchreid's and
fast-reid's ``eval_market1501``. On the same ranking torchreid's is never lower (1.5 points
higher at mAP 0.30 on ``benchmarks/bench_reid_eval.py``'s synthetic data with noise 1.0)."""


def _reid_chunk(
    dist: torch.Tensor,
    cols: torch.Tensor,
    valid: torch.Tensor,
    junk: torch.Tensor,
    ap_term: APTerm,
) -> tuple[torch.Tensor, torch.Tensor]:
    """First-hit rank and AP of each query of a chunk, from its same-person gallery items only.

    Only the gallery items of the query's own person matter: their positions in the ranking
    (:func:`_stable_positions`) give both the hits and how many junk items (same person, same
    camera) rank before each hit, which are removed from its rank. Everything else is a miss.

    Args:
        dist: (q, G) distances of q queries to the whole gallery.
        cols: (q, S) gallery indices of each query's same-person items, padded.
        valid: (q, S) bool, False on padding.
        junk: (q, S) bool, same person and same camera as the query (False on padding).
        ap_term: the AP definition, a value of :data:`AP_MODES`.

    Returns:
        first_rank (q,) 1-based rank of the first hit once junk is removed (G + 1 if no hit), and
        ap (q,) float64 average precision (0 if no hit).
    """
    n_gallery = dist.shape[1]
    pos = _stable_positions(dist, _sort_rows(dist), cols, valid)  # (q, S)
    # Order each query's items by ranking position; padding goes last.
    pos = torch.where(valid, pos, n_gallery)
    pos, perm = pos.sort(dim=1)  # (q, S)
    junk = junk.gather(1, perm)
    hit = valid.gather(1, perm) & ~junk  # (q, S)
    # Rank among kept items = position + 1 - junk items ranked before it.
    junk_before = torch.cumsum(junk, dim=1) - junk.long()  # (q, S)
    rank = pos + 1 - junk_before  # (q, S) 1-based, meaningful at hits
    hits_so_far = torch.cumsum(hit, dim=1)  # (q, S)
    # AP = mean over hits of the per-hit term; rank >= 1 everywhere, padding included.
    terms = torch.where(hit, ap_term(hits_so_far.double(), rank.double()), 0.0)  # (q, S)
    n_hits = hit.sum(1)  # (q,)
    ap = terms.sum(1) / n_hits.clamp_min(1)  # (q,)
    first_rank = torch.where(hit, rank, n_gallery + 1).amin(1)  # (q,)
    return first_rank, ap


def _same_person_items(
    q_pids: torch.Tensor, g_pids: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Where each query's person sits in the gallery, as a CSR-like index (built once).

    Returns:
        by_pid (G,) gallery indices sorted by pid, and start (Q,) and count (Q,) of each query's
        person in ``by_pid`` (count 0 when the person is not in the gallery).
    """
    by_pid = torch.argsort(g_pids, stable=True)  # (G,)
    sorted_pids = g_pids[by_pid]  # (G,)
    start = torch.searchsorted(sorted_pids, q_pids)  # (Q,)
    count = torch.searchsorted(sorted_pids, q_pids, right=True) - start  # (Q,)
    return by_pid, start, count


def reid_evaluate(
    query_feats: ArrayLike,
    query_pids: ArrayLike,
    query_camids: ArrayLike,
    gallery_feats: ArrayLike,
    gallery_pids: ArrayLike,
    gallery_camids: ArrayLike,
    *,
    ranks: Sequence[int] = (1, 5, 10, 20),
    metric: str = "euclidean",
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    ap_mode: str = "official",
) -> dict[str, float]:
    """CMC and mAP with the Market-1501 protocol (paper Table 1).

    For each query, gallery items with the same pid AND the same camera are removed, and junk
    items (pid :data:`JUNK_PID` = -1) are removed for every query, as in the official
    evaluation; the same pid from another camera is a hit; every other item (distractors, pid 0,
    included) is a wrong match. Queries with no hit left are skipped (a query of pid -1 always
    is). Ranks count kept items only. AP per ``ap_mode``, for the k-th hit at rank r_k of a
    query with n hits:

    - ``"official"`` (Market-1501's ``compute_AP.m``, the paper's numbers):
      (1/n) sum_k ((k - 1)/(r_k - 1) + k/r_k) / 2, with (k - 1)/(r_k - 1) = 1 when r_k = 1
      (:func:`ap_official`);
    - ``"torchreid"`` (torchreid, fast-reid): (1/n) sum_k k/r_k (:func:`ap_torchreid`).

    CMC does not depend on ``ap_mode``. Equal distances are ranked by gallery order (as a
    stable argsort). The distance matrix is built and sorted one chunk of ``chunk_size``
    queries at a time (two ``(chunk_size, G)`` float buffers), on the device of
    ``query_feats``; no Python loop runs over queries or gallery items. Only the positions of
    each query's own-person gallery items are read from the sorted distances, so the cost is
    one matrix product and one sort per chunk.

    Args:
        query_feats: (Q, D) query features.
        query_pids: (Q,) integer person ids.
        query_camids: (Q,) integer camera ids.
        gallery_feats: (G, D) gallery features.
        gallery_pids: (G,) integer person ids (0 = distractor, a wrong match; -1 = junk,
            removed).
        gallery_camids: (G,) integer camera ids.
        ranks: the CMC ranks k to report (positive ints).
        metric: ``"euclidean"`` or ``"cosine"``.
        chunk_size: queries per chunk; results do not depend on it (up to float32 rounding:
            BLAS may round a distance differently for another chunk shape).
        ap_mode: the AP definition, a key of :data:`AP_MODES`: ``"official"`` or
            ``"torchreid"``.

    Returns:
        ``{"rank1": ..., "rank5": ..., (one "rank{k}" per k), "mAP": ..., "num_valid_queries": n,
        "num_skipped_queries": m}``. Scores are fractions in [0, 1] over the valid queries, NaN
        (with an :class:`UndefinedMetricWarning`) if no query is valid; the counts are ints.
    """
    _check_metric(metric)
    _check_chunk_size(chunk_size)
    if ap_mode not in AP_MODES:
        raise ValueError(f"unknown ap_mode {ap_mode!r}; valid: {sorted(AP_MODES)}")
    ranks = list(ranks)
    if not ranks or any(not isinstance(k, int) or k < 1 for k in ranks):
        raise ValueError(f"ranks must be positive ints, got {ranks}")
    qf, gf = _as_features(query_feats, "query_feats"), _as_features(gallery_feats, "gallery_feats")
    if qf.shape[1] != gf.shape[1]:
        raise ValueError(f"feature dims differ: queries {qf.shape[1]}, gallery {gf.shape[1]}")
    device = qf.device
    gf = gf.to(device)
    n_q, n_g = qf.shape[0], gf.shape[0]
    q_pids = _as_labels(query_pids, "query_pids", n_q).to(device)
    q_cams = _as_labels(query_camids, "query_camids", n_q).to(device)
    g_pids = _as_labels(gallery_pids, "gallery_pids", n_g).to(device)
    g_cams = _as_labels(gallery_camids, "gallery_camids", n_g).to(device)
    # Junk is removed from every query's ranking: dropping it from the gallery once is the same
    # (the kept items' order, ties included, does not change) and costs no per-query work.
    is_junk = g_pids == JUNK_PID  # (G,)
    if bool(is_junk.any()):
        kept = ~is_junk
        gf, g_pids, g_cams = gf[kept], g_pids[kept], g_cams[kept]
        n_g = gf.shape[0]

    distance = _distance_to(gf, qf, metric)
    by_pid, start, count = _same_person_items(q_pids, g_pids)
    first_ranks, aps = [], []
    # An empty gallery leaves every query without a hit: nothing to compute.
    for lo in range(0, n_q if n_g else 0, chunk_size):
        sl = slice(lo, lo + chunk_size)
        # Each query's same-person gallery items, padded to the chunk's largest group.
        width = max(int(count[sl].max()), 1)
        slots = torch.arange(width, device=device)  # (S,)
        valid = slots < count[sl, None]  # (q, S)
        cols = by_pid[(start[sl, None] + slots).clamp_max(n_g - 1)]  # (q, S)
        cols = torch.where(valid, cols, 0)
        junk = valid & (g_cams[cols] == q_cams[sl, None])  # (q, S)
        dist = distance(qf[sl])  # (q, G)
        first_rank, ap = _reid_chunk(dist, cols, valid, junk, AP_MODES[ap_mode])
        first_ranks.append(first_rank)
        aps.append(ap)
        del dist  # free the chunk's (q, G) buffer before the next one is allocated

    first_rank = torch.cat(first_ranks) if first_ranks else torch.zeros(0, dtype=torch.long)
    valid_q = first_rank <= n_g  # (Q_computed,) at least one hit
    n_valid = int(valid_q.sum())
    result: dict[str, float] = {}
    if n_valid == 0:
        _warn_undefined("no query has a valid match in the gallery; CMC and mAP are NaN")
        result.update({f"rank{k}": math.nan for k in ranks})
        result["mAP"] = math.nan
    else:
        first_rank = first_rank[valid_q]  # (Q_valid,)
        for k in ranks:
            result[f"rank{k}"] = float((first_rank <= k).sum()) / n_valid
        result["mAP"] = float(torch.cat(aps)[valid_q].sum()) / n_valid
    result["num_valid_queries"] = n_valid
    result["num_skipped_queries"] = n_q - n_valid
    return result


# ----------------------------------------------------------------------------- retrieval


def recall_at_k(
    embeddings: ArrayLike,
    labels: ArrayLike,
    ks: Sequence[int] = (1, 2, 4, 8),
    *,
    metric: str = "euclidean",
    chunk_size: int = 1024,
) -> dict[str, float]:
    """Recall@K for retrieval (paper Tables 4-5): every item queries all the others.

    Recall@K is the share of queries whose K nearest other items contain at least one item of the
    query's class. The query itself is excluded (other items at distance 0 are not). A query whose
    class has no other item can never hit and counts as a miss. Distances are computed one chunk
    of queries at a time and only the ``max(ks)`` nearest are kept (``torch.topk``: ties at the
    K-th place are broken arbitrarily).

    Args:
        embeddings: (N, D) embeddings of the test set.
        labels: (N,) integer class ids.
        ks: the K values (positive ints).
        metric: ``"euclidean"`` or ``"cosine"``.
        chunk_size: queries per chunk; results do not depend on it (up to float32 rounding).

    Returns:
        ``{"recall_at_1": ..., "recall_at_2": ..., ...}`` fractions in [0, 1]. A K larger than
        N - 1 (fewer other items than K) is NaN with an :class:`UndefinedMetricWarning`.
    """
    _check_metric(metric)
    _check_chunk_size(chunk_size)
    ks = list(ks)
    if not ks or any(not isinstance(k, int) or k < 1 for k in ks):
        raise ValueError(f"ks must be positive ints, got {ks}")
    emb = _as_features(embeddings, "embeddings")
    n = emb.shape[0]
    lab = _as_labels(labels, "labels", n).to(emb.device)
    defined = [k for k in ks if k <= n - 1]
    for k in ks:
        if k > n - 1:
            _warn_undefined(f"recall_at_{k} is undefined with {n} items (< K others); NaN")
    result = {f"recall_at_{k}": math.nan for k in ks}
    if not defined:
        return result

    k_max = max(defined)
    distance = _distance_to(emb, emb, metric)
    hits_at = torch.zeros(k_max, dtype=torch.long, device=emb.device)  # (k_max,)
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        dist = distance(emb[start:stop])  # (q, N)
        rows = torch.arange(stop - start, device=emb.device)
        dist[rows, rows + start] = math.inf  # a query never retrieves itself
        nearest = dist.topk(k_max, dim=1, largest=False).indices  # (q, k_max), nearest first
        same = lab[nearest] == lab[start:stop, None]  # (q, k_max)
        # A query is a hit at K if any of its first K neighbours matches: cumulative "any".
        hit_by_k = torch.cummax(same.to(torch.uint8), dim=1).values  # (q, k_max)
        hits_at += hit_by_k.sum(0)
    for k in defined:
        result[f"recall_at_{k}"] = float(hits_at[k - 1]) / n
    return result


def nmi(
    embeddings: ArrayLike,
    labels: ArrayLike,
    *,
    n_clusters: int | None = None,
    seed: int = 0,
    n_init: int = 10,
) -> float:
    """Normalised mutual information of a k-means clustering (paper Tables 4-5).

    K-means (scikit-learn, ``random_state=seed``, ``n_init`` restarts) clusters the embeddings;
    the score is ``sklearn.metrics.normalized_mutual_info_score(labels, clusters)`` with the
    arithmetic normalisation.

    Args:
        embeddings: (N, D) embeddings.
        labels: (N,) integer class ids.
        n_clusters: number of clusters; default the number of distinct labels.
        seed: k-means seed, fixed so the score is reproducible.
        n_init: k-means restarts (the best inertia is kept).

    Returns:
        NMI in [0, 1]; NaN (with an :class:`UndefinedMetricWarning`) for an empty set or when
        there are fewer items than clusters.
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import normalized_mutual_info_score

    emb = _as_features(embeddings, "embeddings").cpu().numpy()
    lab = _as_labels(labels, "labels", emb.shape[0]).cpu().numpy()
    if n_clusters is None:
        n_clusters = int(np.unique(lab).size)
    if n_clusters < 1 or emb.shape[0] < n_clusters:
        _warn_undefined(f"NMI is undefined with {emb.shape[0]} items and {n_clusters} clusters")
        return math.nan
    kmeans = KMeans(n_clusters=n_clusters, n_init=n_init, random_state=seed)
    clusters = kmeans.fit_predict(emb)
    return float(normalized_mutual_info_score(lab, clusters, average_method="arithmetic"))


def retrieval_evaluate(
    embeddings: ArrayLike,
    labels: ArrayLike,
    *,
    ks: Sequence[int] = (1, 2, 4, 8),
    metric: str = "euclidean",
    chunk_size: int = 1024,
    n_clusters: int | None = None,
    seed: int = 0,
    n_init: int = 10,
) -> dict[str, float]:
    """Recall@K and NMI on a retrieval test set (the test classes only).

    Args:
        embeddings: (N, D) embeddings (f_final).
        labels: (N,) integer class ids.
        ks, metric, chunk_size: as in :func:`recall_at_k`.
        n_clusters, seed, n_init: as in :func:`nmi`.

    Returns:
        ``{"recall_at_1": ..., ..., "nmi": ...}``, fractions in [0, 1].
    """
    result = recall_at_k(embeddings, labels, ks, metric=metric, chunk_size=chunk_size)
    result["nmi"] = nmi(embeddings, labels, n_clusters=n_clusters, seed=seed, n_init=n_init)
    return result
