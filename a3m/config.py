"""One typed config per run: everything that decides a result, as plain values.

A :class:`RunConfig` validates itself on construction (errors name the field), round-trips to
a flat dict of strings/numbers (MLflow params, Ray Tune configs) and back, and is written
into every run directory and checkpoint so that a resume rebuilds exactly the same model.
Defaults are the paper's (Sec. 4.2): d = 512, alpha = beta = 0.5, SGD momentum 0.9, weight
decay 5e-4, lr 1e-3 dropping to 1e-4 for the last 10 of 60 epochs, batch 32.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from a3m import metrics
from a3m.data.registry import canonical_name, dataset_names, get_entry, is_manifest_name
from a3m.metrics import AP_MODES
from a3m.models import ATTR_POOLINGS, backbone_names, variant_names
from a3m.models.backbones import find_backbone
from a3m.models.registry import find_variant
from a3m.plugins import PluginError, import_plugins

OPTIMIZERS: tuple[str, ...] = ("sgd",)
SCHEDULES: tuple[str, ...] = ("step", "cosine")
DISTANCES: tuple[str, ...] = tuple(metrics.DISTANCES)  # the distances a3m.metrics computes
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")
AUGMENT_ON: tuple[str, ...] = ("loader", "device")
COMPILE_MODES: tuple[str, ...] = (
    "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs",
)  # fmt: skip
"""``torch.compile``'s modes; ``reduce-overhead`` replays CUDA graphs, which suits a step too
short to keep the GPU busy (A3M at batch 32 on an H100: benchmarks/RESULTS.md)."""

UNSUPERVISED_K = 8
"""K attribute branches for datasets without attribute labels (retrieval), unless set."""


class ConfigError(ValueError):
    """A config value that is out of range or unknown; the message names the field."""


ROLES: tuple[str, ...] = ("setting", "speed", "place", "seed")
"""What a RunConfig field is to a run, declared once on the field (:func:`fields_with_role`):

- ``setting``: changes what the run computes (the default): part of a trial's identity and of
  its configuration;
- ``speed``: how fast it runs, not what it computes (same numbers either way);
- ``place``: where it runs or where its data lives (the data's fingerprint is in the identity,
  not its path);
- ``seed``: pairs runs: part of a trial's identity, never of a configuration.

A trial's identity (:data:`a3m.study.tracking.NOT_IDENTITY`) leaves out speed and place; a
configuration (:data:`a3m.study.runs.NOT_A_SETTING`) also leaves out the seed."""


def _field(
    default: Any,
    help: str,
    *,
    role: str = "setting",
    choices: Iterable[str] | Callable[[], Iterable[str]] | None = None,
    metavar: str | None = None,
) -> Any:
    """A RunConfig field with this default, described once: ``help`` says what it is and its
    valid range (the ``a3m train`` flag's help, :func:`field_help`), ``role`` is one of
    :data:`ROLES`, ``choices`` its valid values (or a function returning them, read when
    used: :func:`field_choices`, which :meth:`RunConfig.validate` checks), ``metavar`` the
    flag's value placeholder."""
    if role not in ROLES:
        raise ValueError(f"unknown field role {role!r}; valid: {', '.join(ROLES)}")
    metadata = {"role": role, "help": help, "choices": choices, "metavar": metavar}
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class RunConfig:
    """Everything one training run depends on. Zero/empty values mean "from the dataset".

    Each field is declared with :func:`_field`: its help text (the ``a3m train`` flag's), its
    role (:data:`ROLES`) and, where it has them, its valid values."""

    # data
    dataset: str = _field("cub", "the dataset (a3m.data.registry), with its task, splits and "
                          "protocol", choices=dataset_names, metavar="NAME")  # fmt: skip
    data_root: str = _field(
        "", "your copy of the dataset, laid out as its public release unpacks (check it with "
        "`a3m data check`); empty with synthetic", role="place", metavar="DIR",
    )  # fmt: skip
    synthetic: bool = _field(False, "generate (or reuse) a small synthetic copy in the "
                             "dataset's public format instead of data_root")  # fmt: skip
    synthetic_cache: str = _field(
        "", "folder where synthetic copies are cached (empty: $A3M_SYNTHETIC_DIR, else "
        "~/.cache/a3m/synthetic)", role="place", metavar="DIR",
    )  # fmt: skip
    bbox_crop: bool = _field(True, "crop each image to its object box where the release has "
                             "boxes (CUB, CompCars, CARS196; the paper: CUB)")  # fmt: skip
    input_size: tuple[int, ...] = _field(
        (), "network input, HEIGHTxWIDTH in pixels; empty: the dataset's (Sec. 4.2: 224x224 "
        "for CUB and CARS196, 448x224 for Market-1501, 448x448 for CompCars)", metavar="HxW",
    )  # fmt: skip
    val_fraction: float = _field(
        0.0, "share of the training split, in [0, 0.5], held out (seeded, stratified by class) "
        "to pick the best epoch and model_best.pt; 0: no selection (the datasets have no "
        "validation split, and the test split only reports). a3m.data.training.holdout_split",
        metavar="F",
    )  # fmt: skip
    attr_label_noise: float = _field(
        0.0, "positive control: share of training images, in [0, 1], whose attribute labels are "
        "those of another training image (seeded); evaluation keeps the true ones", metavar="F",
    )  # fmt: skip
    label_noise: float = _field(
        0.0, "positive control: share of training images, in [0, 1], whose category label is "
        "another training image's (seeded): a model broken on purpose, which a comparison "
        "must find worse", metavar="F",
    )  # fmt: skip
    # model
    variant: str = _field("a3m", "the model, by the name of its ablation in the paper "
                          "(a3m.models.VARIANTS, README: The model), or one a plugin "
                          "registered (plugins)", choices=variant_names,
                          metavar="NAME")  # fmt: skip
    backbone: str = _field("resnet50", "the shared CNN, a torchvision network cut to its last "
                           "conv map (googlenet stands in for InceptionBN; tiny: a small one "
                           "for tests, without pretrained weights), timm:MODEL (timm "
                           "installed), or one a plugin registered (plugins)",
                           choices=backbone_names, metavar="NAME")  # fmt: skip
    pretrained: bool = _field(False, "start the backbone from torchvision's ImageNet "
                              "weights (downloaded on first use; every study sets it on "
                              "real data)")  # fmt: skip
    weights_path: str = _field("", "a local torchvision state-dict file for the backbone "
                               "(overrides pretrained); empty: none", metavar="FILE")  # fmt: skip
    plugins: str = _field(
        "", "modules of yours that register variants or backbones "
        "(a3m.models.register_variant, register_backbone), imported first in every process "
        "that reads the config; a study adds those its script imported; empty: none",
        role="place", metavar="MODULE,...",
    )  # fmt: skip
    d: int = _field(512, "the heads' feature dimension d, > 0", metavar="N")
    num_classes: int = _field(0, "category count, >= 0; 0: the dataset's (a set value must "
                              "agree with it)", metavar="N")  # fmt: skip
    attribute_classes: tuple[int, ...] = _field(
        (), "class count per attribute, each >= 2, as N,N,...; empty: the dataset's (a set "
        "value must agree with it; none for retrieval)", metavar="N,N,...",
    )  # fmt: skip
    num_attributes: int = _field(
        0, f"K, the attribute branches, >= 0; 0: the dataset's attribute count, or "
        f"{UNSUPERVISED_K} for datasets without attribute labels (retrieval)", metavar="K",
    )  # fmt: skip
    attr_pooling: str = _field("avg", "how the attribute branches pool their conv map",
                               choices=ATTR_POOLINGS)  # fmt: skip
    # the authors'-code switches (a3m.models.AuthorsCode, whose fields build_model copies by
    # name), all off = the paper; what each changes:
    # docs/reproduction.md, "Paper vs the authors' code"
    branch_bn_relu: bool = _field(False, "authors' code: BN and ReLU after each branch's "
                                  "1x1 convolution, then BN, ReLU, dropout on the pooled "
                                  "vector")  # fmt: skip
    merge_mean_bn: bool = _field(False, "authors' code: m_region = sigmoid(BN(mean_k V a_k)) "
                                 "instead of max_k sigmoid(V a_k)")  # fmt: skip
    attention_bn: bool = _field(False, "authors' code: s = sigmoid(BN(A v_cat)) instead of "
                                "sigmoid(A v_cat)")  # fmt: skip
    fused_bn: bool = _field(False, "authors' code: f_region and f_attr each batch-normalised "
                            "before they are summed")  # fmt: skip
    concat_final: bool = _field(False, "authors' code: f_final = Dropout(ReLU([f_region, "
                                "f_attr])), dimension 2d, instead of their sum")  # fmt: skip
    dropout: float = _field(0.5, "dropout rate of the authors'-code switches, in [0, 1)",
                            metavar="P")  # fmt: skip
    # loss (11)
    alpha: float = _field(0.5, "weight of the category loss in eq. (11), >= 0", metavar="W")
    beta: float = _field(0.5, "weight of the mean attribute loss in eq. (11), >= 0",
                         metavar="W")  # fmt: skip
    # optimisation
    epochs: int = _field(60, "training epochs, > 0", metavar="N")
    batch_size: int = _field(32, "training batch, > 0", metavar="N")
    optimizer: str = _field("sgd", "the optimiser", choices=OPTIMIZERS)
    lr: float = _field(1e-3, "learning rate, > 0", metavar="LR")
    momentum: float = _field(0.9, "SGD momentum, >= 0", metavar="M")
    nesterov: bool = _field(False, "Nesterov momentum (the authors' code)")
    weight_decay: float = _field(5e-4, "weight decay, >= 0", metavar="W")
    schedule: str = _field("step", "learning-rate schedule: step (lr, then lr x "
                           "lr_drop_factor for the last lr_drop_epochs) or cosine (from lr "
                           "to 0)", choices=SCHEDULES)  # fmt: skip
    lr_drop_epochs: int = _field(10, "step schedule: the last N epochs run at lr x "
                                 "lr_drop_factor, >= 0", metavar="N")  # fmt: skip
    lr_drop_factor: float = _field(0.1, "step schedule: the factor of the last epochs' lr, in "
                                   "(0, 1]", metavar="F")  # fmt: skip
    # evaluation and runtime
    eval_every: int = _field(1, "evaluate every N epochs (and at the last), > 0", metavar="N")
    distance: str = _field("euclidean", "distance between embeddings (re-id, retrieval)",
                           choices=DISTANCES)  # fmt: skip
    ap_mode: str = _field(
        "official", "re-id AP definition (a3m.metrics.AP_MODES): official = Market-1501's "
        "compute_AP.m, as in the paper's Table 1; torchreid = torchreid / fast-reid (never "
        "lower)", choices=tuple(AP_MODES),
    )  # fmt: skip
    seed: int = _field(0, "seed of initialisation, data order and augmentation: runs on one "
                       "seed are paired", role="seed", metavar="N")  # fmt: skip
    device: str = _field("auto", "where it trains (auto: CUDA when there is one)",
                         role="place", choices=DEVICES)  # fmt: skip
    num_workers: int = _field(-1, "DataLoader workers, >= 0; -1: auto "
                              "(a3m.loaders.resolve_num_workers)", role="speed",
                              metavar="N")  # fmt: skip
    amp: bool = _field(True, "bf16 autocast on CUDA")
    channels_last: bool = _field(True, "channels-last memory format on CUDA", role="speed")
    compile: bool = _field(False, "torch.compile the model", role="speed")
    compile_mode: str = _field("default", "torch.compile's mode when compile is on",
                               role="speed", choices=COMPILE_MODES)  # fmt: skip
    eval_batch_size: int = _field(
        0, "evaluation batch, >= 0; 0: batch_size. The model is in eval mode (no batch "
        "statistics), so the batch changes how fast it goes, not what it computes",
        role="speed", metavar="N",
    )  # fmt: skip
    image_cache: str = _field(
        "auto", "decoded images (docs/cache.md): auto = read the split's cache from "
        "A3M_IMAGE_CACHE or ~/.cache/a3m/images when `a3m data cache` wrote one for this data, "
        "off = always decode the files, or a folder of caches; same pixels either way",
        role="speed", metavar="auto|off|DIR",
    )  # fmt: skip
    augment_on: str = _field(
        "loader", "where the training crop and flip run: loader (the DataLoader's workers) or "
        "device (batched after the host-to-device copy; needs an image cache); the same "
        "pixels either way", role="speed", choices=AUGMENT_ON,
    )  # fmt: skip
    # label is a setting: keeping its runs apart (identity and configuration) is what it is for.
    label: str = _field(
        "", "a name for the run that changes nothing it computes: two labels of one "
        "configuration are an A/A control (studies/controls.py), or a repeat kept apart from "
        "the first", metavar="TEXT",
    )  # fmt: skip

    def __post_init__(self) -> None:
        try:  # first: they register the variants and backbones the checks below look up
            import_plugins(self.plugins)
        except PluginError as err:
            raise ConfigError(str(err)) from None
        if is_manifest_name(self.dataset):
            # your own data, named by its card's absolute path: every process (a Ray trial in
            # its own folder) reads the same card
            try:
                object.__setattr__(self, "dataset", canonical_name(self.dataset))
            except (OSError, ValueError) as err:
                raise ConfigError(f"dataset={self.dataset!r}: {err}") from None
        self.validate()

    @property
    def task(self) -> str:
        """``"classification"``, ``"reid"`` or ``"retrieval"``: the dataset's, from the registry."""
        return get_entry(self.dataset).task

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first field that is out of range."""
        try:  # an entry point's variant or backbone, or a timm model, is found here
            find_variant(self.variant), find_backbone(self.backbone)
        except ValueError as err:  # one that does not load, a model timm lacks: why, in words
            raise ConfigError(str(err)) from None
        for f in dataclasses.fields(self):  # the fields with choices, in their order
            if f.metadata["choices"] is not None:
                _choice(f.name, getattr(self, f.name), field_choices(f.name))
        if self.synthetic and get_entry(self.dataset).synthetic is None:
            raise ConfigError(
                f"synthetic=True, but dataset {self.dataset!r} is your own data (a manifest), "
                "which has no synthetic copy"
            )
        for f in dataclasses.fields(self):  # NaN and inf pass every range check below
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"{f.name} must be a finite number, got {value}")
        if self.backbone == "tiny" and (self.pretrained or self.weights_path):
            raise ConfigError(
                "backbone 'tiny' has no pretrained weights: set pretrained false "
                "(--no-pretrained, --set pretrained=false) or another backbone"
            )
        if not self.image_cache.strip():
            raise ConfigError("image_cache must be 'auto', 'off' or a folder of caches, got ''")
        if self.augment_on == "device" and self.image_cache == "off":
            raise ConfigError(
                "augment_on='device' crops and flips the cached images on the device: it needs "
                "image_cache 'auto' or a folder, got 'off'"
            )
        for name in ("alpha", "beta", "weight_decay", "momentum", "num_classes"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.eval_batch_size < 0:
            raise ConfigError(
                f"eval_batch_size must be > 0, or 0 for batch_size, got {self.eval_batch_size}"
            )
        if self.num_workers < -1:
            raise ConfigError(f"num_workers must be >= 0, or -1 for auto, got {self.num_workers}")
        for name in ("d", "epochs", "batch_size", "eval_every", "lr"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        if not 0 <= self.val_fraction <= 0.5:
            raise ConfigError(f"val_fraction must be in [0, 0.5], got {self.val_fraction}")
        if not 0 <= self.label_noise <= 1:
            raise ConfigError(f"label_noise must be in [0, 1], got {self.label_noise}")
        if not 0 <= self.attr_label_noise <= 1:
            raise ConfigError(f"attr_label_noise must be in [0, 1], got {self.attr_label_noise}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        if not 0 < self.lr_drop_factor <= 1:
            raise ConfigError(f"lr_drop_factor must be in (0, 1], got {self.lr_drop_factor}")
        if self.lr_drop_epochs < 0:
            raise ConfigError(f"lr_drop_epochs must be >= 0, got {self.lr_drop_epochs}")
        if self.input_size and (len(self.input_size) != 2 or min(self.input_size) < 1):
            raise ConfigError(
                f"input_size must be (height, width) in pixels, got {self.input_size}"
            )
        bad = [c for c in self.attribute_classes if c < 2]
        if bad:
            raise ConfigError(
                f"attribute_classes must list a class count >= 2 per attribute, got "
                f"{list(self.attribute_classes)}"
            )
        if self.attribute_classes and self.num_attributes not in (0, len(self.attribute_classes)):
            raise ConfigError(
                f"num_attributes={self.num_attributes} but attribute_classes lists "
                f"{len(self.attribute_classes)} attributes"
            )
        if self.task == "retrieval" and self.attribute_classes:
            raise ConfigError(
                f"dataset {self.dataset!r} is a retrieval task without attribute labels; "
                "set num_attributes (K), not attribute_classes"
            )
        if self.task == "retrieval" and self.attr_label_noise:
            raise ConfigError(
                f"attr_label_noise={self.attr_label_noise} but dataset {self.dataset!r} is a "
                "retrieval task without attribute labels to shuffle"
            )
        if self.num_attributes < 0:
            raise ConfigError(f"num_attributes must be >= 0, got {self.num_attributes}")

    def replace(self, **changes: Any) -> RunConfig:
        """A copy with some fields changed (validated)."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise ConfigError(f"unknown config field(s) {unknown}; see RunConfig")
        return dataclasses.replace(self, **changes)

    def resolve(
        self,
        num_classes: int,
        attribute_classes: tuple[int, ...],
        input_size: tuple[int, int],
    ) -> RunConfig:
        """Fill the "from the dataset" fields from what the dataset says it has.

        Explicitly set values must agree with the dataset; a mismatch is an error naming both.
        """
        changes: dict[str, Any] = {}
        if self.num_classes and self.num_classes != num_classes:
            raise ConfigError(
                f"num_classes={self.num_classes} but dataset {self.dataset!r} has {num_classes}"
            )
        changes["num_classes"] = num_classes
        if attribute_classes:
            if self.attribute_classes and tuple(self.attribute_classes) != tuple(attribute_classes):
                raise ConfigError(
                    f"attribute_classes={list(self.attribute_classes)} but dataset "
                    f"{self.dataset!r} has {list(attribute_classes)}"
                )
            changes["attribute_classes"] = tuple(attribute_classes)
            changes["num_attributes"] = len(attribute_classes)
        elif not self.num_attributes:
            changes["num_attributes"] = UNSUPERVISED_K
        if not self.input_size:
            changes["input_size"] = tuple(input_size)
        return self.replace(**changes)

    # -- flat dict round trip -------------------------------------------------------------
    def to_flat_dict(self) -> dict[str, str | int | float | bool]:
        """Plain values only: tuples become "a,b,c" strings (MLflow params, Tune configs)."""
        flat: dict[str, str | int | float | bool] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            flat[f.name] = ",".join(str(v) for v in value) if isinstance(value, tuple) else value
        return flat

    @classmethod
    def from_flat_dict(cls, flat: dict[str, Any], *, strict: bool = True) -> RunConfig:
        """Inverse of :meth:`to_flat_dict`; also accepts every value as a string (MLflow).

        Args:
            strict: raise on keys that are not fields; otherwise ignore them.
        """
        hints = typing.get_type_hints(cls)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(flat) - names)
        if unknown and strict:
            raise ConfigError(f"unknown config field(s) {unknown}; valid: {sorted(names)}")
        kwargs = {k: _parse(k, hints[k], v) for k, v in flat.items() if k in names}
        return cls(**kwargs)

    def to_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_flat_dict(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def from_json(cls, path: str | Path) -> RunConfig:
        return cls.from_flat_dict(json.loads(Path(path).read_text()))


def field_role(name: str) -> str:
    """The role (:data:`ROLES`) of the RunConfig field ``name``."""
    for f in dataclasses.fields(RunConfig):
        if f.name == name:
            return _role(f)
    raise ConfigError(f"unknown config field {name!r}; see RunConfig")


def field_help(name: str) -> str:
    """What the RunConfig field ``name`` is and its valid range, as declared on it (the
    ``a3m train`` flag's help; its choices and default are :func:`field_choices` and the
    field's)."""
    return _metadata(name)["help"]


def field_choices(name: str) -> tuple[str, ...]:
    """The valid values of the RunConfig field ``name``; () when any value of its type is."""
    choices = _metadata(name)["choices"]
    if choices is None:
        return ()
    values = choices() if callable(choices) else choices
    # a tuple as it is: dataset_names()'s also holds manifest:PATH names (your own data)
    return values if isinstance(values, tuple) else tuple(values)


def field_metavar(name: str) -> str | None:
    """The placeholder of the field's value in ``a3m train --help`` (None: argparse's)."""
    return _metadata(name)["metavar"]


def _metadata(name: str) -> dict[str, Any]:
    for f in dataclasses.fields(RunConfig):
        if f.name == name:
            return dict(f.metadata)
    raise ConfigError(f"unknown config field {name!r}; see RunConfig")


def fields_with_role(*roles: str) -> frozenset[str]:
    """The names of the RunConfig fields whose role is one of ``roles`` (:data:`ROLES`)."""
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise ValueError(f"unknown field role(s) {unknown}; valid: {', '.join(ROLES)}")
    return frozenset(f.name for f in dataclasses.fields(RunConfig) if _role(f) in roles)


def _role(f: dataclasses.Field) -> str:
    return f.metadata.get("role", "setting")


def _choice(name: str, value: str, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise ConfigError(f"{name}={value!r} is not known; valid: {', '.join(valid)}")


def _parse(name: str, tp: Any, value: Any) -> Any:
    """Convert a flat value (possibly a string) to the field's declared type."""
    origin = typing.get_origin(tp)
    try:
        if origin is tuple:
            if isinstance(value, (tuple, list)):
                return tuple(int(v) for v in value)
            text = str(value).strip().strip("()[]")
            return tuple(int(v) for v in text.replace("x", ",").split(",") if v.strip())
        if tp is bool:
            if isinstance(value, str):
                if value.lower() in ("true", "1", "yes"):
                    return True
                if value.lower() in ("false", "0", "no", ""):
                    return False
                raise ValueError(value)
            return bool(value)
        if tp is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(float(value)) if isinstance(value, str) else int(value)
        if tp is float:
            return float(value)
        if tp is str:
            return str(value)
        if origin in (types.UnionType, typing.Union):
            return value
    except (TypeError, ValueError, OverflowError):  # int("inf") overflows
        raise ConfigError(
            f"{name}={value!r} is not a valid {getattr(tp, '__name__', tp)}"
        ) from None
    return value
