"""Models: backbones (the shared CNN), Baseline-1 and the A3M heads, the registry of the paper's
named variants, and loss (11).

    model = create_model("a3m", backbone="resnet50", num_classes=200, attribute_classes=...)
    loss = create_loss("a3m", alpha=0.5, beta=0.5)

From a run's config: :func:`build_model` and :func:`build_loss`. Your own variant or backbone:
:func:`register_variant`, :func:`register_backbone` (:mod:`a3m.plugins`).
"""

from __future__ import annotations

from a3m.models.a3m import A3M, ATTR_POOLINGS, PAPER, SWITCHES, A3MOutput, AuthorsCode
from a3m.models.backbones import (
    BACKBONES,
    backbone_names,
    backbone_spec,
    create_backbone,
    register_backbone,
)
from a3m.models.baseline import Baseline1
from a3m.models.losses import A3MLoss, LossParts
from a3m.models.registry import (
    VARIANTS,
    Model,
    Variant,
    build_loss,
    build_model,
    create_loss,
    create_model,
    get_variant,
    register_variant,
    registered_variants,
    variant_names,
)

__all__ = [
    "A3M",
    "A3MLoss",
    "A3MOutput",
    "ATTR_POOLINGS",
    "AuthorsCode",
    "BACKBONES",
    "Baseline1",
    "LossParts",
    "Model",
    "PAPER",
    "SWITCHES",
    "VARIANTS",
    "Variant",
    "backbone_names",
    "backbone_spec",
    "build_loss",
    "build_model",
    "create_backbone",
    "create_loss",
    "create_model",
    "get_variant",
    "register_backbone",
    "register_variant",
    "registered_variants",
    "variant_names",
]
