"""Synthetic CUB-200-2011 in the public on-disk format (docs/reproduction.md, "Dataset formats").

Writes ``<out>/CUB_200_2011/`` with ``images/<NNN.Class_name>/<Class_Name>_<NNNN>_<id>.jpg``,
``images.txt``, ``image_class_labels.txt``, ``train_test_split.txt``, ``bounding_boxes.txt``,
``classes.txt``, ``attributes/image_attribute_labels.txt`` (312 lines per image),
``attributes/certainties.txt``, ``attributes/class_attribute_labels_continuous.txt``,
``parts/parts.txt`` and ``parts/part_locs.txt``, and ``attributes.txt`` (the 312 real attribute
names) beside ``CUB_200_2011/`` (as many copies have it) or inside ``attributes/``.

How the signal is built (the paper's premise, Sec. 1 and 4.3):

- every class is a fixed value of each of the 28 attribute groups, and every group is drawn as
  a visible part of the bird (see :func:`a3m.data.synthetic.bird.paint_bird`);
- classes come in "genera" of ``SPECIES_PER_GENUS``: a genus shares a random base, and each
  species changes one or two *small* parts (bill, eye, crown, throat, legs, patterns, tail...),
  so neighbouring classes differ only locally, as in real fine-grained data;
- the annotation is per image and noisy like the real crowd-sourced one: a corrupted group
  (probability ``label_noise``) is either left unmarked or marked with a wrong value at low
  certainty, colour groups sometimes get a second colour, and hidden legs are left unmarked
  with certainty 1 ("not visible").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from a3m.data.synthetic._common import (
    check_int,
    distinct_colour,
    fresh_dir,
    make_rng,
    save_jpeg,
    write_lines,
)
from a3m.data.synthetic.bird import CUB_PART_NAMES, bird_scale, paint_bird
from a3m.data.synthetic.render import COLOURS, finish, render_object

_CODE = 1  # dataset key in the random streams

CUB_COLOURS: tuple[str, ...] = (
    "blue",
    "brown",
    "iridescent",
    "purple",
    "rufous",
    "grey",
    "yellow",
    "olive",
    "green",
    "pink",
    "orange",
    "black",
    "white",
    "red",
    "buff",
)
_EYE = tuple(c for c in CUB_COLOURS if c != "iridescent")
_PATTERNS = ("solid", "spotted", "striped", "multi-colored")

CUB_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "has_bill_shape",
        (
            "curved_(up_or_down)",
            "dagger",
            "hooked",
            "needle",
            "hooked_seabird",
            "spatulate",
            "all-purpose",
            "cone",
            "specialized",
        ),
    ),
    ("has_wing_color", CUB_COLOURS),
    ("has_upperparts_color", CUB_COLOURS),
    ("has_underparts_color", CUB_COLOURS),
    ("has_breast_pattern", _PATTERNS),
    ("has_back_color", CUB_COLOURS),
    (
        "has_tail_shape",
        (
            "forked_tail",
            "rounded_tail",
            "notched_tail",
            "fan-shaped_tail",
            "pointed_tail",
            "squared_tail",
        ),
    ),
    ("has_upper_tail_color", CUB_COLOURS),
    (
        "has_head_pattern",
        (
            "spotted",
            "malar",
            "crested",
            "masked",
            "unique_pattern",
            "eyebrow",
            "eyering",
            "plain",
            "eyeline",
            "striped",
            "capped",
        ),
    ),
    ("has_breast_color", CUB_COLOURS),
    ("has_throat_color", CUB_COLOURS),
    ("has_eye_color", _EYE),
    ("has_bill_length", ("about_the_same_as_head", "longer_than_head", "shorter_than_head")),
    ("has_forehead_color", CUB_COLOURS),
    ("has_under_tail_color", CUB_COLOURS),
    ("has_nape_color", CUB_COLOURS),
    ("has_belly_color", CUB_COLOURS),
    (
        "has_wing_shape",
        ("rounded-wings", "pointed-wings", "broad-wings", "tapered-wings", "long-wings"),
    ),
    (
        "has_size",
        (
            "large_(16_-_32_in)",
            "small_(5_-_9_in)",
            "very_large_(32_-_72_in)",
            "medium_(9_-_16_in)",
            "very_small_(3_-_5_in)",
        ),
    ),
    (
        "has_shape",
        (
            "upright-perching_water-like",
            "chicken-like-marsh",
            "long-legged-like",
            "duck-like",
            "owl-like",
            "gull-like",
            "hummingbird-like",
            "pigeon-like",
            "tree-clinging-like",
            "hawk-like",
            "sandpiper-like",
            "upland-ground-like",
            "swallow-like",
            "perching-like",
        ),
    ),
    ("has_back_pattern", _PATTERNS),
    ("has_tail_pattern", _PATTERNS),
    ("has_belly_pattern", _PATTERNS),
    ("has_primary_color", CUB_COLOURS),
    ("has_leg_color", CUB_COLOURS),
    ("has_bill_color", CUB_COLOURS),
    ("has_crown_color", CUB_COLOURS),
    ("has_wing_pattern", _PATTERNS),
)
"""The 28 CUB attribute groups with their values, in ``attributes.txt`` order (ids 1-312)."""

ATTRIBUTE_NAMES: tuple[str, ...] = tuple(f"{g}::{v}" for g, values in CUB_GROUPS for v in values)
"""The 312 CUB attribute names, index ``i`` = attribute id ``i + 1``."""

GROUP_SIZES: tuple[int, ...] = tuple(len(values) for _, values in CUB_GROUPS)

SPECIES_PER_GENUS = 4
"""Classes per genus; consecutive classes within a genus differ in one or two small parts."""

SMALL_PART_GROUPS: tuple[str, ...] = (
    "has_bill_shape",
    "has_bill_color",
    "has_bill_length",
    "has_eye_color",
    "has_crown_color",
    "has_forehead_color",
    "has_throat_color",
    "has_nape_color",
    "has_head_pattern",
    "has_leg_color",
    "has_wing_pattern",
    "has_tail_shape",
    "has_breast_pattern",
    "has_upper_tail_color",
)
"""Groups a species may change relative to its genus (the fine-grained, local cues)."""

_GENERA = (
    "Albatross Auklet Blackbird Bunting Catbird Cormorant Cowbird Crow Cuckoo Finch Flycatcher "
    "Frigatebird Fulmar Grebe Grosbeak Gull Hummingbird Jaeger Jay Junco Kingbird Kingfisher "
    "Kittiwake Meadowlark Merganser Mockingbird Nighthawk Nuthatch Oriole Ovenbird Pelican Pipit "
    "Puffin Raven Shrike Sparrow Swallow Tanager Tern Thrasher Towhee Vireo Warbler Waterthrush "
    "Waxwing Woodpecker Wren Goldfinch Redstart Starling"
).split()
_CERTAINTIES = ("not visible", "guessing", "probably", "definitely")
_DEFAULT_CLASSES, _DEFAULT_PER_CLASS, _DEFAULT_SIZE = 20, 30, 64


def class_specs(seed: int, num_classes: int) -> tuple[list[dict[str, str]], list[str]]:
    """The attribute values and names of the synthetic classes.

    Args:
        seed: dataset seed.
        num_classes: number of classes (1-200).

    Returns:
        ``(specs, names)``: per class a dict group -> value name over all 28 groups, and the
        class directory names (``001.Red_crown_Finch`` style).
    """
    rng = make_rng(seed, _CODE, 0)
    groups = dict(CUB_GROUPS)
    specs: list[dict[str, str]] = []
    names: list[str] = []
    seen: set[tuple[str, ...]] = set()
    genus: dict[str, str] = {}
    genus_name = ""
    while len(specs) < num_classes:
        if len(specs) % SPECIES_PER_GENUS == 0:
            genus = {g: values[int(rng.integers(len(values)))] for g, values in CUB_GROUPS}
            genus_name = _GENERA[(len(specs) // SPECIES_PER_GENUS) % len(_GENERA)]
        spec = dict(genus)
        changed = rng.choice(len(SMALL_PART_GROUPS), size=int(rng.integers(1, 3)), replace=False)
        for gi in changed:
            g = SMALL_PART_GROUPS[int(gi)]
            values = list(groups[g])
            if g.endswith("_color"):
                spec[g] = distinct_colour(rng, values, spec[g], COLOURS)
            else:
                spec[g] = rng.choice([v for v in values if v != spec[g]]).item()
        key = tuple(spec[g] for g, _ in CUB_GROUPS)
        if key in seen:
            continue
        seen.add(key)
        first = SMALL_PART_GROUPS[int(changed[0])]
        word = spec[first].split("_(")[0].replace("-", "_").split("_")[0].capitalize()
        part = first.removeprefix("has_").split("_")[0]
        base = f"{word}_{part}_{genus_name}"
        name, k = base, 2
        while any(n.split(".", 1)[1] == name for n in names):
            name, k = f"{base}_{k}", k + 1
        specs.append(spec)
        names.append(f"{len(specs):03d}.{name}")
    return specs, names


def _annotate(
    spec: dict[str, str], visible: dict[str, bool], rng: np.random.Generator, noise: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Noisy per-image annotation: (is_present, certainty, time), each of shape (312,)."""
    present = np.zeros(len(ATTRIBUTE_NAMES), dtype=np.int64)
    certainty = np.ones(len(ATTRIBUTE_NAMES), dtype=np.int64)
    times = np.zeros(len(ATTRIBUTE_NAMES), dtype=np.float64)
    start = 0
    for group, values in CUB_GROUPS:
        n = len(values)
        sl = slice(start, start + n)
        times[sl] = rng.gamma(2.0, 4.0)  # seconds the worker spent on this group
        true = values.index(spec[group])
        if not visible.get(group, True):
            certainty[sl] = 1  # "not visible": nothing marked
        elif rng.random() < noise:
            if rng.random() < 0.4:
                certainty[sl] = 1  # worker skipped the group
            else:  # a wrong value, marked as a guess
                wrong = int(rng.choice([i for i in range(n) if i != true]))
                present[start + wrong] = 1
                certainty[sl] = 2 if rng.random() < 0.6 else 3
        else:
            present[start + true] = 1
            certainty[sl] = 4 if rng.random() < 0.75 else 3
            if group.endswith("_color") and rng.random() < noise / 2:
                present[start + int(rng.integers(n))] = 1  # a second colour, as workers often do
        start += n
    return present, certainty, times


def write_cub(
    out: str | Path,
    *,
    seed: int = 0,
    num_classes: int = _DEFAULT_CLASSES,
    images_per_class: int = _DEFAULT_PER_CLASS,
    image_size: int = _DEFAULT_SIZE,
    attributes_txt: str = "beside",
    label_noise: float = 0.08,
    hidden_legs: float = 0.1,
) -> Path:
    """Write a synthetic CUB-200-2011 copy.

    Args:
        out: folder to write into; ``CUB_200_2011/`` is created inside it.
        seed: random seed (same seed -> identical files).
        num_classes: classes 1..N (at most 200, as the real class-directory numbering).
        images_per_class: images per class, split about 50/50 into train and test.
        image_size: square image side in pixels.
        attributes_txt: where ``attributes.txt`` goes: ``"beside"`` (``out/attributes.txt``,
            as many distributed copies have it), ``"inside"`` (``CUB_200_2011/attributes/``,
            as the README says), or ``"both"``.
        label_noise: per image and group, probability that the annotation is corrupted.
        hidden_legs: per image, probability that the legs are not drawn (and not annotated).

    Returns:
        ``out``, the folder that contains ``CUB_200_2011/``.
    """
    check_int("num_classes", num_classes, 1, 200)
    check_int("images_per_class", images_per_class, 1)
    check_int("image_size", image_size, 16)
    if attributes_txt not in ("beside", "inside", "both"):
        raise ValueError(
            f"attributes_txt must be 'beside', 'inside' or 'both', got {attributes_txt!r}"
        )
    out = Path(out)
    root = fresh_dir(out / "CUB_200_2011")
    specs, class_names = class_specs(seed, num_classes)

    images, labels, split, boxes, attr_lines, part_lines = [], [], [], [], [], []
    class_present = np.zeros((num_classes, len(ATTRIBUTE_NAMES)))
    image_id = 0
    for c, (spec, cname) in enumerate(zip(specs, class_names, strict=True)):
        title = "_".join(w.capitalize() for w in cname.split(".", 1)[1].split("_"))
        order = make_rng(seed, _CODE, 1, c).permutation(images_per_class)
        is_train = order < (images_per_class + 1) // 2  # ~50/50 per class, like the official split
        for j in range(images_per_class):
            image_id += 1
            rng = make_rng(seed, _CODE, 2, image_id)
            visible = {"has_leg_color": bool(rng.random() >= hidden_legs)}
            drawn = {g: (v if visible.get(g, True) else None) for g, v in spec.items()}
            s = bird_scale(spec)  # has_size: a relative size, jittered per image
            r = render_object(
                paint_bird,
                drawn,
                height=image_size,
                width=image_size,
                rng=rng,
                fill=(0.8 * s, 1.0 * s),
                rotate=10.0,
            )
            rel = f"{cname}/{title}_{j + 1:04d}_{image_id}.jpg"
            save_jpeg(finish(r.image, rng), root / "images" / rel)
            images.append(f"{image_id} {rel}")
            labels.append(f"{image_id} {c + 1}")
            split.append(f"{image_id} {int(is_train[j])}")
            x, y, w, h = r.box
            boxes.append(f"{image_id} {x:.1f} {y:.1f} {w:.1f} {h:.1f}")

            present, certainty, times = _annotate(spec, visible, rng, label_noise)
            class_present[c] += present
            attr_lines.extend(
                f"{image_id} {a + 1} {present[a]} {certainty[a]} {times[a]:.4f}"
                for a in range(len(ATTRIBUTE_NAMES))
            )
            hidden_side = "right" if not r.flipped else "left"  # facing right shows its left side
            for p, part in enumerate(CUB_PART_NAMES, start=1):
                loc = r.keypoints.get(part)
                if loc is None or part.startswith(hidden_side):
                    part_lines.append(f"{image_id} {p} 0.0 0.0 0")
                else:
                    px = min(max(loc[0], 0.0), image_size - 1.0)
                    py = min(max(loc[1], 0.0), image_size - 1.0)
                    part_lines.append(f"{image_id} {p} {px:.1f} {py:.1f} 1")

    write_lines(root / "images.txt", images)
    write_lines(root / "image_class_labels.txt", labels)
    write_lines(root / "train_test_split.txt", split)
    write_lines(root / "bounding_boxes.txt", boxes)
    write_lines(root / "classes.txt", (f"{i + 1} {n}" for i, n in enumerate(class_names)))
    write_lines(root / "attributes" / "image_attribute_labels.txt", attr_lines)
    write_lines(
        root / "attributes" / "certainties.txt",
        (f"{i + 1} {n}" for i, n in enumerate(_CERTAINTIES)),
    )
    percent = 100.0 * class_present / images_per_class
    write_lines(
        root / "attributes" / "class_attribute_labels_continuous.txt",
        (" ".join(f"{v:.12f}" for v in row) for row in percent),
    )
    write_lines(
        root / "parts" / "parts.txt",
        (f"{i + 1} {p.replace('_', ' ')}" for i, p in enumerate(CUB_PART_NAMES)),
    )
    write_lines(root / "parts" / "part_locs.txt", part_lines)
    names = [f"{i + 1} {n}" for i, n in enumerate(ATTRIBUTE_NAMES)]
    if attributes_txt in ("beside", "both"):
        write_lines(out / "attributes.txt", names)
    if attributes_txt in ("inside", "both"):
        write_lines(root / "attributes" / "attributes.txt", names)
    return out
