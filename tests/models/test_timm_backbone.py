"""timm models as the shared CNN (issue 26): ``timm:<model>``, cut at ``forward_features``, its
map's channels and stride found by one forward pass; token or channels-last features refused
naming the model; local weights files; one line when timm is missing or lacks the model. timm is
an optional extra (``pip install 'a3m[timm]'``): the tests that build a model are skipped
without it."""

from __future__ import annotations

import sys

import pytest
import torch

from a3m.config import ConfigError, RunConfig
from a3m.models import backbone_spec, build_model, create_backbone
from a3m.plugin_code import BACKBONE_MODULE_TAG, PLUGIN_CODE_TAG, plugin_tags
from a3m.train import fit

NO_TIMM = "timm is an optional extra (pip install 'a3m[timm]'); not installed here"
SMALL = {"dataset": "cub", "d": 8, "num_classes": 4, "attribute_classes": (2, 3)}


def test_without_timm_a_timm_backbone_is_one_line_saying_how_to_install_it(
    own_plugins, monkeypatch
):
    monkeypatch.setitem(sys.modules, "timm", None)  # `import timm` fails, as without it
    with pytest.raises(ConfigError) as err:
        RunConfig(**SMALL, backbone="timm:resnet10t")
    assert str(err.value) == (
        "backbone 'timm:resnet10t' needs timm, which is not installed here: "
        "pip install 'a3m[timm]' (or 'timm>=1.0')"
    )


def test_a_model_timm_does_not_know_is_one_line_naming_it(own_plugins):
    timm = pytest.importorskip("timm", reason=NO_TIMM)
    with pytest.raises(ConfigError) as err:
        RunConfig(**SMALL, backbone="timm:resnet10x")
    assert str(err.value) == (
        f"backbone 'timm:resnet10x': timm {timm.__version__} has no model 'resnet10x'; "
        "closest: timm:resnet10t, timm:resnet101, timm:resnet101s"
    )


def test_the_feature_map_is_forward_features_with_its_channels_and_stride(own_plugins):
    timm = pytest.importorskip("timm", reason=NO_TIMM)
    torch.manual_seed(0)
    reference = timm.create_model("test_resnet").eval()
    torch.manual_seed(0)  # the same random weights
    backbone = create_backbone("timm:test_resnet").eval()
    assert backbone.spec == backbone_spec("timm:test_resnet")
    assert (backbone.out_channels, backbone.spec.stride) == (96, 32)
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        assert torch.equal(backbone(x), reference.forward_features(x))
    assert backbone(x).shape == (2, 96, 2, 3)
    cfg = RunConfig(**SMALL, backbone="timm:test_resnet")
    assert plugin_tags(cfg)[BACKBONE_MODULE_TAG] == "timm"
    assert plugin_tags(cfg)[PLUGIN_CODE_TAG] == f"timm@{timm.__version__}"


@pytest.mark.parametrize(
    "model, layout",
    [("test_vit", r"tokens \(B, N, C\) \(1, 101, 64\)"),
     ("test_mambaout", r"a channels-last map \(B, H, W, C\) \(1, 5, 5, 64\)")],
)  # fmt: skip
def test_features_that_are_no_nchw_map_are_refused_naming_the_model(own_plugins, model, layout):
    pytest.importorskip("timm", reason=NO_TIMM)
    with pytest.raises(ValueError, match=rf"^backbone 'timm:{model}': timm's forward_features "
                       rf"gives {layout}, not a feature map \(B, C, H, W\)"):  # fmt: skip
        create_backbone(f"timm:{model}")


def test_a_local_weights_file_is_loaded_and_one_of_another_network_refused(own_plugins, tmp_path):
    timm = pytest.importorskip("timm", reason=NO_TIMM)
    trained = timm.create_model("test_resnet", num_classes=7)  # another classifier: ignored
    torch.save({"state_dict": trained.state_dict()}, tmp_path / "mine.pt")
    backbone = create_backbone("timm:test_resnet", weights_path=tmp_path / "mine.pt")
    loaded = backbone.body.model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in trained.state_dict().items() if k in loaded)
    torch.save(timm.create_model("test_convnext").state_dict(), tmp_path / "other.pt")
    with pytest.raises(ValueError, match=r"other.pt: weights for 'timm:test_resnet' lack \d+ "
                       "feature-extractor keys"):  # fmt: skip
        create_backbone("timm:test_resnet", weights_path=tmp_path / "other.pt")


def test_a3m_on_a_timm_backbone_trains_an_epoch(own_plugins, synthetic_copy, tiny_run, tmp_path):
    pytest.importorskip("timm", reason=NO_TIMM)
    root = synthetic_copy("cub", seed=0, num_classes=4, images_per_class=8, image_size=64)
    cfg = tiny_run(root, backbone="timm:resnet10t", epochs=1, lr_drop_epochs=0)
    result = fit(cfg, tmp_path)
    assert len(result.history) == 1 and result.history[0]["train_loss"] > 0
    assert result.config.backbone == "timm:resnet10t"
    model = build_model(result.config)
    assert type(model.backbone.body).__name__ == "TimmFeatures"
    assert model.backbone.out_channels == 512
