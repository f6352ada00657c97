"""Person re-id (paper Table 1), the Market-1501 protocol: :func:`reid_evaluate` gives CMC
rank-k, mAP and mINP, optionally after k-reciprocal re-ranking.

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

With ``rerank=True`` the ranking is that of :func:`~a3m.metrics.reranking.k_reciprocal_rerank`
(Zhong et al., k-reciprocal encoding) on the query-gallery, query-query and gallery-gallery
distances of ``metric`` (the true Euclidean distance, not its square: re-ranking squares its
inputs, so it works on squared Euclidean distances as the authors' code from features does;
1 - cos for ``"cosine"``), junk dropped first (as torchreid and fast-reid drop it at loading).
Memory: the (G, G) gallery distances and the (Q, G) result, plus chunk buffers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from a3m.metrics.common import (
    DEFAULT_CHUNK_SIZE,
    ArrayLike,
    _as_features,
    _as_labels,
    _check_chunk_size,
    _warn_undefined,
)
from a3m.metrics.distances import _check_metric, _distance_to
from a3m.metrics.ranking import _same_person_items, _sort_rows, _stable_positions
from a3m.metrics.reranking import (
    RERANK_K1,
    RERANK_K2,
    RERANK_LAMBDA,
    _check_rerank_params,
    _rerank_features,
)

JUNK_PID = -1
"""Person id of Market-1501's junk images (partial or bad crops): removed from every ranking."""

RerankParams = tuple[int, int, float]
"""(k1, k2, lambda_) of :func:`~a3m.metrics.reranking.k_reciprocal_rerank`."""


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
    """CMC, mAP and mINP with the Market-1501 protocol (paper Table 1), optionally re-ranked:
    the protocol, the AP definitions, mINP, the chunking and the re-ranking are described in
    :mod:`a3m.metrics.reid`.

    Args:
        query_feats: (Q, D) query features.
        query_pids, query_camids: (Q,) integer person and camera ids.
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
            :func:`~a3m.metrics.reranking.k_reciprocal_rerank`.

    Returns:
        ``{"rank1": ..., "rank5": ..., (one "rank{k}" per k), "mAP": ..., "mINP": ...,
        "num_valid_queries": n, "num_skipped_queries": m}``. Scores are fractions in [0, 1]
        over the valid queries, NaN (with an :class:`UndefinedMetricWarning`) if no query is
        valid; the counts are ints.
    """
    rerank_params = (k1, k2, lambda_) if rerank else None
    ranks = _check_reid_args(metric, chunk_size, ap_mode, ranks, rerank_params)
    qf, q_pids, q_cams, gf, g_pids, g_cams = _reid_inputs(
        query_feats, query_pids, query_camids, gallery_feats, gallery_pids, gallery_camids
    )
    chunk_distances = _chunk_distances(qf, gf, metric, chunk_size, rerank_params)
    per_query = _rank_queries(
        chunk_distances, (q_pids, q_cams), (g_pids, g_cams), chunk_size, AP_MODES[ap_mode]
    )
    result = _reid_result(*per_query, ranks, qf.shape[0], gf.shape[0])
    if result["num_valid_queries"] == 0:
        _warn_undefined("no query has a valid match in the gallery; CMC, mAP and mINP are NaN")
    return result


def _check_reid_args(
    metric: str,
    chunk_size: int,
    ap_mode: str,
    ranks: Sequence[int],
    rerank_params: RerankParams | None,
) -> list[int]:
    """Refuse bad settings of :func:`reid_evaluate` before any work; the ranks, as a list."""
    _check_metric(metric)
    _check_chunk_size(chunk_size)
    if ap_mode not in AP_MODES:
        raise ValueError(f"unknown ap_mode {ap_mode!r}; valid: {sorted(AP_MODES)}")
    ranks = list(ranks)
    if not ranks or any(not isinstance(k, int) or k < 1 for k in ranks):
        raise ValueError(f"ranks must be positive ints, got {ranks}")
    if rerank_params is not None:
        _check_rerank_params(*rerank_params)
    return ranks


def _reid_inputs(
    query_feats: ArrayLike,
    query_pids: ArrayLike,
    query_camids: ArrayLike,
    gallery_feats: ArrayLike,
    gallery_pids: ArrayLike,
    gallery_camids: ArrayLike,
) -> tuple[torch.Tensor, ...]:
    """Features and ids as tensors on the queries' device, checked, junk dropped from the
    gallery: (qf, q_pids, q_cams, gf, g_pids, g_cams)."""
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
    return qf, q_pids, q_cams, gf, g_pids, g_cams


def _chunk_distances(
    qf: torch.Tensor,
    gf: torch.Tensor,
    metric: str,
    chunk_size: int,
    rerank_params: RerankParams | None,
) -> Callable[[slice], torch.Tensor]:
    """The (q, G) distances of a slice of the queries: ``metric``'s, computed per chunk, or
    rows of the re-ranked (Q, G) matrix (computed once, here)."""
    if rerank_params is not None and qf.shape[0] and gf.shape[0]:
        reranked = _rerank_features(qf, gf, metric, chunk_size, *rerank_params)  # (Q, G)

        def chunk_distances(sl: slice) -> torch.Tensor:
            return reranked[sl]
    else:
        distance = _distance_to(gf, qf, metric)

        def chunk_distances(sl: slice) -> torch.Tensor:
            return distance(qf[sl])

    return chunk_distances


def _rank_queries(
    chunk_distances: Callable[[slice], torch.Tensor],
    query: tuple[torch.Tensor, torch.Tensor],
    gallery: tuple[torch.Tensor, torch.Tensor],
    chunk_size: int,
    ap_term: APTerm,
) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
    """First-hit rank, AP and INP of every query (:func:`_reid_chunk`), one chunk of queries
    at a time: one list entry per chunk.

    Args:
        chunk_distances: the (q, G) distances of a slice of the queries.
        query: (q_pids, q_cams), (Q,) each. gallery: (g_pids, g_cams), (G,) each, no junk.
        chunk_size: queries per chunk.
        ap_term: the AP definition, a value of :data:`AP_MODES`.
    """
    (q_pids, q_cams), (g_pids, g_cams) = query, gallery
    n_q, n_g, device = q_pids.shape[0], g_pids.shape[0], q_pids.device
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
        first_rank, ap, inp = _reid_chunk(dist, cols, valid, junk, ap_term)
        first_ranks.append(first_rank)
        aps.append(ap)
        inps.append(inp)
        del dist  # free the chunk's (q, G) buffer before the next one is allocated
    return first_ranks, aps, inps


def _reid_result(
    first_ranks: list[torch.Tensor],
    aps: list[torch.Tensor],
    inps: list[torch.Tensor],
    ranks: list[int],
    n_q: int,
    n_g: int,
) -> dict[str, float]:
    """:func:`reid_evaluate`'s result from the chunks' per-query values: CMC, mAP and mINP
    over the queries with a hit (NaN if none), and the counts."""
    first_rank = torch.cat(first_ranks) if first_ranks else torch.zeros(0, dtype=torch.long)
    valid_q = first_rank <= n_g  # (Q_computed,) at least one hit
    n_valid = int(valid_q.sum())
    result: dict[str, float] = {}
    if n_valid == 0:
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
