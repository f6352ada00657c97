"""Variants and backbones from outside the package: your module registers them, every process
that builds a model finds them. This module is the mechanics of it, below the registries.

A module of yours registers a variant or a backbone with a call
(:func:`a3m.models.register_variant`, :func:`a3m.models.register_backbone`); a run finds it
in one of two ways:

- **the config names the module**: ``RunConfig.plugins`` (``--plugins my_pkg.variants`` or
  ``--set plugins=my_pkg.variants``; comma-separated) is imported by every RunConfig before it
  checks its names (:func:`import_plugins`). A study script that imports your module needs
  nothing more: the study adds every module outside ``a3m`` that registered something in its
  driver to the trials' shared settings (:func:`a3m.plugin_code.with_plugins`);
- **an entry point**: a distribution you pip-install declares the module under the group
  :data:`VARIANTS_GROUP` or :data:`BACKBONES_GROUP`, named as the variant or the backbone
  (``[project.entry-points."a3m.variants"] my_a3m = "my_pkg.variants"``); a name not
  registered is looked up there and its module imported, in whatever process asks
  (:func:`load_entry_point`).

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
and, for modules outside ``a3m``, a fingerprint of their source as imported (timm's version for
``timm:`` backbones; the tags: :func:`a3m.plugin_code.plugin_tags`). A registry takes both
here, as the module registers (:func:`caller_module`, :func:`note_module`). ``a3m.code`` covers
``a3m`` and these modules together (:func:`a3m.provenance.code_fingerprint`).

Imports point one way: this module imports nothing of ``a3m`` but the hashing of files
(:mod:`a3m.code_files`); the registries (:mod:`a3m.models.registry`,
:mod:`a3m.models.backbones`, :mod:`a3m.data.registry`) import it; :mod:`a3m.config` imports
both; and what asks the registries which code from outside a process holds (the modules a
study carries to its trials, the run's tags, the part of ``a3m.code`` that is not ``a3m``'s,
``a3m train``'s early import of ``--plugins``) is :mod:`a3m.plugin_code`, above them all.
"""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Iterable, Mapping
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

from a3m.code_files import source_fingerprint

VARIANTS_GROUP = "a3m.variants"
"""Entry points naming the module that registers a variant (entry point name = variant name)."""
BACKBONES_GROUP = "a3m.backbones"
"""Entry points naming the module that registers a backbone (entry point name = backbone)."""

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
    something, i.e. while it is imported), for :data:`a3m.plugin_code.PLUGIN_CODE_TAG`."""
    if module.split(".")[0] == OWN_PACKAGE or module in _CODE:
        return
    path = getattr(sys.modules.get(module), "__file__", None)
    if not path:
        _CODE[module] = "unknown"
        return
    file = Path(path)
    if file.name == "__init__.py":  # a package: every file of it
        _CODE[module] = source_fingerprint(file.parent, ["."])
    else:
        _CODE[module] = source_fingerprint(file.parent, [file.name])


def noted_fingerprint(module: str) -> str:
    """The fingerprint :func:`note_module` took of ``module``'s source; ``"unknown"`` where it
    took none."""
    return _CODE.get(module, "unknown")
