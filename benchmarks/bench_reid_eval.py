"""Time a3m.metrics at full evaluation size: Market-1501 re-id and CARS196 retrieval.

Re-id: 3,368 queries x 15,913 gallery items at d = 2048 (Market-1501's test split after the junk
images are dropped: 750 identities seen by 2-6 of 6 cameras, 2,798 distractors with pid 0),
random features with identity structure. Three implementations of the same protocol, timed in
interleaved rounds (see ``benchmarks/benchlib.py``):

- ``reid_evaluate``: chunked, vectorised torch (one matrix product and one sort per chunk), on
  all queries;
- **straightforward** per-query NumPy: for each query its distances to the gallery
  (``np.linalg.norm(gallery - query, axis=1)``), a stable argsort, the protocol's filtering,
  CMC and torchreid's AP (``ap_mode="torchreid"``, the reference of tests/test_metrics.py);
- **torchreid-style**: the whole distance matrix by one matrix product
  (||q||^2 + ||g||^2 - 2 q.g), then the same per-query loop of argsorts;

the two references on the first ``--reference-queries`` / ``--straight-queries`` queries,
extrapolated linearly to all queries (they are per-query loops). Printed: each time, the speed-up
of ``reid_evaluate`` over each reference (median over rounds of the per-round ratio), and
whether the numbers are identical: in float64 they must be (CMC and counts equal, mAP to
1e-12); in float32 two computations of a distance may round differently and swap items closer
than one rounding step, so the difference is printed. Then ``reid_evaluate`` at several chunk
sizes, and how much of its time is the matrix product (the hardware's part).

Retrieval: Recall@{1,2,4,8} and NMI on 8,131 x 384 embeddings of 98 classes (CARS196's test
split, the paper's 384-d embedding); NMI's k-means with the metric's 10 restarts (Lloyd and
Elkan) and with one restart (the trainer's setting before the last epoch).

Prints, never asserts. ``python benchmarks/bench_reid_eval.py --help`` lists the size flags;
``--smoke-test`` runs everything at a tiny size in a few seconds.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from functools import partial

import numpy as np
import torch
from benchlib import interleaved, machine_line, print_table
from sklearn.cluster import KMeans
from sklearn.metrics import normalized_mutual_info_score

from a3m.metrics import DEFAULT_CHUNK_SIZE, _all_finite, nmi, recall_at_k, reid_evaluate

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


def fmt(result: dict) -> str:
    return ", ".join(
        f"{k}={v:.6f}" if isinstance(v, float) else f"{k}={v}" for k, v in result.items()
    )


def subset(data: tuple[np.ndarray, ...], n: int) -> tuple[np.ndarray, ...]:
    qf, q_pids, q_cams, gf, g_pids, g_cams = data
    return qf[:n], q_pids[:n], q_cams[:n], gf, g_pids, g_cams


def bench_reid(args: argparse.Namespace) -> None:
    data = make_reid_data(
        args.queries, args.gallery, args.distractors, args.ids, args.dim, args.seed, args.noise
    )
    n_q = len(data[0])
    n_ref, n_straight = min(args.reference_queries, n_q), min(args.straight_queries, n_q)
    print(
        f"\n== re-id: {n_q} queries x {len(data[3])} gallery, d={args.dim}, float32, "
        f"{args.distractors} distractors, Euclidean; references on {n_straight} "
        f"(straightforward) and {n_ref} (torchreid-style) queries, extrapolated; "
        f"{args.repeats} interleaved rounds =="
    )
    # The references average the precision at each hit (torchreid's AP); so must the comparison.
    evaluate = partial(reid_evaluate, ranks=RANKS, chunk_size=args.chunk_size, ap_mode="torchreid")
    candidates: dict[str, Callable[[], object]] = {
        "reid_evaluate": lambda: evaluate(*data),
        "straightforward NumPy": lambda: reid_straightforward(*subset(data, n_straight)),
        "torchreid-style NumPy": lambda: reid_torchreid_style(*subset(data, n_ref)),
    }
    t = interleaved(candidates, repeats=args.repeats, warmup=0)
    scale = {"reid_evaluate": 1.0, "straightforward NumPy": n_q / n_straight}
    scale["torchreid-style NumPy"] = n_q / n_ref
    rows = []
    for name in candidates:
        per_round = [
            s * scale[name] / o
            for s, o in zip(t.times[name], t.times["reid_evaluate"], strict=True)
        ]
        rows.append(
            [name, t.median(name) * scale[name], t.spread(name), statistics.median(per_round)]
        )
    print_table(
        ["implementation", "s for all queries (median)", "min-max s (as run)", "speed-up of ours"],
        rows,
    )

    ours = evaluate(*data)
    print(f"reid_evaluate: {fmt(ours)}")
    for dtype in (np.float32, np.float64):
        sub = subset(data, n_straight)
        sub = (sub[0].astype(dtype), *sub[1:3], sub[3].astype(dtype), *sub[4:])
        mine = evaluate(*sub)
        for name, ref_fn in (("straightforward", reid_straightforward),
                             ("torchreid-style", reid_torchreid_style)):  # fmt: skip
            same, diff = compare(mine, ref_fn(*sub))
            print(
                f"  first {n_straight} queries, {np.dtype(dtype).name}: same as the {name} "
                f"reference: {same} (max |difference| {diff:.1e})"
            )

    # Where reid_evaluate's time goes, and the chunk size.
    chunks = sorted({max(1, c) for c in args.chunk_sizes})
    qf, gf = torch.from_numpy(data[0]), torch.from_numpy(data[3])

    def matmul_only() -> None:
        for lo in range(0, n_q, args.chunk_size):
            torch.addmm(gf.new_zeros(()), qf[lo : lo + args.chunk_size], gf.T)

    sweep: dict[str, Callable[[], object]] = {
        f"chunk {c}": partial(reid_evaluate, *data, ranks=RANKS, chunk_size=c) for c in chunks
    }
    sweep["its matrix products alone"] = matmul_only
    t = interleaved(sweep, repeats=args.repeats, warmup=1)
    flops = 2.0 * n_q * len(gf) * args.dim
    print_table(
        ["reid_evaluate", "s (median)", "GFLOP/s of the product", "time / matrix products"],
        [
            [
                name,
                t.median(name),
                flops / t.median(name) / 1e9,
                t.ratio(name, "its matrix products alone"),
            ]
            for name in sweep
        ],  # fmt: skip
    )
    same, diff = _same_over_chunks(data, chunks)
    print(
        f"(chunk sizes give the same CMC and counts: {same}; largest difference of any number "
        f"{diff:.1e}: float32 BLAS rounds a distance differently for another chunk shape)"
    )

    # The NaN/inf check on the features, before and after a3m switched to min/max.
    checks: dict[str, Callable[[], object]] = {
        "torch.isfinite(x).all()": lambda: [bool(torch.isfinite(x).all()) for x in (qf, gf)],
        "a3m.metrics._all_finite (aminmax)": lambda: [_all_finite(x) for x in (qf, gf)],
    }
    t = interleaved(checks, repeats=max(5, args.repeats), warmup=1)
    print_table(
        ["finiteness check of the features", "ms (median)", "speed-up"],
        [[n, 1e3 * t.median(n), t.ratio("torch.isfinite(x).all()", n)] for n in checks],
    )


def _same_over_chunks(data: tuple[np.ndarray, ...], chunks: list[int]) -> tuple[bool, float]:
    results = [reid_evaluate(*data, ranks=RANKS, chunk_size=c) for c in chunks]
    keys = [f"rank{k}" for k in RANKS] + ["num_valid_queries"]
    same = all(r[k] == results[0][k] for r in results for k in keys)
    return same, max(abs(r[k] - results[0][k]) for r in results for k in [*keys, "mAP"])


def bench_retrieval(args: argparse.Namespace) -> None:
    rng = np.random.default_rng(args.seed)
    labels = rng.integers(0, args.classes, args.items)
    centres = rng.normal(size=(args.classes, args.emb_dim)).astype(np.float32)
    noise = rng.normal(scale=args.emb_noise, size=(args.items, args.emb_dim))
    x = centres[labels] + noise.astype(np.float32)
    print(
        f"\n== retrieval: {args.items} x {args.emb_dim}, {args.classes} classes, float32, "
        f"Euclidean; {args.repeats} interleaved rounds =="
    )
    n_clusters = len(np.unique(labels))

    def kmeans(n_init: int, algorithm: str) -> Callable[[], float]:
        def run() -> float:
            km = KMeans(n_clusters, n_init=n_init, random_state=0, algorithm=algorithm)
            return float(normalized_mutual_info_score(labels, km.fit_predict(x)))

        return run

    candidates: dict[str, Callable[[], object]] = {
        "recall_at_k (1, 2, 4, 8)": lambda: recall_at_k(x, labels, (1, 2, 4, 8)),
        f"nmi, k-means lloyd, n_init={args.n_init} (the metric)": kmeans(args.n_init, "lloyd"),
        f"nmi, k-means elkan, n_init={args.n_init}": kmeans(args.n_init, "elkan"),
        "nmi, k-means lloyd, n_init=1 (trainer, epochs < last)": kmeans(1, "lloyd"),
    }
    t = interleaved(candidates, repeats=args.repeats, warmup=0)
    values = {name: fn() for name, fn in candidates.items()}
    rows = []
    for name in candidates:
        value = values[name]
        shown = fmt(value) if isinstance(value, dict) else f"nmi={value:.4f}"
        rows.append([name, t.median(name), t.spread(name), shown])
    print_table(["metric", "s (median)", "min-max s", "value"], rows)
    same = values[list(candidates)[1]] == nmi(x, labels, n_init=args.n_init)
    print(f"(a3m.metrics.nmi with n_init={args.n_init} gives the same number: {same})")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--queries", type=int, default=3368)
    p.add_argument("--gallery", type=int, default=15913)
    p.add_argument("--distractors", type=int, default=2798)
    p.add_argument("--ids", type=int, default=750)
    p.add_argument("--dim", type=int, default=2048)
    p.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE)
    p.add_argument("--chunk-sizes", type=int, nargs="+", default=[256, 512, 1024, 2048])
    p.add_argument("--noise", type=float, default=2.6, help="re-id feature noise (harder)")
    p.add_argument(
        "--reference-queries", type=int, default=300,
        help="queries the torchreid-style reference runs on (then extrapolated)",
    )  # fmt: skip
    p.add_argument(
        "--straight-queries", type=int, default=60,
        help="queries the straightforward reference runs on (then extrapolated)",
    )  # fmt: skip
    p.add_argument("--items", type=int, default=8131)
    p.add_argument("--emb-dim", type=int, default=384)
    p.add_argument("--classes", type=int, default=98)
    p.add_argument("--emb-noise", type=float, default=3.0, help="retrieval embedding noise")
    p.add_argument("--n-init", type=int, default=10, help="k-means restarts of the metric")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=3, help="interleaved rounds")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--skip-reid", action="store_true")
    p.add_argument("--skip-retrieval", action="store_true")
    p.add_argument("--smoke-test", action="store_true", help="tiny sizes, a few seconds")
    return p


def main(args: argparse.Namespace) -> None:
    if args.smoke_test:
        args.queries, args.gallery, args.distractors, args.ids, args.dim = 60, 400, 50, 20, 32
        args.reference_queries, args.straight_queries = 30, 20
        args.chunk_size, args.chunk_sizes = 16, [16, 64]
        args.items, args.emb_dim, args.classes, args.repeats, args.n_init = 300, 16, 10, 1, 2
    if args.threads:
        torch.set_num_threads(args.threads)
    print(machine_line())
    start = time.perf_counter()
    if not args.skip_reid:
        bench_reid(args)
    if not args.skip_retrieval:
        bench_retrieval(args)
    print(f"\n(benchmark wall time {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main(get_args_parser().parse_args())
