"""The training transform's random crop and flip, drawn in the loader and applied on the device.

``RunConfig.augment_on="device"`` (docs/cache.md, "Augmenting on the device"): the DataLoader's
workers hand over the cached, resized uint8 images whole, each with its crop and flip, and the
trainer crops and flips the batch after the host-to-device copy (:func:`crop_flip_batch`), so
the workers only copy bytes out of the image cache.

The draws are the loader transform's own: :class:`CropFlipDraw` makes exactly the random calls
that ``v2.RandomCrop(size)`` then ``v2.RandomHorizontalFlip()`` make, in the same order, on
the same generator. Under :class:`~a3m.data.training.SplitPart`'s seeding, an item of one
(seed, epoch, index) therefore gets the same crop and flip on the device as in the loader, and
the network sees the same pixels either way.
"""

from __future__ import annotations

import torch
from torchvision.transforms import v2

CROP_KEY = "crop"
"""The target field of an item's crop: int64 (5,) ``(top, left, height, width, flip)``."""


class CropFlipDraw:
    """Draws what ``v2.Compose([v2.RandomCrop(size), v2.RandomHorizontalFlip()])`` would do to
    an image, without doing it.

    Args:
        size: (height, width) of the crop.
    """

    def __init__(self, size: tuple[int, int]) -> None:
        self.crop = v2.RandomCrop(size)
        self.flip = v2.RandomHorizontalFlip()

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        """The crop and flip of ``image`` (3, H, W): int64 (5,) ``(top, left, height, width,
        flip)``, from torch's default generator (two ``randint`` for the offsets, one ``rand``
        for the flip, as torchvision draws them)."""
        params = self.crop.make_params([image])
        # v2's random-apply transforms act unless rand(1) >= p
        flip = bool(torch.rand(1) < self.flip.p)
        return torch.tensor(
            [params["top"], params["left"], params["height"], params["width"], flip],
            dtype=torch.int64,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={tuple(self.crop.size)})"


def crop_flip_batch(images: torch.Tensor, crops: torch.Tensor) -> torch.Tensor:
    """Crop and flip each image of a batch as its own ``crops`` row says.

    Args:
        images: (B, C, H, W), any dtype, on any device.
        crops: int64 (B, 5) rows of :class:`CropFlipDraw`, one crop size for the whole batch.
            Best left on the CPU (the loader's pinned memory): the crop size is read from it
            without waiting for the device.

    Returns:
        (B, C, height, width) on the images' device, equal to ``F.crop`` then (where ``flip``)
        ``F.horizontal_flip`` of each image. On a GPU one gather kernel, laid out channels-last
        (which the trainer's CUDA input wants anyway); on the CPU, where PyTorch's advanced
        indexing is slow (about 4 ms per 224x224 image), a slice per image (about 0.1 ms).
    """
    if images.ndim != 4 or crops.shape != (images.shape[0], 5):
        raise ValueError(
            f"crop_flip_batch: expected images (B, C, H, W) and crops (B, 5), got "
            f"{tuple(images.shape)} and {tuple(crops.shape)}"
        )
    crops = crops.cpu()
    height, width = (int(v) for v in crops[0, 2:4])
    if not bool((crops[:, 2:4] == crops[0, 2:4]).all()):
        raise ValueError(
            f"crop_flip_batch: one crop size per batch, got {crops[:, 2:4].unique(dim=0)}"
        )
    if height > images.shape[2] or width > images.shape[3]:
        raise ValueError(
            f"crop_flip_batch: crop {height}x{width} is larger than the images "
            f"{images.shape[2]}x{images.shape[3]}"
        )
    if images.device.type == "cpu":
        return _crop_flip_slices(images, crops)
    return _crop_flip_gather(images, crops)


def _crop_flip_slices(images: torch.Tensor, crops: torch.Tensor) -> torch.Tensor:
    out = []
    for image, (top, left, height, width, flip) in zip(images, crops.tolist(), strict=True):
        crop = image[:, top : top + height, left : left + width]
        out.append(crop.flip(-1) if flip else crop)
    return torch.stack(out)


def _crop_flip_gather(images: torch.Tensor, crops: torch.Tensor) -> torch.Tensor:
    height, width = (int(v) for v in crops[0, 2:4])
    device = images.device
    crops = crops.to(device, non_blocking=True)
    top, left, flip = crops[:, 0], crops[:, 1], crops[:, 4].bool()
    rows = top[:, None] + torch.arange(height, device=device)  # (B, height)
    cols = torch.arange(width, device=device)
    cols = left[:, None] + torch.where(flip[:, None], width - 1 - cols, cols)  # (B, width)
    batch = torch.arange(len(images), device=device)[:, None, None]
    # Advanced indices around a slice put their dimensions first: (B, height, width, C).
    return images[batch, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
