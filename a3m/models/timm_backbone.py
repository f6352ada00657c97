"""timm models as the shared CNN: ``timm:<model>`` (an optional extra: ``pip install
'a3m[timm]'``).

``timm.create_model(model, pretrained=..., features_only=False)`` cut at its last feature map:
the backbone's forward is the model's ``forward_features``, which every timm model has; its
channels, stride and layout are found by one forward pass of an input of the model's default
size. A3M attends over the regions of a map (B, C, H, W): a model whose ``forward_features``
gives tokens (B, N, C: ViT and its kin) or a channels-last map (B, H, W, C: Swin) is refused,
naming it. ``pretrained`` loads timm's weights (from the Hugging Face Hub, on first use);
``weights_path`` a local state dict of the same timm model, without its classifier's keys if
they differ.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import torch
from torch import nn

from a3m.models.features import BackboneSpec, FeatureExtractor, load_state_dict_file

TIMM_PREFIX = "timm:"
"""A backbone name ``timm:<model>`` builds timm's model of that name."""
TIMM_MODULE = "timm"
"""The module recorded as a timm backbone's (``a3m.backbone_module``)."""
INSTALL_HINT = "pip install 'a3m[timm]' (or 'timm>=1.0')"


def check_timm_name(name: str) -> None:
    """Check that ``timm:<model>`` names a model of the installed timm.

    Raises:
        ValueError: timm is not installed, or has no such model (with the closest names), in
            one line naming it.
    """
    model = name.removeprefix(TIMM_PREFIX)
    try:
        import timm
    except ImportError:
        raise ValueError(
            f"backbone {name!r} needs timm, which is not installed here: {INSTALL_HINT}"
        ) from None
    if not model or not timm.is_model(model):
        close = difflib.get_close_matches(model, timm.list_models(), n=3)
        hint = f"; closest: {', '.join(TIMM_PREFIX + c for c in close)}" if close else ""
        raise ValueError(f"backbone {name!r}: timm {timm.__version__} has no model {model!r}{hint}")


class TimmFeatures(nn.Module):
    """A timm model cut at its last feature map: ``forward`` is its ``forward_features``."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_features(x)


def create_timm_backbone(
    name: str, *, pretrained: bool = False, weights_path: str | Path | None = None
) -> FeatureExtractor:
    """The timm model ``timm:<model>`` as a :class:`~a3m.models.features.FeatureExtractor`.

    Args:
        pretrained: timm's default pretrained weights (downloaded on first use).
        weights_path: a local state dict of this timm model; takes precedence over
            ``pretrained``. Its classifier's keys are ignored.

    Raises:
        ValueError: an unknown model or no timm (:func:`check_timm_name`), a model whose
            features are not a (B, C, H, W) map, a weights file of another network.
    """
    import timm

    check_timm_name(name)
    model_name = name.removeprefix(TIMM_PREFIX)
    model = timm.create_model(
        model_name, pretrained=pretrained and not weights_path, features_only=False
    )
    if weights_path:
        _load_weights(model, name, Path(weights_path))
    spec = _spec(name, model)
    model.reset_classifier(0)  # its head is not used: only forward_features is
    return FeatureExtractor(spec, TimmFeatures(model))


def _classifier_prefixes(model: nn.Module) -> tuple[str, ...]:
    head = getattr(model, "pretrained_cfg", {}).get("classifier") or ()
    return tuple(f"{h}." for h in ((head,) if isinstance(head, str) else head))


def _load_weights(model: nn.Module, name: str, path: Path) -> None:
    """Load a local state dict into the timm ``model``, but its classifier's keys (a model
    fine-tuned on other classes has another classifier); all its other keys must be there."""
    head = _classifier_prefixes(model)
    state = {k: v for k, v in load_state_dict_file(path).items() if not k.startswith(head)}
    result = model.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not k.startswith(head)]
    if missing:
        raise ValueError(
            f"{path}: weights for {name!r} lack {len(missing)} feature-extractor keys, e.g. "
            f"{missing[:5]}; expected a state dict of timm's {name.removeprefix(TIMM_PREFIX)}"
        )


def _spec(name: str, model: nn.Module) -> BackboneSpec:
    """Channels, stride and minimum input of ``model``'s last feature map, from one forward
    pass of an input of its default size (in eval mode, without a gradient: the model's weights
    and statistics are left as they are)."""
    size = tuple(getattr(model, "pretrained_cfg", {}).get("input_size", (3, 224, 224)))[-2:]
    training = model.training
    model.eval()
    with torch.no_grad():
        out = model.forward_features(torch.zeros(1, 3, *size))
    model.train(training)
    channels = int(getattr(model, "num_features", 0) or 0)
    layout = _layout(out, channels)
    if layout != "NCHW":
        raise ValueError(
            f"backbone {name!r}: timm's forward_features gives {layout} {tuple(out.shape)}, "
            "not a feature map (B, C, H, W); A3M attends over a map's regions: pick a "
            "convolutional model"
        )
    info = getattr(model, "feature_info", None)
    stride = int(info[-1]["reduction"]) if info else max(1, size[0] // out.shape[-2])
    return BackboneSpec(name, int(out.shape[1]), stride, stride)


def _layout(out: torch.Tensor, channels: int) -> str:
    """``NCHW``, or what else ``forward_features`` gave: tokens, or a channels-last map."""
    if out.ndim == 3:
        return "tokens (B, N, C)"
    if out.ndim != 4:
        return f"a {out.ndim}-d tensor"
    if channels and out.shape[1] != channels and out.shape[-1] == channels:
        return "a channels-last map (B, H, W, C)"
    return "NCHW"
