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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from a3m import metrics
from a3m.data.registry import dataset_names, get_entry
from a3m.metrics import AP_MODES
from a3m.models import ATTR_POOLINGS, VARIANTS
from a3m.models.backbones import BACKBONES

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


def _field(default: Any, *, role: str) -> Any:
    """A RunConfig field of ``role`` (one of :data:`ROLES`) with this default."""
    if role not in ROLES:
        raise ValueError(f"unknown field role {role!r}; valid: {', '.join(ROLES)}")
    return dataclasses.field(default=default, metadata={"role": role})


@dataclass(frozen=True)
class RunConfig:
    """Everything one training run depends on. Zero/empty values mean "from the dataset".

    Each field's role (:data:`ROLES`) is declared on it with :func:`_field`; a plain default
    is a ``setting``."""

    # data
    dataset: str = "cub"
    # your copy of the public release (empty with synthetic=True)
    data_root: str = _field("", role="place")
    synthetic: bool = False  # generate (or reuse) a synthetic copy in the public format
    # where synthetic copies are cached ("" = a3m.data.synthetic.synthetic_cache()'s default)
    synthetic_cache: str = _field("", role="place")
    bbox_crop: bool = True  # crop to the object box where the dataset has one (paper: CUB)
    input_size: tuple[int, ...] = ()  # (h, w); () = the dataset's default (Sec. 4.2)
    # Share of the training split held out (seeded, stratified by class) to pick the best epoch
    # and model_best.pt; 0 = no selection (the datasets have no validation split; the test
    # split is reported, so it must not select). a3m.data.training.holdout_split
    val_fraction: float = 0.0
    # Positive control: share of training images whose attribute labels are those of another
    # training image (seeded); evaluation keeps the true ones. a3m.data.training
    attr_label_noise: float = 0.0
    # Positive control: share of training images whose category label is another training
    # image's (seeded): a model broken on purpose, which a comparison must find worse.
    label_noise: float = 0.0
    # model
    variant: str = "a3m"
    backbone: str = "resnet50"
    pretrained: bool = False  # torchvision ImageNet weights
    weights_path: str = ""  # local torchvision state-dict file (overrides pretrained)
    d: int = 512
    num_classes: int = 0
    attribute_classes: tuple[int, ...] = ()
    num_attributes: int = 0  # K; for datasets without attribute labels, UNSUPERVISED_K
    attr_pooling: str = "avg"
    # the authors'-code switches (a3m.models.AuthorsCode, whose fields build_model copies by
    # name), all off = the paper; what each changes:
    # docs/reproduction.md, "Paper vs the authors' code"
    branch_bn_relu: bool = False
    merge_mean_bn: bool = False
    attention_bn: bool = False
    fused_bn: bool = False
    concat_final: bool = False
    dropout: float = 0.5
    # loss (11)
    alpha: float = 0.5
    beta: float = 0.5
    # optimisation
    epochs: int = 60
    batch_size: int = 32
    optimizer: str = "sgd"
    lr: float = 1e-3
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 5e-4
    schedule: str = "step"
    lr_drop_epochs: int = 10  # step schedule: the last N epochs run at lr * lr_drop_factor
    lr_drop_factor: float = 0.1
    # evaluation and runtime
    eval_every: int = 1
    distance: str = "euclidean"
    # re-id AP definition (a3m.metrics.AP_MODES): "official" = Market-1501's compute_AP.m, as
    # in the paper's Table 1; "torchreid" = torchreid / fast-reid (never lower).
    ap_mode: str = "official"
    seed: int = _field(0, role="seed")
    device: str = _field("auto", role="place")
    # DataLoader workers; -1 = auto (a3m.train.resolve_num_workers)
    num_workers: int = _field(-1, role="speed")
    amp: bool = True  # bf16 autocast on CUDA
    channels_last: bool = _field(True, role="speed")  # on CUDA
    compile: bool = _field(False, role="speed")
    # torch.compile's mode when compile is on (COMPILE_MODES)
    compile_mode: str = _field("default", role="speed")
    # Evaluation batch; 0 = batch_size. The model is in eval mode (no batch statistics), so the
    # batch changes how fast it goes, not what it computes; a short step (batch 32 on a GPU)
    # leaves the GPU waiting for kernel launches, which a larger batch amortises.
    eval_batch_size: int = _field(0, role="speed")
    # Decoded images (docs/cache.md): "auto" = read the split's cache from A3M_IMAGE_CACHE or
    # ~/.cache/a3m/images when `a3m data cache` wrote one for this data, "off" = always decode
    # the files, or a folder of caches. Same pixels either way. a3m.data.cache.find_cache
    image_cache: str = _field("auto", role="speed")
    # Where the training crop and flip run: "loader" (the DataLoader's workers) or "device"
    # (batched after the host-to-device copy; needs an image cache). The same draws of the
    # same seeded stream, so the same pixels either way. a3m.data.device_augment
    augment_on: str = _field("loader", role="speed")
    # A name for the run that changes nothing it computes: two labels of one configuration are
    # an A/A control (studies/controls.py), or a repeat kept apart from the first: a setting,
    # since keeping its runs apart (identity and configuration) is what it is for.
    label: str = ""

    def __post_init__(self) -> None:
        self.validate()

    @property
    def task(self) -> str:
        """``"classification"``, ``"reid"`` or ``"retrieval"``: the dataset's, from the registry."""
        return get_entry(self.dataset).task

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first field that is out of range."""
        _choice("dataset", self.dataset, dataset_names())
        _choice("variant", self.variant, VARIANTS)
        _choice("backbone", self.backbone, BACKBONES)
        _choice("attr_pooling", self.attr_pooling, ATTR_POOLINGS)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("schedule", self.schedule, SCHEDULES)
        _choice("distance", self.distance, DISTANCES)
        _choice("ap_mode", self.ap_mode, tuple(AP_MODES))
        _choice("device", self.device, DEVICES)
        _choice("augment_on", self.augment_on, AUGMENT_ON)
        _choice("compile_mode", self.compile_mode, COMPILE_MODES)
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
