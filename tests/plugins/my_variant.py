"""A user's module (issue 26): a variant, a second one from an existing network with other
switches, and a backbone, registered from outside ``a3m``. Nothing in ``a3m`` imports it: a
process knows them once a RunConfig's ``plugins`` (or an entry point) names this module."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from a3m.models import A3M, register_backbone, register_variant


class GainA3M(A3M):
    """A3M with one learned gain on the shared feature map."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.gain = nn.Parameter(torch.ones(()))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.gain * super().forward_features(x)


def small_cnn(*, pretrained: bool, weights_path: Path | None) -> nn.Module:
    """Two strided convolutions: 32 channels at stride 4."""
    if pretrained or weights_path:
        raise ValueError("backbone 'plugin_cnn' has no pretrained weights")
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
    )  # fmt: skip


register_variant("gain_a3m", GainA3M, region_attention=True, attribute_attention=True)
register_variant("att1_wo_attr", A3M, region_attention=True, attribute_loss=False)
register_backbone("plugin_cnn", small_cnn, channels=32, stride=4)
