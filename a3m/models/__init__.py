"""Models: backbones (the shared CNN), the A3M heads with their variants, and loss (11)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from a3m.models.a3m import A3M, VARIANTS, A3MOutput
from a3m.models.backbones import BACKBONES, backbone_spec, create_backbone
from a3m.models.losses import A3MLoss, LossParts

if TYPE_CHECKING:
    from a3m.config import RunConfig

__all__ = [
    "A3M",
    "A3MLoss",
    "A3MOutput",
    "BACKBONES",
    "LossParts",
    "VARIANTS",
    "backbone_spec",
    "build_loss",
    "build_model",
    "create_backbone",
]


def build_model(cfg: RunConfig) -> A3M:
    """The model a resolved config describes (``num_classes`` etc. filled from the dataset)."""
    if cfg.num_classes < 1:
        raise ValueError(
            "config.num_classes is 0: resolve the config against its dataset first "
            "(RunConfig.resolve)"
        )
    backbone = create_backbone(
        cfg.backbone, pretrained=cfg.pretrained, weights_path=cfg.weights_path or None
    )
    return A3M(
        backbone,
        cfg.num_classes,
        cfg.attribute_classes,
        num_attributes=cfg.num_attributes or None,
        d=cfg.d,
        variant=cfg.variant,
        retrieval=cfg.task == "retrieval",
        attr_pooling=cfg.attr_pooling,
        branch_bn_relu=cfg.branch_bn_relu,
        merge_mean_bn=cfg.merge_mean_bn,
        attention_bn=cfg.attention_bn,
        fused_bn=cfg.fused_bn,
        concat_final=cfg.concat_final,
        dropout=cfg.dropout,
    )


def build_loss(cfg: RunConfig) -> A3MLoss:
    """Eq. (11) with the config's alpha and beta, as the variant trains it."""
    return A3MLoss.for_variant(cfg.variant, alpha=cfg.alpha, beta=cfg.beta)
