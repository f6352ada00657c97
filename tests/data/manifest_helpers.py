"""Tiny manifest datasets written by hand, for the manifest tests: every image a distinct
solid colour (so no two share content unless a test makes them), a card beside the table."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from PIL import Image

CLASSES = ("finch", "owl", "wren")
"""Three classes, four images each: two train, two test."""


def write_image(path: Path, shade: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (24, 24), (shade % 256, (7 * shade) % 256, (31 * shade) % 256)).save(path)


def classification_rows() -> list[dict[str, str]]:
    """A valid table: 3 classes x (2 train + 2 test), attributes ``size`` and ``color``
    that vary in the training split."""
    rows = []
    for c, label in enumerate(CLASSES):
        for j in range(4):
            rows.append({
                "path": f"images/{label}/{j}.png", "split": "train" if j < 2 else "test",
                "label": label, "attr:size": ("small", "large")[c % 2],
                "attr:color": ("red", "blue", "green")[c],
            })  # fmt: skip
    return rows


CLASSIFICATION_CARD = {
    "name": "tiny",
    "task": "classification",
    "input_size": [24, 24],
    "attributes": {"size": ["small", "large"], "color": ["red", "blue", "green"]},
    "classes": list(CLASSES),
}


def reid_rows() -> list[dict[str, str]]:
    """A valid re-id table: identities p1, p2 train (cameras 1, 2); p3, p4 each one query
    (camera 1) and two gallery images (cameras 2, 3)."""
    rows = []
    for p in ("p1", "p2"):
        rows += [{"path": f"images/{p}/{j}.png", "split": "train", "label": p,
                  "camera": str(1 + j % 2), "attr:bag": ("no", "yes")[int(p[1]) % 2]}
                 for j in range(3)]  # fmt: skip
    for p in ("p3", "p4"):
        rows.append({"path": f"images/{p}/q.png", "split": "query", "label": p, "camera": "1",
                     "attr:bag": "no"})  # fmt: skip
        rows += [{"path": f"images/{p}/{j}.png", "split": "gallery", "label": p,
                  "camera": str(2 + j), "attr:bag": "yes"} for j in range(2)]  # fmt: skip
    return rows


REID_CARD = {"name": "tiny_reid", "task": "reid", "input_size": [32, 16],
             "attributes": {"bag": ["no", "yes"]}}  # fmt: skip


def write_manifest(
    folder: Path, rows: list[dict[str, str]], card: dict, images: bool = True
) -> Path:
    """Write ``manifest.csv``, ``card.json`` and (``images``) one distinct image per row
    into ``folder``; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(folder / "manifest.csv", index=False)
    (folder / "card.json").write_text(json.dumps(card))
    if images:
        for shade, row in enumerate(rows, start=1):
            write_image(folder / row["path"], shade * 10)
    return folder
