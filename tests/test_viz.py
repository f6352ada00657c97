"""Tests of a3m.viz: Fig. 6-style attention overlays."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from a3m.viz import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    LABEL_HEIGHT,
    attention_overlays,
    jet_colormap,
    save_attention_maps,
)

B, K, H, W = 2, 3, 32, 16


def normalised_grey(b: int = B, h: int = H, w: int = W) -> torch.Tensor:
    """Mid-grey images after ImageNet normalisation."""
    mean = torch.tensor(IMAGENET_MEAN)[None, :, None, None]
    std = torch.tensor(IMAGENET_STD)[None, :, None, None]
    return (torch.full((b, 3, h, w), 0.5) - mean) / std


def top_left_masks(b: int = B, k: int = K, h: int = 8, w: int = 4) -> torch.Tensor:
    """Masks high (1) in the top-left quadrant of the feature map, low (0) elsewhere."""
    m = torch.zeros(b, k, h, w)
    m[:, :, : h // 2, : w // 2] = 1.0
    return m


def test_jet_colormap_ends_and_middle():
    c = jet_colormap(np.array([0.0, 0.5, 1.0]))
    assert c.shape == (3, 3)
    np.testing.assert_allclose(c[0], [0.0, 0.0, 0.5])  # dark blue
    np.testing.assert_allclose(c[1], [0.5, 1.0, 0.5])  # green
    np.testing.assert_allclose(c[2], [0.5, 0.0, 0.0])  # dark red


def test_save_attention_maps_files_and_sizes(tmp_path):
    masks = torch.rand(B, K, 8 * 4)  # (B, K, L): the model's layout, 8x4 from the 32x16 input
    paths = save_attention_maps(normalised_grey(), masks, torch.rand(B, 32), tmp_path / "maps")
    assert [p.name for p in paths] == ["attention_0000.png", "attention_0001.png"]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(p) as img:
            assert img.size == ((K + 2) * W, H) and img.mode == "RGB"


def test_names_add_a_label_band_and_select_picks_tiles(tmp_path):
    names = ["gender", "bag", "upper_colour_with_a_very_long_name"]
    paths = save_attention_maps(
        normalised_grey(),
        top_left_masks(),
        torch.rand(B, 8, 4),
        tmp_path,
        names=names,
        prefix="q",
        start_index=10,
        select=["bag", 2],
    )
    assert [p.name for p in paths] == ["q_0010.png", "q_0011.png"]
    with Image.open(paths[0]) as img:
        assert img.size == ((2 + 2) * W, H + LABEL_HEIGHT)
        band = np.asarray(img)[:LABEL_HEIGHT]
    assert (band < 128).any()  # some dark text was written on the white band


def test_top_left_mask_is_red_top_left_and_blue_bottom_right():
    row = attention_overlays(normalised_grey(), top_left_masks(), torch.rand(B, 8, 4))[0]
    px = np.asarray(row).astype(int)  # (H, (K + 2) * W, 3)
    # The input tile is the grey image, undone from its normalisation.
    np.testing.assert_allclose(px[:, :W], 128, atol=1)
    for t in range(1, K + 1):  # each attribute tile
        tile = px[:, t * W : (t + 1) * W]
        r, g, b = tile[2, 2]  # top-left
        assert r > b + 40 and r > g + 40, tile[2, 2]
        r, g, b = tile[-3, -3]  # bottom-right
        assert b > r + 40 and b > g + 40, tile[-3, -3]


def test_numpy_input_and_explicit_feature_size():
    masks = top_left_masks(h=4, w=4).numpy().reshape(B, K, 16)
    rows = attention_overlays(
        normalised_grey(h=16, w=16).numpy(), masks, np.ones((B, 16)), feature_size=(4, 4)
    )
    assert len(rows) == B and rows[0].size == ((K + 2) * 16, 16)
    # A constant m_region has nothing to show: it is drawn as the low end (blue-ish).
    r, g, b = np.asarray(rows[0])[8, -8].astype(int)
    assert b > r


@pytest.mark.parametrize(
    ("images", "masks", "m_region", "kwargs", "match"),
    [
        (torch.zeros(B, 1, H, W), torch.rand(B, K, 8, 4), torch.rand(B, 8, 4), {}, "images"),
        (torch.zeros(B, 3, H, W), torch.rand(B, K), torch.rand(B, 8, 4), {}, "masks"),
        (torch.zeros(B, 3, H, W), torch.rand(B, K, 8, 4), torch.rand(B, 4, 4), {}, "m_region"),
        (torch.zeros(B, 3, H, W), torch.rand(B, K, 8, 4), torch.rand(B, 31), {}, "m_region"),
        (torch.zeros(B, 3, H, W), torch.rand(B + 1, K, 8, 4), torch.rand(B + 1, 8, 4), {}, "items"),
        (torch.zeros(B, 3, H, W), torch.rand(B, K, 30), torch.rand(B, 30), {}, "feature-map"),
        (
            torch.zeros(B, 3, H, W),
            torch.rand(B, K, 32),
            torch.rand(B, 32),
            {"feature_size": (5, 5)},
            "feature_size",
        ),
        (
            torch.zeros(B, 3, H, W),
            torch.rand(B, K, 8, 4),
            torch.rand(B, 8, 4),
            {"names": ["a"]},
            "names",
        ),
        (
            torch.zeros(B, 3, H, W),
            torch.rand(B, K, 8, 4),
            torch.rand(B, 8, 4),
            {"select": [K]},
            "range",
        ),
        (
            torch.zeros(B, 3, H, W),
            torch.rand(B, K, 8, 4),
            torch.rand(B, 8, 4),
            {"select": ["x"]},
            "names",
        ),
        (
            torch.zeros(B, 3, H, W),
            torch.rand(B, K, 8, 4),
            torch.rand(B, 8, 4),
            {"alpha": 2.0},
            "alpha",
        ),
    ],
)
def test_bad_shapes_raise_value_error(images, masks, m_region, kwargs, match):
    with pytest.raises(ValueError, match=match):
        attention_overlays(images, masks, m_region, **kwargs)
