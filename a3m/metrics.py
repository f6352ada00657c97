"""Evaluation metrics as pure functions of tensors/arrays (paper Sec. 4; the protocols:
docs/reproduction.md, "Evaluation protocols").

Every function takes torch tensors or NumPy arrays, knows nothing of models or files, and returns
Python numbers (or a dict of them). **All scores are fractions in [0, 1]**, never percent: multiply
by 100 to compare with the paper's tables.

- Classification (paper eq. 9, Tables 2-3, Fig. 8): :func:`accuracy` (top-1) and
  :func:`attribute_accuracy` (one score per attribute head, ``IGNORE_INDEX`` labels skipped).
- Person re-id (Table 1), the Market-1501 protocol: :func:`reid_evaluate` gives CMC rank-k,
  mAP and mINP. For each query, gallery items with the same person id AND the same camera are
  removed, and so are junk items (pid -1) for every query, as the official evaluation does; the
  same person seen by another camera is a hit; distractors (pid 0) stay in the gallery as wrong
  matches; a query with no hit left is skipped (and counted). AP follows the official
  Market-1501 code (``ap_mode="official"``, the default, a trapezoid rule) or torchreid /
  fast-reid (``"torchreid"``, the mean precision at the hits): see :data:`AP_MODES`.
- Retrieval (Tables 4-5): :func:`recall_at_k` (each item queries all the others) and :func:`nmi`
  (k-means with as many clusters as classes, then sklearn's arithmetic NMI);
  :func:`retrieval_evaluate` returns both.
- The field's metrics beside the paper's (docs/reproduction.md, "The field's metrics"): mINP in
  :func:`reid_evaluate`'s result; :func:`k_reciprocal_rerank` (Zhong et al.'s re-ranking, the
  numbers of the public code torchreid and fast-reid ship) and ``reid_evaluate(...,
  rerank=True)``; :func:`map_at_r` (MAP@R, as pytorch-metric-learning computes it), also in
  :func:`retrieval_evaluate`.

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
    "RERANK_K1",
    "RERANK_K2",
    "RERANK_LAMBDA",
    "UndefinedMetricWarning",
    "accuracy",
    "ap_official",
    "ap_torchreid",
    "attribute_accuracy",
    "k_reciprocal_rerank",
    "map_at_r",
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


RERANK_K1 = 20
"""k-reciprocal neighbourhood size of :func:`k_reciprocal_rerank` (Zhong et al.'s default)."""

RERANK_K2 = 6
"""Neighbours averaged in the local query expansion of :func:`k_reciprocal_rerank`."""

RERANK_LAMBDA = 0.3
"""Weight of the original distance in the re-ranked one (the Jaccard distance gets 1 - it)."""

RERANK_PAIR_BUDGET = 1 << 23
"""(query entry, gallery entry) pairs the Jaccard step of :func:`k_reciprocal_rerank` expands
at once: about 8 M, a few hundred MB of index buffers whatever the set sizes."""


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
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """First-hit rank, AP and INP of each query of a chunk, from its same-person gallery items
    only.

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
        first_rank (q,) 1-based rank of the first hit once junk is removed (G + 1 if no hit),
        ap (q,) float64 average precision (0 if no hit), and inp (q,) float64 inverse negative
        penalty: hits / rank of the last hit, junk removed (0 if no hit).
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
    # INP (Ye et al.): the hits over the rank of the hardest one; rank >= 1, so no 0 / 0.
    last_rank = torch.where(hit, rank, 1).amax(1)  # (q,)
    inp = n_hits.double() / last_rank.double()  # (q,) 0 without a hit
    return first_rank, ap, inp


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
    rerank: bool = False,
    k1: int = RERANK_K1,
    k2: int = RERANK_K2,
    lambda_: float = RERANK_LAMBDA,
) -> dict[str, float]:
    """CMC, mAP and mINP with the Market-1501 protocol (paper Table 1), optionally re-ranked.

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

    mINP (Ye et al., TPAMI 2021, as fast-reid computes it): per query INP = n / r_n, the hits
    over the rank of the hardest (last) hit under the same rules, averaged over the valid
    queries; it does not depend on ``ap_mode``, nor does CMC.

    Equal distances are ranked by gallery order (as a stable argsort). Without ``rerank`` the
    distance matrix is built and sorted one chunk of ``chunk_size`` queries at a time (two
    ``(chunk_size, G)`` float buffers), on the device of ``query_feats``; no Python loop runs
    over queries or gallery items. Only the positions of each query's own-person gallery items
    are read from the sorted distances, so the cost is one matrix product and one sort per
    chunk.

    With ``rerank=True`` the ranking is that of :func:`k_reciprocal_rerank` (Zhong et al.,
    k-reciprocal encoding) on the query-gallery, query-query and gallery-gallery distances of
    ``metric`` (the true Euclidean distance, not its square: re-ranking squares its inputs, so
    it works on squared Euclidean distances as the authors' code from features does; 1 - cos
    for ``"cosine"``), junk dropped first (as torchreid and fast-reid drop it at loading).
    Memory: the (G, G) gallery distances and the (Q, G) result, plus chunk buffers.

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
        rerank: rank by the k-reciprocal re-ranked distances instead of ``metric``'s.
        k1, k2, lambda_: the re-ranking's parameters (with ``rerank`` only), as in
            :func:`k_reciprocal_rerank`.

    Returns:
        ``{"rank1": ..., "rank5": ..., (one "rank{k}" per k), "mAP": ..., "mINP": ...,
        "num_valid_queries": n, "num_skipped_queries": m}``. Scores are fractions in [0, 1]
        over the valid queries, NaN (with an :class:`UndefinedMetricWarning`) if no query is
        valid; the counts are ints.
    """
    _check_metric(metric)
    _check_chunk_size(chunk_size)
    if ap_mode not in AP_MODES:
        raise ValueError(f"unknown ap_mode {ap_mode!r}; valid: {sorted(AP_MODES)}")
    ranks = list(ranks)
    if not ranks or any(not isinstance(k, int) or k < 1 for k in ranks):
        raise ValueError(f"ranks must be positive ints, got {ranks}")
    if rerank:
        _check_rerank_params(k1, k2, lambda_)
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

    if rerank and n_q and n_g:
        reranked = _rerank_features(qf, gf, metric, chunk_size, k1, k2, lambda_)  # (Q, G)

        def chunk_distances(sl: slice) -> torch.Tensor:
            return reranked[sl]
    else:
        distance = _distance_to(gf, qf, metric)

        def chunk_distances(sl: slice) -> torch.Tensor:
            return distance(qf[sl])

    by_pid, start, count = _same_person_items(q_pids, g_pids)
    first_ranks, aps, inps = [], [], []
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
        dist = chunk_distances(sl)  # (q, G)
        first_rank, ap, inp = _reid_chunk(dist, cols, valid, junk, AP_MODES[ap_mode])
        first_ranks.append(first_rank)
        aps.append(ap)
        inps.append(inp)
        del dist  # free the chunk's (q, G) buffer before the next one is allocated

    first_rank = torch.cat(first_ranks) if first_ranks else torch.zeros(0, dtype=torch.long)
    valid_q = first_rank <= n_g  # (Q_computed,) at least one hit
    n_valid = int(valid_q.sum())
    result: dict[str, float] = {}
    if n_valid == 0:
        _warn_undefined("no query has a valid match in the gallery; CMC, mAP and mINP are NaN")
        result.update({f"rank{k}": math.nan for k in ranks})
        result["mAP"] = result["mINP"] = math.nan
    else:
        first_rank = first_rank[valid_q]  # (Q_valid,)
        for k in ranks:
            result[f"rank{k}"] = float((first_rank <= k).sum()) / n_valid
        result["mAP"] = float(torch.cat(aps)[valid_q].sum()) / n_valid
        result["mINP"] = float(torch.cat(inps)[valid_q].sum()) / n_valid
    result["num_valid_queries"] = n_valid
    result["num_skipped_queries"] = n_q - n_valid
    return result


# ----------------------------------------------------------------------------- re-ranking


def _check_rerank_params(k1: int, k2: int, lambda_: float) -> None:
    for name, k in (("k1", k1), ("k2", k2)):
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"{name} must be a positive int, got {k!r}")
    if not 0.0 <= lambda_ <= 1.0:
        raise ValueError(f"lambda_ must be in [0, 1], got {lambda_!r}")


def _as_distances(x: ArrayLike, name: str) -> torch.Tensor:
    t = _as_features(x, name)
    if not _all_finite(t):
        raise ValueError(f"{name} contains NaN or infinite values")
    return t


def _squared(x: torch.Tensor) -> torch.Tensor:
    """The public code's first step: square in the input's precision, then round to float32."""
    return (x * x).to(torch.float32)


def _raw_rows(
    q_g: torch.Tensor, q_q: torch.Tensor, g_g: torch.Tensor, lo: int, hi: int
) -> torch.Tensor:
    """Columns ``lo:hi`` (all queries or all gallery items) of M = [[q_q, q_g], [q_g^T, g_g]]
    (N = Q + G items), as (h, N) rows in the inputs' dtype; never the (N, N) matrix.

    The public code squares M, divides each column by its maximum and transposes: row i of its
    base matrix is column i of M, squared, over its largest entry (:func:`_base_rows`).
    """
    n_q = q_g.shape[0]
    if hi <= n_q:  # queries: column i of M is q_q[:, i] then q_g[i, :]
        return torch.cat([q_q[:, lo:hi].T, q_g[lo:hi]], dim=1)
    a, b = lo - n_q, hi - n_q  # gallery item j: q_g[:, j] then g_g[:, j]
    # Stack the column blocks, then transpose once: 5x faster than concatenating the two
    # transposed blocks (strided reads) on CPU.
    return torch.cat([q_g[:, a:b], g_g[:, a:b]], dim=0).T.contiguous()


def _base_rows(raw: torch.Tensor, peak: torch.Tensor) -> torch.Tensor:
    """Rows of the base matrix from :func:`_raw_rows`' and their ``peak``: squared, over it."""
    return _squared(raw).div_(_safe(peak)[:, None])


def _safe(peak: torch.Tensor) -> torch.Tensor:
    """Row maxima to divide by: 1 where the whole row is 0 (then it stays 0, where the public
    code divides 0 by 0)."""
    return torch.where(peak > 0, peak, torch.ones((), dtype=peak.dtype, device=peak.device))


def _base_nearest(
    q_g: torch.Tensor, q_q: torch.Tensor, g_g: torch.Tensor, lo: int, hi: int, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The k nearest of items ``lo:hi`` by the base matrix (equal values by index, as a stable
    argsort), and each row's peak (its largest squared entry, in float32).

    Rounding is monotone, so for entries >= 0 (distances) the base value round(round(x^2) /
    peak) never decreases as x grows: the k + 1 smallest raw entries hold the k nearest, and
    only those are squared and divided, not the whole row. Where the (k+1)-th base value ties
    with the k-th (rounding can merge close entries; or true ties), the row is redone exactly;
    a row with a negative entry too.
    """
    raw = _raw_rows(q_g, q_q, g_g, lo, hi)  # (h, N)
    low, high = torch.aminmax(raw, dim=1)  # (h,) each
    peak = _squared(torch.maximum(high, -low))  # = the maximum of the squared row, rounded
    n = raw.shape[1]
    if n <= k or not bool((low >= 0).all()):
        return _nearest_stable(_base_rows(raw, peak), min(k, n)), peak
    top_raw, idx = raw.topk(k + 1, dim=1, largest=False, sorted=True)  # (h, k + 1)
    vals = _squared(top_raw).div_(_safe(peak)[:, None])  # their base values, as the public code
    boundary = vals[:, k] == vals[:, k - 1]  # (h,) the k-th place is not decided here
    nearest = _order_by_value(vals[:, :k], idx[:, :k])
    if bool(boundary.any()):
        at = boundary.nonzero().squeeze(1)
        nearest[at] = _nearest_stable(_base_rows(raw[at], peak[at]), k)
    return nearest, peak


def _order_by_value(vals: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """The indices ``idx`` of each row ordered by (value, index): sort by index, then stably by
    value."""
    idx, order = idx.sort(dim=1)
    order = vals.gather(1, order).sort(dim=1, stable=True).indices
    return idx.gather(1, order)


def _nearest_stable(rows: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the k smallest entries of each row, in ascending order, equal values by
    index (what a stable argsort's first k columns give), without sorting whole rows.

    ``topk`` picks the k + 1 smallest; where the (k+1)-th ties with the k-th the choice at the
    boundary is arbitrary, so those rows (rare) are redone exactly with (value, index) keys.
    Non-negative float32 rows only: their bit patterns order as the values do.
    """
    n = rows.shape[1]
    take = min(k + 1, n)
    vals, idx = rows.topk(take, dim=1, largest=False, sorted=True)  # (h, take)
    if take > k:
        boundary_tie = vals[:, k] == vals[:, k - 1]  # (h,)
        vals, idx = vals[:, :k], idx[:, :k]
        if bool(boundary_tie.any()):
            at = boundary_tie.nonzero().squeeze(1)
            keys = rows[at].view(torch.int32).to(torch.int64) << 32
            keys |= torch.arange(n, device=rows.device)
            exact = keys.topk(k, dim=1, largest=False, sorted=True).values & 0xFFFFFFFF
            idx[at] = exact
            vals[at] = rows[at].gather(1, exact)
    return _order_by_value(vals, idx)


def _side_chunks(n_q: int, n: int, chunk_size: int) -> list[tuple[int, int]]:
    """Row ranges of at most ``chunk_size`` items, queries and gallery items never mixed."""
    return [
        (lo, min(lo + chunk_size, side_hi))
        for side_lo, side_hi in ((0, n_q), (n_q, n))
        for lo in range(side_lo, side_hi, chunk_size)
    ]


def _reciprocal(nearest: torch.Tensor, chunk_size: int) -> torch.Tensor:
    """(N, k) bool: whether item i is among the k nearest of its own j-th nearest."""
    out = torch.empty(nearest.shape, dtype=torch.bool, device=nearest.device)
    for lo in range(0, nearest.shape[0], chunk_size):
        rows = nearest[lo : lo + chunk_size]  # (c, k)
        me = torch.arange(lo, lo + rows.shape[0], device=nearest.device)  # (c,)
        theirs = nearest.index_select(0, rows.flatten()).view(*rows.shape, -1)  # (c, k, k)
        out[lo : lo + chunk_size] = (theirs == me[:, None, None]).any(-1)  # (c, k)
    return out


def _base_at(
    blocks: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    peak: torch.Tensor,
    lo: int,
    hi: int,
    cols: torch.Tensor,
) -> torch.Tensor:
    """Entries (i, cols[i - lo, s]) of the base matrix (:func:`_raw_rows`) for the items
    ``lo:hi`` of one side, gathered from the blocks with the public code's float32 operations
    (so the same bits as the whole row would give): base[i, e] = M[e, i]^2 / peak[i]."""
    q_g, q_q, g_g = blocks
    n_q, n_g = q_g.shape
    e = cols  # (c, W) item indices < N
    eq, eg = e.clamp(max=n_q - 1), (e - n_q).clamp(0, n_g - 1)
    if hi <= n_q:  # query i: M[e, i] is q_q[e, i] (a query e) or q_g[i, e - Q]
        i = torch.arange(lo, hi, device=e.device)[:, None].expand_as(e)
        raw = torch.where(e < n_q, q_q[eq, i], q_g[i, eg])
    else:  # gallery item j = i - Q: M[e, i] is q_g[e, j] (a query e) or g_g[e - Q, j]
        j = torch.arange(lo - n_q, hi - n_q, device=e.device)[:, None].expand_as(e)
        raw = torch.where(e < n_q, q_g[eq, j], g_g[eg, j])
    return _squared(raw).div_(_safe(peak[lo:hi])[:, None])


def _encode(
    blocks: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    peak: torch.Tensor,
    nearest: torch.Tensor,
    k1: int,
    chunk_size: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Every item's k-reciprocal feature V (Zhong et al. eq. 7-10), sparse, as padded rows.

    R(i): the k1 + 1 nearest of i that have i among their own k1 + 1 nearest. Each j in R(i)
    brings its own set at round(k1 / 2) (half-to-even, as NumPy's ``around``) when more than
    2/3 of that set is in R(i). V[i] = softmax(-base[i, e]) over the union e.

    Returns:
        cols (N, W) int64 item indices, N where unused, and vals (N, W) float32 weights (0 where
        unused); W the widest union.
    """
    n = nearest.shape[0]
    dev = nearest.device
    k = min(k1 + 1, n)
    kh = min(round(k1 / 2) + 1, n)
    fwd, half = nearest[:, :k].contiguous(), nearest[:, :kh].contiguous()
    recip, half_recip = _reciprocal(fwd, chunk_size), _reciprocal(half, chunk_size)
    width = k + k * kh
    cols = torch.full((n, width), n, dtype=torch.long, device=dev)
    vals = torch.zeros((n, width), dtype=torch.float32, device=dev)
    for lo, hi in _side_chunks(blocks[0].shape[0], n, chunk_size):
        f, rec = fwd[lo:hi], recip[lo:hi]  # (c, k)
        c = hi - lo
        # (c, k, kh): each candidate's own set at round(k1 / 2), and which of it is reciprocal
        cand = half.index_select(0, f.flatten()).view(c, k, kh)
        cand_ok = half_recip.index_select(0, f.flatten()).view(c, k, kh)
        in_r = ((cand[..., None] == f[:, None, None, :]) & rec[:, None, None, :]).any(-1)
        overlap = (in_r & cand_ok).sum(-1)  # (c, k) |R_half(j) & R(i)|
        size = cand_ok.sum(-1)  # (c, k) |R_half(j)|
        accept = rec & (overlap.double() > (2.0 / 3.0) * size.double())  # (c, k)
        own = torch.where(rec, f, n)  # (c, k) R(i), unused = n
        added = torch.where(cand_ok & accept[..., None], cand, n).flatten(1)  # (c, k * kh)
        members = torch.cat([own, added], dim=1).sort(dim=1).values  # (c, width), n last
        repeat = torch.zeros_like(members, dtype=torch.bool)
        repeat[:, 1:] = members[:, 1:] == members[:, :-1]
        members = torch.where(repeat, n, members).sort(dim=1).values  # the union, then n
        used = members < n
        base = _base_at(blocks, peak, lo, hi, members.clamp_max(n - 1))  # (c, width)
        weight = torch.where(used, torch.exp(-base), 0.0)
        total = weight.sum(1, keepdim=True)
        vals[lo : lo + c] = torch.where(used, weight / torch.where(total > 0, total, 1.0), 0.0)
        cols[lo : lo + c] = members
    width = max(int((cols < n).sum(1).max()), 1) if n else 1
    return cols[:, :width].contiguous(), vals[:, :width].contiguous()


def _expand_queries(
    cols: torch.Tensor, vals: torch.Tensor, nearest: torch.Tensor, k2: int, chunk_size: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Local query expansion: each V row replaced by the mean of the V rows of its k2 nearest
    (itself included), as COO entries (rows, cols, vals) sorted by row then col; k2 = 1 keeps V
    as it is. Each chunk's rows are summed into a dense (chunk_size, N) float32 buffer (as the
    public code's float32 mean sums them), then read back where nonzero: the weights are
    positive, so a zero is an entry no neighbour has."""
    n = cols.shape[0]
    dev = cols.device
    used = cols < n
    if k2 == 1:
        rows = torch.arange(n, device=dev)[:, None].expand_as(cols)
        return rows[used], cols[used], vals[used]
    k = min(k2, n)
    safe_cols = torch.where(used, cols, 0)  # unused entries add 0 to column 0
    parts = []
    for lo in range(0, n, chunk_size):
        nbr = nearest[lo : lo + chunk_size, :k]  # (c, k)
        c = nbr.shape[0]
        at = torch.arange(c, device=dev)[:, None] * n + safe_cols[nbr].flatten(1)  # (c, k * W)
        dense = torch.zeros(c * n, dtype=torch.float32, device=dev)
        dense.index_add_(0, at.flatten(), vals[nbr].flatten())
        flat = dense.nonzero().squeeze(1)  # row-major: sorted by row, then col
        parts.append((flat // n + lo, flat % n, dense[flat] / k))
    return tuple(torch.cat(p) for p in zip(*parts, strict=True))  # type: ignore[return-value]


def k_reciprocal_rerank(
    q_g: ArrayLike,
    q_q: ArrayLike,
    g_g: ArrayLike,
    *,
    k1: int = RERANK_K1,
    k2: int = RERANK_K2,
    lambda_: float = RERANK_LAMBDA,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> torch.Tensor:
    """k-reciprocal re-ranking (Zhong et al., CVPR 2017), as torchreid and fast-reid ship it.

    The same numbers as the public ``re_ranking(q_g_dist, q_q_dist, g_g_dist, k1, k2,
    lambda_value)`` (within float32 rounding), vectorised in torch and chunked:

    1. the N = Q + G items' distances M = [[q_q, q_g], [q_g^T, g_g]] are **squared** (pass
       true Euclidean distances to re-rank on squared Euclidean ones, as the authors' code
       from features does), rounded to float32, and each column divided by its maximum; the
       transpose is the base matrix B (row i: column i of M, over its maximum);
    2. each item's k1 + 1 nearest by B (itself usually first; equal values by index);
    3. R(i), its k-reciprocal neighbours: those of its k1 + 1 nearest that have i among their
       own k1 + 1 nearest; each j of R(i) adds its own k-reciprocal set at round(k1 / 2)
       (+ 1 with itself) when more than 2/3 of that set is already in R(i);
    4. V[i, e] = exp(-B[i, e]) over the union, normalised to sum 1; then, unless k2 = 1, each
       V row is replaced by the mean of the rows of its k2 nearest (local query expansion);
    5. the Jaccard distance of query i and gallery item j:
       1 - s / (2 - s), s = sum_e min(V[i, e], V[j, e]);
    6. the result: (1 - lambda_) * Jaccard + lambda_ * B[i, Q + j].

    Only the k-nearest lists, the sparse V and chunk buffers are held, never an (N, N)
    matrix: at Market-1501's 3,368 queries and 19,732 gallery images, 0.3 GB beside the inputs
    (1.9 GB in float32, the (G, G) block most of it) and the 0.27 GB (Q, G) result
    (benchmarks/RESULTS.md, "Issue 27: the field's metrics").

    Args:
        q_g: (Q, G) query-gallery distances.
        q_q: (Q, Q) query-query distances.
        g_g: (G, G) gallery-gallery distances.
        k1: neighbourhood size of the k-reciprocal sets.
        k2: neighbours averaged by the query expansion (1: none).
        lambda_: weight of the original distance, in [0, 1].
        chunk_size: rows per step; the result does not depend on it.

    Returns:
        (Q, G) float32 re-ranked distances on ``q_g``'s device (smaller is closer).

    Raises:
        ValueError: on shapes that do not fit together, a non-finite distance, or bad
            parameters.
    """
    _check_rerank_params(k1, k2, lambda_)
    _check_chunk_size(chunk_size)
    qg = _as_distances(q_g, "q_g")
    dev = qg.device
    qq, gg = _as_distances(q_q, "q_q").to(dev), _as_distances(g_g, "g_g").to(dev)
    n_q, n_g = qg.shape
    if qq.shape != (n_q, n_q) or gg.shape != (n_g, n_g):
        raise ValueError(
            f"expected q_q ({n_q}, {n_q}) and g_g ({n_g}, {n_g}) for q_g {tuple(qg.shape)}, "
            f"got {tuple(qq.shape)} and {tuple(gg.shape)}"
        )
    out = torch.empty((n_q, n_g), dtype=torch.float32, device=dev)
    if n_q == 0 or n_g == 0:
        return out
    n = n_q + n_g
    blocks = (qg, qq, gg)

    # 1-2. The base matrix row by row: each row's nearest and its maximum; nothing else kept.
    width = min(max(k1 + 1, k2), n)
    nearest = torch.empty((n, width), dtype=torch.long, device=dev)
    peak = torch.empty(n, dtype=torch.float32, device=dev)
    for lo, hi in _side_chunks(n_q, n, chunk_size):
        nearest[lo:hi], peak[lo:hi] = _base_nearest(qg, qq, gg, lo, hi, width)

    # 3-4. The k-reciprocal features, sparse, then the query expansion.
    cols, vals = _encode(blocks, peak, nearest, k1, chunk_size)
    v_rows, v_cols, v_vals = _expand_queries(cols, vals, nearest, k2, chunk_size)
    del cols, vals, nearest

    # 5. Jaccard: gallery entries indexed by column, query entries expanded against them.
    in_gallery = v_rows >= n_q
    g_cols, order = v_cols[in_gallery].sort(stable=True)
    g_rows = (v_rows[in_gallery] - n_q)[order]
    g_vals = v_vals[in_gallery][order]
    g_count = torch.bincount(g_cols, minlength=n)  # (N,) gallery entries per column
    g_start = torch.cumsum(g_count, 0) - g_count  # (N,)
    n_q_entries = int((~in_gallery).sum())  # the query rows' entries come first (sorted)
    q_rows, q_cols, q_vals = v_rows[:n_q_entries], v_cols[:n_q_entries], v_vals[:n_q_entries]
    q_start = torch.searchsorted(q_rows, torch.arange(n_q + 1, device=dev))  # (Q + 1,)
    pairs = torch.zeros(n_q, dtype=torch.long, device=dev)
    pairs.index_add_(0, q_rows, g_count[q_cols])
    pairs_done = torch.cumsum(pairs, 0).cpu()  # (Q,) one sync; chunks are cut on the host
    lo = 0
    while lo < n_q:
        before = int(pairs_done[lo - 1]) if lo else 0
        hi = int(torch.searchsorted(pairs_done, before + RERANK_PAIR_BUDGET, right=True))
        hi = min(max(hi, lo + 1), lo + chunk_size, n_q)
        e0, e1 = int(q_start[lo]), int(q_start[hi])
        col, val, row = q_cols[e0:e1], q_vals[e0:e1], q_rows[e0:e1] - lo
        count = g_count[col]  # (E,) gallery entries sharing each query entry's column
        # Pair p of entry e reads gallery entry g_start[col_e] + (p - first pair of e).
        shift = g_start[col] - (torch.cumsum(count, 0) - count)  # (E,)
        at = torch.repeat_interleave(shift, count)  # (P,)
        at += torch.arange(at.shape[0], device=dev)
        dest = torch.repeat_interleave(row * n_g, count) + g_rows[at]  # (P,) flat (i, j)
        low = torch.minimum(torch.repeat_interleave(val, count), g_vals[at])  # (P,)
        shared = torch.zeros((hi - lo) * n_g, dtype=torch.float32, device=dev)
        shared.index_add_(0, dest, low)
        del at, dest, low
        shared = shared.view(hi - lo, n_g)
        # In place, the public code's float32 operations in its order (-x + 1 is 1 - x):
        jaccard = shared.div_(2.0 - shared).neg_().add_(1.0)  # 1 - s / (2 - s)
        base = _base_rows(qg[lo:hi], peak[lo:hi])  # B[i, Q + j]
        # 6. The blend: (1 - lambda_) Jaccard + lambda_ base.
        out[lo:hi] = jaccard.mul_(1.0 - lambda_).add_(base.mul_(lambda_))
        del shared, jaccard, base
        lo = hi
    return out


def _distance_matrix(
    x: torch.Tensor, y: torch.Tensor, metric: str, chunk_size: int, same: bool
) -> torch.Tensor:
    """(len(x), len(y)) distances of ``metric``, the Euclidean one not squared, filled one chunk
    of rows at a time; ``same``: x is y, its diagonal set to exactly 0."""
    distance = _distance_to(y, x, metric)
    dtype = torch.promote_types(x.dtype, y.dtype)
    out = torch.empty((x.shape[0], y.shape[0]), dtype=dtype, device=x.device)
    for lo in range(0, x.shape[0], chunk_size):
        out[lo : lo + chunk_size] = distance(x[lo : lo + chunk_size])
    if metric == "euclidean":
        out.sqrt_()
    if same:
        out.fill_diagonal_(0.0)
    return out


def _rerank_features(
    qf: torch.Tensor,
    gf: torch.Tensor,
    metric: str,
    chunk_size: int,
    k1: int,
    k2: int,
    lambda_: float,
) -> torch.Tensor:
    """:func:`k_reciprocal_rerank` of the three distance matrices of ``metric``."""
    q_g = _distance_matrix(qf, gf, metric, chunk_size, same=False)
    q_q = _distance_matrix(qf, qf, metric, chunk_size, same=True)
    g_g = _distance_matrix(gf, gf, metric, chunk_size, same=True)
    return k_reciprocal_rerank(q_g, q_q, g_g, k1=k1, k2=k2, lambda_=lambda_, chunk_size=chunk_size)


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


def map_at_r(
    embeddings: ArrayLike,
    labels: ArrayLike,
    *,
    metric: str = "euclidean",
    chunk_size: int = 1024,
) -> float:
    """MAP@R (Musgrave et al., ECCV 2020, "A Metric Learning Reality Check"): every item
    queries all the others.

    For a query whose class has R other items, AP@R = (1/R) sum_{i <= R} P(i) rel(i): over the
    first R retrieved items, the precision at each correct one, divided by R (not by the hits,
    so a class found late scores low). MAP@R is the mean over the queries, as
    pytorch-metric-learning's ``AccuracyCalculator`` computes it: the query itself is not
    retrieved, and a query alone in its class (R = 0) is left out of the mean. Equal distances
    are ranked by item order (a stable argsort), unlike :func:`recall_at_k`'s ``topk``. Per
    chunk, one (chunk_size, N) distance buffer and its R_max + 1 smallest values (``topk``, not
    a sort); the ranks of each query's own-class items are read from them.

    Args:
        embeddings: (N, D) embeddings of the test set.
        labels: (N,) integer class ids.
        metric: ``"euclidean"`` or ``"cosine"``.
        chunk_size: queries per chunk; results do not depend on it (up to float32 rounding).

    Returns:
        MAP@R in [0, 1]; NaN (with an :class:`UndefinedMetricWarning`) when no class has two
        items.
    """
    _check_metric(metric)
    _check_chunk_size(chunk_size)
    emb = _as_features(embeddings, "embeddings")
    n = emb.shape[0]
    device = emb.device
    lab = _as_labels(labels, "labels", n).to(device)
    by_label, start, count = _same_person_items(lab, lab)  # each item's class, itself included
    others = count - 1  # (N,) R per query
    n_scored = int((others > 0).sum())
    if n_scored == 0:
        _warn_undefined(f"MAP@R is undefined: no class of the {n} items has two; NaN")
        return math.nan
    distance = _distance_to(emb, emb, metric)
    total = torch.zeros((), dtype=torch.float64, device=device)
    for lo in range(0, n, chunk_size):
        hi = min(lo + chunk_size, n)
        width = max(int(count[lo:hi].max()), 1)
        slots = torch.arange(width, device=device)  # (S,)
        me = torch.arange(lo, hi, device=device)  # (q,)
        valid = slots < count[lo:hi, None]  # (q, S)
        cols = by_label[(start[lo:hi, None] + slots).clamp_max(n - 1)]  # (q, S)
        valid &= cols != me[:, None]  # the query is not retrieved
        cols = torch.where(valid, cols, 0)
        dist = distance(emb[lo:hi])  # (q, N)
        dist[me - lo, me] = math.inf  # itself last: the others' positions are their ranks - 1
        # Only ranks up to R count: the R_max + 1 smallest distances stand in for the sorted
        # row. An item past them gets a position >= R_max + 1 > R (scored 0), exact or not.
        first = min(int(others[lo:hi].max()) + 1, n)
        head = dist.topk(first, dim=1, largest=False, sorted=True).values  # (q, first)
        pos = _stable_positions(dist, head, cols, valid)  # (q, S)
        del dist
        pos = torch.where(valid, pos, n).sort(dim=1).values  # own-class items, best first
        hit = pos < n
        rank = pos + 1  # (q, S) 1-based
        r = others[lo:hi]  # (q,)
        found = torch.cumsum(hit, dim=1)  # (q, S) correct items so far
        terms = torch.where(hit & (rank <= r[:, None]), found.double() / rank.double(), 0.0)
        total += (terms.sum(1) / r.clamp_min(1)).sum()  # lone queries add 0
    return float(total) / n_scored


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
    """Recall@K and NMI (the paper's), and MAP@R, on a retrieval test set (the test classes
    only).

    Args:
        embeddings: (N, D) embeddings (f_final).
        labels: (N,) integer class ids.
        ks, metric, chunk_size: as in :func:`recall_at_k` (``metric`` and ``chunk_size`` also
            for :func:`map_at_r`).
        n_clusters, seed, n_init: as in :func:`nmi`.

    Returns:
        ``{"recall_at_1": ..., ..., "nmi": ..., "map_at_r": ...}``, fractions in [0, 1].
    """
    result = recall_at_k(embeddings, labels, ks, metric=metric, chunk_size=chunk_size)
    result["nmi"] = nmi(embeddings, labels, n_clusters=n_clusters, seed=seed, n_init=n_init)
    result["map_at_r"] = map_at_r(embeddings, labels, metric=metric, chunk_size=chunk_size)
    return result
