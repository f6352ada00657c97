"""The pedestrian painter of synthetic Market-1501 (:mod:`a3m.data.synthetic.market1501`).

The 27 attributes of Lin et al. are visible body parts (clothing types, lengths and colours,
carried bags, hair, hat) and age and gender set the proportions; skin, hair and shoe colours
and the build are unlabelled identity details. :func:`paint_person` is a
:data:`~a3m.data.synthetic.render.Painter` for :func:`~a3m.data.synthetic.render.render_object`.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import ImageDraw

from a3m.data.synthetic.render import COLOURS, Colour, Point, ellipse, lerp

# Identity details, not labelled attributes: each identity draws its skin and hair from these.
SKIN_TONES: tuple[Colour, ...] = ((240, 200, 170), (215, 170, 130), (170, 120, 85), (110, 75, 50))
HAIR_COLOURS: tuple[Colour, ...] = ((30, 22, 18), (85, 55, 30), (160, 120, 60), (210, 180, 110))
GREY_HAIR: Colour = (200, 200, 200)


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
            end = ankle if not p.short_lower else lerp((hip_x, waist_y), ankle, 0.45)
            draw.line([(hip_x, waist_y), end], fill=lower, width=int(leg_w))
        ellipse(draw, ankle[0] + 0.03 * w, ankle[1] + 0.01 * h, 0.07 * w, 0.02 * h, p.shoes)
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
        sleeve_end = hand if not p.short_sleeves else lerp((sx, neck_y), hand, 0.35)
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
    ellipse(draw, hx, hy, head_r, head_r, face)
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
