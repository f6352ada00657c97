"""What a study is and how it is asked for: a :class:`StudySpec` (the paper's setting, its
axes, its reference), the command-line flags every study script shares, the settings every
trial of an invocation shares (:func:`build_base`), the trials of a grid, and the errors in
any of these (:class:`UsageError`, exit status 2). Nothing here starts Ray or touches MLflow:
:mod:`a3m.study.runner` does.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from a3m.config import ConfigError, RunConfig
from a3m.plugin_code import PluginError, with_plugins
from a3m.study.exits import UsageError
from a3m.study.own_data import add_dataset_flag, use_own_data

SYNTHETIC_BUDGET: dict[str, Any] = {
    "backbone": "tiny",
    "pretrained": False,
    "d": 64,
    "epochs": 8,
    "lr_drop_epochs": 2,
    "batch_size": 32,
    "lr": 0.03,
    "num_workers": 0,
    "eval_every": 1,
}


@dataclass(frozen=True)
class StudySpec:
    """What a study sweeps. Axes are RunConfig fields.

    Attributes:
        name: MLflow experiment and Tune run name (``-synthetic`` is appended with --synthetic).
        description: one line for ``--help``.
        base: RunConfig overrides shared by every trial (the paper's setting for the study).
        grid: axis -> values; their cross product (grid search).
        points: explicit grid points (dicts of overrides), e.g. two 1-D sweeps; crossed with
            ``grid`` and the seeds.
        optuna_space: axis -> ``ray.tune`` domain (``tune.uniform`` ...); makes the study an
            Optuna TPE search of ``--num-samples`` trials instead of a grid.
        num_samples: Optuna trials (or grid repeats) unless --num-samples says otherwise.
        seeds: seeds per configuration unless --seeds says otherwise.
        reference: the configuration every other one is compared with, seed by seed (FIELD ->
            value, e.g. ``{"variant": "baseline1"}``); the other varying fields stay the
            candidate's own. None: the best configuration so far (open searches).
        min_effect_points: the difference (in points of the metric) below which two
            configurations count as equivalent, unless --min-effect says; None: the study
            never calls a comparison equivalent.
        synthetic_*: replace the field of the same name with --synthetic (``None`` keeps the
            full one; ``synthetic_base`` is added to the synthetic budget), so the smallest
            budget stays small.
    """

    name: str
    description: str
    base: dict[str, Any]
    grid: dict[str, list[Any]] = field(default_factory=dict)
    points: list[dict[str, Any]] | None = None
    optuna_space: dict[str, Any] | None = None
    num_samples: int = 1
    seeds: int = 1
    reference: dict[str, Any] | None = None
    min_effect_points: float | None = None
    synthetic_base: dict[str, Any] = field(default_factory=dict)
    synthetic_grid: dict[str, list[Any]] | None = None
    synthetic_points: list[dict[str, Any]] | None = None
    synthetic_optuna_space: dict[str, Any] | None = None
    synthetic_num_samples: int | None = None
    synthetic_reference: dict[str, Any] | None = None

    def pick(self, attr: str, synthetic: bool) -> Any:
        """``attr``, or its ``synthetic_`` replacement with --synthetic when it has one."""
        replacement = getattr(self, f"synthetic_{attr}") if synthetic else None
        return getattr(self, attr) if replacement is None else replacement


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Each flag's default said once: argparse's, unless the help text already says it or
    there is nothing to say (None, False, an empty list)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default:" in text or action.default in (None, False, [], argparse.SUPPRESS):
            return text
        return super()._get_help_string(action)


def study_parser(spec: StudySpec) -> argparse.ArgumentParser:
    """The flags every study shares; the epilog says what ``--data-root`` and ``--synthetic``
    change (:func:`data_epilog`)."""
    p = argparse.ArgumentParser(
        prog=f"studies/{spec.name}.py",
        description=spec.description,
        epilog=data_epilog(spec),
        formatter_class=HelpFormatter,
    )
    _add_data_flags(p.add_argument_group("data"))
    _add_budget_flags(p.add_argument_group("budget"), spec)
    _add_cluster_flags(p.add_argument_group("cluster and tracking"))
    return p


def data_epilog(spec: StudySpec) -> str:
    """What a study's trials run with on real data (``--data-root``: the study's settings, so
    pretrained ImageNet weights where it asks for them, as the paper) and with ``--synthetic``
    (:data:`SYNTHETIC_BUDGET` instead): the end of its ``--help``."""
    real = " ".join(f"{k}={v}" for k, v in spec.base.items())
    own = ", ".join([*study_axes(spec, synthetic=False), "seed"])
    synthetic = " ".join(f"{k}={v}" for k, v in (SYNTHETIC_BUDGET | spec.synthetic_base).items())
    text = (f"On your data (--data-root, a real-format copy): every trial runs with {real} "
            f"and its own {own}, "
            "the other settings at RunConfig's defaults (the paper's, Sec. 4.2: `a3m train "
            "--help` lists them), changed by --epochs and --set.")  # fmt: skip
    if spec.base.get("pretrained"):
        text += (" pretrained=True: the backbone starts from torchvision's ImageNet weights, "
                 "downloaded on first use into torch's cache (~/.cache/torch/hub, or "
                 "$TORCH_HOME/hub), so a node without internet needs them there, or --set "
                 "weights_path=FILE (a local torchvision state dict); --set pretrained=false "
                 "trains from scratch.")  # fmt: skip
    return text + f" With --synthetic, instead: {synthetic} (a laptop CPU's budget)."


def _add_data_flags(data: argparse._ArgumentGroup) -> None:
    """Where the trials' data comes from."""
    data.add_argument("--data-root", metavar="DIR",
                      help="your copy of the dataset, as its public release unpacks (`a3m data "
                      "check` checks it); with --synthetic: the folder of cached synthetic "
                      "copies (default: $A3M_SYNTHETIC_DIR or ~/.cache/a3m/synthetic)")  # fmt: skip
    data.add_argument("--synthetic", action="store_true",
                      help="generate (or reuse) a synthetic copy in the public format and "
                      "shrink the budget (tiny backbone, small images, few epochs, no "
                      "pretrained weights): runs on a laptop CPU")  # fmt: skip
    add_dataset_flag(data)


def _add_budget_flags(run: argparse._ArgumentGroup, spec: StudySpec) -> None:
    """How much each configuration is trained and how the trials are chosen."""
    run.add_argument("--smoke-test", action="store_true",
                     help="the smallest end-to-end run: --synthetic, 1 epoch, 1 seed, the first "
                     "and last trial of the study, no report")  # fmt: skip
    run.add_argument("--dry-run", action="store_true",
                     help="a benchmark and plumbing aid: every trial goes through Ray Tune and "
                     "logs to MLflow as usual, but trains nothing (deterministic made-up "
                     "metrics, data fingerprints marked 'dry-run-'); into the experiment "
                     "<name>-dry-run unless --experiment says. Not a result")  # fmt: skip
    run.add_argument("--epochs", type=_at_least(1), metavar="N", help="epochs per trial, >= 1, "
                     "the lr drop over at most the last sixth (default: the study's)")  # fmt: skip
    run.add_argument("--num-samples", type=_at_least(1), metavar="N", help="Optuna trials / "
                     f"grid repeats, >= 1 (default: {spec.num_samples})")  # fmt: skip
    run.add_argument("--seeds", type=_seeds, default=spec.seeds, metavar="N|auto",
                     help="seeds per configuration, >= 1 (a grid axis; runs on the same seed "
                     "are paired: same init, data order and augmentation). 'auto': 3, then "
                     "more only where the paired verdict against the reference is still open, "
                     "up to --max-seeds (README: Seeds on demand)")  # fmt: skip
    run.add_argument("--max-seeds", type=_at_least(3), default=DEFAULT_MAX_SEEDS, metavar="N",
                     help="with --seeds auto: the most seeds a configuration gets, "
                     ">= 3")  # fmt: skip
    run.add_argument("--min-effect", type=_above(0.0), metavar="POINTS",
                     help="the equivalence margin, > 0: a comparison whose interval (at the "
                     "level that decides it) lies within +-POINTS points of the metric is "
                     "'equivalent', and --seeds auto stops adding seeds to it (default: the "
                     "study's own, if it has one)")  # fmt: skip
    run.add_argument("--scheduler", choices=("fifo", "asha"), default="fifo",
                     help="fifo: every trial runs all its epochs; asha: ASHA stops weak trials "
                     "early (deciding on a held-out part of the training split)")  # fmt: skip
    run.add_argument("--set", nargs="*", action="extend", default=[], metavar="FIELD=VALUE",
                     help="override RunConfig fields of every trial (repeatable): --set lr=0.01 "
                     "pretrained=false (the fields and their valid values: `a3m train "
                     "--help`)")  # fmt: skip


def _add_cluster_flags(cluster: argparse._ArgumentGroup) -> None:
    """Where the trials run, where they log, and how a study resumes or grows."""
    cluster.add_argument("--address", metavar="ADDRESS", help="Ray cluster address ('auto' "
                         "inside a cluster, or the head's host:port); default: a local Ray "
                         "started for this run")  # fmt: skip
    cluster.add_argument("--gpus-per-trial", type=_at_least(0.0), default=None, metavar="N",
                         help="GPUs per trial, >= 0, may be fractional (0.5: two trials share "
                         "a GPU) (default: 1 if the cluster has GPUs, else 0)")  # fmt: skip
    cluster.add_argument("--cpus-per-trial", type=_above(0.0), default=None, metavar="N",
                         help="CPUs per trial, > 0; its DataLoader gets all but one (default: "
                         "1 without GPUs; with GPUs, a GPU node's CPUs per GPU x "
                         "--gpus-per-trial, so the input pipeline keeps up)")  # fmt: skip
    cluster.add_argument("--tracking-uri", metavar="URI", help="MLflow tracking URI (default: "
                         "$MLFLOW_TRACKING_URI or sqlite:///mlflow.db)")  # fmt: skip
    cluster.add_argument("--experiment", metavar="NAME", help="MLflow experiment name "
                         "(default: the study's, <study>-synthetic with --synthetic)")  # fmt: skip
    cluster.add_argument("--optuna-storage", metavar="URL", help="Optuna RDB URL (default: "
                         "optuna.db beside a SQLite tracking store)")  # fmt: skip
    cluster.add_argument("--storage-path", default="runs/tune", metavar="PATH",
                         help="Tune results and checkpoints; shared storage (s3://, gs://, NFS) "
                         "on a cluster")  # fmt: skip
    cluster.add_argument("--resume", nargs="?", const="latest", metavar="PATH",
                         help="restore an interrupted study: its Tune folder, or (no PATH) the "
                         "latest one of this study under --storage-path")  # fmt: skip
    cluster.add_argument("--rerun", action="store_true",
                         help="train every trial again, even those whose identical run (same "
                         "settings, seed and data) already FINISHED in the experiment")  # fmt: skip
    cluster.add_argument("--reuse-older-code", action="store_true",
                         help="reuse (and continue) runs trained by other code too: by "
                         "default a run is reused only when its code fingerprint (a3m.code: the "
                         "model, training, data and metric modules) is this code's")  # fmt: skip
    cluster.add_argument("--max-failures", type=_at_least(0), default=2, metavar="N",
                         help="retries of a crashed trial from its last checkpoint, "
                         ">= 0")  # fmt: skip
    cluster.add_argument("--out", default="results", metavar="DIR",
                         help="folder for the leaderboard CSV (results/<experiment>/)")  # fmt: skip
    cluster.add_argument("--system-metrics", action=argparse.BooleanOptionalAction,
                         default=None, help="log each trial's CPU, memory and GPU use to its "
                         "MLflow run (system/*) every 10 s (default: on when trials get "
                         "GPUs)")  # fmt: skip
    cluster.add_argument("--verbose", action="store_true",
                         help="Tune's per-result tables and the trials' own log lines (Ray's "
                         "checkpoint messages, warnings); without it, a line per finished "
                         "trial")  # fmt: skip
    cluster.add_argument("--no-report", action="store_true",
                         help="skip the after-study hooks (HTML report)")  # fmt: skip


def _at_least(low: float):
    """An argparse type: a number (int when ``low`` is) >= ``low``."""
    kind = type(low)

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind.__name__}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {text}")
        return value

    return parse


def _seeds(text: str) -> int | str:
    """An argparse type: a seed count >= 1, or ``auto``."""
    return "auto" if text.strip().lower() == "auto" else _at_least(1)(text)


def _above(low: float):
    """An argparse type: a float > ``low``."""

    def parse(text: str) -> float:
        value = _at_least(float(low))(text)
        if value <= low:
            raise argparse.ArgumentTypeError(f"must be > {low}, got {text}")
        return value

    return parse


def launch_settings(args: argparse.Namespace, base: dict[str, Any]) -> dict[str, str]:
    """What a study's trials were launched with: the shared settings and the search flags.
    Kept on the parent run, so that ``--resume`` can refuse flags that would change them."""
    flags = {"a3m.seeds": args.seeds, "a3m.scheduler": args.scheduler,
             "a3m.num_samples": args.num_samples or ""}  # fmt: skip
    return {**{k: str(v) for k, v in base.items()}, **{k: str(v) for k, v in flags.items()}}


def check_same_launch(launched: dict[str, str], now: dict[str, str]) -> None:
    """``--resume`` continues a study exactly as it was launched: repeat its command with
    ``--resume``; a flag that would change its trials is refused, not silently ignored."""
    from a3m.study.tracking import canonical

    differ = [
        f"{k}: launched with {launched[k]!r}, now {now.get(k, '')!r}"
        for k in sorted(launched)
        if k in now
        and canonical(launched[k]) != canonical(now[k])
        and k not in ("data_root", "synthetic_cache")  # the data may be elsewhere on resume
    ]
    if differ:
        raise UsageError(
            "--resume continues the study as it was launched, but these differ: "
            + "; ".join(differ)
            + ". Resume with the original flags, or start a new study."
        )


def _parse_sets(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item:
            raise UsageError(f"--set expects FIELD=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def build_base(spec: StudySpec, args: argparse.Namespace) -> dict[str, Any]:
    """The RunConfig overrides every trial shares, checked by building a RunConfig now (so a bad
    flag fails in the driver, not in every trial)."""
    from a3m.data.registry import get_entry
    from a3m.data.synthetic import synthetic_cache

    base = dict(spec.base)
    dataset = base.get("dataset", RunConfig().dataset)
    own_data = use_own_data(spec, args, base)  # --dataset manifest:PATH, checked in full
    if args.synthetic:
        base |= SYNTHETIC_BUDGET | spec.synthetic_base
        base["synthetic"] = True
        # With --synthetic, --data-root names the cache of generated copies; resolved here, so
        # every trial, wherever it runs, reads the driver's one.
        base["synthetic_cache"] = str(synthetic_cache(args.data_root))
    elif not own_data:
        if not args.data_root:
            raise UsageError(
                f"no dataset: pass --data-root with your copy of {dataset!r} (public layout, "
                f"from {get_entry(dataset).home}; check it with `a3m data check --dataset "
                f"{dataset} --root PATH`), or run with --synthetic for a generated copy"
            )
        root = Path(args.data_root).expanduser().resolve()
        if not root.exists():
            raise UsageError(f"--data-root {root} does not exist; or use --synthetic")
        base["data_root"] = str(root)
    if args.epochs is not None:
        # Keep the paper's shape of the schedule: the low lr for the last sixth (10 of 60).
        base["epochs"] = args.epochs
        base["lr_drop_epochs"] = min(base.get("lr_drop_epochs", 10), args.epochs // 6)
    base |= _parse_sets(args.set)
    try:  # the modules the script imported that registered variants or backbones: every
        base = with_plugins(base)  # trial's worker imports them (a3m.plugins)
    except PluginError as e:
        raise UsageError(f"bad study setting: {e}") from None
    cache = str(base.get("image_cache", "auto"))
    if cache not in ("auto", "off") and cache.strip():
        # Each trial runs in its own folder (Tune's trial directory): a relative folder of
        # caches would name a different, empty one in every trial.
        base["image_cache"] = str(Path(cache).expanduser().resolve())
    try:
        flat = RunConfig.from_flat_dict(base).to_flat_dict()
    except ConfigError as e:
        raise UsageError(f"bad study setting: {e}") from None
    return {k: v for k, v in flat.items() if k in base}


def grid_trials(
    spec: StudySpec, base: dict[str, Any], *, synthetic: bool, seeds: int
) -> list[dict]:
    """Every trial of a grid study, as its settings beyond ``base``: the grid's cross product
    (the synthetic one with ``synthetic``), crossed with the points and ``seeds`` seeds from
    ``base``'s, in that order."""
    grid = spec.pick("grid", synthetic)
    points = spec.pick("points", synthetic) or [{}]
    first = int(base.get("seed", 0))
    count = seeds
    trials = []
    for values in itertools.product(*grid.values()):
        for point in points:
            for seed in range(first, first + count):
                trials.append({**dict(zip(grid, values, strict=True)), **point, "seed": seed})
    return trials


DEFAULT_MAX_SEEDS = 12
"""``--max-seeds``: with ``--seeds auto`` (:mod:`a3m.study.seeds`), 3, 5, 8 then 12 seeds."""


SEARCH_VAL_FRACTION = 0.1
"""The validation part a search that adapts to results (ASHA, Optuna) holds out of the
training split unless the study sets ``val_fraction``: what it decides on must not be the test
split it then reports."""


def search_metric(base: dict[str, Any]) -> str:
    """What Tune ranks and stops trials by: ``val_score`` (the held-out part of the training
    split) when the trials have one, else ``score`` (each trial's protocol metric on the
    evaluation split, under one name for every task, so one study can rank several datasets)."""
    return "val_score" if float(base.get("val_fraction", 0) or 0) > 0 else "score"


def hold_out_for_search(spec: StudySpec, args: argparse.Namespace, base: dict[str, Any]) -> None:
    """A search that adapts to results (``--scheduler asha``, an Optuna space) decides on a
    validation part: :data:`SEARCH_VAL_FRACTION` of the training split unless the study sets
    ``val_fraction`` (0 is allowed, with a warning: it then selects on the test split)."""
    adaptive = args.scheduler == "asha" or spec.pick("optuna_space", args.synthetic) is not None
    if not adaptive:
        return
    if "val_fraction" not in base:
        base["val_fraction"] = SEARCH_VAL_FRACTION
        print(f"the search decides on a validation part: val_fraction={SEARCH_VAL_FRACTION} of "
              "the training split is held out (--set val_fraction=F to change it)")  # fmt: skip
    elif not float(base["val_fraction"]) > 0:
        print("warning: val_fraction=0: the search decides on the test split, which it then "
              "reports; its ranking is optimistic", file=sys.stderr)  # fmt: skip


def study_axes(spec: StudySpec, synthetic: bool) -> tuple[str, ...]:
    """The RunConfig fields a study varies (grid axes, point fields, Optuna's space), in the
    spec's order: what tells its trials apart."""
    axes = list(spec.pick("grid", synthetic))
    for point in spec.pick("points", synthetic) or []:
        axes += [k for k in point if k not in axes]
    axes += [k for k in spec.pick("optuna_space", synthetic) or {} if k not in axes]
    return tuple(axes)


def study_reference_of(spec: StudySpec, synthetic: bool) -> dict[str, Any] | None:
    """The spec's reference configuration (its synthetic one with --synthetic), checked against
    RunConfig's fields so that a typo fails before any trial runs."""
    reference = spec.pick("reference", synthetic)
    if not reference:
        return None
    fields = set(RunConfig().to_flat_dict())
    unknown = sorted(set(reference) - fields)
    if unknown:
        raise UsageError(f"study {spec.name!r}: reference names unknown config field(s) {unknown}")
    return dict(reference)
