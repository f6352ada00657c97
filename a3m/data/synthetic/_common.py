"""Helpers shared by the synthetic dataset writers: seeding, file writing, validation."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image

JPEG_QUALITY = 90


def make_rng(seed: int, *keys: int) -> np.random.Generator:
    """An independent generator for ``(seed, *keys)``.

    Every image gets its own stream (keyed by dataset, purpose and index), so an image does not
    change when another one is added or removed, and runs are reproducible per seed.
    """
    return np.random.default_rng([int(seed), *(int(k) for k in keys)])


def save_jpeg(image: Image.Image, path: Path) -> None:
    """Save an RGB image as a baseline JPEG (deterministic for a given Pillow/libjpeg)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="JPEG", quality=JPEG_QUALITY)


def write_lines(path: Path, lines: Iterable[str]) -> None:
    """Write text lines with Unix newlines and a final newline, as the public releases do."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(lines)
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text + "\n" if text else "")


def fresh_dir(path: Path) -> Path:
    """Remove a previous copy at ``path`` and recreate it empty.

    Folder-scanning loaders (Market-1501) would otherwise also see stale images of an earlier,
    larger copy written to the same place.
    """
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def check_int(name: str, value: int, low: int, high: int | None = None) -> int:
    """Validate an integer parameter; raise ValueError naming the allowed range."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        upper = f" and <= {high}" if high is not None else ""
        raise ValueError(f"{name} must be >= {low}{upper}, got {value}")
    return int(value)


def distinct_colour(
    rng: np.random.Generator, names: list[str], avoid: str, table: dict, min_dist: float = 110.0
) -> str:
    """A colour name from ``names`` far (in RGB) from ``avoid``: a visible change, not a shade."""
    ref = np.asarray(table[avoid], dtype=float)
    far = [n for n in names if np.linalg.norm(np.asarray(table[n], dtype=float) - ref) >= min_dist]
    pool = far or [n for n in names if n != avoid]
    return pool[int(rng.integers(len(pool)))]


_MAT_HEADER = b"MATLAB 5.0 MAT-file, Platform: posix, written by a3m.data.synthetic"


def savemat(path: Path, mdict: dict) -> None:
    """``scipy.io.savemat`` (MATLAB 5 format) with a fixed header text.

    scipy writes the creation time into the 116-byte descriptive header, which would make two
    runs with the same seed differ; the header text is free-form, so a fixed one is used.
    """
    import scipy.io  # on use, as the loaders: `import a3m.data` (the registry) stays light

    buf = io.BytesIO()
    scipy.io.savemat(buf, mdict, do_compression=False, oned_as="row")
    data = bytearray(buf.getvalue())
    data[:116] = _MAT_HEADER.ljust(116, b" ")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(data))
