"""The trainer on small synthetic copies: learning, exact resume, failures with their message."""

from __future__ import annotations

import functools
import pickle
import shutil

import pytest
import torch

from a3m.checkpoint import CHECKPOINT_NAME, CheckpointMismatchError, atomic_save, load_checkpoint
from a3m.config import ConfigError, RunConfig
from a3m.data.synthetic import write_synthetic
from a3m.loaders import build_loader, build_split, resolve_num_workers
from a3m.models import A3M, A3MLoss, create_backbone
from a3m.train import NonFiniteLossError, build_optimizer, build_scheduler, fit, train_one_epoch
from a3m.viz import ATTENTION_DIR_NAME


@pytest.fixture(scope="module")
def cub_root(synthetic_copy):
    return synthetic_copy("cub", seed=0, num_classes=8, images_per_class=16, image_size=64)


@pytest.fixture(scope="session")
def small(tiny_run):
    """The shared tiny run, wider (d = 32) and in batches of 16."""
    return functools.partial(tiny_run, d=32, batch_size=16)


def test_training_lowers_loss_and_beats_chance(small, cub_root, tmp_path):
    result = fit(small(cub_root, epochs=8, lr_drop_epochs=2), tmp_path)
    first, last = result.history[0], result.history[-1]
    assert last["train_loss"] < 0.8 * first["train_loss"]
    chance = 1 / result.config.num_classes
    assert result.final_score > 2.5 * chance, [r["accuracy"] for r in result.history]
    assert 0 <= last["attr_acc/mean"] <= 1 and "attr_acc/has_bill_shape" in last
    assert last["score"] == last["accuracy"]
    assert result.final_score == last["score"] and result.best_metric is None
    assert (tmp_path / "config.json").is_file()
    assert not (tmp_path / "model_best.pt").exists()  # no validation part: nothing selected
    assert RunConfig.from_json(tmp_path / "config.json") == result.config


class Crash(RuntimeError):
    pass


@pytest.mark.parametrize(
    "changes",
    [
        {"branch_bn_relu": True, "concat_final": True},  # dropout draws from the RNG
        {"num_workers": 1},  # augmentation in a worker process
    ],
    ids=["dropout", "workers"],
)
def test_resume_equals_uninterrupted_run(
    small, cub_root, tmp_path, changes, one_thread, stopped_fit
):
    cfg = small(cub_root, **changes)
    full = fit(cfg, tmp_path / "full")
    stopped_fit(fit, cfg, tmp_path / "stopped", 1, Crash)
    assert load_checkpoint(tmp_path / "stopped" / CHECKPOINT_NAME)["epoch"] == 1
    resumed = fit(cfg, tmp_path / "stopped", resume=tmp_path / "stopped")
    a = torch.load(tmp_path / "full" / CHECKPOINT_NAME, weights_only=True)["model"]
    b = torch.load(tmp_path / "stopped" / CHECKPOINT_NAME, weights_only=True)["model"]
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3]
    assert resumed.history[-1]["accuracy"] == full.history[-1]["accuracy"]


def test_nan_loss_names_epoch_and_step(small, cub_root, tmp_path):
    with pytest.raises(NonFiniteLossError, match=r"loss is (nan|inf) at epoch 1, step \d+"):
        fit(small(cub_root, lr=1e12, epochs=1, lr_drop_epochs=0), tmp_path)


def _epoch(batches, sync_every):
    torch.manual_seed(0)
    model = A3M(create_backbone("tiny"), 5, (3, 2), d=8)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    return train_one_epoch(
        model, A3MLoss(), batches, optimizer, torch.device("cpu"), 0, sync_every=sync_every
    )


def _batches(n_steps, nan_step=None):
    g = torch.Generator().manual_seed(1)
    batches = []
    for step in range(n_steps):
        images = torch.randn(4, 3, 16, 16, generator=g)
        if step == nan_step:
            images[0, 0, 0, 0] = float("nan")
        target = {
            "label": torch.randint(0, 5, (4,), generator=g),
            "attributes": torch.stack(
                [torch.randint(0, 3, (4,), generator=g), torch.randint(0, 2, (4,), generator=g)], 1
            ),
        }
        batches.append((images, target))
    return batches


@pytest.mark.parametrize("sync_every", [2, 3, 50])
def test_reading_losses_back_in_windows_changes_nothing(sync_every):
    """CUDA reads the per-step losses back every CUDA_SYNC_EVERY steps; the result is the
    per-step one (7 steps: windows that divide it and ones that leave a remainder)."""
    batches = _batches(7)
    expected = _epoch(batches, sync_every=1)
    got = _epoch(batches, sync_every=sync_every)
    assert got.keys() == expected.keys() and "train_loss_attr" in got
    for key in expected:
        assert got[key] == pytest.approx(expected[key], rel=1e-12), key
    assert 0 < got["train_loss"] and 0 <= got["train_accuracy"] <= 1


@pytest.mark.parametrize("sync_every", [1, 3, 50])
def test_windowed_read_still_names_the_first_non_finite_step(sync_every):
    with pytest.raises(NonFiniteLossError, match=r"loss is nan at epoch 1, step 5 \(add=nan"):
        _epoch(_batches(7, nan_step=4), sync_every=sync_every)


def test_corrupt_image_fails_with_its_file_name(small, cub_root, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(cub_root, root)
    lines = (root / "CUB_200_2011" / "images.txt").read_text().split("\n")
    split = dict(
        line.split()
        for line in (root / "CUB_200_2011" / "train_test_split.txt").read_text().split("\n")
        if line
    )
    image_id, rel = next(line.split() for line in lines if line and split[line.split()[0]] == "1")
    bad = root / "CUB_200_2011" / "images" / rel
    bad.write_bytes(b"this is not a JPEG")
    with pytest.raises(OSError, match=rel.split("/")[-1]):
        fit(small(root, epochs=1, lr_drop_epochs=0), tmp_path / "run")


def test_checkpoint_of_another_config_is_refused(small, cub_root, tmp_path):
    fit(small(cub_root, epochs=1, lr_drop_epochs=0), tmp_path)
    with pytest.raises(CheckpointMismatchError, match="variant: checkpoint 'a3m' vs config 'att1'"):
        fit(
            small(cub_root, epochs=2, lr_drop_epochs=0, variant="att1"),
            tmp_path / "b",
            resume=tmp_path,
        )
    with pytest.raises(CheckpointMismatchError, match="d: checkpoint 32 vs config 16"):
        fit(small(cub_root, epochs=2, lr_drop_epochs=0, d=16), tmp_path / "c", resume=tmp_path)


class Evil:
    def __reduce__(self):
        return (print, ("code ran",))


def test_checkpoint_loading_runs_no_code(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"config": {}, "payload": Evil()}, path)
    with pytest.raises(pickle.UnpicklingError):
        load_checkpoint(path)


def test_atomic_save_keeps_the_previous_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    atomic_save({"epoch": 1}, path)

    def broken_save(obj, f):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        atomic_save({"epoch": 2}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=True) == {"epoch": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


def lrs(cfg: RunConfig) -> list[float]:
    opt = build_optimizer(cfg, torch.nn.Linear(2, 2))
    sched = build_scheduler(cfg, opt)
    out = []
    for _ in range(cfg.epochs):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_schedules():
    assert lrs(RunConfig(epochs=6, lr_drop_epochs=2)) == pytest.approx([1e-3] * 4 + [1e-4] * 2)
    paper = lrs(RunConfig())
    assert paper[:50] == pytest.approx([1e-3] * 50) and paper[50:] == pytest.approx([1e-4] * 10)
    cosine = lrs(RunConfig(epochs=5, schedule="cosine"))
    assert cosine[0] == pytest.approx(1e-3) and all(
        a > b for a, b in zip(cosine, cosine[1:], strict=False)
    )
    opt = build_optimizer(RunConfig(), torch.nn.Linear(2, 2)).param_groups[0]
    assert (opt["momentum"], opt["weight_decay"], opt["nesterov"]) == (0.9, 5e-4, False)


@pytest.mark.parametrize(
    "dataset, keys",
    [
        ("market1501", {"rank1", "rank5", "rank10", "rank20", "mAP"}),
        ("cars196", {"recall_at_1", "recall_at_2", "recall_at_4", "recall_at_8", "nmi"}),
    ],
)
def test_reid_and_retrieval_protocols(small, dataset, keys, tmp_path):
    root = write_synthetic(dataset, tmp_path / "data", num_classes=6, images_per_class=6)
    size = (128, 64) if dataset == "market1501" else (64, 64)
    cfg = small(root, dataset=dataset, input_size=size, epochs=1, lr_drop_epochs=0)
    row = fit(cfg, tmp_path / "run").history[-1]
    assert keys <= row.keys()
    assert all(0 <= row[k] <= 1 for k in keys)


def test_attention_examples_are_drawn_from_the_final_model(small, cub_root, tmp_path):
    # With a validation part the drawings use the selected weights (model_best.pt).
    cfg = small(cub_root, epochs=1, lr_drop_epochs=0, val_fraction=0.25)
    result = fit(cfg, tmp_path / "run", attention_images=2)
    assert result.best_epoch == 1
    paths = sorted((tmp_path / "run" / ATTENTION_DIR_NAME).iterdir())
    assert len(paths) == 2 and all(p.suffix == ".png" and p.stat().st_size > 0 for p in paths)
    fit(cfg.replace(variant="baseline1"), tmp_path / "b1", attention_images=2)
    assert not (tmp_path / "b1" / ATTENTION_DIR_NAME).exists()  # no attention to draw


def test_auto_workers_feed_a_gpu_with_every_cpu_but_one():
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert resolve_num_workers(-1, cuda, cpus=8) == 7
    assert resolve_num_workers(-1, cuda, cpus=64) == 16  # MAX_AUTO_WORKERS
    assert resolve_num_workers(-1, cuda, cpus=1) == 0
    assert resolve_num_workers(-1, cpu, cpus=8) == 2  # the CPU step needs the cores
    assert resolve_num_workers(-1, cpu, cpus=2) == 1
    assert resolve_num_workers(5, cuda, cpus=2) == 5  # an explicit count is kept
    assert resolve_num_workers(0, cuda, cpus=16) == 0
    assert resolve_num_workers(-1, cpu) in (0, 1, 2)  # this process's affinity


def test_the_evaluation_batch_changes_how_fast_not_what(small, cub_root, tmp_path, one_thread):
    default = fit(small(cub_root, epochs=1), tmp_path / "default")
    odd = fit(small(cub_root, epochs=1, eval_batch_size=5), tmp_path / "odd")  # a ragged end
    a, b = default.history[-1], odd.history[-1]
    assert a.keys() == b.keys()
    for key in a:
        if key.endswith("_time_s"):
            continue
        assert b[key] == pytest.approx(a[key], rel=1e-5, abs=1e-7), key
    cfg, cpu = small(cub_root, eval_batch_size=5), torch.device("cpu")
    split = build_split(cfg, "test")
    assert build_loader(split, cfg, train=False, device=cpu).batch_size == 5
    assert build_loader(split, cfg, train=True, device=cpu).batch_size == 16
    with pytest.raises(ConfigError, match="eval_batch_size must be > 0, or 0 for batch_size"):
        small(cub_root, eval_batch_size=-1)


def test_compile_mode_reaches_torch_compile(small, cub_root, tmp_path, monkeypatch):
    import a3m.train

    modes = []

    def compile(model, mode=None):  # records the call instead of compiling (minutes on CPU)
        modes.append(mode)
        return model

    monkeypatch.setattr(a3m.train.torch, "compile", compile)
    fit(small(cub_root, epochs=1, compile=True, compile_mode="reduce-overhead"), tmp_path)
    assert modes == ["reduce-overhead"]
    with pytest.raises(ConfigError, match="compile_mode='fast' is not known; valid: default"):
        small(cub_root, compile_mode="fast")
