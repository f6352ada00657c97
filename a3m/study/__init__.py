"""Studies: Ray Tune trials of the trainer, Optuna search, MLflow tracking, leaderboards."""

from a3m.study.runner import StudyResult, StudySpec, main, run_study, study_parser

__all__ = ["StudyResult", "StudySpec", "main", "run_study", "study_parser"]
