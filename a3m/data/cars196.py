"""CARS196 (Stanford Cars, Krause et al. 2013), retrieval split of paper Table 5.

Format (``docs/reproduction.md``, "Dataset formats"): ``cars_annos.mat`` beside ``car_ims/``, read
with ``scipy.io.loadmat``: ``annotations`` is a 1x16,185 struct array with fields
``relative_im_path`` (``car_ims/000001.jpg``), ``bbox_x1``, ``bbox_y1``, ``bbox_x2``, ``bbox_y2``
(1-based inclusive pixels), ``class`` (1-196) and ``test`` (0/1, the classification split, unused
here); ``class_names`` is a 1x196 cell. Fields are looked up by name.

Retrieval split (the metric-learning convention): the first half of the class ids (1-98 on the
real data, 8,054 images) train, the second half (99-196, 8,131 images) test; labels 0-based
within each split; no attributes (K = 0). ``bbox_crop=True`` crops to the annotated box.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from a3m.data._io import SOURCES, ImageDataset, check_split, require_dir, retrieval_half
from a3m.data.base import DatasetFormatError, DatasetInfo

ANNOTATION_FILE = "cars_annos.mat"
INPUT_SIZE = (224, 224)
"""Default network input (height, width), paper Sec. 4.2."""
SPLITS = ("train", "test")
FIELDS = ("relative_im_path", "bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class")


def resolve_root(root: str | Path) -> Path:
    """Return the folder holding ``cars_annos.mat`` (also accepts the file's own path)."""
    root = Path(root).expanduser()
    if root.is_file() and root.name == ANNOTATION_FILE:
        return root.parent
    require_dir(root, f"the CARS196 folder containing {ANNOTATION_FILE} and car_ims/", "cars196")
    if (root / ANNOTATION_FILE).is_file():
        return root
    raise FileNotFoundError(
        f"{root / ANNOTATION_FILE} not found: expected the CARS196 annotation file "
        f"{ANNOTATION_FILE} (with the images under car_ims/) in {root}. {SOURCES['cars196']}."
    )


def _scalar(value: Any) -> Any:
    """Unwrap loadmat's nested 1x1 arrays down to a Python scalar or string."""
    while isinstance(value, np.ndarray):
        if value.size != 1:
            return None
        value = value.reshape(-1)[0]
    return value.item() if isinstance(value, np.generic) else value


def read_annotations(path: Path) -> tuple[list[str], np.ndarray, np.ndarray, list[str]]:
    """Parse ``cars_annos.mat``.

    Returns:
        ``(relative paths, class ids (N,) 1-based, boxes (N, 4) x1 y1 x2 y2 1-based,
        class names)``; class names are ``class_<id>`` when the file has no ``class_names``.
    """
    import scipy.io

    try:
        mat = scipy.io.loadmat(str(path))
    except Exception as err:  # scipy raises several types for a corrupt or non-MAT file
        raise DatasetFormatError(f"{path}: cannot read as a MATLAB file: {err}") from err
    if "annotations" not in mat:
        keys = ", ".join(k for k in mat if not k.startswith("__"))
        raise DatasetFormatError(f"{path}: no 'annotations' struct array (variables: {keys})")
    ann = np.asarray(mat["annotations"]).reshape(-1)
    names = set(ann.dtype.names or ())
    absent = [f for f in FIELDS if f not in names]
    if absent:
        raise DatasetFormatError(
            f"{path}: annotations lack field(s) {', '.join(absent)}; fields found: "
            f"{', '.join(sorted(names)) or 'none'}"
        )
    paths: list[str] = []
    classes = np.zeros(len(ann), dtype=np.int64)
    boxes = np.zeros((len(ann), 4), dtype=np.float64)
    for i, entry in enumerate(ann):
        rel = _scalar(entry["relative_im_path"])
        cls = _scalar(entry["class"])
        box = [_scalar(entry[f]) for f in FIELDS[1:5]]
        numbers = [cls, *box]
        if (
            not isinstance(rel, str)
            or not rel
            or not all(isinstance(v, (int, float)) for v in numbers)
            or int(cls) < 1
        ):
            raise DatasetFormatError(
                f"{path}: annotations entry {i + 1}: expected relative_im_path (text), "
                f"bbox_x1..bbox_y2 and class (numbers, class >= 1); got path={rel!r}, "
                f"class={cls!r}, box={box!r}"
            )
        paths.append(rel)
        classes[i] = int(cls)
        boxes[i] = box
    if not paths:
        raise DatasetFormatError(f"{path}: annotations is empty")
    top = int(classes.max())
    class_names = [f"class_{c}" for c in range(1, top + 1)]
    if "class_names" in mat:
        found = [_scalar(v) for v in np.asarray(mat["class_names"], dtype=object).reshape(-1)]
        if len(found) >= top and all(isinstance(v, str) for v in found):
            class_names = [str(v) for v in found]
    return paths, classes, boxes, class_names


class Cars196(ImageDataset):
    """CARS196 retrieval split (registry name ``cars196``).

    Args:
        root: the folder containing ``cars_annos.mat`` and ``car_ims/``.
        split: ``"train"`` (first half of the classes) or ``"test"`` (second half).
        transform: applied to the RGB PIL image; ``None`` gives a float tensor in [0, 1].
        bbox_crop: crop each image to its annotated box.

    Extra attribute: ``class_ids`` (the 1-based CARS196 class of each item).
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        transform: Callable[[Image.Image], Any] | None = None,
        *,
        bbox_crop: bool = False,
    ) -> None:
        check_split("cars196", split, SPLITS)
        base = resolve_root(root)
        mat_path = base / ANNOTATION_FILE
        rel_paths, class_ids, boxes, class_names = read_annotations(mat_path)
        distinct = sorted(set(class_ids.tolist()))
        split_classes = retrieval_half(distinct, split)
        label_of = {c: i for i, c in enumerate(split_classes)}
        keep = np.flatnonzero(np.isin(class_ids, split_classes))
        samples = [base / rel_paths[i] for i in keep]
        absent = [p for p in samples if not p.is_file()]
        if absent:
            raise FileNotFoundError(
                f"{len(absent)} image(s) listed in {mat_path} are missing, e.g. {absent[0]}: "
                f"expected every relative_im_path under {base}. {SOURCES['cars196']}."
            )
        info = DatasetInfo(
            name="cars196",
            task="retrieval",
            num_classes=len(retrieval_half(distinct, "train")),
            attribute_names=(),
            attribute_classes=(),
            input_size=INPUT_SIZE,
        )
        super().__init__(
            info=info,
            split=split,
            root=base,
            samples=samples,
            labels=np.array([label_of[int(c)] for c in class_ids[keep]], dtype=np.int64),
            classes=[
                class_names[c - 1] if c <= len(class_names) else f"class_{c}" for c in split_classes
            ],
            attributes=np.zeros((len(keep), 0), dtype=np.int64),
            boxes=(boxes[keep] - [1, 1, 0, 0]) if bbox_crop else None,  # 1-based inclusive -> PIL
            transform=transform,
            source_file=mat_path,
        )
        self.class_ids = class_ids[keep]
