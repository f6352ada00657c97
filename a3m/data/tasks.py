"""The three tasks of the paper and their evaluation protocols: one table for the trainer, the
leaderboards and the dashboards.

A dataset names its task in the registry (:mod:`a3m.data.registry`); the task says which splits
are evaluated, which metrics the protocol reports and which of them is the primary one, logged
as ``score`` and ranking a study's configurations (docs/reproduction.md, "Evaluation protocols").
Plain data without torch: the config, the trainer, the leaderboard and the dashboards read it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "FIELD_METRICS",
    "METRIC_LABELS",
    "RERANKED",
    "RERANK_PREFIX",
    "TASKS",
    "Task",
    "get_task",
    "metric_label",
    "primary_metric",
]

RERANK_PREFIX = "rerank_"
"""Prefix of the re-id metrics computed on k-reciprocal re-ranked distances
(:func:`a3m.metrics.k_reciprocal_rerank`): ``rerank_mAP`` is the mAP after re-ranking."""

RERANKED: tuple[str, ...] = ("rank1", "mAP", "mINP")
"""The re-id metrics the trainer also logs re-ranked, as ``rerank_<name>``."""


@dataclass(frozen=True)
class Task:
    """A task and its evaluation protocol.

    Attributes:
        name: ``"classification"``, ``"reid"`` or ``"retrieval"``.
        primary: the metric that picks the best epoch and ranks the studies (logged as
            ``score``); one of ``metrics``.
        metrics: the protocol's metrics in the paper's column order (re-id's primary, mAP,
            comes last there), the primary one included.
        eval_splits: the splits :func:`a3m.evaluation.evaluate` reads, in the protocol's order.
        field_metrics: what the field reports today beside the paper's metrics (issue 27:
            mINP and the re-ranked figures for re-id, MAP@R for retrieval): logged by the
            trainer, shown by the leaderboards and the report's tables, never a claim's
            metric nor the primary one. Higher is better for all of them.
    """

    name: str
    primary: str
    metrics: tuple[str, ...]
    eval_splits: tuple[str, ...]
    field_metrics: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.primary not in self.metrics:
            raise ValueError(f"task {self.name}: primary metric {self.primary!r} not in metrics")
        if set(self.field_metrics) & set(self.metrics):
            raise ValueError(f"task {self.name}: a field metric is one of the paper's metrics")

    @property
    def logged_metrics(self) -> tuple[str, ...]:
        """The paper's metrics, then the field's: every evaluation metric the trainer logs
        (classification's per-attribute accuracies aside)."""
        return self.metrics + self.field_metrics


TASKS: dict[str, Task] = {
    "classification": Task(
        "classification",
        primary="accuracy",
        metrics=("accuracy", "category_accuracy", "attr_acc/mean"),
        eval_splits=("test",),
    ),
    "reid": Task(
        "reid",
        primary="mAP",
        metrics=("rank1", "rank5", "rank10", "rank20", "mAP"),
        eval_splits=("query", "gallery"),
        field_metrics=("mINP", *(RERANK_PREFIX + m for m in RERANKED)),
    ),
    "retrieval": Task(
        "retrieval",
        primary="recall_at_1",
        metrics=("recall_at_1", "recall_at_2", "recall_at_4", "recall_at_8", "nmi"),
        eval_splits=("test",),
        field_metrics=("map_at_r",),
    ),
}
"""Task name -> :class:`Task`, in the order of the paper's tables (classification first)."""

METRIC_LABELS: dict[str, str] = {
    "score": "score",
    "accuracy": "accuracy",
    "category_accuracy": "category accuracy (eq. 1)",
    "attr_acc/mean": "mean attribute accuracy",
    "rank1": "rank-1",
    "rank5": "rank-5",
    "rank10": "rank-10",
    "rank20": "rank-20",
    "mAP": "mAP",
    "recall_at_1": "R@1",
    "recall_at_2": "R@2",
    "recall_at_4": "R@4",
    "recall_at_8": "R@8",
    "nmi": "NMI",
    "mINP": "mINP",
    "rerank_rank1": "rank-1 (re-ranked)",
    "rerank_mAP": "mAP (re-ranked)",
    "rerank_mINP": "mINP (re-ranked)",
    "map_at_r": "MAP@R",
}
"""Metric name -> the label the paper (or, for the field's metrics, the field) uses; all these
metrics are fractions in [0, 1]."""

FIELD_METRICS: frozenset[str] = frozenset(m for t in TASKS.values() for m in t.field_metrics)
"""Every task's field metrics (:attr:`Task.field_metrics`): none of them has a paper value."""


def get_task(name: str) -> Task:
    """The :class:`Task` called ``name``; ``ValueError`` listing the valid names if unknown."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; valid tasks: {', '.join(TASKS)}")
    return TASKS[name]


def primary_metric(task: str) -> str:
    """The metric that decides the best epoch and the studies' ranking for a task."""
    return get_task(task).primary


def metric_label(metric: str) -> str:
    """The paper's name of a metric (``rank1`` -> ``rank-1``; ``attr_acc/x`` -> ``x``)."""
    return METRIC_LABELS.get(metric, metric.removeprefix("attr_acc/"))
