"""Where chosen items sit in each row's stable ascending order of distances, without sorting
indices: what re-id's CMC, AP and INP (:mod:`a3m.metrics.reid`) and MAP@R
(:mod:`a3m.metrics.retrieval`) read from a ranking."""

from __future__ import annotations

import numpy as np
import torch


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
