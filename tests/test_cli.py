"""The a3m command line: `a3m data check`, `a3m data synth`, and how groups register."""

from __future__ import annotations

import argparse
import importlib

import pytest
from PIL import Image

from a3m import cli


def write_market(out):
    """A four-image Market-1501 copy (no attribute file: checked with attributes=false)."""
    base = out / "Market-1501-v15.09.15"
    names = {
        "bounding_box_train": ["0002_c1s1_000451_03.jpg", "0007_c2s1_000100_01.jpg"],
        "query": ["0003_c1s1_000100_00.jpg"],
        "bounding_box_test": ["0003_c2s1_000150_01.jpg", "-1_c1s1_000401_03.jpg"],
    }
    for folder, files in names.items():
        (base / folder).mkdir(parents=True)
        for name in files:
            Image.new("RGB", (8, 16)).save(base / folder / name)
    return out


def test_data_check_ok(tmp_path, capsys):
    root = write_market(tmp_path)
    status = cli.main(
        ["data", "check", "--dataset", "market1501", "--root", str(root), "-o", "attributes=false"]
    )
    out = capsys.readouterr()
    assert status == 0
    assert "train images" in out.out and "12,936" in out.out and "no problems found" in out.out
    assert "junk images" in out.out
    assert "loading market1501/train" in out.err  # progress goes to stderr


def test_data_check_problems_exit_1(tmp_path, capsys):
    root = write_market(tmp_path)
    (root / "Market-1501-v15.09.15" / "query" / "0003_c1s1_000100_00.jpg").write_bytes(b"x")
    args = ["data", "check", "--dataset", "market1501", "--root", str(root), "-q"]
    assert cli.main([*args, "-o", "attributes=false"]) == 1
    out = capsys.readouterr().out
    assert "PROBLEMS" in out and "0003_c1s1_000100_00.jpg" in out
    assert cli.main(args) == 1  # no market_attribute.mat: every split fails
    assert "market_attribute.mat not found" in capsys.readouterr().out
    assert cli.main(["data", "check", "--dataset", "cub", "--root", str(tmp_path / "x")]) == 1


def test_data_check_rejects_unknown_dataset(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["data", "check", "--dataset", "imagenet", "--root", "/x"])
    assert exc.value.code == 2
    assert "market1501" in capsys.readouterr().err


def test_parse_option():
    assert cli.parse_option("bbox-crop=true") == ("bbox_crop", True)
    assert cli.parse_option("min_certainty=3") == ("min_certainty", 3)
    assert cli.parse_option("attributes_path=/x/a.mat") == ("attributes_path", "/x/a.mat")
    assert cli.parse_option("x=none") == ("x", None)
    with pytest.raises(argparse.ArgumentTypeError):
        cli.parse_option("novalue")


def test_data_synth_passes_arguments(tmp_path, monkeypatch, capsys):
    synthetic = importlib.import_module("a3m.data.synthetic")
    calls = []

    def fake(name, out, *, seed=0, num_classes=None, images_per_class=None, image_size=None):
        calls.append((name, out, seed, num_classes, images_per_class, image_size))
        return out / "copy"

    monkeypatch.setattr(synthetic, "write_synthetic", fake, raising=False)
    args = ["data", "synth", "--dataset", "cub", "--out", str(tmp_path), "--seed", "3"]
    status = cli.main(
        [*args, "--num-classes", "4", "--images-per-class", "2", "--image-size", "64"]
    )
    assert status == 0
    assert calls == [("cub", tmp_path, 3, 4, 2, 64)]
    assert str(tmp_path / "copy") in capsys.readouterr().out


def test_subcommand_groups_register(monkeypatch):
    def register_hello(subparsers):
        hello = subparsers.add_parser("hello")
        hello.set_defaults(func=lambda args: 7)

    monkeypatch.setattr(cli, "SUBCOMMANDS", [*cli.SUBCOMMANDS, register_hello])
    assert cli.main(["hello"]) == 7
    with pytest.raises(SystemExit):
        cli.main([])  # a command is required


def test_other_packages_add_commands_by_entry_point(monkeypatch, capsys):
    """A module with ``parser()`` and ``run(args)`` in the ``a3m.commands`` group is a command:
    how ``a3m dashboard`` comes from the dashboards package, which a3m does not import."""
    import importlib.metadata
    from types import SimpleNamespace

    def parser() -> argparse.ArgumentParser:
        p = argparse.ArgumentParser(description="say hello")
        p.add_argument("--name", required=True)
        return p

    hello = SimpleNamespace(parser=parser, run=lambda args: len(args.name))
    found = [SimpleNamespace(name="hello", load=lambda: hello)]
    monkeypatch.setattr(importlib.metadata, "entry_points",
                        lambda group: found if group == cli.COMMANDS_GROUP else [])  # fmt: skip
    assert cli.main(["hello", "--name", "abc"]) == 3
    with pytest.raises(SystemExit):
        cli.main(["hello", "-h"])
    assert "say hello" in capsys.readouterr().out


def test_the_dashboard_command_is_installed():
    """pyproject.toml declares it; ``pip install -e .`` after a change of entry points."""
    with pytest.raises(SystemExit) as done:
        cli.main(["dashboard", "--help"])
    assert done.value.code == 0
