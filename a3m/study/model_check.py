"""Every model a study plans, built once on the driver before Ray starts.

A setting that can never work (a backbone without pretrained weights, weights that cannot be
found, a weights file of another network, a network that does not accept the data's input size)
would otherwise fail in every trial, after Ray started and the parent run opened. Building each
distinct network once, with its starting weights, and running one input of the data's size
through it finds all of these in seconds, as one line.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable
from typing import Any

from a3m.checkpoint import MODEL_FIELDS
from a3m.config import RunConfig

BUILD_FIELDS = (*MODEL_FIELDS, "pretrained", "weights_path", "input_size", "synthetic")
"""What decides whether a model builds and accepts its input: the network's shape, where its
starting weights come from, and the data (a synthetic copy has its own input size)."""


class ModelCheckError(ValueError):
    """A planned model does not build or does not take the data; the message is one line."""


def _describe(cfg: RunConfig) -> str:
    return f"variant={cfg.variant} backbone={cfg.backbone} (dataset {cfg.dataset})"


DATA_FIELDS = ("dataset", "data_root", "synthetic", "synthetic_cache", "val_fraction")
"""What decides the dataset a model is checked against: configurations that share these read
one index (a grid over variants or loss weights loads the data's index once, not per model)."""


def check_model(cfg: RunConfig, info: Any = None) -> Any:
    """Build ``cfg``'s model with its starting weights and run one input of the dataset's size
    through it, in evaluation mode. ``info``: the dataset's
    :class:`~a3m.data.base.DatasetInfo`, read here when not given. Returns the info used.

    Raises:
        ModelCheckError: naming the configuration and what went wrong.
    """
    import torch

    from a3m.data.registry import get_entry
    from a3m.loaders import build_datasets
    from a3m.models import build_model

    if cfg.synthetic and not cfg.input_size:  # as fit() trains a synthetic copy
        cfg = cfg.replace(input_size=get_entry(cfg.dataset).synthetic.input_size)
    try:
        info = info if info is not None else build_datasets(cfg)[2]
        size = tuple(cfg.input_size) if cfg.input_size else tuple(info.input_size)
        resolved = cfg.resolve(info.num_classes, info.attribute_classes, size)
        model = build_model(resolved).eval()
        with torch.no_grad():
            model(torch.zeros(1, 3, *resolved.input_size))
    except (OSError, RuntimeError, ValueError, KeyError, EOFError, pickle.UnpicklingError) as err:
        why = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelCheckError(f"{_describe(cfg)} cannot train: {why}") from None
    return info


def check_models(configs: Iterable[RunConfig]) -> int:
    """:func:`check_model` once per distinct :data:`BUILD_FIELDS`, the data's index read once
    per distinct :data:`DATA_FIELDS`; returns how many models were built."""
    seen: set[tuple[Any, ...]] = set()
    infos: dict[tuple[Any, ...], Any] = {}
    for cfg in configs:
        key = tuple(repr(getattr(cfg, name)) for name in BUILD_FIELDS)
        if key in seen:
            continue
        seen.add(key)
        data = tuple(repr(getattr(cfg, name)) for name in DATA_FIELDS)
        infos[data] = check_model(cfg, infos.get(data))
    return len(seen)
