"""Training diagnostics (a3m.diagnostics): hand-computed statistics, gradient norms against a
manual sum, the features of eqs. (6) and (8), and what train_one_epoch returns per variant."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from a3m.data.transforms import normalize_batch
from a3m.diagnostics import (
    ATTENTION_WEIGHTS,
    GRAD_GROUPS,
    attention_stats,
    feature_norms,
    grad_norms,
    learned_attention,
    param_groups,
)
from a3m.models import (
    A3MLoss,
    A3MOutput,
    AuthorsCode,
    Model,
    create_backbone,
    create_loss,
    create_model,
)
from a3m.models.features import BackboneSpec, FeatureExtractor
from a3m.train import train_one_epoch

ATTR = (3, 2)  # K = 2


def tiny_model(variant: str = "a3m", **switches) -> Model:
    torch.manual_seed(0)
    return create_model(
        variant,
        backbone=create_backbone("tiny"),
        num_classes=5,
        attribute_classes=ATTR,
        d=8,
        authors_code=AuthorsCode(**switches),
    )


def output(masks, m_region, s_attr) -> A3MOutput:
    """An output with given attention weights (the rest is never read by attention_stats)."""
    logits = torch.zeros(1, 2)
    return A3MOutput(
        logits,
        logits,
        [],
        torch.zeros(1, 3),
        masks=torch.tensor(masks),
        m_region=torch.tensor(m_region),
        s_attr=torch.tensor(s_attr),
    )


def test_attention_stats_by_hand():
    out = output(
        masks=[[[0.005, 0.5, 0.995, 1.0], [0.0, 0.2, 0.009, 0.991]]],  # (B=1, K=2, L=4)
        m_region=[[0.5, 0.999, 0.001, 0.7]],  # (1, 4)
        s_attr=[[0.3, 0.6]],  # (1, 2)
    )
    stats = attention_stats(out)
    assert list(stats) == [
        f"{w}_{s}" for w in ATTENTION_WEIGHTS for s in ("mean", "sat_low", "sat_high")
    ]
    got = {k: v.item() for k, v in stats.items()}
    assert got["m_k_mean"] == pytest.approx((0.005 + 0.5 + 0.995 + 1 + 0 + 0.2 + 0.009 + 0.991) / 8)
    # below 0.01: 0.005, 0.0, 0.009; above 0.99: 0.995, 1.0, 0.991
    assert got["m_k_sat_low"] == 3 / 8 and got["m_k_sat_high"] == 3 / 8
    assert got["m_region_mean"] == pytest.approx(2.2 / 4)
    assert got["m_region_sat_low"] == 1 / 4 and got["m_region_sat_high"] == 1 / 4
    assert got["s_mean"] == pytest.approx(0.45)
    assert got["s_sat_low"] == 0 and got["s_sat_high"] == 0
    assert all(v.dim() == 0 and not v.requires_grad for v in stats.values())


def test_attention_stats_reports_only_the_weights_asked_and_present():
    out = output([[[0.5]]], [[0.5]], [[0.5]])
    assert set(attention_stats(out, ["m_region"])) == {
        "m_region_mean",
        "m_region_sat_low",
        "m_region_sat_high",
    }
    assert attention_stats(out, ()) == {}
    out.masks = out.m_region = out.s_attr = None  # Baseline-1's output
    assert attention_stats(out) == {}


@pytest.mark.parametrize(
    "variant, switches, learned",
    [
        ("baseline1", {}, ()),
        ("baseline2", {}, ()),  # both weights fixed, and so the masks feed nothing
        ("att1", {}, ("m_k", "m_region")),  # s fixed
        ("att2", {}, ("s",)),  # m_region fixed, the masks feed nothing
        ("a3m_wo_attr", {}, ("m_k", "m_region", "s")),
        ("a3m", {}, ("m_k", "m_region", "s")),
        ("a3m", {"merge_mean_bn": True}, ("m_region", "s")),  # m_region ignores the masks
    ],
)
def test_learned_attention_skips_fixed_weights(variant, switches, learned):
    model = tiny_model(variant, **switches)
    assert learned_attention(model) == learned
    assert learned_attention(torch.compile(model)) == learned  # (compiles nothing until called)


def test_grad_norms_match_a_manual_sum_per_group():
    model = tiny_model(branch_bn_relu=True, attention_bn=True, fused_bn=True)
    model2 = tiny_model(merge_mean_bn=True)
    for m in (model, model2):
        out = m(torch.randn(4, 3, 32, 32))
        A3MLoss()(out, torch.tensor([0, 1, 2, 3]), torch.tensor([[0, 1]] * 4)).total.backward()
    norms = grad_norms(model) | {
        k: v for k, v in grad_norms(model2).items() if k == "grad_norm/merge_bn"
    }
    # every group of GRAD_GROUPS between the two models; no parameter left ungrouped
    assert set(norms) == {f"grad_norm/{g}" for g in GRAD_GROUPS} | {"grad_norm/total"}
    for m in (model, model2):
        squares: dict[str, float] = {}
        for name, p in m.named_parameters():
            group = next(g for g, mods in GRAD_GROUPS.items() if name.split(".")[0] in mods)
            squares[group] = squares.get(group, 0.0) + float(p.grad.double().pow(2).sum())
        got = grad_norms(m)
        for group, sq in squares.items():
            assert got[f"grad_norm/{group}"].item() == pytest.approx(sq**0.5, rel=1e-5), group
        total = sum(squares.values()) ** 0.5
        assert got["grad_norm/total"].item() == pytest.approx(total, rel=1e-5)


def test_param_groups_unwrap_compile_and_collect_unknown_modules():
    model = tiny_model()
    groups = param_groups(torch.compile(model))
    assert list(groups) == ["backbone", "category", "attribute", "classifier"]
    assert sum(len(ps) for ps in groups.values()) == len(list(model.parameters()))
    model.extra = nn.Linear(2, 2)  # a module no group names
    assert len(param_groups(model)["other"]) == 2
    model.zero_grad(set_to_none=True)
    assert grad_norms(model) == {}  # before any backward: nothing to report


def test_statistics_never_read_values_back():
    """On the meta device any host read raises: the statistics stay on the device (on CUDA a
    read would be a synchronisation per step)."""
    with torch.device("meta"):
        model = tiny_model(fused_bn=True)
        out = model(torch.randn(4, 3, 32, 32))
        A3MLoss()(
            out, torch.zeros(4, dtype=torch.long), torch.zeros(4, 2, dtype=torch.long)
        ).total.backward()
    stats = attention_stats(out) | feature_norms(out) | grad_norms(model)
    assert len(stats) == 9 + 5 + 6 and all(v.device.type == "meta" for v in stats.values())


def identity_model(variant: str = "a3m", **switches) -> Model:
    backbone = FeatureExtractor(BackboneSpec("identity", 6, 1, 1), nn.Identity())
    torch.manual_seed(0)
    model = create_model(
        variant,
        backbone=backbone,
        num_classes=7,
        attribute_classes=(3, 4, 2),
        d=5,
        authors_code=AuthorsCode(**switches),
    )
    return model.double()


def test_features_follow_eqs_6_and_8():
    model = identity_model()
    X = torch.randn(2, 6, 3, 4, dtype=torch.float64)  # L = 12, K = 3
    out = model(X)
    B, L, K = 2, 12, 3
    f_region = torch.stack(
        [sum(out.V[b, l] * out.m_region[b, l] for l in range(L)) / L for b in range(B)]
    )
    f_attr = torch.stack(
        [sum(out.A[b, k] * out.s_attr[b, k] for k in range(K)) / K for b in range(B)]
    )
    torch.testing.assert_close(out.f_region, f_region)
    torch.testing.assert_close(out.f_attr, f_attr)
    torch.testing.assert_close(out.embedding, f_region + f_attr)  # eq. (9)
    assert out.f_region_bn is None and out.f_attr_bn is None
    norms = feature_norms(out)
    assert list(norms) == ["norm/f_region", "norm/f_attr", "norm/f_final"]
    torch.testing.assert_close(norms["norm/f_region"], f_region.float().norm(dim=1).mean())


def test_fused_bn_keeps_the_paper_features_and_adds_the_normalised_ones():
    model = identity_model(fused_bn=True).train()
    out = model(torch.randn(4, 6, 3, 4, dtype=torch.float64))
    expected = torch.einsum("bld,bl->bd", out.V, out.m_region) / 12  # eq. (6), before the BN
    torch.testing.assert_close(out.f_region, expected)
    torch.testing.assert_close(out.f_region_bn, model.region_bn(out.f_region))
    torch.testing.assert_close(out.f_attr_bn, model.attr_bn(out.f_attr))
    torch.testing.assert_close(out.embedding, out.f_region_bn + out.f_attr_bn)
    assert {"norm/f_region_bn", "norm/f_attr_bn"} <= set(feature_norms(out))


def test_baseline1_output_has_no_attention_features():
    out = tiny_model("baseline1")(torch.randn(2, 3, 32, 32))
    assert out.f_region is None and out.f_attr is None and out.f_region_bn is None
    assert list(feature_norms(out)) == ["norm/f_final"]


# -- train_one_epoch ---------------------------------------------------------------------------
def batches(n: int = 3, size: int = 4) -> list:
    g = torch.Generator().manual_seed(0)
    return [
        (
            torch.randint(0, 256, (size, 3, 32, 32), dtype=torch.uint8, generator=g),
            {"label": torch.arange(size) % 5, "attributes": torch.tensor([[0, 1]] * size)},
        )
        for _ in range(n)
    ]


def epoch(model: Model, loader: list, lr: float = 0.01, **kwargs) -> dict[str, float]:
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    loss = create_loss(model.variant)
    return train_one_epoch(model, loss, loader, opt, torch.device("cpu"), 0, amp=False, **kwargs)


ATTENTION_KEYS = {
    f"diag/{w}_{s}" for w in ATTENTION_WEIGHTS for s in ("mean", "sat_low", "sat_high")
}


@pytest.mark.parametrize(
    "variant, switches, weights",
    [
        ("baseline1", {}, ()),
        ("baseline2", {}, ()),
        ("att1", {}, ("m_k", "m_region")),
        ("att2", {}, ("s",)),
        ("a3m", {}, ("m_k", "m_region", "s")),
        ("a3m", {"fused_bn": True}, ("m_k", "m_region", "s")),
    ],
)
def test_train_one_epoch_returns_the_diagnostics_of_the_variant(variant, switches, weights):
    result = epoch(tiny_model(variant, **switches), batches())
    diag = {k for k in result if k.startswith("diag/")}
    expected_attention = {f"diag/{w}_{s}" for w in weights for s in ("mean", "sat_low", "sat_high")}
    assert diag & ATTENTION_KEYS == expected_attention
    assert {
        "diag/norm/f_final",
        "diag/grad_norm/backbone",
        "diag/grad_norm/classifier",
        "diag/grad_norm/total",
    } <= diag
    if variant == "baseline1":
        assert diag == {
            "diag/norm/f_final",
            "diag/grad_norm/backbone",
            "diag/grad_norm/classifier",
            "diag/grad_norm/total",
        }
    else:
        assert {
            "diag/norm/f_region",
            "diag/norm/f_attr",
            "diag/grad_norm/category",
            "diag/grad_norm/attribute",
        } <= diag
    assert (
        ("diag/norm/f_region_bn" in diag) == ("diag/grad_norm/fused_bn" in diag) == bool(switches)
    )
    assert all(isinstance(result[k], float) and result[k] == result[k] for k in diag)  # no NaN
    assert all(0 <= result[k] <= 1 for k in diag & ATTENTION_KEYS)


def test_train_one_epoch_averages_over_steps():
    """With a zero learning rate every step sees the same weights: each step's statistics of
    three batches, averaged, are the epoch's."""
    loader = batches(3)
    model = tiny_model()
    result = epoch(model, loader, lr=0.0)
    per_step = []
    for images, target in loader:
        model.zero_grad(set_to_none=True)
        out = model(normalize_batch(images))
        A3MLoss()(out, target["label"], target["attributes"]).total.backward()
        per_step.append(attention_stats(out) | feature_norms(out) | grad_norms(model))
    for key in per_step[0]:
        mean = sum(float(s[key]) for s in per_step) / len(per_step)
        assert result[f"diag/{key}"] == pytest.approx(mean, rel=1e-5), key


def test_train_one_epoch_without_diagnostics():
    result = epoch(tiny_model(), batches(1), diagnostics=False)
    assert not any(k.startswith("diag/") for k in result)
    assert {"train_loss", "train_accuracy"} <= set(result)
