"""Retrieval (paper Tables 4-5, and MAP@R since): :func:`recall_at_k` (each item queries all
the others), :func:`nmi` (k-means with as many clusters as classes, then sklearn's arithmetic
NMI), :func:`map_at_r` (Musgrave et al., as pytorch-metric-learning computes it), and
:func:`retrieval_evaluate`, all three."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from a3m.metrics.common import (
    ArrayLike,
    _as_features,
    _as_labels,
    _check_chunk_size,
    _warn_undefined,
)
from a3m.metrics.distances import DistanceFn, _check_metric, _distance_to
from a3m.metrics.ranking import _same_person_items, _stable_positions


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
    classes = _same_person_items(lab, lab)  # each item's class, itself included
    others = classes[2] - 1  # (N,) R per query
    n_scored = int((others > 0).sum())
    if n_scored == 0:
        _warn_undefined(f"MAP@R is undefined: no class of the {n} items has two; NaN")
        return math.nan
    distance = _distance_to(emb, emb, metric)
    total = torch.zeros((), dtype=torch.float64, device=device)
    for lo in range(0, n, chunk_size):
        total += _ap_at_r_sum(distance, emb, classes, lo, min(lo + chunk_size, n))
    return float(total) / n_scored


def _ap_at_r_sum(
    distance: DistanceFn,
    emb: torch.Tensor,
    classes: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    lo: int,
    hi: int,
) -> torch.Tensor:
    """The sum of AP@R over the queries ``lo:hi`` (0 for a query alone in its class), as a
    float64 scalar tensor.

    Args:
        distance: distances of a chunk of queries to all the embeddings.
        emb: (N, D) the embeddings.
        classes: (by_label, start, count) of :func:`~a3m.metrics.ranking._same_person_items`
            on the labels: where each item's class sits, itself included.
        lo, hi: the chunk's queries.
    """
    by_label, start, count = classes
    n, device = emb.shape[0], emb.device
    r = count[lo:hi] - 1  # (q,) R per query
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
    first = min(int(r.max()) + 1, n)
    head = dist.topk(first, dim=1, largest=False, sorted=True).values  # (q, first)
    pos = _stable_positions(dist, head, cols, valid)  # (q, S)
    del dist
    pos = torch.where(valid, pos, n).sort(dim=1).values  # own-class items, best first
    hit = pos < n
    rank = pos + 1  # (q, S) 1-based
    found = torch.cumsum(hit, dim=1)  # (q, S) correct items so far
    terms = torch.where(hit & (rank <= r[:, None]), found.double() / rank.double(), 0.0)
    return (terms.sum(1) / r.clamp_min(1)).sum()  # lone queries add 0


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
