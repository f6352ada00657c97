"""Shared plumbing of the dataset loaders: finding files, reading text lists, opening images.

Every loader reports bad input the same way (the formats: ``docs/reproduction.md``,
"Dataset formats"):

- a missing root or file raises ``FileNotFoundError`` naming the path, what was expected there
  and where the dataset is published;
- a malformed line raises :class:`~a3m.data.base.DatasetFormatError` as
  ``"<file>, line <n>: <what was expected>; got <the line>"``;
- an image that cannot be decoded raises :class:`ImageReadError` naming the file;
- a split with no items raises :class:`~a3m.data.base.DatasetFormatError` naming the split and
  the file it was read from, never a silent empty dataset.

:class:`ImageDataset` is the torch ``Dataset`` every loader fills: parallel arrays of paths,
labels, attributes and optional crop boxes, plus the ``quirks`` it counted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision.io import ImageReadMode, decode_image, read_file
from torchvision.transforms.functional import pil_to_tensor

from a3m.data.base import DatasetFormatError, DatasetInfo


class CachedImages(Protocol):
    """What an item is read from when a split has an image cache
    (:class:`a3m.data.cache.ImageCache`, which imports this module: named here by shape)."""

    path: Path

    def __getitem__(self, index: int) -> torch.Tensor: ...


HOMES: dict[str, str] = {
    "cub": "https://www.vision.caltech.edu/datasets/cub_200_2011/",
    "market1501": "https://zheng-lab-anu.github.io/Project/project_reid.html",
    "market1501_attributes": "https://github.com/vana77/Market-1501_Attribute",
    "compcars": "https://mmlab.ie.cuhk.edu.hk/datasets/comp_cars/",
    "cars196": "https://ai.stanford.edu/~jkrause/cars/car_dataset.html",
}
"""Where each public release (and Market-1501's attribute file) is published: the one list of
these addresses, which :data:`SOURCES` and the dataset registry's ``home`` quote."""

SOURCES: dict[str, str] = {
    "cub": f"CUB-200-2011 is published at {HOMES['cub']} "
    "(archive: https://data.caltech.edu/records/65de6-vp158)",
    "market1501": f"Market-1501 is published at {HOMES['market1501']}",
    "market1501_attributes": "the Market-1501 attributes (market_attribute.mat) are published at "
    + HOMES["market1501_attributes"],
    "compcars": f"CompCars is published at {HOMES['compcars']} "
    "(download after signing its license agreement)",
    "cars196": f"CARS196 (Stanford Cars) is published at {HOMES['cars196']} "
    "(cars_annos.mat: http://ai.stanford.edu/~jkrause/car196/cars_annos.mat)",
}
"""Where each public release is published, quoted in every missing-file error."""


class ImageReadError(OSError):
    """An image file that is missing or cannot be decoded; the message names the file."""


def check_split(dataset: str, split: str, splits: Sequence[str]) -> None:
    """ValueError naming the valid splits when ``split`` is not one of them."""
    if split not in splits:
        raise ValueError(f"{dataset}: unknown split {split!r}; valid splits: {', '.join(splits)}")


def retrieval_half(classes: Sequence[Any], split: str) -> list[Any]:
    """The retrieval protocol's classes of a split: the first half of the (ordered) classes
    train, the rest test (CUB 1-100 / 101-200, CARS196 1-98 / 99-196); an odd count gives
    train the extra one."""
    half = (len(classes) + 1) // 2
    return list(classes[:half] if split == "train" else classes[half:])


def missing(path: Path, expected: str, source: str) -> FileNotFoundError:
    """Build the error for a missing root or file.

    Args:
        path: the path that does not exist.
        expected: what should be there, e.g. ``"the image list of CUB-200-2011"``.
        source: key of :data:`SOURCES` naming where the dataset is published.
    """
    return FileNotFoundError(f"{path} not found: expected {expected}. {SOURCES[source]}.")


def require_file(path: Path, expected: str, source: str) -> Path:
    """Return ``path`` if it is a file, else raise :func:`missing`'s error."""
    if not path.is_file():
        raise missing(path, expected, source)
    return path


def require_dir(path: Path, expected: str, source: str) -> Path:
    """Return ``path`` if it is a folder, else raise :func:`missing`'s error."""
    if not path.is_dir():
        raise missing(path, expected, source)
    return path


def format_error(path: Path, lineno: int, expected: str, line: str) -> DatasetFormatError:
    """Build the error for a malformed line (``lineno`` 1-based, as editors count)."""
    shown = line.rstrip("\r\n")
    if len(shown) > 120:
        shown = shown[:117] + "..."
    return DatasetFormatError(f"{path}, line {lineno}: expected {expected}; got {shown!r}")


def read_rows(path: Path) -> Iterator[tuple[int, list[str], str]]:
    """Yield ``(line number, whitespace-split fields, raw line)`` for each non-blank line.

    Blank lines (a trailing newline, a stray empty line) are skipped: they carry no record.
    """
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, start=1):
            fields = line.split()
            if fields:
                yield lineno, fields, line


def parse_int(text: str) -> int | None:
    """``int(text)`` or ``None`` when ``text`` is not a base-10 integer."""
    try:
        return int(text)
    except ValueError:
        return None


def parse_float(text: str) -> float | None:
    """``float(text)`` or ``None`` when ``text`` is not a finite number."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if np.isfinite(value) else None


def parse_floats(fields: Sequence[str]) -> list[float] | None:
    """Every field as a finite float, or ``None`` if any is not a number."""
    values = [parse_float(x) for x in fields]
    return None if any(v is None for v in values) else [float(v) for v in values if v is not None]


def _clip_box(box: Sequence[float], width: int, height: int) -> tuple[int, int, int, int]:
    """``(left, top, right, bottom)`` rounded to whole pixels and clipped to the image, so a box
    that overhangs the border by annotation noise still crops (at least one pixel)."""
    left = min(max(round(box[0]), 0), width - 1)
    top = min(max(round(box[1]), 0), height - 1)
    right = max(min(round(box[2]), width), left + 1)
    bottom = max(min(round(box[3]), height), top + 1)
    return left, top, right, bottom


def open_image(path: Path, box: Sequence[float] | None = None) -> Image.Image:
    """Decode ``path`` to an RGB PIL image, optionally cropped; :class:`ImageReadError` on
    failure.

    Args:
        path: the image file.
        box: ``(left, top, right, bottom)`` in PIL pixel coordinates (right/bottom exclusive);
            rounded to whole pixels and clipped to the image.
    """
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")  # decodes the whole file: a truncated one fails here
    except FileNotFoundError as err:
        raise ImageReadError(f"image file {path} does not exist") from err
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        raise ImageReadError(f"cannot read image {path}: {err}") from err
    return im if box is None else im.crop(_clip_box(box, im.width, im.height))


def read_image(path: Path, box: Sequence[float] | None = None) -> torch.Tensor:
    """Decode ``path`` to a uint8 RGB tensor (3, H, W), optionally cropped (as :func:`open_image`).

    The training path: torchvision decodes straight into a tensor with libjpeg-turbo, 1.6x
    faster per image than PIL plus the PIL-to-tensor copy, to the same pixels
    (benchmarks/bench_input_pipeline.py). A file torchvision cannot decode goes through PIL,
    which reads more formats and names the file when it fails too.
    """
    try:
        image = decode_image(read_file(str(path)), mode=ImageReadMode.RGB)
    except RuntimeError:
        image = pil_to_tensor(open_image(path))
    if box is None:
        return image
    left, top, right, bottom = _clip_box(box, image.shape[2], image.shape[1])
    return image[:, top:bottom, left:right]


def contiguous_labels(keys: Sequence[int]) -> dict[int, int]:
    """Map sorted distinct keys to 0..n-1, so labels are contiguous whatever ids the files use."""
    return {key: label for label, key in enumerate(sorted(set(keys)))}


class ImageDataset(Dataset):
    """A split of a dataset: images with a label, K attribute class ids and optional boxes.

    Items follow :mod:`a3m.data.base`: ``(image, target)`` with ``target`` holding ``"label"``,
    ``"attributes"`` (LongTensor (K,)), ``"index"`` and any per-item ``extra`` fields (``"pid"``,
    ``"camid"`` for re-id).

    Attributes:
        info: the :class:`~a3m.data.base.DatasetInfo` of the dataset (training label space).
        split: the split name, e.g. ``"train"``.
        root: the dataset folder actually read (after resolving the user's root).
        samples: image paths, one per item.
        labels: int64 array (N,) of labels, 0-based within this split's label space.
        classes: name of each label of this split's label space.
        attributes: int64 array (N, K) of attribute class ids, ``IGNORE_INDEX`` where unknown.
        boxes: float array (N, 4) of crop boxes ``(left, top, right, bottom)`` or ``None``.
        quirks: known quirks of the public release met while loading, as counts.
        image_cache: when set (:func:`a3m.data.cache.find_cache`), items are read from this
            :class:`~a3m.data.cache.ImageCache` of the split, already cropped and resized as
            the transform's first step does, instead of decoded; the transform must resize to
            the cache's size (its ``Resize`` then passes the image through unchanged).
    """

    def __init__(
        self,
        *,
        info: DatasetInfo,
        split: str,
        root: Path,
        samples: list[Path],
        labels: np.ndarray,
        classes: list[str],
        attributes: np.ndarray,
        boxes: np.ndarray | None = None,
        transform: Callable[[Image.Image], Any] | None = None,
        quirks: dict[str, int] | None = None,
        extra: dict[str, np.ndarray] | None = None,
        source_file: Path | None = None,
    ) -> None:
        if not samples:
            where = f" (read from {source_file})" if source_file else ""
            raise DatasetFormatError(f"{info.name}: split {split!r} has no images{where}")
        n = len(samples)
        assert labels.shape == (n,), labels.shape
        assert attributes.shape == (n, info.num_attributes), attributes.shape
        assert boxes is None or boxes.shape == (n, 4), boxes.shape
        self.info = info
        self.split = split
        self.root = root
        self.samples = samples
        self.labels = labels.astype(np.int64)
        self.classes = classes
        self.attributes = attributes.astype(np.int64)
        self.boxes = boxes
        self.transform = transform
        self.quirks = {k: int(v) for k, v in (quirks or {}).items() if v}
        self.extra = {k: np.asarray(v, dtype=np.int64) for k, v in (extra or {}).items()}
        self.image_cache: CachedImages | None = None

    def __len__(self) -> int:
        return len(self.samples)

    def load_image(self, index: int) -> Image.Image:
        """The item's image as RGB PIL (cropped when boxes are set), before the transform."""
        return self._decode(index, open_image)

    def read_image(self, index: int) -> torch.Tensor:
        """The item's image as a uint8 tensor (3, H, W) (cropped when boxes are set)."""
        return self._decode(index, read_image)

    def _decode(self, index: int, decode: Callable[[Path, Any], Any]) -> Any:
        box = None if self.boxes is None else self.boxes[index]
        try:
            return decode(self.samples[index], box)
        except ImageReadError as err:
            raise ImageReadError(f"{self.info.name}/{self.split} item {index}: {err}") from err

    def __getitem__(self, index: int) -> tuple[Any, dict[str, Any]]:
        if self.image_cache is not None:
            image = self.image_cache[index]  # uint8 (3, H, W), resized
        else:
            image = self.read_image(index)  # uint8 (3, H, W)
        image = image.float().div_(255.0) if self.transform is None else self.transform(image)
        target: dict[str, Any] = {
            "label": int(self.labels[index]),
            "attributes": torch.from_numpy(self.attributes[index].copy()),
            "index": int(index),
        }
        for key, values in self.extra.items():
            target[key] = int(values[index])
        return image, target

    def __repr__(self) -> str:
        quirks = f", quirks={self.quirks}" if self.quirks else ""
        cache = self.image_cache
        quirks += "" if cache is None else f", image_cache={str(cache.path)!r}"
        return (
            f"{type(self).__name__}(split={self.split!r}, items={len(self)}, "
            f"classes={len(self.classes)}, K={self.info.num_attributes}, root={str(self.root)!r}"
            f"{quirks})"
        )
