"""Seeds pair runs: on one seed every variant sees the same training batches (images, crops,
flips, order) and starts from the same backbone, so their difference is the variants' alone."""

from __future__ import annotations

import functools

import pytest
import torch

import a3m.train as train_module
from a3m.config import RunConfig
from a3m.models import VARIANTS
from a3m.train import fit

pytestmark = pytest.mark.slow  # seven short fits

NAMES = list(VARIANTS)  # the registry's names, Baseline-1 first


@pytest.fixture(scope="module")
def cub_root(synthetic_copy):
    return synthetic_copy("cub", seed=0, num_classes=4, images_per_class=8, image_size=64)


class _Recording:
    """A loader that hands its batches on and keeps a copy of each."""

    def __init__(self, loader, batches: list[dict[str, torch.Tensor]]) -> None:
        self.loader, self.batches = loader, batches

    def __iter__(self):
        for images, target in self.loader:
            self.batches.append(
                {"images": images.clone()} | {k: v.clone() for k, v in target.items()}
            )
            yield images, target

    def __len__(self) -> int:
        return len(self.loader)

    def __getattr__(self, name):
        return getattr(self.loader, name)


def _recorded_fit(cfg: RunConfig, out, monkeypatch) -> dict:
    """Fit ``cfg``; return its training batches per step, its backbone's initial weights and
    the global RNG state after the model was built."""
    record: dict = {"batches": []}
    real_train, real_build = train_module.train_one_epoch, train_module.build_model

    def build_model(config):
        model = real_build(config)
        record["init"] = {k: v.clone() for k, v in model.backbone.state_dict().items()}
        record["rng_after_init"] = torch.get_rng_state()
        return model

    def train_one_epoch(model, loss_fn, loader, *args, **kwargs):
        return real_train(model, loss_fn, _Recording(loader, record["batches"]), *args, **kwargs)

    monkeypatch.setattr(train_module, "build_model", build_model)
    monkeypatch.setattr(train_module, "train_one_epoch", train_one_epoch)
    fit(cfg, out)
    monkeypatch.undo()
    return record


@pytest.fixture(scope="module")
def config(tiny_run):
    """The shared tiny run, 2 epochs in batches of 4, evaluated once."""
    return functools.partial(tiny_run, epochs=2, eval_every=2, lr_drop_epochs=0, batch_size=4,
                             lr=0.01)  # fmt: skip


def _same_batches(a: list[dict], b: list[dict]) -> bool:
    return len(a) == len(b) and all(
        x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)
        for x, y in zip(a, b, strict=True)
    )


@pytest.fixture(scope="module")
def runs(cub_root, config, tmp_path_factory):
    """One short fit per variant on seed 0, and Baseline-1 on seed 1."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        out = tmp_path_factory.mktemp("runs")
        by_variant = {
            v: _recorded_fit(config(cub_root, variant=v), out / v, monkeypatch) for v in VARIANTS
        }
        other_seed = _recorded_fit(config(cub_root, seed=1), out / "seed1", monkeypatch)
    return by_variant, other_seed


def test_every_variant_sees_the_same_batches_on_one_seed(runs):
    by_variant, _ = runs
    reference = by_variant[NAMES[0]]["batches"]
    assert len(reference) == 2 * 16 // 4  # 2 epochs of 16 training images in batches of 4
    for variant in NAMES[1:]:
        assert _same_batches(by_variant[variant]["batches"], reference), variant


def test_every_variant_starts_from_the_same_backbone(runs):
    by_variant, _ = runs
    reference = by_variant[NAMES[0]]["init"]
    for variant in NAMES[1:]:
        init = by_variant[variant]["init"]
        assert init.keys() == reference.keys()
        assert all(torch.equal(init[k], reference[k]) for k in init), variant


def test_the_pairing_is_not_luck(runs):
    """The variants draw differently from the global RNG (their heads differ in size): batches
    drawn from it (the augmentation before seeds paired runs) would have differed."""
    by_variant, _ = runs
    states = {bytes(r["rng_after_init"].numpy()) for r in by_variant.values()}
    assert len(states) > 1


def test_another_seed_sees_other_batches(runs):
    by_variant, other = runs
    ours, theirs = by_variant[NAMES[0]]["batches"], other["batches"]
    assert len(ours) == len(theirs)
    assert not any(torch.equal(a["index"], b["index"]) for a, b in zip(ours, theirs, strict=True))
    mine = {int(i): b["images"][j] for b in ours[:3] for j, i in enumerate(b["index"])}
    other_crops = {int(i): b["images"][j] for b in theirs[:3] for j, i in enumerate(b["index"])}
    shared = mine.keys() & other_crops.keys()
    assert shared and any(not torch.equal(mine[i], other_crops[i]) for i in shared)


def test_augmentation_changes_with_the_epoch(runs):
    """Seeded per (seed, epoch, index): an image is cropped and flipped anew every epoch."""
    batches = runs[0][NAMES[0]]["batches"]
    first = {int(i): b["images"][j] for b in batches[:3] for j, i in enumerate(b["index"])}
    second = {int(i): b["images"][j] for b in batches[3:] for j, i in enumerate(b["index"])}
    shared = first.keys() & second.keys()
    assert shared and any(not torch.equal(first[i], second[i]) for i in shared)


def test_workers_give_the_same_batches(cub_root, config, tmp_path, monkeypatch, runs):
    """Augmentation does not depend on which process draws it."""
    cfg = config(cub_root, variant=NAMES[0], num_workers=2)
    record = _recorded_fit(cfg, tmp_path / "workers", monkeypatch)
    assert _same_batches(record["batches"], runs[0][NAMES[0]]["batches"])
