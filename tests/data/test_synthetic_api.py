"""``write_synthetic`` / ``ensure_synthetic``: names, determinism, caching, atomic writes."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest

from a3m.data import registry
from a3m.data.registry import dataset_names, get_entry
from a3m.data.synthetic import ensure_synthetic, synthetic_cache, write_synthetic

TINY = {"num_classes": 2, "images_per_class": 2, "image_size": 32}
MARKERS = {
    "cub": "CUB_200_2011/images.txt",
    "cub_retrieval": "CUB_200_2011/images.txt",
    "market1501": "Market-1501-v15.09.15/market_attribute.mat",
    "compcars": "data/misc/attributes.txt",
    "cars196": "cars_annos.mat",
}


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_names():
    assert set(dataset_names()) == set(MARKERS)  # every registered dataset has a writer


def test_one_cache_rule(tmp_path, monkeypatch):
    monkeypatch.setenv("A3M_SYNTHETIC_DIR", str(tmp_path / "env"))
    assert synthetic_cache(tmp_path / "given") == tmp_path / "given"
    assert synthetic_cache() == synthetic_cache("") == tmp_path / "env"
    monkeypatch.delenv("A3M_SYNTHETIC_DIR")
    assert synthetic_cache() == Path("~/.cache/a3m/synthetic").expanduser().resolve()
    monkeypatch.chdir(tmp_path)
    assert synthetic_cache("rel") == tmp_path / "rel"  # absolute: every trial reads the same


@pytest.mark.parametrize("name", sorted(MARKERS))
def test_deterministic_per_seed(name, tmp_path):
    a = write_synthetic(name, tmp_path / "a", seed=7, **TINY)
    b = write_synthetic(name, tmp_path / "b", seed=7, **TINY)
    c = write_synthetic(name, tmp_path / "c", seed=8, **TINY)
    assert a == tmp_path / "a"  # the root a loader takes: the folder written into
    assert (a / MARKERS[name]).is_file()
    assert _digest(a) == _digest(b)  # byte-identical labels, .mat files and JPEGs
    assert _digest(a) != _digest(c)


def test_rewriting_replaces_a_previous_copy(tmp_path):
    write_synthetic("market1501", tmp_path, num_classes=3, images_per_class=3, image_size=32)
    write_synthetic("market1501", tmp_path, **TINY)
    train = list((tmp_path / "Market-1501-v15.09.15/bounding_box_train").glob("*.jpg"))
    assert len(train) == TINY["num_classes"] * TINY["images_per_class"]


def test_unknown_name_lists_the_valid_ones(tmp_path):
    with pytest.raises(ValueError, match="valid names: 'cub'.*'cars196'"):
        write_synthetic("imagenet", tmp_path)
    with pytest.raises(ValueError, match="valid names"):
        ensure_synthetic("imagenet", tmp_path)
    with pytest.raises(ValueError, match="unknown parameter"):
        ensure_synthetic("cub", tmp_path, colour="red")
    with pytest.raises(ValueError, match="num_classes"):
        write_synthetic("cub", tmp_path, num_classes=0)


def _set_writer(monkeypatch, name: str, writer) -> None:
    """Replace the synthetic writer of registry entry ``name`` for one test."""
    entry = get_entry(name)
    synthetic = dataclasses.replace(entry.synthetic, writer=writer)
    monkeypatch.setitem(registry.DATASETS, name, dataclasses.replace(entry, synthetic=synthetic))


def _counting_writers(monkeypatch) -> list[str]:
    calls: list[str] = []

    def wrap(name, write):
        def writer(out, **params):
            calls.append(name)
            return write(out, **params)

        return writer

    for name in dataset_names():
        _set_writer(monkeypatch, name, wrap(name, get_entry(name).synthetic.writer))
    return calls


def test_ensure_caches_by_parameters(tmp_path, monkeypatch):
    calls = _counting_writers(monkeypatch)
    first = ensure_synthetic("cub", tmp_path, **TINY)
    again = ensure_synthetic("cub", tmp_path, **TINY)
    shared = ensure_synthetic("cub_retrieval", tmp_path, **TINY)  # same files as cub
    other = ensure_synthetic("cub", tmp_path, **{**TINY, "seed": 1})
    assert first == again == shared != other
    assert calls == ["cub", "cub"]
    assert (first / MARKERS["cub"]).is_file() and (first / "synthetic.json").is_file()
    assert first.parent == tmp_path and not list(tmp_path.glob(".*tmp-*"))
    # Defaults are resolved before hashing: spelling out a default hits the same copy.
    defaults = get_entry("cub").synthetic.params
    assert ensure_synthetic("cub", tmp_path, **{**TINY, "seed": defaults["seed"]}) == first


def test_ensure_never_leaves_a_half_copy(tmp_path, monkeypatch):
    def crash(out, **params):
        (Path(out) / "CUB_200_2011").mkdir()
        (Path(out) / "CUB_200_2011" / "images.txt").write_text("1 half.jpg\n")
        raise RuntimeError("disk full")

    _set_writer(monkeypatch, "cub", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        ensure_synthetic("cub", tmp_path, **TINY)
    assert list(tmp_path.iterdir()) == []  # neither the final folder nor the temporary one
    monkeypatch.undo()
    root = ensure_synthetic("cub", tmp_path, **TINY)
    assert len((root / MARKERS["cub"]).read_text().splitlines()) == 4


def test_ensure_rebuilds_a_folder_without_manifest(tmp_path):
    root = ensure_synthetic("cars196", tmp_path, **TINY)
    (root / "synthetic.json").unlink()
    (root / "cars_annos.mat").unlink()
    assert ensure_synthetic("cars196", tmp_path, **TINY) == root
    assert (root / "cars_annos.mat").is_file()
