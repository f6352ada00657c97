"""The loader of a manifest dataset and its fingerprint.

:class:`ManifestDataset` is the :class:`~a3m.data._io.ImageDataset` of one split of a manifest
(the registry's loader for every ``manifest:PATH`` name), with the label spaces of the built-in
datasets of its task:

- classification: one label space for every split, the card's ``classes`` in order, else the
  training split's labels sorted;
- retrieval: labels 0-based within each split (the evaluated classes are new ones), the
  training split's count as ``num_classes``;
- re-id: as Market-1501: labels 0-based within each split, and every item's ``pid`` (the
  identity's number among all the manifest's identities, from 1) and ``camid`` (its camera's
  number among all the manifest's cameras, from 1) for the protocol.

A manifest that :func:`~a3m.data.manifest.index.index_problems` finds problems in does not
load: :class:`~a3m.data.base.DatasetFormatError` with the first problem and how many more, so
a study's preflight (which loads every split) stops before anything is launched.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from a3m.data._io import ImageDataset, check_split
from a3m.data.base import DatasetFormatError, DatasetInfo
from a3m.data.manifest.card import PREFIX, read_card
from a3m.data.manifest.index import Index, load_index, read_manifest


def _label_space(index: Index, split: str) -> list[str]:
    """The labels of ``split``'s label space, in id order."""
    card, labels = index.card, index.frame["label"].to_numpy(dtype=object)
    if card.task == "classification":
        if card.classes is not None:
            return list(card.classes)
        return sorted(set(labels[index.split == "train"]))
    return sorted(set(labels[index.split == split]))


def _numbering(values: np.ndarray) -> dict[str, int]:
    """Distinct values -> 1..n in sorted order (pids and camera ids: the protocol compares
    them for equality only)."""
    return {v: i for i, v in enumerate(sorted(set(values)), start=1)}


def loaded_index(root: str | Path) -> Index:
    """:func:`~a3m.data.manifest.index.load_index`, raising when it found problems.

    Raises:
        DatasetFormatError: the first problem, how many more, and the command that lists them.
    """
    index = load_index(root)
    if index.problems:
        more = len(index.problems) - 1
        also = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        raise DatasetFormatError(
            f"{index.card.path}: {index.problems[0]}{also}; `a3m data check --dataset "
            f"{PREFIX}{index.card.path}` lists every problem"
        )
    return index


class ManifestDataset(ImageDataset):
    """One split of a manifest dataset (docs/your_data.md).

    Args:
        root: the dataset card, its manifest or their folder
            (:func:`a3m.data.manifest.card.resolve_card`).
        split: a split of the card's task: ``train`` and ``test``, or ``train``, ``query`` and
            ``gallery`` for re-id.
        transform: applied to each RGB image; ``None`` gives a float tensor in [0, 1].

    Extra attributes: ``card`` (the :class:`~a3m.data.manifest.card.Card`), ``rows`` (each
    item's row in the manifest, 0-based) and, for re-id, ``pids`` and ``camids``.
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        transform: Callable[[Image.Image], Any] | None = None,
    ) -> None:
        card = read_card(root)
        check_split(f"{PREFIX}{card.path}", split, tuple(s for s, _ in card.splits))
        index = loaded_index(card.path)
        rows = np.flatnonzero(index.split == split)
        frame = index.frame
        labels = frame["label"].to_numpy(dtype=object)
        classes = _label_space(index, split)
        label_of = {c: i for i, c in enumerate(classes)}
        info = DatasetInfo(
            name=card.dataset_name,
            task=card.task,
            num_classes=len(_label_space(index, "train")),
            attribute_names=card.attribute_names,
            attribute_classes=tuple(len(values) for _, values in card.attributes),
            input_size=card.input_size,
        )
        extra = None
        if card.task == "reid":
            pid_of, cam_of = _numbering(labels), _numbering(frame["camera"].to_numpy(dtype=object))
            extra = {
                "pid": np.array([pid_of[labels[r]] for r in rows]),
                "camid": np.array([cam_of[frame["camera"].iat[r]] for r in rows]),
            }
        base = card.manifest.parent
        super().__init__(
            info=info,
            split=split,
            root=base,
            samples=[base / frame["path"].iat[r] for r in rows],
            labels=np.array([label_of[labels[r]] for r in rows], dtype=np.int64),
            classes=classes,
            attributes=index.attributes[rows],
            transform=transform,
            extra=extra,
            source_file=card.manifest,
        )
        self.card = card
        self.rows = rows
        if extra is not None:
            self.pids, self.camids = self.extra["pid"], self.extra["camid"]


def manifest_fingerprint(root: str | Path) -> str:
    """SHA-256 (first 16 hex digits) of a manifest dataset: its card's and its manifest's
    content, and each listed image's path and size (as a folder's fingerprint hashes its
    images: :func:`a3m.data.fingerprint.dataset_fingerprint`). The same card, table and files
    give the same fingerprint wherever they live."""
    card = read_card(root)
    digest = hashlib.sha256()
    for path in (card.path, card.manifest):
        digest.update(f"{path.name}\0".encode() + path.read_bytes())
    base = card.manifest.parent
    paths = sorted(set(read_manifest(card).get("path", [])))
    for rel in paths:
        try:
            size = os.stat(base / rel).st_size
        except OSError:
            size = -1  # a missing image changes the fingerprint too
        digest.update(f"{rel}\0{size}\n".encode())
    return digest.hexdigest()[:16]
