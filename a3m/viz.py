"""Attention-map drawings in the style of the paper's Fig. 6 (Sec. 4.3, "Visualization of
Attention Maps").

One row per image: the input, then the attribute-guided masks m^(k) (eq. 5; all K or a chosen
subset such as the paper's five: gender, bag, upper colour, sleeve, lower colour), then the merged
mask m^(region) = max_k m^(k) (Sec. 3.2), each upsampled bilinearly to the input size, normalised
to [0, 1] per map, coloured with a jet-like colormap (red high, blue low) and laid over the image.
Everything is array arithmetic: NumPy / torch on whole images, never a loop over pixels.
Matplotlib is not a dependency; the colormap is computed here and text is drawn with PIL's
default font. :func:`save_attention_examples` draws a model's own attention on a few images (what
``a3m.train.fit`` does at the end of a run).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont
from torch import nn

__all__ = [
    "ATTENTION_DIR_NAME",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "LABEL_HEIGHT",
    "attention_overlays",
    "jet_colormap",
    "save_attention_examples",
    "save_attention_maps",
]

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

ATTENTION_DIR_NAME = "attention"
"""Folder of a run's Fig. 6 drawings: in its output folder (fit's ``attention_images``) and
as its MLflow artifact path, where the dashboards look for them."""
LABEL_HEIGHT = 12  # pixels per line of a tile's name (names wrap over as many as they need)
"""Height in pixels of the band above the tiles that holds their names (only when named)."""

INPUT_TITLE, REGION_TITLE = "input", "m_region"


def jet_colormap(values: np.ndarray) -> np.ndarray:
    """Map values in [0, 1] to jet-like RGB colours (0 dark blue, 0.5 green, 1 dark red).

    The piecewise-linear ramps of MATLAB's / matplotlib's ``jet``: each channel is a tent
    ``clip(1.5 - |4 v - c|, 0, 1)`` centred at c = 3 (red), 2 (green), 1 (blue).

    Args:
        values: array of any shape; values outside [0, 1] are clipped.

    Returns:
        float32 array of shape ``values.shape + (3,)`` in [0, 1].
    """
    v = np.clip(np.asarray(values, dtype=np.float32), 0.0, 1.0)[..., None]  # (..., 1)
    centres = np.array([3.0, 2.0, 1.0], dtype=np.float32)  # R, G, B
    return np.clip(1.5 - np.abs(4.0 * v - centres), 0.0, 1.0)  # (..., 3)


def _as_float_tensor(x: torch.Tensor | np.ndarray, name: str) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a tensor or an array, got {type(x).__name__}")
    return x.detach().cpu().float()


def _feature_size(length: int, height: int, width: int) -> tuple[int, int]:
    """The (h, w) with h * w = L and the input's aspect ratio (224x224: 7x7, 256x128: 8x4)."""
    w = round(math.sqrt(length * width / height))
    if w < 1 or length % w or (length // w) * width != height * w:
        raise ValueError(
            f"cannot infer the feature-map size of L={length} for a {height}x{width} input; "
            "pass feature_size=(h, w)"
        )
    return length // w, w


def _spatial_masks(
    masks: torch.Tensor, m_region: torch.Tensor, size: tuple[int, int] | None, hw: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Masks as (B, K, h, w) and m_region as (B, 1, h, w), whichever layout they came in."""
    if masks.ndim == 3:  # (B, K, L): the model's layout
        length = masks.shape[2]
        h, w = size if size is not None else _feature_size(length, *hw)
        if h * w != length:
            raise ValueError(f"feature_size {(h, w)} does not hold L={length} positions")
        masks = masks.reshape(masks.shape[0], masks.shape[1], h, w)
    elif masks.ndim != 4:
        raise ValueError(
            f"masks must have shape (B, K, h, w) or (B, K, L), got {tuple(masks.shape)}"
        )
    h, w = masks.shape[2:]
    if m_region.ndim == 2:  # (B, L)
        if m_region.shape[1] != h * w:
            raise ValueError(f"m_region has L={m_region.shape[1]} positions, masks have {h}x{w}")
        m_region = m_region.reshape(-1, h, w)
    if m_region.ndim != 3 or tuple(m_region.shape[1:]) != (h, w):
        raise ValueError(
            f"m_region must have shape (B, {h}, {w}) or (B, {h * w}), got {tuple(m_region.shape)}"
        )
    if m_region.shape[0] != masks.shape[0]:
        raise ValueError(f"m_region has {m_region.shape[0]} items, masks have {masks.shape[0]}")
    return masks, m_region[:, None]


def _select(select: Sequence[int | str] | None, names: Sequence[str] | None, k: int) -> list[int]:
    """Indices of the attribute masks to draw, from indices or names."""
    if select is None:
        return list(range(k))
    chosen = []
    for item in select:
        if isinstance(item, str):
            if names is None or item not in names:
                raise ValueError(f"attribute {item!r} is not among the names {list(names or [])}")
            chosen.append(list(names).index(item))
        elif isinstance(item, int) and -k <= item < k:
            chosen.append(item % k)
        else:
            raise ValueError(f"attribute index {item!r} out of range for K={k}")
    return chosen


def _normalise_per_map(maps: torch.Tensor) -> torch.Tensor:
    """Scale each (H, W) map to [0, 1] for display; a constant map becomes all zeros."""
    flat = maps.flatten(-2)  # (..., H*W)
    lo = flat.amin(-1, keepdim=True)[..., None]  # (..., 1, 1)
    hi = flat.amax(-1, keepdim=True)[..., None]
    return (maps - lo) / (hi - lo).clamp_min(1e-12)


def _wrap_text(
    draw: ImageDraw.ImageDraw, text: str, font: ImageFont.ImageFont, width: int
) -> list[str]:
    """``text`` as lines that fit in ``width`` pixels, broken after ``_``, ``:`` or a space
    where it can be, else between letters: CUB's names are long and the tiles of a synthetic
    run are 64 pixels wide, and a name must be read whole (``has_wing_color``)."""
    lines: list[str] = []
    for part in re.findall(r"[^_: ]+[_: ]*|[_: ]+", text):
        if lines and draw.textlength(lines[-1] + part.rstrip(), font=font) <= width - 2:
            lines[-1] += part
            continue
        lines.append("")
        for char in part:
            if lines[-1] and draw.textlength(lines[-1] + char, font=font) > width - 2:
                lines.append("")
            lines[-1] += char
    return [line.strip() for line in lines if line.strip()] or [""]


def attention_overlays(
    images: torch.Tensor | np.ndarray,
    masks: torch.Tensor | np.ndarray,
    m_region: torch.Tensor | np.ndarray,
    *,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    names: Sequence[str] | None = None,
    alpha: float = 0.5,
    feature_size: tuple[int, int] | None = None,
    select: Sequence[int | str] | None = None,
) -> list[Image.Image]:
    """One Fig. 6-style row per image: [input | attribute masks | m_region], as PIL images.

    Args:
        images: (B, 3, H, W) network inputs, normalised with ``mean`` / ``std`` (undone here).
        masks: attribute-guided masks m^(k), (B, K, h, w), or (B, K, L) as the model returns them
            (then ``feature_size`` or the input's aspect ratio gives (h, w)).
        m_region: the merged mask, (B, h, w) or (B, L).
        mean, std: per-channel normalisation of ``images``.
        names: K attribute names, written small above their tiles (with "input" and
            "m_region" above the first and last); no text band when None.
        alpha: weight of the colour map over the image (0 image only, 1 colour map only).
        feature_size: (h, w) of the feature map when masks are (B, K, L).
        select: the attributes to draw, by index or name (e.g. the paper's five); default all.

    Returns:
        B RGB images of width ``(len(select) + 2) * W`` and height ``H``, plus ``LABEL_HEIGHT``
        per line of the longest wrapped name when ``names`` is given.

    Raises:
        ValueError: on shapes that do not fit together, an unknown attribute or a bad alpha.
    """
    imgs = _as_float_tensor(images, "images")
    if imgs.ndim != 4 or imgs.shape[1] != 3:
        raise ValueError(f"images must have shape (B, 3, H, W), got {tuple(imgs.shape)}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    b, _, height, width = imgs.shape
    mk, mr = _spatial_masks(
        _as_float_tensor(masks, "masks"),
        _as_float_tensor(m_region, "m_region"),
        feature_size,
        (height, width),
    )
    if mk.shape[0] != b:
        raise ValueError(f"masks have {mk.shape[0]} items, images have {b}")
    k = mk.shape[1]
    if names is not None and len(names) != k:
        raise ValueError(f"got {len(names)} names for K={k} masks")
    chosen = _select(select, names, k)

    # Un-normalise to [0, 1] RGB, channels last.
    mean_t = torch.tensor(mean, dtype=torch.float32)[None, :, None, None]
    std_t = torch.tensor(std, dtype=torch.float32)[None, :, None, None]
    rgb = (imgs * std_t + mean_t).clamp(0.0, 1.0).permute(0, 2, 3, 1).numpy()  # (B, H, W, 3)

    maps = torch.cat([mk[:, chosen], mr], dim=1)  # (B, T, h, w), T = len(chosen) + 1
    maps = F.interpolate(maps, size=(height, width), mode="bilinear", align_corners=False)
    colours = jet_colormap(_normalise_per_map(maps).numpy())  # (B, T, H, W, 3)
    overlays = (1.0 - alpha) * rgb[:, None] + alpha * colours  # (B, T, H, W, 3)
    tiles = np.concatenate([rgb[:, None], overlays], axis=1)  # (B, T + 1, H, W, 3)
    # Tiles side by side: (B, H, (T + 1) * W, 3).
    rows = tiles.transpose(0, 2, 1, 3, 4).reshape(b, height, -1, 3)
    rows = (rows * 255.0 + 0.5).astype(np.uint8)

    titles = None
    if names is not None:
        titles = [INPUT_TITLE, *(names[i] for i in chosen), REGION_TITLE]
    out = []
    font = ImageFont.load_default()
    for row in rows:
        tile_img = Image.fromarray(row)  # (H, W, 3) uint8: RGB
        if titles is None:
            out.append(tile_img)
            continue
        measure = ImageDraw.Draw(tile_img)
        wrapped = [_wrap_text(measure, title, font, width) for title in titles]
        band = LABEL_HEIGHT * max(len(lines) for lines in wrapped)
        canvas = Image.new("RGB", (tile_img.width, height + band), "white")
        canvas.paste(tile_img, (0, band))
        draw = ImageDraw.Draw(canvas)
        for t, lines in enumerate(wrapped):
            for i, line in enumerate(lines):
                draw.text((t * width + 1, i * LABEL_HEIGHT), line, fill="black", font=font)
        out.append(canvas)
    return out


def save_attention_maps(
    images: torch.Tensor | np.ndarray,
    masks: torch.Tensor | np.ndarray,
    m_region: torch.Tensor | np.ndarray,
    out_dir: str | Path,
    *,
    names: Sequence[str] | None = None,
    prefix: str = "attention",
    start_index: int = 0,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    alpha: float = 0.5,
    feature_size: tuple[int, int] | None = None,
    select: Sequence[int | str] | None = None,
) -> list[Path]:
    """Write one PNG per image with :func:`attention_overlays` (paper Fig. 6).

    Args:
        images, masks, m_region, names, mean, std, alpha, feature_size, select: as in
            :func:`attention_overlays`.
        out_dir: folder for the PNGs (created if missing).
        prefix: file name prefix; files are ``{prefix}_{index:04d}.png``.
        start_index: index of the first image, so successive batches do not overwrite.

    Returns:
        The paths written, in batch order.
    """
    rows = attention_overlays(
        images,
        masks,
        m_region,
        mean=mean,
        std=std,
        names=names,
        alpha=alpha,
        feature_size=feature_size,
        select=select,
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, row in enumerate(rows):
        path = out / f"{prefix}_{start_index + i:04d}.png"
        row.save(path, format="PNG")
        paths.append(path)
    return paths


@torch.no_grad()
def save_attention_examples(
    model: nn.Module,
    images: torch.Tensor,
    out_dir: str | Path,
    *,
    names: Sequence[str] = (),
    max_attributes: int = 6,
) -> list[Path]:
    """Fig. 6 of a model: its attention on ``images``, one PNG per image.

    Draws the ``max_attributes`` attribute masks m^(k) that vary most over the images (the most
    selective ones, as the paper picks five in Fig. 6) and m_region, overlaid on each input.
    The model runs in eval mode on its own device, in full precision; its mode is restored.

    Args:
        model: an A3M model (its output has ``masks``, ``m_region`` and ``feature_size``, see
            :class:`a3m.models.a3m.A3MOutput`).
        images: (B, 3, H, W) network inputs, normalised with the ImageNet mean and std.
        out_dir: folder for the PNGs (created if missing).
        names: the K attribute names; default ``branch <k>``.
        max_attributes: attribute masks drawn per image.

    Returns:
        The paths written; none for a model without attention (Baseline-1's masks are None).
    """
    training = model.training
    model.eval()
    try:
        out = model(images.to(next(model.parameters()).device))
    finally:
        model.train(training)
    if out.masks is None:
        return []
    (h, w), (b, k) = out.feature_size, out.masks.shape[:2]
    masks = out.masks.float().cpu().view(b, k, h, w)
    keep = masks.flatten(2).std(dim=2).mean(dim=0).argsort(descending=True)[:max_attributes]
    keep = keep.sort().values.tolist()
    labels = list(names) or [f"branch {i}" for i in range(k)]
    return save_attention_maps(
        images.cpu(),
        masks[:, keep],
        out.m_region.float().cpu().view(b, h, w),
        out_dir,
        names=[labels[i] for i in keep],
    )
