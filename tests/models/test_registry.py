"""The registry of the paper's named variants: what each name builds and trains with, that every
variant builds, learns and computes what it did before the registry, and ``build_model`` /
``build_loss`` from a run's config."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from a3m.config import RunConfig
from a3m.models import (
    A3M,
    PAPER,
    VARIANTS,
    AuthorsCode,
    Baseline1,
    build_loss,
    build_model,
    create_backbone,
    create_loss,
    create_model,
    get_variant,
)
from a3m.models.registry import ModelSettings

NAMES = ["baseline1", "baseline2", "att1", "att2", "a3m_wo_attr", "a3m"]
ATTR = (3, 2)

# Outputs of every variant, with and without the authors'-code switches, recorded with the code
# before the registry (commit 76badbc: one A3M class with a `variant` argument). A refactor must
# reproduce them: a seed gives the same weights, the same forward and the same loss. Never
# re-record them to make a test pass; only for a change of the numbers that is intended, and
# say so in its commit.
REFERENCE = json.loads((Path(__file__).parent / "data" / "reference_outputs.json").read_text())
REFERENCE.pop("_about")


def tiny(name: str, **overrides) -> A3M | Baseline1:
    torch.manual_seed(0)
    args = {"num_classes": 5, "attribute_classes": ATTR, "d": 8} | overrides
    return create_model(name, backbone="tiny", **args)


def test_the_papers_six_variants_in_the_order_of_its_tables():
    assert list(VARIANTS) == NAMES
    # name -> (network, region attention, attribute attention, category loss, attribute loss)
    expected = {
        "baseline1": (Baseline1, False, False, False, False),
        "baseline2": (A3M, False, False, True, True),
        "att1": (A3M, True, False, True, True),
        "att2": (A3M, False, True, True, True),
        "a3m_wo_attr": (A3M, True, True, True, False),
        "a3m": (A3M, True, True, True, True),
    }
    for name, v in VARIANTS.items():
        got = (v.network, v.region_attention, v.attribute_attention)
        assert got + (v.category_loss, v.attribute_loss) == expected[name], name
        assert v.name == name and get_variant(name) is v


def test_unknown_name_lists_the_valid_ones():
    listing = ".*".join(NAMES)
    with pytest.raises(ValueError, match=f"unknown variant 'a4m'; available: {listing}"):
        create_model("a4m", backbone="tiny", num_classes=5)
    with pytest.raises(ValueError, match=f"unknown variant 'A3M'; available: {listing}"):
        create_loss("A3M")
    with pytest.raises(TypeError):
        VARIANTS["x"] = VARIANTS["a3m"]  # read-only: the six names are what studies call


@pytest.mark.parametrize("name", NAMES)
def test_variant_builds_its_network_with_its_attention(name):
    model = tiny(name)
    v = VARIANTS[name]
    assert type(model) is v.network and model.variant == name
    if isinstance(model, A3M):
        assert (model.region_attention, model.attribute_attention) == (
            v.region_attention,
            v.attribute_attention,
        )
        assert model.authors_code == PAPER


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("retrieval", [False, True], ids=["classification", "retrieval"])
def test_shapes_and_finite_outputs(name, retrieval):
    attrs = {"attribute_classes": (), "num_attributes": 4} if retrieval else {}
    model = tiny(name, retrieval=retrieval, **attrs).eval()
    with torch.no_grad():
        out = model(torch.randn(3, 3, 32, 32))
    assert out.logits.shape == out.category_logits.shape == (3, 5)
    assert out.embedding.shape == (3, model.embedding_dim)
    assert model.embedding_dim == (128 if name == "baseline1" and not retrieval else 8)
    assert [t.shape[1] for t in out.attribute_logits] == ([] if retrieval else [3, 2]) * (
        name != "baseline1"
    )
    for field in ("logits", "category_logits", "embedding", "masks", "m_region", "s_attr"):
        t = getattr(out, field)
        assert t is None or torch.isfinite(t).all(), field
    assert (out.masks is None) == (name == "baseline1")
    if name != "baseline1":
        v = VARIANTS[name]
        assert out.masks.shape == (3, 4 if retrieval else 2, 16)  # (B, K, L), L = 4 x 4
        assert torch.all(out.m_region == 1) != v.region_attention
        assert torch.all(out.s_attr == 1) != v.attribute_attention


@pytest.mark.parametrize("name", NAMES)
def test_every_parameter_learns_under_the_variants_loss(name):
    model = tiny(name).train()
    out = model(torch.randn(4, 3, 32, 32))
    loss = create_loss(name)(out, torch.tensor([0, 1, 2, 3]), torch.tensor([[0, 1]] * 4))
    assert torch.isfinite(loss.total)
    loss.total.backward()
    for param_name, p in model.named_parameters():
        if name == "a3m_wo_attr" and param_name.startswith("attribute_fc"):
            # its attribute classifiers carry zero loss weight by design
            assert p.grad is None or p.grad.abs().sum() == 0, param_name
            continue
        assert p.grad is not None and torch.isfinite(p.grad).all(), param_name
        assert p.grad.abs().sum() > 0, f"{param_name} got no gradient in {name}"


def test_a3m_wo_attr_is_the_a3m_network_with_beta_0():
    wo, full = tiny("a3m_wo_attr"), tiny("a3m")
    assert type(wo) is A3M and wo.region_attention and wo.attribute_attention
    assert wo.state_dict().keys() == full.state_dict().keys()
    assert all(torch.equal(a, b) for a, b in zip(wo.parameters(), full.parameters(), strict=True))
    loss = create_loss("a3m_wo_attr", alpha=0.3, beta=0.7)
    assert (loss.alpha, loss.beta) == (0.3, 0.0)  # forced: a study's beta cannot revive it
    assert (create_loss("a3m", alpha=0.3, beta=0.7).beta) == 0.7


def test_a3m_wo_attr_branches_still_feed_the_attention():
    model = tiny("a3m_wo_attr").train()
    out = model(torch.randn(2, 3, 32, 32))
    labels, attrs = torch.tensor([0, 3]), torch.tensor([[0, 1], [2, 0]])
    loss = create_loss("a3m_wo_attr", alpha=0.5, beta=0.7)(out, labels, attrs)
    assert loss.attribute > 0  # reported ...
    torch.testing.assert_close(loss.total, loss.add + 0.5 * loss.category)  # ... with zero weight
    loss.total.backward()
    # the attribute branches learn through the attention, without their labels
    assert model.attribute_conv.weight.grad.abs().sum() > 0
    assert model.attribute_fc.weight.grad is None or model.attribute_fc.weight.grad.abs().sum() == 0


def test_baseline1_trains_its_one_classifier_only():
    loss = create_loss("baseline1", alpha=0.3, beta=0.7)
    assert (loss.alpha, loss.beta) == (0.0, 0.0)  # L_cat would count its one head twice


def test_baseline1_ignores_the_arguments_of_a3ms_branches():
    """One set of arguments builds every variant, as one RunConfig does in a study's grid."""
    model = tiny("baseline1", attr_pooling="max", authors_code=AuthorsCode(fused_bn=True))
    assert type(model) is Baseline1
    assert [k for k in model.state_dict() if not k.startswith("backbone.")] == [
        "classifier.weight",
        "classifier.bias",
    ]


def test_the_attention_a_variant_fixes_cannot_be_overridden():
    with pytest.raises(ValueError, match="variant 'a3m' fixes region_attention.*att2"):
        tiny("a3m", region_attention=False)


def test_a_built_backbone_takes_no_weights_arguments():
    with pytest.raises(ValueError, match="backbone given by name only"):
        create_model("a3m", backbone=create_backbone("tiny"), num_classes=5, pretrained=True)


def test_every_variant_starts_from_the_same_backbone():
    """The backbone is built before the heads: on one seed every variant has its weights."""
    reference = tiny(NAMES[0]).backbone.state_dict()
    for name in NAMES[1:]:
        state = tiny(name).backbone.state_dict()
        assert all(torch.equal(state[k], reference[k]) for k in reference), name


# -- the numbers before the registry --------------------------------------------------------------
def _reference_case(key: str) -> dict:
    """Rebuild a recorded case with today's API; ``key`` says name, mode, pooling, switches."""
    name, retrieval, pooling, switches = key.split(" ")
    retrieval = retrieval == "retrieval=1"
    switches = switches.removeprefix("switches=")
    on = [] if switches == "-" else switches.split("+")
    model = tiny(
        name,
        attribute_classes=() if retrieval else ATTR,
        num_attributes=4 if retrieval else None,
        retrieval=retrieval,
        attr_pooling=pooling.removeprefix("pooling="),
        authors_code=AuthorsCode(dropout=0.25, **dict.fromkeys(on, True)),
    )
    loss_fn = create_loss(name, alpha=0.4, beta=0.7)
    model = model.double().train()  # train: BN on batch statistics, and the dropouts
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    torch.manual_seed(2)  # the dropouts'
    out = model(x)
    attrs = None if retrieval else torch.tensor([[0, 1], [2, -100]])
    parts = loss_fn(out, torch.tensor([1, 4]), attrs)
    flat = lambda t: None if t is None else t.detach().flatten().tolist()  # noqa: E731
    return {
        "logits": flat(out.logits),
        "category_logits": flat(out.category_logits),
        "attribute_logits": (
            flat(torch.cat(out.attribute_logits, 1)) if out.attribute_logits else []
        ),
        "embedding": flat(out.embedding),
        "m_region": flat(out.m_region),
        "s_attr": flat(out.s_attr),
        "loss": [getattr(parts, t).item() for t in ("total", "add", "category", "attribute")],
        "loss_weights": [loss_fn.alpha, loss_fn.beta],
        "state_dict_keys": [k for k in model.state_dict() if not k.startswith("backbone.")],
    }


def test_the_reference_covers_every_variant_and_switch():
    names = {key.split(" ")[0] for key in REFERENCE}
    switches = {s for key in REFERENCE for s in key.split("switches=")[1].split("+")}
    assert names == set(NAMES)
    assert switches - {"-"} == {f.name for f in dataclasses.fields(AuthorsCode)} - {"dropout"}


@pytest.mark.parametrize("key", sorted(REFERENCE))
def test_same_numbers_as_before_the_registry(key):
    """Same seed, same weights, same forward and loss; same state-dict keys (old checkpoints
    load). float64 with a tolerance far below any real change, for other CPUs' summation
    orders."""
    got, want = _reference_case(key), REFERENCE[key]
    assert got.keys() == want.keys()
    assert got["state_dict_keys"] == want["state_dict_keys"]
    assert got["loss_weights"] == want["loss_weights"]
    for field in got.keys() - {"state_dict_keys", "loss_weights"}:
        if want[field] is None:
            assert got[field] is None, field
        else:
            close = np.testing.assert_allclose
            close(got[field], want[field], rtol=1e-9, atol=1e-12, err_msg=field)


# -- from a run's config ------------------------------------------------------------------------
def _config(**changes) -> RunConfig:
    base = dict(backbone="tiny", d=8, num_classes=5, attribute_classes=ATTR)
    return RunConfig(**(base | changes))


@pytest.mark.parametrize("name", NAMES)
def test_build_model_and_build_loss_follow_the_config(name):
    cfg = _config(variant=name, alpha=0.3, beta=0.6)
    torch.manual_seed(0)
    model = build_model(cfg)
    expected = tiny(name)
    assert type(model) is type(expected) and model.variant == name
    state, want = model.state_dict(), expected.state_dict()
    assert state.keys() == want.keys() and all(torch.equal(state[k], want[k]) for k in want)
    loss, variant_loss = build_loss(cfg), create_loss(name, alpha=0.3, beta=0.6)
    assert (loss.alpha, loss.beta) == (variant_loss.alpha, variant_loss.beta)


def test_build_model_passes_the_authors_code_switches():
    switches = {f.name: True for f in dataclasses.fields(AuthorsCode) if f.name != "dropout"}
    model = build_model(_config(dropout=0.3, **switches))
    assert model.authors_code == AuthorsCode(dropout=0.3, **switches)


def test_build_model_needs_a_resolved_config():
    with pytest.raises(ValueError, match="resolve the config"):
        build_model(RunConfig(backbone="tiny"))


def test_a_run_config_is_what_build_model_reads():
    """``ModelSettings`` (what build_model and build_loss read, named by shape: a3m.config
    imports a3m.models) names RunConfig's fields, the authors'-code switches among them."""
    read = {name for name, value in vars(ModelSettings).items() if isinstance(value, property)}
    assert {f.name for f in dataclasses.fields(AuthorsCode)} <= read
    cfg = _config()
    assert all(hasattr(cfg, name) for name in read), read - set(dir(cfg))
