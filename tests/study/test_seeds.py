"""Seeds on demand: the schedule, which configurations a look leaves open, and the study's
inference read back from its parent run. (The design's error rates under optional stopping are
simulated in benchmarks/bench_verdicts.py.)"""

from __future__ import annotations

import pandas as pd
import pytest

from a3m.sequential import Inference, SequentialDesign
from a3m.study.seeds import matches, open_configurations, seed_schedule
from a3m.study.tracking import canonical


def test_schedule_grows_by_half_and_ends_at_the_maximum():
    assert seed_schedule(12) == [3, 5, 8, 12]
    assert seed_schedule(10) == [3, 5, 8, 10]
    assert seed_schedule(3) == [3]
    assert seed_schedule(20) == [3, 5, 8, 12, 18, 20]
    with pytest.raises(ValueError, match="max-seeds must be >= 3"):
        seed_schedule(2)


def comparisons(rows: list[dict]) -> pd.DataFrame:
    defaults = {"reference": "variant=baseline1", "metric": "score", "n_pairs": 3}
    return pd.DataFrame([{**defaults, **r} for r in rows])


def test_open_configurations_and_their_counterparts():
    table = comparisons([
        {"variant": "a3m", "d": "16", "verdict": "inconclusive"},
        {"variant": "att1", "d": "16", "verdict": "better"},
        {"variant": "att2", "d": "16", "verdict": "inconclusive (failures)"},
        {"variant": "att3", "d": "16", "verdict": "equivalent"},
    ])  # fmt: skip
    reference = {"variant": "baseline1"}
    d = canonical("16")  # values come back canonical, as trial identities use them
    got = open_configurations(table, reference)
    assert got == [
        {"variant": "a3m", "d": d},
        {"variant": "baseline1", "d": d},  # the counterpart gets the new seeds too
        {"variant": "att2", "d": d},
    ]
    assert open_configurations(pd.DataFrame(), reference) == []


def test_matches_compares_canonical_values():
    configs = [{"variant": "a3m", "alpha": "0.5"}]
    assert matches({"variant": "a3m", "alpha": 0.50, "seed": 4}, configs)
    assert not matches({"variant": "a3m", "alpha": 0.3}, configs)


def test_the_study_inference_is_read_back_from_its_parent_run(mlflow_uri):
    from mlflow import MlflowClient

    from a3m.study.runs import study_inference

    client = MlflowClient(mlflow_uri)
    exp = client.create_experiment("auto")
    assert study_inference("auto", mlflow_uri) == Inference()  # no study yet
    client.create_run(exp, tags={"a3m.study": "auto", "a3m.verdict_alpha": "0.025"})
    assert study_inference("auto", mlflow_uri) == Inference(alpha=0.025)  # a parent run of before
    auto = Inference(design=SequentialDesign((3, 5, 8, 12)), min_effect=0.01)
    client.create_run(exp, tags={"a3m.study": "auto", "a3m.inference": auto.to_json()})
    assert study_inference("auto", mlflow_uri) == auto
    assert study_inference("missing", mlflow_uri) == Inference()
