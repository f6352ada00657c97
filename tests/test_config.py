"""RunConfig: validation that names the field, round trip through a flat dict."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from a3m.checkpoint import MODEL_FIELDS
from a3m.config import ConfigError, RunConfig
from a3m.models import PAPER, SWITCHES, AuthorsCode, build_loss, build_model


def test_defaults_are_the_papers():
    cfg = RunConfig()
    assert (cfg.d, cfg.alpha, cfg.beta, cfg.lr, cfg.momentum, cfg.weight_decay) == (
        512,
        0.5,
        0.5,
        1e-3,
        0.9,
        5e-4,
    )
    assert (cfg.epochs, cfg.lr_drop_epochs, cfg.batch_size, cfg.variant) == (60, 10, 32, "a3m")
    assert not any(getattr(cfg, switch) for switch in SWITCHES)


def test_a_config_carries_the_authors_code_as_the_model_declares_it():
    """AuthorsCode declares the switches (and the dropout rate) once; RunConfig carries each
    as a flat field of the same default, which build_model copies by name."""
    cfg = RunConfig()
    assert {f.name: getattr(cfg, f.name) for f in dataclasses.fields(AuthorsCode)} == vars(PAPER)
    assert set(SWITCHES) <= set(MODEL_FIELDS) and "dropout" not in SWITCHES


def test_flat_dict_round_trip_including_strings():
    cfg = RunConfig(
        dataset="market1501",
        variant="att2",
        backbone="tiny",
        attribute_classes=(4, 2, 9),
        input_size=(448, 224),
        alpha=0.3,
        concat_final=True,
    )
    flat = cfg.to_flat_dict()
    assert all(isinstance(v, (str, int, float, bool)) for v in flat.values())
    assert flat["attribute_classes"] == "4,2,9"
    assert RunConfig.from_flat_dict(flat) == cfg
    as_strings = {k: str(v) for k, v in flat.items()}  # what MLflow gives back
    assert RunConfig.from_flat_dict(as_strings) == cfg


def test_json_round_trip(tmp_path):
    cfg = RunConfig(backbone="resnet18", seed=7)
    cfg.to_json(tmp_path / "config.json")
    assert RunConfig.from_json(tmp_path / "config.json") == cfg


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"alpha": -0.5}, "alpha must be >= 0, got -0.5"),
        ({"beta": -1}, "beta must be >= 0"),
        ({"d": 0}, "d must be > 0"),
        ({"variant": "att3"}, "variant='att3' is not known; valid: baseline1"),
        ({"backbone": "resnet51"}, "backbone='resnet51' is not known; valid: tiny"),
        ({"dataset": "imagenet"}, "dataset='imagenet' is not known"),
        ({"attribute_classes": (3, 0)}, "attribute_classes must list a class count >= 2"),
        ({"attribute_classes": (3, 3), "num_attributes": 5}, "num_attributes=5 but"),
        ({"input_size": (224,)}, "input_size must be"),
        ({"dataset": "cars196", "attribute_classes": (2,)}, "retrieval task"),
        ({"dropout": 1.0}, "dropout must be in"),
        ({"num_workers": -2}, r"num_workers must be >= 0, or -1 for auto, got -2"),
    ],
)
def test_validation_names_the_field(changes, match):
    with pytest.raises(ConfigError, match=match):
        RunConfig(**changes)


def test_from_flat_dict_errors():
    with pytest.raises(ConfigError, match="unknown config field.*'alhpa'"):
        RunConfig.from_flat_dict({"alhpa": 0.5})
    assert RunConfig.from_flat_dict({"alhpa": 0.5}, strict=False) == RunConfig()
    with pytest.raises(ConfigError, match="d='big' is not a valid int"):
        RunConfig.from_flat_dict({"d": "big"})
    with pytest.raises(ConfigError, match="unknown config field"):
        RunConfig().replace(lr_max=1)


def test_resolve_from_dataset_and_mismatch():
    cfg = RunConfig(backbone="tiny").resolve(200, (10, 16), (224, 224))
    assert (cfg.num_classes, cfg.attribute_classes, cfg.num_attributes) == (200, (10, 16), 2)
    assert cfg.input_size == (224, 224)
    with pytest.raises(ConfigError, match="attribute_classes=\\[3\\] but dataset 'cub' has"):
        RunConfig(attribute_classes=(3,)).resolve(200, (10, 16), (224, 224))
    with pytest.raises(ConfigError, match="num_classes=10 but dataset 'cub' has 200"):
        RunConfig(num_classes=10).resolve(200, (10, 16), (224, 224))
    retrieval = RunConfig(dataset="cars196").resolve(98, (), (224, 224))
    assert retrieval.task == "retrieval" and retrieval.num_attributes == 8


def test_build_model_and_loss_from_config():
    cfg = RunConfig(backbone="tiny", d=16, variant="a3m_wo_attr", beta=0.9)
    with pytest.raises(ValueError, match="resolve the config"):
        build_model(cfg)
    cfg = cfg.resolve(6, (3, 2), (32, 32))
    model = build_model(cfg)
    out = model(torch.randn(2, 3, 32, 32))
    assert out.logits.shape == (2, 6) and len(out.attribute_logits) == 2
    assert build_loss(cfg).beta == 0.0  # a3m_wo_attr switches attribute losses off
    retrieval = build_model(
        RunConfig(dataset="cub_retrieval", backbone="tiny", d=24).resolve(4, (), (32, 32))
    )
    assert retrieval.attribute_fc is None and retrieval.num_attributes == 8


def test_the_users_data_and_the_synthetic_cache_are_two_fields(tmp_path, monkeypatch):
    import a3m.loaders as train

    seen = []
    monkeypatch.setattr(train, "ensure_synthetic", lambda name, cache, seed: seen.append(cache))
    train.dataset_root(RunConfig(synthetic=True, synthetic_cache=str(tmp_path / "c")))
    # a run logged before the fields were apart kept its cache in data_root: still found
    train.dataset_root(RunConfig(synthetic=True, data_root=str(tmp_path / "old")))
    monkeypatch.setenv("A3M_SYNTHETIC_DIR", str(tmp_path / "env"))
    train.dataset_root(RunConfig(synthetic=True))  # the one rule: the environment's default
    assert seen == [tmp_path / "c", tmp_path / "old", tmp_path / "env"]
    assert train.dataset_root(RunConfig(data_root=str(tmp_path))) == tmp_path
