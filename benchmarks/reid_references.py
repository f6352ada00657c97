"""What ``bench_reid_eval.py`` measures a3m.metrics on and against: its synthetic data and the
per-query (per-row) NumPy references of the same algorithms.

- re-id: :func:`make_reid_data` (Market-1501-like identities, cameras and distractors) and the
  protocol one query at a time, from NumPy distances computed per query
  (:func:`reid_straightforward`) or as one matrix product (:func:`reid_torchreid_style`);
- k-reciprocal re-ranking: one row at a time (:func:`base_row`, :func:`encode_row`), as the
  public code computes it;
- MAP@R: one query at a time (:func:`map_at_r_reference_rows`).

Nothing here times anything; the script does.
"""

from __future__ import annotations

import numpy as np
import torch

RANKS = (1, 5, 10, 20)


# ----------------------------------------------------------------------------- re-id


def make_reid_data(
    n_query: int,
    n_gallery: int,
    n_distractors: int,
    n_ids: int,
    dim: int,
    seed: int,
    noise_scale: float = 2.6,
) -> tuple[np.ndarray, ...]:
    """Market-1501-like ids: each person seen by 2-6 of 6 cameras; ReLU features near a centre."""
    rng = np.random.default_rng(seed)
    n_cams = 6
    # Identity i is seen by the first n_seen[i] cameras of its own random camera permutation.
    cam_sets = np.argsort(rng.random((n_ids, n_cams)), axis=1)  # (n_ids, 6)
    n_seen = rng.integers(2, n_cams + 1, n_ids)  # (n_ids,)

    def pick_cams(pids: np.ndarray) -> np.ndarray:
        idx = (rng.random(len(pids)) * n_seen[pids - 1]).astype(int)
        return cam_sets[pids - 1, idx]

    n_id_images = n_gallery - n_distractors
    g_pids = np.concatenate([rng.integers(1, n_ids + 1, n_id_images), np.zeros(n_distractors, int)])
    g_cams = np.concatenate(
        [pick_cams(g_pids[:n_id_images]), rng.integers(0, n_cams, n_distractors)]
    )
    # Every identity is queried at least once (as in Market-1501), the rest at random.
    q_pids = np.concatenate([np.arange(1, n_ids + 1), rng.integers(1, n_ids + 1, n_query)])
    q_pids = q_pids[:n_query]
    q_cams = pick_cams(q_pids)
    # Identity signal plus noise, then ReLU: all-positive like pooled ResNet features. Each
    # distractor is someone else: its own random centre.
    centres = rng.normal(size=(n_ids + 1, dim)).astype(np.float32)

    def feats(pids: np.ndarray) -> np.ndarray:
        signal = centres[pids]
        signal[pids == 0] = rng.normal(size=(int((pids == 0).sum()), dim))
        noise = rng.normal(scale=noise_scale, size=(len(pids), dim)).astype(np.float32)
        return np.maximum(signal + noise, 0.0)

    return feats(q_pids), q_pids, q_cams, feats(g_pids), g_pids, g_cams


def protocol_of_row(
    dist_row: np.ndarray, q_pid: int, q_cam: int, g_pids: np.ndarray, g_cams: np.ndarray
) -> tuple[int, float] | None:
    """One query's first-hit rank and AP from its distances (None: no valid match)."""
    order = np.argsort(dist_row, kind="stable")
    keep = ~((g_pids[order] == q_pid) & (g_cams[order] == q_cam))
    good = g_pids[order][keep] == q_pid
    if not good.any():
        return None
    hit_ranks = np.flatnonzero(good) + 1
    return int(hit_ranks[0]), float(np.mean(np.arange(1, len(hit_ranks) + 1) / hit_ranks))


def summarize(per_query: list[tuple[int, float] | None]) -> dict[str, float]:
    valid = [r for r in per_query if r is not None]
    out: dict[str, float] = {
        f"rank{k}": sum(first <= k for first, _ in valid) / len(valid) for k in RANKS
    }
    out["mAP"] = float(np.mean([ap for _, ap in valid]))
    out["num_valid_queries"] = len(valid)
    return out


def reid_straightforward(qf, q_pids, q_cams, gf, g_pids, g_cams) -> dict[str, float]:
    """Per query: its Euclidean distances to the gallery in NumPy, then the protocol."""
    return summarize(
        [
            protocol_of_row(
                np.linalg.norm(gf - qf[i], axis=1), q_pids[i], q_cams[i], g_pids, g_cams
            )
            for i in range(len(qf))
        ]
    )


def numpy_distances(qf: np.ndarray, gf: np.ndarray) -> np.ndarray:
    """Squared Euclidean distance matrix by one matrix product, as torchreid does, in the
    features' dtype."""
    return (qf**2).sum(1)[:, None] + (gf**2).sum(1)[None, :] - 2.0 * qf @ gf.T


def reid_torchreid_style(qf, q_pids, q_cams, gf, g_pids, g_cams) -> dict[str, float]:
    """The whole distance matrix by one product, then the per-query loop of argsorts."""
    dist = numpy_distances(qf, gf)
    return summarize(
        [protocol_of_row(dist[i], q_pids[i], q_cams[i], g_pids, g_cams) for i in range(len(qf))]
    )


def compare(ours: dict, ref: dict) -> tuple[bool, float]:
    """Identical = CMC and counts equal, mAP equal up to float64 summation order (1e-12)."""
    keys = [f"rank{k}" for k in RANKS] + ["num_valid_queries"]
    same = all(ours[k] == ref[k] for k in keys) and abs(ours["mAP"] - ref["mAP"]) < 1e-12
    return same, max(abs(ours[k] - ref[k]) for k in keys + ["mAP"])


def subset(data: tuple[np.ndarray, ...], n: int) -> tuple[np.ndarray, ...]:
    """The first ``n`` queries of :func:`make_reid_data`'s arrays, with the whole gallery."""
    qf, q_pids, q_cams, gf, g_pids, g_cams = data
    return qf[:n], q_pids[:n], q_cams[:n], gf, g_pids, g_cams


# ----------------------------------------------------------------------------- re-ranking


def base_row(i: int, q_g: np.ndarray, q_q: np.ndarray, g_g: np.ndarray) -> np.ndarray:
    """Row i of the re-ranking's base matrix, as the public code builds it: item i's column of
    [[q_q, q_g], [q_g^T, g_g]], squared in float32, over its maximum."""
    n_q = q_g.shape[0]
    if i < n_q:
        raw = np.concatenate([q_q[:, i], q_g[i]])
    else:
        raw = np.concatenate([q_g[:, i - n_q], g_g[:, i - n_q]])
    squared = (raw * raw).astype(np.float32)
    return squared / squared.max()


def reciprocal_row(nearest: np.ndarray, i: int, k: int) -> np.ndarray:
    """Item i's k-reciprocal neighbours: those of its k + 1 nearest that have i among theirs."""
    forward = nearest[i, : k + 1]
    return forward[(nearest[forward, : k + 1] == i).any(axis=1)]


def encode_row(i: int, nearest: np.ndarray, base: np.ndarray, k1: int) -> np.ndarray:
    """Item i's dense V row: the k-reciprocal set, expanded by the half-size sets that have more
    than 2/3 of themselves in it, weighted by exp(-base) and normalised."""
    own = reciprocal_row(nearest, i, k1)
    union = own
    for j in own:
        half = reciprocal_row(nearest, j, round(k1 / 2))
        if len(np.intersect1d(half, own)) > 2 / 3 * len(half):
            union = np.append(union, half)
    union = np.unique(union)
    row = np.zeros(len(base), np.float32)
    weight = np.exp(-base[union])
    row[union] = weight / weight.sum()
    return row


def dense_rows(cols: torch.Tensor, vals: torch.Tensor, rows: np.ndarray, n: int) -> np.ndarray:
    """Rows of a padded sparse matrix (cols == n: unused) as a dense (len(rows), n) array."""
    out = np.zeros((len(rows), n + 1), np.float32)
    c, v = cols[torch.from_numpy(rows)].numpy(), vals[torch.from_numpy(rows)].numpy()
    np.put_along_axis(out, c, v, axis=1)
    return out[:, :n]


# ----------------------------------------------------------------------------- MAP@R


def map_at_r_reference_rows(x: np.ndarray, labels: np.ndarray, rows: np.ndarray) -> list[float]:
    """AP@R of the given queries, one at a time: distances, stable sort, the first R."""
    counts = dict(zip(*np.unique(labels, return_counts=True), strict=True))
    out = []
    for i in rows:
        r = counts[labels[i]] - 1
        if r == 0:
            continue
        d = ((x - x[i]) ** 2).sum(1)
        d[i] = np.inf
        nearest = np.argsort(d, kind="stable")[:r]
        correct = labels[nearest] == labels[i]
        out.append(float((np.cumsum(correct) / np.arange(1, r + 1) * correct).sum() / r))
    return out
