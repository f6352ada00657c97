"""Evaluation metrics as pure functions of tensors/arrays (paper Sec. 4; the protocols:
docs/reproduction.md, "Evaluation protocols").

Every function takes torch tensors or NumPy arrays, knows nothing of models or files, and returns
Python numbers (or a dict of them). **All scores are fractions in [0, 1]**, never percent: multiply
by 100 to compare with the paper's tables.

- Classification (paper eq. 9, Tables 2-3, Fig. 8): :func:`accuracy` (top-1) and
  :func:`attribute_accuracy` (one score per attribute head, ``IGNORE_INDEX`` labels skipped).
- Person re-id (Table 1), the Market-1501 protocol: :func:`reid_evaluate` gives CMC rank-k,
  mAP and mINP. For each query, gallery items with the same person id AND the same camera are
  removed, and so are junk items (pid -1) for every query, as the official evaluation does; the
  same person seen by another camera is a hit; distractors (pid 0) stay in the gallery as wrong
  matches; a query with no hit left is skipped (and counted). AP follows the official
  Market-1501 code (``ap_mode="official"``, the default, a trapezoid rule) or torchreid /
  fast-reid (``"torchreid"``, the mean precision at the hits): see :data:`AP_MODES`.
- Retrieval (Tables 4-5): :func:`recall_at_k` (each item queries all the others) and :func:`nmi`
  (k-means with as many clusters as classes, then sklearn's arithmetic NMI);
  :func:`retrieval_evaluate` returns both.
- The field's metrics beside the paper's (docs/reproduction.md, "The field's metrics"): mINP in
  :func:`reid_evaluate`'s result; :func:`k_reciprocal_rerank` (Zhong et al.'s re-ranking, the
  numbers of the public code torchreid and fast-reid ship) and ``reid_evaluate(...,
  rerank=True)``; :func:`map_at_r` (MAP@R, as pytorch-metric-learning computes it), also in
  :func:`retrieval_evaluate`.

The expensive step (the query x gallery distance matrix and its sort) is done once per chunk of
queries, so Market-1501 (3,368 x 15,913 at d = 2048) fits in a laptop's memory; nothing loops over
the gallery in Python. A metric that is undefined on the given data is NaN with an
:class:`UndefinedMetricWarning`.

The package, one job per module: :mod:`~a3m.metrics.common` (input checks, the warning),
:mod:`~a3m.metrics.distances`, :mod:`~a3m.metrics.classification`, :mod:`~a3m.metrics.ranking`
(positions in a stable ranking, shared by re-id and MAP@R), :mod:`~a3m.metrics.reid`,
:mod:`~a3m.metrics.reranking` and :mod:`~a3m.metrics.retrieval`. Every public name is
re-exported here; a module constant that a metric reads at call time (such as
``reranking.RERANK_PAIR_BUDGET``) must be changed in its own module.
"""

from __future__ import annotations

from a3m.metrics.classification import ATTRIBUTE_MEAN_KEY, accuracy, attribute_accuracy
from a3m.metrics.common import DEFAULT_CHUNK_SIZE, UndefinedMetricWarning
from a3m.metrics.common import ArrayLike as ArrayLike  # the type aliases: public, not in __all__
from a3m.metrics.distances import DISTANCES, pairwise_distance
from a3m.metrics.distances import DistanceFn as DistanceFn
from a3m.metrics.reid import AP_MODES, JUNK_PID, ap_official, ap_torchreid, reid_evaluate
from a3m.metrics.reid import APTerm as APTerm
from a3m.metrics.reranking import RERANK_K1, RERANK_K2, RERANK_LAMBDA, k_reciprocal_rerank
from a3m.metrics.retrieval import map_at_r, nmi, recall_at_k, retrieval_evaluate

__all__ = [
    "AP_MODES",
    "ATTRIBUTE_MEAN_KEY",
    "DEFAULT_CHUNK_SIZE",
    "DISTANCES",
    "JUNK_PID",
    "RERANK_K1",
    "RERANK_K2",
    "RERANK_LAMBDA",
    "UndefinedMetricWarning",
    "accuracy",
    "ap_official",
    "ap_torchreid",
    "attribute_accuracy",
    "k_reciprocal_rerank",
    "map_at_r",
    "nmi",
    "pairwise_distance",
    "recall_at_k",
    "reid_evaluate",
    "retrieval_evaluate",
]
