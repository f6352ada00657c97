"""The shared CNN (paper Sec. 3.1.1): torchvision classifiers cut to their last conv feature map.

Every backbone is registered by name with what the heads need to know without a forward pass:
the channel count of the feature map, its stride, and the smallest input side that still
yields a map of at least 1x1. ``googlenet`` stands in for the paper's InceptionBN (Tables 4-5).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torchvision
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


def _named(model: nn.Module, names: list[str]) -> nn.Sequential:
    # Keep torchvision's child names so state-dict keys stay recognisable.
    return nn.Sequential(OrderedDict((n, getattr(model, n)) for n in names))


def _resnet_body(model: nn.Module) -> nn.Module:
    return _named(
        model, ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"]
    )


def _features_without_last_pool(model: nn.Module) -> nn.Module:
    # vgg/alexnet: `features` ends with a max-pool; the last conv map is just before it.
    return model.features[:-1]


def _googlenet_body(model: nn.Module) -> nn.Module:
    names = ["conv1", "maxpool1", "conv2", "conv3", "maxpool2", "inception3a", "inception3b"]
    names += ["maxpool3", "inception4a", "inception4b", "inception4c", "inception4d"]
    names += ["inception4e", "maxpool4", "inception5a", "inception5b"]
    return _named(model, names)


def _inception_v3_body(model: nn.Module) -> nn.Module:
    names = ["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1"]
    names += ["Conv2d_4a_3x3", "maxpool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a"]
    names += ["Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"]
    return _named(model, names)


# name -> (spec, function cutting the torchvision model to its body)
_TORCHVISION: dict[str, tuple[BackboneSpec, Callable[[nn.Module], nn.Module]]] = {
    "resnet18": (BackboneSpec("resnet18", 512, 32, 32), _resnet_body),
    "resnet34": (BackboneSpec("resnet34", 512, 32, 32), _resnet_body),
    "resnet50": (BackboneSpec("resnet50", 2048, 32, 32), _resnet_body),
    "resnet101": (BackboneSpec("resnet101", 2048, 32, 32), _resnet_body),
    "resnet152": (BackboneSpec("resnet152", 2048, 32, 32), _resnet_body),
    "vgg16": (BackboneSpec("vgg16", 512, 16, 16), _features_without_last_pool),
    "vgg16_bn": (BackboneSpec("vgg16_bn", 512, 16, 16), _features_without_last_pool),
    "alexnet": (BackboneSpec("alexnet", 256, 16, 31), _features_without_last_pool),
    "googlenet": (BackboneSpec("googlenet", 1024, 32, 32), _googlenet_body),
    "inception_v3": (BackboneSpec("inception_v3", 2048, 32, 75), _inception_v3_body),
}

TINY_SPEC = BackboneSpec("tiny", 128, 8, 8)


def _tiny_body() -> nn.Module:
    """A 4-conv CNN (stride 8, 128 channels) for tests and synthetic runs on a laptop CPU."""

    def block(cin: int, cout: int, stride: int) -> list[nn.Module]:
        return [
            nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        ]

    return nn.Sequential(
        *block(3, 32, 2), *block(32, 64, 2), *block(64, 128, 2), *block(128, 128, 1)
    )


BACKBONES: tuple[str, ...] = ("tiny", *_TORCHVISION)
"""Names accepted by :func:`create_backbone`."""


def backbone_spec(name: str) -> BackboneSpec:
    """Static facts (channels, stride, minimum input) of a backbone, without building it."""
    if name == "tiny":
        return TINY_SPEC
    if name not in _TORCHVISION:
        raise ValueError(f"unknown backbone {name!r}; available: {', '.join(BACKBONES)}")
    return _TORCHVISION[name][0]


def _load_state_dict_file(path: Path) -> dict[str, torch.Tensor]:
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


def create_backbone(
    name: str, *, pretrained: bool = False, weights_path: str | Path | None = None
) -> FeatureExtractor:
    """Build a backbone cut to its last convolutional feature map.

    Args:
        name: one of :data:`BACKBONES`.
        pretrained: load torchvision's default ImageNet weights (downloads on first use).
        weights_path: a local state-dict file of the full torchvision classifier (as saved by
            ``torch.save(model.state_dict())`` or downloaded from torchvision); takes
            precedence over ``pretrained``. Classifier keys (fc, classifier, aux) are ignored.

    Raises:
        ValueError: an unknown name (the message lists the available ones), or a weights file
            that lacks keys the feature extractor needs.
    """
    spec = backbone_spec(name)
    if name == "tiny":
        if pretrained or weights_path:
            raise ValueError("backbone 'tiny' has no pretrained weights; use random init")
        return FeatureExtractor(spec, _tiny_body())

    _, cut = _TORCHVISION[name]
    kwargs: dict = {}
    if name in ("googlenet", "inception_v3"):
        # No auxiliary heads: we only keep the body. init_weights avoids a slow scipy init.
        kwargs = {"aux_logits": False, "init_weights": True}
    weights = None
    if pretrained and not weights_path:
        weights = torchvision.models.get_model_weights(name).DEFAULT
        kwargs.pop("init_weights", None)
    model = torchvision.models.get_model(name, weights=weights, **kwargs)
    transform_input = bool(getattr(model, "transform_input", False))
    if weights_path:
        state = _load_state_dict_file(Path(weights_path))
        result = model.load_state_dict(state, strict=False)
        body_keys = set(cut(model).state_dict())
        missing = [k for k in result.missing_keys if _strip_prefix(k, model) in body_keys]
        if missing:
            raise ValueError(
                f"{weights_path}: weights for {name!r} lack {len(missing)} feature-extractor "
                f"keys, e.g. {missing[:5]}; expected a state dict of torchvision's {name}"
            )
        # Googlenet/inception weights converted from the original release expect the
        # torchvision input transform, as with pretrained=True.
        transform_input = name in ("googlenet", "inception_v3")
    return FeatureExtractor(spec, cut(model), transform_input=transform_input)


def _strip_prefix(key: str, model: nn.Module) -> str:
    # Map a full-model key (e.g. "features.0.weight") to the body's naming ("0.weight").
    if isinstance(getattr(model, "features", None), nn.Sequential) and key.startswith("features."):
        return key[len("features.") :]
    return key
