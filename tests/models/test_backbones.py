"""Backbones: every registered name builds, its channel count is known without a forward pass."""

from __future__ import annotations

import pytest
import torch
import torchvision

from a3m.models import BACKBONES, backbone_spec, create_backbone

LARGE = {"resnet101", "resnet152", "inception_v3", "vgg16", "vgg16_bn"}
"""Seconds each to build and run on CPU: in the full suite only."""


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in LARGE else n for n in BACKBONES]
)
def test_backbone_channels_and_minimum_input(name):
    torch.manual_seed(0)
    backbone = create_backbone(name).eval()
    spec = backbone_spec(name)
    size = spec.min_input
    with torch.no_grad():
        fmap = backbone(torch.randn(1, 3, size, size))
    assert fmap.shape[1] == spec.channels == backbone.out_channels
    assert fmap.shape[2] >= 1 and fmap.shape[3] >= 1
    with pytest.raises(ValueError, match=f"too small for backbone '{name}'"):
        backbone(torch.randn(1, 3, size - 1, size + 40))


def test_resnet50_map_is_2048x7x7_at_224():
    with torch.no_grad():
        fmap = create_backbone("resnet50").eval()(torch.randn(1, 3, 224, 224))
    assert fmap.shape == (1, 2048, 7, 7)  # paper Sec. 3.1.1: L = 49


def test_unknown_backbone_lists_available():
    with pytest.raises(ValueError, match="unknown backbone 'resnet51'; available: tiny, resnet18"):
        create_backbone("resnet51")


def test_local_state_dict_file_is_loaded(tmp_path):
    torch.manual_seed(1)
    reference = torchvision.models.resnet18()
    path = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), path)
    backbone = create_backbone("resnet18", weights_path=path)
    torch.testing.assert_close(backbone.body.conv1.weight, reference.conv1.weight)
    torch.testing.assert_close(
        backbone.body.layer4[1].bn2.running_var, reference.layer4[1].bn2.running_var
    )


def test_vgg_state_dict_keys_map_to_the_body(tmp_path):
    reference = torchvision.models.alexnet()
    path = tmp_path / "alexnet.pth"
    torch.save({"state_dict": reference.state_dict()}, path)
    backbone = create_backbone("alexnet", weights_path=path)
    torch.testing.assert_close(backbone.body[0].weight, reference.features[0].weight)


def test_weights_file_for_another_model_is_refused(tmp_path):
    path = tmp_path / "wrong.pth"
    torch.save(torchvision.models.alexnet().state_dict(), path)
    with pytest.raises(ValueError, match="lack .* feature-extractor keys"):
        create_backbone("resnet18", weights_path=path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        create_backbone("resnet18", weights_path=tmp_path / "missing.pth")


def test_pretrained_uses_torchvision_weights_api(monkeypatch):
    seen = {}

    def fake_get_model(name, weights=None, **kwargs):
        seen["weights"] = weights
        return torchvision.models.resnet18()

    monkeypatch.setattr(torchvision.models, "get_model", fake_get_model)
    create_backbone("resnet18", pretrained=True)
    assert seen["weights"] == torchvision.models.ResNet18_Weights.DEFAULT


def test_tiny_has_no_pretrained_weights():
    with pytest.raises(ValueError, match="no pretrained weights"):
        create_backbone("tiny", pretrained=True)
