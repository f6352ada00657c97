"""Time a3m.metrics at full evaluation size: Market-1501 re-id and CARS196 retrieval.

Re-id: 3,368 queries x 15,913 gallery items at d = 2048 (Market-1501's test split after the junk
images are dropped: 750 identities seen by 2-6 of 6 cameras, 2,798 distractors with pid 0),
random features with identity structure. ``reid_evaluate`` (chunked, vectorised torch) is timed
on all queries; a straightforward NumPy implementation of the same protocol (the torchreid
recipe: one distance-matrix product, then a Python loop over queries with an argsort each) is
timed on a subset of queries and extrapolated linearly. Both are run on that subset, in float32
and in float64, and their numbers compared.

Retrieval: Recall@{1,2,4,8} and NMI on 8,131 x 384 embeddings of 98 classes (CARS196's test
split, the paper's 384-d embedding).

Prints, never asserts. ``python benchmarks/bench_reid_eval.py --help`` lists the size flags;
``--smoke-test`` runs everything at a tiny size in about a second.
"""

from __future__ import annotations

import argparse
import os
import time
from functools import partial

import numpy as np
import torch

from a3m.metrics import DEFAULT_CHUNK_SIZE, nmi, recall_at_k, reid_evaluate

RANKS = (1, 5, 10, 20)


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


def numpy_distances(qf: np.ndarray, gf: np.ndarray) -> np.ndarray:
    """Squared Euclidean distance matrix by one matrix product, as torchreid does, in the
    features' dtype."""
    return (qf**2).sum(1)[:, None] + (gf**2).sum(1)[None, :] - 2.0 * qf @ gf.T


def reid_numpy_from_dist(
    dist: np.ndarray,
    q_pids: np.ndarray,
    q_cams: np.ndarray,
    g_pids: np.ndarray,
    g_cams: np.ndarray,
) -> dict[str, float]:
    """Straightforward per-query NumPy Market-1501 evaluation of a distance matrix."""
    cmc, aps = np.zeros(len(RANKS)), []
    for i in range(len(dist)):
        order = np.argsort(dist[i], kind="stable")
        keep = ~((g_pids[order] == q_pids[i]) & (g_cams[order] == q_cams[i]))
        good = g_pids[order][keep] == q_pids[i]
        if not good.any():
            continue
        hit_ranks = np.flatnonzero(good) + 1
        cmc += hit_ranks[0] <= np.array(RANKS)
        aps.append(np.mean(np.arange(1, len(hit_ranks) + 1) / hit_ranks))
    out = {f"rank{k}": cmc[j] / len(aps) for j, k in enumerate(RANKS)}
    out["mAP"] = float(np.mean(aps))
    out["num_valid_queries"] = len(aps)
    return out


def timed(repeats: int, fn, *args, **kwargs):
    """(result, best wall time over ``repeats`` runs): the CPU is shared, the minimum is stable."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn(*args, **kwargs)
        best = min(best, time.perf_counter() - start)
    return result, best


def compare(ours: dict, ref: dict) -> tuple[bool, float]:
    """Identical = CMC and counts equal, mAP equal up to float64 summation order (1e-12)."""
    keys = [f"rank{k}" for k in RANKS] + ["num_valid_queries"]
    same = all(ours[k] == ref[k] for k in keys) and abs(ours["mAP"] - ref["mAP"]) < 1e-12
    return same, max(abs(ours[k] - ref[k]) for k in keys + ["mAP"])


def fmt(result: dict) -> str:
    return ", ".join(
        f"{k}={v:.6f}" if isinstance(v, float) else f"{k}={v}" for k, v in result.items()
    )


def bench_reid(args: argparse.Namespace) -> None:
    data = make_reid_data(
        args.queries, args.gallery, args.distractors, args.ids, args.dim, args.seed, args.noise
    )
    qf, q_pids, q_cams, gf, g_pids, g_cams = data
    print(
        f"re-id: {len(qf)} queries x {len(gf)} gallery, d={args.dim}, float32 features, "
        f"{args.distractors} distractors, Euclidean, chunk_size={args.chunk_size}"
    )
    evaluate = partial(reid_evaluate, ranks=RANKS, chunk_size=args.chunk_size)
    ours, t_ours = timed(args.repeats, evaluate, *data)
    print(f"  reid_evaluate, all {len(qf)} queries (best of {args.repeats}): {t_ours:.2f} s")
    print(f"    {fmt(ours)}")

    n_sub = min(args.reference_queries, len(qf))
    ids = (q_pids[:n_sub], q_cams[:n_sub], g_pids, g_cams)
    dist, t_dist = timed(args.repeats, numpy_distances, qf[:n_sub], gf)
    ref, t_loop = timed(args.repeats, reid_numpy_from_dist, dist, *ids)
    t_ref_all = (t_dist + t_loop) * len(qf) / n_sub
    print(
        f"  per-query NumPy reference, first {n_sub} queries (best of {args.repeats}): "
        f"float32 distance matrix {t_dist:.2f} s + loop of stable argsorts {t_loop:.2f} s "
        f"-> extrapolated linearly to {len(qf)} queries: {t_ref_all:.1f} s"
    )
    print(f"  speed-up (extrapolated reference / reid_evaluate): {t_ref_all / t_ours:.1f}x")

    # Two float32 computations of a distance can round differently (ours centres the features
    # first) and swap two gallery items closer than one rounding step; in float64 the rankings
    # of this data must be exactly the same.
    sub = (qf[:n_sub], q_pids[:n_sub], q_cams[:n_sub], gf, g_pids, g_cams)
    same32, diff32 = compare(evaluate(*sub), ref)
    qf64, gf64 = qf[:n_sub].astype(np.float64), gf.astype(np.float64)
    ref64 = reid_numpy_from_dist(numpy_distances(qf64, gf64), *ids)
    same64, diff64 = compare(evaluate(qf64, *ids[:2], gf64, *ids[2:]), ref64)
    print(f"  on the {n_sub}-query subset (identical = CMC and counts equal, mAP to 1e-12):")
    print(f"    float32 features: identical={same32}, max |difference|={diff32:.1e}")
    print(f"    float64 features: identical={same64}, max |difference|={diff64:.1e}")
    print(f"    reference: {fmt(ref)}")


def bench_retrieval(args: argparse.Namespace) -> None:
    rng = np.random.default_rng(args.seed)
    labels = rng.integers(0, args.classes, args.items)
    centres = rng.normal(size=(args.classes, args.emb_dim)).astype(np.float32)
    noise = rng.normal(scale=args.emb_noise, size=(args.items, args.emb_dim))
    x = centres[labels] + noise.astype(np.float32)
    print(f"retrieval: {args.items} x {args.emb_dim}, {args.classes} classes, float32, Euclidean")
    recall, t_recall = timed(args.repeats, recall_at_k, x, labels, (1, 2, 4, 8))
    print(f"  recall_at_k (best of {args.repeats}): {t_recall:.2f} s  {fmt(recall)}")
    score, t_nmi = timed(1, nmi, x, labels, n_init=args.n_init)
    print(
        f"  nmi (k-means, {args.classes} clusters, n_init={args.n_init}, one run): "
        f"{t_nmi:.2f} s  nmi={score:.4f}"
    )


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--queries", type=int, default=3368)
    p.add_argument("--gallery", type=int, default=15913)
    p.add_argument("--distractors", type=int, default=2798)
    p.add_argument("--ids", type=int, default=750)
    p.add_argument("--dim", type=int, default=2048)
    p.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE)
    p.add_argument("--noise", type=float, default=2.6, help="re-id feature noise (harder)")
    p.add_argument(
        "--reference-queries",
        type=int,
        default=300,
        help="queries the NumPy reference runs on (then extrapolated)",
    )
    p.add_argument("--items", type=int, default=8131)
    p.add_argument("--emb-dim", type=int, default=384)
    p.add_argument("--classes", type=int, default=98)
    p.add_argument("--emb-noise", type=float, default=3.0, help="retrieval embedding noise")
    p.add_argument("--n-init", type=int, default=10, help="k-means restarts for NMI")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=3, help="timed runs; the best is printed")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--smoke-test", action="store_true", help="tiny sizes, runs in about a second")
    return p


def main(args: argparse.Namespace) -> None:
    if args.smoke_test:
        args.queries, args.gallery, args.distractors, args.ids, args.dim = 60, 400, 50, 20, 32
        args.reference_queries, args.items, args.emb_dim, args.classes = 30, 300, 16, 10
        args.repeats, args.n_init = 1, 1
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), numpy {np.__version__}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
    )
    bench_reid(args)
    bench_retrieval(args)


if __name__ == "__main__":
    main(get_args_parser().parse_args())
