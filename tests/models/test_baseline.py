"""Baseline-1: the backbone, global average pooling and one classifier, in A3M's output."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from a3m.models import Baseline1, create_backbone
from a3m.models.features import BackboneSpec, FeatureExtractor

B, C, H, W = 2, 6, 3, 4
NUM_CLASSES = 7


def identity_backbone(channels: int = C) -> FeatureExtractor:
    """A 'backbone' that passes a given feature map through, so the head sees fixed tensors."""
    return FeatureExtractor(BackboneSpec("identity", channels, 1, 1), nn.Identity())


def feature_map(seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, C, H, W, generator=g, dtype=torch.float64)


def test_baseline1_is_backbone_gap_and_one_classifier():
    torch.manual_seed(0)
    model = Baseline1(identity_backbone(), NUM_CLASSES).double()
    X = feature_map()
    out = model(X)
    assert out.logits is out.category_logits and out.attribute_logits == []
    torch.testing.assert_close(out.embedding, X.mean(dim=(2, 3)))
    torch.testing.assert_close(out.logits, model.classifier(X.mean(dim=(2, 3))))
    assert model.embedding_dim == C and out.feature_size == (H, W)
    assert isinstance(model.embed, nn.Identity)  # no parameters outside retrieval


def test_baseline1_has_no_attention_fields():
    out = Baseline1(identity_backbone(), NUM_CLASSES).double()(feature_map())
    for field in ("V", "A", "v_cat", "masks", "m_region", "s_attr", "f_region", "f_attr"):
        assert getattr(out, field) is None, field
    assert out.f_region_bn is None and out.f_attr_bn is None


def test_retrieval_mode_has_an_fc_layer_to_d():
    torch.manual_seed(0)
    model = Baseline1(identity_backbone(), NUM_CLASSES, d=3, retrieval=True).double()
    X = feature_map()
    out = model(X)
    assert out.embedding.shape == (B, 3) and model.embedding_dim == 3
    torch.testing.assert_close(out.embedding, model.embed(X.mean(dim=(2, 3))))
    torch.testing.assert_close(out.logits, model.classifier(out.embedding))


def test_state_dict_keys_are_the_checkpoints():
    """The keys old checkpoints carry (the backbone's, embed's in retrieval, classifier's)."""
    heads = lambda m: [k for k in m.state_dict() if not k.startswith("backbone.")]  # noqa: E731
    assert heads(Baseline1(create_backbone("tiny"), 5)) == ["classifier.weight", "classifier.bias"]
    assert heads(Baseline1(create_backbone("tiny"), 5, d=4, retrieval=True)) == [
        "embed.weight",
        "embed.bias",
        "classifier.weight",
        "classifier.bias",
    ]


def test_forward_is_features_then_head():
    torch.manual_seed(0)
    model = Baseline1(create_backbone("tiny"), 5).eval()
    x = torch.randn(2, 3, 32, 32)
    head = model.forward_head(model.forward_features(x))
    torch.testing.assert_close(model(x).logits, head.logits)


@pytest.mark.parametrize(
    "kwargs, match", [({"num_classes": 0}, "num_classes must be >= 1"), ({"d": 0}, "d \\(embed")]
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Baseline1(identity_backbone(), **({"num_classes": 3} | kwargs))
