"""The end-to-end controls of studies/controls.py at their default 8 seeds: A3M against itself
under a second label comes out "inconclusive" (no margin set, so never "equivalent"), A3M
trained on category labels shuffled across images (broken on purpose) comes out "worse" -
through the whole platform: Ray trials, MLflow, the leaderboard's verdict columns and the
comparisons table on the parent run."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient

from a3m.study import run_study

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parents[2] / "studies" / "controls.py"


def _controls():
    spec = importlib.util.spec_from_file_location("controls", SCRIPT)
    controls = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(controls)
    return controls


def test_the_aa_control_may_be_inconclusive_or_equivalent_never_decided():
    controls = _controls()
    for aa in ("inconclusive", "equivalent"):
        assert controls.failures({"aa": aa, "label_noise": "worse"}) == {}
    for aa in ("better", "worse", "inconclusive (failures)"):
        assert controls.failures({"aa": aa, "label_noise": "worse"}) == {"aa": aa}
    assert controls.failures({"aa": "inconclusive"}) == {"label_noise": "missing"}


def test_aa_is_inconclusive_and_the_broken_model_is_worse(ray_local, study_args):
    controls = _controls()
    # 2 epochs instead of the synthetic budget's 8: shuffled labels leave chance accuracy
    result = run_study(controls.SPEC, study_args("--epochs", "2"))
    assert (result.num_trials, result.num_errors) == (24, 0)

    comparisons = pd.read_csv(result.leaderboard_csv.with_name("comparisons.csv"))
    verdicts = controls.check(comparisons)
    assert controls.failures(verdicts) == {}
    assert verdicts == {"aa": "inconclusive", "label_noise": "worse"}
    assert (comparisons["n_pairs"] == 8).all()
    broken = comparisons[comparisons["label_noise"] == 1.0].iloc[0]
    assert broken["ci_high"] < 0 and broken["p_ahead"] == 0.0

    board = pd.read_csv(result.leaderboard_csv)
    assert sorted(board["verdict"]) == ["inconclusive", "reference", "worse"]

    client = MlflowClient(result.tracking_uri)
    exp = client.get_experiment_by_name(result.experiment)
    (parent,) = client.search_runs([exp.experiment_id], "tags.`a3m.study` = 'controls'")
    assert json.loads(parent.data.tags["a3m.reference"]) == controls.SPEC.reference
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"comparisons.json", "comparisons.csv", "leaderboard.csv"} <= artifacts
