"""A study's plan: everything decided before anything launches, shared by the runner's steps
(:mod:`a3m.study.runner`) and what an invocation trains (:mod:`a3m.study.grow`)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

from a3m.config import RunConfig
from a3m.sequential import Inference
from a3m.study.seeds import AutoSeeds
from a3m.study.spec import StudySpec


@dataclass
class StudyPlan:
    """Everything decided before anything launches (flags parsed once, checks passed)."""

    spec: StudySpec
    args: argparse.Namespace
    base: dict[str, Any]  # the RunConfig overrides every trial shares
    reference: dict[str, Any] | None
    fingerprints: dict[str, str]  # dataset -> fingerprint of the copy the trials read
    experiment: str
    tracking_uri: str
    optuna_storage: str | None
    storage: str  # Tune's storage path (absolute when local)
    tune_path: str  # this study's folder under it
    command: str  # the command line, credentials redacted
    auto: AutoSeeds | None = None  # --seeds auto
    inference: Inference = field(default_factory=Inference)  # how its verdicts are decided

    @property
    def epochs(self) -> int:
        return RunConfig.from_flat_dict(self.base).epochs
