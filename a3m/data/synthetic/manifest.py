"""A synthetic dataset in the manifest format (:mod:`a3m.data.manifest`): birds whose
attributes decide their class.

The birds are the synthetic CUB's (:func:`~a3m.data.synthetic.bird.paint_bird` through
:func:`~a3m.data.synthetic.render.render_object`, the same cluttered backgrounds and jitter),
but every bird shares one base appearance and a class is nothing but a combination of values
of :data:`SIGNAL_ATTRIBUTES`, each drawn as a part (wing colour, crown colour, bill shape, tail
shape): the attributes decide the class, which is the premise of A3M (paper Sec. 1), and only
parts tell the classes apart, which makes it a fine-grained task. The attribute columns are
the true values (``label_noise`` corrupts a share of them).

Writes ``images/<class>/<n>.jpg``, ``manifest.csv`` and ``card.json`` into ``out``:

- classification: each class's images split about half and half between ``train`` and
  ``test``;
- retrieval: the first half of the classes ``train``, the rest ``test`` (no attribute columns:
  the retrieval protocol has none);
- reid: each class is an identity seen by cameras 1-3; the first half of the identities
  ``train``, the rest evaluated: one ``query`` image from camera 1, the others in the
  ``gallery`` from cameras 2 and 3.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd

from a3m.data.manifest.card import CARD_NAME, MANIFEST_NAMES, card_json
from a3m.data.manifest.index import ATTR_PREFIX
from a3m.data.synthetic._common import check_int, fresh_dir, make_rng, save_jpeg
from a3m.data.synthetic.bird import bird_scale, paint_bird
from a3m.data.synthetic.cub import CUB_COLOURS, CUB_GROUPS
from a3m.data.synthetic.render import finish, render_object

_CODE = 7  # dataset key in the random streams

SIGNAL_ATTRIBUTES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("wing_color", "has_wing_color", ("green", "purple", "orange")),
    ("crown_color", "has_crown_color", ("red", "blue", "yellow")),
    ("bill_shape", "has_bill_shape", ("cone", "hooked", "needle")),
    ("tail_shape", "has_tail_shape", ("forked_tail", "rounded_tail")),
)
"""(manifest attribute, the CUB group drawing it, its values): 54 combinations at most, one
large part (the wing) and three small ones."""
TASKS = ("classification", "retrieval", "reid")
MAX_CLASSES = int(np.prod([len(values) for _, _, values in SIGNAL_ATTRIBUTES]))


def _base_spec(seed: int) -> dict[str, str]:
    """The appearance every bird shares: a random CUB spec whose colours avoid the signal's
    colours, so that a crown or a wing always stands out from the parts around it."""
    rng = make_rng(seed, _CODE, 0)
    signal = {
        v for _, group, values in SIGNAL_ATTRIBUTES if group.endswith("_color") for v in values
    }
    spec = {}
    for group, values in CUB_GROUPS:
        pool = [v for v in values if v not in signal] if values == CUB_COLOURS else list(values)
        spec[group] = pool[int(rng.integers(len(pool)))]
    return spec | {"has_size": "medium_(9_-_16_in)"}


def class_values(
    seed: int, num_classes: int, task: str = "classification"
) -> list[tuple[str, ...]]:
    """Each class's attribute values (one per :data:`SIGNAL_ATTRIBUTES`), distinct, drawn so
    that every attribute takes at least two values among the training classes (all of them
    for classification; the first half, which trains, for re-id)."""
    combos = list(itertools.product(*(values for _, _, values in SIGNAL_ATTRIBUTES)))
    rng = make_rng(seed, _CODE, 1)
    trained = num_classes if task == "classification" else (num_classes + 1) // 2
    while True:
        chosen = [combos[int(i)] for i in rng.permutation(len(combos))[:num_classes]]
        if all(len({c[k] for c in chosen[:trained]}) > 1 for k in range(len(combos[0]))):
            return chosen


def _splits(task: str, c: int, num_classes: int, n: int, seed: int) -> list[tuple[str, str]]:
    """(split, camera) of each of class ``c``'s ``n`` images."""
    first_half = c < (num_classes + 1) // 2
    if task == "retrieval":
        return [("train" if first_half else "test", "")] * n
    if task == "reid":
        if first_half:
            return [("train", str(1 + j % 3)) for j in range(n)]
        return [("query", "1")] + [("gallery", str(2 + j % 2)) for j in range(n - 1)]
    order = make_rng(seed, _CODE, 2, c).permutation(n)
    return [("train" if order[j] < (n + 1) // 2 else "test", "") for j in range(n)]


def _noisy(values: tuple[str, ...], rng: np.random.Generator, p: float) -> list[str]:
    """The true values, each replaced by another of its attribute's with probability ``p``."""
    out = list(values)
    for k, (_, _, choices) in enumerate(SIGNAL_ATTRIBUTES):
        if p and rng.random() < p:
            out[k] = str(rng.choice([v for v in choices if v != values[k]]))
    return out


def write_manifest_synthetic(
    out: str | Path,
    *,
    seed: int = 0,
    num_classes: int = 12,
    images_per_class: int = 30,
    image_size: int = 64,
    task: str = "classification",
    label_noise: float = 0.0,
) -> Path:
    """Write the synthetic birds in the manifest format.

    Args:
        out: folder to write into (created); its ``images/``, manifest and card are replaced.
        seed: random seed (same seed, same files).
        num_classes: classes (identities for reid), 2-36 (the attribute combinations); at
            least 4 for retrieval and reid, whose evaluated classes are not trained on.
        images_per_class: images per class, >= 2 (>= 4 for retrieval and reid, so that every
            evaluated class has two).
        image_size: square image side in pixels (>= 16); the card's input size.
        task: ``classification``, ``retrieval`` or ``reid``.
        label_noise: share of attribute cells given another value of their attribute.

    Returns:
        ``out``, the folder holding ``card.json``: ``--dataset manifest:<out>``.
    """
    check_int("num_classes", num_classes, 2 if task == "classification" else 4, MAX_CLASSES)
    check_int("images_per_class", images_per_class, 2 if task == "classification" else 4)
    check_int("image_size", image_size, 16)
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    out = Path(out)
    fresh_dir(out / "images")  # no image of an earlier, larger copy stays
    base = _base_spec(seed)
    names = [f"{ATTR_PREFIX}{a}" for a, _, _ in SIGNAL_ATTRIBUTES]
    rows = []
    for c, values in enumerate(class_values(seed, num_classes, task)):
        spec = base | {group: v for (_, group, _), v in zip(SIGNAL_ATTRIBUTES, values, strict=True)}
        label = f"species_{c + 1:02d}"
        for j, (split, camera) in enumerate(_splits(task, c, num_classes, images_per_class, seed)):
            rng = make_rng(seed, _CODE, 3, c, j)
            s = bird_scale(spec)
            r = render_object(
                paint_bird,
                spec,
                height=image_size,
                width=image_size,
                rng=rng,
                fill=(0.8 * s, 1.0 * s),
                rotate=10.0,
            )
            rel = f"images/{label}/{j + 1:04d}.jpg"
            save_jpeg(finish(r.image, rng), out / rel)
            row = {"path": rel, "split": split, "label": label, "camera": camera}
            rows.append(row | dict(zip(names, _noisy(values, rng, label_noise), strict=True)))
    _write_files(out, pd.DataFrame(rows), task, image_size)
    return out


def _write_files(out: Path, frame: pd.DataFrame, task: str, image_size: int) -> None:
    """The manifest (without the columns the task has none of) and the card."""
    attributes = {a: list(values) for a, _, values in SIGNAL_ATTRIBUTES}
    if task != "reid":
        frame = frame.drop(columns="camera")
    if task == "retrieval":
        frame = frame.drop(columns=[f"{ATTR_PREFIX}{a}" for a in attributes])
        attributes = {}
    frame.to_csv(out / MANIFEST_NAMES[0], index=False, lineterminator="\n")
    description = (
        "synthetic birds (a3m data synth --format manifest): the class is the "
        "combination of the attribute values"
    )
    text = card_json(
        f"synthetic_birds_{task}",
        task,
        (image_size, image_size),
        attributes,
        description=description,
    )
    (out / CARD_NAME).write_text(text, encoding="utf-8")
