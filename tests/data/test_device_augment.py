"""Augment on the device: the batched crop and flip equal torchvision's per image, draw what the
loader transform draws from the same seeded stream, and so train on the same pixels."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats
from torch.utils.data import default_collate
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from a3m.config import ConfigError, RunConfig
from a3m.data import build_dataset
from a3m.data.cache import write_cache
from a3m.data.device_augment import CROP_KEY, CropFlipDraw, _crop_flip_gather, crop_flip_batch
from a3m.data.synthetic import write_synthetic
from a3m.data.training import mix_seed
from a3m.loaders import build_split
from a3m.train import fit

INPUT = (32, 32)


@pytest.mark.parametrize("crop_flip", [crop_flip_batch, _crop_flip_gather], ids=["cpu", "gpu"])
def test_the_batched_crop_and_flip_equal_torchvisions_per_image(crop_flip):
    """Both ways: slices (what the CPU runs) and the gather (what a GPU runs, run here)."""
    images = torch.randint(0, 256, (6, 3, 11, 13), dtype=torch.uint8)
    # top, left at both ends of their range (0..3, 0..4), flipped or not
    rows = [(0, 0, 1), (3, 4, 0), (3, 4, 1), (1, 2, 0), (2, 0, 1), (0, 4, 0)]
    crops = torch.tensor([[top, left, 8, 9, flip] for top, left, flip in rows])
    out = crop_flip(images, crops)
    assert out.shape == (6, 3, 8, 9)
    for image, (top, left, flip), got in zip(images, rows, out, strict=True):
        expected = F.crop(image, top, left, 8, 9)
        assert torch.equal(got, F.horizontal_flip(expected) if flip else expected)


def test_a_batch_needs_one_crop_size_that_fits():
    images = torch.zeros(2, 3, 10, 10, dtype=torch.uint8)
    with pytest.raises(ValueError, match="one crop size per batch"):
        crop_flip_batch(images, torch.tensor([[0, 0, 8, 8, 0], [0, 0, 8, 7, 0]]))
    with pytest.raises(ValueError, match="crop 11x8 is larger than the images 10x10"):
        crop_flip_batch(images, torch.tensor([[0, 0, 11, 8, 0]] * 2))


def test_the_draws_are_the_loader_transforms_own():
    """Same generator state: CropFlipDraw + crop_flip_batch == RandomCrop + RandomHorizontalFlip,
    including a side the crop does not shorten (no offset drawn for it)."""
    for size, crop in (((3, 20, 17), (16, 12)), ((3, 9, 14), (9, 10))):
        image = torch.randint(0, 256, size, dtype=torch.uint8)
        loader = v2.Compose([v2.RandomCrop(crop), v2.RandomHorizontalFlip()])
        draw = CropFlipDraw(crop)
        flips = 0
        for seed in range(60):
            torch.manual_seed(seed)
            expected = loader(image)
            torch.manual_seed(seed)
            params = draw(image)
            flips += int(params[4])
            assert torch.equal(crop_flip_batch(image[None], params[None])[0], expected), seed
        assert 0 < flips < 60


def test_offsets_are_uniform_and_half_the_images_flip():
    """4,000 items of a seeded epoch (SplitPart's seeding): every offset of the range equally
    likely (chi-square) and flips at rate 0.5 (binomial), at a fixed seed: not flaky."""
    image = torch.zeros(3, 20, 17, dtype=torch.uint8)  # offsets: top 0..4, left 0..5
    draw = CropFlipDraw((16, 12))
    generator, n = torch.default_generator, 4000
    state = generator.get_state()
    try:
        rows = []
        for index in range(n):
            generator.manual_seed(mix_seed(0, 1, index))
            rows.append(draw(image))
    finally:
        generator.set_state(state)
    params = torch.stack(rows).numpy()
    tops, lefts = np.bincount(params[:, 0]), np.bincount(params[:, 1])
    assert len(tops) == 5 and len(lefts) == 6  # nothing past the range's end
    assert stats.chisquare(tops).pvalue > 0.01
    assert stats.chisquare(lefts).pvalue > 0.01
    assert stats.binomtest(int(params[:, 4].sum()), n, 0.5).pvalue > 0.01
    assert (params[:, 2:4] == [16, 12]).all()
    # ... and a biased draw would fail the same test
    assert stats.chisquare(np.bincount(params[:, 0] // 2)).pvalue < 0.01


# -- the trainer ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cached(tmp_path_factory):
    """A synthetic CUB copy and its training split's image cache: (root, cache folder)."""
    root = write_synthetic(
        "cub", tmp_path_factory.mktemp("cub"), seed=0, num_classes=3, images_per_class=6,
        image_size=64,
    )  # fmt: skip
    out = tmp_path_factory.mktemp("cache")
    for split in ("train", "test"):  # as `a3m data cache` reads them: the trainer's options
        write_cache(build_dataset("cub", root, split, bbox_crop=True), INPUT, out)
    return root, out


def config(root, **changes) -> RunConfig:
    base = dict(
        dataset="cub", data_root=str(root), input_size=INPUT, num_workers=0, backbone="tiny",
        d=16, epochs=2, eval_every=2, lr_drop_epochs=0, batch_size=4, lr=0.01, seed=3,
    )  # fmt: skip
    return RunConfig(**(base | changes))


def test_device_items_crop_to_the_loaders_training_batch(cached):
    root, cache = cached
    loader = build_split(config(root, image_cache="off"), "train", train=True)
    on_device = config(root, image_cache=str(cache), augment_on="device")
    device = build_split(on_device, "train", train=True)
    for part in (loader, device):
        part.set_epoch(1)
    expected = default_collate([loader[i] for i in range(len(loader))])
    images, target = default_collate([device[i] for i in range(len(device))])
    assert images.shape[2:] == (37, 37) and CROP_KEY not in expected[1]
    assert torch.equal(crop_flip_batch(images, target.pop(CROP_KEY)), expected[0])
    assert all(torch.equal(target[k], expected[1][k]) for k in expected[1])


def test_a_run_with_the_cache_and_device_augmentation_equals_the_decoding_one(cached, tmp_path):
    """Bitwise on the CPU with one thread: the same training pixels reach the model."""
    root, cache = cached
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        decoded = fit(config(root, image_cache="off"), tmp_path / "decoded")
        on_device = fit(config(root, image_cache=str(cache), augment_on="device"), tmp_path / "d")
    finally:
        torch.set_num_threads(threads)
    assert len(decoded.history) == 2
    for a, b in zip(decoded.history, on_device.history, strict=True):
        assert {k: v for k, v in a.items() if "time" not in k} == {
            k: v for k, v in b.items() if "time" not in k
        }


def test_device_augmentation_needs_an_image_cache(cached, tmp_path):
    root, _ = cached
    with pytest.raises(ConfigError, match="augment_on='device' .* needs image_cache 'auto' or"):
        config(root, image_cache="off", augment_on="device")
    with pytest.raises(ConfigError, match="augment_on=.*not known; valid: loader, device"):
        config(root, augment_on="gpu")
    empty = str(tmp_path / "no-caches")
    with pytest.raises(ConfigError, match=r"needs an image cache of cub/train .*a3m data cache"):
        build_split(config(root, image_cache=empty, augment_on="device"), "train", train=True)
