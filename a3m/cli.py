"""The ``a3m`` command line.

Each command group is added by one function ``register_<group>(subparsers)`` listed in
:data:`SUBCOMMANDS`; it adds its parser(s) and sets ``func`` (``args -> exit status``) on each
leaf parser. A new group (``train``, ``study``, ``leaderboard``, ``dashboard``) is a new
function appended to that list; :func:`main` needs no change.

Commands:

- ``a3m train``: one run without Ray, every RunConfig field a flag; ``--tracking-uri`` logs it
  to MLflow.
- ``a3m leaderboard --experiment NAME -o FILE.csv``: a study's runs as a leaderboard.
- ``a3m compare --experiment NAME [--reference FIELD=VALUE]``: paired-seed verdicts of every
  configuration against the study's reference.
- ``a3m dashboard --experiment NAME``: its HTML report, figures and tables (``dashboards/``).
- ``a3m data check --dataset NAME --root PATH``: load every split, compare with the public
  release's counts, open every image; exit 1 on problems.
- ``a3m data synth --dataset NAME --out PATH``: write a small synthetic copy in the public
  format (``a3m.data.synthetic.write_synthetic``).
- ``a3m data cache --dataset NAME --root PATH``: decode and resize every image once into a
  uint8 cache that runs read instead (``a3m.data.cache``, docs/cache.md).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from a3m.cli_args import parse_option as parse_option  # re-exported: a3m.cli's own helper

Register = Callable[[argparse._SubParsersAction], None]


def cmd_data_check(args: argparse.Namespace) -> int:
    """``a3m data check``: print the report, exit 1 when it lists problems (your own data,
    ``manifest:PATH``: :func:`a3m.data.manifest.commands.cmd_check`, exit 2)."""
    from a3m.data.check import check_dataset
    from a3m.data.manifest.card import is_manifest_name
    from a3m.data.manifest.commands import cmd_check

    if is_manifest_name(args.dataset):
        return cmd_check(args)
    if args.root is None:
        print(f"a3m data check: --root is needed for {args.dataset}", file=sys.stderr)
        return 2
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
    """``a3m data synth``: write a synthetic copy and print the root a loader takes (with
    ``--format manifest``: :func:`a3m.data.manifest.commands.cmd_synth`)."""
    from a3m.data.manifest.commands import cmd_synth

    if args.format == "manifest":
        return cmd_synth(args)
    if args.dataset is None:
        print("a3m data synth: --dataset is needed (or --format manifest)", file=sys.stderr)
        return 2
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


def cmd_data_cache(args: argparse.Namespace) -> int:
    """``a3m data cache``: decode and resize each split once into an image cache
    (:func:`a3m.data.cache.write_cache`) and print where it went."""
    from a3m.data._io import ImageReadError
    from a3m.data.base import DatasetFormatError
    from a3m.data.cache import write_cache
    from a3m.data.registry import build_dataset, get_entry

    entry = get_entry(args.dataset)
    options = {"bbox_crop": args.bbox_crop} if entry.has_box_crop else {}
    size = tuple(args.input_size) if args.input_size else None
    splits = args.split or entry.splits
    unknown = [s for s in splits if s not in entry.splits]
    if unknown:
        print(f"a3m data cache: {args.dataset} has no split {unknown[0]!r}; valid: "
              f"{', '.join(entry.splits)}", file=sys.stderr)  # fmt: skip
        return 2
    log = None if args.quiet else print
    for split in splits:
        try:
            dataset = build_dataset(args.dataset, args.root, split, **options)
            path = write_cache(dataset, size, args.out, workers=args.workers, log=log)
        except (FileNotFoundError, DatasetFormatError, ImageReadError) as err:
            print(f"a3m data cache: {err}", file=sys.stderr)
            return 2 if isinstance(err, FileNotFoundError) else 1
        print(f"{args.dataset}/{split}: {len(dataset)} images cached in {path}")
    height, width = size or entry.input_size
    how = " (image_cache 'auto')" if args.out is None else f" with --image-cache {path.parents[1]}"
    print(f"a run of {args.dataset} on this data at input size {height}x{width} reads it{how}")
    return 0


def register_data(subparsers: argparse._SubParsersAction) -> None:
    """Add ``a3m data check``, ``a3m data synth`` and ``a3m data cache`` (their flags:
    :func:`a3m.cli_args.add_data_parsers`)."""
    from a3m.cli_args import add_data_parsers

    actions = add_data_parsers(subparsers)
    actions["check"].set_defaults(func=cmd_data_check)
    actions["synth"].set_defaults(func=cmd_data_synth)
    actions["cache"].set_defaults(func=cmd_data_cache)


# -- a3m train --------------------------------------------------------------------------------
def _config_from_args(args: argparse.Namespace):
    import dataclasses

    from a3m.config import RunConfig

    flat = RunConfig.from_json(args.config).to_flat_dict() if args.config else {}
    for f in dataclasses.fields(RunConfig):
        value = getattr(args, f.name)
        if value is not None:
            flat[f.name] = value
    return RunConfig.from_flat_dict(flat)


def cmd_train(args: argparse.Namespace) -> int:
    """``a3m train``: one run without Ray; metrics table at the end, results in ``--out``."""
    import json
    import time

    import pandas as pd

    from a3m.config import ConfigError
    from a3m.data.manifest.check import manifest_problem
    from a3m.data.registry import display_name
    from a3m.train import fit

    try:
        cfg = _config_from_args(args)
    except ConfigError as err:
        print(f"a3m train: {err}", file=sys.stderr)
        return 2
    name = display_name(cfg.dataset)  # a manifest's card name, not its path
    out = Path(args.out or f"runs/train/{name}-{cfg.variant}-{time.strftime('%Y%m%d-%H%M%S')}")
    # your own data is checked in full before anything is written (a3m.data.manifest.check)
    problem = _train_preflight(out, args.resume) or manifest_problem(cfg.dataset)
    if problem:
        print(f"a3m train: {problem}", file=sys.stderr)
        return EXIT_USAGE
    uri = None
    if args.tracking_uri:  # the server answers as MLflow, the store can be written
        from a3m.study.tracking import resolve_tracking_uri

        uri = resolve_tracking_uri(args.tracking_uri)
        if not store_preflight("train", uri, write=True):
            return EXIT_USAGE
    tracker = None
    if uri:
        try:
            tracker = _start_tracking(uri, args.experiment or name, cfg, out)
        except Exception as err:
            code = store_failure("train", uri, err)
            if code is None:
                raise
            return code
    try:
        callback = None
        if tracker:

            def callback(r) -> None:
                # Every epoch is checkpointed, and --resume continues from the last one:
                # each epoch goes to MLflow at once, not with the next (LOG_EVERY_S).
                tracker.log_epoch(r.epoch, r.metrics)
                tracker.flush()

        result = fit(cfg, out, resume=args.resume, callback=callback, progress=not args.quiet)
    except BaseException as err:
        if tracker:
            tracker.finish("KILLED" if isinstance(err, KeyboardInterrupt) else "FAILED",
                           f"{type(err).__name__}: {err}")  # fmt: skip
        code = _user_error_code(err)
        if code is None or os.environ.get("A3M_DEBUG"):
            raise
        print(f"a3m train: {err}", file=sys.stderr)
        return code
    history = pd.DataFrame(result.history)
    history.to_csv(out / "history.csv", index=False)
    final = result.history[-1] if result.history else {}
    (out / "metrics.json").write_text(json.dumps(final, indent=2, sort_keys=True) + "\n")
    if tracker:
        tracker.finish("FINISHED")
    shown = [c for c in history.columns if not c.startswith("attr_acc/") or c == "attr_acc/mean"]
    with pd.option_context("display.width", 200, "display.float_format", "{:.4f}".format):
        print(history[shown].to_string(index=False))
    print(f"\n{result.summary()}; config, checkpoint and metrics in {out}")
    return 0


def _train_preflight(out: Path, resume: Path | None) -> str | None:
    """What stops ``a3m train`` before it builds anything, as one line: an ``--out`` that
    cannot be written; a ``--resume`` checkpoint that does not load (truncated, empty, not one
    this trainer wrote). None when it can start."""
    from a3m.checkpoint import CHECKPOINT_NAME, load_checkpoint
    from a3m.study.preflight import PreflightError, check_writable_folder

    try:
        check_writable_folder(out, "--out")
    except PreflightError as err:
        return str(err)
    if resume is None:
        return None
    path = resume / CHECKPOINT_NAME if resume.is_dir() else resume
    if not path.is_file():
        return f"--resume {resume}: checkpoint {path} does not exist"
    try:
        state = load_checkpoint(path)
        missing = [k for k in ("model", "optimizer", "epoch", "history", "config")
                   if not isinstance(state, dict) or k not in state]  # fmt: skip
    except Exception as err:  # torch.load's errors: EOFError, RuntimeError, UnpicklingError
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        return (f"--resume {path}: not a readable checkpoint (truncated, empty or not one "
                f"a3m train wrote: {type(err).__name__}: {reason})")  # fmt: skip
    if missing:
        return f"--resume {path}: not a checkpoint a3m train wrote (it lacks {', '.join(missing)})"
    return None


def _user_error_code(err: BaseException) -> int | None:
    """The exit status of an error that is the user's input, told in one line (2: a flag or a
    file given on the command line; 1: the data or the run itself); None for a bug, whose
    traceback is shown."""
    from a3m.checkpoint import CheckpointMismatchError
    from a3m.config import ConfigError
    from a3m.data._io import ImageReadError
    from a3m.data.base import DatasetFormatError
    from a3m.train import NonFiniteLossError

    if isinstance(err, (ConfigError, CheckpointMismatchError, FileNotFoundError)):
        return 2
    if isinstance(err, (DatasetFormatError, ImageReadError, NonFiniteLossError)):
        return 1
    return None


def _start_tracking(tracking_uri: str, experiment: str, cfg, out: Path):
    """The run's MLflow run (:meth:`RunTracker.for_single_run`: ``--resume`` into the same
    folder continues it), with the params and tags a study's trials carry, so that
    ``a3m leaderboard`` and ``a3m compare`` rank it with them."""
    from a3m.data.fingerprint import dataset_fingerprint
    from a3m.loaders import dataset_root
    from a3m.plugin_code import plugin_tags
    from a3m.provenance import provenance_tags
    from a3m.study.inputs import log_run_data
    from a3m.study.tracking import RunTracker, config_tags, redact

    tracker = RunTracker.for_single_run(tracking_uri, experiment, out, run_name=out.name)
    tracker.start()
    fingerprint = dataset_fingerprint(dataset_root(cfg))
    tags = config_tags(cfg, fingerprint, source="a3m train")
    tags |= provenance_tags(cfg.device, before=tracker.code_before) | plugin_tags(cfg)
    tracker.log_params(cfg.to_flat_dict(), tags)
    log_run_data(tracker, cfg, fingerprint)  # every split it reads, and what the data is
    print(f"MLflow run {tracker.run_id} at {redact(tracking_uri)}")
    return tracker


def register_train(subparsers: argparse._SubParsersAction) -> None:
    """Add ``a3m train`` (its flags: :func:`a3m.cli_args.add_train_flags`)."""
    from a3m.cli_args import add_train_flags

    train = subparsers.add_parser(
        "train",
        help="one training run without Ray (every config field is a flag)",
        description="Train and evaluate one run. Example: a3m train --dataset cub --synthetic "
        "--backbone tiny --epochs 5",
    )
    add_train_flags(train)  # its own flags and one per RunConfig field
    train.set_defaults(func=cmd_train)


# -- preflight of the commands that read MLflow -----------------------------------------------
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
"""Every ``a3m`` command (README "Faults"): 0 done; 1 it ran but its input says no (a data
check with problems, an experiment with nothing to rank, a run that diverged); 2 bad usage: a
flag, a file or a store given on the command line that cannot work, nothing done."""


def store_preflight(command: str, uri: str, outputs: Sequence[tuple[str, Any]] = (),
                    write: bool = False) -> bool:  # fmt: skip
    """:func:`a3m.study.preflight.check_command`: prints the one line and returns False when
    the command cannot run."""
    from a3m.study.preflight import PreflightError, check_command

    try:
        check_command(uri, outputs, write=write)
    except PreflightError as err:
        print(f"a3m {command}: {err}", file=sys.stderr)
        return False
    return True


def store_failure(command: str, uri: str, err: BaseException) -> int | None:
    """Exit status 2 with one line for an error of the store itself (damaged, read-only,
    refused) met while the command ran; None for another error."""
    from a3m.study.preflight import store_error

    line = store_error(uri, err)
    if line is None:
        return None
    print(f"a3m {command}: {line}", file=sys.stderr)
    return EXIT_USAGE


def read_store(command: str, uri: str, work: Callable[[], Any]) -> tuple[Any, int]:
    """``(work(), 0)``, or ``(None, exit status)`` with one line for what stopped it: a flag
    that cannot work (:class:`a3m.study.runs.BadFlag`, 2), the store's contents saying no
    (``ValueError``, 1), the store itself failing (2); anything else is a bug and raises."""
    from a3m.study.runs import BadFlag

    try:
        return work(), EXIT_OK
    except BadFlag as err:
        print(f"a3m {command}: {err}", file=sys.stderr)
        return None, EXIT_USAGE
    except ValueError as err:
        print(f"a3m {command}: {err}", file=sys.stderr)
        return None, EXIT_FAILED
    except Exception as err:
        code = store_failure(command, uri, err)
        if code is None:
            raise
        return None, code


# -- a3m leaderboard --------------------------------------------------------------------------
EXCLUDE_FAILED_BEFORE_HELP = ("set aside the FAILED and KILLED runs that ended before WHEN: an "
    "ISO date/time (2026-12-01, 2026-12-01T14:00: local time) or a run id (a study's parent run: "
    "before it started); a line says how many (docs/faults.md)")  # fmt: skip
"""``--exclude-failed-before``'s help (leaderboard, compare, dashboard: a3m.study.runs)."""


def cmd_leaderboard(args: argparse.Namespace) -> int:
    """``a3m leaderboard``: the top rows (``-``: see the row's ``note``), then what it wrote."""
    from a3m.study.leaderboard import write_leaderboard
    from a3m.study.tracking import resolve_tracking_uri

    uri = resolve_tracking_uri(args.tracking_uri)
    if not store_preflight("leaderboard", uri, [("-o/--output", args.output)]):
        return EXIT_USAGE
    written, code = read_store("leaderboard", uri, lambda: write_leaderboard(
        args.experiment, uri, args.output, args.sort_by, strict=True,
        exclude_failed_before=args.exclude_failed_before))  # fmt: skip
    if code:
        return code
    shown = written.table.drop(columns=["run_ids"], errors="ignore").head(30)
    print(shown.to_string(index=False, na_rep="-"))
    print(f"\n{written.said()}")
    return 0


def register_leaderboard(subparsers: argparse._SubParsersAction) -> None:
    """Add ``a3m leaderboard``."""
    p = subparsers.add_parser(
        "leaderboard",
        help="a study's MLflow runs as a CSV leaderboard",
        description="Ranks an experiment's finished trial runs, one row per configuration: "
        "the settings that vary (the seed apart), each metric's mean and 95% CI over seeds, "
        "the run count, statuses and code versions, and the paired verdict against the "
        "study's reference (a3m compare). Prints the top 30 rows and writes the CSV.",
    )
    p.add_argument("--experiment", required=True, metavar="NAME",
                   help="MLflow experiment: the study's name (<study>-synthetic with "
                   "--synthetic)")  # fmt: skip
    p.add_argument("-o", "--output", type=Path, required=True, metavar="FILE.csv",
                   help="CSV file to write (its folder must be writable); the paired "
                   "comparisons go to comparisons.csv beside it")  # fmt: skip
    p.add_argument("--tracking-uri", metavar="URI", help="MLflow tracking URI (default: "
                   "$MLFLOW_TRACKING_URI or sqlite:///mlflow.db)")  # fmt: skip
    p.add_argument("--sort-by", metavar="COLUMN", help="a numeric column to sort by, highest "
                   "first: <metric>_mean of any metric the runs logged (score_mean, "
                   "accuracy_mean, rank1_mean, mAP_mean, recall_at_1_mean, ...), n_runs, "
                   "...; an unknown column is refused with the valid ones (default: "
                   "score_mean)")  # fmt: skip
    p.add_argument("--exclude-failed-before", metavar="WHEN", help=EXCLUDE_FAILED_BEFORE_HELP)
    p.set_defaults(func=cmd_leaderboard)


# -- a3m compare ------------------------------------------------------------------------------
def cmd_compare(args: argparse.Namespace) -> int:
    """``a3m compare``: paired verdicts of every configuration against a reference."""
    import dataclasses

    from a3m.sequential import Inference
    from a3m.study.compare import describe, format_verdicts, parse_reference
    from a3m.study.tracking import resolve_tracking_uri

    uri = resolve_tracking_uri(args.tracking_uri)
    # the flags first: nothing is read for a value that cannot work (Inference checks them)
    changes: dict[str, float] = {}
    try:
        reference = parse_reference(args.reference) if args.reference else None
    except ValueError as err:  # its message names --reference
        print(f"a3m compare: {err}", file=sys.stderr)
        return EXIT_USAGE
    for flag, name, value in (("--alpha", "alpha", args.alpha),
                              ("--min-effect", "min_effect", args.min_effect)):  # fmt: skip
        if value is None:
            continue
        changes[name] = value / 100 if name == "min_effect" else value
        try:
            dataclasses.replace(Inference(), **{name: changes[name]})
        except ValueError as err:
            print(f"a3m compare: {flag} {value:g}: {err}", file=sys.stderr)
            return EXIT_USAGE
    if not store_preflight("compare", uri, [("-o/--output", args.output)]):
        return EXIT_USAGE
    result, code = read_store("compare", uri, lambda: _comparisons(args, uri, reference, changes))
    if code:
        return code
    table, reference, source, inference, no_verdicts = result
    if no_verdicts:  # the words the study's own summary prints
        print(no_verdicts)
        return EXIT_FAILED
    if table.empty:
        print(f"a3m compare: no configuration differs from the reference {describe(reference)}")
        return EXIT_FAILED
    print(f"reference: {describe(reference)} ({source})")
    print("\n".join(format_verdicts(table, inference)))
    if args.output:
        table.to_csv(args.output, index=False)
        print(f"\nwrote {args.output}")
    if (table["n_pairs"] < 2).all():
        print("no configuration has 2 paired seeds: run the study with --seeds N", file=sys.stderr)
    return 0


def _comparisons(
    args: argparse.Namespace, uri: str, reference: dict[str, str] | None, changes: dict
) -> tuple[Any, dict[str, str], str, Any, str]:
    """``a3m compare``'s table from the store: (table, reference, where the reference came
    from, the inference it was decided by, why there are no verdicts: "" when there are).
    Raises BadFlag for a flag the runs refute."""
    import dataclasses

    from a3m.study.compare import best_reference, compare
    from a3m.study.leaderboard import why_no_verdicts
    from a3m.study.runs import BadFlag, runs_frame, study_inference, study_reference

    inference = dataclasses.replace(study_inference(args.experiment, uri), **changes)
    runs = runs_frame(args.experiment, uri, args.exclude_failed_before)
    if runs.empty:
        raise ValueError(f"experiment {args.experiment!r} has no trial runs yet")
    logged = sorted(c.removeprefix("metrics.") for c in runs if c.startswith("metrics."))
    if f"metrics.{args.metric}" not in runs:
        shown = [m for m in logged if "/" not in m] or logged
        more = ", ..." if len(shown) > 20 else ""
        raise BadFlag(f"--metric {args.metric}: no run logged it; valid: "
                      f"{', '.join(shown[:20])}{more}")  # fmt: skip
    source = "--reference"
    if reference is None:
        reference, source = study_reference(args.experiment, uri), "the study's reference"
    if reference is None:
        reference = best_reference(runs)
        source = "the best mean val_score (chosen after seeing the runs: optimistic for it)"
    try:
        table = compare(runs, reference, metric=args.metric, inference=inference)
    except ValueError as err:
        if source == "--reference" and "reference" in str(err):
            raise BadFlag(f"--reference: {err}") from None
        raise
    return table, reference, source, inference, why_no_verdicts(runs, reference)


def register_compare(subparsers: argparse._SubParsersAction) -> None:
    """Add ``a3m compare``."""
    p = subparsers.add_parser(
        "compare",
        help="paired-seed verdicts of a study's configurations against its reference",
        description="Pairs the runs of each configuration with those of its counterpart at "
        "the reference (same seed = same init, data order and augmentation) and reports the "
        "mean difference of the final-epoch metric with the exact sign-flip test's interval at "
        "the level that decides it (Holm across the study; a --seeds auto study's looks spend "
        "alpha), and a verdict: better / worse / equivalent (within --min-effect) / "
        "inconclusive, or 'inconclusive (failures)' when failed seeds could change it.",
    )
    p.add_argument("--experiment", required=True, metavar="NAME",
                   help="MLflow experiment: the study's name (<study>-synthetic with "
                   "--synthetic)")  # fmt: skip
    p.add_argument("--reference", nargs="+", metavar="FIELD=VALUE",
                   help="the reference configuration (default: the one the study declared; "
                   "for an open search, the best mean val_score)")  # fmt: skip
    p.add_argument("--metric", default="score", metavar="NAME", help="final-epoch metric, any "
                   "the runs logged (score, accuracy, mAP, rank1, recall_at_1, ...); its "
                   "direction from its name (losses and errors: lower is better) (default: "
                   "%(default)s)")  # fmt: skip
    p.add_argument("--alpha", type=float, metavar="A", help="family-wise error rate, in (0, "
                   "1) (default: the study's, 0.05)")  # fmt: skip
    p.add_argument("--min-effect", type=float, metavar="POINTS", help="equivalence margin in "
                   "points of the metric, > 0 (default: the study's, if it set one)")  # fmt: skip
    p.add_argument("--tracking-uri", metavar="URI", help="MLflow tracking URI (default: "
                   "$MLFLOW_TRACKING_URI or sqlite:///mlflow.db)")  # fmt: skip
    p.add_argument("-o", "--output", type=Path, metavar="FILE.csv",
                   help="also write the table as CSV")  # fmt: skip
    p.add_argument("--exclude-failed-before", metavar="WHEN", help=EXCLUDE_FAILED_BEFORE_HELP)
    p.set_defaults(func=cmd_compare)


# -- commands that come after a3m (a3m dashboard) ---------------------------------------------
COMMANDS_GROUP = "a3m.commands"
"""Entry-point group of the commands other packages add to ``a3m`` (``dashboard``: the
dashboards package, ``python dashboards/build.py`` under the one command). Each names a module
with ``parser()``, the command's :class:`argparse.ArgumentParser`, and ``run(args)``, its exit
status; so ``a3m`` imports nothing that comes after it, as the after-study hook
(:data:`a3m.study.runner.AFTER_STUDY_GROUP`)."""


def register_entry_points(subparsers: argparse._SubParsersAction) -> None:
    """Add each command of :data:`COMMANDS_GROUP` (declared in pyproject.toml)."""
    from importlib.metadata import entry_points

    for command in sorted(entry_points(group=COMMANDS_GROUP), key=lambda e: e.name):
        module = command.load()
        parser = module.parser()
        subparsers.add_parser(
            command.name,
            parents=[parser],
            add_help=False,  # the parent parser brings -h
            help=parser.description,
            description=parser.description,
            epilog=parser.epilog,
            formatter_class=parser.formatter_class,
        ).set_defaults(func=module.run)


SUBCOMMANDS: list[Register] = [
    register_data,
    register_train,
    register_leaderboard,
    register_compare,
    register_entry_points,
]
"""One registering function per command group; append to add a group (or, from another
package, declare it in :data:`COMMANDS_GROUP`)."""


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
    from a3m.plugin_code import preload_train_plugins

    argv = sys.argv[1:] if argv is None else list(argv)
    problem = preload_train_plugins(argv)  # before the parser checks --variant's choices
    if problem:
        print(f"a3m train: {problem}", file=sys.stderr)
        return EXIT_USAGE
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
