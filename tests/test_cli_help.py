"""Every flag of every command says what it takes: ``a3m`` and each of its commands (walked
from the parser, so ``a3m dashboard``, added by entry point, too) and the study scripts' shared
parser. A flag has a help text, a flag with choices names them in it, a command has a
description, and no help shows argparse's escape ``%%`` (argparse expands ``%`` in a flag's
help, not in a description or an epilog: ``95%%`` is right in the one and shows as is in the
others)."""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import re
from pathlib import Path

import pytest

from a3m.cli import build_parser, main
from a3m.cli_args import config_flag_help
from a3m.config import RunConfig, field_choices, field_help
from a3m.study.spec import SYNTHETIC_BUDGET, study_parser

STUDIES = sorted((Path(__file__).resolve().parents[1] / "studies").glob("*.py"))


def _commands() -> dict[str, argparse.ArgumentParser]:
    """``"a3m data check"`` -> its parser, for every command and group of ``a3m``."""
    found: dict[str, argparse.ArgumentParser] = {}

    def walk(name: str, parser: argparse.ArgumentParser) -> None:
        found[name] = parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub, child in action.choices.items():
                    walk(f"{name} {sub}", child)

    walk("a3m", build_parser())
    return found


def _spec(path: Path):
    module_spec = importlib.util.spec_from_file_location(f"help_{path.stem}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.SPEC


def _problems(name: str, parser: argparse.ArgumentParser) -> list[str]:
    """What the help of ``parser`` lacks or gets wrong, one line each."""
    problems = []
    if not (parser.description or "").strip():
        problems.append(f"{name}: no description")
    if "%%" in parser.format_help():
        problems.append(f"{name}: its help shows a literal '%%'")
    formatter = parser._get_formatter()
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if isinstance(action, argparse._SubParsersAction):
            bare = [a.dest for a in action._choices_actions if not (a.help or "").strip()]
            problems += [f"{name} {command}: no help in the list of commands" for command in bare]
            continue
        flag = "/".join(action.option_strings) or action.dest
        if action.help in (None, argparse.SUPPRESS) or not action.help.strip():
            problems.append(f"{name} {flag}: no help")
            continue
        shown = formatter._expand_help(action)  # the text --help prints beside the flag
        if not re.search(r"[a-z]{2}", re.sub(r"\(default: [^)]*\)", "", shown)):
            problems.append(f"{name} {flag}: its help says nothing but its default")
        unnamed = [str(c) for c in action.choices or () if str(c) not in shown]
        if unnamed:
            problems.append(f"{name} {flag}: its help does not name the choices {unnamed}")
    return problems


def test_every_a3m_command_and_flag_has_help():
    commands = _commands()
    # the walk reaches every command, the entry point's too
    assert {"a3m data check", "a3m data synth", "a3m data cache", "a3m train",
            "a3m leaderboard", "a3m compare", "a3m dashboard"} <= set(commands)  # fmt: skip
    problems = [line for name, parser in commands.items() for line in _problems(name, parser)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.stem)
def test_every_study_flag_has_help(path):
    assert _problems(path.name, study_parser(_spec(path))) == []


def test_the_check_finds_what_it_looks_for():
    """A parser with each fault: the walk's check names every one."""
    bad = argparse.ArgumentParser(prog="bad", description="mean and 95%% CI")
    bad.add_argument("--bare")
    bad.add_argument("--seed", default=0, help="(default: %(default)s)")
    bad.add_argument("--kind", choices=("fifo", "asha"), help="the scheduler")
    bad.add_argument("--share", help="a share in %% of the split")  # right: shows "%"
    problems = _problems("bad", bad)
    assert problems == [
        "bad: its help shows a literal '%%'",
        "bad --bare: no help",
        "bad --seed: its help says nothing but its default",
        "bad --kind: its help does not name the choices ['fifo', 'asha']",
    ]
    assert _problems("none", argparse.ArgumentParser())[0] == "none: no description"


def test_train_flags_take_their_help_and_choices_from_the_config_field():
    """One source: each RunConfig field's declaration gives its flag's help, valid values
    and default; a value outside the choices is refused before anything runs."""
    train = _commands()["a3m train"]
    flags = {a.dest: a for a in train._actions}
    for f in dataclasses.fields(RunConfig):
        assert field_help(f.name).strip(), f"RunConfig.{f.name} declares no help"
        action = flags[f.name]
        assert action.help == config_flag_help(f.name)
        assert field_help(f.name).replace("%", "%%") in action.help
        assert tuple(action.choices or ()) == field_choices(f.name)
    assert "one of: avg, max (default: avg)" in flags["attr_pooling"].help
    assert field_choices("dataset") == ("cub", "cub_retrieval", "market1501", "compcars",
                                        "cars196")  # fmt: skip
    with pytest.raises(SystemExit) as refused:
        main(["train", "--synthetic", "--attr-pooling", "sum"])
    assert refused.value.code == 2
    # the config refuses the same value from any other source (--set, config.json)
    with pytest.raises(ValueError, match="attr_pooling='sum' is not known; valid: avg, max"):
        RunConfig(attr_pooling="sum")


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.stem)
def test_a_study_help_says_what_real_data_changes(path):
    """On a real-format copy a study runs its own settings (pretrained weights, as the paper);
    --synthetic swaps in the small budget: --help says both."""
    spec = _spec(path)
    text = " ".join(study_parser(spec).format_help().split())
    assert "On your data (--data-root" in text
    assert " ".join(f"{k}={v}" for k, v in spec.base.items()) in text
    if spec.base.get("pretrained"):
        assert "pretrained=True: the backbone starts from torchvision's ImageNet weights" in text
        assert "--set pretrained=false trains from scratch" in text
    assert re.search(r"With --synthetic, instead: backbone=tiny pretrained=False", text)
    assert SYNTHETIC_BUDGET["pretrained"] is False
