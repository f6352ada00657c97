"""Each RunConfig field's role (a3m.config.ROLES) is declared once, and every reader agrees
with it: a trial's identity (and so reuse, which keys on it), the configurations of the
leaderboard, the paired comparisons and the dashboards, and the dry run's made-up numbers.
Runs frames are built by hand in MLflow's layout (as in tests/study/test_compare.py)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd
import pytest

from a3m.config import ROLES, RunConfig, field_role, fields_with_role
from a3m.study.compare import compare
from a3m.study.dry_run import dry_metrics
from a3m.study.leaderboard import leaderboard
from a3m.study.runs import NOT_A_SETTING, configuration_key
from a3m.study.tracking import NOT_IDENTITY, trial_identity
from dashboards.data import varying_settings

OTHER: dict[str, Any] = {
    "dataset": "market1501",
    "data_root": "/elsewhere/data",
    "synthetic": True,
    "synthetic_cache": "/elsewhere/synthetic",
    "bbox_crop": False,
    "input_size": (64, 64),
    "val_fraction": 0.1,
    "attr_label_noise": 0.1,
    "label_noise": 0.1,
    "variant": "att1",
    "backbone": "tiny",
    "pretrained": True,
    "weights_path": "/weights/resnet50.pt",
    "plugins": "json",  # any module that imports: one of yours registers variants or backbones
    "d": 64,
    "num_classes": 10,
    "attribute_classes": (2, 3),
    "num_attributes": 2,
    "attr_pooling": "max",
    "branch_bn_relu": True,
    "merge_mean_bn": True,
    "attention_bn": True,
    "fused_bn": True,
    "concat_final": True,
    "dropout": 0.3,
    "alpha": 0.3,
    "beta": 0.3,
    "epochs": 8,
    "batch_size": 16,
    "optimizer": "adamw",  # not a valid one yet: OPTIMIZERS has one (checked as flat values)
    "lr": 0.01,
    "momentum": 0.5,
    "nesterov": True,
    "weight_decay": 0.0,
    "schedule": "cosine",
    "lr_drop_epochs": 3,
    "lr_drop_factor": 0.5,
    "eval_every": 2,
    "distance": "cosine",
    "ap_mode": "torchreid",
    "seed": 1,
    "device": "cpu",
    "num_workers": 4,
    "amp": False,
    "channels_last": False,
    "compile": True,
    "compile_mode": "reduce-overhead",
    "eval_batch_size": 256,
    "image_cache": "off",
    "augment_on": "device",
    "label": "aa",
}
"""Another value of each field: a new field needs one here (and a role, if not a setting)."""

ONE_CHOICE = {"optimizer"}
"""Fields with no second valid value today: changed as flat values only."""

FIELDS = [f.name for f in dataclasses.fields(RunConfig)]
FINGERPRINT = "data-1"


def other_value(name: str) -> Any:
    if name not in OTHER:
        pytest.fail(f"RunConfig.{name} is new: give it another value in OTHER and check its role")
    return OTHER[name]


def flat_with(name: str, value: Any) -> dict[str, Any]:
    """The default config's flat values with ``name`` set to ``value`` (validated, where the
    field has a second valid value)."""
    if name in ONE_CHOICE:
        return {**RunConfig().to_flat_dict(), name: value}
    return RunConfig().replace(**{name: value}).to_flat_dict()


def runs_frame(field: str, values_by_seed: dict[int, Any], score_shift: float = 0.02):
    """A study's runs: a reference and a candidate arm on each seed, both with ``field`` set to
    ``values_by_seed[seed]``; every field logged as a param, as a trial logs its config."""
    axis, arms = ("alpha", (0.5, 0.3)) if field == "variant" else ("variant", ("baseline1", "a3m"))
    rows = []
    for seed, value in values_by_seed.items():
        for i, arm in enumerate(arms):
            flat = {**flat_with(field, value), axis: arm, "seed": seed}
            row = {f"params.{k}": str(v) for k, v in flat.items()}
            row |= {
                "metrics.score": 0.5 + 0.01 * seed + score_shift * i,
                "status": "FINISHED",
                "run_id": f"{arm}-{seed}".ljust(12, "x"),
                "start_time": seed,
                "tags.a3m.stopped_early": None,
            }
            rows.append(row)
    return pd.DataFrame(rows), {axis: arms[0]}


def test_roles_are_declared_and_the_sets_derive_from_them():
    roles = {name: field_role(name) for name in FIELDS}
    assert set(roles.values()) <= set(ROLES)
    assert NOT_IDENTITY == fields_with_role("speed", "place")
    assert NOT_A_SETTING == NOT_IDENTITY | {"seed"} == fields_with_role("speed", "place", "seed")
    assert fields_with_role(*ROLES) == set(FIELDS)
    assert set(OTHER) == set(FIELDS), "OTHER names a field RunConfig no longer has"


@pytest.mark.parametrize("name", FIELDS)
def test_every_reader_agrees_with_the_field_role(name):
    role = field_role(name)
    default, other = RunConfig().to_flat_dict()[name], other_value(name)
    flat, changed = flat_with(name, default), flat_with(name, other)
    assert flat[name] != changed[name]

    # identity, and so reuse (select_trials reuses a FINISHED run of the same identity)
    same_trial = trial_identity(flat, FINGERPRINT) == trial_identity(changed, FINGERPRINT)
    assert same_trial == (role in ("speed", "place")), role

    # two seeds, the field's value differing between them
    runs, reference = runs_frame(name, {0: default, 1: other})
    is_setting = role == "setting"
    assert (f"params.{name}" in configuration_key(runs)) == is_setting
    assert (name in varying_settings(runs)) == is_setting
    table = leaderboard(runs)
    assert len(table) == (4 if is_setting else 2)
    assert set(table["n_runs"]) == {1 if is_setting else 2}
    pairs = compare(runs, reference)
    if is_setting:  # a configuration per value of the field, each with its own seed
        assert sorted(pairs["n_pairs"]) == [1, 1]
    else:  # one configuration whose seeds pair
        assert list(pairs["n_pairs"]) == [2] and pairs.iloc[0]["seeds"] == "0,1"

    # the dry run's numbers are the configuration's and the seed's only
    if name not in ONE_CHOICE:
        cfg, moved = RunConfig.from_flat_dict(flat), RunConfig.from_flat_dict(changed)
        same_numbers = dry_metrics(cfg, cfg.epochs) == dry_metrics(moved, moved.epochs)
        assert same_numbers == (role in ("speed", "place")), role


def test_seeds_that_ran_faster_elsewhere_stay_one_configuration():
    """Issue 23: two variants over 6 seeds, some of them run with another eval_batch_size,
    compile or channels_last (a study grown on another machine), were 12 configurations and
    6 comparisons of 1 pair each."""
    speeds = [  # (eval_batch_size, compile, channels_last) per seed
        (0, False, True), (256, False, True), (0, True, True),
        (0, False, False), (256, True, True), (256, True, False),
    ]  # fmt: skip
    rows = []
    for seed, (eval_batch_size, compiled, channels_last) in enumerate(speeds):
        for i, variant in enumerate(("baseline1", "a3m")):
            cfg = RunConfig(
                variant=variant,
                seed=seed,
                eval_batch_size=eval_batch_size,
                compile=compiled,
                channels_last=channels_last,
            )
            row = {f"params.{k}": str(v) for k, v in cfg.to_flat_dict().items()}
            row |= {
                "metrics.score": 0.5 + 0.01 * seed + 0.03 * i,
                "status": "FINISHED",
                "run_id": f"{variant}-{seed}".ljust(12, "x"),
                "start_time": seed,
                "tags.a3m.stopped_early": None,
            }
            rows.append(row)
    runs = pd.DataFrame(rows)
    assert configuration_key(runs) == ["params.variant"]
    table = leaderboard(runs)
    assert sorted(table["variant"]) == ["a3m", "baseline1"]
    assert list(table["n_runs"]) == [6, 6]
    pairs = compare(runs, {"variant": "baseline1"})
    assert len(pairs) == 1
    row = pairs.iloc[0]
    assert row["variant"] == "a3m" and row["n_pairs"] == 6 and row["seeds"] == "0,1,2,3,4,5"
    assert row["mean_diff"] == pytest.approx(0.03)
