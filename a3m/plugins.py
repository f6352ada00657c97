"""Variants and backbones from outside the package: your module registers them, every process
that builds a model finds them.

A module of yours registers a variant or a backbone with a call
(:func:`a3m.models.register_variant`, :func:`a3m.models.register_backbone`); a run finds it
in one of two ways:

- **the config names the module**: ``RunConfig.plugins`` (``--plugins my_pkg.variants`` or
  ``--set plugins=my_pkg.variants``; comma-separated) is imported by every RunConfig before it
  checks its names. A study script that imports your module needs nothing more: the study adds
  every module outside ``a3m`` that registered something in its driver to the trials' shared
  settings (:func:`with_plugins`);
- **an entry point**: a distribution you pip-install declares the module under the group
  :data:`VARIANTS_GROUP` or :data:`BACKBONES_GROUP`, named as the variant or the backbone
  (``[project.entry-points."a3m.variants"] my_a3m = "my_pkg.variants"``); a name not
  registered is looked up there and its module imported, in whatever process asks.

Why the config carries module names rather than Ray's ``runtime_env`` (``py_modules``,
``working_dir``): a Ray worker is a process of its own that imports ``a3m`` afresh, so a variant
registered by a call in the study's driver does not exist there, and the trial's config is
what reaches every process that builds the model: the trial's worker on a local Ray and on a
cluster (``--address``, ``ray job submit``), a retried or restored trial, the checkpoint that
``a3m train --resume`` reads, the driver's model check. It is also logged, as the run's
``plugins`` param. Shipping the code is another matter, which Ray and pip already do: a
``runtime_env`` given by the study's ``ray.init`` would clash with the one ``ray job submit``
gives the job and would not reach ``a3m train``. The module need only be importable where
trials run: on a local Ray, from the driver's working directory or the study script's folder
(Ray puts both on its workers' path); on a cluster, from the job's ``--working-dir`` (on every
worker's path), its ``--runtime-env-json '{"py_modules": [...]}'``, or a pip install on the
nodes.

The run records which code made it: the module that registered its variant and its backbone
(:data:`VARIANT_MODULE_TAG`, :data:`BACKBONE_MODULE_TAG`) and, for modules outside ``a3m``, a
fingerprint of their source as imported (:data:`PLUGIN_CODE_TAG`; timm's version for
``timm:`` backbones). ``a3m.code`` covers ``a3m`` and these modules together
(:func:`a3m.provenance.code_fingerprint`).
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from a3m.config import RunConfig

VARIANTS_GROUP = "a3m.variants"
"""Entry points naming the module that registers a variant (entry point name = variant name)."""
BACKBONES_GROUP = "a3m.backbones"
"""Entry points naming the module that registers a backbone (entry point name = backbone)."""

VARIANT_MODULE_TAG = "a3m.variant_module"
"""The module that registered the run's variant (``a3m.models.registry`` for the paper's)."""
BACKBONE_MODULE_TAG = "a3m.backbone_module"
"""The module that registered the run's backbone (``a3m.models.backbones`` for the built-in
ones, ``timm`` for ``timm:<model>``)."""
PLUGIN_CODE_TAG = "a3m.plugin_code"
"""``module@fingerprint`` of each module outside ``a3m`` the run's model comes from (the sha256
of its source as imported, as :func:`a3m.provenance.source_fingerprint`; ``timm@<version>``),
comma-separated; absent when the model is all ``a3m``'s."""

OWN_PACKAGE = "a3m"
MAIN = "__main__"

_CODE: dict[str, str] = {}  # module -> fingerprint of its source when it registered


class PluginError(ValueError):
    """A plugin module or entry point that cannot be imported; the message is one line naming
    it."""


def split_modules(modules: str | Iterable[str]) -> tuple[str, ...]:
    """``"a.b, c"`` (``RunConfig.plugins``) or an iterable of names -> ``("a.b", "c")``, in
    order, without repeats or blanks."""
    names = modules.split(",") if isinstance(modules, str) else modules
    return tuple(dict.fromkeys(n.strip() for n in names if n.strip()))


def import_plugins(modules: str | Iterable[str]) -> None:
    """Import each plugin module (importing one twice does nothing).

    Raises:
        PluginError: a module that is not found or fails to import, named with the reason.
    """
    for name in split_modules(modules):
        if name == MAIN:
            raise PluginError(
                "plugin module '__main__' (a study script) cannot be imported by another "
                "process: move the registration into a module the script imports"
            )
        try:
            importlib.import_module(name)
        except Exception as err:  # anything its code raises: one line, naming it
            why = str(err).strip().splitlines()[0] if str(err).strip() else ""
            raise PluginError(
                f"plugin module {name!r} cannot be imported: {type(err).__name__}: {why} "
                "(a Ray cluster's workers import what the job's --working-dir or py_modules "
                "ship, or what is pip-installed on the nodes)"
            ) from None


@functools.cache
def entry_points_of(group: str) -> Mapping[str, EntryPoint]:
    """The entry points of ``group`` installed in this environment, by name (read once per
    process; ``entry_points_of.cache_clear()`` reads them again)."""
    return {ep.name: ep for ep in entry_points(group=group)}


def load_entry_point(group: str, name: str) -> bool:
    """Import the module the entry point ``name`` of ``group`` names (its import registers the
    name); False when there is none.

    Raises:
        PluginError: the entry point does not load, naming it, its value and the reason.
    """
    found = entry_points_of(group).get(name)
    if found is None:
        return False
    try:
        found.load()
    except Exception as err:
        raise PluginError(
            f"entry point {name} = {found.value} (group {group}) does not load: "
            f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err) else ''}"
        ) from None
    return True


def caller_module(depth: int = 2) -> str:
    """The ``__name__`` of the module whose code called the function that calls this one
    (``depth`` frames up): the module a registration is recorded under."""
    frame = sys._getframe(depth)
    return str(frame.f_globals.get("__name__", MAIN))


def note_module(module: str) -> None:
    """Remember the fingerprint of ``module``'s source as it is now (called when it registers
    something, i.e. while it is imported), for :data:`PLUGIN_CODE_TAG`."""
    if module.split(".")[0] == OWN_PACKAGE or module in _CODE:
        return
    from a3m.provenance import source_fingerprint

    path = getattr(sys.modules.get(module), "__file__", None)
    if not path:
        _CODE[module] = "unknown"
        return
    file = Path(path)
    if file.name == "__init__.py":  # a package: every file of it
        _CODE[module] = source_fingerprint(file.parent, ["."])
    else:
        _CODE[module] = source_fingerprint(file.parent, [file.name])


def outside_modules() -> tuple[str, ...]:
    """The modules outside ``a3m`` that registered a variant, a backbone or a dataset in this
    process (``timm:`` backbones aside: every process finds those by their name), in order of
    registration."""
    from a3m.data.registry import registered_dataset_modules
    from a3m.models.backbones import registered_backbone_modules
    from a3m.models.registry import registered_variants

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
    from a3m.models.backbones import backbone_module
    from a3m.models.registry import get_variant

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
    return f"{module}@{_CODE.get(module, 'unknown')}"


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
    from a3m.models.backbones import backbone_problem
    from a3m.models.registry import variant_problem

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
