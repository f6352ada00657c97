"""Synthetic Market-1501 (with Lin et al.'s attributes) in the public on-disk format.

Writes ``<out>/Market-1501-v15.09.15/`` with ``bounding_box_train/``, ``bounding_box_test/`` and
``query/`` of 128x64 JPEGs named like the real ones, ``0002_c1s1_000451_03.jpg`` (person,
camera, sequence, frame, box), and ``market_attribute.mat`` in that same folder (the real
attribute file is distributed separately; keeping it inside the dataset folder keeps one root).

What the real release has and this copy reproduces (docs/reproduction.md, "Dataset formats" and
"Evaluation protocols"):

- train and test identities are disjoint 4-digit ids drawn from 1-1501;
- every identity is seen by 2-6 cameras; every test identity has one query per camera it
  appears in, and gallery images in the same camera (which the protocol must drop) and in
  others (the hits);
- ``bounding_box_test/`` also holds distractors (person ``0000``: people who are not test
  identities, a wrong match the protocol keeps) and junk (``-1_c3s1_...jpg``: partial crops and
  background, which the protocol discards);
- by default a ``Thumbs.db`` sits in each image folder, as in copies unpacked from the
  Windows-made archive: loaders must list ``*.jpg`` only;
- ``market_attribute.mat`` holds one struct ``market_attribute`` with ``train`` and ``test``,
  each with the 27 attribute arrays (1xN uint8; 1 = no / first value, 2 = yes / second value;
  ``age`` 1-4) and ``image_index`` (1xN cell of 4-digit id strings), with a *different field
  order* in ``train`` and ``test`` (as in the real file); identities dressed in a colour outside
  the annotated palette have no upper (or lower) colour marked.

The signal: an identity *is* a combination of the person attributes (sampled with realistic
correlations, unique per split) plus a few unlabelled details (skin, hair and shoe colour,
build); images vary in viewpoint (front/back/side), stride, position, scale, mirror and in a
per-camera colour cast. Labels are per identity and flipped with probability ``label_noise``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from a3m.data.synthetic._common import check_int, fresh_dir, make_rng, save_jpeg, savemat
from a3m.data.synthetic.person import HAIR_COLOURS, SKIN_TONES, PersonSpec, paint_person
from a3m.data.synthetic.render import Colour, background, finish, render_object

_CODE = 2
DATASET_DIR = "Market-1501-v15.09.15"
MAX_PERSON_ID = 1501
NUM_CAMERAS = 6

UPPER_COLOURS: tuple[str, ...] = (
    "black",
    "white",
    "red",
    "purple",
    "yellow",
    "gray",
    "blue",
    "green",
)
LOWER_COLOURS: tuple[str, ...] = (
    "black",
    "white",
    "pink",
    "purple",
    "yellow",
    "gray",
    "blue",
    "green",
    "brown",
)
# Worn but not in the annotated palette: such identities have no colour marked.
_UPPER_OTHER = ("orange", "brown", "pink")
_LOWER_OTHER = ("red", "orange")

BINARY_ATTRIBUTES: tuple[str, ...] = (
    "backpack",
    "bag",
    "handbag",
    "clothes",
    "down",
    "up",
    "hair",
    "hat",
    "gender",
)
ATTRIBUTE_FIELDS: tuple[str, ...] = (
    ("age", *BINARY_ATTRIBUTES)
    + tuple(f"up{c}" for c in UPPER_COLOURS)
    + tuple(f"down{c}" for c in LOWER_COLOURS)
)
"""The 27 attribute fields, in the order docs/reproduction.md, "Dataset formats", lists them;
``image_index`` comes with them."""

TRAIN_FIELD_ORDER: tuple[str, ...] = (
    ("age", "backpack", "bag", "handbag")
    + tuple(sorted(f"down{c}" for c in LOWER_COLOURS))
    + tuple(sorted(f"up{c}" for c in UPPER_COLOURS))
    + ("clothes", "down", "up", "hair", "hat", "gender", "image_index")
)
TEST_FIELD_ORDER: tuple[str, ...] = (*ATTRIBUTE_FIELDS, "image_index")
"""The real file stores ``train`` and ``test`` with different field orders; so does this one."""

_THUMBS_DB = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)  # an OLE header, as Windows writes
_DEFAULT_IDS, _DEFAULT_PER_ID, _DEFAULT_HEIGHT = 40, 10, 128


def _rgb(rng: np.random.Generator, low: int, high: int) -> Colour:
    r, g, b = (int(v) for v in rng.integers(low, high, size=3))
    return (r, g, b)


def _sample_identity(rng: np.random.Generator) -> tuple[dict[str, int], PersonSpec]:
    """Attributes (Market coding) and appearance of one identity."""
    female = rng.random() < 0.45
    age = int(rng.choice([1, 2, 3, 4], p=[0.05, 0.25, 0.6, 0.1]))
    a = {
        "gender": 2 if female else 1,
        "age": age,
        "hair": 2 if rng.random() < (0.8 if female else 0.08) else 1,
        "clothes": 1 if rng.random() < (0.3 if female else 0.02) else 2,
        "down": 2 if rng.random() < 0.35 else 1,
        "up": 2 if rng.random() < 0.6 else 1,
        "hat": 2 if rng.random() < 0.08 else 1,
        "backpack": 2 if rng.random() < 0.3 else 1,
        "bag": 2 if rng.random() < 0.25 else 1,
        "handbag": 2 if rng.random() < 0.12 else 1,
    }
    u = rng.random()
    if u < 0.08:
        upper, upper2 = str(rng.choice(_UPPER_OTHER)), None
    else:
        upper = str(rng.choice(UPPER_COLOURS))
        upper2 = str(rng.choice([c for c in UPPER_COLOURS if c != upper])) if u > 0.9 else None
    lower = str(rng.choice(_LOWER_OTHER if rng.random() < 0.08 else LOWER_COLOURS))
    for c in UPPER_COLOURS:
        a[f"up{c}"] = 2 if c in (upper, upper2) else 1
    for c in LOWER_COLOURS:
        a[f"down{c}"] = 2 if c == lower else 1
    spec = PersonSpec(
        gender="female" if female else "male",
        age=age,
        hair_long=a["hair"] == 2,
        hat=a["hat"] == 2,
        backpack=a["backpack"] == 2,
        bag=a["bag"] == 2,
        handbag=a["handbag"] == 2,
        short_sleeves=a["up"] == 2,
        dress=a["clothes"] == 1,
        short_lower=a["down"] == 2,
        upper=upper,
        lower=lower,
        upper2=upper2,
        skin=SKIN_TONES[int(rng.integers(len(SKIN_TONES)))],
        hair=HAIR_COLOURS[int(rng.integers(len(HAIR_COLOURS)))],
        shoes=_rgb(rng, 0, 256),
        accessory=_rgb(rng, 20, 160),
        build=float(rng.uniform(0.88, 1.12)),
    )
    return a, spec


def _identities(
    seed: int, key: int, count: int, taken: set[tuple]
) -> list[tuple[dict, PersonSpec]]:
    """``count`` identities whose attribute vectors are unique (within ``taken``)."""
    rng = make_rng(seed, _CODE, key)
    out = []
    while len(out) < count:
        for _ in range(50):  # a handful of retries keeps vectors unique; then accept a repeat
            attrs, spec = _sample_identity(rng)
            vec = tuple(attrs[f] for f in ATTRIBUTE_FIELDS)
            if vec not in taken:
                break
        taken.add(vec)
        out.append((attrs, spec))
    return out


def _noisy(attrs: dict[str, int], rng: np.random.Generator, p: float) -> dict[str, int]:
    """Annotation noise: flip binary labels, move age by one, each with probability ``p``."""
    noisy = dict(attrs)
    for f in ATTRIBUTE_FIELDS:
        if rng.random() < p:
            noisy[f] = (
                int(np.clip(noisy[f] + rng.choice([-1, 1]), 1, 4)) if f == "age" else 3 - noisy[f]
            )
    return noisy


def _person_image(
    spec: PersonSpec, rng: np.random.Generator, height: int, width: int, gain: np.ndarray
) -> Image.Image:
    """One detection of a person: random viewpoint and stride, camera colour cast."""
    view = str(rng.choice(["front", "back", "side"], p=[0.4, 0.4, 0.2]))
    posed = PersonSpec(**{**spec.__dict__, "view": view, "stride": float(rng.uniform(0, 1))})
    r = render_object(
        paint_person,
        posed,
        height=height,
        width=width,
        rng=rng,
        aspect=0.5,
        fill=(0.85, 1.0),
        rotate=3.0,
        clutter=0.8,
    )
    return finish(r.image, rng, gain=gain)


def _junk_image(
    rng: np.random.Generator, height: int, width: int, gain: np.ndarray, spec: PersonSpec
) -> Image.Image:
    """A bad detection: background only, or a zoomed-in part of a person."""
    if rng.random() < 0.4:
        return finish(background(height, width, rng), rng, gain=gain)
    full = _person_image(spec, rng, height, width, gain)
    ch, cw = int(height * rng.uniform(0.3, 0.55)), int(width * rng.uniform(0.5, 0.9))
    y0, x0 = int(rng.integers(0, height - ch + 1)), int(rng.integers(0, width - cw + 1))
    return full.crop((x0, y0, x0 + cw, y0 + ch)).resize((width, height), Image.Resampling.BILINEAR)


def _mat_struct(ids: list[int], labels: list[dict[str, int]], order: tuple[str, ...]) -> dict:
    struct: dict[str, np.ndarray] = {}
    for f in order:  # dict order is the MATLAB field order savemat writes
        if f == "image_index":
            cell = np.empty((1, len(ids)), dtype=object)
            cell[0, :] = [f"{i:04d}" for i in ids]
            struct[f] = cell
        else:
            struct[f] = np.array([[lab[f] for lab in labels]], dtype=np.uint8)
    return struct


def write_market1501(
    out: str | Path,
    *,
    seed: int = 0,
    num_classes: int = _DEFAULT_IDS,
    images_per_class: int = _DEFAULT_PER_ID,
    image_size: int = _DEFAULT_HEIGHT,
    label_noise: float = 0.04,
    junk_fraction: float = 0.1,
    distractor_fraction: float = 0.1,
    thumbs_db: bool = True,
) -> Path:
    """Write a synthetic Market-1501 copy with ``market_attribute.mat``.

    Args:
        out: folder to write into; ``Market-1501-v15.09.15/`` is created inside it.
        seed: random seed (same seed -> identical files).
        num_classes: identities per split (train and test each get this many, disjoint).
        images_per_class: images per identity in ``bounding_box_train/`` and, for test
            identities, in ``bounding_box_test/`` (queries come on top: one per camera).
        image_size: image height in pixels; the width is half of it (real: 128 x 64).
        label_noise: per identity and attribute, probability of a wrong label.
        junk_fraction: junk images (``-1``) per gallery image of the test identities.
        distractor_fraction: distractor images (``0000``) per gallery image.
        thumbs_db: write a ``Thumbs.db`` into each image folder.

    Returns:
        ``out``, the folder that contains ``Market-1501-v15.09.15/``.
    """
    check_int("num_classes", num_classes, 1, MAX_PERSON_ID // 2)
    check_int("images_per_class", images_per_class, 2)
    check_int("image_size", image_size, 32)
    out = Path(out)
    root = fresh_dir(out / DATASET_DIR)
    height, width = image_size, image_size // 2
    rng = make_rng(seed, _CODE, 0)
    pids = rng.choice(np.arange(1, MAX_PERSON_ID + 1), size=2 * num_classes, replace=False)
    train_ids, test_ids = (
        sorted(int(p) for p in pids[:num_classes]),
        sorted(int(p) for p in pids[num_classes:]),
    )
    gains = make_rng(seed, _CODE, 1).uniform(0.8, 1.2, size=(NUM_CAMERAS + 1, 3))  # row = camera
    taken: set[tuple] = set()
    people = {
        "train": dict(zip(train_ids, _identities(seed, 2, num_classes, taken), strict=True)),
        "test": dict(zip(test_ids, _identities(seed, 3, num_classes, taken), strict=True)),
    }
    used: set[str] = set()

    def name(pid: int, cam: int, seq: int, frame: int, box: int) -> str:
        prefix = "-1" if pid < 0 else f"{pid:04d}"
        return f"{prefix}_c{cam}s{seq}_{frame:06d}_{box:02d}.jpg"

    def emit(
        folder: str,
        pid: int,
        cam: int,
        seq: int,
        frame: int,
        img_rng: np.random.Generator,
        image: Image.Image,
    ) -> None:
        box = int(img_rng.integers(1, 4))
        fname = name(pid, cam, seq, frame, box)
        while fname in used:  # (pid, cam, frame) repeats only across junk/distractors; bump
            frame += 1
            fname = name(pid, cam, seq, frame, box)
        used.add(fname)
        save_jpeg(image, root / folder / fname)

    n_gallery = 0
    for split, key in (("train", 10), ("test", 11)):
        for pid, (_, spec) in people[split].items():
            prng = make_rng(seed, _CODE, key, pid)
            n_cams = int(prng.integers(2, min(NUM_CAMERAS, images_per_class) + 1))
            cams = np.sort(prng.choice(np.arange(1, NUM_CAMERAS + 1), size=n_cams, replace=False))
            per_cam = np.ones(n_cams, dtype=int) + np.bincount(
                prng.integers(0, n_cams, size=images_per_class - n_cams), minlength=n_cams
            )
            for cam, count in zip(cams.tolist(), per_cam.tolist(), strict=True):
                seq = int(prng.integers(1, 7))
                frames = int(prng.integers(100, 9000)) + np.cumsum(
                    prng.integers(5, 60, size=count + 1)
                )
                jobs = [
                    ("bounding_box_train" if split == "train" else "bounding_box_test", f)
                    for f in frames[:count].tolist()
                ]
                if split == "test":
                    jobs.append(("query", int(frames[count])))
                    n_gallery += count
                for folder, frame in jobs:
                    img_rng = make_rng(seed, _CODE, 20, pid, cam, frame)
                    emit(
                        folder,
                        pid,
                        cam,
                        seq,
                        frame,
                        img_rng,
                        _person_image(spec, img_rng, height, width, gains[cam]),
                    )

    # Distractors (0000): people outside the test identities. Junk (-1): bad detections.
    extra = _identities(seed, 4, max(1, round(distractor_fraction * n_gallery)), set())
    for i, (_, spec) in enumerate(extra):
        img_rng = make_rng(seed, _CODE, 30, i)
        cam, seq = int(img_rng.integers(1, 7)), int(img_rng.integers(1, 7))
        image = _person_image(spec, img_rng, height, width, gains[cam])
        emit("bounding_box_test", 0, cam, seq, int(img_rng.integers(100, 99999)), img_rng, image)
    for i in range(max(1, round(junk_fraction * n_gallery))):
        img_rng = make_rng(seed, _CODE, 31, i)
        cam, seq = int(img_rng.integers(1, 7)), int(img_rng.integers(1, 7))
        spec = extra[i % len(extra)][1]
        image = _junk_image(img_rng, height, width, gains[cam], spec)
        emit("bounding_box_test", -1, cam, seq, int(img_rng.integers(100, 99999)), img_rng, image)

    if thumbs_db:
        for folder in ("bounding_box_train", "bounding_box_test", "query"):
            (root / folder / "Thumbs.db").write_bytes(_THUMBS_DB)

    noise_rng = make_rng(seed, _CODE, 5)
    mat = {}
    for split, order in (("train", TRAIN_FIELD_ORDER), ("test", TEST_FIELD_ORDER)):
        ids = sorted(people[split])
        labels = [_noisy(people[split][i][0], noise_rng, label_noise) for i in ids]
        mat[split] = _mat_struct(ids, labels, order)
    savemat(root / "market_attribute.mat", {"market_attribute": mat})
    return out
