"""The A3M training objective, paper eq. (11).

    L = L_add + alpha * L_cat + beta * (1/K) sum_k L_k

L_add is the cross-entropy of the final head (10), L_cat of the category head (2), L_k of
attribute head k (4). Attribute targets may be unknown per image and attribute
(``IGNORE_INDEX``); L_k averages over the labelled images only, and an attribute with no
labelled image in the batch contributes zero (not NaN) while still counting in the 1/K.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from a3m.data.base import IGNORE_INDEX
from a3m.models.a3m import A3MOutput


@dataclass
class LossParts:
    """The total loss and each term of eq. (11), unweighted."""

    total: torch.Tensor
    add: torch.Tensor  # L_add, eq. (10)
    category: torch.Tensor  # L_cat, eq. (2)
    attribute: torch.Tensor  # (1/K) sum_k L_k
    per_attribute: torch.Tensor  # (K,) L_k; empty without attribute heads


def attribute_losses(
    attribute_logits: list[torch.Tensor], targets: torch.Tensor, ignore_index: int = IGNORE_INDEX
) -> torch.Tensor:
    """Cross-entropy of each attribute head over its labelled images.

    The K heads are evaluated as one cross-entropy: their logits are laid side by side in a
    (B, C_max, K) tensor whose slots beyond a head's C_k classes hold -inf, which add exp(-inf)
    = 0 to the log-sum-exp and get zero gradient. That is K cross-entropies' arithmetic in a
    handful of operations instead of 2K + 1 (the per-operation cost dominated the heads' loss).

    Args:
        attribute_logits: K tensors (B, C_k).
        targets: (B, K) class ids, ``ignore_index`` where unknown.

    Returns:
        (K,) losses; 0 for an attribute without any labelled image in the batch.
    """
    if targets.shape[1] != len(attribute_logits):
        raise ValueError(
            f"attribute targets have {targets.shape[1]} columns but the model has "
            f"{len(attribute_logits)} attribute heads"
        )
    sizes = tuple(int(logits.shape[1]) for logits in attribute_logits)
    slots, limits = _padding_index(sizes, str(targets.device))
    known = targets != ignore_index  # (B, K)
    # The range check reads a value back: free on the CPU, a synchronisation per step on a
    # GPU, where it idled the H100 for 11% of an A3M ResNet-50 step (bench_gpu_throughput.py
    # --profile). The loaders only emit ids in range; on a GPU an id in C_k..C_max-1 gives an
    # infinite loss, which the trainer reports with its step.
    if targets.device.type == "cpu" and bool((known & ((targets < 0) | (targets >= limits))).any()):
        raise ValueError(
            f"attribute targets out of range: head k takes class ids 0..C_k-1 with C_k = "
            f"{list(sizes)} (or {ignore_index} for unknown)"
        )
    B, K, c_max = targets.shape[0], len(sizes), max(sizes)
    flat = torch.cat(attribute_logits, dim=1)  # (B, sum C_k)
    flat = torch.cat([flat, flat.new_full((B, 1), -math.inf)], dim=1)  # last column: padding
    padded = flat[:, slots].view(B, K, c_max).transpose(1, 2)  # (B, C_max, K)
    per_image = F.cross_entropy(padded, targets, ignore_index=ignore_index, reduction="none")
    return per_image.sum(dim=0) / known.sum(dim=0).clamp(min=1)  # (K,)


@functools.lru_cache(maxsize=16)
def _padding_index(sizes: tuple[int, ...], device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """For heads of ``sizes`` classes: the column of the concatenated logits (plus one padding
    column at the end) feeding each of the K * C_max padded slots, and the (K,) class counts."""
    c_max, total = max(sizes), sum(sizes)
    slots = torch.full((len(sizes), c_max), total, dtype=torch.long)  # (K, C_max) -> padding
    start = 0
    for k, size in enumerate(sizes):
        slots[k, :size] = torch.arange(start, start + size)
        start += size
    return slots.flatten().to(device), torch.tensor(sizes, device=device)


class A3MLoss(nn.Module):
    """Eq. (11) with the trade-off weights ``alpha`` and ``beta``.

    A variant that drops a term of eq. (11) trains with that term's weight at 0;
    :func:`a3m.models.create_loss` builds a variant's loss by name (the registry says which).

    Args:
        alpha: weight of the category-branch loss.
        beta: weight of the mean attribute loss.
    """

    def __init__(self, alpha: float = 0.5, beta: float = 0.5):
        super().__init__()
        if alpha < 0 or beta < 0:
            raise ValueError(f"alpha and beta must be >= 0, got alpha={alpha}, beta={beta}")
        self.alpha = float(alpha)
        self.beta = float(beta)

    def forward(
        self, out: A3MOutput, labels: torch.Tensor, attributes: torch.Tensor | None = None
    ) -> LossParts:
        """Args:
        out: the model's output.
        labels: (B,) category ids.
        attributes: (B, K) attribute class ids (``IGNORE_INDEX`` where unknown); may be
            None or have K = 0 when the model has no attribute heads or beta is 0.
        """
        add = F.cross_entropy(out.logits, labels)
        category = F.cross_entropy(out.category_logits, labels)
        # Attribute losses are computed whenever targets exist, so a3m_wo_attr (beta = 0)
        # still reports how well its unsupervised branches happen to classify attributes.
        has_targets = attributes is not None and attributes.numel() > 0
        if out.attribute_logits and has_targets:
            per_attribute = attribute_losses(out.attribute_logits, attributes)
            attribute = per_attribute.mean()
        elif out.attribute_logits and self.beta:
            raise ValueError("beta > 0 needs attribute targets (B, K), got none")
        else:
            per_attribute, attribute = add.new_zeros(0), add.new_zeros(())
        total = add + self.alpha * category + self.beta * attribute
        return LossParts(total, add, category, attribute, per_attribute)
