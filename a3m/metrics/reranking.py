"""k-reciprocal re-ranking (Zhong et al., CVPR 2017), as torchreid and fast-reid ship it:
:func:`k_reciprocal_rerank`, and :func:`~a3m.metrics.reid.reid_evaluate`'s ``rerank=True``.

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
"""

from __future__ import annotations

import torch

from a3m.metrics.common import (
    DEFAULT_CHUNK_SIZE,
    ArrayLike,
    _as_features,
    _check_chunk_size,
)
from a3m.metrics.distances import _all_finite, _distance_matrix

RERANK_K1 = 20
"""k-reciprocal neighbourhood size of :func:`k_reciprocal_rerank` (Zhong et al.'s default)."""

RERANK_K2 = 6
"""Neighbours averaged in the local query expansion of :func:`k_reciprocal_rerank`."""

RERANK_LAMBDA = 0.3
"""Weight of the original distance in the re-ranked one (the Jaccard distance gets 1 - it)."""

RERANK_PAIR_BUDGET = 1 << 23
"""(query entry, gallery entry) pairs the Jaccard step of :func:`k_reciprocal_rerank` expands
at once: about 8 M, a few hundred MB of index buffers whatever the set sizes."""


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
    """k-reciprocal re-ranking (Zhong et al., CVPR 2017), as torchreid and fast-reid ship it:
    the steps, their conventions and the memory it takes are in :mod:`a3m.metrics.reranking`.

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
    blocks = _rerank_inputs(q_g, q_q, g_g)
    qg = blocks[0]
    n_q, n_g = qg.shape
    out = torch.empty((n_q, n_g), dtype=torch.float32, device=qg.device)
    if n_q == 0 or n_g == 0:
        return out

    # 1-2. The base matrix row by row: each row's nearest and its maximum; nothing else kept.
    nearest, peak = _all_nearest(blocks, min(max(k1 + 1, k2), n_q + n_g), chunk_size)

    # 3-4. The k-reciprocal features, sparse, then the query expansion.
    cols, vals = _encode(blocks, peak, nearest, k1, chunk_size)
    expanded = _expand_queries(cols, vals, nearest, k2, chunk_size)
    del cols, vals, nearest

    # 5-6. The Jaccard distances, blended with the base ones.
    _jaccard_blend(out, expanded, qg, peak, lambda_, chunk_size)
    return out


def _rerank_inputs(
    q_g: ArrayLike, q_q: ArrayLike, g_g: ArrayLike
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The three distance blocks as finite floating tensors on ``q_g``'s device, their shapes
    checked to fit together."""
    qg = _as_distances(q_g, "q_g")
    dev = qg.device
    qq, gg = _as_distances(q_q, "q_q").to(dev), _as_distances(g_g, "g_g").to(dev)
    n_q, n_g = qg.shape
    if qq.shape != (n_q, n_q) or gg.shape != (n_g, n_g):
        raise ValueError(
            f"expected q_q ({n_q}, {n_q}) and g_g ({n_g}, {n_g}) for q_g {tuple(qg.shape)}, "
            f"got {tuple(qq.shape)} and {tuple(gg.shape)}"
        )
    return qg, qq, gg


def _all_nearest(
    blocks: tuple[torch.Tensor, torch.Tensor, torch.Tensor], width: int, chunk_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Steps 1-2 for all N items (:func:`_base_nearest` per chunk of one side): the (N, width)
    nearest by the base matrix and the (N,) float32 row peaks."""
    qg, qq, gg = blocks
    n_q = qg.shape[0]
    n = n_q + qg.shape[1]
    nearest = torch.empty((n, width), dtype=torch.long, device=qg.device)
    peak = torch.empty(n, dtype=torch.float32, device=qg.device)
    for lo, hi in _side_chunks(n_q, n, chunk_size):
        nearest[lo:hi], peak[lo:hi] = _base_nearest(qg, qq, gg, lo, hi, width)
    return nearest, peak


def _jaccard_blend(
    out: torch.Tensor,
    entries: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    qg: torch.Tensor,
    peak: torch.Tensor,
    lambda_: float,
    chunk_size: int,
) -> None:
    """Steps 5-6 into ``out`` (Q, G): the Jaccard distance of every query and gallery item
    from the expanded V (COO ``entries`` sorted by row, :func:`_expand_queries`), blended with
    the base distances. Queries go in chunks of at most ``chunk_size`` whose (query entry,
    gallery entry) pairs stay within :data:`RERANK_PAIR_BUDGET` (a query is never split)."""
    v_rows, v_cols, v_vals = entries
    n_q, n_g = qg.shape
    dev = qg.device
    # 5. Jaccard: gallery entries indexed by column, query entries expanded against them.
    in_gallery = v_rows >= n_q
    g_cols, order = v_cols[in_gallery].sort(stable=True)
    g_rows = (v_rows[in_gallery] - n_q)[order]
    g_vals = v_vals[in_gallery][order]
    g_count = torch.bincount(g_cols, minlength=n_q + n_g)  # (N,) gallery entries per column
    g_start = torch.cumsum(g_count, 0) - g_count  # (N,)
    gallery = (g_rows, g_vals, g_count, g_start)
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
        query = (q_cols[e0:e1], q_vals[e0:e1], q_rows[e0:e1] - lo)
        shared = _shared_weights(query, gallery, hi - lo, n_g)
        # In place, the public code's float32 operations in its order (-x + 1 is 1 - x):
        jaccard = shared.div_(2.0 - shared).neg_().add_(1.0)  # 1 - s / (2 - s)
        base = _base_rows(qg[lo:hi], peak[lo:hi])  # B[i, Q + j]
        # 6. The blend: (1 - lambda_) Jaccard + lambda_ base.
        out[lo:hi] = jaccard.mul_(1.0 - lambda_).add_(base.mul_(lambda_))
        del shared, jaccard, base
        lo = hi


def _shared_weights(
    query: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    gallery: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
    n_rows: int,
    n_g: int,
) -> torch.Tensor:
    """s = sum_e min(V[i, e], V[j, e]) of a chunk of queries against every gallery item.

    Args:
        query: (col, val, row) of the chunk's entries, row counted from the chunk's start.
        gallery: (g_rows, g_vals, g_count, g_start): the gallery entries sorted by column, and
            each column's count and start in them.
        n_rows: queries in the chunk. n_g: gallery items.

    Returns:
        (n_rows, n_g) float32 sums; only pairs of a query and a gallery entry in the same
        column are expanded, never a dense V.
    """
    col, val, row = query
    g_rows, g_vals, g_count, g_start = gallery
    count = g_count[col]  # (E,) gallery entries sharing each query entry's column
    # Pair p of entry e reads gallery entry g_start[col_e] + (p - first pair of e).
    shift = g_start[col] - (torch.cumsum(count, 0) - count)  # (E,)
    at = torch.repeat_interleave(shift, count)  # (P,)
    at += torch.arange(at.shape[0], device=col.device)
    dest = torch.repeat_interleave(row * n_g, count) + g_rows[at]  # (P,) flat (i, j)
    low = torch.minimum(torch.repeat_interleave(val, count), g_vals[at])  # (P,)
    shared = torch.zeros(n_rows * n_g, dtype=torch.float32, device=col.device)
    shared.index_add_(0, dest, low)
    return shared.view(n_rows, n_g)


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
