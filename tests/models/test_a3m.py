"""A3M heads against an independent NumPy computation of equations (1)-(10), its two attention
switches and the authors'-code switches. The named variants: test_registry.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from a3m.models import A3M, PAPER, A3MLoss, AuthorsCode, create_backbone
from a3m.models.features import BackboneSpec, FeatureExtractor

B, C, H, W, D = 2, 6, 3, 4, 5  # L = 12
ATTR = (3, 4, 2)  # K = 3 attributes with their own class counts
NUM_CLASSES = 7


def identity_backbone(channels: int = C) -> FeatureExtractor:
    """A 'backbone' that passes a given feature map through, so the heads see fixed tensors."""
    return FeatureExtractor(BackboneSpec("identity", channels, 1, 1), nn.Identity())


def make_model(**kwargs) -> A3M:
    torch.manual_seed(0)
    model = A3M(identity_backbone(), NUM_CLASSES, ATTR, d=D, **kwargs)
    return model.double().eval()


def feature_map(seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, C, H, W, generator=g, dtype=torch.float64)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def reference(model: A3M, X: torch.Tensor, equal_region=False, equal_attr=False) -> dict:
    """Equations (1)-(10) written out in NumPy, one attribute and one region at a time."""
    x = X.numpy().reshape(B, C, H * W)  # (B, C, L)
    L, K = H * W, len(ATTR)
    Wc = model.category_conv.weight.detach().numpy().reshape(D, C)
    bc = model.category_conv.bias.detach().numpy()
    Wa = model.attribute_conv.weight.detach().numpy().reshape(K * D, C)
    ba = model.attribute_conv.bias.detach().numpy()
    out = {k: [] for k in ("V", "v_cat", "A", "masks", "m_region", "f_region", "s", "f_attr")}
    for b in range(B):
        V = np.stack([Wc @ x[b, :, l] + bc for l in range(L)])  # (L, d): v_l
        v_cat = V.mean(axis=0)
        # each attribute branch: its own 1x1 conv (rows k*d..(k+1)*d), then average pooling
        A = np.stack(
            [
                np.mean(
                    [
                        Wa[k * D : (k + 1) * D] @ x[b, :, l] + ba[k * D : (k + 1) * D]
                        for l in range(L)
                    ],
                    axis=0,
                )
                for k in range(K)
            ]
        )  # (K, d)
        masks = np.array([[sigmoid(V[l] @ A[k]) for l in range(L)] for k in range(K)])  # eq. 5
        m_region = np.ones(L) if equal_region else masks.max(axis=0)
        f_region = sum(V[l] * m_region[l] for l in range(L)) / L  # eq. 6
        s = np.ones(K) if equal_attr else np.array([sigmoid(A[k] @ v_cat) for k in range(K)])
        f_attr = sum(A[k] * s[k] for k in range(K)) / K  # eq. 8
        for key, val in zip(out, (V, v_cat, A, masks, m_region, f_region, s, f_attr), strict=True):
            out[key].append(val)
    ref = {k: np.stack(v) for k, v in out.items()}
    ref["f_final"] = ref["f_region"] + ref["f_attr"]
    Wf, bf = model.classifier.weight.detach().numpy(), model.classifier.bias.detach().numpy()
    ref["logits"] = ref["f_final"] @ Wf.T + bf  # eq. 9
    Wcat, bcat = model.category_fc.weight.detach().numpy(), model.category_fc.bias.detach().numpy()
    ref["category_logits"] = ref["v_cat"] @ Wcat.T + bcat  # eq. 1
    Wk = model.attribute_fc.weight.detach().numpy()
    bk = model.attribute_fc.bias.detach().numpy()
    starts = np.cumsum((0, *ATTR))
    ref["attribute_logits"] = [
        ref["A"][:, k] @ Wk[starts[k] : starts[k + 1]].T + bk[starts[k] : starts[k + 1]]
        for k in range(K)
    ]  # eq. 3
    return ref


def test_equations_match_numpy_reference():
    model = make_model()
    X = feature_map()
    out = model(X)
    ref = reference(model, X)
    close = lambda a, b: np.testing.assert_allclose(a.detach().numpy(), b, rtol=1e-10, atol=1e-12)  # noqa: E731
    close(out.V, ref["V"])
    close(out.v_cat, ref["v_cat"])
    close(out.A, ref["A"])
    close(out.masks, ref["masks"])
    close(out.m_region, ref["m_region"])
    close(out.s_attr, ref["s"])
    close(out.embedding, ref["f_final"])
    close(out.logits, ref["logits"])
    close(out.category_logits, ref["category_logits"])
    for got, want in zip(out.attribute_logits, ref["attribute_logits"], strict=True):
        close(got, want)
    assert out.feature_size == (H, W)


def test_hand_computed_scalar_case():
    """d = 1, L = 2, K = 1: small enough to do on paper."""
    model = A3M(identity_backbone(1), 2, (2,), d=1).double()
    with torch.no_grad():
        model.category_conv.weight.fill_(1.0)
        model.category_conv.bias.zero_()
        model.attribute_conv.weight.fill_(2.0)
        model.attribute_conv.bias.zero_()
    X = torch.tensor([[[[1.0, -1.0]]]], dtype=torch.float64)  # regions x = (1, -1)
    out = model(X)
    # V = (1, -1); v_cat = 0; a = mean(2, -2) = 0 -> every logit is 0 -> sigmoid 0.5.
    assert out.masks.flatten().tolist() == [0.5, 0.5]
    # f_region = (1 * 0.5 + (-1) * 0.5) / 2 = 0; s = 0.5; f_attr = 0 * 0.5 / 1 = 0.
    assert out.embedding.item() == 0.0
    with torch.no_grad():
        model.attribute_conv.bias.fill_(1.0)  # a = 1
    out = model(X)
    s = 1 / (1 + np.exp(-1.0))
    # masks = sigmoid(1 * 1), sigmoid(-1 * 1); f_region = (s - (1 - s)) / 2; s_attr = sigmoid(0).
    np.testing.assert_allclose(out.masks.flatten().tolist(), [s, 1 - s])
    np.testing.assert_allclose(out.embedding.item(), (2 * s - 1) / 2 + 0.5 * 1.0)


@pytest.mark.parametrize(
    "region_attention, attribute_attention",
    [(False, False), (True, False), (False, True), (True, True)],
    ids=["baseline2", "att1", "att2", "a3m"],
)
def test_attention_switches_match_reference(region_attention, attribute_attention):
    model = make_model(region_attention=region_attention, attribute_attention=attribute_attention)
    X = feature_map()
    out = model(X)
    ref = reference(model, X, equal_region=not region_attention, equal_attr=not attribute_attention)
    np.testing.assert_allclose(out.embedding.detach().numpy(), ref["f_final"], rtol=1e-10)
    np.testing.assert_allclose(out.logits.detach().numpy(), ref["logits"], rtol=1e-10)


def test_both_attentions_off_is_plain_averaging():
    """Baseline-2."""
    out = make_model(region_attention=False, attribute_attention=False)(feature_map())
    assert torch.all(out.m_region == 1) and torch.all(out.s_attr == 1)
    torch.testing.assert_close(out.embedding, out.V.mean(dim=1) + out.A.mean(dim=1))


def test_att1_averages_attributes_and_att2_averages_regions():
    X = feature_map()
    att1 = make_model(attribute_attention=False)(X)
    att2 = make_model(region_attention=False)(X)
    full = make_model()(X)
    assert torch.all(att1.s_attr == 1) and not torch.all(att1.m_region == 1)
    torch.testing.assert_close(att1.m_region, full.m_region)
    assert torch.all(att2.m_region == 1) and not torch.all(att2.s_attr == 1)
    torch.testing.assert_close(att2.s_attr, full.s_attr)
    torch.testing.assert_close(
        att2.embedding - att2.A.mul(att2.s_attr[..., None]).mean(1), att2.V.mean(1)
    )


def test_fused_attribute_branches_equal_k_separate_convs():
    torch.manual_seed(0)
    K, d, c = 28, 16, 32
    backbone = FeatureExtractor(BackboneSpec("identity", c, 1, 1), nn.Identity())
    X = torch.randn(3, c, 7, 7)
    separate = [nn.Conv2d(c, d, 1) for _ in range(K)]
    for pooling in ("avg", "max"):
        model = A3M(backbone, 5, [4] * K, d=d, attr_pooling=pooling)
        with torch.no_grad():
            model.attribute_conv.weight.copy_(torch.cat([m.weight for m in separate]))
            model.attribute_conv.bias.copy_(torch.cat([m.bias for m in separate]))
        pool = (
            (lambda t: t.mean(dim=(2, 3))) if pooling == "avg" else (lambda t: t.amax(dim=(2, 3)))
        )
        expected = torch.stack([pool(m(X)) for m in separate], dim=1)  # (B, K, d)
        got = model(X).A
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_grouped_classifier_equals_k_linears():
    torch.manual_seed(0)
    model = make_model().float()
    A = torch.randn(4, len(ATTR), D)
    got = model.attribute_fc(A)
    W, b = model.attribute_fc.weight, model.attribute_fc.bias
    start = 0
    for k, n in enumerate(ATTR):
        want = A[:, k] @ W[start : start + n].T + b[start : start + n]
        torch.testing.assert_close(got[k], want)
        start += n


SWITCHES = ["branch_bn_relu", "merge_mean_bn", "attention_bn", "fused_bn", "concat_final"]


@pytest.mark.parametrize(
    "region_attention, attribute_attention", [(False, False), (True, False), (False, True)]
)
def test_gradients_reach_backbone_and_every_head(region_attention, attribute_attention):
    """Every switch setting (both on: test_registry.py, with the variants' losses)."""
    torch.manual_seed(0)
    model = A3M(
        create_backbone("tiny"),
        5,
        (3, 2),
        d=8,
        region_attention=region_attention,
        attribute_attention=attribute_attention,
    ).train()
    out = model(torch.randn(4, 3, 32, 32))
    A3MLoss()(out, torch.tensor([0, 1, 2, 3]), torch.tensor([[0, 1]] * 4)).total.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, f"{name} got no gradient"


@pytest.mark.parametrize("switch", SWITCHES)
def test_authors_code_switches_train_and_shape(switch):
    torch.manual_seed(0)
    authors_code = AuthorsCode(**{switch: True})
    model = A3M(create_backbone("tiny"), 5, (3, 2), d=8, authors_code=authors_code).train()
    out = model(torch.randn(4, 3, 32, 32))
    assert out.embedding.shape == (4, 16 if switch == "concat_final" else 8)
    assert model.embedding_dim == out.embedding.shape[1]
    A3MLoss()(out, torch.tensor([0, 1, 2, 3]), torch.tensor([[0, 1]] * 4)).total.backward()
    assert model.backbone.body[0].weight.grad.abs().sum() > 0
    for name, p in model.named_parameters():
        assert p.grad is not None, f"{name} got no gradient with {switch}"


def test_merge_mean_bn_uses_one_sigmoid_of_the_normalised_mean():
    model = make_model(authors_code=AuthorsCode(merge_mean_bn=True))
    out = model(feature_map())
    logits = torch.einsum("bld,bkd->bkl", out.V, out.A).mean(1, keepdim=True)
    torch.testing.assert_close(out.m_region, torch.sigmoid(model.merge_bn(logits)).squeeze(1))


def test_switches_off_by_default_equal_the_paper():
    model = make_model()
    assert model.authors_code == PAPER == AuthorsCode()
    assert not any(getattr(PAPER, s) for s in SWITCHES)
    assert model.region_attention and model.attribute_attention
    assert not any(isinstance(m, (nn.BatchNorm1d, nn.Dropout)) for m in model.modules())


def test_retrieval_mode_has_unsupervised_branches():
    torch.manual_seed(0)
    model = A3M(create_backbone("tiny"), 5, num_attributes=4, d=12, retrieval=True)
    out = model(torch.randn(2, 3, 32, 32))
    assert out.attribute_logits == [] and out.A.shape == (2, 4, 12)
    assert out.embedding.shape == (2, 12) and model.attribute_fc is None


def test_batch_of_one_and_fixed_seed_reproducible():
    def run():
        torch.manual_seed(123)
        model = A3M(create_backbone("tiny"), 5, (3, 2), d=8).train()
        return model(torch.randn(1, 3, 32, 32))

    a, b = run(), run()
    assert a.logits.shape == (1, 5)
    torch.testing.assert_close(a.logits, b.logits, rtol=0, atol=0)
    torch.testing.assert_close(a.masks, b.masks, rtol=0, atol=0)


def test_no_python_loop_over_attributes_in_forward():
    """The fused branch runs as one conv/linear: building K = 28 adds no per-attribute module."""
    model = A3M(identity_backbone(), 3, [4] * 28, d=D)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 2  # the category conv and ONE conv for all 28 attribute branches
    assert model.attribute_conv.out_channels == 28 * D


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"attribute_classes": (3, 1)}, "attribute_classes.*bad entries: \\[1\\]"),
        ({"attribute_classes": (3, 2), "num_attributes": 3}, "num_attributes=3 disagrees"),
        ({"attribute_classes": ()}, "A3M needs attribute branches"),
        ({"d": 0}, "d \\(embedding size\\)"),
        ({"attr_pooling": "median"}, "attr_pooling"),
        ({"retrieval": True}, "retrieval mode has no attribute classifiers"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    args = {"attribute_classes": (3, 2), **kwargs}
    with pytest.raises(ValueError, match=match):
        A3M(identity_backbone(), 4, **args)


def test_image_too_small_for_backbone_stride():
    model = A3M(create_backbone("tiny"), 5, (3, 2), d=8)
    with pytest.raises(ValueError, match="too small for backbone 'tiny'.*at least 8x8"):
        model(torch.randn(1, 3, 6, 32))
