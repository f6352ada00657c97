"""From a folder per class and an attribute table to a manifest dataset, and the synthetic
birds in the manifest format."""

from __future__ import annotations

import pandas as pd
import pytest
from manifest_helpers import write_image

from a3m.cli import main
from a3m.data import build_dataset
from a3m.data.base import DatasetFormatError
from a3m.data.manifest.check import check_manifest
from a3m.data.manifest.convert import convert_imagefolder


def _imagefolder(root, classes=("cat", "dog", "fox"), per_class=6, first=0):
    for c, name in enumerate(classes):
        for j in range(per_class):
            write_image(root / name / f"{j}.jpg", first + 40 * c + j)
        (root / name / "notes.txt").write_text("not an image")  # skipped, as ImageFolder does
    return root


def _attributes(path, rows=(("cat", "short", "striped"), ("dog", "long", "plain"),
                            ("fox", "long", "striped"))):  # fmt: skip
    pd.DataFrame(rows, columns=["class", "tail", "coat"]).to_csv(path, index=False)
    return path


def test_a_folder_per_class_with_attributes_per_class(tmp_path, capsys):
    root = _imagefolder(tmp_path / "photos")
    table = _attributes(tmp_path / "attributes.csv")
    code = main(["data", "convert", "imagefolder", str(root), "--attributes", str(table),
                 "--out", str(tmp_path / "ds"), "--input-size", "32", "-q"])  # fmt: skip
    assert code == 0, capsys.readouterr()
    assert "use it with --dataset manifest:" in capsys.readouterr().out
    manifest = pd.read_csv(tmp_path / "ds" / "manifest.csv")
    assert list(manifest.columns) == ["path", "split", "label", "attr:tail", "attr:coat"]
    assert len(manifest) == 18 and (manifest["split"] == "test").sum() == 6  # 30% of 6, per class
    assert manifest["path"].iloc[0] == "../photos/cat/0.jpg"  # the images stay where they are
    test = build_dataset(f"manifest:{tmp_path / 'ds'}", "", "test")
    assert test.info.attribute_names == ("tail", "coat")
    assert test.info.attribute_classes == (2, 2) and test.info.input_size == (32, 32)
    # values sorted: coat (plain, striped), tail (long, short); the dog is long and plain
    dog = test.classes.index("dog")
    assert test.attributes[test.labels == dog][0].tolist() == [0, 0]


def test_split_folders_are_kept(tmp_path):
    _imagefolder(tmp_path / "photos" / "train", per_class=3)
    _imagefolder(tmp_path / "photos" / "val", per_class=2, first=10)  # other images
    done = convert_imagefolder(tmp_path / "photos", tmp_path / "ds",
                               attributes=_attributes(tmp_path / "a.csv"))  # fmt: skip
    assert done.images == {"train": 9, "test": 6} and done.classes == 3
    assert check_manifest(done.card, workers=1).ok


def test_retrieval_splits_by_class_and_takes_no_attributes(tmp_path):
    root = _imagefolder(tmp_path / "photos", classes=("a", "b", "c", "d"))
    done = convert_imagefolder(root, tmp_path / "ds", task="retrieval", test_fraction=0.5)
    manifest = pd.read_csv(done.card.parent / "manifest.csv")
    assert set(manifest[manifest["split"] == "test"]["label"]) == {"c", "d"}
    with pytest.raises(ValueError, match="retrieval protocol trains without attribute labels"):
        convert_imagefolder(root, tmp_path / "x", task="retrieval", attributes=tmp_path / "a")


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ((("cat", "short", "a"), ("dog", "long", "b")), "no row for the class folder 'fox'"),
        ((("cat", "s", "a"), ("dog", "l", "b"), ("fox", "l", "a"), ("owl", "s", "b")),
         "line 5: class 'owl' has no folder"),
        ((("cat", "s", "a"), ("cat", "l", "b"), ("dog", "l", "a"), ("fox", "s", "a")),
         "line 3: class 'cat' has a row already"),
        ((("cat", "s", "a"), ("dog", "s", "b"), ("fox", "s", "a")),
         "column 'tail' has 1 distinct value"),
    ],
)  # fmt: skip
def test_a_bad_attribute_table_is_one_line(tmp_path, rows, message, capsys):
    root = _imagefolder(tmp_path / "photos")
    table = _attributes(tmp_path / "a.csv", rows)
    with pytest.raises(DatasetFormatError, match=message):
        convert_imagefolder(root, tmp_path / "ds", attributes=table)
    code = main(["data", "convert", "imagefolder", str(root), "--attributes", str(table),
                 "--out", str(tmp_path / "ds")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message.split(":")[-1].strip() in err


def test_converted_data_that_fails_its_check_exits_1(tmp_path, capsys):
    root = _imagefolder(tmp_path / "photos")
    (root / "fox" / "0.jpg").write_bytes(b"broken")
    code = main(["data", "convert", "imagefolder", str(root), "--out", str(tmp_path / "ds"),
                 "-q"])  # fmt: skip
    assert code == 1 and "not an image file PIL can decode" in capsys.readouterr().out


@pytest.mark.parametrize("task", ["classification", "reid", "retrieval"])
def test_synthetic_birds_in_the_manifest_format_pass_their_check(tmp_path, task, capsys):
    out = tmp_path / task
    argv = ["data", "synth", "--format", "manifest", "--task", task, "--out", str(out),
            "--num-classes", "4", "--images-per-class", "4", "--image-size", "32"]  # fmt: skip
    assert main(argv) == 0 and f"--dataset manifest:{out}" in capsys.readouterr().out
    report = check_manifest(out, workers=1)
    assert report.ok, report.problems
    manifest = pd.read_csv(out / "manifest.csv")
    attributes = [c for c in manifest if c.startswith("attr:")]
    assert len(attributes) == (0 if task == "retrieval" else 4)
    # the attributes decide the class: one combination of values per class, none shared
    if attributes:
        combos = manifest.groupby("label")[attributes].nunique()
        assert (combos == 1).all().all()
        assert len(manifest.drop_duplicates(attributes)) == manifest["label"].nunique()
