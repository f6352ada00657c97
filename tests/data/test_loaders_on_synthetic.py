"""Every loader reads a small copy written by ``a3m.data.synthetic.write_synthetic``."""

from __future__ import annotations

import numpy as np
import pytest

from a3m.data import IGNORE_INDEX, build_dataset, check_dataset, dataset_splits
from a3m.data.synthetic import write_synthetic

FORMAT_OF = {"cub": "cub", "cub_retrieval": "cub", "market1501": "market1501"}
FORMAT_OF |= {"compcars": "compcars", "cars196": "cars196"}
NUM_CLASSES = 4


@pytest.fixture(scope="module")
def synthetic_roots(tmp_path_factory):
    """One small copy per public format, shared by the tests of this module."""
    roots = {}
    for fmt in sorted(set(FORMAT_OF.values())):
        out = tmp_path_factory.mktemp(f"synthetic_{fmt}")
        roots[fmt] = write_synthetic(
            fmt, out, seed=0, num_classes=NUM_CLASSES, images_per_class=4, image_size=48
        )
    return roots


@pytest.mark.parametrize("name", sorted(FORMAT_OF))
def test_loader_reads_synthetic_copy(name, synthetic_roots):
    root = synthetic_roots[FORMAT_OF[name]]
    splits = {s: build_dataset(name, root, s) for s in dataset_splits(name)}
    info = splits[dataset_splits(name)[0]].info
    for split, ds in splits.items():
        assert len(ds) > 0, split
        assert ds.info == info, split  # one DatasetInfo for every split of a dataset
        assert ds.labels.min() >= 0 and ds.labels.max() < len(ds.classes), split
        assert ds.attributes.shape == (len(ds), info.num_attributes)
        for h, classes in enumerate(info.attribute_classes):
            values = ds.attributes[:, h]
            known = values[values != IGNORE_INDEX]
            assert ((known >= 0) & (known < classes)).all(), (split, info.attribute_names[h])
        for index in (0, len(ds) - 1):
            image, target = ds[index]
            assert image.ndim == 3 and image.shape[0] == 3
            assert target["index"] == index
            assert target["attributes"].shape == (info.num_attributes,)
    train = splits["train"]
    assert 0 < info.num_classes <= NUM_CLASSES + 1
    assert len(np.unique(train.labels)) == info.num_classes
    if name == "market1501":
        assert set(splits["query"].pids.tolist()) <= set(splits["gallery"].pids.tolist())


@pytest.mark.parametrize("name", sorted(FORMAT_OF))
def test_check_passes_on_synthetic_copy(name, synthetic_roots):
    report = check_dataset(name, synthetic_roots[FORMAT_OF[name]], max_images=4, workers=1)
    assert report.ok, report.format()
    assert not report.matches_public_release  # a smaller copy, reported as such
