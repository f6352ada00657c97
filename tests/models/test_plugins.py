"""Variants and backbones from outside the package (issue 26): a user's module registers them
(tests/plugins/my_variant.py); a RunConfig naming the module in ``plugins``, or an entry point,
makes any process find them; what cannot be found is one line naming it. The study end to end
on a local Ray: tests/study/test_plugin_study.py."""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

import pytest
import torch

from a3m.config import ConfigError, RunConfig, field_choices
from a3m.models import backbone_names, build_model, create_backbone, variant_names
from a3m.models.registry import VARIANTS, get_variant, register_variant, registered_variants
from a3m.plugin_code import (
    BACKBONE_MODULE_TAG,
    PLUGIN_CODE_TAG,
    VARIANT_MODULE_TAG,
    plugin_tags,
    preload_train_plugins,
    with_plugins,
)
from a3m.plugins import PluginError
from a3m.provenance import source_fingerprint

ROOT = Path(__file__).resolve().parents[2]
MODULE = "tests.plugins.my_variant"
SMALL = {"dataset": "cub", "d": 8, "num_classes": 4, "attribute_classes": (2, 3)}


def test_a3m_never_imports_the_users_module():
    """What proves that a process knows the variant because it imported the module its config
    names: no source of a3m names tests.plugins."""
    for path in (ROOT / "a3m").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                assert "tests.plugins" not in node.value, path


def _a3m_imports(path: Path) -> set[str]:
    """The a3m modules ``path`` imports, at any depth (in functions and TYPE_CHECKING too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return {m for m in found if m.split(".")[0] == "a3m"}


def test_imports_point_one_way():
    """The mechanics (a3m/plugins.py) import nothing of a3m but the hashing of files; the
    registries and the config never import what asks them about outside code
    (a3m.plugin_code, and a3m.provenance, which folds it into a3m.code)."""
    a3m = ROOT / "a3m"
    assert _a3m_imports(a3m / "code_files.py") == set()
    assert _a3m_imports(a3m / "plugins.py") == {"a3m.code_files"}
    above = {"a3m.plugin_code", "a3m.provenance", "a3m.config"}
    for path in [*(a3m / "models").glob("*.py"), a3m / "data" / "registry.py"]:
        assert not _a3m_imports(path) & above, path
    assert not _a3m_imports(a3m / "config.py") & {"a3m.plugin_code", "a3m.provenance"}


def test_a_config_naming_the_module_builds_its_variant_and_backbone(own_plugins):
    assert "gain_a3m" not in variant_names() and "plugin_cnn" not in backbone_names()
    with pytest.raises(ConfigError, match="variant='gain_a3m' is not known; valid: baseline1"):
        RunConfig(**SMALL, variant="gain_a3m", backbone="tiny")
    cfg = RunConfig(**SMALL, variant="gain_a3m", backbone="plugin_cnn", plugins=MODULE)
    assert MODULE in sys.modules
    assert "gain_a3m" in field_choices("variant") and "plugin_cnn" in field_choices("backbone")
    model = build_model(cfg)
    assert type(model).__name__ == "GainA3M" and model.variant == "gain_a3m"
    assert model.region_attention and model.attribute_attention
    out = model(torch.zeros(2, 3, 32, 32))
    assert out.category_logits.shape == (2, 4)
    assert model.backbone.out_channels == 32 and model.backbone.spec.stride == 4
    # the other registration: the paper's network with switches of its own
    assert get_variant("att1_wo_attr").loss(beta=0.5).beta == 0.0
    assert RunConfig.from_flat_dict(cfg.to_flat_dict()) == cfg  # as a Ray trial reads it


def test_the_run_records_the_module_and_its_code(own_plugins):
    cfg = RunConfig(**SMALL, variant="gain_a3m", backbone="tiny", plugins=MODULE)
    file = ROOT / "tests" / "plugins" / "my_variant.py"
    assert plugin_tags(cfg) == {
        VARIANT_MODULE_TAG: MODULE,
        BACKBONE_MODULE_TAG: "a3m.models.backbones",
        PLUGIN_CODE_TAG: f"{MODULE}@{source_fingerprint(file.parent, [file.name])}",
    }
    assert plugin_tags(RunConfig(**SMALL, variant="a3m", backbone="tiny")) == {
        VARIANT_MODULE_TAG: "a3m.models.registry",
        BACKBONE_MODULE_TAG: "a3m.models.backbones",
    }


def test_a_study_carries_the_modules_its_script_imported(own_plugins):
    assert with_plugins({"d": 8}) == {"d": 8}  # nothing registered from outside: as it was
    importlib.import_module(MODULE)  # as the study script's `import my_variants`
    assert with_plugins({"d": 8}) == {"d": 8, "plugins": MODULE}
    assert with_plugins({"plugins": f"json, {MODULE}"})["plugins"] == f"json,{MODULE}"


def test_a_registration_in_the_script_itself_is_refused_for_a_study(own_plugins):
    register_variant("mine", region_attention=True, module="__main__")
    with pytest.raises(PluginError, match=r"study script itself \(__main__\)"):
        with_plugins({})


def test_names_are_not_taken_twice(own_plugins):
    with pytest.raises(ValueError, match="'a3m' is taken"):
        register_variant("a3m", region_attention=True)
    register_variant("mine", region_attention=True)
    register_variant("mine", attribute_attention=True)  # its own module, imported again
    with pytest.raises(ValueError, match=r"'mine' is taken \(registered by test_plugins\)"):
        register_variant("mine", module="other.module")
    with pytest.raises(ValueError, match="not A3M, Baseline1 or a subclass"):
        register_variant("linear", torch.nn.Linear)
    assert list(VARIANTS) == ["baseline1", "baseline2", "att1", "att2", "a3m_wo_attr", "a3m"]
    assert list(registered_variants())[-1] == "mine"


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"plugins": "no_such_module"}, "plugin module 'no_such_module' cannot be imported: "
         "ModuleNotFoundError: No module named 'no_such_module'"),
        ({"plugins": "tests.plugins.broken"}, "plugin module 'tests.plugins.broken' cannot be "
         "imported: ModuleNotFoundError: No module named 'my_private_lib'"),
        ({"backbone": "no_such_cnn"}, "backbone='no_such_cnn' is not known; valid: tiny, "),
        ({"variant": "no_such_variant"}, "variant='no_such_variant' is not known; valid: "),
    ],
)  # fmt: skip
def test_what_cannot_be_found_is_one_line_naming_it(own_plugins, changes, message):
    with pytest.raises(ConfigError) as err:
        RunConfig(**SMALL, **changes)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def _entry_points(folder: Path, lines: str) -> None:
    """A distribution installed in ``folder`` (put on the path) with these entry points."""
    info = folder / "my_plugins-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: my-plugins\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(lines)


def test_an_entry_point_is_loaded_when_its_name_is_asked_for(own_plugins, tmp_path, monkeypatch):
    _entry_points(tmp_path, f"[a3m.variants]\ngain_a3m = {MODULE}\n"
                            f"[a3m.backbones]\nplugin_cnn = {MODULE}\n"
                            "nothing = tests.plugins.registers_nothing\n"
                            "broken = tests.plugins.no_such_module\n")  # fmt: skip
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "gain_a3m" in variant_names() and "plugin_cnn" in backbone_names()  # listed
    assert MODULE not in sys.modules  # ... not loaded until asked for
    cfg = RunConfig(**SMALL, variant="gain_a3m", backbone="plugin_cnn")  # no plugins named
    assert MODULE in sys.modules and cfg.plugins == ""
    assert type(build_model(cfg)).__name__ == "GainA3M"
    with pytest.raises(ConfigError, match=r"^entry point nothing \(group a3m.backbones\) "
                       "loaded, but registered no backbone 'nothing'"):  # fmt: skip
        RunConfig(**SMALL, backbone="nothing")
    with pytest.raises(ConfigError, match=r"^entry point broken = tests.plugins.no_such_module "
                       r"\(group a3m.backbones\) does not load: ModuleNotFoundError"):  # fmt: skip
        RunConfig(**SMALL, backbone="broken")


def test_a3m_train_imports_the_plugins_before_it_checks_the_names(
    own_plugins, tmp_path, monkeypatch
):
    from a3m.cli import build_parser

    monkeypatch.setattr(sys, "path", list(sys.path))
    argv = ["train", "--variant", "gain_a3m", f"--plugins={MODULE}", "--backbone", "plugin_cnn"]
    assert preload_train_plugins(argv) is None
    args = build_parser().parse_args(argv)
    assert (args.variant, args.backbone) == ("gain_a3m", "plugin_cnn")
    problem = preload_train_plugins(["train", "--backbone", "no_such_cnn"])
    assert problem.startswith("unknown backbone 'no_such_cnn'")
    # a module of yours in the current directory, as `python -m` would find it
    (tmp_path / "mine_here.py").write_text(
        "from a3m.models import register_variant\nregister_variant('here', attribute_loss=False)\n"
    )
    monkeypatch.chdir(tmp_path)
    try:
        assert (
            preload_train_plugins(["train", "--plugins", "mine_here", "--variant", "here"]) is None
        )
        assert get_variant("here").module == "mine_here"
    finally:
        sys.modules.pop("mine_here", None)


def test_a_backbone_that_is_no_module_is_refused():
    with pytest.raises(ValueError, match="unknown backbone 'nope'"):
        create_backbone("nope")


def test_a_plugins_source_is_part_of_the_code_fingerprint(own_plugins, monkeypatch):
    """A run trained by an edited plugin is another code's run: never reused for the old one's
    nor paired with it."""
    from a3m import plugins, provenance

    assert provenance.code_fingerprint() == provenance.package_fingerprint()
    importlib.import_module(MODULE)
    with_plugin = provenance.code_fingerprint()
    assert with_plugin != provenance.package_fingerprint() and len(with_plugin) == 12
    monkeypatch.setitem(plugins._CODE, MODULE, "0123456789ab")  # the module, edited
    assert provenance.code_fingerprint() not in (with_plugin, provenance.package_fingerprint())


def test_a_dataset_registered_outside_a3m_reaches_a_fresh_process(own_plugins, monkeypatch):
    """A module of the user's registers a dataset; a study carries the module to its workers
    (outside_modules), and a process that imports a3m afresh finds the name once its config
    names the module, as a trial's worker does."""
    import subprocess

    from a3m.data import registry
    from a3m.plugin_code import outside_modules

    monkeypatch.setattr(registry, "DATASETS", dict(registry.DATASETS))
    monkeypatch.setattr(registry, "_DATASET_MODULES", {})
    module = "tests.plugins.my_dataset"
    with pytest.raises(ValueError, match="unknown dataset 'my_birds'"):
        registry.get_entry("my_birds")
    importlib.import_module(module)
    assert registry.get_entry("my_birds").task == "classification"
    assert module in outside_modules()
    with pytest.raises(ValueError, match="'my_birds' is taken"):
        registry.register_dataset(registry.DATASETS["my_birds"])
    fresh = subprocess.run(
        [sys.executable, "-c", "from a3m.config import RunConfig; "
         f"print(RunConfig(dataset='my_birds', plugins='{module}').dataset)"],
        cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert fresh.returncode == 0 and fresh.stdout.strip() == "my_birds", fresh.stderr[-2000:]
