"""The field's metrics beside the paper's (issue 27): mINP, k-reciprocal re-ranking and MAP@R.

Each is checked on cases worked out by hand and against a slow, per-query (or per-row)
reference written from its paper's definition: mINP from Ye et al. (TPAMI 2021), re-ranking from
Zhong et al. (CVPR 2017) with the conventions of the public ``re_ranking`` that torchreid and
fast-reid ship (distances squared, columns divided by their maximum, the half-size expansion
with the 2/3 rule, the k2 query expansion), MAP@R from Musgrave et al. (ECCV 2020) with
pytorch-metric-learning's handling of a class of one item (left out).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from a3m.metrics import (
    AP_MODES,
    UndefinedMetricWarning,
    k_reciprocal_rerank,
    map_at_r,
    reid_evaluate,
    reranking,
    retrieval_evaluate,
)

# ----------------------------------------------------------------------------- references


def protocol_reference(dist, q_pids, q_cams, g_pids, g_cams, ranks, ap_mode="official"):
    """CMC, mAP and mINP of a (Q, G) distance matrix, one query at a time (junk: pid -1)."""
    hits_at = np.zeros(len(ranks))
    aps, inps = [], []
    for i in range(dist.shape[0]):
        order = np.argsort(dist[i], kind="stable")
        keep = ~((g_pids[order] == q_pids[i]) & (g_cams[order] == q_cams[i]))
        keep &= g_pids[order] != -1
        good = g_pids[order][keep] == q_pids[i]
        if not good.any():
            continue
        hit_ranks = np.flatnonzero(good) + 1  # 1-based ranks of the hits, junk removed
        hits_at += [hit_ranks[0] <= k for k in ranks]
        n = len(hit_ranks)
        if ap_mode == "torchreid":
            aps.append(np.mean(np.arange(1, n + 1) / hit_ranks))
        else:  # the trapezoid of compute_AP.m, precision "before" rank 1 read as 1
            before = [(k - 1) / (r - 1) if r > 1 else 1.0 for k, r in enumerate(hit_ranks, 1)]
            at = np.arange(1, n + 1) / hit_ranks
            aps.append(np.mean((np.array(before) + at) / 2))
        inps.append(n / hit_ranks[-1])  # INP: the hits over the rank of the hardest one
    out = {f"rank{k}": hits_at[j] / len(aps) for j, k in enumerate(ranks)}
    out.update(mAP=float(np.mean(aps)), mINP=float(np.mean(inps)), num_valid_queries=len(aps))
    return out


def numpy_distances(x, y, metric="euclidean"):
    """The true (not squared) Euclidean distances, or 1 - cos."""
    if metric == "cosine":
        xn = x / np.linalg.norm(x, axis=1, keepdims=True)
        yn = y / np.linalg.norm(y, axis=1, keepdims=True)
        return 1.0 - xn @ yn.T
    return np.sqrt(((x[:, None, :] - y[None, :, :]) ** 2).sum(-1))


def rerank_reference(q_g, q_q, g_g, k1=20, k2=6, lambda_=0.3):
    """k-reciprocal re-ranking one row at a time, from Zhong et al.'s description and the
    conventions of the public code (its dense (N, N) matrices, fine at test sizes)."""
    n_q, n_g = q_g.shape
    n = n_q + n_g
    full = np.block([[q_q, q_g], [q_g.T, g_g]])
    squared = (full * full).astype(np.float32)
    base = (squared / squared.max(axis=0)).T  # each column over its maximum, transposed
    order = np.argsort(base, axis=1, kind="stable")  # ties by index

    def reciprocal(i, k):
        return [j for j in order[i, : k + 1] if i in order[j, : k + 1]]

    v = np.zeros((n, n), np.float32)
    for i in range(n):
        r = reciprocal(i, k1)
        union = set(r)
        for j in r:
            half = reciprocal(j, round(k1 / 2))
            if len(set(half) & set(r)) > 2 / 3 * len(half):
                union |= set(half)
        if not union:  # no k-reciprocal neighbour, not even itself: V[i] stays 0
            continue
        e = np.array(sorted(union))
        w = np.exp(-base[i, e])
        v[i, e] = w / w.sum()
    if k2 != 1:
        v = np.stack([v[order[i, :k2]].mean(axis=0) for i in range(n)])
    out = np.zeros((n_q, n_g), np.float32)
    for i in range(n_q):
        shared = np.minimum(v[i][None, :], v[n_q:]).sum(axis=1)  # (G,)
        jaccard = 1 - shared / (2 - shared)
        out[i] = (1 - lambda_) * jaccard + lambda_ * base[i, n_q:]
    return out


def map_at_r_reference(x, labels, metric="euclidean"):
    """MAP@R one query at a time: sort the others (stable), score the first R."""
    d = numpy_distances(x, x, metric)
    scores = []
    for i in range(len(x)):
        r = int((labels == labels[i]).sum()) - 1
        if r == 0:
            continue  # alone in its class: left out, as pytorch-metric-learning does
        others = np.delete(np.arange(len(x)), i)
        ranked = others[np.argsort(d[i, others], kind="stable")][:r]
        correct = labels[ranked] == labels[i]
        precision = np.cumsum(correct) / np.arange(1, r + 1)
        scores.append(float((precision * correct).sum() / r))
    return float(np.mean(scores))


def random_reid(seed, n_q=30, n_g=120, d=8, n_ids=10, n_cams=3, n_junk=0, integer=False):
    """Random re-id data with identity structure, distractors (pid 0) and the last ``n_junk``
    gallery items junk (pid -1); ``integer``: small integer features, so many exact ties."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_ids + 1, d)) * 2
    q_pids, g_pids = rng.integers(1, n_ids + 1, n_q), rng.integers(0, n_ids + 1, n_g)
    q_cams, g_cams = rng.integers(0, n_cams, n_q), rng.integers(0, n_cams, n_g)
    qf = centres[q_pids] + rng.normal(size=(n_q, d))
    gf = centres[g_pids] + rng.normal(size=(n_g, d))
    if integer:
        qf, gf = np.round(qf), np.round(gf)
    g_pids[n_g - n_junk :] = -1
    return qf, q_pids, q_cams, gf, g_pids, g_cams


# ----------------------------------------------------------------------------- mINP

# One query (pid 5, camera 0) at 0, gallery items at distances 1, 2, 3, 4 (camera 1 unless
# said): which are person 5, and the mINP by hand.
INP_HAND_CASES = {
    # one hit, at rank 3: INP = 1/3 (and rank-1 0, rank-3 1)
    "one hit at rank 3": ([0, 0, 5, 0], [1, 1, 1, 1], 1 / 3),
    # hits at ranks 1 and 3: the hardest at 3, two found: 2/3
    "hits at ranks 1 and 3": ([5, 0, 5, 0], [1, 1, 1, 1], 2 / 3),
    # hit, junk (person 5 in the query's own camera), miss, hit: junk removed, the hardest
    # hit moves from rank 4 to rank 3: 2/3 (with the junk counted it would be 2/4)
    "same-camera junk before the hardest hit": ([5, 5, 0, 5], [1, 0, 1, 1], 2 / 3),
    # the same with a junk image (pid -1): removed for every query
    "pid -1 junk before the hardest hit": ([5, -1, 0, 5], [1, 1, 1, 1], 2 / 3),
    # every hit first: 1
    "all hits first": ([5, 5, 0, 0], [1, 1, 1, 1], 1.0),
}


@pytest.mark.parametrize("case", list(INP_HAND_CASES))
@pytest.mark.parametrize("ap_mode", sorted(AP_MODES))
def test_minp_hand_cases(case, ap_mode):
    g_pids, g_cams, expected = INP_HAND_CASES[case]
    gf = np.arange(1.0, 5.0)[:, None]
    out = reid_evaluate([[0.0]], [5], [0], gf, g_pids, g_cams, ranks=(1, 3), ap_mode=ap_mode)
    assert out["mINP"] == pytest.approx(expected, abs=1e-15)
    ref = protocol_reference(
        gf.T, np.array([5]), np.array([0]), np.array(g_pids), np.array(g_cams), (1, 3), ap_mode
    )
    assert ref["mINP"] == pytest.approx(expected, abs=1e-15)
    if case == "one hit at rank 3":
        assert (out["rank1"], out["rank3"]) == (0.0, 1.0)
        assert out["mAP"] == pytest.approx(1 / 6 if ap_mode == "official" else 1 / 3)


def test_minp_ties_follow_gallery_order():
    # Both gallery items at distance 1: the first in gallery order ranks first.
    gf, qf = np.array([[-1.0], [1.0]]), np.zeros((1, 1))
    assert reid_evaluate(qf, [1], [0], gf, [2, 1], [1, 1])["mINP"] == pytest.approx(0.5)
    assert reid_evaluate(qf, [1], [0], gf, [1, 2], [1, 1])["mINP"] == pytest.approx(1.0)


def test_minp_is_the_mean_over_valid_queries_and_nan_without_one():
    # Query 1: hit at rank 2 (INP 1/2); query 2 (pid 7): no match, skipped; query 3: hit at 1.
    gf = np.array([[1.0], [2.0]])
    out = reid_evaluate([[0.0], [0.0], [2.0]], [5, 7, 5], [0, 0, 0], gf, [0, 5], [1, 1])
    assert out["mINP"] == pytest.approx((0.5 + 1.0) / 2)
    assert out["num_skipped_queries"] == 1
    with pytest.warns(UndefinedMetricWarning):
        assert math.isnan(reid_evaluate([[0.0]], [1], [0], [[1.0]], [1], [0])["mINP"])


@pytest.mark.parametrize("ap_mode", sorted(AP_MODES))
@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize(
    ("seed", "n_junk", "integer"), [(1, 0, False), (2, 25, False), (3, 20, True), (4, 0, True)]
)
def test_reid_with_minp_matches_reference(seed, n_junk, integer, metric, ap_mode):
    # Integer features: 64 gallery items once junk is dropped keep the centring mean dyadic,
    # so every Euclidean distance is exact and its ties are real ties.
    n_g = 64 + n_junk if integer else 120
    qf, qp, qc, gf, gp, gc = random_reid(seed, n_g=n_g, n_junk=n_junk, integer=integer)
    if integer and metric == "cosine":
        qf, gf = qf + 0.5, gf + 0.5  # no zero vector
    ranks = (1, 2, 5)
    out = reid_evaluate(qf, qp, qc, gf, gp, gc, ranks=ranks, metric=metric, chunk_size=7,
                        ap_mode=ap_mode)  # fmt: skip
    ref = protocol_reference(numpy_distances(qf, gf, metric), qp, qc, gp, gc, ranks, ap_mode)
    assert out["num_valid_queries"] == ref["num_valid_queries"]
    for key in [f"rank{k}" for k in ranks] + ["mAP", "mINP"]:
        assert out[key] == pytest.approx(ref[key], abs=1e-6), key


# ----------------------------------------------------------------------------- re-ranking


def test_rerank_hand_case():
    # Three items on a line: query q at 0, gallery g0 at 1 and g1 at 10; k1 = 1, k2 = 1.
    # Squared distances [[0, 1, 100], [1, 0, 81], [100, 81, 0]], columns over their maxima
    # (100, 81, 100): q's row [0, .01, 1], g0's [1/81, 0, 1], g1's [1, .81, 0].
    # k1 + 1 = 2 nearest: q {q, g0}, g0 {g0, q}, g1 {g1, g0}; k-reciprocal: R(q) = R(g0) =
    # {q, g0}, R(g1) = {g1} (g0 does not have g1 among its two nearest). The half sets
    # (round(1/2) + 1 = 1 nearest) are the items themselves, wholly inside: no change.
    # V(q) = softmax(-[0, .01]) on {q, g0}, V(g0) = softmax(-[1/81, 0]), V(g1) = 1 on g1.
    a = 1 / (1 + math.exp(-0.01))  # V(q)[q]
    b = math.exp(-1 / 81) / (1 + math.exp(-1 / 81))  # V(g0)[q]
    shared = min(a, b) + min(1 - a, 1 - b)
    jaccard = 1 - shared / (2 - shared)
    expected = [[0.7 * jaccard + 0.3 * 0.01, 0.7 * 1.0 + 0.3 * 1.0]]
    q_g, q_q, g_g = np.array([[1.0, 10.0]]), np.zeros((1, 1)), np.array([[0.0, 9.0], [9.0, 0.0]])
    out = k_reciprocal_rerank(q_g, q_q, g_g, k1=1, k2=1)
    assert out.dtype == torch.float32 and out.shape == (1, 2)
    # float32 throughout: 1 - s / (2 - s) loses digits as s nears 1
    np.testing.assert_allclose(out.numpy(), expected, rtol=0, atol=1e-6)
    ref = rerank_reference(q_g, q_q, g_g, k1=1, k2=1)
    np.testing.assert_allclose(ref, expected, rtol=0, atol=1e-6)


def _rerank_inputs(kind, seed, n_q, n_g):
    rng = np.random.default_rng(seed)
    if kind == "features":  # distances between points with cluster structure
        ids = rng.integers(0, max(2, (n_q + n_g) // 6), n_q + n_g)
        x = rng.normal(size=(ids.max() + 1, 6))[ids] + 0.7 * rng.normal(size=(n_q + n_g, 6))
        q, g = x[:n_q], x[n_q:]
        return numpy_distances(q, g), numpy_distances(q, q), numpy_distances(g, g)
    if kind == "ties":  # Manhattan distances of small integer points: many exact ties
        x = rng.integers(0, 4, (n_q + n_g, 3)).astype(float)
        d = np.abs(x[:, None] - x[None]).sum(-1) + 1.0  # + 1: no column all 0
        np.fill_diagonal(d, 0.0)
        return d[:n_q, n_q:], d[:n_q, :n_q], d[n_q:, n_q:]
    if kind == "signed":  # negative entries too: squared, they order differently
        return rng.normal(size=(n_q, n_g)), rng.normal(size=(n_q, n_q)), rng.normal(size=(n_g, n_g))
    # "asymmetric": arbitrary positive matrices (which of q_q and g_g is transposed matters)
    return rng.random((n_q, n_g)), rng.random((n_q, n_q)), rng.random((n_g, n_g))


@pytest.mark.parametrize("kind", ["features", "ties", "asymmetric", "signed"])
@pytest.mark.parametrize(
    ("n_q", "n_g", "k1", "k2", "lambda_"),
    [
        (6, 30, 20, 6, 0.3),  # the defaults, fewer items than k1 + 1 on the query side
        (25, 90, 20, 6, 0.3),
        (12, 5, 20, 6, 0.3),  # 17 items: fewer than k1 + 1 in all
        (20, 60, 7, 3, 0.5),  # odd k1: round(3.5) = 4, half to even
        (15, 40, 5, 1, 0.0),  # no query expansion, Jaccard alone
        (10, 30, 4, 12, 1.0),  # k2 > k1 + 1; the original distance alone
    ],
)
def test_rerank_matches_reference(kind, n_q, n_g, k1, k2, lambda_):
    q_g, q_q, g_g = _rerank_inputs(kind, n_q + 7 * n_g, n_q, n_g)
    ref = rerank_reference(q_g, q_q, g_g, k1=k1, k2=k2, lambda_=lambda_)
    for chunk in (3, 512):
        out = k_reciprocal_rerank(q_g, q_q, g_g, k1=k1, k2=k2, lambda_=lambda_, chunk_size=chunk)
        np.testing.assert_allclose(out.numpy(), ref, rtol=0, atol=1e-6)


def test_rerank_accepts_float32_tensors_and_small_pair_budgets(monkeypatch):
    # A budget of 7 pairs cuts the Jaccard step at every query (a query is never split).
    monkeypatch.setattr(reranking, "RERANK_PAIR_BUDGET", 7)
    q_g, q_q, g_g = _rerank_inputs("features", 5, 18, 50)
    ref = rerank_reference(*(m.astype(np.float32) for m in (q_g, q_q, g_g)))
    tensors = [torch.tensor(m, dtype=torch.float32) for m in (q_g, q_q, g_g)]
    out = k_reciprocal_rerank(*tensors)
    np.testing.assert_allclose(out.numpy(), ref, rtol=0, atol=1e-6)


def test_rerank_handles_all_zero_rows_and_empty_sides():
    # Every distance 0 (a collapsed model): the public code divides 0 by 0; here the base
    # distances stay 0 and the result is finite.
    out = k_reciprocal_rerank(np.zeros((3, 4)), np.zeros((3, 3)), np.zeros((4, 4)))
    assert torch.isfinite(out).all()
    assert k_reciprocal_rerank(np.zeros((0, 4)), np.zeros((0, 0)), np.zeros((4, 4))).shape == (0, 4)
    assert k_reciprocal_rerank(np.zeros((2, 0)), np.zeros((2, 2)), np.zeros((0, 0))).shape == (2, 0)


def test_rerank_bad_arguments():
    q_g, q_q, g_g = np.ones((2, 3)), np.ones((2, 2)), np.ones((3, 3))
    with pytest.raises(ValueError, match="expected q_q"):
        k_reciprocal_rerank(q_g, g_g, g_g)
    with pytest.raises(ValueError, match="k1"):
        k_reciprocal_rerank(q_g, q_q, g_g, k1=0)
    with pytest.raises(ValueError, match="k2"):
        k_reciprocal_rerank(q_g, q_q, g_g, k2=1.5)
    with pytest.raises(ValueError, match="lambda_"):
        k_reciprocal_rerank(q_g, q_q, g_g, lambda_=1.5)
    with pytest.raises(ValueError, match="NaN"):
        k_reciprocal_rerank(np.full((2, 3), np.nan), q_q, g_g)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("ap_mode", sorted(AP_MODES))
def test_reid_rerank_is_the_protocol_on_reranked_distances(metric, ap_mode):
    qf, qp, qc, gf, gp, gc = random_reid(6, n_q=25, n_g=100, n_junk=15)
    ranks = (1, 5)
    out = reid_evaluate(qf, qp, qc, gf, gp, gc, ranks=ranks, metric=metric, ap_mode=ap_mode,
                        rerank=True, chunk_size=8)  # fmt: skip
    # Junk is dropped before re-ranking (torchreid and fast-reid drop it at loading).
    kept = gp != -1
    g = gf[kept]
    q_g, q_q, g_g = (numpy_distances(a, b, metric) for a, b in ((qf, g), (qf, qf), (g, g)))
    for m in (q_q, g_g):
        np.fill_diagonal(m, 0.0)
    reranked = rerank_reference(q_g, q_q, g_g)
    ref = protocol_reference(reranked, qp, qc, gp[kept], gc[kept], ranks, ap_mode)
    assert out["num_valid_queries"] == ref["num_valid_queries"]
    for key in ["rank1", "rank5", "mAP", "mINP"]:
        assert out[key] == pytest.approx(ref[key], abs=1e-6), key
    plain = reid_evaluate(qf, qp, qc, gf, gp, gc, ranks=ranks, metric=metric, ap_mode=ap_mode)
    assert plain["mAP"] != out["mAP"]  # re-ranking changed the ranking


def test_reid_rerank_parameters_reach_the_reranking():
    qf, qp, qc, gf, gp, gc = random_reid(7, n_q=15, n_g=60)
    default = reid_evaluate(qf, qp, qc, gf, gp, gc, rerank=True)
    original_only = reid_evaluate(qf, qp, qc, gf, gp, gc, rerank=True, lambda_=1.0)
    plain = reid_evaluate(qf, qp, qc, gf, gp, gc)
    # lambda_ = 1 keeps the original distances (squared, over a per-query maximum): same ranks.
    assert original_only == pytest.approx(plain, abs=1e-12)
    assert default["mAP"] != plain["mAP"]
    with pytest.raises(ValueError, match="k1"):
        reid_evaluate(qf, qp, qc, gf, gp, gc, rerank=True, k1=0)


# ----------------------------------------------------------------------------- MAP@R


def test_map_at_r_hand_case():
    # Items on a line: 0 (A), 1 (B), 2 (A), 4 (A), 7 (B), 20 (C, alone: left out).
    # item 0: others by distance B A A B C, R = 2: the A at 2 -> (1/2) / 2 = 1/4
    # item 1: A A (tied, both A) A B C, R = 1: a miss -> 0
    # item 2: B, then A and A tied, ..., R = 2: the A at 2 -> 1/4
    # item 3: A, then B and B tied, ..., R = 2: the A at 1 -> (1/1) / 2 = 1/2
    # item 4: A A B A C, R = 1: a miss -> 0 (its class mate at rank 3 is past R)
    x = np.array([[0.0], [1.0], [2.0], [4.0], [7.0], [20.0]])
    labels = np.array([0, 1, 0, 0, 1, 2])
    assert map_at_r(x, labels) == pytest.approx((0.25 + 0 + 0.25 + 0.5 + 0) / 5, abs=1e-15)
    assert map_at_r_reference(x, labels) == pytest.approx(0.2, abs=1e-15)


def test_map_at_r_ties_follow_item_order():
    # Items at 0, -1 and 1: item 0's two neighbours are tied at distance 1, and the one first
    # in item order (item 1) ranks first. Two of class A and one B (alone: left out), R = 1.
    x = np.array([[0.0], [-1.0], [1.0]])
    # A B A: item 0 retrieves the B first (0); item 2 retrieves item 0 (1) -> 1/2
    assert map_at_r(x, [0, 1, 0]) == pytest.approx(0.5)
    # A A B: item 0 retrieves item 1 first (1); item 1 retrieves item 0 (1) -> 1
    assert map_at_r(x, [0, 0, 1]) == pytest.approx(1.0)


def test_map_at_r_one_item_classes_and_nan():
    x = np.array([[0.0], [1.0], [5.0]])
    # item 2 alone in its class: left out, not a zero; items 0 and 1 find each other first.
    assert map_at_r(x, [0, 0, 1]) == pytest.approx(1.0)
    with pytest.warns(UndefinedMetricWarning):
        assert math.isnan(map_at_r(x, [0, 1, 2]))


def test_map_at_r_divides_by_r_not_by_the_hits():
    # Items at 0 (A), 1 (A), 5 (B), 6 (A), 7 (B).
    # item 0: A B A B, R = 2: one class mate in the first 2, at rank 1 -> (1/1) / 2 = 1/2
    #   (the AP over the hits would be 1, over all class mates (1 + 2/3) / 2)
    # item 1: A B A B, R = 2 -> 1/2
    # item 2: A B A A, R = 1: a miss -> 0
    # item 3: B B (tied) A A, R = 2: no class mate in the first 2 -> 0
    # item 4: A B A A, R = 1 -> 0
    x = np.array([[0.0], [1.0], [5.0], [6.0], [7.0]])
    labels = np.array([0, 0, 1, 0, 1])
    assert map_at_r(x, labels) == pytest.approx((0.5 + 0.5) / 5, abs=1e-15)
    assert map_at_r_reference(x, labels) == pytest.approx(0.2, abs=1e-15)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
# Integer points: many exact ties; 64 items keep the centring mean dyadic, every Euclidean
# distance exact, so the ties are real ties.
@pytest.mark.parametrize(("seed", "n", "integer"), [(0, 40, False), (1, 150, False), (2, 64, True)])
def test_map_at_r_matches_reference(metric, seed, n, integer):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n // 5, n)
    labels[0] = n  # a class of one item: left out
    x = 2 * rng.normal(size=(n + 1, 4))[labels] + rng.normal(size=(n, 4))
    if integer:  # small integer points: many exact ties
        x = np.round(x) + (0.5 if metric == "cosine" else 0.0)
    ref = map_at_r_reference(x, labels, metric)
    for chunk in (7, 1024):
        assert map_at_r(x, labels, metric=metric, chunk_size=chunk) == pytest.approx(ref, abs=1e-6)
    as_float32 = map_at_r(torch.tensor(x, dtype=torch.float32), torch.tensor(labels))
    if not integer and metric == "euclidean":
        assert as_float32 == pytest.approx(ref, abs=1e-6)


def test_retrieval_evaluate_includes_map_at_r():
    # its keys and the case of separated classes: test_metrics.py's test_retrieval_evaluate_keys
    rng = np.random.default_rng(3)
    labels = np.repeat(np.arange(3), 5)
    x = rng.normal(size=(15, 4)) + labels[:, None]  # classes that overlap: MAP@R below 1
    out = retrieval_evaluate(x, labels)
    assert out["map_at_r"] == pytest.approx(map_at_r_reference(x, labels))
    assert 0 < out["map_at_r"] < 1


# ----------------------------------------------------------------------------- where they show


def test_tasks_name_the_field_metrics_beside_the_papers():
    from a3m.data.tasks import FIELD_METRICS, get_task, metric_label

    reid, retrieval = get_task("reid"), get_task("retrieval")
    assert reid.metrics[-1] == "mAP" and reid.primary == "mAP"  # the paper's, unchanged
    assert reid.field_metrics == ("mINP", "rerank_rank1", "rerank_mAP", "rerank_mINP")
    assert retrieval.field_metrics == ("map_at_r",)
    assert get_task("classification").field_metrics == ()
    assert reid.logged_metrics == reid.metrics + reid.field_metrics
    assert metric_label("rerank_mAP") == "mAP (re-ranked)" and metric_label("map_at_r") == "MAP@R"
    assert FIELD_METRICS == {"mINP", "rerank_rank1", "rerank_mAP", "rerank_mINP", "map_at_r"}


def _runs(dataset, metrics_by_run):
    import pandas as pd

    rows = []
    for i, metrics_of_run in enumerate(metrics_by_run):
        row = {"run_id": f"r{i}", "status": "FINISHED", "params.variant": "a3m",
               "params.seed": str(i), "params.dataset": dataset,
               "params.synthetic": "False"}  # fmt: skip
        rows.append(row | {f"metrics.{k}": v for k, v in metrics_of_run.items()})
    return pd.DataFrame(rows)


def test_market_table_shows_the_field_metrics_ours_only():
    from dashboards import tables

    paper_cols = {"rank1": 0.8, "rank5": 0.9, "rank10": 0.95, "rank20": 0.97, "mAP": 0.6}
    field = {"mINP": 0.2, "rerank_rank1": 0.82, "rerank_mAP": 0.7, "rerank_mINP": 0.4}
    runs = _runs("market1501", [paper_cols | field, paper_cols | field | {"mINP": 0.3}])
    table = tables.comparison_table(runs, 1)
    a3m = table[table["method"] == "A3M"].set_index("metric")
    assert list(a3m.index) == [*paper_cols, *field]
    assert a3m.loc["mINP", "ours"] == pytest.approx(25.0) and a3m.loc["mINP", "n_runs"] == 2
    assert a3m.loc[list(field), "paper"].isna().all() and a3m.loc[list(field), "diff"].isna().all()
    assert not table.loc[table["metric"].isin(list(field)), "best_paper"].any()
    fig = tables.comparison_figure(table)
    header = [h.replace("<b>", "").replace("</b>", "").replace("<br>", " ")
              for h in fig.data[0].header.values]  # fmt: skip
    assert "mINP ours (%)" in header and "mAP (re-ranked) ours (%)" in header
    assert "mINP paper (%)" not in header and "mINP Δ (points)" not in header
    assert "mAP Δ (points)" in header  # the paper's metrics keep their three columns
    assert "mINP" in tables.table_caption(runs, 1) and "re-ranked" in tables.table_caption(runs, 1)
    # Runs without them (logged before issue 27): the paper's columns only, no caption note.
    old = tables.comparison_table(_runs("market1501", [paper_cols]), 1)
    assert list(dict.fromkeys(old["metric"])) == list(paper_cols)
    assert "mINP" not in tables.table_caption(_runs("market1501", [paper_cols]), 1)


def test_retrieval_table_shows_map_at_r():
    from dashboards import tables

    metrics_of_run = {"recall_at_1": 0.6, "recall_at_2": 0.7, "recall_at_4": 0.8,
                      "recall_at_8": 0.9, "nmi": 0.65, "map_at_r": 0.25}  # fmt: skip
    table = tables.comparison_table(_runs("cars196", [metrics_of_run]), 5)
    a3m = table[table["method"] == "A3M"].set_index("metric")
    assert list(a3m.index)[-1] == "map_at_r" and a3m.loc["map_at_r", "ours"] == pytest.approx(25)
    assert "MAP@R" in tables.table_caption(_runs("cars196", [metrics_of_run]), 5)


def test_claims_stay_on_the_papers_metrics():
    import pandas as pd

    from a3m.data.tasks import FIELD_METRICS
    from dashboards.claims import PAPER_CLAIMS_CSV

    claims = pd.read_csv(PAPER_CLAIMS_CSV, comment="#")
    assert not set(claims["metric"]) & FIELD_METRICS


@pytest.mark.slow
@pytest.mark.parametrize(
    ("dataset", "size", "field"),
    [
        ("market1501", (128, 64), {"mINP", "rerank_rank1", "rerank_mAP", "rerank_mINP"}),
        ("cars196", (64, 64), {"map_at_r"}),
    ],
)
def test_fit_logs_the_field_metrics(dataset, size, field, tmp_path):
    from a3m.config import RunConfig
    from a3m.data.synthetic import write_synthetic
    from a3m.train import fit

    root = write_synthetic(dataset, tmp_path / "data", num_classes=6, images_per_class=6)
    cfg = RunConfig(dataset=dataset, data_root=str(root), backbone="tiny", d=32, input_size=size,
                    epochs=2, lr_drop_epochs=0, batch_size=16, lr=0.03, num_workers=0)  # fmt: skip
    first, last = fit(cfg, tmp_path / "run").history
    assert field <= last.keys() and all(0 <= last[k] <= 1 for k in field)
    # Re-ranking runs at the last evaluation only; mINP and MAP@R at every one.
    assert ("rerank_mAP" in first) is False
    assert ("mINP" in first) == (dataset == "market1501")
