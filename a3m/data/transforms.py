"""Image transforms of the paper (Sec. 4.2): resize, random crop + horizontal flip, ImageNet norm.

Input sizes (height, width): 224x224 for CUB-200-2011 and CARS196, 448x224 for Market-1501,
448x448 for CompCars (each loader's ``INPUT_SIZE``, named by its registry entry's
``input_size`` and its splits' ``DatasetInfo.input_size``). Training resizes to ``scale``
times the input (256/224 by default, the usual ImageNet ratio) then takes a random crop and a
random horizontal flip; evaluation resizes the same way and takes the center crop. Resizing is
to a fixed (h, w), not the shorter side, so a box-cropped object is kept whole whatever its
aspect ratio (as the authors' code resizes the crop straight to the input size).
"""

from __future__ import annotations

import functools

import torch
from torchvision.transforms import v2

from a3m.data.registry import get_entry

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RESIZE_SCALE = 256 / 224
"""Resize-then-crop ratio: the training crop sees 1/1.14 of each side."""


def build_transform(
    dataset: str,
    train: bool,
    input_size: tuple[int, int] | None = None,
    *,
    scale: float = RESIZE_SCALE,
    normalize: bool = True,
) -> v2.Compose:
    """The train or evaluation transform of a dataset: RGB image -> normalised float tensor.

    Args:
        dataset: registry name (``cub``, ``cub_retrieval``, ``market1501``, ``compcars``,
            ``cars196``); it only picks the default input size.
        train: random crop + horizontal flip if true, center crop otherwise.
        input_size: (height, width) of the output, overriding the dataset's default.
        scale: the image is first resized to ``round(scale * size)`` per side (>= 1).
        normalize: end with the float conversion and ImageNet normalisation; without it the
            output stays uint8 and :func:`normalize_batch` does that step on the batch, on the
            device (what the trainer does: a quarter of the bytes through the DataLoader's
            queues and pinned memory, and no float work in its workers).

    Returns:
        a ``torchvision.transforms.v2.Compose`` taking a PIL image or a uint8 tensor (3, H, W)
        and giving a float32 tensor (3, height, width) (uint8 without ``normalize``).
    """
    height, width = _input_size(dataset, input_size)
    if train:
        geometry = [v2.RandomCrop((height, width)), v2.RandomHorizontalFlip()]
    else:
        geometry = [v2.CenterCrop((height, width))]
    steps = [*build_resize(dataset, input_size, scale=scale).transforms, *geometry]
    if normalize:
        steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    return v2.Compose(steps)


def resize_size(
    dataset: str, input_size: tuple[int, int] | None = None, *, scale: float = RESIZE_SCALE
) -> tuple[int, int]:
    """(height, width) every image is resized to before the crop: ``round(scale * side)`` of
    the input size (the dataset's default unless ``input_size``), at least the input size."""
    height, width = _input_size(dataset, input_size)
    if scale < 1:
        raise ValueError(f"scale must be >= 1 (resize at least to the crop), got {scale}")
    return max(height, round(height * scale)), max(width, round(width * scale))


def build_resize(
    dataset: str, input_size: tuple[int, int] | None = None, *, scale: float = RESIZE_SCALE
) -> v2.Compose:
    """The first steps of :func:`build_transform`, train and evaluation alike: a PIL image or
    uint8 tensor (3, H, W) -> uint8 (3, *:func:`resize_size`*). What the image cache stores
    (:mod:`a3m.data.cache`): its writer calls this, so cached pixels are the decoded path's.
    An image already at that size passes through unchanged (torchvision's ``Resize`` returns
    it as it is), which is how the full transform reads a cached image."""
    return v2.Compose(
        [v2.ToImage(), v2.Resize(resize_size(dataset, input_size, scale=scale), antialias=True)]
    )


def _input_size(dataset: str, input_size: tuple[int, int] | None) -> tuple[int, int]:
    default = get_entry(dataset).input_size  # an unknown name: ValueError listing the valid ones
    height, width = input_size if input_size is not None else default
    if height < 1 or width < 1:
        raise ValueError(f"input_size must be positive (height, width), got {input_size}")
    return height, width


def normalize_batch(images: torch.Tensor) -> torch.Tensor:
    """uint8 images (B, 3, H, W), e.g. from ``build_transform(..., normalize=False)``, ->
    float32 scaled to [0, 1] and normalised with the ImageNet mean and std, on their device.
    Floating-point images are returned as they are (taken as normalised already)."""
    if images.is_floating_point():
        return images
    if images.dtype != torch.uint8:
        raise TypeError(f"normalize_batch expects uint8 or float images, got {images.dtype}")
    mean, std = _imagenet_stats(images.device)
    return (images.float().div_(255.0) - mean).div_(std)


@functools.lru_cache(maxsize=8)
def _imagenet_stats(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, std) as (1, 3, 1, 1) tensors on ``device``, made once: building them per batch
    is a blocking host-to-GPU copy, i.e. a synchronisation every step."""
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    return mean, torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
