"""The car painter of synthetic CompCars and CARS196.

:mod:`a3m.data.synthetic.compcars` draws its cars with it (``render_car``), and
:mod:`a3m.data.synthetic.cars196` reuses that function, so the painter sits in neither writer.

The five CompCars attributes are visible parts of a side-view car: the type is the silhouette,
doors the door seams, seats the side windows, the maximum speed a spoiler or wing, the
displacement the exhausts and the wheel size. :func:`paint_car` is a
:data:`~a3m.data.synthetic.render.Painter` for :func:`~a3m.data.synthetic.render.render_object`.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import ImageDraw

from a3m.data.synthetic.render import Colour, Point, contrast, ellipse, second_colour

# Fixed part colours: only the paint varies between cars.
GLASS: Colour = (150, 185, 210)
TYRE: Colour = (30, 30, 32)

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
        ellipse(draw, hl[0], hl[1], 0.02 * L, 0.02 * L, (250, 245, 200))
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
        ellipse(draw, wx, wy, r, r, TYRE)
        ellipse(draw, wx, wy, 0.55 * r, 0.55 * r, (175, 178, 185))
        wheels[name] = (wx, wy)
    return {"front": P(0.97, belt), "rear": P(0.03, belt), "roof": P(0.4, roof_y), **wheels}
