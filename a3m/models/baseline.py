"""Baseline-1 of the paper (Sec. 4.3, Tables 1-5): the fine-tuned CNN alone.

Global average pooling of the shared feature map, then one linear classifier. In retrieval mode
(Tables 4-5) an FC layer from the backbone's C channels to d makes the embedding, so that it
has A3M's size (docs/reproduction.md, "Ablations").

It returns the same :class:`~a3m.models.a3m.A3MOutput` as A3M, so that the trainer, the loss
and the metrics treat every variant alike: its one classifier is both the final head (eq. 9's
place) and the category head, it has no attribute heads, and its attention fields are None.
"""

from __future__ import annotations

import torch
from torch import nn

from a3m.models.a3m import A3MOutput
from a3m.models.features import FeatureExtractor


class Baseline1(nn.Module):
    """Backbone + global average pooling + one classifier.

    Args:
        backbone: the shared CNN.
        num_classes: categories.
        d: the embedding size in retrieval mode (unused otherwise).
        retrieval: the embedding is the product (Tables 4-5): an FC layer C -> d after the
            pooling gives it, and the classifier reads it.

    Attributes:
        variant: the registry name it was built under (:func:`a3m.models.create_model` sets
            it); None when built directly.
    """

    variant: str | None = None

    def __init__(
        self, backbone: FeatureExtractor, num_classes: int, *, d: int = 512, retrieval: bool = False
    ):
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if d < 1:
            raise ValueError(f"d (embedding size) must be >= 1, got {d}")
        self.backbone = backbone
        self.num_classes = num_classes
        self.d = d
        self.retrieval = retrieval
        c = backbone.out_channels
        # The order of the layers that draw random weights decides which weights a seed
        # gives; the names are the checkpoints' keys. Keep both.
        self.embed = nn.Linear(c, d) if retrieval else nn.Identity()
        self.classifier = nn.Linear(d if retrieval else c, num_classes)

    @property
    def embedding_dim(self) -> int:
        """Size of :attr:`A3MOutput.embedding`: d in retrieval mode, else the channels C."""
        return self.d if self.retrieval else self.backbone.out_channels

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, H, W) -> shared feature map (B, C, h, w)."""
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> A3MOutput:
        return self.forward_head(self.forward_features(x))

    def forward_head(self, X: torch.Tensor) -> A3MOutput:
        """Shared feature map (B, C, h, w) -> :class:`A3MOutput` without attention fields."""
        h, w = X.shape[-2:]
        embedding = self.embed(X.mean(dim=(2, 3)))  # (B, C), or (B, d) in retrieval
        logits = self.classifier(embedding)
        # One head: the final and the category logits are the same tensor, which the loss of
        # the variant counts once (its category weight alpha is 0, a3m.models.registry).
        return A3MOutput(logits, logits, [], embedding, feature_size=(h, w))
