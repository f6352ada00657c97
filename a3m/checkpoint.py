"""A run's checkpoint: written atomically after every epoch, loaded safely, and refused when it
was written for another model.

A checkpoint holds the model, optimiser, scheduler and RNG states, the epoch, the selection so
far and the history: what :func:`a3m.train.fit` needs to resume a run exactly where it stopped.
"""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from a3m.config import RunConfig
from a3m.models import SWITCHES

CHECKPOINT_NAME = "checkpoint.pt"
BEST_WEIGHTS_NAME = "model_best.pt"  # written only with a validation part (val_fraction > 0)

MODEL_FIELDS: tuple[str, ...] = (
    "dataset",
    "variant",
    "backbone",
    "d",
    "num_classes",
    "attribute_classes",
    "num_attributes",
    "attr_pooling",
    *SWITCHES,
)
"""Fields that decide the model's parameters: a checkpoint made with other values is refused.
Not every field :func:`a3m.models.build_model` reads: ``pretrained``, ``weights_path`` and
``dropout`` change the starting weights or the training, not which parameters there are."""


class CheckpointMismatchError(ValueError):
    """A checkpoint written for another model config."""


def rng_state() -> dict[str, Any]:
    """The torch, NumPy, Python (and CUDA) RNG states, to store in a checkpoint."""
    # The legacy global NumPy RNG is the one third-party transforms draw from: keep it too.
    np_state = np.random.get_state()  # noqa: NPY002
    state = {
        "torch": torch.get_rng_state(),
        "numpy": (np_state[0], torch.from_numpy(np_state[1].copy()), *np_state[2:]),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the RNG states :func:`rng_state` returned."""
    torch.set_rng_state(state["torch"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy(), *rest))  # noqa: NPY002
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def atomic_save(obj: Any, path: Path) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename: a crash mid-write
    leaves the previous file intact, never a truncated one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | Path, cfg: RunConfig | None = None) -> dict[str, Any]:
    """Load a checkpoint safely (``weights_only=True``: tensors and plain containers only).

    Args:
        cfg: when given, the checkpoint must have been written for the same model
            (:data:`MODEL_FIELDS`); otherwise :class:`CheckpointMismatchError` lists what differs.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if cfg is not None:
        saved = RunConfig.from_flat_dict(state["config"], strict=False).to_flat_dict()
        wanted = cfg.to_flat_dict()
        diffs = [f"{k}: checkpoint {saved[k]!r} vs config {wanted[k]!r}" for k in MODEL_FIELDS]
        diffs = [d for k, d in zip(MODEL_FIELDS, diffs, strict=True) if saved[k] != wanted[k]]
        if diffs:
            raise CheckpointMismatchError(
                f"checkpoint {path} was written for another model: " + "; ".join(diffs)
            )
    return state
