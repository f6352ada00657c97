"""The Attribute-Aware Attention Model (paper Sec. 3, equations (1)-(10)).

Shapes: B batch, C backbone channels, d embedding size, L = h*w regions, K attributes.

- category branch (1): V = conv1x1(X) (B, L, d); v_cat = mean_l V; category logits W_c v_cat.
- attribute branches (3): a_k = pool(conv1x1_k(X)) (B, K, d); logits_k = W_k a_k. The K
  branches are one conv with K*d outputs; with average pooling and no BN/ReLU inside the
  branch, pool-then-project equals project-then-pool (both linear), so we pool first and never
  materialise the (B, K*d, h, w) map.
- attribute-guided attention (5)-(6): m_k = sigmoid(V a_k) (B, K, L); m_region = max_k m_k;
  f_region = V^T m_region / L.
- category-guided attention (7)-(8): s = sigmoid(A v_cat) (B, K); f_attr = A^T s / K.
- final (9): f_final = f_region + f_attr; logits = W f_final.

The paper's attention ablations (Sec. 4.3, Fig. 5) are one network with two independent
switches: ``region_attention`` (eqs. (5)-(6); off, m_region = 1 and the regions are
average-pooled) and ``attribute_attention`` (eqs. (7)-(8); off, s = 1 and the attributes are
averaged). Both off is Baseline-2, region only Att-1, attribute only Att-2, both A3M. The named
variants, Baseline-1 (:mod:`a3m.models.baseline`) and each variant's loss are in
:mod:`a3m.models.registry`.

The authors' Keras code differs from the paper (docs/reproduction.md, "Paper vs the authors' code");
:class:`AuthorsCode` holds each difference as a switch, all off by default (= the paper).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from a3m.models.features import FeatureExtractor

ATTR_POOLINGS: tuple[str, ...] = ("avg", "max")


@dataclass
class A3MOutput:
    """Everything one forward pass computes (docs/design.md, "Contracts").

    Fields that a network does not compute (:class:`~a3m.models.baseline.Baseline1` has no
    attention) are ``None``; ``attribute_logits`` is then an empty list.
    """

    logits: torch.Tensor  # (B, num_classes), eq. (9)
    category_logits: torch.Tensor  # (B, num_classes), eq. (1)
    attribute_logits: list[torch.Tensor]  # K x (B, C_k), eq. (3); [] without classifiers
    embedding: torch.Tensor  # (B, d) f_final ((B, 2d) with concat_final)
    V: torch.Tensor | None = None  # (B, L, d) region features
    A: torch.Tensor | None = None  # (B, K, d) attribute embeddings
    v_cat: torch.Tensor | None = None  # (B, d) category embedding
    masks: torch.Tensor | None = None  # (B, K, L) m^(k), eq. (5)
    m_region: torch.Tensor | None = None  # (B, L) the region weights used in eq. (6)
    s_attr: torch.Tensor | None = None  # (B, K) the attribute weights used in eq. (8)
    feature_size: tuple[int, int] = (0, 0)  # (h, w) of the feature map, L = h*w
    # The two summands of eq. (9), for diagnostics (a3m.diagnostics). f_region and f_attr are
    # the paper's eqs. (6) and (8), before any BN; with ``fused_bn`` the classifier adds the
    # normalised f_region_bn and f_attr_bn instead (None without the switch).
    f_region: torch.Tensor | None = None  # (B, d) eq. (6): V^T m_region / L
    f_attr: torch.Tensor | None = None  # (B, d) eq. (8): A^T s / K
    f_region_bn: torch.Tensor | None = None  # (B, d) region_bn(f_region), fused_bn only
    f_attr_bn: torch.Tensor | None = None  # (B, d) attr_bn(f_attr), fused_bn only


@dataclass(frozen=True)
class AuthorsCode:
    """Where the authors' released Keras code departs from the paper's equations, one switch
    per difference; all off is the paper (docs/reproduction.md, "The five model switches").

    The field names are :class:`a3m.config.RunConfig`'s, which :func:`a3m.models.build_model`
    copies by name.

    Attributes:
        branch_bn_relu: BN and ReLU after each branch's 1x1 convolution, then BN -> ReLU ->
            Dropout on the pooled vector.
        merge_mean_bn: m_region = sigmoid(BN(mean_k V a_k)) instead of max_k sigmoid(V a_k).
        attention_bn: s = sigmoid(BN(A v_cat)) instead of sigmoid(A v_cat).
        fused_bn: f_region and f_attr are batch-normalised before eq. (9) sums them.
        concat_final: f_final = Dropout(ReLU([f_region, f_attr])), 2d wide, instead of the sum.
        dropout: the rate of the dropouts of ``branch_bn_relu`` and ``concat_final``.
    """

    branch_bn_relu: bool = False
    merge_mean_bn: bool = False
    attention_bn: bool = False
    fused_bn: bool = False
    concat_final: bool = False
    dropout: float = 0.5


PAPER = AuthorsCode()
"""No difference of the authors' code: the paper's equations (A3M's default)."""

SWITCHES: tuple[str, ...] = tuple(
    f.name for f in fields(AuthorsCode) if isinstance(f.default, bool)
)
"""The switches' names, in their order (``dropout`` is a rate, not a switch): the one list of
them, which the trainer's checkpoint check and ``studies/authors_code_vs_paper.py`` read."""


class GroupedAttributeClassifier(nn.Module):
    """K linear classifiers with their own class counts, applied in one operation.

    Rows ``[sum C_<k, sum C_<=k)`` of the stacked weight (sum_k C_k, d) are classifier k. The
    forward scatters them into a zero-padded (K, C_max, d) block and runs the K matrix
    products as one batched product: padding costs K * C_max instead of sum C_k rows (448
    against 340 for CUB's 28 heads), far less than gathering a copy of a_k for each row, a
    (B, sum C_k, d) tensor whose backward is a scatter-add.
    """

    def __init__(self, d: int, attribute_classes: Sequence[int]):
        super().__init__()
        self.sizes = [int(c) for c in attribute_classes]
        total = sum(self.sizes)
        self.weight = nn.Parameter(torch.empty(total, d))
        self.bias = nn.Parameter(torch.empty(total))
        # Row c of the weight goes to slot[c] of the padded (K * C_max) layout.
        c_max = max(self.sizes)
        slot = torch.cat([k * c_max + torch.arange(c) for k, c in enumerate(self.sizes)])
        self.register_buffer("slot", slot, persistent=False)
        # Same initialisation as nn.Linear(d, C_k).
        bound = 1.0 / d**0.5
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, A: torch.Tensor) -> list[torch.Tensor]:
        B, K, d = A.shape
        c_max = max(self.sizes)
        padded = self.weight.new_zeros(K * c_max, d).index_copy(0, self.slot, self.weight)
        padded = padded.view(K, c_max, d)  # (K, C_max, d), zero rows beyond C_k
        logits = torch.bmm(A.transpose(0, 1), padded.transpose(1, 2))  # (K, B, C_max)
        logits = logits.transpose(0, 1).reshape(B, K * c_max)  # (B, K * C_max)
        flat = logits.index_select(1, self.slot) + self.bias  # (B, sum C_k)
        return list(flat.split(self.sizes, dim=1))


class A3M(nn.Module):
    """Backbone + A3M heads. See the module docstring for the equations and the switches.

    Args:
        backbone: the shared CNN.
        num_classes: categories (C^(category)).
        attribute_classes: class count of each attribute head; empty for retrieval, where the
            K branches learn without labels and have no classifiers.
        num_attributes: K when ``attribute_classes`` is empty (retrieval); must equal
            ``len(attribute_classes)`` otherwise (or be None).
        d: embedding size of every branch.
        region_attention: learn the attribute-guided region weights, eqs. (5)-(6); off, every
            region weighs 1 (average pooling).
        attribute_attention: learn the category-guided attribute weights, eqs. (7)-(8); off,
            every attribute weighs 1 (averaging).
        retrieval: the embedding is the product (Tables 4-5): no attribute classifiers.
        attr_pooling: ``"avg"`` (default) or ``"max"`` pooling in the attribute branches.
        authors_code: the differences of the authors' code to apply; :data:`PAPER`, none.

    Attributes:
        variant: the registry name it was built under (:func:`a3m.models.create_model` sets
            it); None when built directly.
    """

    variant: str | None = None

    def __init__(
        self,
        backbone: FeatureExtractor,
        num_classes: int,
        attribute_classes: Sequence[int] = (),
        *,
        num_attributes: int | None = None,
        d: int = 512,
        region_attention: bool = True,
        attribute_attention: bool = True,
        retrieval: bool = False,
        attr_pooling: str = "avg",
        authors_code: AuthorsCode = PAPER,
    ):
        super().__init__()
        attribute_classes = tuple(attribute_classes)
        _check_args(num_classes, attribute_classes, num_attributes, d, retrieval, attr_pooling)
        self.backbone = backbone
        self.region_attention = region_attention
        self.attribute_attention = attribute_attention
        self.retrieval = retrieval
        self.num_classes = num_classes
        self.attribute_classes = attribute_classes
        self.d = d
        self.attr_pooling = attr_pooling
        self.authors_code = authors_code
        c = backbone.out_channels
        K = len(attribute_classes) or int(num_attributes or 0)
        self.num_attributes = K

        # The order of the layers that draw random weights (convs, linears) decides which
        # weights a seed gives; keep it, or a seed no longer reproduces earlier runs.
        self.category_conv = nn.Conv2d(c, d, 1)
        self.category_fc = nn.Linear(d, num_classes)
        # All K attribute branches as one conv: output channels [k*d, (k+1)*d) are branch k.
        self.attribute_conv = nn.Conv2d(c, K * d, 1)
        self.attribute_fc = (
            GroupedAttributeClassifier(d, attribute_classes) if attribute_classes else None
        )
        # The authors'-code layers exist only with their switch, so that a paper model's state
        # dict has none of their keys. Their names are the checkpoints' keys: keep them.
        if authors_code.branch_bn_relu:
            self.category_map_bn = nn.BatchNorm2d(d)
            self.category_vec_bn = nn.BatchNorm1d(d)
            self.attribute_map_bn = nn.BatchNorm2d(K * d)
            self.attribute_vec_bn = nn.BatchNorm1d(K * d)
            self.branch_dropout = nn.Dropout(authors_code.dropout)
        if authors_code.merge_mean_bn:
            # One channel over all positions, so any input size works (Keras normalised each of
            # its fixed L positions separately). Built even without region attention, which
            # then leaves it unused, so that such a checkpoint keeps its keys.
            self.merge_bn = nn.BatchNorm1d(1)
        if authors_code.attention_bn:
            self.attention_bn_layer = nn.BatchNorm1d(K)  # unused without attribute attention
        if authors_code.fused_bn:
            self.region_bn = nn.BatchNorm1d(d)
            self.attr_bn = nn.BatchNorm1d(d)
        if authors_code.concat_final:
            self.final_dropout = nn.Dropout(authors_code.dropout)
        self.classifier = nn.Linear(2 * d if authors_code.concat_final else d, num_classes)

    @property
    def embedding_dim(self) -> int:
        """Size of :attr:`A3MOutput.embedding` (f_final)."""
        return 2 * self.d if self.authors_code.concat_final else self.d

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, H, W) -> shared feature map (B, C, h, w)."""
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> A3MOutput:
        return self.forward_head(self.forward_features(x))

    def forward_head(self, X: torch.Tensor) -> A3MOutput:
        """Shared feature map (B, C, h, w) -> :class:`A3MOutput`."""
        h, w = X.shape[-2:]
        B, K, d, L = X.shape[0], self.num_attributes, self.d, h * w

        # Category branch, eq. (1). The branches run in this order because their dropouts
        # (branch_bn_relu) draw from the global RNG: a seed reproduces a run only so.
        V, v_cat = self._category_features(X)  # (B, L, d), (B, d)
        category_logits = self.category_fc(v_cat)

        # Attribute branches, eq. (3).
        A = self._attribute_embeddings(X).view(B, K, d)  # (B, K, d)
        attribute_logits = self.attribute_fc(A) if self.attribute_fc is not None else []

        # Attribute-guided attention, eqs. (5)-(6).
        region_logits = torch.einsum("bld,bkd->bkl", V, A)  # (B, K, L)
        masks = torch.sigmoid(region_logits)
        m_region = self._region_weights(region_logits, masks)  # (B, L)
        f_region = torch.einsum("bld,bl->bd", V, m_region) / L  # (B, d)

        # Category-guided attention, eqs. (7)-(8).
        s_attr = self._attribute_weights(A, v_cat)  # (B, K)
        f_attr = torch.einsum("bkd,bk->bd", A, s_attr) / K  # (B, d)

        # Final recognition, eq. (9).
        region_in, attr_in, f_final = self._fuse(f_region, f_attr)
        logits = self.classifier(f_final)
        fused_bn = self.authors_code.fused_bn
        return A3MOutput(
            logits=logits,
            category_logits=category_logits,
            attribute_logits=attribute_logits,
            embedding=f_final,
            V=V,
            A=A,
            v_cat=v_cat,
            masks=masks,
            m_region=m_region,
            s_attr=s_attr,
            feature_size=(h, w),
            f_region=f_region,
            f_attr=f_attr,
            f_region_bn=region_in if fused_bn else None,
            f_attr_bn=attr_in if fused_bn else None,
        )

    def _category_features(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Feature map (B, C, h, w) -> region features V (B, L, d) and v_cat (B, d)."""
        Vmap = self.category_conv(X)  # (B, d, h, w)
        if self.authors_code.branch_bn_relu:
            Vmap = F.relu(self.category_map_bn(Vmap))
        V = Vmap.flatten(2).transpose(1, 2)  # (B, L, d)
        v_cat = V.mean(dim=1)  # (B, d)
        if self.authors_code.branch_bn_relu:
            # Only the pooled vector gets the dropout: V feeds the region attention as is.
            v_cat = self.branch_dropout(F.relu(self.category_vec_bn(v_cat)))
        return V, v_cat

    def _attribute_embeddings(self, X: torch.Tensor) -> torch.Tensor:
        """Feature map (B, C, h, w) -> the K pooled attribute embeddings, flat (B, K*d)."""
        bn_relu = self.authors_code.branch_bn_relu
        if self.attr_pooling == "avg" and not bn_relu:
            # mean_l(W x_l + b) = W mean_l(x_l) + b: pool first, project a (B, C) vector.
            weight = self.attribute_conv.weight.flatten(1)  # (K*d, C)
            return F.linear(X.mean(dim=(2, 3)), weight, self.attribute_conv.bias)
        maps = self._attribute_maps(X)  # (B, K*d, h, w)
        if bn_relu:
            maps = F.relu(self.attribute_map_bn(maps))
        if self.attr_pooling == "avg":
            pooled = maps.mean(dim=(2, 3))
        else:
            pooled = maps.amax(dim=(2, 3))
        if bn_relu:
            pooled = self.branch_dropout(F.relu(self.attribute_vec_bn(pooled)))
        return pooled

    def _attribute_maps(self, X: torch.Tensor) -> torch.Tensor:
        """The K branches' 1x1 conv on the whole map, (B, C, h, w) -> (B, K*d, h, w).

        Run as the matrix product it is, over the h*w positions: on CPU 1.4x faster than the
        convolution for CUB's C = 2048 -> K*d = 14,336 (bench_fused_heads.py); for a
        channels-last input the (B, L, C) view is free. The result is channels-last in memory.
        """
        B, _, h, w = X.shape
        weight = self.attribute_conv.weight.flatten(1)  # (K*d, C)
        positions = X.flatten(2).transpose(1, 2)  # (B, L, C)
        flat = F.linear(positions, weight, self.attribute_conv.bias)  # (B, L, K*d)
        return flat.view(B, h, w, -1).permute(0, 3, 1, 2)

    def _region_weights(self, region_logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """m_region (B, L) of eq. (6) from the logits V a_k (B, K, L) and their sigmoids."""
        B, _, L = region_logits.shape
        if not self.region_attention:
            return region_logits.new_ones(B, L)
        if self.authors_code.merge_mean_bn:
            merged = self.merge_bn(region_logits.mean(dim=1, keepdim=True))  # (B, 1, L)
            return torch.sigmoid(merged.squeeze(1))
        return masks.amax(dim=1)

    def _attribute_weights(self, A: torch.Tensor, v_cat: torch.Tensor) -> torch.Tensor:
        """s (B, K) of eq. (7) from the attribute embeddings (B, K, d) and v_cat (B, d)."""
        B, K, _ = A.shape
        if not self.attribute_attention:
            return A.new_ones(B, K)
        s_logits = torch.einsum("bkd,bd->bk", A, v_cat)  # (B, K)
        if self.authors_code.attention_bn:
            s_logits = self.attention_bn_layer(s_logits)
        return torch.sigmoid(s_logits)

    def _fuse(
        self, f_region: torch.Tensor, f_attr: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Eq. (9): the two summands as the classifier sees them (after ``fused_bn``'s BN),
        and f_final, their sum ((B, 2d) concatenation with ``concat_final``)."""
        region_in, attr_in = f_region, f_attr
        if self.authors_code.fused_bn:
            region_in, attr_in = self.region_bn(f_region), self.attr_bn(f_attr)
        if self.authors_code.concat_final:
            f_final = self.final_dropout(F.relu(torch.cat([region_in, attr_in], dim=1)))
        else:
            f_final = region_in + attr_in
        return region_in, attr_in, f_final


def _check_args(
    num_classes: int,
    attribute_classes: tuple[int, ...],
    num_attributes: int | None,
    d: int,
    retrieval: bool,
    attr_pooling: str,
) -> None:
    if attr_pooling not in ATTR_POOLINGS:
        raise ValueError(f"attr_pooling must be one of {ATTR_POOLINGS}, got {attr_pooling!r}")
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    if d < 1:
        raise ValueError(f"d (embedding size) must be >= 1, got {d}")
    bad = [c for c in attribute_classes if not isinstance(c, int) or c < 2]
    if bad:
        raise ValueError(
            f"attribute_classes must be class counts >= 2, one per attribute; got "
            f"{list(attribute_classes)} (bad entries: {bad})"
        )
    if retrieval and attribute_classes:
        raise ValueError(
            "retrieval mode has no attribute classifiers: give num_attributes (K), "
            f"not attribute_classes={list(attribute_classes)}"
        )
    if attribute_classes and num_attributes not in (None, 0, len(attribute_classes)):
        raise ValueError(
            f"num_attributes={num_attributes} disagrees with attribute_classes, which lists "
            f"{len(attribute_classes)} attributes"
        )
    if not attribute_classes and not num_attributes:
        raise ValueError(
            "A3M needs attribute branches: give attribute_classes or, without attribute "
            "labels, num_attributes > 0"
        )
