"""Datasets by name: the one place that says what each dataset is.

Each :class:`DatasetEntry` names its loader, task (with the task's evaluation protocol,
:mod:`a3m.data.tasks`), splits, the paper's input size, the public release's counts (attribute
heads included), its home page, the paper's table that reports it, and how a synthetic copy
is written (:class:`SyntheticCopy`). Everything else (the config, the trainer, the study
runner, ``a3m data check``, the synthetic cache, the dashboards) reads these entries: no
dataset name is compared anywhere else.

``build_dataset(name, root, split, transform=None, **options)`` loads one split. Loader options
(``bbox_crop``, ``attributes``, ...) pass through ``**options``; an unknown name, split or
option raises ``ValueError`` listing the valid ones.

Your own data is not registered: ``manifest:PATH`` (a dataset card, its manifest or their
folder; :mod:`a3m.data.manifest`) is a name too, whose entry :func:`get_entry` builds from the
card, with the card's task, splits, input size and attribute heads.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from a3m.data import cars196, compcars, cub, market1501
from a3m.data._io import HOMES, ImageDataset
from a3m.data.cars196 import Cars196
from a3m.data.compcars import CompCars
from a3m.data.cub import CUB, CUBRetrieval
from a3m.data.manifest.card import PREFIX as MANIFEST_PREFIX
from a3m.data.manifest.card import is_manifest_name, read_card, resolve_card
from a3m.data.manifest.dataset import ManifestDataset
from a3m.data.market1501 import Market1501
from a3m.data.synthetic.cars196 import write_cars196
from a3m.data.synthetic.compcars import write_compcars
from a3m.data.synthetic.cub import write_cub
from a3m.data.synthetic.market1501 import write_market1501
from a3m.data.tasks import Task, get_task
from a3m.plugins import caller_module, entry_points_of, load_entry_point, note_module


@dataclass(frozen=True)
class SyntheticCopy:
    """How :mod:`a3m.data.synthetic` writes a small copy of a dataset in its public format.

    Attributes:
        writer: ``writer(out, *, seed, num_classes, images_per_class, image_size)`` writes the
            files and returns the root a loader takes.
        params: the default ``seed``, ``num_classes`` (identities per split for Market),
            ``images_per_class`` and ``image_size`` (the images' height in pixels).
        input_size: (h, w) a run on the copy trains at: its images' size, not the paper's.
    """

    writer: Callable[..., Path]
    params: Mapping[str, int]
    input_size: tuple[int, int]


@dataclass(frozen=True)
class DatasetEntry:
    """A registered dataset: one task on one public release.

    Attributes:
        name: registry name.
        loader: the :class:`~a3m.data._io.ImageDataset` subclass that reads it.
        task: key of :data:`a3m.data.tasks.TASKS` (``"classification"``, ``"reid"``,
            ``"retrieval"``); :attr:`protocol` is the task itself.
        splits: valid split names, the training split first.
        release: the public release whose files it reads; entries of one release (CUB's
            classification and retrieval) share a synthetic copy.
        root_hint: what ``root`` should point at.
        home: where the public release is published.
        input_size: the paper's network input (h, w), Sec. 4.2 (the loader's ``INPUT_SIZE``).
        public_counts: what the public release holds (count name -> value; ``None``: a count
            reported but not stated by the release), as ``a3m data check`` compares them.
        paper_table: the paper's table that reports it (0: none, a manifest dataset).
        synthetic: how a synthetic copy is written (None: a manifest dataset has none).
        title: the release's name as the paper prints it (``CUB-200-2011``), for reports.
        root: where the data is when the name says it (a manifest dataset's card), else None:
            the root is the caller's.
    """

    name: str
    loader: type[ImageDataset]
    task: str
    splits: tuple[str, ...]
    release: str
    root_hint: str
    home: str
    input_size: tuple[int, int]
    public_counts: Mapping[str, int | None]
    paper_table: int
    synthetic: SyntheticCopy | None
    title: str = ""
    root: Path | None = None

    def __post_init__(self) -> None:
        missing = set(self.protocol.eval_splits) - set(self.splits)
        if missing:
            raise ValueError(
                f"{self.name}: the {self.task} protocol reads missing splits {missing}"
            )

    @property
    def protocol(self) -> Task:
        """The task: its metrics, primary metric and evaluation splits."""
        return get_task(self.task)

    @property
    def options(self) -> dict[str, Any]:
        """The loader's keyword options with their defaults (from its signature)."""
        signature = inspect.signature(self.loader.__init__)
        return {
            p.name: p.default
            for p in signature.parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY
        }

    @property
    def has_box_crop(self) -> bool:
        """Whether the release has object boxes the loader can crop to (``bbox_crop``)."""
        return "bbox_crop" in self.options

    @property
    def attribute_heads(self) -> int:
        """Attribute heads of the public release (0: no attribute labels, K learned freely)."""
        return self.public_counts.get("attribute heads") or 0


_CUB_ROOT = "folder containing CUB_200_2011/"
_CUB_SYNTHETIC = SyntheticCopy(
    write_cub,
    # 20 classes x 30 images (about 15 train / 15 test each), 64x64.
    {"seed": 0, "num_classes": 20, "images_per_class": 30, "image_size": 64},
    input_size=(64, 64),
)

DATASETS: dict[str, DatasetEntry] = {
    "cub": DatasetEntry(
        name="cub",
        title="CUB-200-2011",
        loader=CUB,
        task="classification",
        splits=("train", "test"),
        release="cub",
        root_hint=_CUB_ROOT,
        home=HOMES["cub"],
        input_size=cub.INPUT_SIZE,
        public_counts={
            "train images": 5994,
            "test images": 5794,
            "classes": 200,
            "binary attributes": 312,
            "attribute heads": 28,
        },
        paper_table=2,
        synthetic=_CUB_SYNTHETIC,
    ),
    "cub_retrieval": DatasetEntry(
        name="cub_retrieval",
        title="CUB-200-2011",
        loader=CUBRetrieval,
        task="retrieval",
        splits=("train", "test"),
        release="cub",
        root_hint=_CUB_ROOT,
        home=HOMES["cub"],
        input_size=cub.INPUT_SIZE,
        public_counts={
            "train images": 5864,
            "test images": 5924,
            "train classes": 100,
            "test classes": 100,
        },
        paper_table=4,
        synthetic=_CUB_SYNTHETIC,  # the same files: the retrieval split is the loader's
    ),
    "market1501": DatasetEntry(
        name="market1501",
        title="Market-1501",
        loader=Market1501,
        task="reid",
        splits=("train", "query", "gallery"),
        release="market1501",
        root_hint="folder containing Market-1501-v15.09.15/",
        home=f"{HOMES['market1501']} (+ market_attribute.mat: {HOMES['market1501_attributes']})",
        input_size=market1501.INPUT_SIZE,
        public_counts={
            "train images": 12936,
            "query images": 3368,
            "gallery images": 15913,
            "train ids": 751,
            "query ids": 750,
            "attribute heads": 12,
        },
        paper_table=1,
        synthetic=SyntheticCopy(
            write_market1501,
            # 40 train + 40 test identities, 10 images each (+ queries, distractors, junk),
            # 128x64.
            {"seed": 0, "num_classes": 40, "images_per_class": 10, "image_size": 128},
            input_size=(128, 64),
        ),
    ),
    "compcars": DatasetEntry(
        name="compcars",
        title="CompCars",
        loader=CompCars,
        task="classification",
        splits=("train", "test"),
        release="compcars",
        root_hint="CompCars folder containing data/",
        home=HOMES["compcars"],
        input_size=compcars.INPUT_SIZE,
        public_counts={
            "train images": 36456,
            "test images": 15627,
            "models": 431,
            "attribute heads": 5,
        },
        paper_table=3,
        synthetic=SyntheticCopy(
            write_compcars,
            # 20 models x 30 images, 96x128.
            {"seed": 0, "num_classes": 20, "images_per_class": 30, "image_size": 96},
            input_size=(96, 96),
        ),
    ),
    "cars196": DatasetEntry(
        name="cars196",
        title="CARS196",
        loader=Cars196,
        task="retrieval",
        splits=("train", "test"),
        release="cars196",
        root_hint="folder containing cars_annos.mat",
        home=HOMES["cars196"],
        input_size=cars196.INPUT_SIZE,
        public_counts={
            "train images": 8054,
            "test images": 8131,
            "images": 16185,
            "train classes": 98,
            "test classes": 98,
        },
        paper_table=5,
        synthetic=SyntheticCopy(
            write_cars196,
            # 20 classes (10 train + 10 test for retrieval) x 30 images, 64x85.
            {"seed": 0, "num_classes": 20, "images_per_class": 30, "image_size": 64},
            input_size=(64, 64),
        ),
    ),
}
"""Registry name -> :class:`DatasetEntry`."""


class DatasetNames(tuple):
    """The registered dataset names, for which ``in`` also holds for a ``manifest:PATH`` name
    (your own data, named by its card): a flag or a config field whose choices these are
    takes one, and lists the registered names."""

    def __contains__(self, name: object) -> bool:
        return (isinstance(name, str) and is_manifest_name(name)) or super().__contains__(name)


def dataset_names() -> DatasetNames:
    """Registered dataset names (``in`` also holds for ``manifest:PATH``: :class:`DatasetNames`),
    those an installed entry point of :data:`DATASETS_GROUP` names included."""
    return DatasetNames(dict.fromkeys([*DATASETS, *entry_points_of(DATASETS_GROUP)]))


DATASETS_GROUP = "a3m.datasets"
"""Entry points naming the module of yours that registers a dataset (entry point name = the
dataset's name): imported the first time the name is asked for."""

_DATASET_MODULES: dict[str, str] = {}
"""Dataset name -> the module that registered it (:func:`register_dataset`)."""


def register_dataset(entry: DatasetEntry) -> DatasetEntry:
    """Register a dataset of yours under ``entry.name``, from a module of your own: named by
    ``RunConfig.plugins`` (a study adds the modules its script imported, so a trial's worker
    imports it too) or by an entry point of :data:`DATASETS_GROUP`. A loader of your own format
    goes here; a folder of images with a table needs none (``manifest:PATH``,
    docs/your_data.md).

    Raises:
        ValueError: the name is taken.
    """
    if entry.name in DATASETS or is_manifest_name(entry.name):
        raise ValueError(f"dataset name {entry.name!r} is taken")
    module = caller_module()
    DATASETS[entry.name] = entry
    _DATASET_MODULES[entry.name] = module
    note_module(module)
    return entry


def registered_dataset_modules() -> list[str]:
    """The modules that registered a dataset in this process (:func:`register_dataset`)."""
    return list(dict.fromkeys(_DATASET_MODULES.values()))


def get_entry(name: str) -> DatasetEntry:
    """The registry entry of ``name``; ``ValueError`` listing the valid names if unknown.

    ``manifest:PATH`` gets the entry of the card at PATH (:func:`manifest_entry`).
    """
    if is_manifest_name(name):
        return manifest_entry(name)
    if name not in DATASETS:
        load_entry_point(DATASETS_GROUP, name)  # a plugin's dataset registers itself on import
    if name not in DATASETS:
        raise ValueError(
            f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}, or "
            f"{MANIFEST_PREFIX}PATH for your own data (docs/your_data.md)"
        )
    return DATASETS[name]


def manifest_entry(name: str) -> DatasetEntry:
    """The entry of a manifest dataset ``manifest:PATH``, from its card; its ``name`` is the
    canonical one, ``manifest:<absolute card path>``, which names it in every process.

    Raises:
        FileNotFoundError: no card at PATH. DatasetFormatError: a bad card (one line).
    """
    card = read_card(name[len(MANIFEST_PREFIX) :])
    counts: dict[str, int | None] = {"attribute heads": len(card.attributes)}
    if card.classes is not None:
        counts["classes"] = len(card.classes)
    return DatasetEntry(
        name=card.dataset_name,
        title=card.name,
        loader=ManifestDataset,
        task=card.task,
        splits=tuple(split for split, _ in card.splits),
        release="manifest",
        root_hint="a dataset card (card.json), its manifest or their folder",
        home=str(card.path),
        input_size=card.input_size,
        public_counts=counts,
        paper_table=0,
        synthetic=None,
        root=card.path,
    )


def canonical_name(name: str) -> str:
    """``name`` as every process reads it: ``manifest:PATH`` with PATH made the absolute path
    of its card (a relative one would name another file in a Ray trial's folder); a
    registered name as it is. Raises as :func:`get_entry`."""
    return get_entry(name).name if is_manifest_name(name) else name


def display_name(name: str) -> str:
    """A short name for folders and experiments: a manifest dataset's card name, else
    ``name``."""
    return read_card(name[len(MANIFEST_PREFIX) :]).name if is_manifest_name(name) else name


def dataset_splits(name: str) -> tuple[str, ...]:
    """Valid splits of dataset ``name``, the training split first."""
    return get_entry(name).splits


def dataset_options(name: str) -> dict[str, Any]:
    """Keyword options of dataset ``name``'s loader with their defaults."""
    return get_entry(name).options


def build_dataset(
    name: str,
    root: str | Path,
    split: str,
    transform: Callable[[Image.Image], Any] | None = None,
    **options: Any,
) -> ImageDataset:
    """Load one split of a registered dataset.

    Args:
        name: one of :func:`dataset_names` (``cub``, ``cub_retrieval``, ``market1501``,
            ``compcars``, ``cars196``), or ``manifest:PATH``.
        root: the dataset as the public release unpacks (see each loader's docstring); for a
            manifest dataset, its card (or manifest, or their folder) or empty.
        split: one of :func:`dataset_splits` for ``name``.
        transform: applied to each RGB PIL image, e.g. from
            :func:`a3m.data.transforms.build_transform`.
        **options: loader options, e.g. ``bbox_crop=True``, ``attributes=False``.

    Returns:
        the split as an :class:`~a3m.data._io.ImageDataset` (``.info``, ``.labels``, ...).
    """
    entry = get_entry(name)
    if split not in entry.splits:
        raise ValueError(
            f"unknown split {split!r} of {name}; valid splits: {', '.join(entry.splits)}"
        )
    valid = entry.options
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(unknown)} for {name}; valid options: "
            + (", ".join(f"{k}={v!r}" for k, v in valid.items()) or "none")
        )
    if entry.root is not None:  # a manifest: its name says where it is
        if str(root) and resolve_card(root) != entry.root:
            raise ValueError(
                f"root {root} holds the dataset card {resolve_card(root)}, not {entry.root} "
                f"that {name} names"
            )
        root = entry.root
    return entry.loader(root, split, transform, **options)
