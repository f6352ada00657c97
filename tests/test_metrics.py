"""Tests of a3m.metrics on hand-computed fixtures and against straightforward NumPy references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import normalized_mutual_info_score

from a3m.data.base import IGNORE_INDEX
from a3m.metrics import (
    AP_MODES,
    ATTRIBUTE_MEAN_KEY,
    UndefinedMetricWarning,
    accuracy,
    attribute_accuracy,
    nmi,
    pairwise_distance,
    ranking,
    recall_at_k,
    reid_evaluate,
    retrieval_evaluate,
)

# ----------------------------------------------------------------------------- references


def ap_reference(good, ap_mode):
    """AP of one ranking (``good``: bool per kept item, best first), written from each source."""
    if ap_mode == "torchreid":
        hit_ranks = np.flatnonzero(good) + 1
        return float(np.mean(np.arange(1, len(hit_ranks) + 1) / hit_ranks))
    # Market-1501's compute_AP.m line by line, junk already removed from the ranking.
    n_good = int(good.sum())
    old_recall, old_precision, ap, hits = 0.0, 1.0, 0.0, 0
    for j, is_good in enumerate(good):
        hits += int(is_good)
        recall, precision = hits / n_good, hits / (j + 1)
        ap += (recall - old_recall) * (old_precision + precision) / 2
        old_recall, old_precision = recall, precision
        if hits == n_good:
            break
    return ap


def reid_reference(
    qf, q_pids, q_cams, gf, g_pids, g_cams, ranks, metric="euclidean", ap_mode="official"
):
    """Per-query NumPy implementation of the Market-1501 protocol, written from the text."""
    if metric == "cosine":
        qf = qf / np.linalg.norm(qf, axis=1, keepdims=True)
        gf = gf / np.linalg.norm(gf, axis=1, keepdims=True)
    cmc_hits = np.zeros(len(ranks))
    aps = []
    for i in range(len(qf)):
        if metric == "euclidean":
            d = np.linalg.norm(gf - qf[i], axis=1)
        else:
            d = 1.0 - gf @ qf[i]
        order = np.argsort(d, kind="stable")
        keep = ~((g_pids[order] == q_pids[i]) & (g_cams[order] == q_cams[i]))
        keep &= g_pids[order] != -1  # junk
        good = g_pids[order][keep] == q_pids[i]
        if not good.any():
            continue
        first = int(np.flatnonzero(good)[0]) + 1
        cmc_hits += [first <= k for k in ranks]
        aps.append(ap_reference(good, ap_mode))
    n = len(aps)
    out = {f"rank{k}": cmc_hits[j] / n for j, k in enumerate(ranks)}
    out["mAP"] = float(np.mean(aps))
    out["num_valid_queries"] = n
    return out


def recall_reference(x, labels, ks):
    """Per-query NumPy Recall@K: sort all others by Euclidean distance."""
    n = len(x)
    hits = np.zeros(len(ks))
    for i in range(n):
        d = np.linalg.norm(x - x[i], axis=1)
        d[i] = np.inf
        nearest = labels[np.argsort(d, kind="stable")]
        hits += [(nearest[:k] == labels[i]).any() for k in ks]
    return {f"recall_at_{k}": hits[j] / n for j, k in enumerate(ks)}


def random_reid(seed, n_q=40, n_g=150, d=16, n_ids=12, n_cams=3, n_junk=0):
    """Random re-id data with identity structure, distractors (pid 0), the last ``n_junk``
    gallery items junk (pid -1), and float64 features."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_ids + 1, d))
    q_pids = rng.integers(1, n_ids + 1, n_q)
    g_pids = rng.integers(0, n_ids + 1, n_g)
    q_cams, g_cams = rng.integers(0, n_cams, n_q), rng.integers(0, n_cams, n_g)
    # Person 1 is seen by camera 0 only: its queries have no valid match and are skipped.
    q_cams[q_pids == 1], g_cams[g_pids == 1] = 0, 0
    qf = centres[q_pids] + rng.normal(scale=1.2, size=(n_q, d))
    gf = centres[g_pids] + rng.normal(scale=1.2, size=(n_g, d))
    # Junk features near random identities: they would often rank first if they were kept.
    g_pids[n_g - n_junk :] = -1
    return qf, q_pids, q_cams, gf, g_pids, g_cams


# ----------------------------------------------------------------------------- classification


def test_accuracy_hand_case():
    logits = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 0.0, 5.0], [4.0, 0.0, 0.0]])
    assert accuracy(logits, [0, 1, 1, 2]) == pytest.approx(0.5)
    assert accuracy(torch.tensor(logits), torch.tensor([0, 1, 2, 0])) == 1.0
    # Unknown labels are left out: 2 correct of 3 known.
    assert accuracy(logits, [0, IGNORE_INDEX, 2, 1]) == pytest.approx(2 / 3)


def test_accuracy_no_label_is_nan_with_warning():
    with pytest.warns(UndefinedMetricWarning):
        assert math.isnan(accuracy(np.zeros((2, 3)), [IGNORE_INDEX, IGNORE_INDEX]))


def test_accuracy_bad_shapes():
    with pytest.raises(ValueError, match="logits"):
        accuracy(np.zeros(3), [0, 1, 2])
    with pytest.raises(ValueError, match="labels"):
        accuracy(np.zeros((3, 2)), [0, 1])


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_accuracy_refuses_non_finite_logits(bad):
    # Without the check, argmax picks the NaN (index 0 here) and scores 2 of 3 right.
    logits = torch.tensor([[0.0, 1.0], [bad, 0.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match="1 of 3 rows"):
        accuracy(logits, [1, 0, 1])
    # An unlabelled NaN row is refused too: the model that produced it is broken.
    two_bad = np.array([[bad, 0.0], [0.0, bad], [1.0, 0.0]])
    with pytest.raises(ValueError, match="2 of 3 rows"):
        accuracy(two_bad, [IGNORE_INDEX, 1, 0])


def test_attribute_accuracy_refuses_non_finite_logits_naming_the_head():
    good, bad = np.eye(2), np.array([[1.0, 0.0], [math.nan, math.nan]])
    targets = np.array([[0, 0], [1, 1]])
    with pytest.raises(ValueError, match=r"attribute head 1 \('wings'\).*1 of 2 rows"):
        attribute_accuracy([good, bad], targets, ["beak", "wings"])
    with pytest.raises(ValueError, match=r"attribute head 1 \('attr1'\)"):
        attribute_accuracy([good, bad], targets)


def test_attribute_accuracy_unknown_and_all_unknown():
    u = IGNORE_INDEX
    logits = [
        torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]),  # predicts 0 1 0 1
        torch.tensor([[0.0, 0.0, 1.0]] * 4),  # predicts 2
        torch.tensor([[1.0, 0.0]] * 4),
    ]
    targets = torch.tensor([[0, 2, u], [1, u, u], [1, 1, u], [u, 2, u]])
    with pytest.warns(UndefinedMetricWarning, match="'colour'"):
        out = attribute_accuracy(logits, targets, ["shape", "size", "colour"])
    assert list(out) == ["shape", "size", "colour", ATTRIBUTE_MEAN_KEY]
    assert out["shape"] == pytest.approx(2 / 3)  # 3 known, 2 right
    assert out["size"] == pytest.approx(2 / 3)
    assert math.isnan(out["colour"])
    assert out[ATTRIBUTE_MEAN_KEY] == pytest.approx(2 / 3)  # NaN left out


def test_attribute_accuracy_default_names_and_errors():
    logits = [np.eye(2), np.eye(2)]
    out = attribute_accuracy(logits, np.array([[0, 1], [1, 1]]))
    assert out == {"attr0": 1.0, "attr1": 0.5, ATTRIBUTE_MEAN_KEY: 0.75}
    with pytest.raises(ValueError, match="shape"):
        attribute_accuracy(logits, np.zeros((2, 3), dtype=int))
    with pytest.raises(ValueError, match="names"):
        attribute_accuracy(logits, np.zeros((2, 2), dtype=int), ["a"])


# ----------------------------------------------------------------------------- re-id


def test_reid_hand_case_cmc_and_ap():
    # Query: person 1, camera 0. Gallery ranked (1,c0) (2,c1) (1,c1) (3,c0) (1,c2) (0,c1) by
    # placing item j at distance j + 1 on a line. After removing (1,c0): miss, hit at rank 2,
    # miss, hit at rank 4, distractor -> CMC 0,1,1,1,1. AP torchreid: (1/2 + 2/4) / 2 = 1/2;
    # official: ((0 + 1/2)/2 + (1/3 + 2/4)/2) / 2 = (1/4 + 5/12) / 2 = 1/3.
    gf = np.arange(1.0, 7.0)[:, None]
    g_pids, g_cams = [1, 2, 1, 3, 1, 0], [0, 1, 1, 0, 2, 1]
    rng = np.random.default_rng(0)
    perm = rng.permutation(6)  # gallery order must not matter
    for metric, qf in [("euclidean", np.zeros((1, 1))), ("cosine", None)]:
        if metric == "cosine":
            # Angles 0.1, 0.2, ... rad from the query direction: same ranking under cosine.
            angles = 0.1 * np.arange(1.0, 7.0)
            gf_m, qf = np.stack([np.cos(angles), np.sin(angles)], 1), np.array([[1.0, 0.0]])
        else:
            gf_m = gf
        out = reid_evaluate(
            qf,
            [1],
            [0],
            gf_m[perm],
            np.array(g_pids)[perm],
            np.array(g_cams)[perm],
            ranks=(1, 2, 3, 4, 5),
            metric=metric,
        )
        cmc = [out[f"rank{k}"] for k in range(1, 6)]
        assert cmc == [0.0, 1.0, 1.0, 1.0, 1.0], metric
        assert out["mAP"] == pytest.approx(1 / 3), metric  # official, the default
        assert out["num_valid_queries"] == 1 and out["num_skipped_queries"] == 0
        args = (qf, [1], [0], gf_m[perm], np.array(g_pids)[perm], np.array(g_cams)[perm])
        torchreid = reid_evaluate(*args, ranks=(1, 2, 3, 4, 5), metric=metric, ap_mode="torchreid")
        assert torchreid["mAP"] == pytest.approx(0.5), metric
        assert {k: v for k, v in torchreid.items() if k != "mAP"} == {
            k: v for k, v in out.items() if k != "mAP"
        }  # CMC does not depend on the AP definition


def test_reid_skips_query_without_valid_match():
    gf = np.array([[0.0], [1.0], [2.0]])
    g_pids, g_cams = [1, 2, 2], [0, 0, 1]
    # Query A (pid 1, cam 0): its only gallery image is in its own camera -> skipped.
    # Query B (pid 2, cam 0): gallery (2,c0) removed, (2,c1) at rank 2 -> AP official
    # (0 + 1/2) / 2 = 1/4, torchreid 1/2.
    args = ([[0.1], [0.9]], [1, 2], [0, 0], gf, g_pids, g_cams)
    out = reid_evaluate(*args, ranks=(1, 2))
    assert out["num_skipped_queries"] == 1 and out["num_valid_queries"] == 1
    assert out["rank1"] == 0.0 and out["rank2"] == 1.0
    assert out["mAP"] == pytest.approx(0.25)
    assert reid_evaluate(*args, ap_mode="torchreid")["mAP"] == pytest.approx(0.5)


def test_reid_all_skipped_is_nan_with_warning():
    with pytest.warns(UndefinedMetricWarning):
        out = reid_evaluate([[0.0]], [1], [0], [[1.0]], [1], [0])
    assert math.isnan(out["rank1"]) and math.isnan(out["mAP"])
    assert out["num_skipped_queries"] == 1


def test_reid_distractors_are_wrong_matches():
    # Distractors (pid 0) closer than the true match push it to rank 3: AP official
    # (0 + 1/3) / 2 = 1/6, torchreid 1/3.
    gf = np.array([[1.0], [2.0], [3.0]])
    args = ([[0.0]], [5], [0], gf, [0, 0, 5], [1, 2, 1])
    out = reid_evaluate(*args, ranks=(1, 3))
    assert out["rank1"] == 0.0 and out["rank3"] == 1.0
    assert out["mAP"] == pytest.approx(1 / 6)
    assert reid_evaluate(*args, ap_mode="torchreid")["mAP"] == pytest.approx(1 / 3)


# One query (pid 5, camera 0) at 0, gallery items at distances 1, 2, 3 in camera 1: which are
# person 5 (else distractors) and the AP by hand of each definition.
AP_HAND_CASES = {
    # one hit at rank 1: official (1 + 1/1) / 2 = 1 (precision "before" rank 1 is 1)
    "one hit at rank 1": ([5, 0, 0], 1.0, 1.0),
    # one hit at rank 2: official (0/1 + 1/2) / 2 = 1/4; torchreid 1/2
    "one hit at rank 2": ([0, 5, 0], 0.25, 0.5),
    # hits at ranks 1 and 3: official ((1 + 1/1)/2 + (1/2 + 2/3)/2) / 2 = (1 + 7/12) / 2 = 19/24;
    # torchreid (1/1 + 2/3) / 2 = 5/6
    "hits at ranks 1 and 3": ([5, 0, 5], 19 / 24, 5 / 6),
}


@pytest.mark.parametrize("case", list(AP_HAND_CASES))
def test_reid_ap_modes_hand_cases(case):
    g_pids, official, torchreid = AP_HAND_CASES[case]
    gf = np.array([[1.0], [2.0], [3.0]])
    # A second query (pid 7) has no match in the gallery: skipped, left out of the mean.
    args = ([[0.0], [0.0]], [5, 7], [0, 0], gf, g_pids, [1, 1, 1])
    for ap_mode, expected in (("official", official), ("torchreid", torchreid)):
        out = reid_evaluate(*args, ranks=(1,), ap_mode=ap_mode, chunk_size=1)
        assert out["mAP"] == pytest.approx(expected, abs=1e-15), ap_mode
        assert out["num_valid_queries"] == 1 and out["num_skipped_queries"] == 1
        hit_ranks = np.flatnonzero(np.array(g_pids) == 5) + 1.0
        ranking = np.array(g_pids) == 5
        assert ap_reference(ranking, ap_mode) == pytest.approx(expected, abs=1e-15), ap_mode
        k = torch.arange(1.0, len(hit_ranks) + 1, dtype=torch.float64)
        term = AP_MODES[ap_mode](k, torch.from_numpy(hit_ranks))
        assert float(term.mean()) == pytest.approx(expected, abs=1e-15), ap_mode
    assert reid_evaluate(*args, ap_mode="official")["mAP"] <= torchreid  # official never higher


def test_reid_junk_pid_is_removed_from_rankings():
    # Query pid 5, camera 0. The item at distance 1 ranks above the true match (distance 2):
    # as a distractor (pid 0) it is a wrong match, rank-1 0; as junk (pid -1) it is removed,
    # so the match is at rank 1: rank-1 1 and AP 1 (official and torchreid alike).
    gf, qf = np.array([[1.0], [2.0]]), np.zeros((1, 1))
    distractor = reid_evaluate(qf, [5], [0], gf, [0, 5], [1, 1], ranks=(1, 2))
    assert distractor["rank1"] == 0.0 and distractor["rank2"] == 1.0
    junk = reid_evaluate(qf, [5], [0], gf, [-1, 5], [1, 1], ranks=(1, 2))
    assert junk["rank1"] == 1.0 and junk["mAP"] == 1.0
    # A junk query has no match left: skipped, not scored against other junk.
    with pytest.warns(UndefinedMetricWarning):
        junk_query = reid_evaluate(qf, [-1], [0], gf, [-1, -1], [1, 1])
    assert junk_query["num_skipped_queries"] == 1


@pytest.mark.parametrize("ap_mode", sorted(AP_MODES))
def test_reid_junk_equals_gallery_without_it(ap_mode):
    qf, qp, qc, gf, gp, gc = random_reid(5, n_junk=40)
    out = reid_evaluate(qf, qp, qc, gf, gp, gc, chunk_size=8, ap_mode=ap_mode)
    kept = gp != -1
    without = reid_evaluate(qf, qp, qc, gf[kept], gp[kept], gc[kept], ap_mode=ap_mode)
    assert out == pytest.approx(without, abs=1e-14)
    # Junk kept as wrong matches (relabelled as distractors) would lower the scores.
    as_distractors = reid_evaluate(qf, qp, qc, gf, np.where(kept, gp, 0), gc, ap_mode=ap_mode)
    assert as_distractors["mAP"] < out["mAP"]


def test_reid_ties_follow_gallery_order():
    # Both gallery items at distance 1 from the query: the first in gallery order ranks first.
    gf, qf = np.array([[-1.0], [1.0]]), np.zeros((1, 1))
    miss_first = reid_evaluate(qf, [1], [0], gf, [2, 1], [1, 1], ranks=(1,), ap_mode="torchreid")
    assert miss_first["rank1"] == 0.0 and miss_first["mAP"] == pytest.approx(0.5)
    hit_first = reid_evaluate(qf, [1], [0], gf, [1, 2], [1, 1], ranks=(1,))
    assert hit_first["rank1"] == 1.0 and hit_first["mAP"] == pytest.approx(1.0)
    # A junk item (same person, same camera) tied before the hit is removed, not counted.
    junk_tie = reid_evaluate(qf, [1], [0], gf, [1, 1], [0, 1], ranks=(1,))
    assert junk_tie["rank1"] == 1.0 and junk_tie["mAP"] == pytest.approx(1.0)


@pytest.mark.parametrize("ap_mode", sorted(AP_MODES))
@pytest.mark.parametrize("collapsed", [False, True])
def test_reid_many_ties_match_stable_reference(collapsed, ap_mode, monkeypatch):
    # Small integer features make many exactly equal distances; 64 gallery items keep the
    # centring mean dyadic, so every distance is exact and ties are real ties. Collapsed: all
    # features equal (an untrained model), every item ties with every other.
    monkeypatch.setattr(ranking, "_TIE_BLOCK", 5)  # resolve ties in several blocks
    rng = np.random.default_rng(9)
    qf, gf = rng.integers(0, 3, (30, 2)).astype(float), rng.integers(0, 3, (64, 2)).astype(float)
    if collapsed:
        qf, gf = np.ones_like(qf), np.ones_like(gf)
    q_pids, g_pids = rng.integers(1, 5, 30), rng.integers(0, 5, 64)
    q_cams, g_cams = rng.integers(0, 2, 30), rng.integers(0, 2, 64)
    data = (qf, q_pids, q_cams, gf, g_pids, g_cams)
    ranks = (1, 2, 3, 5, 10)
    out = reid_evaluate(*data, ranks=ranks, chunk_size=7, ap_mode=ap_mode)
    ref = reid_reference(*data, ranks, ap_mode=ap_mode)
    for key in [f"rank{k}" for k in ranks] + ["mAP", "num_valid_queries"]:
        assert out[key] == pytest.approx(ref[key], abs=1e-12), key


def test_reid_empty_gallery_skips_everything():
    with pytest.warns(UndefinedMetricWarning):
        out = reid_evaluate(np.zeros((2, 3)), [1, 2], [0, 0], np.zeros((0, 3)), [], [])
    assert out["num_skipped_queries"] == 2 and math.isnan(out["mAP"])


def test_reid_cosine_and_euclidean_rank_differently():
    # g0 is parallel to the query but far; g1 is close but at an angle.
    qf = np.array([[1.0, 0.0]])
    gf = np.array([[10.0, 0.0], [1.0, 0.5]])
    args = ([1], [0], gf, [1, 2], [1, 1])
    eu = reid_evaluate(qf, *args, ranks=(1,), metric="euclidean")
    co = reid_evaluate(qf, *args, ranks=(1,), metric="cosine")
    assert eu["rank1"] == 0.0 and eu["mAP"] == pytest.approx(0.25)  # official AP, hit at 2
    assert co["rank1"] == 1.0 and co["mAP"] == pytest.approx(1.0)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_reid_chunked_equals_unchunked(metric):
    data = random_reid(1)
    full = reid_evaluate(*data, metric=metric, chunk_size=len(data[0]))
    for chunk in (1, 7, 16):  # 7 and 16 do not divide 40
        out = reid_evaluate(*data, metric=metric, chunk_size=chunk)
        # CMC and counts exactly; mAP up to float64 summation order (padding width varies).
        assert {k: v for k, v in out.items() if k != "mAP"} == {
            k: v for k, v in full.items() if k != "mAP"
        }
        assert out["mAP"] == pytest.approx(full["mAP"], abs=1e-14)


@pytest.mark.parametrize("ap_mode", sorted(AP_MODES))
@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize(("seed", "n_junk"), [(2, 0), (3, 30)])
def test_reid_matches_numpy_reference(metric, seed, n_junk, ap_mode):
    data = random_reid(seed, n_junk=n_junk)
    ranks = (1, 2, 5, 10)
    out = reid_evaluate(*data, ranks=ranks, metric=metric, chunk_size=9, ap_mode=ap_mode)
    ref = reid_reference(*data, ranks, metric=metric, ap_mode=ap_mode)
    assert out["num_skipped_queries"] > 0  # the fixture exercises skipping
    assert out["num_valid_queries"] == ref["num_valid_queries"]
    for key in [f"rank{k}" for k in ranks] + ["mAP"]:
        assert out[key] == pytest.approx(ref[key], abs=1e-12), key


def test_reid_float32_torch_input_matches_reference():
    qf, qp, qc, gf, gp, gc = random_reid(4)
    out = reid_evaluate(
        torch.tensor(qf, dtype=torch.float32),
        torch.tensor(qp),
        torch.tensor(qc),
        torch.tensor(gf, dtype=torch.float32),
        torch.tensor(gp),
        torch.tensor(gc),
    )
    ref = reid_reference(qf, qp, qc, gf, gp, gc, (1, 5, 10, 20))
    assert out["rank1"] == pytest.approx(ref["rank1"])
    assert out["mAP"] == pytest.approx(ref["mAP"], abs=1e-6)


def test_reid_bad_arguments():
    data = random_reid(0, n_q=3, n_g=5)
    with pytest.raises(ValueError, match="valid"):
        reid_evaluate(*data, metric="manhattan")
    with pytest.raises(ValueError, match="chunk_size"):
        reid_evaluate(*data, chunk_size=0)
    with pytest.raises(ValueError, match="ap_mode 'voc'; valid: \\['official', 'torchreid'\\]"):
        reid_evaluate(*data, ap_mode="voc")
    with pytest.raises(ValueError, match="ranks"):
        reid_evaluate(*data, ranks=(0,))
    with pytest.raises(ValueError, match="query_pids"):
        reid_evaluate(data[0], data[1][:2], *data[2:])
    with pytest.raises(ValueError, match="feature dims"):
        reid_evaluate(data[0][:, :3], *data[1:])


def test_pairwise_distance():
    x, y = np.array([[0.0, 0.0], [3.0, 4.0]]), np.array([[3.0, 0.0]])
    assert pairwise_distance(x, y).numpy() == pytest.approx(np.array([[3.0], [4.0]]))
    cos = pairwise_distance(x[1:], y, metric="cosine").item()
    assert cos == pytest.approx(1 - 3 / 5)


# ----------------------------------------------------------------------------- retrieval


def test_recall_at_k_hand_case():
    # 1-D points with classes: 0(a) 1(b) 3(a) 4.5(b) 10(b). Nearest others of each point:
    #   0 -> 1(b) 3(a): first same-class at 2;   1 -> 0(a) 3(a) 4.5(b): at 3;
    #   3 -> 4.5(b) 1(b) 0(a): at 3;           4.5 -> 3(a) 1(b): at 2;   10 -> 4.5(b): at 1.
    x = np.array([[0.0], [1.0], [3.0], [4.5], [10.0]])
    labels = np.array([0, 1, 0, 1, 1])
    out = recall_at_k(x, labels, ks=(1, 2, 3, 4))
    assert out == {
        "recall_at_1": pytest.approx(1 / 5),
        "recall_at_2": pytest.approx(3 / 5),
        "recall_at_3": pytest.approx(1.0),
        "recall_at_4": pytest.approx(1.0),
    }
    # Chunk size does not matter, the query is never its own neighbour.
    assert recall_at_k(x, labels, ks=(1, 2, 3, 4), chunk_size=2) == out


def test_recall_at_k_duplicates_count_but_self_does_not():
    x = np.array([[0.0], [0.0], [5.0]])
    out = recall_at_k(x, [0, 0, 1], ks=(1, 2))
    assert out["recall_at_1"] == pytest.approx(2 / 3)  # the lone class-1 point never hits
    assert out["recall_at_2"] == pytest.approx(2 / 3)


def test_recall_at_k_too_large_k_is_nan():
    with pytest.warns(UndefinedMetricWarning):
        out = recall_at_k(np.zeros((3, 2)), [0, 0, 1], ks=(1, 4))
    assert out["recall_at_1"] == pytest.approx(2 / 3) and math.isnan(out["recall_at_4"])


@pytest.mark.parametrize("chunk", [1, 13, 1024])
def test_recall_at_k_matches_numpy_reference(chunk):
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 10, 60)
    x = rng.normal(size=(10, 8))[labels] + rng.normal(scale=1.5, size=(60, 8))
    ks = (1, 2, 4, 8)
    out = recall_at_k(x, labels, ks, chunk_size=chunk)
    ref = recall_reference(x, labels, ks)
    assert out == pytest.approx(ref)


def test_recall_at_k_cosine_ignores_norm():
    rng = np.random.default_rng(6)
    labels = rng.integers(0, 4, 30)
    x = rng.normal(size=(30, 5))
    scaled = x * rng.uniform(0.1, 10.0, size=(30, 1))
    a = recall_at_k(x, labels, metric="cosine")
    assert recall_at_k(scaled, labels, metric="cosine") == pytest.approx(a)


def test_nmi_perfect_and_against_sklearn():
    rng = np.random.default_rng(7)
    clusters = np.repeat(np.arange(4), 10)
    centres = np.array([[0.0, 0.0], [100.0, 0.0], [0.0, 100.0], [100.0, 100.0]])
    x = centres[clusters] + rng.normal(scale=0.5, size=(40, 2))
    # Labels equal to the clusters (renamed): perfect clustering.
    assert nmi(x, (clusters + 3) % 4) == pytest.approx(1.0)
    # Noisy labels: k-means still finds the 4 blobs, so NMI equals sklearn's on the blobs.
    labels = clusters.copy()
    labels[rng.choice(40, 12, replace=False)] = rng.integers(0, 4, 12)
    expected = normalized_mutual_info_score(labels, clusters, average_method="arithmetic")
    assert nmi(x, labels, n_clusters=4) == pytest.approx(expected)
    assert nmi(torch.tensor(x, dtype=torch.float32), torch.tensor(labels)) == pytest.approx(
        expected
    )


def test_nmi_undefined_is_nan():
    with pytest.warns(UndefinedMetricWarning):
        assert math.isnan(nmi(np.zeros((2, 2)), [0, 1], n_clusters=3))


def test_retrieval_evaluate_keys():
    rng = np.random.default_rng(8)
    labels = np.repeat(np.arange(3), 5)
    x = rng.normal(size=(3, 4))[labels] * 10 + rng.normal(size=(15, 4))
    out = retrieval_evaluate(x, labels)
    assert list(out) == ["recall_at_1", "recall_at_2", "recall_at_4", "recall_at_8", "nmi",
                         "map_at_r"]  # fmt: skip
    assert out["recall_at_1"] == 1.0 and out["nmi"] == pytest.approx(1.0)
    assert out["map_at_r"] == pytest.approx(1.0)
