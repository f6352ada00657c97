"""Decode once: the image cache holds the decoded path's pixels, the trainer reads it when it
describes the data (and says so), and a stale or broken cache is never read silently."""

from __future__ import annotations

import argparse
import json
import pickle
import shutil

import numpy as np
import pytest
import torch

from a3m.cli import register_data
from a3m.config import RunConfig
from a3m.data.cache import CACHE_ENV, CacheError, ImageCache, find_cache, write_cache
from a3m.data.transforms import build_resize, resize_size
from a3m.loaders import build_split

INPUT = (32, 32)  # resized to 37x37 before the crop


@pytest.fixture(scope="module")
def cub_root(synthetic_copy):
    return synthetic_copy("cub", seed=0, num_classes=3, images_per_class=6, image_size=64)


def config(root, **changes) -> RunConfig:
    base = dict(dataset="cub", data_root=str(root), input_size=INPUT, num_workers=0)
    return RunConfig(**(base | changes))


@pytest.fixture(scope="module")
def cache_dir(cub_root, tmp_path_factory):
    """Caches of both splits; the training split's (9 images) in shards of 4, 4 and 1."""
    out = tmp_path_factory.mktemp("cache")
    off = config(cub_root, image_cache="off")
    train = build_split(off, "train")
    write_cache(train.dataset, INPUT, out, shard_bytes=4 * 3 * 37 * 37)
    write_cache(build_split(off, "test"), INPUT, out, workers=1)  # through a worker process
    return out


def test_cached_pixels_are_the_decoded_and_resized_ones(cub_root, cache_dir):
    split = build_split(config(cub_root, image_cache="off"), "train").dataset
    found = find_cache(split, INPUT, str(cache_dir))
    assert found.cache is not None and found.cache.size == resize_size("cub", INPUT) == (37, 37)
    assert len(split) == 9 and len(found.cache.files) == 3
    resize = build_resize("cub", INPUT)
    for i in range(len(split)):
        assert torch.equal(found.cache[i], resize(split.read_image(i))), i


@pytest.mark.parametrize("epoch", [0, 3])
def test_cached_and_decoded_training_items_are_identical_on_a_seed(cub_root, cache_dir, epoch):
    decoded = build_split(config(cub_root, image_cache="off", seed=5), "train", train=True)
    cached = build_split(config(cub_root, image_cache=str(cache_dir), seed=5), "train", train=True)
    assert cached.dataset.image_cache is not None and decoded.dataset.image_cache is None
    for part in (decoded, cached):
        part.set_epoch(epoch)
    for i in range(len(decoded)):
        (a, ta), (b, tb) = decoded[i], cached[i]
        assert torch.equal(a, b) and a.shape == (3, *INPUT), i
        assert ta.keys() == tb.keys() and all(
            torch.equal(torch.as_tensor(ta[k]), torch.as_tensor(tb[k])) for k in ta
        )


def test_cached_evaluation_items_are_the_decoded_ones(cub_root, cache_dir):
    decoded = build_split(config(cub_root, image_cache="off"), "test")
    cached = build_split(config(cub_root, image_cache=str(cache_dir)), "test")
    assert cached.image_cache is not None
    assert all(torch.equal(decoded[i][0], cached[i][0]) for i in range(len(decoded)))


def test_the_trainer_says_which_cache_it_reads(cub_root, cache_dir, capsys, monkeypatch):
    build_split(config(cub_root, image_cache=str(cache_dir)), "test")
    assert f"image cache: reading cub/test at 37x37 from {cache_dir}/cub/test-37x37-box-" in (
        capsys.readouterr().out
    )
    monkeypatch.setenv(CACHE_ENV, str(cache_dir))  # "auto" looks there
    assert build_split(config(cub_root), "test").image_cache is not None
    assert "image cache: reading cub/test" in capsys.readouterr().out
    # another resolution has no cache: "auto" stays quiet, a named folder says so
    assert build_split(config(cub_root, input_size=(40, 40)), "test").image_cache is None
    assert capsys.readouterr().out == ""
    build_split(config(cub_root, input_size=(40, 40), image_cache=str(cache_dir)), "test")
    assert f"image cache: none of cub/test at 46x46 in {cache_dir}" in capsys.readouterr().out


def test_a_cache_of_other_data_is_not_used_and_the_message_says_why(cub_root, cache_dir, tmp_path):
    changed = tmp_path / "cub"
    shutil.copytree(cub_root, changed)
    (changed / "CUB_200_2011" / "README.txt").write_text("a file more: another fingerprint\n")
    split = build_split(config(changed, image_cache="off"), "test")
    found = find_cache(split, INPUT, str(cache_dir))
    assert found.cache is None
    assert "it was made from other data (dataset fingerprint" in found.message
    assert "a3m data cache --dataset cub" in found.message


@pytest.mark.parametrize(
    "field, value, reason",
    [
        ("items_digest", "0" * 16, "the loader now lists other images or boxes"),
        ("torchvision", "0.1.0", "it was written with torchvision 0.1.0, this is"),
    ],
)
def test_a_stale_manifest_is_not_used(cub_root, cache_dir, tmp_path, field, value, reason):
    copy = _copy_cache(cache_dir, tmp_path)
    manifest = next(copy.glob("cub/test-*/manifest.json"))
    content = json.loads(manifest.read_text())
    manifest.write_text(json.dumps(content | {field: value}))
    found = find_cache(build_split(config(cub_root, image_cache="off"), "test"), INPUT, str(copy))
    assert found.cache is None
    assert found.message.startswith(f"image cache: not using {manifest.parent}: {reason}")


@pytest.mark.parametrize("damage", ["truncate", "delete", "reshape"])
def test_a_broken_shard_raises_an_error_naming_its_file(cub_root, cache_dir, tmp_path, damage):
    copy = _copy_cache(cache_dir, tmp_path)
    shard = sorted(copy.glob("cub/train-*/images-*.npy"))[1]
    if damage == "truncate":
        shard.write_bytes(shard.read_bytes()[:-100])
    elif damage == "delete":
        shard.unlink()
    else:
        np.save(shard, np.zeros((4, 3, 37, 36), dtype=np.uint8))
    with pytest.raises(CacheError, match=str(shard)):
        build_split(config(cub_root, image_cache=str(copy)), "train", train=True)


def test_a_corrupt_manifest_raises_an_error_naming_it(cache_dir, tmp_path):
    copy = _copy_cache(cache_dir, tmp_path)
    manifest = next(copy.glob("cub/test-*/manifest.json"))
    manifest.write_text('{"format": "a3m-image-cache", "vers')
    with pytest.raises(CacheError, match=f"{manifest}: not a readable JSON manifest"):
        ImageCache(manifest.parent)


def test_a_pickled_cache_carries_no_images(cache_dir):
    cache = ImageCache(next(cache_dir.glob("cub/train-*")))
    again = pickle.loads(pickle.dumps(cache))  # as a spawned DataLoader worker receives it
    assert len(pickle.dumps(cache)) < 4096 < 3 * 37 * 37
    assert torch.equal(again[8], cache[8])


def test_the_cli_writes_the_caches_a_run_reads(cub_root, tmp_path, capsys):
    out = tmp_path / "caches"
    argv = ["data", "cache", "--dataset", "cub", "--root", str(cub_root), "--out", str(out)]
    assert a3m_data([*argv, "--input-size", "32x32", "--workers", "0", "-q"]) == 0
    assert f"reads it with --image-cache {out}" in capsys.readouterr().out
    assert {p.name.split("-")[0] for p in (out / "cub").iterdir()} == {"train", "test"}
    part = build_split(config(cub_root, image_cache=str(out)), "train", train=True)
    assert part.dataset.image_cache is not None
    assert a3m_data([*argv, "--split", "val"]) == 2
    assert "cub has no split 'val'; valid: train, test" in capsys.readouterr().err


def a3m_data(argv: list[str]) -> int:
    """``a3m data ...`` without the other command groups' imports (a3m.cli.main's parser)."""
    parser = argparse.ArgumentParser(prog="a3m")
    register_data(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def _copy_cache(cache_dir, tmp_path):
    copy = tmp_path / "cache"
    shutil.copytree(cache_dir, copy)
    return copy
