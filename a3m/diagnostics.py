"""Training diagnostics: the statistics that explain how the attention of A3M trains.

A variant that trails its baseline leaves no trace in its accuracy of *why*. These functions
compute, from one forward pass and its backward, what usually answers it:

- :func:`attention_stats`: the mean and the saturated fractions of the attention weights m^(k)
  (eq. 5), m_region (eq. 6) and s (eq. 7). A saturated sigmoid passes almost no gradient, and
  its two sides mean different things: near 1 the attention degenerates into plain averaging
  (Baseline-2), near 0 it switches its regions or attributes off.
- :func:`feature_norms`: the mean L2 norms of f_region (eq. 6) and f_attr (eq. 8), the two
  summands of eq. (9), and of f_final; with ``fused_bn`` also the normalised summands the
  classifier adds (a summand much smaller than the other contributes little to f_final).
- :func:`grad_norms`: the gradient norm of each part of the model (:data:`GRAD_GROUPS`).

Every function returns 0-d tensors on the model's device, never Python numbers: the trainer
adds them up over an epoch on the device and reads them back once (a per-step read would be a
CUDA synchronisation). They run outside the model's ``forward``, so a ``torch.compile``-d model
is diagnosed the same way. Names are those the trainer logs, without its :data:`PREFIX`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import torch
from torch import nn

from a3m.models.a3m import A3M, A3MOutput

PREFIX = "diag/"
"""The prefix of these statistics in the trainer's epoch metrics (and so in MLflow)."""

SATURATION_EPS = 0.01
"""A sigmoid output within this of 0 or 1 counts as saturated: there |logit| > ln(99) = 4.6
and the sigmoid's derivative p(1 - p) is below 0.0099, under 4% of its maximum 0.25, so the
weight has all but stopped learning. 0.01 is also well above bfloat16's resolution near 1
(2^-8 = 0.004), so the count means the same under autocast."""

ATTENTION_WEIGHTS: tuple[str, ...] = ("m_k", "m_region", "s")
"""The attention weights :func:`attention_stats` describes: the K masks m^(k) (eq. 5), the
region weights m_region (eq. 6) and the attribute weights s (eq. 7)."""

FEATURES: tuple[str, ...] = ("f_region", "f_attr", "f_region_bn", "f_attr_bn", "f_final")
"""The features whose norms :func:`feature_norms` reports (the ``_bn`` ones with fused_bn)."""

GRAD_GROUPS: dict[str, tuple[str, ...]] = {
    "backbone": ("backbone",),
    "category": ("category_conv", "category_fc"),  # eq. (1)
    "attribute": ("attribute_conv", "attribute_fc"),  # eq. (3)
    # eq. (9); Baseline-1's retrieval FC (embed) feeds only its classifier's embedding
    "classifier": ("classifier", "embed"),
    # the BatchNorm layers of the authors'-code switches, one group per switch
    "branch_bn": ("category_map_bn", "category_vec_bn", "attribute_map_bn", "attribute_vec_bn"),
    "merge_bn": ("merge_bn",),
    "attention_bn": ("attention_bn_layer",),
    "fused_bn": ("region_bn", "attr_bn"),
}
"""Gradient-norm group -> the top-level submodules of :class:`a3m.models.A3M` (and
:class:`a3m.models.Baseline1`) it holds.
Parameters of any other submodule are reported as ``other``; ``total`` covers them all."""


def unwrap(model: nn.Module) -> nn.Module:
    """The module a ``torch.compile`` wrapper holds (its parameter names carry ``_orig_mod.``)."""
    return getattr(model, "_orig_mod", model)


def learned_attention(model: nn.Module) -> tuple[str, ...]:
    """The :data:`ATTENTION_WEIGHTS` that the model learns, i.e. that weight a feature of
    eq. (6) or (8) and get a gradient.

    Left out: all for Baseline-1 (no attention); m_region and s where the model's attention
    switch fixes them to ones (Baseline-2 both, Att-1 s, Att-2 m_region): constant, their "100%
    saturated" would mean nothing; and m^(k) wherever m_region is not their maximum (fixed, or
    ``merge_mean_bn``'s sigmoid of the normalised mean logit): the masks then feed nothing.
    """
    model = unwrap(model)
    if not isinstance(model, A3M):
        return ()
    learned = {
        "m_k": model.region_attention and not model.authors_code.merge_mean_bn,
        "m_region": model.region_attention,
        "s": model.attribute_attention,
    }
    return tuple(name for name in ATTENTION_WEIGHTS if learned[name])


def _weight_stats(name: str, weights: torch.Tensor) -> dict[str, torch.Tensor]:
    w = weights.detach().float()
    return {
        f"{name}_mean": w.mean(),
        f"{name}_sat_low": (w < SATURATION_EPS).float().mean(),
        f"{name}_sat_high": (w > 1 - SATURATION_EPS).float().mean(),
    }


def attention_stats(
    out: A3MOutput, weights: Collection[str] = ATTENTION_WEIGHTS
) -> dict[str, torch.Tensor]:
    """Mean and saturated fractions (below :data:`SATURATION_EPS`, above 1 - it) of the
    attention weights, over the batch and every position or attribute.

    Args:
        out: a forward pass's output; its ``masks`` (B, K, L), ``m_region`` (B, L) and
            ``s_attr`` (B, K) are read, and those that are None (Baseline-1) skipped.
        weights: the :data:`ATTENTION_WEIGHTS` to report; pass :func:`learned_attention` of
            the model to leave out the fixed ones.

    Returns:
        ``{w}_mean``, ``{w}_sat_low`` and ``{w}_sat_high`` for each reported weight ``w``,
        e.g. ``m_region_sat_high``; 0-d float32 tensors, detached.
    """
    tensors = {"m_k": out.masks, "m_region": out.m_region, "s": out.s_attr}
    stats: dict[str, torch.Tensor] = {}
    for name in ATTENTION_WEIGHTS:
        if name in weights and tensors[name] is not None:
            stats |= _weight_stats(name, tensors[name])
    return stats


def feature_norms(out: A3MOutput) -> dict[str, torch.Tensor]:
    """Mean over the batch of the L2 norm of each :data:`FEATURES` the output has.

    ``f_region``, ``f_attr``: eqs. (6), (8) before any BN (the paper's); ``f_region_bn``,
    ``f_attr_bn``: after ``fused_bn``'s BN, what eq. (9) adds; ``f_final``: the embedding the
    classifier reads (Baseline-1: the pooled backbone features, or their FC in retrieval; with
    ``concat_final`` the (B, 2d) concatenation after its ReLU and dropout).

    Returns:
        ``norm/{feature}`` -> 0-d float32 tensor, detached.
    """
    tensors = {
        "f_region": out.f_region,
        "f_attr": out.f_attr,
        "f_region_bn": out.f_region_bn,
        "f_attr_bn": out.f_attr_bn,
        "f_final": out.embedding,
    }
    return {
        f"norm/{name}": torch.linalg.vector_norm(f.detach().float(), dim=1).mean()  # (B,) -> ()
        for name, f in tensors.items()
        if f is not None
    }


def param_groups(model: nn.Module) -> dict[str, list[nn.Parameter]]:
    """The model's trainable parameters by :data:`GRAD_GROUPS` (plus ``other``), groups without
    parameters left out. Works on a ``torch.compile``-d model."""
    owner = {m: g for g, modules in GRAD_GROUPS.items() for m in modules}
    groups: dict[str, list[nn.Parameter]] = {}
    for name, p in unwrap(model).named_parameters():
        if p.requires_grad:
            groups.setdefault(owner.get(name.split(".", 1)[0], "other"), []).append(p)
    return groups


def grad_norms(
    model: nn.Module, groups: Mapping[str, Sequence[torch.Tensor]] | None = None
) -> dict[str, torch.Tensor]:
    """The L2 norm of the gradient of each parameter group, after a backward pass.

    Args:
        model: the model (read only when ``groups`` is None).
        groups: :func:`param_groups` of the model, computed once by a caller that calls this
            every step.

    Returns:
        ``grad_norm/{group}`` -> 0-d float32 tensor on the parameters' device, for every group
        with at least one gradient, and ``grad_norm/total`` over all of them.
    """
    groups = param_groups(model) if groups is None else groups
    norms: dict[str, torch.Tensor] = {}
    for name, params in groups.items():
        grads = [p.grad for p in params if p.grad is not None]
        if grads:
            per_param = torch._foreach_norm(grads)  # one 0-d norm per parameter, on the device
            norms[f"grad_norm/{name}"] = torch.linalg.vector_norm(torch.stack(per_param)).float()
    if norms:
        norms["grad_norm/total"] = torch.linalg.vector_norm(torch.stack(list(norms.values())))
    return norms
