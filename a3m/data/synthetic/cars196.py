"""Synthetic CARS196 (Stanford Cars) in the public on-disk format.

Writes ``<out>/car_ims/000001.jpg ...`` and ``<out>/cars_annos.mat`` with

- ``annotations``: a 1xN struct array with ``relative_im_path`` (``car_ims/000001.jpg``),
  ``bbox_x1``, ``bbox_y1``, ``bbox_x2``, ``bbox_y2`` (1-based, inclusive, the drawn car's box),
  ``class`` (1-based) and ``test`` (0/1, the classification split, about half of each class);
- ``class_names``: a 1xC cell of ``"<Make> <Model> <Type> <Year>"`` strings,

so ``scipy.io.loadmat`` reads it like the real file. Images are numbered class by class. For
retrieval (docs/reproduction.md, "Dataset formats") the first half of the classes trains and the
second half tests, so ``num_classes`` must be even. Cars are drawn by the same painter and model
sampler as :mod:`a3m.data.synthetic.compcars` (CARS196 has no attribute labels, but a car's type,
doors, windows, spoiler and wheels still tell models apart).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from a3m.data.synthetic._common import check_int, fresh_dir, make_rng, save_jpeg, savemat
from a3m.data.synthetic.compcars import render_car, sample_car_models

_CODE = 4
_MAKES = (
    "Acme Borealis Corvane Dunmore Elkhart Falcora Galvani Hesper Ionic Juno Kestrel Lumen "
    "Marlow Norvik Orion Pelham Quasar Rovena Solent Tamsin"
).split()
_TYPE_WORDS = {
    "MPV": "Minivan",
    "SUV": "SUV",
    "sedan": "Sedan",
    "hatchback": "Hatchback",
    "minibus": "Van",
    "fastback": "Coupe",
    "estate": "Wagon",
    "pickup": "Crew Cab",
    "hardtop convertible": "Convertible",
    "sports": "Coupe",
    "crossover": "Crossover",
    "convertible": "Convertible",
}
_DEFAULT_CLASSES, _DEFAULT_PER_CLASS, _DEFAULT_SIZE = 20, 30, 64


def write_cars196(
    out: str | Path,
    *,
    seed: int = 0,
    num_classes: int = _DEFAULT_CLASSES,
    images_per_class: int = _DEFAULT_PER_CLASS,
    image_size: int = _DEFAULT_SIZE,
) -> Path:
    """Write a synthetic CARS196 copy.

    Args:
        out: folder to write into (receives ``cars_annos.mat`` and ``car_ims/``).
        seed: random seed (same seed -> identical files).
        num_classes: classes 1..C, C even (first half = retrieval train classes).
        images_per_class: images per class.
        image_size: image height in pixels; the width is 4/3 of it.

    Returns:
        ``out``, the folder that contains ``cars_annos.mat``.
    """
    check_int("num_classes", num_classes, 2)
    if num_classes % 2:
        raise ValueError(f"num_classes must be even (half train, half test), got {num_classes}")
    check_int("images_per_class", images_per_class, 1)
    check_int("image_size", image_size, 32)
    out = Path(out)
    fresh_dir(out / "car_ims")
    height, width = image_size, round(image_size * 4 / 3)
    rng = make_rng(seed, _CODE, 0)
    models = sample_car_models(rng, num_classes, unknown=0.0)
    class_names = []
    for c, model in enumerate(models):
        make = _MAKES[c % len(_MAKES)]
        year = int(rng.integers(2001, 2013))
        class_names.append(f"{make} M{c + 1:03d} {_TYPE_WORDS[model.spec.type]} {year}")

    fields = ["relative_im_path", "bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "test"]
    annotations = np.empty((1, num_classes * images_per_class), dtype=[(f, object) for f in fields])
    class_dtype = np.uint8 if num_classes < 256 else np.uint16
    index = 0
    for c, model in enumerate(models):
        is_test = make_rng(seed, _CODE, 1, c).permutation(images_per_class) < images_per_class // 2
        for j in range(images_per_class):
            img_rng = make_rng(seed, _CODE, 2, index)
            image, (x, y, w, h), _ = render_car(model, img_rng, height, width)
            rel = f"car_ims/{index + 1:06d}.jpg"
            save_jpeg(image, out / rel)
            annotations[0, index] = (
                rel,
                np.array([[x + 1]], dtype=np.uint16),
                np.array([[y + 1]], dtype=np.uint16),
                np.array([[x + w]], dtype=np.uint16),
                np.array([[y + h]], dtype=np.uint16),
                np.array([[c + 1]], dtype=class_dtype),
                np.array([[int(is_test[j])]], dtype=np.uint8),
            )
            index += 1
    names = np.empty((1, num_classes), dtype=object)
    names[0, :] = class_names
    savemat(out / "cars_annos.mat", {"annotations": annotations, "class_names": names})
    return out
