"""The families the paper's claims are tested in (:mod:`dashboards.claims` defines them): each
comparison a claim needs is looked up in the study's own table (:func:`a3m.study.compare.compare`
against the study's reference, on its metric), else queued for the secondary family, where one
more ``compare`` puts Holm across all of them. Each comparison is counted once, either way
round, so none gets two p(Holm).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from a3m import stats
from a3m.data.tasks import primary_metric
from a3m.sequential import Inference
from a3m.study.compare import COMPARISON_COLUMNS, comparable, compare
from a3m.study.tracking import canonical
from dashboards.data import task_of

STUDY, SECONDARY = "study", "secondary"
VALUE = "claim_value"
"""The secondary pass's metric: each comparison's own, signed so higher is better, shifted."""


@dataclass
class Unit:
    """One comparison a claim needs: a candidate configuration against a reference one."""

    dataset: str
    metric: str
    cand: tuple[tuple[str, str], ...]  # the full configuration (canonical), as compare keys it
    ref: tuple[tuple[str, str], ...]
    cand_index: pd.Index
    ref_index: pd.Index


@dataclass
class Families:
    """Where each comparison's row comes from: the study's table, or the secondary pass."""

    runs: pd.DataFrame
    metric: str
    inference: Inference
    study: dict[tuple, dict[str, Any]] = field(default_factory=dict)
    study_size: int = 0
    secondary: list[Unit] = field(default_factory=list)
    secondary_rows: dict[tuple, dict[str, Any]] = field(default_factory=dict)
    secondary_size: int = 0
    _queued: set[tuple] = field(default_factory=set)

    @classmethod
    def of(cls, runs, comparisons, reference, metric, inference) -> Families:
        out = cls(runs, metric, inference)
        if comparisons is None or comparisons.empty or not reference:
            return out
        key = [c for c in comparisons.columns if c not in COMPARISON_COLUMNS]
        for row in comparisons.to_dict("records"):
            config = {k: canonical(row[k]) for k in key}
            counterpart = {
                **config,
                **{k: canonical(v) for k, v in reference.items() if k in config},
            }
            out.study[(frozen(config), frozen(counterpart))] = row
        out.study_size = int(np.isfinite(comparisons["p_value"].astype(float)).sum())
        return out

    def find(self, unit: Unit) -> tuple[dict[str, Any], str] | None:
        """The unit's row (candidate - reference) and family, once :meth:`run` has run."""
        for metric_ok, table, family in (
            (same_metric(unit.metric, unit.dataset, self.metric), self.study, STUDY),
            (True, self.secondary_rows, SECONDARY),
        ):
            if not metric_ok:
                continue
            for (cand, ref), flip in (
                ((unit.cand, unit.ref), False),
                ((unit.ref, unit.cand), True),
            ):
                row = table.get((cand, ref) if family == STUDY else (unit.metric, cand, ref))
                if row is not None:
                    return (reversed_row(row) if flip else row), family
        return None

    def add(self, unit: Unit) -> None:
        """Queue a comparison for the secondary pass unless a family has it already."""
        pairs = ((unit.cand, unit.ref), (unit.ref, unit.cand))
        if same_metric(unit.metric, unit.dataset, self.metric) and any(
            p in self.study for p in pairs
        ):
            return
        if not any((unit.metric, *p) in self._queued for p in pairs):
            self.secondary.append(unit)
            self._queued.add((unit.metric, unit.cand, unit.ref))

    def run(self) -> None:
        """One :func:`compare` over every secondary comparison: Holm across all of them.

        Each comparison becomes a configuration of a made-up study (``_claim=i``, ``_side``)
        whose metric is its own, signed so higher is better and shifted so that the worst value
        of its dataset's runs is 0 (with a 0 run that is never compared): the failures' worst
        case then scores a failed run as the worst value of its own dataset and metric."""
        if not self.secondary:
            return
        parts = []
        for i, unit in enumerate(self.secondary):
            col, sign = f"metrics.{unit.metric}", direction(unit.metric)
            usable, _ = comparable(of_dataset(self.runs, unit.dataset), unit.metric)
            worst = float((sign * usable[col].astype(float)).min()) if len(usable) else 0.0
            for side, index in (("candidate", unit.cand_index), ("reference", unit.ref_index)):
                part = self.runs.loc[index, [c for c in CARRIED if c in self.runs]].copy()
                values = self.runs.loc[index, col] if col in self.runs else np.nan
                part[f"metrics.{VALUE}"] = sign * pd.to_numeric(values) - worst
                parts.append(part.assign(**{"params._claim": f"c{i}", "params._side": side}))
        floor = pd.DataFrame([{"run_id": "", "status": "FINISHED", "params.seed": "0",
                               "params._claim": "floor", "params._side": "reference",
                               f"metrics.{VALUE}": 0.0}])  # fmt: skip
        frame = pd.concat(parts, ignore_index=True)
        if "start_time" in frame:
            floor["start_time"] = frame["start_time"].min()
        frame = pd.concat([frame, floor], ignore_index=True)
        table = compare(frame, {"_side": "reference"}, metric=VALUE, inference=self.inference)
        self.secondary_size = int(np.isfinite(table["p_value"].astype(float)).sum())
        for row in table.to_dict("records"):
            unit = self.secondary[int(str(row["_claim"]).removeprefix("c"))]
            key = (unit.metric, unit.cand, unit.ref)
            self.secondary_rows[key] = signed(row, direction(unit.metric))


CARRIED = ("run_id", "experiment_id", "status", "start_time", "params.seed",
            "tags.a3m.stopped_early", "tags.a3m.code")  # fmt: skip


def direction(metric: str) -> float:
    return 1.0 if stats.higher_is_better(metric) else -1.0


def signed(row: dict[str, Any], sign: float) -> dict[str, Any]:
    """A secondary row back in its metric's units (candidate - reference)."""
    out = dict(row)
    out["mean_diff"] = sign * row["mean_diff"]
    for low, high in (("ci_low", "ci_high"), ("worst_case_low", "worst_case_high")):
        out[low], out[high] = (row[low], row[high]) if sign > 0 else (-row[high], -row[low])
    return out


def reversed_row(row: dict[str, Any]) -> dict[str, Any]:
    """A comparison read the other way round: reference - candidate."""
    out = dict(row)
    out["mean_diff"] = -row["mean_diff"]
    for low, high in (("ci_low", "ci_high"), ("worst_case_low", "worst_case_high")):
        out[low], out[high] = -row[high], -row[low]
    out["p_ahead"] = 1 - row["p_ahead"]
    out["verdict"] = {stats.BETTER: stats.WORSE, stats.WORSE: stats.BETTER}.get(
        row["verdict"], row["verdict"]
    )
    out["candidate_runs"], out["reference_runs"] = row["reference_runs"], row["candidate_runs"]
    for text, (a, b) in (("failed", _SIDES), ("unpaired", _SIDES), ("verdict_note", _WAYS)):
        words = str(row[text] or "").split(a)
        out[text] = b.join(w.replace(b, a) for w in words)
    return out


_SIDES, _WAYS = ("candidate", "reference"), (stats.BETTER, stats.WORSE)


def same_metric(claimed: str, dataset: str, study_metric: str) -> bool:
    """Whether a claim's metric is the study's: the same name, or the study's ``score`` and the
    claim's dataset's primary metric (which ``score`` is)."""
    if claimed == study_metric:
        return True
    return study_metric == "score" and claimed == primary_metric(task_of(dataset))


def frozen(config: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(config.items()))


def of_dataset(runs: pd.DataFrame, dataset: str) -> pd.DataFrame:
    if runs.empty or "params.dataset" not in runs:
        return runs.iloc[0:0]
    return runs[runs["params.dataset"].map(canonical).eq(canonical(dataset))]
