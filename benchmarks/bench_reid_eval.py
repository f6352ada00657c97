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

Re-ranking (issue 27): :func:`a3m.metrics.k_reciprocal_rerank` at Market-1501's real size with
its junk images (3,368 queries x 19,732 gallery, d = 2048, random features): the time of the
three distance matrices, the re-ranking's time and its peak memory above its inputs, against a
per-row NumPy reference of the same algorithm in four steps (each row's base distances and a full
stable argsort, as the public code sorts the whole matrix; each row's k-reciprocal set with the
2/3 expansion and its weights; the query expansion; each query's Jaccard distances through an
inverted index, and the blend), each step timed on a subset of rows or queries and scaled to all
of them (the full reference would take an hour and its dense (N, N) matrices), its output on that
subset compared with the vectorised code's.

MAP@R: :func:`a3m.metrics.map_at_r` on the retrieval embeddings above against a per-query NumPy
reference (distances, stable argsort, the first R) on ``--map-ref-queries`` queries, scaled; the
two are compared in full on the first 1,500 items.

Prints, never asserts. ``python benchmarks/bench_reid_eval.py --help`` lists the size flags;
``--smoke-test`` runs everything at a tiny size in a few seconds.
"""

from __future__ import annotations

import argparse
import math
import statistics
import threading
import time
from collections.abc import Callable
from functools import partial

import numpy as np
import torch
from benchlib import interleaved, machine_line, print_table
from reid_references import (  # the synthetic data and the NumPy references
    RANKS,
    base_row,
    compare,
    dense_rows,
    encode_row,
    make_reid_data,
    map_at_r_reference_rows,
    reid_straightforward,
    reid_torchreid_style,
    subset,
)
from sklearn.cluster import KMeans
from sklearn.metrics import normalized_mutual_info_score

from a3m import metrics
from a3m.metrics import (
    DEFAULT_CHUNK_SIZE,
    distances,
    map_at_r,
    nmi,
    recall_at_k,
    reid_evaluate,
    reranking,
)


def fmt(result: dict) -> str:
    return ", ".join(
        f"{k}={v:.6f}" if isinstance(v, float) else f"{k}={v}" for k, v in result.items()
    )


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
        "a3m.metrics.distances._all_finite (aminmax)": lambda: [
            distances._all_finite(x) for x in (qf, gf)
        ],
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


# ----------------------------------------------------------------------------- re-ranking


def _rss_gb(field: str) -> float:
    """VmRSS (now) or VmHWM (the peak) of this process in GB, from /proc (Linux)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024 / 1e9
    return math.nan


def peak_memory(fn: Callable[[], object]) -> tuple[object, float, str]:
    """Run ``fn``; its result and the process's peak resident memory during it above the
    memory before it (GB). The kernel's peak counter is reset first (``/proc/self/clear_refs``);
    where that is not allowed, a thread samples the resident size every 2 ms instead."""
    before = _rss_gb("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        peak, done = [before], threading.Event()

        def sample() -> None:
            while not done.wait(0.002):
                peak[0] = max(peak[0], _rss_gb("VmRSS"))

        watcher = threading.Thread(target=sample, daemon=True)
        watcher.start()
        try:
            result = fn()
        finally:
            done.set()
            watcher.join()
        return result, max(peak[0], _rss_gb("VmRSS")) - before, "sampled every 2 ms"
    result = fn()
    return result, _rss_gb("VmHWM") - before, "kernel peak counter"


def bench_rerank(args: argparse.Namespace) -> None:
    n_q, n_g = args.queries, args.rerank_gallery
    k1, k2, lam = metrics.RERANK_K1, metrics.RERANK_K2, metrics.RERANK_LAMBDA
    extra = max(0, n_g - args.gallery)  # Market's junk images, here more distractors
    data = make_reid_data(
        n_q, n_g, args.distractors + extra, args.ids, args.dim, args.seed, args.noise
    )
    qf, gf = torch.from_numpy(data[0]), torch.from_numpy(data[3])
    n = n_q + n_g
    n_rows, n_queries = min(args.rerank_ref_rows, n), min(args.rerank_ref_queries, n_q)
    print(
        f"\n== k-reciprocal re-ranking: {n_q} queries x {n_g} gallery (Market-1501's test split "
        f"with its junk images), d={args.dim}, float32, k1={k1}, k2={k2}, lambda={lam}; the "
        f"per-row reference on {n_rows} of the {n} rows and {n_queries} of the {n_q} queries, "
        f"each step scaled to all of them; {args.rerank_repeats} interleaved rounds =="
    )
    t0 = time.perf_counter()
    q_g = distances._distance_matrix(qf, gf, "euclidean", args.chunk_size, same=False)
    q_q = distances._distance_matrix(qf, qf, "euclidean", args.chunk_size, same=True)
    g_g = distances._distance_matrix(gf, gf, "euclidean", args.chunk_size, same=True)
    t_dist = time.perf_counter() - t0
    inputs_gb = sum(m.numel() * m.element_size() for m in (q_g, q_q, g_g)) / 1e9
    print(
        f"the three distance matrices (Euclidean, not squared): {t_dist:.1f} s, "
        f"{inputs_gb:.2f} GB in float32"
    )
    t0 = time.perf_counter()
    out, peak_gb, how = peak_memory(lambda: metrics.k_reciprocal_rerank(q_g, q_q, g_g))
    print(
        f"k_reciprocal_rerank, first call: {time.perf_counter() - t0:.1f} s; "
        f"its peak memory above its inputs: {peak_gb:.2f} GB ({how}; the "
        f"(Q, G) result is {out.numel() * 4 / 1e9:.2f} GB of it); the whole process peaked at "
        f"{_rss_gb('VmHWM'):.2f} GB"
    )

    # The reference's inputs past step 1 come from the vectorised code's own steps (untimed):
    # its neighbour lists, V and the query-expanded V; each timed step is checked against them.
    npq_g, npq_q, npg_g = q_g.numpy(), q_q.numpy(), g_g.numpy()
    width = max(k1 + 1, k2)
    nearest = torch.empty((n, width), dtype=torch.long)
    peak = torch.empty(n)
    for lo, hi in reranking._side_chunks(n_q, n, args.chunk_size):
        nearest[lo:hi], peak[lo:hi] = reranking._base_nearest(q_g, q_q, g_g, lo, hi, width)
    cols, vals = reranking._encode((q_g, q_q, g_g), peak, nearest, k1, args.chunk_size)
    v_rows, v_cols, v_vals = reranking._expand_queries(cols, vals, nearest, k2, args.chunk_size)
    nearest_np = nearest.numpy()
    rows = np.unique(np.linspace(0, n - 1, n_rows).astype(int))  # queries and gallery items
    queries = np.arange(n_queries)
    bases = {i: base_row(i, npq_g, npq_q, npg_g) for i in np.concatenate([rows, queries])}
    needed = np.unique(nearest_np[rows, :k2])
    v_needed = dict(zip(needed, dense_rows(cols, vals, needed, n), strict=True))
    in_gallery = (v_rows >= n_q).numpy()
    g_row, g_col, g_val = (t.numpy()[in_gallery] for t in (v_rows, v_cols, v_vals))
    order = np.argsort(g_col, kind="stable")
    g_row, g_col, g_val = g_row[order] - n_q, g_col[order], g_val[order]
    bounds = np.searchsorted(g_col, np.arange(n + 1))
    inv_rows = [g_row[bounds[c] : bounds[c + 1]] for c in range(n)]  # the inverted index
    inv_vals = [g_val[bounds[c] : bounds[c + 1]] for c in range(n)]
    q_mask = ~in_gallery
    vq = np.zeros((n_queries, n), np.float32)
    sel = q_mask & (v_rows.numpy() < n_queries)
    vq[v_rows.numpy()[sel], v_cols.numpy()[sel]] = v_vals.numpy()[sel]

    def step1() -> list[np.ndarray]:
        return [np.argsort(base_row(i, npq_g, npq_q, npg_g), kind="stable") for i in rows]

    def step2() -> list[np.ndarray]:
        return [encode_row(i, nearest_np, bases[i], k1) for i in rows]

    def step3() -> list[np.ndarray]:
        return [np.mean([v_needed[j] for j in nearest_np[i, :k2]], axis=0) for i in rows]

    def step4() -> np.ndarray:
        result = np.empty((n_queries, n_g), np.float32)
        for i in queries:
            shared = np.zeros(n_g, np.float32)
            for c in np.flatnonzero(vq[i]):
                shared[inv_rows[c]] += np.minimum(vq[i, c], inv_vals[c])
            jaccard = 1 - shared / (2 - shared)
            result[i] = jaccard * (1 - lam) + bases[i][n_q:] * lam
        return result

    steps = {
        "reference 1: base rows, full stable argsort": (step1, n / len(rows)),
        "reference 2: k-reciprocal sets, weights": (step2, n / len(rows)),
        "reference 3: query expansion": (step3, n / len(rows)),
        "reference 4: Jaccard (inverted index), blend": (step4, n_q / n_queries),
    }
    # Each step's output on its rows against the vectorised code's.
    same1 = all((r[:width] == nearest_np[i]).all() for i, r in zip(rows, step1(), strict=True))
    v_ours = dense_rows(cols, vals, rows, n)
    diff2 = float(np.abs(np.stack(step2()) - v_ours).max())
    ours_qe = np.zeros((len(rows), n), np.float32)
    row_pos = {i: p for p, i in enumerate(rows)}
    pick = np.isin(v_rows.numpy(), rows)
    ours_qe[[row_pos[i] for i in v_rows.numpy()[pick]], v_cols.numpy()[pick]] = v_vals.numpy()[pick]
    diff3 = float(np.abs(np.stack(step3()) - ours_qe).max())
    diff4 = float(np.abs(step4() - out[:n_queries].numpy()).max())
    print(
        f"reference vs vectorised on the timed rows: same {width} nearest: {same1}; max "
        f"|difference| of V {diff2:.1e}, of the expanded V {diff3:.1e}, of the re-ranked "
        f"distances {diff4:.1e}"
    )

    candidates: dict[str, Callable[[], object]] = {
        "k_reciprocal_rerank": lambda: metrics.k_reciprocal_rerank(q_g, q_q, g_g)
    }
    candidates |= {name: fn for name, (fn, _) in steps.items()}
    t = interleaved(candidates, repeats=args.rerank_repeats, warmup=0)
    per_round = [
        sum(t.times[name][r] * scale for name, (_, scale) in steps.items())
        for r in range(args.rerank_repeats)
    ]
    rows_out = [["k_reciprocal_rerank (all rows)", t.median("k_reciprocal_rerank"), 1.0,
                 t.spread("k_reciprocal_rerank")]]  # fmt: skip
    for name, (_, scale) in steps.items():
        rows_out.append([f"{name} (scaled x{scale:.0f})", t.median(name) * scale,
                         t.ratio(name, "k_reciprocal_rerank") * scale, t.spread(name)])  # fmt: skip
    ratio = statistics.median(
        p / o for p, o in zip(per_round, t.times["k_reciprocal_rerank"], strict=True)
    )
    rows_out.append(["per-row reference, all steps (scaled)", statistics.median(per_round),
                     ratio, "-"])  # fmt: skip
    print_table(["re-ranking", "s for all rows (median)", "speed-up of ours (x)",
                 "min-max s (as run)"], rows_out)  # fmt: skip
    print(
        "(the reference's steps 2-4 read the vectorised code's neighbour lists and V, so the "
        "reference is timed without its own (N, N) matrices; its step 1 alone sorts whole rows)"
    )


# ----------------------------------------------------------------------------- MAP@R


def bench_map_at_r(args: argparse.Namespace) -> None:
    rng = np.random.default_rng(args.seed)
    labels = rng.integers(0, args.classes, args.items)
    centres = rng.normal(size=(args.classes, args.emb_dim)).astype(np.float32)
    noise = rng.normal(scale=args.emb_noise, size=(args.items, args.emb_dim))
    x = centres[labels] + noise.astype(np.float32)
    n_ref = min(args.map_ref_queries, args.items)
    print(
        f"\n== MAP@R: {args.items} x {args.emb_dim}, {args.classes} classes (CARS196's test "
        f"split), float32, Euclidean; the per-query reference on {n_ref} queries, scaled; "
        f"{args.repeats} interleaved rounds =="
    )
    first = np.arange(n_ref)
    value, peak_gb, how = peak_memory(lambda: map_at_r(x, labels))
    candidates: dict[str, Callable[[], object]] = {
        "map_at_r": lambda: map_at_r(x, labels),
        "per-query NumPy reference": lambda: map_at_r_reference_rows(x, labels, first),
    }
    t = interleaved(candidates, repeats=args.repeats, warmup=0)
    scale = args.items / n_ref
    print_table(
        ["MAP@R", "s for all queries (median)", "min-max s (as run)", "speed-up of ours (x)"],
        [
            ["map_at_r", t.median("map_at_r"), t.spread("map_at_r"), 1.0],
            [
                f"per-query NumPy reference (scaled x{scale:.1f})",
                t.median("per-query NumPy reference") * scale,
                t.spread("per-query NumPy reference"),
                t.ratio("per-query NumPy reference", "map_at_r") * scale,
            ],
        ],  # fmt: skip
    )
    small = min(args.items, 1500)
    ref = float(np.mean(map_at_r_reference_rows(x[:small], labels[:small], np.arange(small))))
    ours = map_at_r(x[:small], labels[:small])
    print(
        f"map_at_r = {value:.6f}; peak memory above its input {peak_gb:.3f} GB ({how}); on the "
        f"first {small} items, the reference over all of them gives {ref:.6f}, map_at_r "
        f"{ours:.6f} (|difference| {abs(ref - ours):.1e})"
    )


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
    p.add_argument(
        "--rerank-gallery",
        type=int,
        default=19732,
        help="gallery of the re-ranking (Market-1501's, junk images included)",
    )
    p.add_argument(
        "--rerank-ref-rows",
        type=int,
        default=300,
        help="rows the per-row re-ranking reference runs on (then scaled)",
    )
    p.add_argument(
        "--rerank-ref-queries",
        type=int,
        default=100,
        help="queries the reference's Jaccard step runs on (then scaled)",
    )
    p.add_argument("--rerank-repeats", type=int, default=2, help="re-ranking's rounds")
    p.add_argument(
        "--map-ref-queries",
        type=int,
        default=500,
        help="queries the per-query MAP@R reference runs on (then scaled)",
    )
    p.add_argument("--skip-reid", action="store_true")
    p.add_argument("--skip-retrieval", action="store_true")
    p.add_argument("--skip-rerank", action="store_true")
    p.add_argument("--skip-map-at-r", action="store_true")
    p.add_argument("--smoke-test", action="store_true", help="tiny sizes, a few seconds")
    return p


def main(args: argparse.Namespace) -> None:
    if args.smoke_test:
        args.queries, args.gallery, args.distractors, args.ids, args.dim = 60, 400, 50, 20, 32
        args.reference_queries, args.straight_queries = 30, 20
        args.chunk_size, args.chunk_sizes = 16, [16, 64]
        args.items, args.emb_dim, args.classes, args.repeats, args.n_init = 300, 16, 10, 1, 2
        args.rerank_gallery, args.rerank_ref_rows, args.rerank_ref_queries = 450, 40, 10
        args.rerank_repeats, args.map_ref_queries = 1, 50
    if args.threads:
        torch.set_num_threads(args.threads)
    print(machine_line())
    start = time.perf_counter()
    if not args.skip_reid:
        bench_reid(args)
    if not args.skip_retrieval:
        bench_retrieval(args)
    if not args.skip_rerank:
        bench_rerank(args)
    if not args.skip_map_at_r:
        bench_map_at_r(args)
    print(f"\n(benchmark wall time {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main(get_args_parser().parse_args())
