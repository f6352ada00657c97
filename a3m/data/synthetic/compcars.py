"""Synthetic CompCars (classification subset) in the public on-disk format.

Writes ``<out>/data/`` with:

- ``image/<make_id>/<model_id>/<year>/<14 hex>.jpg`` (landscape, height ``image_size``, 4:3);
- ``label/<make_id>/<model_id>/<year>/<14 hex>.txt``: viewpoint (3 side, 4 front-side,
  5 rear-side), box count (1), ``x1 y1 x2 y2`` (1-based, inclusive, the drawn car's box);
- ``train_test_split/classification/{train,test}.txt``: paths relative to ``image/``
  (``78/1/2014/3ac218c0c6c378.jpg``), about half of each model's images in each; by default
  ``missing_files=2`` listed entries have no image and no label on disk, as some entries of the
  real release (loaders must skip them);
- ``misc/attributes.txt``: header ``model_id maximum_speed displacement door_number
  seat_number type`` then one line per model (0 = unknown, for about 10 % of speeds and
  displacements and a few doors, seats and types);
- ``misc/make_model_name.mat`` (``make_names`` 163x1, ``model_names`` 2004x1 cells) and
  ``misc/car_type.mat`` (``types`` 1x12 cell), as in the release.

The class is the model id. A model's appearance is a function of its attributes (see
:func:`a3m.data.synthetic.car.paint_car`: silhouette = type, door seams = doors, side
windows = seats, spoiler = speed, exhausts and wheel size = displacement) plus model details
(headlight, grille, side stripe, height); the viewpoint changes per image, and the paint
colour too, among the model's ``PAINTS_PER_MODEL`` colours (a model is sold in a few colours).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from a3m.data.synthetic._common import (
    check_int,
    fresh_dir,
    make_rng,
    save_jpeg,
    savemat,
    write_lines,
)
from a3m.data.synthetic.car import CAR_TYPES, CarSpec, paint_car
from a3m.data.synthetic.render import COLOURS, finish, render_object

_CODE = 3
NUM_MAKES, NUM_MODEL_IDS = 163, 2004
CAR_PAINTS: tuple[str, ...] = (
    "white",
    "black",
    "silver",
    "grey",
    "red",
    "blue",
    "navy",
    "green",
    "yellow",
    "orange",
    "brown",
    "beige",
)
# type name -> (door choices, seat choices, speed range km/h, displacement range L)
_TYPE_PRIORS: dict[
    str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, int], tuple[float, float]]
] = {
    "MPV": ((5,), (7, 5), (160, 200), (1.5, 3.0)),
    "SUV": ((5, 3), (5, 7), (170, 230), (2.0, 4.5)),
    "sedan": ((4, 2), (5, 4), (180, 250), (1.4, 3.5)),
    "hatchback": ((5, 3), (5, 4), (170, 220), (1.0, 2.0)),
    "minibus": ((4, 5), (9, 7), (130, 165), (2.0, 3.0)),
    "fastback": ((4, 2), (4, 5), (200, 260), (1.8, 3.5)),
    "estate": ((5,), (5,), (180, 240), (1.6, 3.0)),
    "pickup": ((4, 2), (5, 2), (150, 190), (2.4, 5.0)),
    "hardtop convertible": ((2,), (4, 2), (210, 270), (1.8, 4.0)),
    "sports": ((2,), (2, 4), (240, 320), (3.0, 6.0)),
    "crossover": ((5, 3), (5,), (170, 210), (1.4, 2.5)),
    "convertible": ((2,), (2, 4), (200, 260), (1.6, 4.0)),
}
PAINTS_PER_MODEL = 3
ATTRIBUTES_HEADER = "model_id maximum_speed displacement door_number seat_number type"
_DEFAULT_MODELS, _DEFAULT_PER_MODEL, _DEFAULT_SIZE = 20, 30, 96


@dataclass(frozen=True)
class CarModel:
    """A synthetic car model: its true attributes, what the release reports, and its looks.

    Attributes:
        spec: appearance (the paint colour is replaced per image).
        paints: the colours (:data:`CAR_PAINTS` names) the model comes in.
        type_id: 1-12 (:data:`CAR_TYPES` order).
        reported: ``(maximum_speed, displacement, door_number, seat_number, type)`` as written
            to ``attributes.txt``, with 0 for unknown.
    """

    spec: CarSpec
    type_id: int
    reported: tuple[int, float, int, int, int]
    paints: tuple[str, ...] = ("silver",)


def sample_car_models(rng: np.random.Generator, count: int, unknown: float = 0.1) -> list[CarModel]:
    """``count`` distinct car models (distinct attributes and details).

    Args:
        rng: generator to draw from.
        count: number of models.
        unknown: probability that speed / displacement are reported as unknown (0); doors,
            seats and type are unknown with a quarter of it.
    """
    models: list[CarModel] = []
    seen: set[tuple] = set()
    while len(models) < count:
        type_id = int(rng.integers(1, len(CAR_TYPES) + 1))
        name = CAR_TYPES[type_id - 1]
        doors, seats, speeds, disp = _TYPE_PRIORS[name]
        spec = CarSpec(
            type=name,
            doors=int(rng.choice(doors)),
            seats=int(rng.choice(seats)),
            speed=float(round(rng.uniform(*speeds) / 5) * 5),
            displacement=float(round(rng.uniform(*disp), 1)),
            headlight=int(rng.integers(3)),
            grille=int(rng.integers(1, 5)),
            stripe=bool(rng.random() < 0.3),
            height=float(round(rng.uniform(0.92, 1.08), 2)),
        )
        key = (
            spec.type,
            spec.doors,
            spec.seats,
            spec.speed >= 200,
            spec.speed >= 240,
            spec.displacement >= 2.5,
            round(spec.displacement),
            spec.headlight,
            spec.grille,
            spec.stripe,
        )
        if key in seen and len(seen) < 20000:  # visually distinct models (give up if exhausted)
            continue
        seen.add(key)
        u = rng.random(5)
        reported = (
            0 if u[0] < unknown else int(spec.speed),
            0.0 if u[1] < unknown else spec.displacement,
            0 if u[2] < unknown / 4 else spec.doors,
            0 if u[3] < unknown / 4 else spec.seats,
            0 if u[4] < unknown / 4 else type_id,
        )
        picks = rng.choice(len(CAR_PAINTS), size=PAINTS_PER_MODEL, replace=False)
        paints = tuple(CAR_PAINTS[int(i)] for i in picks)
        models.append(CarModel(spec=spec, type_id=type_id, reported=reported, paints=paints))
    return models


def render_car(
    model: CarModel, rng: np.random.Generator, height: int, width: int
) -> tuple[Image.Image, tuple[int, int, int, int], int]:
    """One photo of ``model``: random paint and viewpoint. Returns (image, box, viewpoint)."""
    paint = COLOURS[model.paints[int(rng.integers(len(model.paints)))]]
    spec = CarSpec(**{**model.spec.__dict__, "colour": paint})
    viewpoint = int(rng.choice([3, 4, 5], p=[0.6, 0.2, 0.2]))
    flip = None if viewpoint == 3 else viewpoint == 5
    squash = 1.0 if viewpoint == 3 else float(rng.uniform(0.75, 0.9))
    r = render_object(
        paint_car,
        spec,
        height=height,
        width=width,
        rng=rng,
        aspect=2.0,
        fill=(0.8, 1.0),
        rotate=4.0,
        flip=flip,
        squash=squash,
    )
    return finish(r.image, rng), r.box, viewpoint


def write_compcars(
    out: str | Path,
    *,
    seed: int = 0,
    num_classes: int = _DEFAULT_MODELS,
    images_per_class: int = _DEFAULT_PER_MODEL,
    image_size: int = _DEFAULT_SIZE,
    missing_files: int = 2,
    unknown: float = 0.1,
) -> Path:
    """Write a synthetic CompCars classification copy.

    Args:
        out: folder to write into; ``data/`` is created inside it.
        seed: random seed (same seed -> identical files).
        num_classes: car models (the classes), at most 431 as in the real subset.
        images_per_class: images per model, split about 50/50 into train and test.
        image_size: image height in pixels; the width is 4/3 of it.
        missing_files: split entries whose image and label are not written.
        unknown: probability that a model's speed / displacement is reported as 0 (unknown).

    Returns:
        ``out``, the folder that contains ``data/``.
    """
    check_int("num_classes", num_classes, 1, 431)
    check_int("images_per_class", images_per_class, 1)
    check_int("image_size", image_size, 32)
    check_int("missing_files", missing_files, 0, num_classes * images_per_class - 1)
    out = Path(out)
    data = fresh_dir(out / "data")
    height, width = image_size, round(image_size * 4 / 3)
    rng = make_rng(seed, _CODE, 0)
    models = sample_car_models(rng, num_classes, unknown)
    n_makes = max(1, math.ceil(num_classes / 3))
    make_ids = rng.choice(np.arange(1, NUM_MAKES + 1), size=n_makes, replace=False)
    model_ids = np.sort(
        rng.choice(np.arange(1, NUM_MODEL_IDS + 1), size=num_classes, replace=False)
    )
    model_make = make_ids[rng.integers(0, n_makes, size=num_classes)]

    entries: list[tuple[str, bool, int]] = []  # (path under image/ sans .jpg, is_train, model)
    names: set[str] = set()
    for m, (model_id, make_id) in enumerate(
        zip(model_ids.tolist(), model_make.tolist(), strict=True)
    ):
        mrng = make_rng(seed, _CODE, 1, m)
        years = np.sort(
            mrng.choice(np.arange(2005, 2016), size=int(mrng.integers(1, 4)), replace=False)
        )
        is_train = mrng.permutation(images_per_class) < (images_per_class + 1) // 2
        for j in range(images_per_class):
            name = mrng.bytes(7).hex()
            while name in names:
                name = mrng.bytes(7).hex()
            names.add(name)
            year = int(years[int(mrng.integers(len(years)))])
            entries.append((f"{make_id}/{model_id}/{year}/{name}", bool(is_train[j]), m))
    missing = set(
        make_rng(seed, _CODE, 2).choice(len(entries), size=missing_files, replace=False).tolist()
    )

    for i, (rel, _, m) in enumerate(entries):
        if i in missing:
            continue
        img_rng = make_rng(seed, _CODE, 3, i)
        image, (x, y, w, h), viewpoint = render_car(models[m], img_rng, height, width)
        save_jpeg(image, data / "image" / f"{rel}.jpg")
        write_lines(
            data / "label" / f"{rel}.txt", [str(viewpoint), "1", f"{x + 1} {y + 1} {x + w} {y + h}"]
        )

    split_dir = data / "train_test_split" / "classification"
    write_lines(split_dir / "train.txt", (f"{rel}.jpg" for rel, tr, _ in entries if tr))
    write_lines(split_dir / "test.txt", (f"{rel}.jpg" for rel, tr, _ in entries if not tr))

    lines = [ATTRIBUTES_HEADER]
    for model_id, model in zip(model_ids.tolist(), models, strict=True):
        speed, disp, doors, seats, type_id = model.reported
        lines.append(f"{model_id} {speed} {disp:.1f} {doors} {seats} {type_id}")
    write_lines(data / "misc" / "attributes.txt", lines)

    make_names = np.empty((NUM_MAKES, 1), dtype=object)
    make_names[:, 0] = [f"Make{i}" for i in range(1, NUM_MAKES + 1)]
    model_names = np.empty((NUM_MODEL_IDS, 1), dtype=object)
    model_names[:, 0] = [f"Model {i}" for i in range(1, NUM_MODEL_IDS + 1)]
    for model_id, model in zip(model_ids.tolist(), models, strict=True):
        model_names[model_id - 1, 0] = f"Model {model_id} {model.spec.type}"
    savemat(
        data / "misc" / "make_model_name.mat",
        {"make_names": make_names, "model_names": model_names},
    )
    types = np.empty((1, len(CAR_TYPES)), dtype=object)
    types[0, :] = list(CAR_TYPES)
    savemat(data / "misc" / "car_type.mat", {"types": types})
    return out
