"""Decode once: a split's images, box-cropped and resized for the training transform, as uint8
arrays that DataLoader workers map from disk instead of decoding JPEGs every epoch.

The training transform resizes every image to one fixed size
(:func:`a3m.data.transforms.resize_size`, 256x256 for a 224x224 input) before its random crop
and flip, and the evaluation transform resizes to the same size before its center crop; the
cache stores the images at that size, so it serves both. Its writer (:func:`write_cache`) runs
the live path's own code, :meth:`ImageDataset.read_image` then
:func:`a3m.data.transforms.build_resize`, so a cached image is bit-exact the decoded one, and
the full transform reads it unchanged (torchvision's ``Resize`` returns an image already at
its size as it is). FFCV and DALI were the model; this is their simplest part, in NumPy.

Format (docs/cache.md, "Format")::

    <cache dir>/<dataset>/<split>-<H>x<W>-<box|full>-<fingerprint>/
        manifest.json      what the folder holds and what it was made from
        images-00000.npy   uint8 (n0, 3, H, W), NumPy's .npy: np.load(path, mmap_mode="r")
        images-00001.npy   uint8 (n1, 3, H, W), ... about 1 GiB each

Item ``i`` of the split (the loader's order) is the row ``i - (n0 + ... )`` of the shard that
holds it. ``manifest.json`` holds ``format`` (``"a3m-image-cache"``), ``version``,
``dataset``, ``split``, ``size`` ([H, W]), ``box_crop``, ``fingerprint``
(:func:`a3m.data.fingerprint.dataset_fingerprint` of the dataset folder), ``items``,
``items_digest`` (:func:`items_digest`: the items' paths and boxes), ``torchvision`` (the
decoder and resize that made the pixels), ``shards`` (``[{"file", "items"}]``) and ``source``
(the folder it was read from, for people).

A cache is used only when all of these still describe the data (:func:`find_cache` says why
not otherwise); a shard that is missing, truncated or of the wrong shape raises
:class:`CacheError` naming the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision
from torch.utils.data import DataLoader, Dataset

from a3m.data._io import ImageDataset
from a3m.data.fingerprint import dataset_fingerprint
from a3m.data.transforms import RESIZE_SCALE, build_resize, resize_size

CACHE_ENV = "A3M_IMAGE_CACHE"
DEFAULT_CACHE = "~/.cache/a3m/images"
FORMAT = "a3m-image-cache"
VERSION = 1
MANIFEST = "manifest.json"
SHARD_BYTES = 1 << 30
"""Target size of one shard file."""


class CacheError(OSError):
    """An image cache whose manifest or shard is missing, corrupt or truncated; the message
    names the file."""


def default_cache_dir(where: str | Path | None = None) -> Path:
    """The folder image caches live in: ``where``, else ``$A3M_IMAGE_CACHE``, else
    ``~/.cache/a3m/images``; absolute, so every worker and trial reads the same one."""
    return Path(where or os.environ.get(CACHE_ENV) or DEFAULT_CACHE).expanduser().resolve()


def cache_folder(
    cache_dir: Path, dataset: ImageDataset, size: tuple[int, int], fingerprint: str
) -> Path:
    """Where the cache of ``dataset`` at ``size`` (H, W) made from data of ``fingerprint`` is."""
    return cache_dir / dataset.info.name / f"{_prefix(dataset, size)}-{fingerprint}"


def _prefix(dataset: ImageDataset, size: tuple[int, int]) -> str:
    crop = "box" if dataset.boxes is not None else "full"
    return f"{dataset.split}-{size[0]}x{size[1]}-{crop}"


def items_digest(dataset: ImageDataset) -> str:
    """SHA-256 (16 hex digits) of the split's items in order: each image's path relative to
    the dataset folder and its crop box. Another item order, image or box: another digest."""
    digest = hashlib.sha256()
    for i, path in enumerate(dataset.samples):
        inside = path.is_relative_to(dataset.root)
        rel = path.relative_to(dataset.root).as_posix() if inside else str(path)
        box = "" if dataset.boxes is None else ",".join(repr(float(v)) for v in dataset.boxes[i])
        digest.update(f"{rel}\0{box}\n".encode())
    return digest.hexdigest()[:16]


# -- writing ----------------------------------------------------------------------------------
class _Resized(Dataset):
    """The split's images through the live path's decode and resize, as plain uint8 tensors."""

    def __init__(self, dataset: ImageDataset, resize: Callable[[Any], torch.Tensor]) -> None:
        self.dataset, self.resize = dataset, resize

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.resize(self.dataset.read_image(index)).as_subclass(torch.Tensor)


def write_cache(
    dataset: ImageDataset,
    input_size: tuple[int, int] | None = None,
    cache_dir: str | Path | None = None,
    *,
    scale: float = RESIZE_SCALE,
    workers: int = 0,
    shard_bytes: int = SHARD_BYTES,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Decode and resize every image of ``dataset`` once, into a cache folder.

    Args:
        dataset: the split, as the trainer loads it (same loader options: ``bbox_crop``).
        input_size: the network input (H, W) of the runs that will read it (default: the
            dataset's); the images are stored at :func:`~a3m.data.transforms.resize_size`.
        cache_dir: the folder of caches (:func:`default_cache_dir`).
        scale: the transform's resize ratio.
        workers: DataLoader processes decoding in parallel (0: this process).
        shard_bytes: about this many bytes per shard file.
        log: called with one line per shard written.

    Returns:
        the cache folder. It appears complete or not at all: written beside it under a
        temporary name, then renamed (a previous cache of the same key is replaced).
    """
    name = dataset.info.name
    size = resize_size(name, input_size, scale=scale)
    resize = build_resize(name, input_size, scale=scale)
    fingerprint = dataset_fingerprint(dataset.root)
    final = cache_folder(default_cache_dir(cache_dir), dataset, size, fingerprint)
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = final.parent / f".partial-{os.getpid()}-{final.name}"  # never matches a lookup
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    per_shard = max(1, shard_bytes // (3 * size[0] * size[1]))
    loader = DataLoader(_Resized(dataset, resize), batch_size=32, num_workers=workers)
    shards: list[dict[str, Any]] = []
    array, filled = None, 0
    for batch in loader:
        start = 0
        while start < len(batch):
            if array is None:
                n = min(per_shard, len(dataset) - per_shard * len(shards))
                file = partial / f"images-{len(shards):05d}.npy"
                array = np.lib.format.open_memmap(file, "w+", np.uint8, (n, 3, *size))
                shards.append({"file": file.name, "items": n})
            take = min(len(batch) - start, len(array) - filled)
            array[filled : filled + take] = batch[start : start + take].numpy()
            filled, start = filled + take, start + take
            if filled == len(array):
                array.flush()
                if log:
                    log(f"{name}/{dataset.split}: wrote {shards[-1]['file']} ({filled} images)")
                array, filled = None, 0
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "dataset": name,
        "split": dataset.split,
        "size": list(size),
        "box_crop": dataset.boxes is not None,
        "fingerprint": fingerprint,
        "items": len(dataset),
        "items_digest": items_digest(dataset),
        "torchvision": torchvision.__version__,
        "shards": shards,
        "source": str(dataset.root),
    }
    (partial / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    shutil.rmtree(final, ignore_errors=True)
    os.replace(partial, final)
    return final


# -- reading ----------------------------------------------------------------------------------
class ImageCache:
    """A cache folder, opened: ``cache[i]`` is item ``i``'s uint8 image (3, H, W).

    Every shard is mapped (and its shape checked) on opening, so a broken cache fails before
    training starts. The maps are not pickled: a DataLoader worker started by spawning maps
    the files again instead of receiving a copy of the images.

    Raises:
        CacheError: the manifest or a shard is missing, corrupt, truncated or of another shape.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.manifest = _read_manifest(self.path / MANIFEST)
        self.size: tuple[int, int] = tuple(self.manifest["size"])
        self.files = [self.path / shard["file"] for shard in self.manifest["shards"]]
        counts = [int(shard["items"]) for shard in self.manifest["shards"]]
        self._starts = np.cumsum([0, *counts])
        if self._starts[-1] != self.manifest["items"]:
            raise CacheError(
                f"{self.path / MANIFEST}: its shards hold {self._starts[-1]} images, "
                f"its 'items' says {self.manifest['items']}"
            )
        self._maps: list[np.ndarray] | None = None
        self._shards()

    def __len__(self) -> int:
        return int(self.manifest["items"])

    def __getitem__(self, index: int) -> torch.Tensor:
        if not 0 <= index < len(self):
            raise IndexError(f"image cache {self.path}: item {index} of {len(self)}")
        shard = int(np.searchsorted(self._starts, index, side="right")) - 1
        row = self._shards()[shard][index - self._starts[shard]]
        return torch.from_numpy(np.array(row))  # a writable copy, out of the page cache

    def _shards(self) -> list[np.ndarray]:
        if self._maps is None:
            maps = []
            for file, start, end in zip(self.files, self._starts, self._starts[1:], strict=False):
                maps.append(_map_shard(file, (int(end - start), 3, *self.size), self.path))
            self._maps = maps
        return self._maps

    def stale_reason(self, dataset: ImageDataset) -> str | None:
        """Why this cache does not hold ``dataset``'s images as the decode path gives them now
        (the fingerprint is the folder's name: :func:`find_cache` checks it), or None."""
        if len(self) != len(dataset):
            return f"it holds {len(self)} images, the split has {len(dataset)}"
        if self.manifest["items_digest"] != items_digest(dataset):
            return "the loader now lists other images or boxes than when it was written"
        if self.manifest["torchvision"] != torchvision.__version__:
            return (
                f"it was written with torchvision {self.manifest['torchvision']}, this is "
                f"{torchvision.__version__} (whose decoder or resize may give other pixels)"
            )
        return None

    def __getstate__(self) -> dict[str, Any]:
        return self.__dict__ | {"_maps": None}

    def __repr__(self) -> str:
        return f"ImageCache({str(self.path)!r}, items={len(self)}, size={self.size})"


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise CacheError(
            f"{path} not found: not an image cache (`a3m data cache` writes one)"
        ) from None
    except (OSError, ValueError) as err:
        raise CacheError(
            f"{path}: not a readable JSON manifest ({err}); delete {path.parent} and write the "
            "cache again with `a3m data cache`"
        ) from err
    expected = {"format": FORMAT, "version": VERSION}
    for key, value in expected.items():
        if not isinstance(manifest, dict) or manifest.get(key) != value:
            found = manifest.get(key) if isinstance(manifest, dict) else manifest
            raise CacheError(f"{path}: expected {key} {value!r}, found {found!r}")
    return manifest


def _map_shard(file: Path, shape: tuple[int, ...], folder: Path) -> np.ndarray:
    try:
        array = np.load(file, mmap_mode="r")
    except FileNotFoundError:
        raise CacheError(f"{file}: shard of image cache {folder} is missing") from None
    except (OSError, ValueError) as err:
        raise CacheError(
            f"{file}: cannot map this shard of image cache {folder} (truncated or corrupt: "
            f"{err}); delete the folder and write it again with `a3m data cache`"
        ) from err
    if array.dtype != np.uint8 or array.shape != shape:
        raise CacheError(
            f"{file}: expected uint8 {shape}, found {array.dtype} {array.shape} "
            "(truncated or corrupt); delete the folder and write it again"
        )
    return array


@dataclass(frozen=True)
class CacheLookup:
    """What :func:`find_cache` found: the cache to read (None: decode the images) and the one
    line to show the user about it (None: nothing to say)."""

    cache: ImageCache | None
    message: str | None


def find_cache(
    dataset: ImageDataset,
    input_size: tuple[int, int] | None = None,
    where: str = "auto",
    *,
    scale: float = RESIZE_SCALE,
) -> CacheLookup:
    """The cache of ``dataset`` at the resize size of ``input_size``, if one describes it.

    Args:
        dataset: the split, as loaded for the run.
        input_size: the run's network input (default: the dataset's).
        where: ``RunConfig.image_cache``: ``"auto"`` (:func:`default_cache_dir`; quiet when it
            holds no cache of the split), ``"off"``, or a folder of caches.
        scale: the transform's resize ratio.

    Returns:
        the cache and a message when one of the split's caches exists: the one used, or why
        it is not (made from other data: another fingerprint; :meth:`ImageCache.stale_reason`).

    Raises:
        CacheError: the cache of the data is corrupt (names the file).
    """
    if where == "off":
        return CacheLookup(None, None)
    folder = default_cache_dir(None if where == "auto" else where)
    size = resize_size(dataset.info.name, input_size, scale=scale)
    what = f"{dataset.info.name}/{dataset.split} at {size[0]}x{size[1]}"
    pattern = f"{_prefix(dataset, size)}-*/{MANIFEST}"
    candidates = sorted((folder / dataset.info.name).glob(pattern))
    if not candidates:  # without fingerprinting the data: the usual case costs a glob
        quiet = where == "auto"
        return CacheLookup(None, None if quiet else f"image cache: none of {what} in {folder}")
    fingerprint = dataset_fingerprint(dataset.root)
    path = cache_folder(folder, dataset, size, fingerprint)
    rewrite = (
        f"decoding the images; rewrite it with `a3m data cache --dataset {dataset.info.name} "
        f"--root {dataset.root} --split {dataset.split}` and the run's --input-size"
    )
    if not (path / MANIFEST).is_file():
        other = candidates[-1].parent
        made_from = other.name.rsplit("-", 1)[-1]
        return CacheLookup(
            None,
            f"image cache: not using {other}: it was made from other data (dataset fingerprint "
            f"{made_from}, this copy's is {fingerprint}); {rewrite}",
        )
    cache = ImageCache(path)
    why = cache.stale_reason(dataset)
    if why is not None:
        return CacheLookup(None, f"image cache: not using {path}: {why}; {rewrite}")
    return CacheLookup(
        cache, f"image cache: reading {what} from {path} ({len(cache)} images, uint8)"
    )
