"""What every backbone is: a CNN body mapping images to a feature map (:class:`FeatureExtractor`)
with its static facts (:class:`BackboneSpec`), and how a weights file for one is read. The
built-in backbones (:mod:`a3m.models.backbones`) and timm's (:mod:`a3m.models.timm_backbone`)
both build on it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn


@dataclass(frozen=True)
class BackboneSpec:
    """Static facts about a registered backbone.

    Attributes:
        channels: channels of the feature map (C).
        stride: input pixels per feature-map cell (approximate for alexnet and inception_v3,
            whose convolutions are unpadded).
        min_input: smallest input height/width that yields a feature map of at least one full
            cell: max(stride, the smallest side the unpadded convolutions accept).
    """

    name: str
    channels: int
    stride: int
    min_input: int


class FeatureExtractor(nn.Module):
    """A CNN body mapping images (B, 3, H, W) to a feature map (B, C, h, w)."""

    def __init__(self, spec: BackboneSpec, body: nn.Module, transform_input: bool = False):
        super().__init__()
        self.spec = spec
        self.body = body
        # googlenet/inception_v3 ImageNet weights expect their own input scaling; torchvision
        # applies it inside the classifier's forward, which we bypass, so apply it here.
        self.transform_input = transform_input

    @property
    def out_channels(self) -> int:
        return self.spec.channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if min(h, w) < self.spec.min_input:
            raise ValueError(
                f"input of {h}x{w} pixels is too small for backbone {self.spec.name!r}: "
                f"it needs at least {self.spec.min_input}x{self.spec.min_input} "
                f"(stride {self.spec.stride}); raise input_size"
            )
        if self.transform_input:
            x = torch.cat(
                [
                    x[:, 0:1] * (0.229 / 0.5) + (0.485 - 0.5) / 0.5,
                    x[:, 1:2] * (0.224 / 0.5) + (0.456 - 0.5) / 0.5,
                    x[:, 2:3] * (0.225 / 0.5) + (0.406 - 0.5) / 0.5,
                ],
                dim=1,
            )
        return self.body(x)


def load_state_dict_file(path: Path) -> dict[str, torch.Tensor]:
    """A weights file's state dict (also one nested under ``state_dict`` or ``model``), loaded
    with ``weights_only``: a weights file must not be a way to run code."""
    if not path.is_file():
        raise FileNotFoundError(f"backbone weights file {path} does not exist")
    # weights_only: a weights file must not be a way to run code.
    state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict (name -> tensor), got {type(state)}")
    return state
