"""A study's dry run (``--dry-run``): every trial goes through the real runner, Ray Tune, the
trainable and its MLflow tracker, with :func:`dry_fit` in place of :func:`a3m.train.fit`.

:func:`dry_fit` keeps ``fit``'s contract (``config.json``, a checkpoint after every epoch that
a retried trial resumes from, the callback after every epoch) and hands the callback made-up
epoch metrics shaped like the trainer's (:func:`dry_metrics`: the losses, the ``diag/``
statistics, the task's protocol metrics and ``score``, the ``val_`` ones with a validation
part), so the leaderboard, ``a3m compare`` and the report read dry runs as they read real
ones. The numbers are deterministic: a configuration's level, a per-seed shift shared by every
configuration (what pairing by seed removes) and a little per-run noise, so paired
comparisons have something to find. Meant for benchmarks (``benchmarks/bench_scale.py``) and
for checking a cluster's plumbing; nothing of it is a result.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import torch

from a3m.checkpoint import CHECKPOINT_NAME, load_checkpoint
from a3m.config import RunConfig
from a3m.data.kind import DRY_RUN_PREFIX
from a3m.data.tasks import get_task
from a3m.study.runs import NOT_A_SETTING
from a3m.train import EpochResult, FitResult

FINGERPRINT_PREFIX = DRY_RUN_PREFIX
"""Put before a dataset's fingerprint in a dry run: a made-up run never has the identity
(:func:`a3m.study.tracking.trial_identity`) of a trained one, so a later real study in the same
experiment does not take it for finished work; and its data's kind is "dry run"
(:mod:`a3m.data.kind`, which the report reads)."""

TRAIN_LOSSES = ("train_loss", "train_loss_add", "train_loss_cat", "train_loss_attr")
ATTENTION_DIAGNOSTICS = tuple(
    f"diag/{w}_{s}" for w in ("m_k", "m_region", "s") for s in ("mean", "sat_low", "sat_high")
)
OTHER_DIAGNOSTICS = (
    *(f"diag/norm/{f}" for f in ("f_region", "f_attr", "f_final")),
    *(f"diag/grad_norm/{g}" for g in ("backbone", "category", "attribute", "classifier", "total")),
)


def _unit(*parts: object) -> float:
    """A number in [0, 1) that depends on ``parts`` only (not on the process or the run)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def _config_text(cfg: RunConfig) -> str:
    """What makes the configuration: its settings without the seed and the run environment."""
    flat = cfg.to_flat_dict()
    return repr(sorted((k, v) for k, v in flat.items() if k not in NOT_A_SETTING))


def dry_metrics(cfg: RunConfig, epoch: int) -> dict[str, float]:
    """Made-up metrics of epoch ``epoch`` (1-based) of ``cfg``, with the names ``fit`` logs.

    A configuration ends near its level (0.3-0.8), shifted by its seed (+-0.02, the same shift
    for every configuration) and by per-run noise (+-0.005); the metrics rise over the epochs
    and the losses fall. Evaluation metrics come on the epochs ``fit`` evaluates.
    """
    config = _config_text(cfg)
    level = 0.3 + 0.5 * _unit("level", config)
    final = level + 0.04 * (_unit("seed", cfg.seed) - 0.5) + 0.01 * (_unit(config, cfg.seed) - 0.5)
    progress = epoch / cfg.epochs
    score = min(1.0, max(0.0, final * (0.5 + 0.5 * progress)))
    dropped = epoch > cfg.epochs - cfg.lr_drop_epochs
    row = {"epoch": float(epoch), "lr": cfg.lr * (cfg.lr_drop_factor if dropped else 1.0)}
    for i, name in enumerate(TRAIN_LOSSES):
        row[name] = (3.0 if i else 6.0) * (1.1 - score) * (1 - 0.5 * progress)
    row["train_accuracy"] = min(1.0, score * 1.2)
    names = (ATTENTION_DIAGNOSTICS if cfg.variant != "baseline1" else ()) + OTHER_DIAGNOSTICS
    row |= {name: _unit(name, config, cfg.seed, epoch) for name in names}
    row["train_time_s"] = 0.0
    if epoch % cfg.eval_every and epoch != cfg.epochs:
        return row
    task = get_task(cfg.task)
    evaluated = _protocol_metrics(cfg, task.logged_metrics, score)
    row |= evaluated | {"eval_time_s": 0.0, "score": evaluated[task.primary]}
    if cfg.val_fraction > 0:
        held = _protocol_metrics(cfg, task.logged_metrics, score * 0.98)
        row |= {f"val_{k}": v for k, v in held.items()}
        row |= {"val_score": held[task.primary], "val_time_s": 0.0}
    return row


def _protocol_metrics(cfg: RunConfig, metrics: tuple[str, ...], score: float) -> dict[str, float]:
    """The task's protocol metrics around ``score`` (and, where the task reports them, one
    accuracy per attribute head of the dataset's public release)."""
    from a3m.data.registry import get_entry

    out = {m: min(1.0, score * (1 + 0.1 * i)) for i, m in enumerate(metrics)}
    if "attr_acc/mean" in out:
        for k in range(get_entry(cfg.dataset).attribute_heads):
            group = f"attribute_{k}"
            out[f"attr_acc/{group}"] = min(1.0, score * (0.8 + 0.4 * _unit(group, cfg.seed)))
    return out


def dry_fit(
    cfg: RunConfig,
    out_dir: str | Path,
    *,
    resume: str | Path | None = None,
    callback: Callable[[EpochResult], None] | None = None,
    attention_images: int = 0,
) -> FitResult:
    """:func:`a3m.train.fit`'s contract without training: ``config.json``, a checkpoint per
    epoch (holding the history, so ``resume`` continues after its epoch) and the callback with
    :func:`dry_metrics`. ``attention_images`` is accepted and ignored: nothing to draw."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg.to_json(out_dir / "config.json")
    result = FitResult(config=cfg, out_dir=out_dir)
    start = 0
    if resume is not None:
        path = Path(resume)
        state = load_checkpoint(path / CHECKPOINT_NAME if path.is_dir() else path)
        start, result.history = int(state["epoch"]), list(state["history"])
    for epoch in range(start + 1, cfg.epochs + 1):
        row = dry_metrics(cfg, epoch)
        result.history.append(row)
        result.final_score = row.get("score", result.final_score)
        checkpoint = out_dir / CHECKPOINT_NAME
        # fit's atomic_save without its fsync (~20 ms on a disk): a made-up run is not worth
        # keeping through a power cut, and the benchmark measures what surrounds training.
        partial = checkpoint.with_suffix(".tmp")
        state = {"config": cfg.to_flat_dict(), "epoch": epoch, "history": result.history}
        torch.save(state, partial)
        os.replace(partial, checkpoint)
        if callback is not None:
            callback(EpochResult(epoch, row, checkpoint, config=cfg))
    return result
