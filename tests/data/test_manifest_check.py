"""``a3m data check --dataset manifest:PATH``: each kind of bad manifest gets one line naming
its row or file, and exit 2; a good one, exit 0."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
from manifest_helpers import (
    CLASSIFICATION_CARD,
    REID_CARD,
    classification_rows,
    reid_rows,
    write_manifest,
)

from a3m.cli import main
from a3m.data.manifest.check import check_manifest, manifest_problem


def _problems(root) -> list[str]:
    report = check_manifest(root, workers=1)
    assert all("\n" not in p for p in report.problems)
    return report.problems


def _problems_of(tmp_path, rows: list[dict], card: dict = CLASSIFICATION_CARD) -> list[str]:
    """The problems of a manifest of ``rows`` (with their images) under ``card``."""
    return _problems(write_manifest(tmp_path / "d", rows, card))


def test_a_good_manifest_has_no_problem_and_exits_0(tmp_path, capsys):
    root = write_manifest(tmp_path / "ok", classification_rows(), CLASSIFICATION_CARD)
    assert _problems(root) == [] and manifest_problem(f"manifest:{root}") is None
    assert main(["data", "check", "--dataset", f"manifest:{root}", "-q"]) == 0
    out = capsys.readouterr().out
    assert "train images" in out and "images opened: 12 of 12" in out and "no problems" in out


def test_a_missing_image(tmp_path):
    root = write_manifest(tmp_path / "d", classification_rows(), CLASSIFICATION_CARD)
    (root / "images/owl/1.png").unlink()
    assert _problems(root) == [
        f"manifest.csv, line 7: image images/owl/1.png does not exist ({root}/images/owl/1.png)"
    ]


def test_an_unreadable_image(tmp_path):
    root = write_manifest(tmp_path / "d", classification_rows(), CLASSIFICATION_CARD)
    (root / "images/wren/3.png").write_bytes(b"not a png")
    assert _problems(root) == [
        f"manifest.csv, line 13: cannot read image {root}/images/wren/3.png: not an image file "
        "PIL can decode"
    ]


def test_a_truncated_image(tmp_path):
    root = write_manifest(tmp_path / "d", classification_rows(), CLASSIFICATION_CARD)
    path = root / "images/wren/3.png"
    path.write_bytes(path.read_bytes()[:40])
    (problem,) = _problems(root)
    assert problem.startswith(f"manifest.csv, line 13: cannot read image {path}: ")


def test_a_label_outside_the_card(tmp_path):
    rows = classification_rows()
    rows[4]["label"] = "heron"
    problems = _problems_of(tmp_path, rows)
    assert problems[0] == (
        "manifest.csv, line 6: label 'heron' is not one of the card's classes (finch, owl, wren)"
    )


def test_an_attribute_value_outside_the_card(tmp_path):
    rows = classification_rows()
    rows[2]["attr:color"] = "pink"
    assert _problems_of(tmp_path, rows) == [
        "manifest.csv, line 4: attr:color 'pink' is not one of the card's values (red, blue, green)"
    ]


def test_a_class_with_too_few_images(tmp_path):
    rows = [r for r in classification_rows() if r["path"] != "images/owl/1.png"]
    assert _problems_of(tmp_path, rows) == [
        "manifest.csv, line 6: class 'owl' has 1 training image; a class needs at least 2 to train"
    ]


def test_a_class_without_an_evaluation_image(tmp_path):
    rows = [r for r in classification_rows() if not r["path"].startswith("images/wren/")
            or r["split"] == "train"]  # fmt: skip
    assert _problems_of(tmp_path, rows) == [
        "manifest.csv, line 10: class 'wren' has no test image to evaluate it"
    ]


def test_the_same_image_in_a_training_and_an_evaluation_split(tmp_path):
    root = write_manifest(tmp_path / "d", classification_rows(), CLASSIFICATION_CARD)
    shutil.copyfile(root / "images/finch/0.png", root / "images/finch/2.png")  # a test row
    (problem,) = _problems(root)
    assert problem.startswith(
        "manifest.csv, line 4: image images/finch/2.png (test) has the content of the training "
        "image images/finch/0.png (manifest.csv, line 2, sha256 "
    )


def test_the_same_file_listed_in_a_training_and_an_evaluation_split(tmp_path):
    rows = classification_rows()
    rows[2]["path"] = rows[0]["path"]
    assert _problems_of(tmp_path, rows) == [
        "manifest.csv, line 4: image images/finch/0.png (test) is also a training image "
        "(manifest.csv, line 2): evaluation must see new images"
    ]


def test_a_constant_attribute_column(tmp_path):
    rows = classification_rows()
    for row in rows:
        row["attr:size"] = "small"
    assert _problems_of(tmp_path, rows) == [
        "manifest.csv: column attr:size is constant in the training split (every known value is "
        "'small'): an attribute that never varies teaches nothing; drop it from the card"
    ]


def test_a_query_identity_absent_from_the_gallery(tmp_path):
    rows = [r for r in reid_rows() if not (r["label"] == "p4" and r["split"] == "gallery")]
    assert _problems_of(tmp_path, rows, REID_CARD) == [
        "manifest.csv, line 11: query identity 'p4' has no image in the gallery: the query can "
        "never be matched"
    ]


def test_a_query_seen_in_the_gallery_by_its_own_camera_only(tmp_path):
    rows = reid_rows()
    for row in rows:
        if row["label"] == "p4":
            row["camera"] = "1"
    assert _problems_of(tmp_path, rows, REID_CARD) == [
        "manifest.csv, line 11: query identity 'p4' is in the gallery only from its own camera "
        "'1', which the protocol leaves out: never matched"
    ]


def test_missing_columns_and_unknown_split_values(tmp_path):
    rows = [{k: v for k, v in r.items() if k != "attr:size"} for r in classification_rows()]
    rows[0]["split"] = "val"
    root = write_manifest(tmp_path / "d", rows, CLASSIFICATION_CARD)
    assert _problems(root) == [
        "manifest.csv: missing column(s) attr:size; found: path, split, label, attr:color"
    ]
    table = pd.read_csv(root / "manifest.csv").assign(**{"attr:size": "small"})
    table.loc[5, "attr:size"] = "large"
    table.to_csv(root / "manifest.csv", index=False)
    assert _problems(root)[0] == (
        "manifest.csv, line 2: split 'val' is not one of the card's split values (train, test)"
    )


def test_problems_exit_1_with_the_report_as_for_a_built_in_dataset(tmp_path, capsys):
    rows = classification_rows()
    rows[2]["attr:color"] = "pink"
    root = write_manifest(tmp_path / "d", rows, CLASSIFICATION_CARD)
    assert main(["data", "check", "--dataset", f"manifest:{root}", "-q"]) == 1
    out = capsys.readouterr().out
    assert "PROBLEMS (1):\n  - manifest.csv, line 4: attr:color 'pink'" in out


def test_no_card_is_one_line(tmp_path, capsys):
    assert main(["data", "check", "--dataset", f"manifest:{tmp_path}", "-q"]) == 1
    assert f"{tmp_path}/card.json not found" in capsys.readouterr().out


@pytest.mark.parametrize("many", [7])
def test_many_rows_of_one_kind_are_listed_five_then_counted(tmp_path, many):
    rows = classification_rows()
    for row in rows[:many]:
        row["attr:color"] = "pink"
    problems = _problems_of(tmp_path, rows)
    listed = [p for p in problems if "'pink'" in p]
    assert len(listed) == 6 and listed[-1].startswith("... and 2 more rows like")
