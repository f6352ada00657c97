"""The ``a3m data`` actions of manifest datasets: ``check`` of a ``manifest:PATH``,
``synth --format manifest`` and ``convert imagefolder`` (docs/your_data.md).

:mod:`a3m.cli` keeps the ``data`` command's parser; these functions add what manifests need
to it and run the actions, so the command line's own module changes by a few lines only.
Exit statuses as every ``a3m`` command's (README, "Faults"): 0 done; 1 written, but the check
that follows found problems; 2 nothing done (a bad flag or input, or a manifest that fails its
check: one line each).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _progress(quiet: bool):
    return None if quiet else (lambda line: print(f"... {line}", file=sys.stderr))


def cmd_check(args: argparse.Namespace) -> int:
    """``a3m data check --dataset manifest:PATH``: the report; exit 1 when it lists problems,
    as for the built-in datasets (README's exit codes: the check ran, and its answer is no).
    ``a3m train`` and a study refuse such a manifest as bad input, exit 2."""
    from a3m.data.manifest.card import PREFIX
    from a3m.data.manifest.check import check_manifest

    path = args.dataset[len(PREFIX) :] or (str(args.root) if args.root else "")
    if not path:
        print(
            "a3m data check: manifest: needs a path: --dataset manifest:PATH (the card, the "
            "manifest or their folder)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    report = check_manifest(
        path,
        verify_images=not args.no_verify_images,
        max_images=args.sample,
        workers=args.workers,
        progress=_progress(args.quiet),
    )
    print(report.format())
    return EXIT_OK if report.ok else EXIT_FAILED


def cmd_synth(args: argparse.Namespace) -> int:
    """``a3m data synth --format manifest``: synthetic birds in the manifest format, whose
    attributes decide their class (:mod:`a3m.data.synthetic.manifest`)."""
    from a3m.data.synthetic.manifest import write_manifest_synthetic

    sizes = {
        "num_classes": args.num_classes,
        "images_per_class": args.images_per_class,
        "image_size": args.image_size,
    }
    try:
        out = write_manifest_synthetic(
            args.out,
            seed=args.seed,
            task=args.task or "classification",
            **{k: v for k, v in sizes.items() if v is not None},
        )
    except ValueError as err:
        print(f"a3m data synth: {err}", file=sys.stderr)
        return EXIT_USAGE
    print(f"wrote a synthetic dataset in the manifest format; use it with --dataset manifest:{out}")
    return EXIT_OK


def cmd_convert(args: argparse.Namespace) -> int:
    """``a3m data convert imagefolder ROOT``: write the manifest and the card, then check
    them (exit 1 when the check finds problems, the files written)."""
    from a3m.data.manifest.check import check_manifest
    from a3m.data.manifest.convert import convert_imagefolder

    try:
        done = convert_imagefolder(
            args.root,
            args.out,
            attributes=args.attributes,
            name=args.name,
            task=args.task,
            input_size=args.input_size,
            test_fraction=args.test_fraction,
            seed=args.seed,
        )
    except (OSError, ValueError) as err:  # DatasetFormatError is a ValueError
        print(f"a3m data convert: {err}", file=sys.stderr)
        return EXIT_USAGE
    shown = ", ".join(f"{n} {s}" for s, n in done.images.items())
    print(f"wrote {done.card} and its manifest: {done.classes} classes, {shown} images")
    if args.no_check:
        return EXIT_OK
    report = check_manifest(done.card, workers=args.workers, progress=_progress(args.quiet))
    print(report.format())
    if not report.ok:
        return EXIT_FAILED
    print(f"use it with --dataset manifest:{done.card.parent}")
    return EXIT_OK


def _input_size(text: str) -> tuple[int, int]:
    """``224`` or ``448x224`` (height x width) -> (height, width)."""
    try:
        sides = [int(v) for v in text.lower().replace(",", "x").split("x")]
    except ValueError:
        sides = []
    if len(sides) not in (1, 2) or min(sides) < 8:
        raise argparse.ArgumentTypeError(f"expected SIDE or HxW in pixels (>= 8), got {text!r}")
    return (sides[0], sides[-1])


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in (0, 1), got {text!r}")
    return value


def add_convert_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``a3m data convert imagefolder ROOT --attributes FILE.csv --out DIR``."""
    convert = commands.add_parser(
        "convert",
        help="write a manifest and a card for a folder per class and an attribute table",
        description="From a folder per class (torchvision's ImageFolder layout: ROOT/<class>/"
        "<images>, or ROOT/train/<class>/... beside ROOT/test/ or ROOT/val/) and a CSV with "
        "one row per class (a 'class' column, then one column per attribute) to a manifest "
        "dataset in DIR (manifest.csv, card.json; the images stay where they are), then "
        "checks it (docs/your_data.md).",
    )
    _add_convert_flags(convert)
    convert.set_defaults(func=cmd_convert)
    return convert


def _add_convert_flags(convert: argparse.ArgumentParser) -> None:
    """``a3m data convert``'s arguments and flags."""
    convert.add_argument(
        "layout",
        choices=["imagefolder"],
        help="the layout of ROOT: imagefolder (a folder per class)",
    )
    convert.add_argument("root", type=Path, metavar="ROOT", help="the folder per class")
    convert.add_argument(
        "--attributes",
        type=Path,
        metavar="FILE.csv",
        help="attributes, one row per class (default: none)",
    )
    convert.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="where manifest.csv and card.json go"
    )
    convert.add_argument("--name", help="the dataset's name (default: ROOT's folder name)")
    convert.add_argument(
        "--task",
        choices=["classification", "retrieval"],
        default="classification",
        help="the protocol: classification, or retrieval (its test classes are new ones; no "
        "attributes) (default: %(default)s)",
    )
    convert.add_argument(
        "--input-size",
        type=_input_size,
        default=(224, 224),
        metavar="HxW",
        help="input size the runs train at (default: 224x224)",
    )
    convert.add_argument(
        "--test-fraction",
        type=_fraction,
        default=0.3,
        metavar="F",
        help="without split folders: each class's share of test images, "
        "seeded (retrieval: the share of classes) (default: %(default)s)",
    )
    convert.add_argument("--seed", type=int, default=0, help="seed of the split (default: 0)")
    convert.add_argument(
        "--workers",
        type=int,
        default=4,
        metavar="N",
        help="threads reading the images in the check (default: 4)",
    )
    convert.add_argument("--no-check", action="store_true", help="write, do not check")
    convert.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
