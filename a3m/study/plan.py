"""A study's plan: everything decided before anything launches, in one typed value.

The study's flags are parsed once and resolved here (by :func:`a3m.study.runner.plan_study`)
into the configurations it trains, its seeds, the resources a trial asks for, the reference
it compares with, how it searches and where it writes. The runner only turns a plan into Ray
Tune, Optuna and MLflow calls; what an invocation trains (:mod:`a3m.study.grow`) and
``--seeds auto`` read the plan, never the command line. ``--dry-run`` prints it
(:meth:`StudyPlan.describe`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from a3m.config import RunConfig
from a3m.sequential import Inference
from a3m.study.seeds import AutoSeeds
from a3m.study.spec import StudySpec


@dataclass(frozen=True)
class Resources:
    """What each trial asks of Ray, and which Ray it runs on."""

    address: str | None = None  # --address; None: $RAY_ADDRESS, else a local Ray of its own
    gpus_per_trial: float | None = None  # None: 1 where the cluster has GPUs, else 0
    cpus_per_trial: float | None = None  # None: the GPU nodes' CPUs per GPU, else 1
    max_failures: int = 2  # retries of a trial lost with its process or node


@dataclass(frozen=True)
class Search:
    """How the trials are chosen and stopped."""

    optuna_space: dict[str, Any] | None  # None: a grid over the study's axes and seeds
    num_samples: int  # Optuna's trials (a grid: its points, as Tune counts them)
    scheduler: str  # fifo or asha
    axes: tuple[str, ...]  # the fields the study varies (they name its trials)

    @property
    def is_grid(self) -> bool:
        return self.optuna_space is None


@dataclass
class StudyPlan:
    """Everything decided before anything launches (flags parsed once, checks passed)."""

    spec: StudySpec
    base: dict[str, Any]  # the RunConfig overrides every trial shares
    reference: dict[str, Any] | None
    fingerprints: dict[str, str]  # dataset -> fingerprint of the copy the trials read
    experiment: str
    tracking_uri: str
    optuna_storage: str | None
    storage: str  # Tune's storage path (absolute when local)
    tune_path: str  # this study's folder under it
    command: str  # the command line, credentials redacted
    out_dir: Path  # where the leaderboard (and the report) go: --out / experiment
    search: Search
    resources: Resources = field(default_factory=Resources)
    seeds: int = 1  # seeds per configuration (with --seeds auto: the schedule's first look)
    synthetic: bool = False
    resume: str | None = None  # the Tune folder an interrupted study continues from
    rerun: bool = False  # train every trial again, finished or not
    reuse_older_code: bool = False  # reuse and continue runs of another code too
    dry_run: bool = False  # made-up metrics (a3m.study.dry_run), nothing trained
    smoke_test: bool = False  # the first and last grid trials only, one epoch
    verbose: bool = False  # Tune's and Ray's own output instead of one line per trial
    system_metrics: bool | None = None  # None: on GPU trials only
    launch: dict[str, str] = field(default_factory=dict)  # what --resume must launch again
    auto: AutoSeeds | None = None  # --seeds auto
    inference: Inference = field(default_factory=Inference)  # how its verdicts are decided

    @property
    def epochs(self) -> int:
        return RunConfig.from_flat_dict(self.base).epochs

    def describe(self) -> str:
        """What the study will do, in a few lines (``--dry-run`` prints it first); credentials
        in the store's address are redacted."""
        from a3m.study.tracking import redact

        search = self.search
        how = ("grid over " + (", ".join(search.axes) or "its one configuration")
               if search.is_grid else f"Optuna, {search.num_samples} trials")  # fmt: skip
        seeds = (
            f"auto (looks {', '.join(map(str, self.auto.schedule))})" if self.auto else self.seeds
        )
        lines = [
            f"study {self.spec.name}: experiment {self.experiment!r} at "
            f"{redact(self.tracking_uri)}",
            f"  trials: {how}; seeds per configuration: {seeds}; scheduler {search.scheduler}; "
            f"{self.epochs} epochs",
            f"  shared settings: {' '.join(f'{k}={v}' for k, v in sorted(self.base.items()))}",
            f"  reference: {self.reference or 'none (no paired verdicts)'}",
            f"  verdicts: alpha {self.inference.alpha}"
            + (
                f", equivalence within {self.inference.min_effect:g}"
                if self.inference.min_effect
                else ""
            ),
            f"  resources per trial: GPUs {_auto(self.resources.gpus_per_trial)}, CPUs "
            f"{_auto(self.resources.cpus_per_trial)}; retries {self.resources.max_failures}; "
            f"Ray {self.resources.address or 'local (or $RAY_ADDRESS)'}",
            f"  writes: Tune {self.tune_path}; results {self.out_dir}",
        ]
        if self.resume:
            lines.append(f"  resumes {self.resume}")
        return "\n".join(lines)


def _auto(value: float | None) -> str:
    return "auto" if value is None else f"{value:g}"
