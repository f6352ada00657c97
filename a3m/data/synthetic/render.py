"""One image renderer shared by all synthetic datasets.

The synthetic copies exist so that studies can run on a CPU in minutes and still show the
paper's central effect (Sec. 3, 4.3): attributes carried by *small local parts* help fine-grained
recognition. The renderer is built for that signal:

- a cluttered background (gradient, low-frequency colour noise, blobs and lines drawn in the same
  palette as the objects, pixel noise), so global colour statistics are a weak cue;
- an object drawn from local parts by one of three painters (bird, person, car), whose part
  appearance *is* the attribute value (a bill shape, a crown colour, a handbag, a spoiler...);
- position, scale, rotation, mirror and lighting jitter per image.

A painter draws the object facing right into a transparent RGBA layer that is supersampled
(drawn at ``SUPERSAMPLE`` times the final size, then box-reduced: cheap antialiasing that keeps
few-pixel parts legible); :func:`render_object` rotates, mirrors, places and composites it and
reports the exact box of the drawn pixels and where the named parts ended up.

Everything is vectorised numpy or PIL ``ImageDraw``; there is no Python loop over pixels.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
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

SKIN_TONES: tuple[Colour, ...] = ((240, 200, 170), (215, 170, 130), (170, 120, 85), (110, 75, 50))
HAIR_COLOURS: tuple[Colour, ...] = ((30, 22, 18), (85, 55, 30), (160, 120, 60), (210, 180, 110))
GREY_HAIR: Colour = (200, 200, 200)
GLASS: Colour = (150, 185, 210)
TYRE: Colour = (30, 30, 32)


# --------------------------------------------------------------------------------------------
# Small drawing helpers
# --------------------------------------------------------------------------------------------


def _ellipse(
    draw: ImageDraw.ImageDraw, cx: float, cy: float, rx: float, ry: float, fill: Colour, **kw: Any
) -> None:
    rx, ry = max(abs(rx), 0.5), max(abs(ry), 0.5)
    draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=fill, **kw)


def _lerp(a: Point, b: Point, t: float) -> Point:
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t)


def _chain(points: Sequence[Point], t: float) -> Point:
    """Point at fraction ``t`` of a polyline, by vertex index (good enough for 3-4 points)."""
    n = len(points) - 1
    i = min(int(t * n), n - 1)
    return _lerp(points[i], points[i + 1], t * n - i)


def contrast(colour: Colour) -> Colour:
    """A dark or light colour that stands out on ``colour`` (for patterns and marks)."""
    lum = 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]
    return (25, 25, 25) if lum > 120 else (235, 235, 235)


def second_colour(colour: Colour) -> Colour:
    """A fixed partner colour for "multi-colored" patterns: the RGB complement, brightened."""
    r, g, b = (int(min(255, 40 + 0.85 * (255 - c))) for c in colour)
    return (r, g, b)


def _pattern(
    draw: ImageDraw.ImageDraw,
    kind: str,
    top: Sequence[Point],
    bottom: Sequence[Point],
    base: Colour,
    px: float,
) -> None:
    """Overlay a CUB pattern (solid, spotted, striped, multi-colored) on a region.

    The region is given by two polylines (its upper and lower edge, from root to tip), so
    marks can be placed inside any convex-ish part (a wing, a tail, a breast patch) without
    clipping masks.
    """
    mark = contrast(base)
    if kind == "spotted":
        for t in (0.25, 0.5, 0.75):
            for v in (0.35, 0.65):
                x, y = _lerp(_chain(top, t), _chain(bottom, t), v)
                _ellipse(draw, x, y, px, px, mark)
    elif kind == "striped":
        for t in (0.3, 0.55, 0.8):
            draw.line([_chain(top, t), _chain(bottom, t)], fill=mark, width=max(1, int(px)))
    elif kind == "multi-colored":
        t0 = 0.55
        poly = [_chain(top, t0), *[_chain(top, t) for t in (0.8, 1.0)]]
        poly += [_chain(bottom, t) for t in (1.0, 0.8, t0)]
        draw.polygon(poly, fill=second_colour(base))


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
        _ellipse(draw, cx, cy, rx, ry, cols[i])
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
        paint: a painter (``paint_bird``, ``paint_person``, ``paint_car``).
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


# --------------------------------------------------------------------------------------------
# Bird painter (CUB-200-2011): every one of the 28 CUB attribute groups is a visible part
# --------------------------------------------------------------------------------------------

# has_shape value -> (body rx, body ry, head radius, leg length, posture 0 flat .. 1 upright)
BIRD_SHAPES: dict[str, tuple[float, float, float, float, float]] = {
    "upright-perching_water-like": (0.22, 0.14, 0.085, 0.10, 0.8),
    "chicken-like-marsh": (0.25, 0.16, 0.075, 0.13, 0.2),
    "long-legged-like": (0.21, 0.12, 0.07, 0.24, 0.4),
    "duck-like": (0.28, 0.13, 0.085, 0.03, 0.0),
    "owl-like": (0.19, 0.19, 0.12, 0.05, 1.0),
    "gull-like": (0.28, 0.14, 0.08, 0.09, 0.1),
    "hummingbird-like": (0.17, 0.10, 0.07, 0.03, 0.5),
    "pigeon-like": (0.24, 0.16, 0.075, 0.07, 0.3),
    "tree-clinging-like": (0.20, 0.12, 0.075, 0.07, 0.9),
    "hawk-like": (0.23, 0.16, 0.09, 0.09, 0.7),
    "sandpiper-like": (0.21, 0.12, 0.07, 0.17, 0.1),
    "upland-ground-like": (0.26, 0.16, 0.075, 0.09, 0.2),
    "swallow-like": (0.25, 0.10, 0.075, 0.03, 0.3),
    "perching-like": (0.21, 0.13, 0.085, 0.09, 0.6),
}
BIRD_SIZES: dict[str, float] = {
    "very_small_(3_-_5_in)": 0.76,
    "small_(5_-_9_in)": 0.82,
    "medium_(9_-_16_in)": 0.88,
    "large_(16_-_32_in)": 0.94,
    "very_large_(32_-_72_in)": 1.0,
}


def bird_scale(spec: Mapping[str, str]) -> float:
    """Relative on-image size of a bird (``has_size``), for :func:`render_object`'s ``fill``."""
    return BIRD_SIZES[spec.get("has_size") or "medium_(9_-_16_in)"]


# has_wing_shape value -> (length / body rx, root width / body ry, bulge, blunt tip)
_WINGS: dict[str, tuple[float, float, float, float]] = {
    "rounded-wings": (1.0, 0.75, 1.15, 0.55),
    "pointed-wings": (1.25, 0.7, 0.85, 0.0),
    "broad-wings": (1.05, 1.05, 1.3, 0.35),
    "tapered-wings": (1.3, 0.45, 0.6, 0.0),
    "long-wings": (1.75, 0.6, 0.8, 0.0),
}
_BILL_LENGTH = {
    "shorter_than_head": 0.65,
    "about_the_same_as_head": 1.15,
    "longer_than_head": 1.9,
}


def _bill(x: float, y: float, length: float, height: float, shape: str) -> list[Point]:
    """Polygon of a bill pointing right from its base ``(x, y)``."""
    L, H = length, height
    if shape == "cone":  # short, deep
        return [(x, y - 0.65 * H), (x + 0.7 * L, y + 0.05 * H), (x, y + 0.65 * H)]
    if shape == "dagger":
        return [(x, y - 0.35 * H), (x + L, y), (x, y + 0.35 * H)]
    if shape == "needle":
        return [(x, y - 0.15 * H), (x + 1.25 * L, y + 0.05 * H), (x, y + 0.2 * H)]
    if shape == "hooked":
        return [
            (x, y - 0.55 * H),
            (x + 0.75 * L, y - 0.35 * H),
            (x + 0.9 * L, y + 0.35 * H),
            (x + 0.72 * L, y + 0.05 * H),
            (x, y + 0.4 * H),
        ]
    if shape == "hooked_seabird":
        return [
            (x, y - 0.35 * H),
            (x + 1.05 * L, y - 0.3 * H),
            (x + 1.15 * L, y + 0.45 * H),
            (x + 0.95 * L, y + 0.05 * H),
            (x, y + 0.3 * H),
        ]
    if shape == "curved_(up_or_down)":
        top = [(x + L * t, y - 0.3 * H * (1 - t) + 0.9 * H * t * t) for t in (0.0, 0.4, 0.75, 1.0)]
        bot = [(x + L * t, y + 0.3 * H * (1 - t) + 0.9 * H * t * t) for t in (0.75, 0.4, 0.0)]
        return top + bot
    if shape == "spatulate":
        return [
            (x, y - 0.3 * H),
            (x + 0.6 * L, y - 0.15 * H),
            (x + L, y - 0.5 * H),
            (x + L, y + 0.5 * H),
            (x + 0.6 * L, y + 0.15 * H),
            (x, y + 0.3 * H),
        ]
    if shape == "specialized":  # crossed mandibles
        return [
            (x, y - 0.4 * H),
            (x + 0.9 * L, y + 0.45 * H),
            (x + 0.5 * L, y),
            (x + 0.9 * L, y - 0.45 * H),
            (x, y + 0.4 * H),
        ]
    # all-purpose
    return [(x, y - 0.45 * H), (x + 0.85 * L, y + 0.05 * H), (x, y + 0.45 * H)]


def _tail(
    x: float, y: float, L: float, W: float, shape: str
) -> tuple[list[Point], list[Point], list[Point]]:
    """Tail polygon pointing left from ``(x, y)``, with its upper and lower edge polylines."""
    if shape == "forked_tail":
        poly = [
            (x, y - W / 2),
            (x - L, y - W),
            (x - 0.5 * L, y),
            (x - L, y + W),
            (x, y + W / 2),
        ]
    elif shape == "notched_tail":
        poly = [
            (x, y - W / 2),
            (x - L, y - 0.75 * W),
            (x - 0.8 * L, y),
            (x - L, y + 0.75 * W),
            (x, y + W / 2),
        ]
    elif shape == "rounded_tail":
        poly = [(x, y - W / 2), (x - 0.8 * L, y - 0.7 * W), (x - L, y), (x - 0.8 * L, y + 0.7 * W)]
        poly.append((x, y + W / 2))
    elif shape == "fan-shaped_tail":
        poly = [
            (x, y - 0.3 * W),
            (x - L, y - 1.4 * W),
            (x - 1.15 * L, y),
            (x - L, y + 1.4 * W),
            (x, y + 0.3 * W),
        ]
    elif shape == "pointed_tail":
        poly = [(x, y - W / 2), (x - 1.3 * L, y), (x, y + W / 2)]
    else:  # squared_tail
        poly = [(x, y - W / 2), (x - L, y - W / 2), (x - L, y + W / 2), (x, y + W / 2)]
    top = [(x, y - W / 2), (x - L, y - 0.6 * W)]
    bottom = [(x, y + W / 2), (x - L, y + 0.6 * W)]
    if shape == "pointed_tail":
        top, bottom = [(x, y - W / 2), (x - 1.1 * L, y)], [(x, y + W / 2), (x - 1.1 * L, y)]
    return poly, top, bottom


def paint_bird(
    draw: ImageDraw.ImageDraw, w: int, h: int, spec: Mapping[str, str | None]
) -> dict[str, Point | None]:
    """Draw a side-view bird facing right; ``spec`` maps each CUB group to its value name.

    ``spec`` keys are the 28 CUB group names (``has_bill_shape`` ...), values the value names
    after ``::`` (``cone`` ...); colour values index :data:`COLOURS`. A group may be absent or
    ``None``; then a neutral default is drawn, except the legs: ``has_leg_color`` ``None``
    hides them. ``has_size`` is not drawn here (the renderer crops to the object): callers
    scale the bird with :func:`bird_scale` through :func:`render_object`'s ``fill``.

    Returns:
        Layer-pixel locations of the 15 CUB parts (``back``, ``beak``, ... ``throat``); hidden
        parts (the legs when not drawn) map to ``None``.
    """

    def col(group: str, default: str = "grey") -> Colour:
        return COLOURS[spec.get(group) or default]

    rx, ry, hr, leg_len, posture = BIRD_SHAPES[spec.get("has_shape") or "perching-like"]
    k = 0.95 * min(w, h)  # body size (has_size) is applied by the caller: bird_scale()
    rx, ry, hr, leg_len = rx * k, ry * k, hr * k, leg_len * k
    bx, by = 0.47 * w, 0.47 * h - 0.25 * leg_len
    lw = max(1, int(0.022 * k))
    px = max(1.0, 0.018 * k)  # pattern mark radius
    kp: dict[str, Point | None] = {}

    # Legs first (behind the body); hidden when the spec says so.
    if spec.get("has_leg_color") is not None:
        for i, dx in enumerate((0.12, -0.12)):
            top = (bx + dx * rx, by + 0.8 * ry)
            foot = (top[0] - 0.1 * rx, by + 0.8 * ry + leg_len + 0.15 * ry)
            draw.line([top, foot], fill=col("has_leg_color"), width=max(lw, int(0.03 * k)))
            draw.line([foot, (foot[0] + 0.3 * rx, foot[1])], fill=col("has_leg_color"), width=lw)
            kp["left_leg" if i == 0 else "right_leg"] = foot
    else:
        kp["left_leg"] = kp["right_leg"] = None

    # Tail: upper-tail colour, an under-tail strip, and the tail pattern.
    tx, ty = bx - 0.85 * rx, by + 0.2 * ry + 0.35 * posture * ry
    tail, ttop, tbot = _tail(tx, ty, 0.45 * rx + 0.1 * k, 0.6 * ry, spec.get("has_tail_shape"))
    draw.polygon(tail, fill=col("has_upper_tail_color"))
    draw.line(
        [_lerp(tbot[0], tbot[1], 0.1), _lerp(tbot[0], tbot[1], 0.8)],
        width=2 * lw,
        fill=col("has_under_tail_color"),
    )
    _pattern(
        draw, spec.get("has_tail_pattern") or "solid", ttop, tbot, col("has_upper_tail_color"), px
    )
    kp["tail"] = _lerp(tail[0], tail[len(tail) // 2], 0.6)

    # Body: underparts below, upperparts above, then the back, breast and belly patches.
    _ellipse(draw, bx, by, rx, ry, col("has_underparts_color"))
    draw.pieslice((bx - rx, by - ry, bx + rx, by + ry), 180, 360, fill=col("has_upperparts_color"))
    patches = {
        "back": (bx - 0.1 * rx, by - 0.55 * ry, 0.5 * rx, 0.3 * ry),
        "breast": (bx + 0.55 * rx, by + 0.3 * ry, 0.38 * rx, 0.5 * ry),
        "belly": (bx - 0.05 * rx, by + 0.62 * ry, 0.45 * rx, 0.3 * ry),
    }
    for part, (cx, cy, prx, pry) in patches.items():
        c = col(f"has_{part}_color" if part != "back" else "has_back_color")
        _ellipse(draw, cx, cy, prx, pry, c)
        top = [(cx - prx * 0.8, cy - pry * 0.6), (cx + prx * 0.8, cy - pry * 0.6)]
        bot = [(cx - prx * 0.8, cy + pry * 0.6), (cx + prx * 0.8, cy + pry * 0.6)]
        _pattern(draw, spec.get(f"has_{part}_pattern") or "solid", top, bot, c, px)
        kp[part] = (cx, cy)
    # Under-tail coverts: a patch where the tail meets the belly.
    _ellipse(
        draw, bx - 0.75 * rx, by + 0.45 * ry, 0.22 * rx, 0.25 * ry, col("has_under_tail_color")
    )

    # Wing over the body, from the shoulder back towards the tail.
    length, width, bulge, blunt = _WINGS[spec.get("has_wing_shape") or "rounded-wings"]
    x0, y0 = bx + 0.4 * rx, by - 0.25 * ry
    L, W = length * rx, width * ry
    tip = (x0 - L, y0 + 0.35 * ry + 0.3 * posture * ry)
    top = [(x0, y0 - W / 2), (x0 - 0.5 * L, y0 - bulge * W / 2), (tip[0], tip[1] - blunt * W / 2)]
    bot = [(x0, y0 + W / 2), (x0 - 0.5 * L, y0 + bulge * W / 2), (tip[0], tip[1] + blunt * W / 2)]
    draw.polygon(top + bot[::-1], fill=col("has_wing_color"))
    _pattern(draw, spec.get("has_wing_pattern") or "solid", top, bot, col("has_wing_color"), px)
    kp["left_wing"] = kp["right_wing"] = _lerp(top[1], bot[1], 0.5)

    # Head: primary colour, then crown, forehead, nape, throat, pattern, eye, bill.
    hx = bx + 0.8 * rx - 0.15 * posture * rx
    hy = by - 0.75 * ry - 0.45 * posture * ry
    primary = col("has_primary_color")
    _ellipse(draw, (hx + bx + 0.5 * rx) / 2, (hy + by) / 2, 0.6 * hr, 0.7 * hr, primary)  # neck
    _ellipse(draw, hx, hy, hr, hr, primary)
    pattern = spec.get("has_head_pattern") or "plain"
    crown_extent = (195, 345) if pattern == "capped" else (215, 325)
    draw.chord((hx - hr, hy - hr, hx + hr, hy + hr), *crown_extent, fill=col("has_crown_color"))
    if pattern == "crested":
        draw.polygon(
            [
                (hx - 0.1 * hr, hy - 0.85 * hr),
                (hx - 1.1 * hr, hy - 1.7 * hr),
                (hx + 0.4 * hr, hy - hr),
            ],
            fill=col("has_crown_color"),
        )
    fx, fy = hx + 0.75 * hr, hy - 0.55 * hr
    _ellipse(draw, fx, fy, 0.33 * hr, 0.28 * hr, col("has_forehead_color"))
    nx, ny = hx - 0.85 * hr, hy - 0.1 * hr
    _ellipse(draw, nx, ny, 0.3 * hr, 0.45 * hr, col("has_nape_color"))
    thx, thy = hx + 0.45 * hr, hy + 0.75 * hr
    _ellipse(draw, thx, thy, 0.45 * hr, 0.3 * hr, col("has_throat_color"))
    kp.update(crown=(hx, hy - 0.8 * hr), forehead=(fx, fy), nape=(nx, ny), throat=(thx, thy))

    ex, ey, er = hx + 0.35 * hr, hy - 0.12 * hr, 0.24 * hr
    mark, light = (20, 20, 20), (245, 245, 245)
    hw = max(1, int(0.14 * hr))
    if pattern == "masked":
        _ellipse(draw, ex - 0.1 * hr, ey, 0.6 * hr, 0.32 * hr, mark)
    elif pattern == "malar":
        draw.line([(hx + 0.8 * hr, hy + 0.2 * hr), (hx + 0.1 * hr, hy + 0.85 * hr)], mark, hw)
    elif pattern == "eyeline":
        draw.line([(hx + hr, ey), (hx - hr, ey + 0.1 * hr)], mark, hw)
    elif pattern == "eyebrow":
        draw.line([(ex - 0.45 * hr, ey - 0.4 * hr), (ex + 0.4 * hr, ey - 0.45 * hr)], light, hw)
    elif pattern == "striped":
        for dy in (-0.75, -0.45):
            draw.line([(hx - 0.8 * hr, hy + dy * hr), (hx + 0.8 * hr, hy + dy * hr)], mark, hw)
    elif pattern == "spotted":
        for dx, dy in ((-0.5, 0.1), (-0.25, 0.45), (-0.6, -0.35)):
            _ellipse(draw, hx + dx * hr, hy + dy * hr, 0.12 * hr, 0.12 * hr, mark)
    elif pattern == "unique_pattern":
        _ellipse(draw, hx - 0.2 * hr, hy + 0.3 * hr, 0.35 * hr, 0.25 * hr, (250, 120, 200))
    if pattern == "eyering":
        _ellipse(draw, ex, ey, er * 1.7, er * 1.7, light)
    _ellipse(draw, ex, ey, er, er, col("has_eye_color", "black"))
    kp["left_eye"] = kp["right_eye"] = (ex, ey)

    blen = _BILL_LENGTH[spec.get("has_bill_length") or "about_the_same_as_head"] * hr
    bill_x, bill_y = hx + 0.85 * hr, hy + 0.1 * hr
    bill = _bill(bill_x, bill_y, blen, 0.55 * hr, spec.get("has_bill_shape") or "all-purpose")
    draw.polygon(bill, fill=col("has_bill_color"))
    kp["beak"] = (bill_x + 0.5 * blen, bill_y)
    return kp


CUB_PART_NAMES: tuple[str, ...] = (
    "back",
    "beak",
    "belly",
    "breast",
    "crown",
    "forehead",
    "left_eye",
    "left_leg",
    "left_wing",
    "nape",
    "right_eye",
    "right_leg",
    "right_wing",
    "tail",
    "throat",
)
"""The 15 CUB part names in ``parts/parts.txt`` order (the real file spells them with spaces)."""


# --------------------------------------------------------------------------------------------
# Person painter (Market-1501): the 27 Lin et al. attributes are visible body parts
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonSpec:
    """A pedestrian's appearance: the Market-1501 attributes plus identity details.

    Attributes:
        gender: ``"male"`` or ``"female"`` (shoulder / hip proportions).
        age: 1 young, 2 teenager, 3 adult, 4 old (head ratio, height, grey hair, stoop).
        hair_long, hat, backpack, bag, handbag: booleans drawn as parts.
        short_sleeves: sleeve length (``up``: 1 long, 2 short).
        dress: lower clothing type (``clothes``: 1 dress, 2 pants).
        short_lower: lower clothing length (``down``: 1 long, 2 short).
        upper, lower: colour names (:data:`COLOURS`); ``upper2`` adds horizontal stripes.
        skin, hair, shoes, accessory: identity details (RGB), not labelled attributes.
        build: identity body-width factor around 1.
        view: ``"front"``, ``"back"`` or ``"side"`` (per image).
        stride: leg spread in [0, 1] (per image).
    """

    gender: str
    age: int
    hair_long: bool
    hat: bool
    backpack: bool
    bag: bool
    handbag: bool
    short_sleeves: bool
    dress: bool
    short_lower: bool
    upper: str
    lower: str
    upper2: str | None = None
    skin: Colour = SKIN_TONES[0]
    hair: Colour = HAIR_COLOURS[0]
    shoes: Colour = (30, 30, 30)
    accessory: Colour = (60, 40, 30)
    build: float = 1.0
    view: str = "front"
    stride: float = 0.3


def paint_person(draw: ImageDraw.ImageDraw, w: int, h: int, p: PersonSpec) -> dict[str, Point]:
    """Draw a standing pedestrian into a ``w`` x ``h`` layer (``w`` about ``h / 2``).

    Returns:
        Layer-pixel locations of ``head``, ``torso``, ``hips`` and ``feet``.
    """
    # Proportions: children have a bigger head and shorter legs; old people stoop.
    head_r = {1: 0.085, 2: 0.068, 3: 0.062, 4: 0.062}[p.age] * h
    top = 0.02 * h + (0.06 * h if p.age == 1 else 0.0)
    side = p.view == "side"
    cx = 0.5 * w + (0.04 * w if p.age == 4 else 0.0)
    male = p.gender == "male"
    shoulder = (0.34 if male else 0.27) * w * p.build * (0.6 if side else 1.0)
    hip = (0.24 if male else 0.31) * w * p.build * (0.6 if side else 1.0)
    neck_y = top + 2 * head_r + 0.01 * h
    waist_y = neck_y + (0.29 if p.age > 1 else 0.25) * h
    foot_y = 0.98 * h
    skin, upper, lower = p.skin, COLOURS[p.upper], COLOURS[p.lower]
    hair = GREY_HAIR if p.age == 4 else p.hair
    lw = max(1, int(0.02 * h))

    # Long hair falls behind the shoulders (drawn first, the torso covers its middle).
    hx, hy = cx + (0.03 * w if p.age == 4 else 0.0), top + head_r
    if p.hair_long:
        draw.rectangle((hx - 1.05 * head_r, hy, hx + 1.05 * head_r, neck_y + 0.1 * h), fill=hair)
    # Backpack seen from the back or side is a block on the torso; from the front, straps.
    if p.backpack and side:
        draw.rectangle(
            (
                cx - shoulder / 2 - 0.12 * w,
                neck_y + 0.03 * h,
                cx - shoulder / 2 + 0.02 * w,
                neck_y + 0.2 * h,
            ),
            fill=p.accessory,
        )
    # Legs (pants or bare legs under a dress / shorts), then shoes.
    spread = (0.05 + 0.1 * p.stride) * w
    leg_w = 0.5 * hip * (1.3 if side else 1.0)
    knee_y = waist_y + 0.5 * (foot_y - waist_y)
    for sgn in (-1, 1):
        hip_x = cx + sgn * hip / 4
        ankle = (cx + sgn * spread, foot_y - 0.03 * h)
        draw.line([(hip_x, waist_y), ankle], fill=skin, width=int(leg_w * 0.8))
        if not p.dress:
            end = ankle if not p.short_lower else _lerp((hip_x, waist_y), ankle, 0.45)
            draw.line([(hip_x, waist_y), end], fill=lower, width=int(leg_w))
        _ellipse(draw, ankle[0] + 0.03 * w, ankle[1] + 0.01 * h, 0.07 * w, 0.02 * h, p.shoes)
    if p.dress:
        hem_y = foot_y - 0.08 * h if not p.short_lower else knee_y
        draw.polygon(
            [
                (cx - hip / 2, waist_y - 0.02 * h),
                (cx + hip / 2, waist_y - 0.02 * h),
                (cx + hip * 0.8, hem_y),
                (cx - hip * 0.8, hem_y),
            ],
            fill=lower,
        )
    # Torso: a trapezoid from the shoulders to the hips, optional stripes of a second colour.
    torso = [
        (cx - shoulder / 2, neck_y),
        (cx + shoulder / 2, neck_y),
        (cx + hip / 2, waist_y),
        (cx - hip / 2, waist_y),
    ]
    draw.polygon(torso, fill=upper)
    if p.upper2 is not None:
        for t in (0.3, 0.6):
            y = neck_y + t * (waist_y - neck_y)
            draw.line(
                [(cx - shoulder / 2, y), (cx + shoulder / 2, y)],
                COLOURS[p.upper2],
                max(1, int(0.04 * h)),
            )
    # Arms: sleeves in the upper colour, bare skin below short sleeves.
    arm_w = max(1, int(0.07 * w * p.build))
    hand_y = waist_y + 0.04 * h
    for sgn in (-1, 1) if not side else (1,):
        sx = cx + sgn * (shoulder / 2 + 0.02 * w) if not side else cx
        hand = (sx + sgn * 0.04 * w, hand_y)
        draw.line([(sx, neck_y + 0.01 * h), hand], fill=skin, width=arm_w)
        sleeve_end = hand if not p.short_sleeves else _lerp((sx, neck_y), hand, 0.35)
        draw.line([(sx, neck_y + 0.01 * h), sleeve_end], fill=upper, width=arm_w + 1)
    # Carried things.
    if p.backpack and p.view == "back":
        draw.rectangle(
            (cx - 0.3 * shoulder, neck_y + 0.03 * h, cx + 0.3 * shoulder, neck_y + 0.21 * h),
            fill=p.accessory,
        )
    elif p.backpack and p.view == "front":
        for sgn in (-1, 1):
            x = cx + sgn * 0.3 * shoulder
            draw.line([(x, neck_y), (x, neck_y + 0.14 * h)], fill=p.accessory, width=lw)
            draw.rectangle(
                (
                    cx + sgn * shoulder / 2 - 0.05 * w,
                    neck_y + 0.04 * h,
                    cx + sgn * shoulder / 2,
                    neck_y + 0.17 * h,
                ),
                fill=p.accessory,
            )
    if p.bag:  # shoulder bag: a diagonal strap and a pouch at the opposite hip
        draw.line(
            [(cx - shoulder / 2, neck_y), (cx + hip / 2, waist_y)], fill=(70, 50, 35), width=lw
        )
        draw.rectangle(
            (
                cx + hip / 2 - 0.02 * w,
                waist_y - 0.05 * h,
                cx + hip / 2 + 0.16 * w,
                waist_y + 0.04 * h,
            ),
            fill=(120, 80, 45),
        )
    if p.handbag:  # a small bag hanging from the left hand
        hx0 = cx - shoulder / 2 - 0.08 * w
        draw.rectangle(
            (hx0 - 0.1 * w, hand_y, hx0 + 0.06 * w, hand_y + 0.07 * h), fill=(170, 30, 90)
        )
    # Head, hair, hat.
    face = hair if p.view == "back" else skin
    _ellipse(draw, hx, hy, head_r, head_r, face)
    draw.chord((hx - head_r, hy - head_r, hx + head_r, hy + head_r), 190, 350, fill=hair)
    if p.hat:
        draw.rectangle(
            (hx - 1.3 * head_r, hy - 0.55 * head_r, hx + 1.3 * head_r, hy - 0.35 * head_r),
            fill=p.accessory,
        )
        draw.rectangle(
            (hx - 0.85 * head_r, hy - 1.35 * head_r, hx + 0.85 * head_r, hy - 0.5 * head_r),
            fill=p.accessory,
        )
    return {
        "head": (hx, hy),
        "torso": (cx, (neck_y + waist_y) / 2),
        "hips": (cx, waist_y),
        "feet": (cx, foot_y),
    }


# --------------------------------------------------------------------------------------------
# Car painter (CompCars, CARS196): type, doors, seats, speed, displacement are visible parts
# --------------------------------------------------------------------------------------------

# CompCars type ids (data/misc/car_type.mat order) -> names.
CAR_TYPES: tuple[str, ...] = (
    "MPV",
    "SUV",
    "sedan",
    "hatchback",
    "minibus",
    "fastback",
    "estate",
    "pickup",
    "hardtop convertible",
    "sports",
    "crossover",
    "convertible",
)
# Silhouette above the beltline, as (x, y) in units of the car length, front (x = 1) first:
# the top profile from the front bumper to the rear bumper. y grows downwards; belt is ~0.30.
_PROFILES: dict[str, tuple[tuple[float, float], ...]] = {
    "MPV": ((0.97, 0.30), (0.9, 0.22), (0.72, 0.07), (0.1, 0.06), (0.03, 0.14), (0.03, 0.30)),
    "SUV": ((0.97, 0.27), (0.95, 0.18), (0.7, 0.15), (0.6, 0.03), (0.08, 0.03), (0.03, 0.27)),
    "sedan": (
        (0.97, 0.30),
        (0.95, 0.22),
        (0.68, 0.19),
        (0.56, 0.08),
        (0.3, 0.08),
        (0.18, 0.19),
        (0.03, 0.21),
        (0.03, 0.30),
    ),
    "hatchback": (
        (0.97, 0.30),
        (0.95, 0.22),
        (0.7, 0.19),
        (0.56, 0.08),
        (0.14, 0.09),
        (0.06, 0.2),
        (0.05, 0.30),
    ),
    "minibus": ((0.98, 0.30), (0.97, 0.10), (0.88, 0.02), (0.03, 0.02), (0.02, 0.30)),
    "fastback": (
        (0.97, 0.30),
        (0.95, 0.22),
        (0.7, 0.2),
        (0.55, 0.09),
        (0.38, 0.09),
        (0.05, 0.22),
        (0.04, 0.30),
    ),
    "estate": (
        (0.97, 0.30),
        (0.95, 0.22),
        (0.7, 0.19),
        (0.57, 0.08),
        (0.06, 0.08),
        (0.04, 0.2),
        (0.04, 0.30),
    ),
    "pickup": (
        (0.97, 0.28),
        (0.95, 0.18),
        (0.72, 0.16),
        (0.62, 0.04),
        (0.42, 0.04),
        (0.4, 0.16),
        (0.03, 0.16),
        (0.03, 0.28),
    ),
    "hardtop convertible": (
        (0.97, 0.32),
        (0.95, 0.25),
        (0.68, 0.22),
        (0.55, 0.13),
        (0.33, 0.13),
        (0.2, 0.22),
        (0.03, 0.23),
        (0.03, 0.32),
    ),
    "sports": (
        (0.98, 0.33),
        (0.96, 0.28),
        (0.65, 0.22),
        (0.5, 0.13),
        (0.35, 0.14),
        (0.1, 0.22),
        (0.03, 0.24),
        (0.03, 0.33),
    ),
    "crossover": (
        (0.97, 0.28),
        (0.95, 0.2),
        (0.7, 0.17),
        (0.58, 0.06),
        (0.12, 0.07),
        (0.05, 0.18),
        (0.04, 0.28),
    ),
    "convertible": (
        (0.97, 0.32),
        (0.95, 0.25),
        (0.66, 0.22),
        (0.6, 0.17),
        (0.55, 0.22),
        (0.03, 0.23),
        (0.03, 0.32),
    ),
}


@dataclass(frozen=True)
class CarSpec:
    """A car's appearance: the CompCars attributes plus model and image details.

    Attributes:
        type: a :data:`CAR_TYPES` name (the silhouette).
        doors: 2-5; one or two side doors, plus a tailgate seam for 3 and 5 doors.
        seats: 2-9; the number of side windows (1 for 2 seats, 2 for 4-5, 3 for 6+).
        speed: maximum speed in km/h; a rear spoiler from 200, a tall wing from 240.
        displacement: litres; wheel size grows with it, twin exhausts from 2.5 L.
        colour: paint colour (per image in CompCars: models come in many colours).
        headlight: model detail, 0 round / 1 slanted / 2 wide.
        grille: model detail, number of grille bars (1-4).
        stripe: model detail, a side stripe.
        height: model detail, body height factor around 1.
    """

    type: str
    doors: int
    seats: int
    speed: float
    displacement: float
    colour: Colour = (190, 190, 195)
    headlight: int = 0
    grille: int = 2
    stripe: bool = False
    height: float = 1.0


def paint_car(draw: ImageDraw.ImageDraw, w: int, h: int, c: CarSpec) -> dict[str, Point]:
    """Draw a side-view car facing right into a ``w`` x ``h`` layer (``w`` about ``2 h``).

    Returns:
        Layer-pixel locations of ``front``, ``rear``, ``roof`` and the two wheels.
    """
    L = 0.96 * w  # car length in pixels; x in units of L, y in units of L too
    ox, oy = 0.02 * w, h - 0.47 * L * c.height  # top-left of the profile frame

    def P(x: float, y: float) -> Point:
        return (ox + x * L, oy + y * L * c.height)

    belt, sill = 0.30, 0.40
    if c.type in ("SUV", "minibus", "MPV", "pickup"):
        sill = 0.42
    profile = _PROFILES[c.type]
    body = [P(*q) for q in profile] + [P(profile[-1][0], sill), P(profile[0][0], sill)]
    paint, dark = c.colour, contrast(c.colour)
    draw.polygon(body, fill=paint)

    # Windows: the cabin between the A- and C-pillars, split by B-pillars by seat count.
    roof_y = min(q[1] for q in profile)
    roof_pts = [q for q in profile if q[1] <= roof_y + 0.02]
    front_x, rear_x = max(q[0] for q in roof_pts), min(q[0] for q in roof_pts)
    open_top = c.type == "convertible"
    glass_top = roof_y + 0.02
    glass_bot = 0.21 if c.type not in ("SUV", "minibus", "MPV", "pickup") else 0.16
    glass_bot = max(glass_bot, glass_top + 0.05)
    n_win = 1 if c.seats <= 2 else 2 if c.seats <= 5 else 3
    x_front, x_rear = front_x - 0.02, rear_x + (0.03 if c.type != "minibus" else 0.04)
    if c.type == "pickup":
        x_rear = 0.44
    if not open_top:
        span = (x_front - x_rear) / n_win
        for i in range(n_win):
            xa, xb = x_front - i * span - 0.012, x_front - (i + 1) * span + 0.012
            draw.polygon(
                [P(xa, glass_top), P(xb, glass_top), P(xb, glass_bot), P(xa, glass_bot)], fill=GLASS
            )
    else:  # windscreen only
        draw.line([P(0.66, 0.22), P(0.6, 0.17)], fill=GLASS, width=max(1, int(0.012 * L)))

    # Doors: seams below the windows; one door per side for 2/3 doors, two for 4/5.
    lw = max(1, int(0.006 * L))
    n_side = 1 if c.doors <= 3 else 2
    door_front, door_len = x_front - 0.02, (0.22 if n_side == 1 else 0.17)
    for i in range(n_side + 1):
        x = door_front - i * door_len
        draw.line([P(x, belt - 0.08), P(x, sill - 0.02)], fill=dark, width=lw)
    for i in range(n_side):  # door handles
        x = door_front - i * door_len - 0.05
        draw.line([P(x, belt - 0.03), P(x - 0.03, belt - 0.03)], fill=dark, width=lw)
    if c.doors in (3, 5):  # a tailgate seam at the rear
        x = profile[-2][0] + 0.02
        draw.line([P(x, profile[-2][1]), P(x, sill - 0.03)], fill=dark, width=lw)
    if c.stripe:
        draw.line(
            [P(0.05, belt + 0.04), P(0.95, belt + 0.04)], fill=second_colour(paint), width=lw * 2
        )

    # Front details: headlight and grille bars (model identity).
    hl = P(0.93, belt - 0.02)
    if c.headlight == 0:
        _ellipse(draw, hl[0], hl[1], 0.02 * L, 0.02 * L, (250, 245, 200))
    elif c.headlight == 1:
        draw.polygon([hl, P(0.88, belt - 0.04), P(0.89, belt)], fill=(250, 245, 200))
    else:
        draw.rectangle((*P(0.9, belt - 0.035), *P(0.97, belt - 0.005)), fill=(250, 245, 200))
    for i in range(c.grille):
        y = belt + 0.01 + 0.018 * i
        draw.line([P(0.94, y), P(0.975, y)], fill=dark, width=lw)

    # Speed: rear spoiler (>= 200 km/h) or a tall wing (>= 240 km/h).
    rear_top = P(profile[-2][0] + 0.02, profile[-2][1])
    if c.speed >= 240:
        draw.line([rear_top, (rear_top[0], rear_top[1] - 0.05 * L)], fill=dark, width=lw * 2)
        draw.line(
            [
                (rear_top[0] - 0.04 * L, rear_top[1] - 0.05 * L),
                (rear_top[0] + 0.07 * L, rear_top[1] - 0.05 * L),
            ],
            fill=dark,
            width=lw * 3,
        )
    elif c.speed >= 200:
        draw.polygon(
            [
                rear_top,
                (rear_top[0] - 0.03 * L, rear_top[1] - 0.025 * L),
                (rear_top[0] + 0.05 * L, rear_top[1] - 0.02 * L),
            ],
            fill=dark,
        )
    # Displacement: exhaust pipes and wheel size.
    n_pipes = 2 if c.displacement >= 2.5 else 1
    for i in range(n_pipes):
        ex, ey = P(0.02, sill - 0.01 - 0.022 * i)
        draw.rectangle(
            (ex - 0.025 * L, ey - 0.006 * L, ex + 0.01 * L, ey + 0.006 * L), fill=(60, 60, 60)
        )
    r = (0.062 + 0.012 * min(max(c.displacement - 1.0, 0.0), 4.0)) * L
    wheels = {}
    for name, x in (("front_wheel", 0.8), ("rear_wheel", 0.2)):
        wx, wy = P(x, sill)
        _ellipse(draw, wx, wy, r, r, TYRE)
        _ellipse(draw, wx, wy, 0.55 * r, 0.55 * r, (175, 178, 185))
        wheels[name] = (wx, wy)
    return {"front": P(0.97, belt), "rear": P(0.03, belt), "roof": P(0.4, roof_y), **wheels}
