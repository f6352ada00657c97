"""The flags of the ``a3m`` commands that have many (:mod:`a3m.cli` says what each command
does): ``a3m train``'s, one per :class:`~a3m.config.RunConfig` field, whose help, valid values
and default come from the field itself (:func:`a3m.config.field_help`), and ``a3m data check |
synth | cache``'s.

Every flag has a help text that says its valid values; argparse expands ``%`` in help texts,
so a literal one is written ``%%`` (tests/test_cli_help.py renders every parser).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def parse_option(text: str) -> tuple[str, Any]:
    """Parse ``KEY=VALUE`` into ``(key, value)``: true/false, none, ints, floats, else text."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    lowered = raw.strip().lower()
    value: Any
    if lowered in ("true", "yes", "on"):
        value = True
    elif lowered in ("false", "no", "off"):
        value = False
    elif lowered in ("none", "null"):
        value = None
    else:
        try:
            value = int(raw)
        except ValueError:
            try:
                value = float(raw)
            except ValueError:
                value = raw
    return key.strip().replace("-", "_"), value


def input_size(text: str) -> tuple[int, int]:
    """``224`` or ``448x224`` (height x width) -> (height, width)."""
    try:
        sides = [int(v) for v in text.lower().replace(",", "x").split("x")]
    except ValueError:
        sides = []
    if len(sides) not in (1, 2) or min(sides) < 1:
        raise argparse.ArgumentTypeError(f"expected SIDE or HxW in pixels, got {text!r}")
    return (sides[0], sides[-1])


# -- a3m train --------------------------------------------------------------------------------
def add_train_flags(parser: argparse.ArgumentParser) -> None:
    """``a3m train``'s own flags, then one per RunConfig field (:func:`add_config_flags`)."""
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="a config.json to start from (a run folder's; flags override it)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="output folder (default: runs/train/<dataset>-<variant>-<time>)",
    )
    parser.add_argument(
        "--resume",
        type=Path,
        metavar="PATH",
        help="continue from a checkpoint: a checkpoint.pt or its run folder",
    )
    parser.add_argument(
        "--tracking-uri",
        metavar="URI",
        help="also log the run to MLflow at "
        "this URI (sqlite:///mlflow.db, http://host:5000); default: no MLflow",
    )
    parser.add_argument(
        "--experiment", metavar="NAME", help="MLflow experiment (default: the dataset name)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    add_config_flags(parser)


def config_flag_help(name: str) -> str:
    """The help of the ``a3m train`` flag of RunConfig field ``name``: the field's own text
    (:func:`a3m.config.field_help`), its choices and its default, ``%`` escaped for argparse."""
    import dataclasses

    from a3m.config import RunConfig, field_choices, field_help

    (default,) = [f.default for f in dataclasses.fields(RunConfig) if f.name == name]
    if isinstance(default, tuple):
        default = ",".join(map(str, default))
    text = field_help(name)
    choices = field_choices(name)
    if choices:
        text += f"; one of: {', '.join(choices)}"
    shown = default if default != "" else "empty"
    return f"{text} (default: {shown})".replace("%", "%%")


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per RunConfig field (``--alpha 0.3``, ``--no-bbox-crop``, ``--input-size
    448x224``), grouped by the field's role; each flag's help, choices and placeholder are the
    field's (:func:`a3m.config.field_help`). The values stay text: RunConfig parses and
    checks them, so a flag and a ``--set`` of a study are refused alike."""
    import dataclasses
    import typing

    from a3m.config import RunConfig, field_choices, field_metavar, field_role

    hints = typing.get_type_hints(RunConfig)
    # a group per field role (a3m.config.ROLES): what decides the result apart from how fast
    # and where the run goes
    paper = "run config (defaults: the paper's, Sec. 4.2)"
    titles = {
        "setting": paper,
        "seed": paper,
        "speed": "run config: how fast (the same result either way)",
        "place": "run config: where it runs and where its data lives",
    }
    groups = {t: parser.add_argument_group(t) for t in dict.fromkeys(titles.values())}
    for f in dataclasses.fields(RunConfig):
        group = groups[titles[field_role(f.name)]]
        flag = "--" + f.name.replace("_", "-")
        text = config_flag_help(f.name)
        if hints[f.name] is bool:
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=text)
        else:
            choices = field_choices(f.name) or None
            group.add_argument(
                flag,
                default=None,
                choices=choices,
                help=text,
                metavar=field_metavar(f.name) or ("VALUE" if not choices else None),
            )


# -- a3m data ---------------------------------------------------------------------------------
def add_data_parsers(subparsers: argparse._SubParsersAction) -> dict[str, argparse.ArgumentParser]:
    """Add ``a3m data`` with its actions ``check``, ``synth`` and ``cache``; returns the
    actions' parsers by name, for :mod:`a3m.cli` to set what each runs."""
    from a3m.data.manifest.commands import add_convert_parser
    from a3m.data.registry import DATASETS, dataset_names

    names = ", ".join(f"{n} ({e.root_hint})" for n, e in DATASETS.items())
    data = subparsers.add_parser(
        "data",
        help="check dataset copies, write synthetic ones, cache decoded images",
        description="Datasets in their public on-disk formats: check a copy, write a small "
        "synthetic one, or decode one once into an image cache.",
    )
    commands = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    check = commands.add_parser(
        "check",
        help="compare a dataset copy with the public release and open every image",
        description="Loads every split, compares its counts with the public release's and "
        f"opens every image; exit 1 when it finds problems. Datasets and their root: {names}. "
        "Your own data: --dataset manifest:PATH checks the card, every row and every image; "
        "exit 1 when it finds problems, as for the datasets above (docs/your_data.md).",
    )
    _add_check_flags(check, dataset_names())
    synth = commands.add_parser(
        "synth",
        help="write a small synthetic copy in the public format of a dataset",
        description="Writes a small synthetic copy in the dataset's public format, which the "
        f"same loader reads (a3m.data.synthetic.write_synthetic). Datasets: {names}. With "
        "--format manifest: synthetic birds whose attributes decide their class, in the "
        "manifest format of your own data (a3m.data.synthetic.manifest).",
    )
    _add_synth_flags(synth, list(DATASETS))
    _add_manifest_synth_flags(synth)
    cache = commands.add_parser(
        "cache",
        help="decode and resize a dataset's images once, into a uint8 cache runs read",
        description="Writes each split's images, box-cropped and resized as the training and "
        "evaluation transforms do before their crop, into memory-mappable .npy shards under "
        "DIR/<dataset>/ (docs/cache.md). Runs on the same data and input size read them "
        f"(RunConfig.image_cache, 'auto' by default) with the same pixels. Datasets: {names}.",
    )
    _add_cache_flags(cache, list(DATASETS))
    return {"check": check, "synth": synth, "cache": cache, "convert": add_convert_parser(commands)}


def _add_check_flags(check: argparse.ArgumentParser, datasets: Sequence[str]) -> None:
    """``a3m data check``'s flags."""
    check.add_argument(
        "--dataset",
        required=True,
        choices=datasets,
        metavar="NAME",
        help=f"the dataset, one of: {', '.join(datasets)}; or manifest:PATH, your own data "
        "(PATH: its card, its manifest or their folder)",
    )
    check.add_argument(
        "--root",
        type=Path,
        metavar="DIR",
        help="the dataset's root (above: where each release unpacks); not for manifest:PATH",
    )
    check.add_argument(
        "--no-verify-images",
        action="store_true",
        help="check the label files and counts only, open no image (fast)",
    )
    check.add_argument(
        "--sample",
        type=int,
        default=None,
        metavar="N",
        help="open N random images per split, not all of them",
    )
    check.add_argument(
        "--workers",
        type=int,
        default=4,
        metavar="N",
        help="threads opening images (default: %(default)s)",
    )
    check.add_argument(
        "--option",
        "-o",
        type=parse_option,
        action="append",
        metavar="KEY=VALUE",
        help="a loader option (its keyword argument, repeatable), e.g. -o "
        "bbox_crop=true -o attributes_path=/x/market_attribute.mat; values: "
        "true/false, none, numbers or text",
    )
    check.add_argument("--quiet", "-q", action="store_true", help="no progress lines")


def _add_synth_flags(synth: argparse.ArgumentParser, datasets: list[str]) -> None:
    """``a3m data synth``'s flags; the sizes default to the dataset's synthetic copy
    (:attr:`a3m.data.registry.DatasetEntry.synthetic`)."""
    synth.add_argument(
        "--dataset",
        choices=datasets,
        metavar="NAME",
        help=f"the dataset, one of: {', '.join(datasets)} (needed unless --format manifest)",
    )
    synth.add_argument(
        "--out",
        required=True,
        type=Path,
        metavar="DIR",
        help="output folder (a previous copy of the dataset in it is replaced)",
    )
    synth.add_argument(
        "--seed",
        type=int,
        default=0,
        metavar="N",
        help="random seed: the same seed writes byte-identical files (default: %(default)s)",
    )
    synth.add_argument(
        "--num-classes",
        type=int,
        default=None,
        metavar="N",
        help="classes (market1501: identities in each of train and test) "
        "(default: the dataset's synthetic size, e.g. 20 for cub)",
    )
    synth.add_argument(
        "--images-per-class",
        type=int,
        default=None,
        metavar="N",
        help="images per class or identity (default: the dataset's, e.g. 30 for cub)",
    )
    synth.add_argument(
        "--image-size",
        type=int,
        default=None,
        metavar="PIXELS",
        help="image height in pixels (square for cub, width = height / 2 for "
        "market1501, 4/3 height for the car datasets) (default: the "
        "dataset's, e.g. 64 for cub)",
    )


def _add_manifest_synth_flags(synth: argparse.ArgumentParser) -> None:
    """``a3m data synth --format manifest``'s flags (docs/your_data.md)."""
    synth.add_argument(
        "--format",
        choices=["public", "manifest"],
        default="public",
        help="public: the dataset's public format; manifest: synthetic birds in the format of "
        "your own data (manifest.csv, card.json) (default: %(default)s)",
    )
    synth.add_argument(
        "--task",
        choices=["classification", "retrieval", "reid"],
        help="with --format manifest: the protocol, one of classification, retrieval, reid "
        "(default: classification)",
    )


def _add_cache_flags(cache: argparse.ArgumentParser, datasets: list[str]) -> None:
    """``a3m data cache``'s flags."""
    cache.add_argument(
        "--dataset",
        required=True,
        choices=datasets,
        metavar="NAME",
        help=f"the dataset, one of: {', '.join(datasets)}",
    )
    cache.add_argument(
        "--root",
        required=True,
        type=Path,
        metavar="DIR",
        help="the dataset's root, as for training",
    )
    cache.add_argument(
        "--split",
        nargs="+",
        metavar="SPLIT",
        help="splits to cache: train, test (market1501: train, query, gallery) (default: all)",
    )
    cache.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="folder of caches (default: $A3M_IMAGE_CACHE or "
        "~/.cache/a3m/images, where image_cache=auto looks)",
    )
    cache.add_argument(
        "--input-size",
        type=input_size,
        metavar="HxW",
        help="the runs' input size, HEIGHTxWIDTH or one side in pixels "
        "(default: the dataset's, as in RunConfig)",
    )
    cache.add_argument(
        "--bbox-crop",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="crop to the object boxes, as RunConfig.bbox_crop (default: on)",
    )
    cache.add_argument(
        "--workers",
        type=int,
        default=min(8, os.cpu_count() or 1),
        metavar="N",
        help="decoding processes (default: this machine's CPUs, at most 8)",
    )
    cache.add_argument("--quiet", "-q", action="store_true", help="no line per shard")
