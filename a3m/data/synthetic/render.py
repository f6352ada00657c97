"""The image renderer every synthetic dataset shares: backgrounds, compositing, finishing.

The synthetic copies exist so that studies can run on a CPU in minutes and still show the
paper's central effect (Sec. 3, 4.3): attributes carried by *small local parts* help fine-grained
recognition. The renderer is built for that signal:

- a cluttered background (gradient, low-frequency colour noise, blobs and lines drawn in the same
  palette as the objects, pixel noise), so global colour statistics are a weak cue;
- an object drawn from local parts by a painter, whose part appearance *is* the attribute value
  (a bill shape, a crown colour, a handbag, a spoiler...); each painter sits beside the format
  writer that uses it: :mod:`~a3m.data.synthetic.bird` (CUB), :mod:`~a3m.data.synthetic.person`
  (Market-1501) and :mod:`~a3m.data.synthetic.car` (CompCars and CARS196);
- position, scale, rotation, mirror and lighting jitter per image.

A painter (:data:`Painter`) draws the object facing right into a transparent RGBA layer that is
supersampled (drawn at ``SUPERSAMPLE`` times the final size, then box-reduced: cheap
antialiasing that keeps few-pixel parts legible); :func:`render_object` rotates, mirrors, places
and composites it and reports the exact box of the drawn pixels and where the named parts ended
up. This module also holds what several painters draw with: the palette :data:`COLOURS` and the
small helpers (:func:`ellipse`, :func:`lerp`, :func:`contrast`, :func:`second_colour`).

Everything is vectorised numpy or PIL ``ImageDraw``; there is no Python loop over pixels.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

Colour = tuple[int, int, int]
Point = tuple[float, float]
Painter = Callable[[ImageDraw.ImageDraw, int, int, Any], dict[str, Point | None]]
"""``paint(draw, width, height, spec) -> keypoints``: draws one object facing right into a
``width`` x ``height`` RGBA layer and returns named part locations in layer pixels."""

SUPERSAMPLE = 3
"""Objects are drawn this many times larger than their final size, then box-reduced."""

COLOURS: dict[str, Colour] = {
    # The 15 CUB colour names (``has_*_color::<name>``), the Market-1501 colours, car paints.
    # Chosen far apart in RGB so that a 2-pixel part still has a recognisable colour.
    "blue": (40, 80, 205),
    "brown": (110, 65, 30),
    "iridescent": (25, 170, 150),
    "purple": (125, 40, 160),
    "rufous": (190, 90, 35),
    "grey": (128, 128, 128),
    "gray": (128, 128, 128),
    "yellow": (240, 215, 35),
    "olive": (120, 125, 30),
    "green": (35, 155, 50),
    "pink": (245, 145, 190),
    "orange": (250, 130, 20),
    "black": (22, 22, 22),
    "white": (242, 242, 242),
    "red": (210, 25, 30),
    "buff": (225, 195, 140),
    "silver": (192, 194, 200),
    "navy": (25, 35, 90),
    "beige": (215, 200, 165),
}


# --------------------------------------------------------------------------------------------
# Small drawing helpers
# --------------------------------------------------------------------------------------------


def ellipse(
    draw: ImageDraw.ImageDraw, cx: float, cy: float, rx: float, ry: float, fill: Colour, **kw: Any
) -> None:
    """Fill the ellipse centred on ``(cx, cy)`` with radii ``rx``, ``ry`` (at least half a pixel,
    so a part shrunk to nothing still leaves a mark)."""
    rx, ry = max(abs(rx), 0.5), max(abs(ry), 0.5)
    draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=fill, **kw)


def lerp(a: Point, b: Point, t: float) -> Point:
    """The point at fraction ``t`` of the way from ``a`` to ``b``."""
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t)


def contrast(colour: Colour) -> Colour:
    """A dark or light colour that stands out on ``colour`` (for patterns and marks)."""
    lum = 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]
    return (25, 25, 25) if lum > 120 else (235, 235, 235)


def second_colour(colour: Colour) -> Colour:
    """A fixed partner colour for "multi-colored" patterns: the RGB complement, brightened."""
    r, g, b = (int(min(255, 40 + 0.85 * (255 - c))) for c in colour)
    return (r, g, b)


# --------------------------------------------------------------------------------------------
# Backgrounds and compositing
# --------------------------------------------------------------------------------------------

_CLUTTER_PALETTE = np.array(
    [c for k, c in COLOURS.items() if k not in ("gray",)]
    + [(60, 110, 40), (90, 140, 60), (100, 80, 50), (150, 170, 190)],
    dtype=np.int64,
)


def background(
    height: int, width: int, rng: np.random.Generator, clutter: float = 1.0
) -> Image.Image:
    """A cluttered RGB background (PIL image).

    Layers, all vectorised: a two-colour linear gradient, low-frequency colour noise (a 4x4
    random image upsampled), then ``clutter``-scaled counts of blobs, lines and boxes drawn in
    the object palette, so that "a red pixel somewhere" does not identify a red-crowned class.
    """
    c0, c1 = rng.uniform(40, 215, size=(2, 3))
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    t = xx * np.cos(angle) / max(width, 1) + yy * np.sin(angle) / max(height, 1)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    img = c0 + (c1 - c0) * t[..., None]  # (H, W, 3)
    low = rng.integers(0, 256, size=(4, 4, 3), dtype=np.uint8)
    low = np.asarray(Image.fromarray(low).resize((width, height), Image.Resampling.BICUBIC))
    img = 0.65 * img + 0.35 * low
    image = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))

    draw = ImageDraw.Draw(image)
    size = min(height, width)
    n_blobs, n_lines, n_boxes = (rng.poisson(clutter * lam) for lam in (6.0, 3.0, 1.5))
    cols = _CLUTTER_PALETTE[rng.integers(0, len(_CLUTTER_PALETTE), n_blobs + n_lines + n_boxes)]
    cols = [tuple(int(v) for v in c) for c in cols]
    for i in range(n_blobs):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        rx, ry = rng.uniform(0.02, 0.12, size=2) * size
        ellipse(draw, cx, cy, rx, ry, cols[i])
    for i in range(n_lines):
        x0, x1 = rng.uniform(-0.1, 1.1, size=2) * width
        y0, y1 = rng.uniform(-0.1, 1.1, size=2) * height
        w = max(1, int(rng.uniform(0.01, 0.05) * size))
        draw.line([(x0, y0), (x1, y1)], fill=cols[n_blobs + i], width=w)
    for i in range(n_boxes):
        x0, y0 = rng.uniform(0, width), rng.uniform(0, height)
        bw, bh = rng.uniform(0.05, 0.25, size=2) * size
        draw.rectangle((x0, y0, x0 + bw, y0 + bh), fill=cols[n_blobs + n_lines + i])
    return image


def finish(
    image: Image.Image,
    rng: np.random.Generator,
    *,
    noise: float = 6.0,
    brightness: float = 0.12,
    tint: float = 0.06,
    gain: Sequence[float] | None = None,
) -> Image.Image:
    """Photometric nuisance on the whole image: lighting, tint, optional camera gain, noise."""
    arr = np.asarray(image, dtype=np.float32)
    scale = rng.uniform(1 - brightness, 1 + brightness) * rng.uniform(1 - tint, 1 + tint, size=3)
    if gain is not None:
        scale = scale * np.asarray(gain, dtype=np.float32)
    arr = arr * scale + noise * rng.standard_normal(arr.shape, dtype=np.float32)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def _scale(keypoints: dict[str, Point | None], sx: float, sy: float) -> dict[str, Point | None]:
    return {k: None if p is None else (p[0] * sx, p[1] * sy) for k, p in keypoints.items()}


@dataclass(frozen=True)
class Rendered:
    """One rendered image.

    Attributes:
        image: the RGB image (PIL), before photometric finishing.
        box: ``(x, y, w, h)`` of the object's drawn pixels, 0-based, in pixels.
        keypoints: named part locations in image pixels (``None`` for parts the painter hid).
        flipped: whether the object was mirrored (it then faces left).
    """

    image: Image.Image
    box: tuple[int, int, int, int]
    keypoints: dict[str, Point | None] = field(default_factory=dict)
    flipped: bool = False


def render_object(
    paint: Painter,
    spec: Any,
    *,
    height: int,
    width: int,
    rng: np.random.Generator,
    aspect: float = 1.0,
    fill: tuple[float, float] = (0.7, 0.95),
    rotate: float = 8.0,
    flip: bool | None = None,
    squash: float = 1.0,
    clutter: float = 1.0,
    canvas: Image.Image | None = None,
) -> Rendered:
    """Draw ``spec`` with ``paint`` onto a cluttered canvas, with geometric jitter.

    The painter draws into a supersampled layer; the layer is cropped to the drawn pixels, so
    ``fill`` is the object's own extent (not the painter's margins): the object is scaled so
    that its limiting side spans a fraction ``f ~ U(fill)`` of the canvas.

    Args:
        paint: a painter (:func:`~a3m.data.synthetic.bird.paint_bird`,
            :func:`~a3m.data.synthetic.person.paint_person`,
            :func:`~a3m.data.synthetic.car.paint_car`).
        spec: the painter's object description.
        height, width: the image size in pixels.
        rng: the per-image random generator (all jitter comes from it).
        aspect: the painter's layer width / height.
        fill: range of the object's size as a fraction of the canvas (limiting side).
        rotate: maximum absolute rotation in degrees.
        flip: mirror the object; ``None`` = a fair coin.
        squash: horizontal scale of the object (< 1 fakes an oblique viewpoint for cars).
        clutter: background clutter scale (0 = plain gradient).
        canvas: draw onto this image instead of a fresh background.

    Returns:
        The composited image with the exact object box and the transformed keypoints.
    """
    base = canvas.copy() if canvas is not None else background(height, width, rng, clutter)
    f = float(rng.uniform(*fill))
    lh = SUPERSAMPLE * max(height, width / aspect)  # paint at >= SUPERSAMPLE x the final size
    big_w, big_h = max(8, int(lh * aspect)), max(8, int(lh))
    layer = Image.new("RGBA", (big_w, big_h), (0, 0, 0, 0))
    keypoints: dict[str, Point | None] = dict(paint(ImageDraw.Draw(layer), big_w, big_h, spec))
    x0, y0, x1, y1 = layer.getchannel("A").getbbox() or (0, 0, big_w, big_h)
    layer = layer.crop((x0, y0, x1, y1))
    keypoints = {k: None if p is None else (p[0] - x0, p[1] - y0) for k, p in keypoints.items()}
    cw, ch = layer.width, layer.height

    if flip is None:
        flip = bool(rng.random() < 0.5)
    if flip:
        layer = layer.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        keypoints = {k: None if p is None else (cw - p[0], p[1]) for k, p in keypoints.items()}
    # Scale to the final size with a box filter (antialiasing); squash is folded in.
    t = f * min(height / ch, width / (cw * squash))
    fw, fh = max(1, round(cw * squash * t)), max(1, round(ch * t))
    layer = layer.resize((fw, fh), Image.Resampling.BOX)
    keypoints = _scale(keypoints, fw / cw, fh / ch)
    angle = float(rng.uniform(-rotate, rotate)) if rotate > 0 else 0.0
    if angle:
        layer = layer.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)
        # PIL turns counter-clockwise about the centre and re-centres the expanded canvas.
        a = math.radians(angle)
        ca, sa = math.cos(a), math.sin(a)
        ocx, ocy, ncx, ncy = fw / 2, fh / 2, layer.width / 2, layer.height / 2

        def _rot(p: Point) -> Point:
            dx, dy = p[0] - ocx, p[1] - ocy
            return (ncx + ca * dx + sa * dy, ncy - sa * dx + ca * dy)

        keypoints = {k: None if p is None else _rot(p) for k, p in keypoints.items()}
    # Keep the whole object inside the canvas.
    shrink = min(1.0, width / layer.width, height / layer.height)
    if shrink < 1.0:
        fw, fh = max(1, int(layer.width * shrink)), max(1, int(layer.height * shrink))
        keypoints = _scale(keypoints, fw / layer.width, fh / layer.height)
        layer = layer.resize((fw, fh), Image.Resampling.BILINEAR)
    fw, fh = layer.width, layer.height
    ox = int(rng.integers(0, width - fw + 1))
    oy = int(rng.integers(0, height - fh + 1))
    base.paste(layer, (ox, oy), layer)

    alpha = np.asarray(layer.getchannel("A")) > 64
    rows, cols = np.flatnonzero(alpha.any(axis=1)), np.flatnonzero(alpha.any(axis=0))
    if rows.size:
        box = (
            ox + int(cols[0]),
            oy + int(rows[0]),
            int(cols[-1] - cols[0] + 1),
            int(rows[-1] - rows[0] + 1),
        )
    else:  # nothing drawn (cannot happen with the shipped painters); a 1-pixel box, not a crash
        box = (ox, oy, 1, 1)
    keypoints = {k: None if p is None else (ox + p[0], oy + p[1]) for k, p in keypoints.items()}
    return Rendered(image=base, box=box, keypoints=keypoints, flipped=flip)
