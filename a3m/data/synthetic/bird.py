"""The bird painter of synthetic CUB-200-2011 (:mod:`a3m.data.synthetic.cub`).

Every one of the 28 CUB attribute groups is a visible part of a side-view bird: the shape sets
the body's proportions and posture, the bill, wing and tail shapes their outlines, each colour
group one patch, each pattern group marks on its part. :func:`paint_bird` is a
:data:`~a3m.data.synthetic.render.Painter` for :func:`~a3m.data.synthetic.render.render_object`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from PIL import ImageDraw

from a3m.data.synthetic.render import (
    COLOURS,
    Colour,
    Point,
    contrast,
    ellipse,
    lerp,
    second_colour,
)

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
    """Relative on-image size of a bird (``has_size``), for
    :func:`~a3m.data.synthetic.render.render_object`'s ``fill``."""
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


def _chain(points: Sequence[Point], t: float) -> Point:
    """Point at fraction ``t`` of a polyline, by vertex index (good enough for 3-4 points)."""
    n = len(points) - 1
    i = min(int(t * n), n - 1)
    return lerp(points[i], points[i + 1], t * n - i)


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
                x, y = lerp(_chain(top, t), _chain(bottom, t), v)
                ellipse(draw, x, y, px, px, mark)
    elif kind == "striped":
        for t in (0.3, 0.55, 0.8):
            draw.line([_chain(top, t), _chain(bottom, t)], fill=mark, width=max(1, int(px)))
    elif kind == "multi-colored":
        t0 = 0.55
        poly = [_chain(top, t0), *[_chain(top, t) for t in (0.8, 1.0)]]
        poly += [_chain(bottom, t) for t in (1.0, 0.8, t0)]
        draw.polygon(poly, fill=second_colour(base))


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
    scale the bird with :func:`bird_scale` through
    :func:`~a3m.data.synthetic.render.render_object`'s ``fill``.

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
        [lerp(tbot[0], tbot[1], 0.1), lerp(tbot[0], tbot[1], 0.8)],
        width=2 * lw,
        fill=col("has_under_tail_color"),
    )
    _pattern(
        draw, spec.get("has_tail_pattern") or "solid", ttop, tbot, col("has_upper_tail_color"), px
    )
    kp["tail"] = lerp(tail[0], tail[len(tail) // 2], 0.6)

    # Body: underparts below, upperparts above, then the back, breast and belly patches.
    ellipse(draw, bx, by, rx, ry, col("has_underparts_color"))
    draw.pieslice((bx - rx, by - ry, bx + rx, by + ry), 180, 360, fill=col("has_upperparts_color"))
    patches = {
        "back": (bx - 0.1 * rx, by - 0.55 * ry, 0.5 * rx, 0.3 * ry),
        "breast": (bx + 0.55 * rx, by + 0.3 * ry, 0.38 * rx, 0.5 * ry),
        "belly": (bx - 0.05 * rx, by + 0.62 * ry, 0.45 * rx, 0.3 * ry),
    }
    for part, (cx, cy, prx, pry) in patches.items():
        c = col(f"has_{part}_color" if part != "back" else "has_back_color")
        ellipse(draw, cx, cy, prx, pry, c)
        top = [(cx - prx * 0.8, cy - pry * 0.6), (cx + prx * 0.8, cy - pry * 0.6)]
        bot = [(cx - prx * 0.8, cy + pry * 0.6), (cx + prx * 0.8, cy + pry * 0.6)]
        _pattern(draw, spec.get(f"has_{part}_pattern") or "solid", top, bot, c, px)
        kp[part] = (cx, cy)
    # Under-tail coverts: a patch where the tail meets the belly.
    ellipse(draw, bx - 0.75 * rx, by + 0.45 * ry, 0.22 * rx, 0.25 * ry, col("has_under_tail_color"))

    # Wing over the body, from the shoulder back towards the tail.
    length, width, bulge, blunt = _WINGS[spec.get("has_wing_shape") or "rounded-wings"]
    x0, y0 = bx + 0.4 * rx, by - 0.25 * ry
    L, W = length * rx, width * ry
    tip = (x0 - L, y0 + 0.35 * ry + 0.3 * posture * ry)
    top = [(x0, y0 - W / 2), (x0 - 0.5 * L, y0 - bulge * W / 2), (tip[0], tip[1] - blunt * W / 2)]
    bot = [(x0, y0 + W / 2), (x0 - 0.5 * L, y0 + bulge * W / 2), (tip[0], tip[1] + blunt * W / 2)]
    draw.polygon(top + bot[::-1], fill=col("has_wing_color"))
    _pattern(draw, spec.get("has_wing_pattern") or "solid", top, bot, col("has_wing_color"), px)
    kp["left_wing"] = kp["right_wing"] = lerp(top[1], bot[1], 0.5)

    # Head: primary colour, then crown, forehead, nape, throat, pattern, eye, bill.
    hx = bx + 0.8 * rx - 0.15 * posture * rx
    hy = by - 0.75 * ry - 0.45 * posture * ry
    primary = col("has_primary_color")
    ellipse(draw, (hx + bx + 0.5 * rx) / 2, (hy + by) / 2, 0.6 * hr, 0.7 * hr, primary)  # neck
    ellipse(draw, hx, hy, hr, hr, primary)
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
    ellipse(draw, fx, fy, 0.33 * hr, 0.28 * hr, col("has_forehead_color"))
    nx, ny = hx - 0.85 * hr, hy - 0.1 * hr
    ellipse(draw, nx, ny, 0.3 * hr, 0.45 * hr, col("has_nape_color"))
    thx, thy = hx + 0.45 * hr, hy + 0.75 * hr
    ellipse(draw, thx, thy, 0.45 * hr, 0.3 * hr, col("has_throat_color"))
    kp.update(crown=(hx, hy - 0.8 * hr), forehead=(fx, fy), nape=(nx, ny), throat=(thx, thy))

    ex, ey, er = hx + 0.35 * hr, hy - 0.12 * hr, 0.24 * hr
    mark, light = (20, 20, 20), (245, 245, 245)
    hw = max(1, int(0.14 * hr))
    if pattern == "masked":
        ellipse(draw, ex - 0.1 * hr, ey, 0.6 * hr, 0.32 * hr, mark)
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
            ellipse(draw, hx + dx * hr, hy + dy * hr, 0.12 * hr, 0.12 * hr, mark)
    elif pattern == "unique_pattern":
        ellipse(draw, hx - 0.2 * hr, hy + 0.3 * hr, 0.35 * hr, 0.25 * hr, (250, 120, 200))
    if pattern == "eyering":
        ellipse(draw, ex, ey, er * 1.7, er * 1.7, light)
    ellipse(draw, ex, ey, er, er, col("has_eye_color", "black"))
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
