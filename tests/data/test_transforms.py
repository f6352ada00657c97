"""The paper's transforms (Sec. 4.2): output sizes, crop/flip, normalisation."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from a3m.data import build_dataset, build_transform
from a3m.data.registry import get_entry
from a3m.data.transforms import IMAGENET_MEAN, IMAGENET_STD, normalize_batch


@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("cub", (224, 224)),
        ("cub_retrieval", (224, 224)),
        ("cars196", (224, 224)),
        ("market1501", (448, 224)),
        ("compcars", (448, 448)),
    ],
)
@pytest.mark.parametrize("train", [True, False])
def test_default_output_sizes(name, size, train):
    image = Image.new("RGB", (97, 61), (10, 20, 30))
    out = build_transform(name, train)(image)
    assert out.shape == (3, *size) and out.dtype == torch.float32
    assert get_entry(name).input_size == size


def test_input_size_override():
    out = build_transform("market1501", True, (64, 32))(Image.new("RGB", (20, 50)))
    assert out.shape == (3, 64, 32)


def test_normalisation_of_a_flat_image():
    out = build_transform("cub", False, (8, 8))(Image.new("RGB", (16, 16), (255, 0, 128)))
    expected = [
        (v - m) / s
        for v, m, s in zip((1.0, 0.0, 128 / 255), IMAGENET_MEAN, IMAGENET_STD, strict=True)
    ]
    assert torch.allclose(out.mean(dim=(1, 2)), torch.tensor(expected), atol=1e-4)


def test_eval_is_deterministic_train_is_random():
    image = Image.linear_gradient("L").convert("RGB").resize((80, 60))
    test_tf = build_transform("cub", False, (32, 32))
    assert torch.equal(test_tf(image), test_tf(image))
    train_tf = build_transform("cub", True, (32, 32))
    torch.manual_seed(0)
    outs = [train_tf(image) for _ in range(8)]
    assert any(not torch.equal(outs[0], o) for o in outs[1:])


def test_with_a_loader(make_cub):
    ds = build_dataset("cub", make_cub(), "train", transform=build_transform("cub", True))
    image, target = ds[0]
    assert image.shape == (3, 224, 224) and target["label"] == 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="valid names: cub, cub_retrieval, .*, cars196"):
        build_transform("imagenet", True)
    with pytest.raises(ValueError, match="positive"):
        build_transform("cub", True, (0, 10))
    with pytest.raises(ValueError, match="scale"):
        build_transform("cub", True, scale=0.5)


def test_uint8_transform_then_normalize_batch_equals_the_float_transform():
    g = torch.Generator().manual_seed(0)
    image = torch.randint(0, 256, (3, 61, 97), dtype=torch.uint8, generator=g)
    raw = build_transform("cub", False, (32, 48), normalize=False)(image)
    assert raw.dtype == torch.uint8 and raw.shape == (3, 32, 48)
    expected = build_transform("cub", False, (32, 48))(image)
    got = normalize_batch(raw[None])[0]
    assert got.dtype == torch.float32
    assert torch.allclose(got, expected, atol=1e-6), (got - expected).abs().max()
    # a hand value: white, black and mid-grey channels
    flat = torch.tensor([255, 0, 128], dtype=torch.uint8).view(1, 3, 1, 1).expand(2, 3, 2, 2)
    channels = zip((1.0, 0.0, 128 / 255), IMAGENET_MEAN, IMAGENET_STD, strict=True)
    expected = [(v - m) / s for v, m, s in channels]
    assert torch.allclose(normalize_batch(flat)[1, :, 1, 1], torch.tensor(expected), atol=1e-6)


def test_normalize_batch_passes_float_and_refuses_other_types():
    x = torch.randn(2, 3, 4, 4)
    assert normalize_batch(x) is x
    with pytest.raises(TypeError, match="uint8 or float images, got torch.int32"):
        normalize_batch(torch.zeros(2, 3, 4, 4, dtype=torch.int32))


def test_normalize_batch_builds_its_constants_once_per_device():
    """A new mean/std tensor per batch would be a blocking copy to the GPU every step."""
    from a3m.data.transforms import _imagenet_stats

    batch = torch.zeros(1, 3, 2, 2, dtype=torch.uint8)
    normalize_batch(batch)
    first = _imagenet_stats(batch.device)
    normalize_batch(batch)
    assert _imagenet_stats(batch.device)[0] is first[0]
