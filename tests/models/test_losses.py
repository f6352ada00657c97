"""Loss (11) against a hand computation, with unknown attribute labels."""

from __future__ import annotations

import math

import pytest
import torch

from a3m.data.base import IGNORE_INDEX
from a3m.models import A3MLoss, create_loss
from a3m.models.a3m import A3MOutput
from a3m.models.losses import attribute_losses


def ce(logits: list[float], target: int) -> float:
    """Cross-entropy of one sample, by hand."""
    return -logits[target] + math.log(sum(math.exp(v) for v in logits))


def output(logits, category_logits, attribute_logits) -> A3MOutput:
    t = lambda x: torch.tensor(x, dtype=torch.float64, requires_grad=True)  # noqa: E731
    return A3MOutput(
        logits=t(logits),
        category_logits=t(category_logits),
        attribute_logits=[t(a) for a in attribute_logits],
        embedding=torch.zeros(len(logits), 1),
    )


LOGITS = [[2.0, 0.0, -1.0], [0.5, 0.5, 1.0]]
CAT = [[1.0, 1.0, 0.0], [0.0, 3.0, 0.0]]
ATTRS = [[[1.0, 0.0], [0.0, 2.0]], [[0.0, 1.0, 2.0], [1.0, 0.0, 0.0]]]  # K = 2
LABELS = torch.tensor([0, 2])


def test_eq11_by_hand():
    targets = torch.tensor([[1, IGNORE_INDEX], [0, 2]])
    parts = A3MLoss(alpha=0.3, beta=0.8)(output(LOGITS, CAT, ATTRS), LABELS, targets)
    add = (ce(LOGITS[0], 0) + ce(LOGITS[1], 2)) / 2
    cat = (ce(CAT[0], 0) + ce(CAT[1], 2)) / 2
    l1 = (ce(ATTRS[0][0], 1) + ce(ATTRS[0][1], 0)) / 2  # both images labelled
    l2 = ce(ATTRS[1][1], 2) / 1  # only image 2 labelled: mean over labelled ones
    assert parts.add.item() == pytest.approx(add)
    assert parts.category.item() == pytest.approx(cat)
    assert parts.per_attribute.tolist() == pytest.approx([l1, l2])
    assert parts.attribute.item() == pytest.approx((l1 + l2) / 2)
    assert parts.total.item() == pytest.approx(add + 0.3 * cat + 0.8 * (l1 + l2) / 2)


def test_attribute_without_labels_contributes_zero_not_nan():
    targets = torch.tensor([[1, IGNORE_INDEX], [0, IGNORE_INDEX]])
    out = output(LOGITS, CAT, ATTRS)
    parts = A3MLoss(alpha=0.5, beta=0.5)(out, LABELS, targets)
    l1 = (ce(ATTRS[0][0], 1) + ce(ATTRS[0][1], 0)) / 2
    assert parts.per_attribute.tolist() == pytest.approx([l1, 0.0])
    assert parts.attribute.item() == pytest.approx(l1 / 2)  # still 1/K with K = 2
    parts.total.backward()
    assert torch.isfinite(out.attribute_logits[1].grad).all()
    assert out.attribute_logits[1].grad.abs().sum() == 0


def test_all_unknown_batch_is_finite():
    targets = torch.full((2, 2), IGNORE_INDEX)
    parts = A3MLoss()(output(LOGITS, CAT, ATTRS), LABELS, targets)
    assert parts.attribute.item() == 0.0 and math.isfinite(parts.total.item())


def test_variant_weights():
    """The loss of a variant by name (a3m.models.registry): the terms it drops weigh 0."""
    targets = torch.tensor([[1, 0], [0, 2]])
    out = output(LOGITS, CAT, ATTRS)
    b1 = create_loss("baseline1", alpha=0.5, beta=0.5)(out, LABELS, targets)
    assert b1.total.item() == pytest.approx(b1.add.item())
    wo = create_loss("a3m_wo_attr", alpha=0.5, beta=0.5)(out, LABELS, targets)
    assert wo.total.item() == pytest.approx(wo.add.item() + 0.5 * wo.category.item())
    assert wo.attribute.item() > 0
    full = create_loss("a3m", alpha=0.5, beta=0.5)(out, LABELS, targets)
    assert full.total.item() > wo.total.item()


def test_bad_input():
    with pytest.raises(ValueError, match="alpha and beta must be >= 0.*alpha=-0.1"):
        A3MLoss(alpha=-0.1)
    with pytest.raises(ValueError, match="3 columns but the model has 2"):
        attribute_losses(
            [torch.zeros(2, 2), torch.zeros(2, 3)], torch.zeros(2, 3, dtype=torch.long)
        )
    with pytest.raises(ValueError, match="beta > 0 needs attribute targets"):
        A3MLoss()(output(LOGITS, CAT, ATTRS), LABELS, None)
