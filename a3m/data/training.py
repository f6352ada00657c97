"""How a run draws on its training split: pure functions of the run's seed, nothing global.

Two runs on the same seed (two variants of an ablation, say) must see the same training batches,
so that their difference measures the variants and not the draw. Three things are drawn, each
from its own seeded stream, never from the global RNG that model initialisation and dropout use
(whose consumption differs between variants):

- :func:`holdout_split`: the held-out (validation) part of the training split that picks the
  best epoch (``RunConfig.val_fraction``), stratified by class;
- :func:`shuffle_attribute_labels` and :func:`shuffle_labels`: controls that break the data on
  purpose (``RunConfig.attr_label_noise``, ``RunConfig.label_noise``), labels moved between
  training images;
- :class:`SplitPart`: the items of one part of a split, whose random augmentation is a function
  of ``(seed, epoch, index)`` only (the order of the items is the DataLoader generator's).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from a3m.data._io import ImageDataset
from a3m.data.base import DatasetInfo
from a3m.data.device_augment import CROP_KEY, CropFlipDraw

_MASK64 = (1 << 64) - 1
_GOLDEN64 = 0x9E3779B97F4A7C15
# Stream tags: the hold-out and the label noise of one seed must not be the same draw.
_HOLDOUT_STREAM = 1
_ATTR_NOISE_STREAM = 2
_LABEL_NOISE_STREAM = 3


def mix_seed(*values: int) -> int:
    """A 64-bit seed from integers (any sign, any size): a chain of SplitMix64 finalisers, so
    nearby inputs ((seed, epoch, 0) and (seed, epoch, 1)) give unrelated seeds. About 1 us."""
    h = _GOLDEN64
    for value in values:
        z = ((h ^ (int(value) & _MASK64)) + _GOLDEN64) & _MASK64
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        h = z ^ (z >> 31)
    return h


def _round_half_up(x: float) -> int:
    return math.floor(x + 0.5)


def holdout_split(
    labels: np.ndarray, fraction: float, seed: int, *, min_per_class: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Split item positions into a kept (training) part and a held-out part, per class.

    Each class of ``n`` items holds out ``round(fraction * n)`` of them, drawn with a generator
    seeded by ``seed`` alone, and always keeps at least one for training. ``min_per_class``:
    a class holds out either none or at least this many (2 for retrieval and re-id, where a
    held-out image is only useful with another one of its class to be found).

    Args:
        labels: (N,) class of each item.
        fraction: in [0, 1).
        seed: the run's seed.
        min_per_class: >= 1.

    Returns:
        ``(kept, held_out)``: sorted int64 positions, disjoint, together ``0..N-1``.
    """
    labels = np.asarray(labels)
    if not 0 <= fraction < 1:
        raise ValueError(f"fraction must be in [0, 1), got {fraction}")
    if min_per_class < 1:
        raise ValueError(f"min_per_class must be >= 1, got {min_per_class}")
    rng = np.random.default_rng(mix_seed(seed, _HOLDOUT_STREAM))
    order = np.argsort(labels, kind="stable")
    _, starts = np.unique(labels[order], return_index=True)
    held: list[np.ndarray] = []
    for members in np.split(order, starts[1:]):
        n = len(members)
        k = _round_half_up(fraction * n)
        k = min(max(k, min_per_class) if k else 0, n - 1)
        if k >= min_per_class:
            held.append(rng.permutation(members)[:k])
    held_out = np.sort(np.concatenate(held)) if held else np.zeros(0, dtype=np.int64)
    kept = np.setdiff1d(np.arange(len(labels)), held_out)
    return kept.astype(np.int64), held_out.astype(np.int64)


def shuffle_attribute_labels(attributes: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """A copy of ``attributes`` (N, K) in which ``round(fraction * N)`` rows, chosen at random,
    each take the row of another chosen one (one random cycle through them).

    The multiset of rows is kept (only which image has which changes), so the attribute labels'
    marginal statistics are those of the data and only their link to the image is broken: at
    1.0 every image has the attributes of another image. Seeded by ``seed`` alone; ``attributes``
    itself is never modified.
    """
    return _cycle_rows(attributes, fraction, mix_seed(seed, _ATTR_NOISE_STREAM))


def shuffle_labels(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """A copy of the category ``labels`` (N,) with ``round(fraction * N)`` of them moved between
    images as :func:`shuffle_attribute_labels` moves attribute rows (a positive control: the
    class counts stay, their link to the image is broken). Its own stream of ``seed``."""
    return _cycle_rows(labels, fraction, mix_seed(seed, _LABEL_NOISE_STREAM))


def _cycle_rows(values: np.ndarray, fraction: float, stream_seed: int) -> np.ndarray:
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    out = np.array(values, copy=True)
    m = _round_half_up(fraction * len(out))
    if m < 2:  # one chosen image has no other to take from
        return out
    rng = np.random.default_rng(stream_seed)
    chosen = rng.choice(len(out), size=m, replace=False)  # in random order: the cycle
    out[chosen] = values[np.roll(chosen, -1)]
    return out


class SplitPart(Dataset):
    """Some items of a split, optionally with other attribute labels and seeded augmentation.

    Items are the split's ``(image, target)``; ``target["index"]`` stays the position in the
    whole split, so an image is named the same way whichever part it falls in.

    Args:
        dataset: the whole split.
        indices: positions in ``dataset`` of this part's items (default: all, in order).
        attributes: (len(indices), K) attribute labels replacing the split's (a control);
            default: the split's own.
        labels: (len(indices),) category labels replacing the split's (a control).
        seed: when set, each item's random draws (the training transform's crop and flip) come
            from torch's CPU generator seeded with ``mix_seed(seed, epoch, index)`` and the
            generator's state is restored afterwards: an item's augmentation is a pure function of
            (seed, epoch, index), whatever the process, worker or model around it draws.
            ``set_epoch`` before each epoch; DataLoader workers must not be persistent (a
            worker gets the part as it is when the epoch's iteration starts).
        device_crop: (height, width): leave the random crop and flip to the device
            (``RunConfig.augment_on="device"``). The split's transform then only resizes;
            each item is the whole resized image, and ``target["crop"]`` its crop and flip
            (:class:`~a3m.data.device_augment.CropFlipDraw`), drawn in the seeded stream exactly
            as the loader transform's ``RandomCrop`` and ``RandomHorizontalFlip`` would draw
            them: :func:`~a3m.data.device_augment.crop_flip_batch` gives the same pixels.

    Cost of the seeding: about 4 us per item (saving, seeding and restoring
    ``torch.default_generator``); a 64x64 crop + flip alone takes about 240 us, a CUB image's
    decode and 224x224 crop a few ms. (``torch.random.fork_rng`` plus ``torch.manual_seed``
    would cost about 160 us: ``manual_seed`` also visits every accelerator backend.)
    """

    def __init__(
        self,
        dataset: ImageDataset,
        indices: np.ndarray | None = None,
        *,
        attributes: np.ndarray | None = None,
        labels: np.ndarray | None = None,
        seed: int | None = None,
        device_crop: tuple[int, int] | None = None,
    ) -> None:
        self.dataset = dataset
        n = len(dataset)
        self.indices = np.arange(n) if indices is None else np.asarray(indices, dtype=np.int64)
        if len(self.indices) == 0:
            raise ValueError(f"{dataset.info.name}/{dataset.split}: a split part needs items")
        if self.indices.min() < 0 or self.indices.max() >= n:
            raise ValueError(f"indices must be positions in 0..{n - 1} of {dataset.split!r}")
        if attributes is not None and attributes.shape != (
            len(self.indices),
            dataset.info.num_attributes,
        ):
            raise ValueError(
                f"attributes must be ({len(self.indices)}, {dataset.info.num_attributes}) "
                f"(items, K), got {attributes.shape}"
            )
        if labels is not None and labels.shape != (len(self.indices),):
            raise ValueError(f"labels must be ({len(self.indices)},), got {labels.shape}")
        self._attributes = attributes
        self._labels = labels
        self.seed = seed
        self.epoch = 0
        self._draw_crop = None if device_crop is None else CropFlipDraw(tuple(device_crop))

    @property
    def info(self) -> DatasetInfo:
        return self.dataset.info

    @property
    def labels(self) -> np.ndarray:
        """(N,) labels of this part's items, as it trains on them."""
        if self._labels is not None:
            return self._labels
        return self.dataset.labels[self.indices]

    @property
    def attributes(self) -> np.ndarray:
        """(N, K) attribute labels of this part's items, as it trains on them."""
        if self._attributes is not None:
            return self._attributes
        return self.dataset.attributes[self.indices]

    def set_epoch(self, epoch: int) -> None:
        """The epoch (0-based) whose augmentation the next items get."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> tuple[Any, dict[str, Any]]:
        item = int(self.indices[index])
        if self.seed is None:
            image, target = self._draw(item)
        else:
            generator = torch.default_generator
            state = generator.get_state()
            generator.manual_seed(mix_seed(self.seed, self.epoch, item))
            try:
                image, target = self._draw(item)
            finally:
                generator.set_state(state)
        if self._attributes is not None:
            target["attributes"] = torch.from_numpy(self._attributes[index].copy())
        if self._labels is not None:
            target["label"] = int(self._labels[index])
        return image, target

    def _draw(self, item: int) -> tuple[Any, dict[str, Any]]:
        """The split's item, with its crop and flip when they are left to the device."""
        image, target = self.dataset[item]
        if self._draw_crop is not None:
            target[CROP_KEY] = self._draw_crop(image)
        return image, target

    def __repr__(self) -> str:
        seeded = "" if self.seed is None else f", seed={self.seed}, epoch={self.epoch}"
        noisy = "" if self._attributes is None else ", attributes replaced"
        noisy += "" if self._labels is None else ", labels replaced"
        noisy += "" if self._draw_crop is None else ", crop and flip on the device"
        return f"SplitPart({self.dataset!r}, items={len(self)}{seeded}{noisy})"
