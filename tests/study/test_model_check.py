"""Every planned model is built once on the driver, with its starting weights, and takes one
input of the data's size before Ray starts: a setting no trial could train with is one line,
exit 2, and nothing is written to MLflow."""

from __future__ import annotations

import pytest
import torch

from a3m.study import StudySpec
from a3m.study.exits import UsageError
from a3m.study.model_check import ModelCheckError, check_models
from a3m.study.runner import run_study

TINY = {"dataset": "cub", "variant": "a3m", "backbone": "tiny", "d": 16}


@pytest.fixture
def tiny_cfg(tiny_run, synthetic_copy):
    return lambda **changes: tiny_run(synthetic_copy("cub"), **changes)


def test_each_distinct_model_is_built_once(tiny_cfg):
    configs = [tiny_cfg(seed=s, alpha=a) for s in range(3) for a in (0.1, 0.5)]
    assert check_models(configs) == 1  # seeds and loss weights do not change the network
    assert check_models([tiny_cfg(), tiny_cfg(variant="baseline1")]) == 2


def test_the_datas_index_is_read_once_for_many_models(tiny_cfg, monkeypatch):
    import a3m.loaders

    reads = []
    real = a3m.loaders.build_datasets
    monkeypatch.setattr(a3m.loaders, "build_datasets", lambda cfg: reads.append(cfg) or real(cfg))
    variants = ("a3m", "baseline1", "att1")
    assert check_models([tiny_cfg(variant=v, seed=s) for v in variants for s in (0, 1)]) == 3
    assert len(reads) == 1


def test_weights_of_another_network_are_refused_naming_the_file(tiny_cfg, tmp_path):
    other = tmp_path / "other.pt"
    torch.save({"conv.weight": torch.zeros(1)}, other)
    with pytest.raises(ModelCheckError, match=r"backbone=resnet18 .*other\.pt: weights for"):
        check_models([tiny_cfg(backbone="resnet18", weights_path=str(other))])
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelCheckError, match="variant=a3m backbone=resnet18"):
        check_models([tiny_cfg(backbone="resnet18", weights_path=str(garbage))])


def test_an_input_the_network_cannot_take_is_refused(tiny_cfg):
    with pytest.raises(ModelCheckError, match="cannot train"):
        check_models([tiny_cfg(backbone="resnet18", input_size=(4, 4))])


def test_a_study_refuses_before_writing_anything(study_args, store_untouched, tmp_path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    spec = StudySpec("weights", "a weights file that does not load", base=TINY)
    flags = study_args("--set", "backbone=resnet18", "--set", f"weights_path={garbage}")
    with pytest.raises(UsageError, match="bad study setting: variant=a3m backbone=resnet18"):
        run_study(spec, flags)
    assert store_untouched()  # refused before any run was opened
    assert not (tmp_path / "tune").exists() or not any((tmp_path / "tune").iterdir())
