"""A study on your own data: ``--dataset manifest:PATH`` (docs/your_data.md).

Every study script takes the flag (:func:`add_dataset_flag`). Its trials then train on the
manifest dataset instead of the study's own dataset, with the study's grid, reference and
verdicts, provided the dataset's task is the study's (a re-id manifest goes to
``ablation_market``, a classification one to ``ablation_cub``, ...). :func:`use_own_data`
checks the manifest in full (every row, every image: :mod:`a3m.data.manifest.check`) before
anything is launched or written to MLflow, and names the trials' dataset by its card's absolute
path, which every Ray worker reads alike; the runs go to the experiment
``<study>-<dataset name>`` unless ``--experiment`` says.
"""

from __future__ import annotations

import argparse
from typing import Any

from a3m.config import RunConfig
from a3m.study.exits import UsageError


def add_dataset_flag(group: argparse._ArgumentGroup) -> None:
    """Add ``--dataset manifest:PATH`` to a study's flags."""
    group.add_argument(
        "--dataset",
        metavar="manifest:PATH",
        help="train on your own data instead of the study's dataset: a manifest dataset whose "
        "task is the study's (PATH: its card, its manifest or their folder; docs/your_data.md), "
        "checked in full before anything starts; the runs go to <study>-<its name>",
    )


def _fail(message: str) -> SystemExit:
    return UsageError(message)


def _check_fit(spec: Any, args: argparse.Namespace, name: str) -> None:
    """A manifest the study can run on: no ``--synthetic``, a study that does not sweep
    datasets, the study's task."""
    from a3m.data.registry import DATASETS, get_entry

    flag = f"--dataset {name}"
    if getattr(args, "data_root", None):
        raise _fail(f"--data-root: not with {flag}, whose PATH says where the data is")
    if args.synthetic:
        raise _fail(f"{flag} is your own data and --synthetic generates the study's: pass one")
    axes = set(spec.pick("grid", False)) | {k for p in spec.pick("points", False) or [] for k in p}
    if "dataset" in axes:
        raise _fail(f"{flag}: study {spec.name!r} sweeps datasets, so it takes none of its own")
    try:
        entry = get_entry(name)
    except (OSError, ValueError) as err:  # no card, a bad card
        raise _fail(f"{flag}: {err}") from None
    own = get_entry(spec.base.get("dataset", RunConfig().dataset))
    if entry.task != own.task:
        fits = ", ".join(n for n, e in DATASETS.items() if e.task == entry.task)
        raise _fail(f"{flag}: a {entry.task} dataset, but study {spec.name!r} is a {own.task} "
                    f"study (of {own.name}); run a study of {fits} on it")  # fmt: skip


def use_own_data(spec: Any, args: argparse.Namespace, base: dict[str, Any]) -> bool:
    """With ``--dataset manifest:PATH``: check it (:func:`_check_fit`, then every row and
    image), put it into the trials' settings (``dataset``: ``manifest:<card>``, ``data_root``:
    the card) and default ``args.experiment`` to ``<study>-<dataset name>``. Returns whether
    it did (False without the flag).

    Raises:
        UsageError: one line, before anything is launched or written.
    """
    from a3m.data.manifest.check import manifest_problem
    from a3m.data.registry import display_name, get_entry

    name = getattr(args, "dataset", None)
    if not name:
        return False
    if not name.startswith("manifest:"):
        raise _fail(f"--dataset {name}: expected manifest:PATH, your own data (docs/your_data.md); "
                    "the study's own dataset needs no flag")  # fmt: skip
    _check_fit(spec, args, name)
    entry = get_entry(name)
    print(f"checking {entry.name} (every row and image) ...", flush=True)
    problem = manifest_problem(entry.name)
    if problem:
        raise _fail(f"--dataset {name}: {problem}")
    base["dataset"], base["data_root"] = entry.name, str(entry.root)
    if not args.experiment:
        suffix = "-dry-run" if getattr(args, "dry_run", False) else ""
        args.experiment = f"{spec.name}-{display_name(entry.name)}{suffix}"
    return True
