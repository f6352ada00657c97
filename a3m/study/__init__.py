"""Studies: Ray Tune trials of the trainer, Optuna search, MLflow tracking, leaderboards."""

from a3m.study.runner import StudyResult, main, run_study
from a3m.study.spec import StudySpec, study_parser

__all__ = ["StudyResult", "StudySpec", "main", "run_study", "study_parser"]
