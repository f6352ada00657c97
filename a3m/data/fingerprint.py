"""A short fingerprint of a dataset copy, logged with every run so results name their data."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

# Annotation files are hashed by content; images (many, large) by path and size only.
_CONTENT_SUFFIXES = {".txt", ".mat", ".csv", ".json"}
_MAX_CONTENT_BYTES = 64 * 1024 * 1024


def dataset_fingerprint(root: str | Path) -> str:
    """SHA-256 (first 16 hex digits) of a dataset folder: every file's relative path and size,
    plus the content of its annotation files (.txt, .mat, .csv, .json up to 64 MiB).

    Two copies with the same files and labels get the same fingerprint wherever they live.
    A file ``root`` is a manifest dataset's card (or manifest): its fingerprint covers the
    card, the manifest and the images they list
    (:func:`a3m.data.manifest.dataset.manifest_fingerprint`), not the folder around them.
    """
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"dataset folder {root} does not exist")
    if root.is_file():
        from a3m.data.manifest.dataset import manifest_fingerprint  # on use: it reads pandas

        return manifest_fingerprint(root)
    digest = hashlib.sha256()
    entries = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in filenames:
            path = Path(dirpath) / name
            entries.append((path.relative_to(root).as_posix(), path))
    for rel, path in sorted(entries):
        size = path.stat().st_size
        digest.update(f"{rel}\0{size}\n".encode())
        if path.suffix.lower() in _CONTENT_SUFFIXES and size <= _MAX_CONTENT_BYTES:
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
