"""Evaluate a model by its dataset's protocol (docs/reproduction.md, "Evaluation protocols"):
the test split's metrics, and the held-out part's that select an epoch.

Also how a loader's batch enters the network (:func:`to_input`, :func:`autocast`), which
training shares.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from a3m import metrics
from a3m.data.base import DatasetInfo
from a3m.data.device_augment import crop_flip_batch
from a3m.data.tasks import RERANK_PREFIX, RERANKED
from a3m.data.transforms import normalize_batch

FINAL_NMI_RESTARTS = 10
"""k-means restarts of the NMI at the last epoch: the reported number (paper Tables 4-5)."""
EPOCH_NMI_RESTARTS = 1
"""... and at the epochs before it, where NMI is only a progress curve (it never picks the best
epoch: retrieval ranks by Recall@1). One restart is 10x cheaper, which matters: ten restarts of
k-means over CUB's 5,924 test embeddings cost about as much as a GPU epoch of training. The
same k-means, so the curve differs from the final definition only by the best-of-10 choice
(NMI 0.9644 against 0.9674 on bench_reid_eval.py's retrieval data)."""


def to_input(
    images: torch.Tensor,
    device: torch.device,
    channels_last: bool,
    crops: torch.Tensor | None = None,
) -> torch.Tensor:
    """A loader's (uint8) batch -> the network's normalised float input on ``device``; with
    the batch's ``crops`` (``RunConfig.augment_on="device"``), cropped and flipped there."""
    images = images.to(device, non_blocking=True)
    if crops is not None:
        images = crop_flip_batch(images, crops)
    images = normalize_batch(images)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    return images.contiguous(memory_format=layout)


def autocast(device: torch.device, amp: bool) -> torch.autocast:
    """bfloat16 autocast on CUDA with ``amp``; a no-op context elsewhere."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp and device.type == "cuda")


@torch.no_grad()
def predict(
    model: nn.Module,
    loader: DataLoader,
    device: torch.device,
    *,
    amp: bool = True,
    channels_last: bool = False,
) -> dict[str, Any]:
    """Run the model over a loader; gather logits, embeddings and targets on the CPU."""
    model.eval()
    keep: dict[str, list] = {"logits": [], "category_logits": [], "embedding": [], "attrs": []}
    targets: dict[str, list] = {}
    for images, target in loader:
        images = to_input(images, device, channels_last)
        with autocast(device, amp):
            out = model(images)
        keep["logits"].append(out.logits.float().cpu())
        keep["category_logits"].append(out.category_logits.float().cpu())
        keep["embedding"].append(out.embedding.float().cpu())
        keep["attrs"].append([a.float().cpu() for a in out.attribute_logits])
        for key, value in target.items():
            targets.setdefault(key, []).append(value)
    result: dict[str, Any] = {k: torch.cat(v) for k, v in keep.items() if k != "attrs"}
    result["attribute_logits"] = [torch.cat(parts) for parts in zip(*keep["attrs"], strict=True)]
    result.update({k: torch.cat(v) for k, v in targets.items()})
    return result


def evaluate(
    model: nn.Module,
    loaders: dict[str, DataLoader],
    task: str,
    info: DatasetInfo,
    device: torch.device,
    *,
    distance: str = "euclidean",
    amp: bool = True,
    channels_last: bool = False,
    nmi_restarts: int = 10,
    ap_mode: str = "official",
    rerank: bool = False,
) -> dict[str, float]:
    """The dataset's protocol, every value a fraction in [0, 1] (docs/reproduction.md,
    "Evaluation protocols").

    ``fit`` adds ``score``: the task's primary metric (:attr:`a3m.data.tasks.Task.primary`),
    under one name for every task.

    classification: ``accuracy`` (final head, eq. 9), ``category_accuracy`` (eq. 1) and
    ``attr_acc/<name>`` per attribute head with ``attr_acc/mean``; reid: ``rank1/5/10/20``,
    ``mAP`` (AP as ``ap_mode``, see :data:`a3m.metrics.AP_MODES`) and ``mINP``, and with
    ``rerank`` the same after k-reciprocal re-ranking as ``rerank_rank1``, ``rerank_mAP`` and
    ``rerank_mINP`` (:data:`a3m.data.tasks.RERANKED`; Zhong et al.'s k1 = 20, k2 = 6,
    lambda = 0.3); retrieval: ``recall_at_1/2/4/8``, ``nmi`` (k-means with ``nmi_restarts``
    restarts, see :func:`a3m.metrics.nmi`) and ``map_at_r`` (:func:`a3m.metrics.map_at_r`).
    """
    kw = {"amp": amp, "channels_last": channels_last}
    if task == "reid":
        q = predict(model, loaders["query"], device, **kw)
        g = predict(model, loaders["gallery"], device, **kw)
        feats = (q["embedding"], q["pid"], q["camid"], g["embedding"], g["pid"], g["camid"])
        result = metrics.reid_evaluate(*feats, metric=distance, ap_mode=ap_mode)
        if rerank:
            reranked = metrics.reid_evaluate(
                *feats, ranks=(1,), metric=distance, ap_mode=ap_mode, rerank=True
            )
            result |= {RERANK_PREFIX + name: reranked[name] for name in RERANKED}
        return result
    p = predict(model, loaders["test"], device, **kw)
    if task == "retrieval":
        return metrics.retrieval_evaluate(
            p["embedding"], p["label"], metric=distance, n_init=nmi_restarts
        )
    result = {
        "accuracy": metrics.accuracy(p["logits"], p["label"]),
        "category_accuracy": metrics.accuracy(p["category_logits"], p["label"]),
    }
    if p["attribute_logits"]:
        per_attr = metrics.attribute_accuracy(
            p["attribute_logits"], p["attributes"], list(info.attribute_names)
        )
        result.update({f"attr_acc/{name}": value for name, value in per_attr.items()})
    return result


def evaluate_holdout(
    model: nn.Module,
    loader: DataLoader,
    task: str,
    info: DatasetInfo,
    device: torch.device,
    *,
    distance: str = "euclidean",
    amp: bool = True,
    channels_last: bool = False,
    ap_mode: str = "official",
) -> dict[str, float]:
    """The task's protocol on the held-out part of the training split (:data:`VAL_SPLIT`),
    whose images share the training classes.

    classification: as :func:`evaluate`; retrieval: ``recall_at_1/2/4/8`` among the held-out
    images (no NMI: it never selects, and its k-means is the costly part); reid: ``rank1/5/10/20``
    and ``mAP`` (AP as ``ap_mode``) with the held-out images as both query and gallery (the
    protocol's removal of same-person same-camera gallery items also removes the query itself).
    """
    kw = {"amp": amp, "channels_last": channels_last}
    if task == "classification":
        return evaluate(model, {"test": loader}, task, info, device, distance=distance, **kw)
    p = predict(model, loader, device, **kw)
    if task == "retrieval":
        return metrics.recall_at_k(p["embedding"], p["label"], metric=distance)
    return metrics.reid_evaluate(
        p["embedding"], p["pid"], p["camid"], p["embedding"], p["pid"], p["camid"],
        metric=distance, ap_mode=ap_mode,
    )  # fmt: skip


# -- checkpoints ------------------------------------------------------------------------------
