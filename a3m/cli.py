"""The ``a3m`` command line.

Each command group is added by one function ``register_<group>(subparsers)`` listed in
:data:`SUBCOMMANDS`; it adds its parser(s) and sets ``func`` (``args -> exit status``) on each
leaf parser. A new group (``train``, ``study``, ``leaderboard``, ``dashboard``) is a new
function appended to that list; :func:`main` needs no change.

Now:

- ``a3m data check --dataset NAME --root PATH``: load every split, compare with the public
  release's counts, open every image; exit 1 on problems.
- ``a3m data synth --dataset NAME --out PATH``: write a small synthetic copy in the public
  format (``a3m.data.synthetic.write_synthetic``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

Register = Callable[[argparse._SubParsersAction], None]


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


def cmd_data_check(args: argparse.Namespace) -> int:
    """``a3m data check``: print the report, exit 1 when it lists problems."""
    from a3m.data.check import check_dataset

    options = dict(args.option or [])
    report = check_dataset(
        args.dataset,
        args.root,
        verify_images=not args.no_verify_images,
        max_images=args.sample,
        workers=args.workers,
        progress=None if args.quiet else lambda line: print(f"... {line}", file=sys.stderr),
        **options,
    )
    print(report.format())
    return 0 if report.ok else 1


def cmd_data_synth(args: argparse.Namespace) -> int:
    """``a3m data synth``: write a synthetic copy and print the root a loader takes."""
    try:
        from a3m.data.synthetic import write_synthetic
    except ImportError as err:
        print(
            f"a3m data synth: a3m.data.synthetic.write_synthetic is not available: {err}",
            file=sys.stderr,
        )
        return 2
    try:
        root = write_synthetic(
            args.dataset,
            args.out,
            seed=args.seed,
            num_classes=args.num_classes,
            images_per_class=args.images_per_class,
            image_size=args.image_size,
        )
    except ValueError as err:
        print(f"a3m data synth: {err}", file=sys.stderr)
        return 2
    print(f"wrote a synthetic {args.dataset} copy; load it with --root {root}")
    return 0


def register_data(subparsers: argparse._SubParsersAction) -> None:
    """Add ``a3m data check`` and ``a3m data synth``."""
    from a3m.data.registry import DATASETS

    names = ", ".join(f"{n} ({e.root_hint})" for n, e in DATASETS.items())
    data = subparsers.add_parser("data", help="check dataset copies, write synthetic ones")
    commands = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")

    check = commands.add_parser(
        "check",
        help="compare a dataset copy with the public release and open every image",
        description=f"Datasets and their root: {names}.",
    )
    check.add_argument(
        "--dataset", required=True, choices=list(DATASETS), metavar="NAME", help="one of the above"
    )
    check.add_argument("--root", required=True, type=Path, help="dataset root")
    check.add_argument(
        "--no-verify-images", action="store_true", help="skip opening the images (fast)"
    )
    check.add_argument(
        "--sample", type=int, default=None, metavar="N", help="open N random images per split"
    )
    check.add_argument("--workers", type=int, default=4, help="threads opening images")
    check.add_argument(
        "--option",
        "-o",
        type=parse_option,
        action="append",
        metavar="KEY=VALUE",
        help="loader option, e.g. -o bbox_crop=true -o attributes_path=/x/market_attribute.mat",
    )
    check.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
    check.set_defaults(func=cmd_data_check)

    synth = commands.add_parser(
        "synth", help="write a small synthetic copy in the public format of a dataset"
    )
    synth.add_argument("--dataset", required=True, metavar="NAME", help=f"one of: {names}")
    synth.add_argument("--out", required=True, type=Path, help="output folder")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--num-classes", type=int, default=None)
    synth.add_argument("--images-per-class", type=int, default=None)
    synth.add_argument("--image-size", type=int, default=None, help="image side in pixels")
    synth.set_defaults(func=cmd_data_synth)


SUBCOMMANDS: list[Register] = [register_data]
"""One registering function per command group; append to add a group."""


def build_parser() -> argparse.ArgumentParser:
    """The ``a3m`` parser with every group of :data:`SUBCOMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="a3m", description="Attribute-Aware Attention Model: data, training and studies."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in SUBCOMMANDS:
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``a3m`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
