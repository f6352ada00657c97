"""What a run draws on its training split: the held-out part that selects the best epoch (never
the test split), and the attribute-label noise of the positive control."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from a3m.checkpoint import BEST_WEIGHTS_NAME, CHECKPOINT_NAME, load_checkpoint
from a3m.config import ConfigError, RunConfig
from a3m.data.synthetic import write_synthetic
from a3m.data.training import holdout_split, mix_seed, shuffle_attribute_labels, shuffle_labels
from a3m.loaders import VAL_SPLIT, build_datasets, build_split
from a3m.train import fit


@pytest.fixture(scope="module")
def cub_root(synthetic_copy):
    return synthetic_copy("cub", seed=0, num_classes=4, images_per_class=16, image_size=64)


# -- config ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "changes, match",
    [
        ({"val_fraction": 0.6}, r"val_fraction must be in \[0, 0.5\], got 0.6"),
        ({"val_fraction": -0.1}, r"val_fraction must be in \[0, 0.5\]"),
        ({"attr_label_noise": 1.5}, r"attr_label_noise must be in \[0, 1\], got 1.5"),
        ({"attr_label_noise": float("nan")}, r"attr_label_noise must be a finite number"),
        ({"dataset": "cars196", "attr_label_noise": 0.5}, "attr_label_noise=0.5 but .*retrieval"),
    ],
)
def test_new_fields_are_validated(changes, match):
    with pytest.raises(ConfigError, match=match):
        RunConfig(**changes)


def test_new_fields_round_trip():
    cfg = RunConfig(val_fraction=0.1, attr_label_noise=0.25)
    flat = {k: str(v) for k, v in cfg.to_flat_dict().items()}
    assert RunConfig.from_flat_dict(flat) == cfg


# -- the pure functions ------------------------------------------------------------------------
def test_mix_seed_is_fixed_and_spreads():
    assert mix_seed(0, 0, 0) == mix_seed(0, 0, 0) < 2**64
    seeds = {mix_seed(s, e, i) for s in range(3) for e in range(3) for i in range(100)}
    assert len(seeds) == 900
    assert mix_seed(-1) != mix_seed(1)


def test_holdout_is_stratified_disjoint_and_seeded():
    rng = np.random.default_rng(0)
    labels = rng.permutation(np.repeat(np.arange(10), 20))
    kept, held = holdout_split(labels, 0.2, seed=3)
    assert len(np.intersect1d(kept, held)) == 0
    assert np.array_equal(np.union1d(kept, held), np.arange(200))
    assert np.bincount(labels[held], minlength=10).tolist() == [4] * 10
    again_kept, again_held = holdout_split(labels, 0.2, seed=3)
    assert np.array_equal(held, again_held) and np.array_equal(kept, again_kept)
    assert not np.array_equal(held, holdout_split(labels, 0.2, seed=4)[1])


def test_holdout_keeps_every_class_in_training():
    labels = np.array([0] * 7 + [1] * 3 + [2] * 1 + [3] * 2)
    kept, held = holdout_split(labels, 0.3, seed=0)
    # round(0.3 * n): 2 of 7, 1 of 3, none of the single image, 1 of 2 (one kept)
    assert np.bincount(labels[held], minlength=4).tolist() == [2, 1, 0, 1]
    assert set(labels[kept]) == {0, 1, 2, 3}
    # Pairs (retrieval, re-id): a class holds out two or none, and keeps one.
    kept, held = holdout_split(labels, 0.3, seed=0, min_per_class=2)
    assert np.bincount(labels[held], minlength=4).tolist() == [2, 2, 0, 0]
    assert set(labels[kept]) == {0, 1, 2, 3}
    assert len(holdout_split(labels, 0.0, seed=0)[1]) == 0


def _unique_rows(n: int = 200, k: int = 3) -> np.ndarray:
    return np.arange(n * k, dtype=np.int64).reshape(n, k)


@pytest.mark.parametrize("fraction, moved", [(0.0, 0), (0.5, 100), (1.0, 200), (0.3, 60)])
def test_attribute_noise_moves_that_share_of_rows(fraction, moved):
    rows = _unique_rows()
    before = rows.copy()
    noisy = shuffle_attribute_labels(rows, fraction, seed=0)
    assert np.array_equal(rows, before) and noisy is not rows  # a copy
    assert (noisy != rows).any(axis=1).sum() == moved
    # the same rows, only with other images: the multiset is kept
    assert sorted(map(tuple, noisy)) == sorted(map(tuple, rows))
    assert np.array_equal(noisy, shuffle_attribute_labels(rows, fraction, seed=0))
    if moved:
        assert not np.array_equal(noisy, shuffle_attribute_labels(rows, fraction, seed=1))


def test_label_noise_moves_that_share_of_labels_in_its_own_stream():
    labels = np.arange(100, dtype=np.int64)
    noisy = shuffle_labels(labels, 0.5, seed=0)
    assert (noisy != labels).sum() == 50 and sorted(noisy) == sorted(labels)
    assert np.array_equal(noisy, shuffle_labels(labels, 0.5, seed=0))
    # not the attribute control's draw on the same seed
    rows = shuffle_attribute_labels(labels[:, None], 0.5, seed=0)[:, 0]
    assert not np.array_equal(noisy, rows)
    assert np.array_equal(shuffle_labels(labels, 0.0, seed=0), labels)


def test_label_noise_only_on_the_training_part(tiny_run, cub_root):
    truth = build_split(tiny_run(cub_root), "train").dataset.labels
    cfg = tiny_run(cub_root, label_noise=0.5)
    train, evals, _ = build_datasets(cfg)
    moved = train.labels != truth[train.indices]
    assert 0.35 <= moved.mean() <= 0.5  # (a label may move onto an image of its own class)
    i = int(np.flatnonzero(moved)[0])
    assert train[i][1]["label"] == train.labels[i] != truth[train.indices[i]]
    assert np.array_equal(evals["test"].labels, build_split(tiny_run(cub_root), "test").labels)
    assert np.array_equal(train.dataset.labels, truth)
    with pytest.raises(ConfigError, match="label_noise must be in"):
        cfg.replace(label_noise=2.0)


# -- the run's datasets ------------------------------------------------------------------------
def test_without_fractions_the_run_trains_on_the_whole_split(tiny_run, cub_root):
    train, evals, _ = build_datasets(tiny_run(cub_root))
    assert VAL_SPLIT not in evals and set(evals) == {"test"}
    full = train.dataset
    assert np.array_equal(train.indices, np.arange(len(full)))
    assert np.array_equal(train.attributes, full.attributes)
    with pytest.raises(ConfigError, match="split 'val' needs val_fraction > 0"):
        build_split(tiny_run(cub_root), VAL_SPLIT)


def test_held_out_part_is_disjoint_stratified_and_seeded(tiny_run, cub_root):
    cfg = tiny_run(cub_root, val_fraction=0.25)
    train, evals, _ = build_datasets(cfg)
    val = evals[VAL_SPLIT]
    n = len(train.dataset)
    assert len(np.intersect1d(train.indices, val.indices)) == 0
    assert np.array_equal(np.union1d(train.indices, val.indices), np.arange(n))
    per_class = np.bincount(train.dataset.labels)
    assert np.bincount(val.labels).tolist() == [round(0.25 * c) for c in per_class]
    again, other_seed = build_split(cfg, VAL_SPLIT), build_split(cfg.replace(seed=1), VAL_SPLIT)
    assert np.array_equal(again.indices, val.indices)
    assert not np.array_equal(other_seed.indices, val.indices)
    # the held-out part is evaluated: centre crop, every time the same image
    image, target = val[0]
    assert torch.equal(image, again[0][0]) and target["index"] == val.indices[0]
    assert val.seed is None and train.seed == cfg.seed


def test_attribute_noise_only_on_the_training_part(tiny_run, cub_root):
    truth = build_split(tiny_run(cub_root), "train").dataset.attributes
    cfg = tiny_run(cub_root, val_fraction=0.25, attr_label_noise=1.0)
    train, evals, _ = build_datasets(cfg)
    true_rows = truth[train.indices]
    noisy = train.attributes
    assert sorted(map(tuple, noisy)) == sorted(map(tuple, true_rows))
    assert (noisy != true_rows).any(axis=1).mean() > 0.8  # (equal rows may swap unseen)
    # items carry the noisy labels; the held-out part and the test split the true ones
    assert all(torch.equal(train[i][1]["attributes"], torch.from_numpy(noisy[i])) for i in (0, 5))
    val = evals[VAL_SPLIT]
    assert np.array_equal(val.attributes, truth[val.indices])
    assert torch.equal(val[0][1]["attributes"], torch.from_numpy(truth[val.indices[0]]))
    test = evals["test"]
    assert np.array_equal(test.attributes, build_split(tiny_run(cub_root), "test").attributes)
    # deterministic per seed, and the split's own array untouched
    assert np.array_equal(build_split(cfg, "train").attributes, noisy)
    assert np.array_equal(train.dataset.attributes, truth)
    half = build_split(cfg.replace(attr_label_noise=0.5), "train")
    changed = (half.attributes != true_rows).any(axis=1).mean()
    assert 0.2 <= changed <= 0.5


def test_augmentation_is_a_function_of_seed_epoch_and_index(tiny_run, cub_root):
    train = build_split(tiny_run(cub_root), "train", train=True)
    torch.manual_seed(123)
    first = train[3][0]
    torch.manual_seed(456)  # the global RNG does not matter ...
    assert torch.equal(train[3][0], first)
    state = torch.get_rng_state()
    train[4]
    assert torch.equal(torch.get_rng_state(), state)  # ... and is not consumed
    crops = set()
    for epoch in range(6):
        train.set_epoch(epoch)
        crops.add(train[3][0].numpy().tobytes())
    assert len(crops) > 1  # a new crop and flip per epoch
    train.set_epoch(0)
    assert torch.equal(train[3][0], first)


# -- selection on the held-out part ------------------------------------------------------------
def test_without_validation_nothing_is_selected(tiny_run, cub_root, tmp_path):
    flags = []
    result = fit(tiny_run(cub_root, epochs=2), tmp_path, callback=lambda r: flags.append(r.is_best))
    assert not (tmp_path / BEST_WEIGHTS_NAME).exists()
    assert flags == [False, False]
    assert result.best_metric is None and result.best_epoch is None
    assert result.final_score == result.history[-1]["score"] == result.history[-1]["accuracy"]
    assert not any(k.startswith("val_") for k in result.history[-1])
    assert result.summary().startswith("final score ")


def test_validation_picks_the_best_epoch(tiny_run, cub_root, tmp_path):
    weights, flags = {}, []

    def keep(r):
        weights[r.epoch] = load_checkpoint(r.checkpoint)["model"]
        flags.append(r.is_best)

    result = fit(tiny_run(cub_root, epochs=4, val_fraction=0.25), tmp_path, callback=keep)
    rows = result.history
    assert all(
        {"val_score", "val_accuracy", "val_attr_acc/mean", "score"} <= r.keys() for r in rows
    )
    assert all(r["val_score"] == r["val_accuracy"] and r["score"] == r["accuracy"] for r in rows)
    running, expected_flags = -1.0, []
    for r in rows:
        expected_flags.append(r["val_score"] > running)
        running = max(running, r["val_score"])
    assert flags == expected_flags
    best = 1 + int(np.argmax([r["val_score"] for r in rows]))  # the first best
    assert result.best_epoch == best and result.best_metric == rows[best - 1]["val_score"]
    assert result.score_at_best == rows[best - 1]["score"]
    assert result.final_score == rows[-1]["score"]
    saved = torch.load(tmp_path / BEST_WEIGHTS_NAME, weights_only=True)
    assert all(torch.equal(saved[k], weights[best][k]) for k in saved)
    assert "validation picked epoch" in result.summary()


def test_resume_with_a_held_out_part_is_exact(
    tiny_run, cub_root, tmp_path, one_thread, stopped_fit
):
    cfg = tiny_run(cub_root, val_fraction=0.25, attr_label_noise=0.5)
    full = fit(cfg, tmp_path / "full")
    stopped_fit(fit, cfg, tmp_path / "stopped", 2)
    resumed = fit(cfg, tmp_path / "stopped", resume=tmp_path / "stopped")
    a = load_checkpoint(tmp_path / "full" / CHECKPOINT_NAME)["model"]
    b = load_checkpoint(tmp_path / "stopped" / CHECKPOINT_NAME)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [r["val_score"] for r in resumed.history] == [r["val_score"] for r in full.history]
    fields = ("best_metric", "best_epoch", "score_at_best", "final_score")
    assert [getattr(resumed, f) for f in fields] == [getattr(full, f) for f in fields]


@pytest.mark.parametrize(
    "dataset, size, keys",
    [
        ("market1501", (128, 64), {"val_mAP", "val_rank1", "val_rank5"}),
        ("cars196", (64, 64), {"val_recall_at_1", "val_recall_at_2"}),
    ],
)
def test_reid_and_retrieval_validate_on_held_out_pairs(tiny_run, dataset, size, keys, tmp_path):
    root = write_synthetic(dataset, tmp_path / "data", num_classes=6, images_per_class=8)
    cfg = tiny_run(
        root, dataset=dataset, input_size=size, epochs=1, lr_drop_epochs=0, val_fraction=0.5
    )
    _, evals, _ = build_datasets(cfg)
    held = np.bincount(evals[VAL_SPLIT].labels)
    assert held[held > 0].min() >= 2  # every held-out image has another of its class
    result = fit(cfg, tmp_path / "run")
    row = result.history[-1]
    assert keys <= row.keys() and "val_nmi" not in row
    assert row["val_score"] == row["val_mAP" if dataset == "market1501" else "val_recall_at_1"]
    assert 0 <= row["val_score"] <= 1 and (tmp_path / "run" / BEST_WEIGHTS_NAME).is_file()
