"""Which code from outside ``a3m`` this process holds, asked of the registries: the modules a
study carries to its trials' workers (:func:`with_plugins`), the tags that say which code made
a run's model (:func:`plugin_tags`), the part of ``a3m.code`` that is not ``a3m``'s
(:func:`outside_codes`, which :func:`a3m.provenance.code_fingerprint` folds in), and ``a3m
train``'s import of ``--plugins`` before its parser checks the names
(:func:`preload_train_plugins`).

How a module of yours registers and how every process finds it: :mod:`a3m.plugins`, the
mechanics below the registries. This module sits above them and above :mod:`a3m.config`;
nothing under it imports it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from a3m.data.registry import registered_dataset_modules
from a3m.models.backbones import backbone_module, backbone_problem, registered_backbone_modules
from a3m.models.registry import get_variant, registered_variants, variant_problem
from a3m.plugins import (
    MAIN,
    OWN_PACKAGE,
    PluginError,
    import_plugins,
    noted_fingerprint,
    split_modules,
)

if TYPE_CHECKING:
    from a3m.config import RunConfig

VARIANT_MODULE_TAG = "a3m.variant_module"
"""The module that registered the run's variant (``a3m.models.registry`` for the paper's)."""
BACKBONE_MODULE_TAG = "a3m.backbone_module"
"""The module that registered the run's backbone (``a3m.models.backbones`` for the built-in
ones, ``timm`` for ``timm:<model>``)."""
PLUGIN_CODE_TAG = "a3m.plugin_code"
"""``module@fingerprint`` of each module outside ``a3m`` the run's model comes from (the sha256
of its source as imported, as :func:`a3m.code_files.source_fingerprint`; ``timm@<version>``),
comma-separated; absent when the model is all ``a3m``'s."""


def outside_modules() -> tuple[str, ...]:
    """The modules outside ``a3m`` that registered a variant, a backbone or a dataset in this
    process (``timm:`` backbones aside: every process finds those by their name), in order of
    registration."""
    modules = [v.module for v in registered_variants().values()]
    modules += registered_backbone_modules() + registered_dataset_modules()
    return split_modules(m for m in modules if m.split(".")[0] not in (OWN_PACKAGE, "timm"))


def outside_codes() -> list[str]:
    """``module@fingerprint`` of each module of :func:`outside_modules`, sorted: the part of
    :func:`a3m.provenance.code_fingerprint` that is not ``a3m``'s."""
    return sorted(_code_of(module) for module in outside_modules())


def with_plugins(base: dict[str, Any]) -> dict[str, Any]:
    """A study's shared settings with ``plugins`` naming, after those it names already, every
    module of :func:`outside_modules`, so that each trial's worker imports them; ``base`` as it
    is when there are none.

    Raises:
        PluginError: a registration made in the study script itself (``__main__``), which no
            other process can import.
    """
    found = outside_modules()
    if MAIN in found:
        raise PluginError(
            "a variant, backbone or dataset is registered in the study script itself (__main__), "
            "which a Ray worker cannot import: move the register_variant/register_backbone/"
            "register_dataset call into a module the script imports"
        )
    modules = split_modules([*split_modules(str(base.get("plugins", ""))), *found])
    return {**base, "plugins": ",".join(modules)} if modules else base


def plugin_tags(cfg: RunConfig) -> dict[str, str]:
    """The tags that say which code made the run's model: :data:`VARIANT_MODULE_TAG`,
    :data:`BACKBONE_MODULE_TAG` and, where either is outside ``a3m``, :data:`PLUGIN_CODE_TAG`.
    Called in the process that trains (the module is what was registered there)."""
    variant, backbone = get_variant(cfg.variant).module, backbone_module(cfg.backbone)
    tags = {VARIANT_MODULE_TAG: variant, BACKBONE_MODULE_TAG: backbone}
    codes = [_code_of(m) for m in split_modules([variant, backbone])]
    codes = [c for c in codes if c]
    if codes:
        tags[PLUGIN_CODE_TAG] = ",".join(codes)
    return tags


def _code_of(module: str) -> str:
    if module.split(".")[0] == OWN_PACKAGE:
        return ""
    if module == "timm":
        import timm

        return f"timm@{timm.__version__}"
    return f"{module}@{noted_fingerprint(module)}"


def preload_train_plugins(argv: Sequence[str]) -> str | None:
    """For ``a3m train`` (``argv[0] == "train"``; nothing for other commands): import the
    modules of ``--plugins``, also from the current directory (as ``python -m`` would), and look
    up ``--variant`` and ``--backbone`` (an entry point's, a ``timm:`` model), before a parser
    whose choices list the registered names reads them (``a3m train --variant my_a3m
    --plugins my_pkg``).

    Returns:
        The first problem, in one line (a module that does not import, a name that is no
        variant or backbone), or None.
    """
    args = list(argv)
    if args[:1] != ["train"]:
        return None
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    values: dict[str, list[str]] = {"--plugins": [], "--variant": [], "--backbone": []}
    for i, arg in enumerate(args):
        flag, eq, value = arg.partition("=")
        if flag in values and (eq or i + 1 < len(args)):
            values[flag].append(value if eq else args[i + 1])
    try:
        for modules in values["--plugins"]:
            import_plugins(modules)
    except PluginError as err:
        return str(err)
    problems = [variant_problem(name) for name in values["--variant"]]
    problems += [backbone_problem(name) for name in values["--backbone"]]
    return next((p for p in problems if p), None)
