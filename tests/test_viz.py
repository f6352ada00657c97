"""Tests of a3m.viz: Fig. 6-style attention overlays."""

from __future__ import annotations

from types import SimpleNamespace

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
    save_attention_examples,
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
    # the band holds the longest name whole, over as many lines as it needs
    lines = _band_lines(["input", "bag", "upper_colour_with_a_very_long_name", "m_region"])
    assert lines > 1
    with Image.open(paths[0]) as img:
        assert img.size == ((2 + 2) * W, H + LABEL_HEIGHT * lines)
        band = np.asarray(img)[: LABEL_HEIGHT * lines]
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


def _bad(match: str, images=(B, 3, H, W), masks=(B, K, 8, 4), m_region=(B, 8, 4), **kwargs):
    """A call with one thing wrong (a shape or a keyword; the rest valid) and what its error
    names."""
    return pytest.param(images, masks, m_region, kwargs, match, id=match)


@pytest.mark.parametrize(
    ("images", "masks", "m_region", "kwargs", "match"),
    [
        _bad("images", images=(B, 1, H, W)),
        _bad("masks", masks=(B, K)),
        _bad("m_region", m_region=(B, 4, 4)),
        _bad("m_region", m_region=(B, 31)),
        _bad("items", masks=(B + 1, K, 8, 4), m_region=(B + 1, 8, 4)),
        _bad("feature-map", masks=(B, K, 30), m_region=(B, 30)),
        _bad("feature_size", masks=(B, K, 32), m_region=(B, 32), feature_size=(5, 5)),
        _bad("names", names=["a"]),
        _bad("range", select=[K]),
        _bad("names", select=["x"]),
        _bad("alpha", alpha=2.0),
    ],
)
def test_bad_shapes_raise_value_error(images, masks, m_region, kwargs, match):
    with pytest.raises(ValueError, match=match):
        attention_overlays(torch.zeros(images), torch.rand(masks), torch.rand(m_region), **kwargs)


class MaskModel(torch.nn.Module):
    """Stands for an A3M model: K masks on an 8x4 feature map, mask k brightest at row k, and
    mask 1 flat (the least selective); ``masks=None`` stands for Baseline-1."""

    def __init__(self, attention: bool = True):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))
        self.attention = attention
        self.seen_training: list[bool] = []

    def forward(self, x: torch.Tensor) -> SimpleNamespace:
        self.seen_training.append(self.training)
        masks = torch.zeros(len(x), K, 8 * 4)
        for k in range(K):
            masks[:, k, 4 * k : 4 * k + 4] = self.scale
        masks[:, 1] = 0.5
        m_region = masks.amax(1)
        if not self.attention:
            masks = m_region = None
        return SimpleNamespace(masks=masks, m_region=m_region, feature_size=(8, 4))


def test_save_attention_examples_draws_the_most_selective_masks(tmp_path):
    model = MaskModel().train()
    names = ["gender", "flat", "bag"]
    paths = save_attention_examples(
        model, normalised_grey(), tmp_path, names=names, max_attributes=2
    )
    assert len(paths) == B and model.seen_training == [False] and model.training  # mode restored
    band = LABEL_HEIGHT * _band_lines(["input", "gender", "bag", "m_region"])
    with Image.open(paths[0]) as img:
        assert img.size == ((2 + 2) * W, H + band)  # input, gender, bag, m_region
        px = np.asarray(img).astype(int)[band:]
    bag = px[:, 2 * W : 3 * W]  # the third tile: high at feature row 2 (pixels 8-11), not 0
    assert bag[10, 2, 0] > bag[10, 2, 2] and bag[1, 2, 0] < bag[1, 2, 2]  # red there, blue here
    unnamed = save_attention_examples(model, normalised_grey(), tmp_path / "unnamed")
    with Image.open(unnamed[0]) as img:
        band = LABEL_HEIGHT * _band_lines(["input", "branch 0", "m_region"])
        assert img.size == ((K + 2) * W, H + band)  # "branch k" names, all K drawn
    assert save_attention_examples(MaskModel(attention=False), normalised_grey(), tmp_path) == []


def _band_lines(names: list[str]) -> int:
    """Lines of the label band over tiles of W pixels holding these names."""
    from PIL import ImageDraw, ImageFont

    from a3m.viz import _wrap_text

    draw, font = ImageDraw.Draw(Image.new("RGB", (W, 12))), ImageFont.load_default()
    return max(len(_wrap_text(draw, name, font, W)) for name in names)


def test_long_names_are_wrapped_whole_never_cut():
    from PIL import ImageDraw, ImageFont

    from a3m.viz import _wrap_text

    font = ImageFont.load_default()
    draw = ImageDraw.Draw(Image.new("RGB", (64, 12)))
    lines = _wrap_text(draw, "has_underparts_color", font, 64)
    assert "".join(lines) == "has_underparts_color" and len(lines) > 1  # every letter kept
    assert all(draw.textlength(line, font=font) <= 62 for line in lines)
    assert lines[0].endswith("_")  # broken after an underscore where it can be
    assert _wrap_text(draw, "m_region", font, 64) == ["m_region"]
    # the strip's label band grows to the longest name's lines
    H = W = 16
    images = torch.zeros(1, 3, H, W)
    img = attention_overlays(images, torch.rand(1, 1, 4, 4), torch.rand(1, 4, 4),
                             names=["has_underparts_color"])[0]  # fmt: skip
    wrapped = _wrap_text(draw, "has_underparts_color", font, W)
    assert img.size == (3 * W, H + LABEL_HEIGHT * len(wrapped))
