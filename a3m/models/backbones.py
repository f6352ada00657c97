"""The shared CNN (paper Sec. 3.1.1): torchvision classifiers cut to their last conv feature map.

Every backbone is registered by name with what the heads need to know without a forward pass:
the channel count of the feature map, its stride, and the smallest input side that still
yields a map of at least 1x1. ``googlenet`` stands in for the paper's InceptionBN (Tables 4-5).

Beyond the built-in ones (:data:`BACKBONES`): ``timm:<model>`` builds a timm model cut at its
last feature map (:mod:`a3m.models.timm_backbone`; ``pip install 'a3m[timm]'``), and a module
of yours registers its own with :func:`register_backbone` (how every process finds it:
:mod:`a3m.plugins`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torchvision
from torch import nn

from a3m.models.features import BackboneSpec, FeatureExtractor, load_state_dict_file
from a3m.plugins import (
    BACKBONES_GROUP,
    PluginError,
    caller_module,
    entry_points_of,
    load_entry_point,
    note_module,
)


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
"""The built-in names accepted by :func:`create_backbone` (all of them: :func:`backbone_names`)."""


BuildBody = Callable[..., nn.Module]
"""``build(pretrained=bool, weights_path=Path | None)`` -> a module mapping images (B, 3, H, W)
to a feature map (B, C, h, w): a backbone of yours (:func:`register_backbone`)."""


@dataclass(frozen=True)
class PluginBackbone:
    """A backbone from outside the built-in ones: registered by a module of yours, or a timm
    model (``timm:<model>``).

    Attributes:
        build: ``(pretrained, weights_path) -> FeatureExtractor``.
        module: the module that registered it (the runs' ``a3m.backbone_module`` tag).
        spec: its static facts when known without building it (None for timm's).
    """

    name: str
    build: Callable[[bool, Path | None], FeatureExtractor]
    module: str
    spec: BackboneSpec | None = None


_PLUGINS: dict[str, PluginBackbone] = {}


def register_backbone(
    name: str,
    build: BuildBody,
    *,
    channels: int,
    stride: int,
    min_input: int = 0,
    module: str | None = None,
) -> BackboneSpec:
    """Register a backbone of your own under ``name``, from a module of yours.

    Args:
        build: called as ``build(pretrained=..., weights_path=...)`` (the run's
            ``pretrained`` and ``weights_path``, a Path or None), returns a module mapping
            images (B, 3, H, W) to a feature map (B, ``channels``, h, w).
        channels, stride: the map's channels, and input pixels per map cell.
        min_input: the smallest input side that gives a map of at least 1x1 (default:
            ``stride``).
        module: recorded as the backbone's module (``a3m.backbone_module``); default: the
            caller's.

    Raises:
        ValueError: a name that is built-in, ``timm:``, another module's, or not one word.
    """
    module = module or caller_module()
    taken = _PLUGINS.get(name)
    if not name or name != name.strip() or "," in name or name.startswith("timm:"):
        raise ValueError(f"backbone name {name!r}: a non-empty name without spaces, commas, "
                         "or the timm: prefix")  # fmt: skip
    if name in BACKBONES or (taken is not None and taken.module != module):
        owner = taken.module if taken else __name__
        raise ValueError(f"backbone name {name!r} is taken (registered by {owner})")
    spec = BackboneSpec(name, channels, stride, max(min_input, stride))

    def create(pretrained: bool, weights_path: Path | None) -> FeatureExtractor:
        return FeatureExtractor(spec, build(pretrained=pretrained, weights_path=weights_path))

    _PLUGINS[name] = PluginBackbone(name, create, module, spec)
    note_module(module)
    return spec


def find_backbone(name: str) -> bool:
    """Whether ``name`` is a backbone: a built-in or registered one, a model of timm's
    (``timm:<model>``), or an entry point's of group ``a3m.backbones`` (registered now).

    Raises:
        ValueError: why a ``timm:`` name is none (no timm, no such model), or an entry point of
            that name that does not load or registers no backbone of its name (PluginError).
    """
    if name in BACKBONES or name in _PLUGINS:
        return True
    if name.startswith("timm:"):
        from a3m.models.timm_backbone import TIMM_MODULE, check_timm_name, create_timm_backbone

        check_timm_name(name)

        def create(pretrained: bool, weights_path: Path | None) -> FeatureExtractor:
            return create_timm_backbone(name, pretrained=pretrained, weights_path=weights_path)

        _PLUGINS[name] = PluginBackbone(name, create, TIMM_MODULE)
    elif load_entry_point(BACKBONES_GROUP, name) and name not in _PLUGINS:
        raise PluginError(
            f"entry point {name} (group {BACKBONES_GROUP}) loaded, but registered no "
            f"backbone {name!r}: its module must call a3m.models.register_backbone"
        )
    return name in _PLUGINS


def backbone_names() -> tuple[str, ...]:
    """The valid values of ``RunConfig.backbone``: the built-in ones, those registered (and
    the ``timm:`` ones looked up) so far, then the entry points of group ``a3m.backbones``;
    any ``timm:<model>`` of timm's is valid too (:func:`backbone_problem`)."""
    return tuple(dict.fromkeys([*BACKBONES, *_PLUGINS, *entry_points_of(BACKBONES_GROUP)]))


def backbone_problem(name: str) -> str | None:
    """None when ``name`` is a backbone (:func:`find_backbone`), else why not, in one line."""
    try:
        if find_backbone(name):
            return None
    except ValueError as err:  # PluginError included
        return str(err)
    return (
        f"unknown backbone {name!r}; available: {', '.join(backbone_names())}, "
        "timm:<model> with timm installed, or yours (register_backbone in a module named "
        f"by --plugins, or an entry point of group {BACKBONES_GROUP}; docs/your_data.md)"
    )


def backbone_module(name: str) -> str:
    """The module that registered the backbone ``name`` (this one for the built-in ones)."""
    if name in BACKBONES:
        return __name__
    problem = backbone_problem(name)
    if problem:
        raise ValueError(problem)
    return _PLUGINS[name].module


def registered_backbone_modules() -> list[str]:
    """The modules of the backbones registered from outside (timm's as ``timm``), in order."""
    return [entry.module for entry in _PLUGINS.values()]


def backbone_spec(name: str) -> BackboneSpec:
    """Static facts (channels, stride, minimum input) of a backbone, without building it (a
    timm model is built once, with random weights, to find them)."""
    if name == "tiny":
        return TINY_SPEC
    if name in _TORCHVISION:
        return _TORCHVISION[name][0]
    problem = backbone_problem(name)
    if problem:
        raise ValueError(problem)
    entry = _PLUGINS[name]
    return entry.spec or entry.build(False, None).spec


def create_backbone(
    name: str, *, pretrained: bool = False, weights_path: str | Path | None = None
) -> FeatureExtractor:
    """Build a backbone cut to its last convolutional feature map.

    Args:
        name: one of :func:`backbone_names` (or ``timm:<model>``).
        pretrained: load torchvision's default ImageNet weights (downloads on first use;
            timm's for ``timm:``; a registered backbone's build decides).
        weights_path: a local state-dict file of the full torchvision classifier (as saved by
            ``torch.save(model.state_dict())`` or downloaded from torchvision; timm's model
            for ``timm:``); takes precedence over ``pretrained``. Classifier keys (fc,
            classifier, aux) are ignored.

    Raises:
        ValueError: an unknown name (the message lists the available ones), or a weights file
            that lacks keys the feature extractor needs.
    """
    if name not in BACKBONES:
        problem = backbone_problem(name)
        if problem:
            raise ValueError(problem)
        return _PLUGINS[name].build(pretrained, Path(weights_path) if weights_path else None)
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
        state = load_state_dict_file(Path(weights_path))
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
