"""The paper's named models (Sec. 4.3, Tables 1-5, Fig. 5): a registry and its builders.

Each entry of :data:`VARIANTS` states everything that makes a variant: which network
(:class:`~a3m.models.baseline.Baseline1` or :class:`~a3m.models.a3m.A3M`), which of A3M's two
attentions it learns, and which terms of loss (11) it trains with. ``a3m_wo_attr`` ("A3M
w/o attr-label") is no network of its own: it is A3M whose attribute losses have weight
beta = 0, so that its branches learn through the attention alone, without labels.

The names are the values of ``RunConfig.variant`` and of the runs' MLflow ``variant`` param:
studies and dashboards call the variants by them, so they never change.

    model = create_model("att1", backbone="resnet50", num_classes=200, attribute_classes=...)
    loss = create_loss("att1", alpha=0.5, beta=0.5)

Your own variant, from a module of yours (:func:`register_variant`; how every process finds
it: :mod:`a3m.plugins`):

    register_variant("my_a3m", MyA3M, region_attention=True, attribute_attention=True)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol, TypeAlias

from a3m.models.a3m import A3M, AuthorsCode
from a3m.models.backbones import create_backbone
from a3m.models.baseline import Baseline1
from a3m.models.features import FeatureExtractor
from a3m.models.losses import A3MLoss
from a3m.plugins import (
    VARIANTS_GROUP,
    PluginError,
    caller_module,
    entry_points_of,
    load_entry_point,
    note_module,
)

Model: TypeAlias = A3M | Baseline1
"""What :func:`create_model` returns; both return an :class:`~a3m.models.a3m.A3MOutput`."""

# A3M's keyword arguments that Baseline-1 has nothing for: its attribute branches and the
# authors'-code layers.
_A3M_ONLY_ARGS = frozenset({"attribute_classes", "num_attributes", "attr_pooling", "authors_code"})


@dataclass(frozen=True)
class Variant:
    """One named model: its network, its attention and its loss.

    Attributes:
        name: the registry key (``RunConfig.variant``).
        network: the module it builds: :class:`~a3m.models.a3m.A3M`,
            :class:`~a3m.models.baseline.Baseline1` or a subclass of either.
        region_attention: A3M only: eqs. (5)-(6) learned; off, the regions are average-pooled.
        attribute_attention: A3M only: eqs. (7)-(8) learned; off, the attributes are averaged.
        category_loss: alpha L_cat counts in loss (11); off, alpha is forced to 0.
        attribute_loss: beta mean_k L_k counts in loss (11); off, beta is forced to 0.
        module: the module that registered it (the runs' ``a3m.variant_module`` tag).
    """

    name: str
    network: type[A3M] | type[Baseline1]
    region_attention: bool = False
    attribute_attention: bool = False
    category_loss: bool = True
    attribute_loss: bool = True
    module: str = __name__

    def build(self, backbone: FeatureExtractor, num_classes: int, **overrides: Any) -> Model:
        """The variant's network on ``backbone``; ``overrides`` are the network's keyword
        arguments (:class:`A3M`'s, or :class:`Baseline1`'s).

        Baseline-1 ignores A3M's attribute-branch arguments and ``authors_code``, so that one
        set of arguments builds every variant (a study's grid over ``variant``), as one
        ``RunConfig`` does.
        """
        fixed = {"region_attention", "attribute_attention"} & overrides.keys()
        if fixed:
            raise ValueError(
                f"variant {self.name!r} fixes {', '.join(sorted(fixed))}: pick the variant with "
                f"the attention you want instead ({', '.join(_REGISTRY)})"
            )
        model: Model
        if issubclass(self.network, Baseline1):
            kwargs = {k: v for k, v in overrides.items() if k not in _A3M_ONLY_ARGS}
            model = self.network(backbone, num_classes, **kwargs)
        else:
            model = self.network(
                backbone,
                num_classes,
                region_attention=self.region_attention,
                attribute_attention=self.attribute_attention,
                **overrides,
            )
        model.variant = self.name
        return model

    def loss(self, **weights: float) -> A3MLoss:
        """Loss (11) as the variant trains: ``A3MLoss(**weights)`` (``alpha``, ``beta``; the
        paper's by default) with the weight of each term the variant drops forced to 0."""
        loss = A3MLoss(**weights)
        # Forced, not defaulted: a study's beta must not revive a3m_wo_attr's attribute losses.
        if not self.category_loss:
            loss.alpha = 0.0
        if not self.attribute_loss:
            loss.beta = 0.0
        return loss


VARIANTS: Mapping[str, Variant] = MappingProxyType(
    {
        v.name: v
        for v in (
            # Baseline-1: its one classifier is also its category head, so L_cat would count
            # L_add twice; it has no attribute heads.
            Variant("baseline1", Baseline1, category_loss=False, attribute_loss=False),
            Variant("baseline2", A3M),  # every attention weight 1: plain averaging
            Variant("att1", A3M, region_attention=True),
            Variant("att2", A3M, attribute_attention=True),
            Variant(
                "a3m_wo_attr",
                A3M,
                region_attention=True,
                attribute_attention=True,
                attribute_loss=False,
            ),
            Variant("a3m", A3M, region_attention=True, attribute_attention=True),
        )
    }
)
"""The paper's six models by name, in the order of its tables (Baseline-1 first); the
variants registered from outside are in :func:`registered_variants`."""

_REGISTRY: dict[str, Variant] = dict(VARIANTS)  # the paper's, then yours


def registered_variants() -> Mapping[str, Variant]:
    """Every variant this process knows: the paper's six (:data:`VARIANTS`), then those
    registered by :func:`register_variant` (a read-only view that follows the registry)."""
    return MappingProxyType(_REGISTRY)


def register_variant(
    name: str,
    network: type[A3M] | type[Baseline1] = A3M,
    *,
    region_attention: bool = False,
    attribute_attention: bool = False,
    category_loss: bool = True,
    attribute_loss: bool = True,
    module: str | None = None,
) -> Variant:
    """Register a variant of your own under ``name``, from a module of yours: a network (A3M,
    Baseline-1 or a subclass of either, built with the arguments every variant gets), its
    attentions and the terms of loss (11) it trains with, as :class:`Variant` says.

    For it to reach a study's Ray workers, the module must be importable there and named by
    ``RunConfig.plugins`` or an entry point of group ``a3m.variants`` (:mod:`a3m.plugins`; a
    study script that imports the module names it by itself).

    Args:
        module: the module recorded as the variant's (the runs' ``a3m.variant_module`` tag);
            by default the caller's.

    Returns:
        The registered :class:`Variant`.

    Raises:
        ValueError: a name already taken by the paper's variants or by another module's, an
            empty one, or a network that is neither A3M nor Baseline-1.
    """
    module = module or caller_module()
    if not name or name != name.strip() or "," in name:
        raise ValueError(f"variant name {name!r}: a non-empty name without spaces or commas")
    if not (isinstance(network, type) and issubclass(network, (A3M, Baseline1))):
        raise ValueError(
            f"variant {name!r}: network {network!r} is not A3M, Baseline1 or a subclass"
        )
    taken = _REGISTRY.get(name)
    if name in VARIANTS or (taken is not None and taken.module != module):
        owner = taken.module if taken else __name__
        raise ValueError(f"variant name {name!r} is taken (registered by {owner})")
    variant = Variant(name, network, region_attention, attribute_attention,
                      category_loss, attribute_loss, module)  # fmt: skip
    _REGISTRY[name] = variant  # a module imported again registers its variant again
    note_module(module)
    return variant


def variant_names() -> tuple[str, ...]:
    """The valid values of ``RunConfig.variant``: the registered variants, then the names of
    entry points of group ``a3m.variants`` not loaded yet."""
    return tuple(dict.fromkeys([*_REGISTRY, *entry_points_of(VARIANTS_GROUP)]))


def find_variant(name: str) -> bool:
    """Whether ``name`` is a variant, looking up an entry point of group ``a3m.variants`` of
    that name (and so registering it) when it is not registered yet.

    Raises:
        PluginError: an entry point of that name that does not load, or registers no variant
            of its name.
    """
    if name not in _REGISTRY and load_entry_point(VARIANTS_GROUP, name):
        if name not in _REGISTRY:
            raise PluginError(
                f"entry point {name} (group {VARIANTS_GROUP}) loaded, but registered no "
                f"variant {name!r}: its module must call a3m.models.register_variant"
            )
    return name in _REGISTRY


def variant_problem(name: str) -> str | None:
    """None when ``name`` is a variant (an entry point's is loaded now), else why not, in one
    line."""
    try:
        get_variant(name)
    except ValueError as err:
        return str(err)
    return None


def get_variant(name: str) -> Variant:
    """The registry's entry ``name`` (an entry point's is loaded now: :func:`find_variant`);
    an unknown name raises, listing the valid ones.

    Raises:
        ValueError: an unknown name; :class:`~a3m.plugins.PluginError`, an entry point that
            does not load or does not register its name.
    """
    if not find_variant(name):
        raise ValueError(
            f"unknown variant {name!r}; available: {', '.join(variant_names())} (yours: "
            "register_variant in a module named by --plugins, or an entry point of group "
            f"{VARIANTS_GROUP}; docs/your_data.md)"
        )
    return _REGISTRY[name]


def create_model(
    name: str,
    *,
    backbone: str | FeatureExtractor,
    num_classes: int,
    pretrained: bool = False,
    weights_path: str | Path | None = None,
    **overrides: Any,
) -> Model:
    """Build the variant ``name``: the backbone first, then the heads (so that on one seed
    every variant starts from the same backbone weights).

    Args:
        name: a registered variant (:func:`registered_variants`; the paper's:
            :data:`VARIANTS`).
        backbone: a backbone name (:func:`a3m.models.backbone_names`), built here with
            ``pretrained`` and ``weights_path``, or a built one.
        num_classes: categories.
        pretrained, weights_path: see :func:`a3m.models.create_backbone`.
        overrides: the network's other keyword arguments, e.g. ``attribute_classes``, ``d``,
            ``retrieval``, ``authors_code`` (:class:`A3M`; see :meth:`Variant.build`).

    Raises:
        ValueError: an unknown name (the message lists the valid ones), or an override of an
            attention switch the variant fixes.
    """
    variant = get_variant(name)
    if isinstance(backbone, str):
        backbone = create_backbone(backbone, pretrained=pretrained, weights_path=weights_path)
    elif pretrained or weights_path:
        raise ValueError("pretrained and weights_path apply to a backbone given by name only")
    return variant.build(backbone, num_classes, **overrides)


def create_loss(name: str, **weights: float) -> A3MLoss:
    """Loss (11) as the variant ``name`` trains, with ``weights`` (``alpha``, ``beta``)."""
    return get_variant(name).loss(**weights)


class ModelSettings(Protocol):
    """What :func:`build_model` and :func:`build_loss` read of a run's settings: the fields of
    :class:`a3m.config.RunConfig` (which imports this package: named here by shape) that make
    its model and its loss, the switches of :class:`~a3m.models.a3m.AuthorsCode` among them."""

    @property
    def variant(self) -> str: ...
    @property
    def backbone(self) -> str: ...
    @property
    def pretrained(self) -> bool: ...
    @property
    def weights_path(self) -> str: ...
    @property
    def num_classes(self) -> int: ...
    @property
    def attribute_classes(self) -> tuple[int, ...]: ...
    @property
    def num_attributes(self) -> int: ...
    @property
    def d(self) -> int: ...
    @property
    def task(self) -> str: ...
    @property
    def attr_pooling(self) -> str: ...
    @property
    def branch_bn_relu(self) -> bool: ...
    @property
    def merge_mean_bn(self) -> bool: ...
    @property
    def attention_bn(self) -> bool: ...
    @property
    def fused_bn(self) -> bool: ...
    @property
    def concat_final(self) -> bool: ...
    @property
    def dropout(self) -> float: ...
    @property
    def alpha(self) -> float: ...
    @property
    def beta(self) -> float: ...


def build_model(cfg: ModelSettings) -> Model:
    """The model a resolved config describes (``num_classes`` etc. filled from the dataset)."""
    if cfg.num_classes < 1:
        raise ValueError(
            "config.num_classes is 0: resolve the config against its dataset first "
            "(RunConfig.resolve)"
        )
    authors_code = AuthorsCode(
        **{f.name: getattr(cfg, f.name) for f in dataclasses.fields(AuthorsCode)}
    )
    return create_model(
        cfg.variant,
        backbone=cfg.backbone,
        pretrained=cfg.pretrained,
        weights_path=cfg.weights_path or None,
        num_classes=cfg.num_classes,
        attribute_classes=cfg.attribute_classes,
        num_attributes=cfg.num_attributes or None,
        d=cfg.d,
        retrieval=cfg.task == "retrieval",
        attr_pooling=cfg.attr_pooling,
        authors_code=authors_code,
    )


def build_loss(cfg: ModelSettings) -> A3MLoss:
    """Eq. (11) with the config's alpha and beta, as the variant trains it."""
    return create_loss(cfg.variant, alpha=cfg.alpha, beta=cfg.beta)
