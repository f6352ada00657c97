"""Your own data in the manifest format: the card, the loader's label spaces, the name
``manifest:PATH`` wherever a dataset name goes, and the fingerprint."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from manifest_helpers import (
    CLASSES,
    CLASSIFICATION_CARD,
    REID_CARD,
    classification_rows,
    reid_rows,
    write_manifest,
)

from a3m.config import ConfigError, RunConfig
from a3m.data import IGNORE_INDEX, DatasetFormatError, build_dataset
from a3m.data.fingerprint import dataset_fingerprint
from a3m.data.manifest.card import read_card
from a3m.data.registry import dataset_names, display_name, get_entry


@pytest.fixture
def tiny(tmp_path):
    return write_manifest(tmp_path / "tiny", classification_rows(), CLASSIFICATION_CARD)


def test_the_card_the_manifest_or_their_folder_name_one_dataset(tiny):
    card = tiny / "card.json"
    names = {get_entry(f"manifest:{p}").name for p in (tiny, card, tiny / "manifest.csv")}
    assert names == {f"manifest:{card.resolve()}"}
    entry = get_entry(f"manifest:{tiny}")
    assert (entry.task, entry.splits, entry.input_size) == ("classification", ("train", "test"),
                                                           (24, 24))  # fmt: skip
    assert entry.attribute_heads == 2 and entry.root == card.resolve()
    assert f"manifest:{tiny}" in dataset_names() and display_name(entry.name) == "tiny"


def test_classification_splits_share_the_cards_classes_and_attribute_values(tiny):
    train = build_dataset(f"manifest:{tiny}", "", "train")
    test = build_dataset(f"manifest:{tiny}", tiny, "test")
    assert (len(train), len(test)) == (6, 6)
    assert train.classes == test.classes == list(CLASSES)
    assert train.info.num_classes == 3 and train.info.attribute_names == ("size", "color")
    assert train.info.attribute_classes == (2, 3)
    # wren (class 2): size index 0 (small), colour index 2 (green)
    assert test.labels.tolist() == [0, 0, 1, 1, 2, 2]
    assert test.attributes[-1].tolist() == [0, 2]
    image, target = train[0]
    assert tuple(image.shape) == (3, 24, 24) and target["label"] == 0


def test_an_empty_attribute_cell_is_unknown(tmp_path):
    rows = classification_rows()
    rows[0]["attr:color"] = ""
    root = write_manifest(tmp_path / "d", rows, CLASSIFICATION_CARD)
    assert build_dataset(f"manifest:{root}", "", "train").attributes[0, 1] == IGNORE_INDEX


def test_reid_items_carry_identity_and_camera_numbers(tmp_path):
    root = write_manifest(tmp_path / "reid", reid_rows(), REID_CARD)
    query, gallery = (build_dataset(f"manifest:{root}", "", s) for s in ("query", "gallery"))
    train = build_dataset(f"manifest:{root}", "", "train")
    assert train.info.num_classes == 2 and train.info.input_size == (32, 16)
    assert query.pids.tolist() == [3, 4] and query.camids.tolist() == [1, 1]
    assert gallery.pids.tolist() == [3, 3, 4, 4] and gallery.camids.tolist() == [2, 3, 2, 3]
    assert query[0][1]["pid"] == 3  # what the protocol reads from each item


def test_parquet_manifests_read_as_csv_ones(tmp_path):
    rows = classification_rows()
    root = write_manifest(tmp_path / "pq", rows, {**CLASSIFICATION_CARD,
                                                  "manifest": "table.parquet"})  # fmt: skip
    pd.DataFrame(rows).to_parquet(root / "table.parquet")
    (root / "manifest.csv").unlink()
    test = build_dataset(f"manifest:{root}", "", "test")
    assert test.labels.tolist() == [0, 0, 1, 1, 2, 2]


def test_the_config_names_it_by_the_cards_absolute_path(tiny, monkeypatch):
    monkeypatch.chdir(tiny.parent)
    cfg = RunConfig(dataset="manifest:tiny", backbone="tiny")
    assert cfg.dataset == f"manifest:{(tiny / 'card.json').resolve()}"  # a Ray trial reads it
    assert cfg.task == "classification"
    assert RunConfig.from_flat_dict(cfg.to_flat_dict()) == cfg
    with pytest.raises(ConfigError, match="no synthetic copy"):
        RunConfig(dataset="manifest:tiny", synthetic=True)
    with pytest.raises(ConfigError, match="nowhere.*not found"):
        RunConfig(dataset="manifest:nowhere")


def test_a_root_that_names_another_card_is_refused(tiny, tmp_path):
    other = write_manifest(tmp_path / "other", classification_rows(), CLASSIFICATION_CARD)
    with pytest.raises(ValueError, match="holds the dataset card"):
        build_dataset(f"manifest:{tiny}", other, "train")


def test_the_fingerprint_covers_the_card_and_the_manifest_not_where_they_are(tiny, tmp_path):
    card = tiny / "card.json"
    first = dataset_fingerprint(card)
    moved = shutil.copytree(tiny, tmp_path / "moved")
    assert dataset_fingerprint(moved / "card.json") == first
    body = json.loads(card.read_text())
    card.write_text(json.dumps({**body, "input_size": [32, 32]}))
    assert dataset_fingerprint(card) != first
    table = pd.read_csv(moved / "manifest.csv")
    table.loc[0, "attr:size"] = "large"
    table.to_csv(moved / "manifest.csv", index=False)
    assert dataset_fingerprint(moved / "card.json") != first


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"task": "detection"}, "field 'task': expected one of classification, reid, retrieval"),
        ({"name": "my data"}, "field 'name': expected a name of letters"),
        ({"input_size": [0, 24]}, "field 'input_size': expected"),
        ({"attributes": {"size": ["small"]}}, "attributes.size': expected a list of at least 2"),
        ({"splits": {"train": "train"}}, "field 'splits': expected an object mapping train, test"),
        ({"extra": 1}, "unknown field"),
    ],
)
def test_a_bad_card_is_one_line_naming_its_field(tiny, change, message):
    card = tiny / "card.json"
    card.write_text(json.dumps({**CLASSIFICATION_CARD, **change}))
    with pytest.raises(DatasetFormatError, match=message) as err:
        read_card(tiny)
    assert str(card.resolve()) in str(err.value) and "\n" not in str(err.value)


def test_a_manifest_with_problems_does_not_load(tiny):
    table = pd.read_csv(tiny / "manifest.csv")
    table.loc[3, "label"] = "heron"
    table.to_csv(tiny / "manifest.csv", index=False)
    with pytest.raises(DatasetFormatError, match=r"line 5: label 'heron' is not one of the card's"):
        build_dataset(f"manifest:{tiny}", "", "train")


def test_splits_map_the_manifests_own_values(tmp_path):
    rows = classification_rows()
    for row in rows:
        row["split"] = {"train": "trainval", "test": "holdout"}[row["split"]]
    card = {**CLASSIFICATION_CARD, "splits": {"train": "trainval", "test": "holdout"}}
    root = write_manifest(tmp_path / "s", rows, card)
    assert np.array_equal(build_dataset(f"manifest:{root}", "", "test").labels, [0, 0, 1, 1, 2, 2])
