"""Twelve procedural object classes, each a function of a random generator (proportions, part counts, styles).

Shapes are built in rough real-world metres, y up, front towards +z, and returned centred inside the unit sphere.
Every class has a silhouette of its own (long and flat, tall and thin, round, boxy with holes...) so the classes stay
separable from a 32-pixel view or a few hundred points, while the drawn parameters and styles give each class a
spread of shapes.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import trimesh

from crossmost_data.datasets.synthetic.paired_classes import PAIRED_GENERATORS
from crossmost_data.datasets.synthetic.parts import PartList, object_palette, rotation_x, rotation_y, rotation_z

__all__ = ["SHAPES_VERSION", "SYNTHETIC_CLASSES", "generate_shape"]

Rng = np.random.Generator


def _airplane(p: PartList, rng: Rng) -> None:
    length = rng.uniform(3.0, 4.5)
    radius = rng.uniform(0.16, 0.26)
    nose = rng.uniform(0.35, 0.8)
    tail_z = -length / 2.0
    front_z = length / 2.0 - nose
    p.rod((0, 0, tail_z), (0, 0, front_z), radius, sections=14)
    p.cone(radius, nose, (0, 0, front_z), (0, 0, 1))
    span = rng.uniform(2.4, 4.0) * length / 3.6
    chord = rng.uniform(0.45, 0.8)
    wing_y = rng.uniform(-0.7, 0.5) * radius
    wing_z = rng.uniform(-0.1, 0.15) * length
    sweep = math.radians(rng.uniform(0.0, 32.0))
    for side in (-1.0, 1.0):
        root = np.array([0.0, wing_y, wing_z])
        half = trimesh.creation.box(extents=(span / 2.0, 0.06, chord))
        half.apply_translation((side * span / 4.0, 0.0, 0.0))
        half.apply_transform(rotation_y(side * sweep))
        half.apply_translation(root)
        p.add(half)
        stab = trimesh.creation.box(extents=(span * rng.uniform(0.12, 0.2), 0.04, chord * 0.5))
        stab.apply_translation((side * span * 0.08, 0.0, 0.0))
        stab.apply_transform(rotation_y(side * sweep))
        stab.apply_translation((0.0, radius * 0.3, tail_z + chord * 0.35))
        p.add(stab, "accent")
    fin_h = rng.uniform(0.5, 0.95)
    fin_c = rng.uniform(0.45, 0.8)
    p.box((0.05, fin_h, fin_c), (0, radius + fin_h / 2.0 - 0.05, tail_z + fin_c / 2.0), "accent")
    engines = rng.choice([0, 2, 4], p=[0.3, 0.5, 0.2])
    for k in range(int(engines) // 2):
        x = span * (0.18 + 0.14 * k)
        for side in (-1.0, 1.0):
            z = wing_z - math.tan(sweep) * x + chord * 0.3
            p.rod((side * x, wing_y - 0.17, z - 0.3), (side * x, wing_y - 0.17, z + 0.25), 0.11, "dark")


def _bed(p: PartList, rng: Rng) -> None:
    width, length = rng.uniform(1.0, 2.0), rng.uniform(1.9, 2.3)
    leg = rng.choice([0.0, rng.uniform(0.06, 0.18)])
    frame_h = rng.uniform(0.2, 0.35)
    p.box((width, frame_h, length), (0, leg + frame_h / 2.0, 0))
    mattress = rng.uniform(0.15, 0.28)
    top = leg + frame_h + mattress
    p.box((width * 0.96, mattress, length * 0.96), (0, leg + frame_h + mattress / 2.0, 0.0), "light")
    head_h = rng.uniform(0.9, 1.4)
    p.box((width, head_h, 0.08), (0, head_h / 2.0, -length / 2.0 - 0.04), "accent")
    if rng.random() < 0.5:
        foot_h = rng.uniform(0.45, 0.7)
        p.box((width, foot_h, 0.06), (0, foot_h / 2.0, length / 2.0 + 0.03), "accent")
    pillows = int(rng.integers(1, 3))
    for k in range(pillows):
        pw = width * 0.85 / pillows
        x = -width * 0.425 + pw * (k + 0.5)
        p.box((pw * 0.9, 0.12, 0.35), (x, top + 0.06, -length / 2.0 + 0.3), "light")
    if leg > 0:
        for sx in (-1, 1):
            for sz in (-1, 1):
                p.box((0.07, leg, 0.07), (sx * (width / 2 - 0.05), leg / 2.0, sz * (length / 2 - 0.05)), "dark")


def _bench(p: PartList, rng: Rng) -> None:
    length, depth = rng.uniform(1.2, 2.0), rng.uniform(0.3, 0.5)
    height, thick = rng.uniform(0.4, 0.5), rng.uniform(0.04, 0.08)
    p.box((length, thick, depth), (0, height - thick / 2.0, 0))
    style = rng.choice(["legs", "slabs", "frames"])
    leg_h = height - thick
    if style == "slabs":
        for side in (-1, 1):
            p.box((0.06, leg_h, depth * 0.9), (side * (length / 2 - 0.12), leg_h / 2.0, 0), "accent")
    else:
        pairs = 2 if style == "legs" else int(rng.integers(2, 4))
        for i in range(pairs):
            x = -length / 2 + 0.1 + (length - 0.2) * i / (pairs - 1)
            for sz in (-1, 1):
                p.box((0.05, leg_h, 0.05), (x, leg_h / 2.0, sz * (depth / 2 - 0.05)), "accent")
            if style == "frames":
                p.box((0.04, 0.04, depth * 0.9), (x, leg_h * 0.25, 0), "accent")
    if rng.random() < 0.5:
        slats = int(rng.integers(1, 4))
        back_z = -depth / 2 + 0.03
        for k in range(slats):
            y = height + 0.12 + 0.13 * k
            p.box((length * 0.95, 0.08, 0.03), (0, y, back_z - 0.02), "main")
        top = height + 0.12 + 0.13 * (slats - 1) + 0.04
        for side in (-1, 1):
            p.box((0.05, top - height, 0.04), (side * (length / 2 - 0.15), (top + height) / 2.0, back_z), "accent")


def _bookshelf(p: PartList, rng: Rng) -> None:
    width, height, depth = rng.uniform(0.6, 1.4), rng.uniform(1.3, 2.2), rng.uniform(0.28, 0.4)
    t = rng.uniform(0.025, 0.045)
    for side in (-1, 1):
        p.box((t, height, depth), (side * (width - t) / 2.0, height / 2.0, 0))
    p.box((width, 0.012, depth), (0, height / 2.0, -depth / 2.0 + 0.006))
    shelves = int(rng.integers(3, 7))
    inner = width - 2 * t
    for k in range(shelves + 1):
        y = t / 2.0 + (height - t) * k / shelves
        p.box((inner, t, depth), (0, y, 0))
        if k < shelves and rng.random() < 0.6:
            gap = (height - t) / shelves - t
            fill = rng.uniform(0.3, 0.9) * inner
            book_h = gap * rng.uniform(0.6, 0.9)
            x0 = -inner / 2.0 + rng.uniform(0.0, inner - fill)
            p.box((fill, book_h, depth * 0.75), (x0 + fill / 2.0, y + t / 2.0 + book_h / 2.0, 0.0), "accent")


def _bottle(p: PartList, rng: Rng) -> None:
    radius, height = rng.uniform(0.035, 0.06), rng.uniform(0.2, 0.34)
    body = rng.uniform(0.45, 0.65) * height
    shoulder = rng.uniform(0.08, 0.22) * height
    neck = rng.uniform(0.25, 0.45) * radius
    profile = [(0.0, 0.0), (radius, 0.0), (radius, body), (neck, body + shoulder), (neck, height), (0.0, height)]
    p.lathe(profile, (0, 0, 0), sections=18)
    cap_h = rng.uniform(0.05, 0.1) * height
    p.rod((0, height - cap_h * 0.5, 0), (0, height + cap_h, 0), neck * 1.15, "accent", sections=14)


def _car(p: PartList, rng: Rng) -> None:
    length, width = rng.uniform(3.6, 4.8), rng.uniform(1.6, 1.9)
    wheel = rng.uniform(0.28, 0.38)
    body_h = rng.uniform(0.45, 0.7)
    bottom = wheel * 0.55
    p.box((width, body_h, length), (0, bottom + body_h / 2.0, 0))
    style = rng.choice(["sedan", "van", "pickup"], p=[0.55, 0.2, 0.25])
    cabin_len = {"sedan": rng.uniform(0.4, 0.55), "van": rng.uniform(0.7, 0.85), "pickup": rng.uniform(0.28, 0.36)}
    cabin_l = cabin_len[str(style)] * length
    cabin_h = rng.uniform(0.4, 0.6) * (1.3 if style == "van" else 1.0)
    offset = {"sedan": rng.uniform(-0.12, 0.05), "van": -0.05, "pickup": rng.uniform(0.08, 0.15)}[str(style)] * length
    p.box((width * 0.9, cabin_h, cabin_l), (0, bottom + body_h + cabin_h / 2.0, offset), "accent")
    axle = length / 2.0 - rng.uniform(0.6, 0.9)
    for sx in (-1, 1):
        for sz in (-1, 1):
            x0, x1 = sx * (width / 2.0 - 0.12), sx * (width / 2.0 + 0.06)
            p.rod((x0, wheel, sz * axle), (x1, wheel, sz * axle), wheel, "dark", sections=16)


def _chair(p: PartList, rng: Rng) -> None:
    sw, sd = rng.uniform(0.4, 0.55), rng.uniform(0.4, 0.55)
    sh, st = rng.uniform(0.4, 0.5), rng.uniform(0.04, 0.08)
    p.box((sw, st, sd), (0, sh - st / 2.0, 0))
    style = rng.choice(["four", "pedestal", "sled"], p=[0.6, 0.25, 0.15])
    leg_h = sh - st
    lt = rng.uniform(0.03, 0.05)
    if style == "four":
        for sx in (-1, 1):
            for sz in (-1, 1):
                p.box((lt, leg_h, lt), (sx * (sw / 2 - lt), leg_h / 2.0, sz * (sd / 2 - lt)), "accent")
    elif style == "pedestal":
        p.rod((0, 0.06, 0), (0, sh - st, 0), 0.03, "dark")
        spokes = int(rng.integers(4, 6))
        for k in range(spokes):
            p.box((0.3, 0.04, 0.05), (0, 0.04, 0), "dark", rotation_y(2 * math.pi * k / spokes) @ _shift_x(0.15))
    else:
        for sx in (-1, 1):
            x = sx * (sw / 2 - lt)
            for sz in (-1, 1):
                p.box((lt, leg_h, lt), (x, leg_h / 2.0, sz * (sd / 2 - lt)), "accent")
            p.box((lt, lt, sd), (x, lt / 2.0, 0), "accent")
    back_h = rng.uniform(0.35, 0.6)
    tilt = rotation_x(-math.radians(rng.uniform(0.0, 12.0)))
    back_z = -sd / 2.0 + 0.025
    if rng.random() < 0.55:
        p.box((sw, back_h, 0.05), (0, sh + back_h / 2.0, back_z), "main", tilt)
    else:
        for side in (-1, 1):
            p.box((0.04, back_h, 0.04), (side * (sw / 2 - 0.02), sh + back_h / 2.0, back_z), "accent", tilt)
        p.box((sw, 0.08, 0.04), (0, sh + back_h - 0.04, back_z), "main", tilt)
        slats = int(rng.integers(1, 4))
        for k in range(slats):
            x = -sw / 2.0 + sw * (k + 1) / (slats + 1)
            p.box((0.04, back_h * 0.8, 0.03), (x, sh + back_h * 0.45, back_z), "main", tilt)
    if rng.random() < 0.35:
        arm_y = sh + rng.uniform(0.18, 0.26)
        for side in (-1, 1):
            x = side * (sw / 2 + 0.02)
            p.box((0.05, 0.04, sd * 0.9), (x, arm_y, 0), "accent")
            p.box((0.04, arm_y - sh, 0.04), (x, (arm_y + sh) / 2.0, sd / 2 - 0.05), "accent")


def _shift_x(dx: float) -> np.ndarray:
    return trimesh.transformations.translation_matrix((dx, 0.0, 0.0))


def _guitar(p: PartList, rng: Rng) -> None:
    lower, upper = rng.uniform(0.17, 0.23), rng.uniform(0.11, 0.16)
    depth = rng.uniform(0.06, 0.11)
    upper_y = lower + rng.uniform(0.6, 0.8) * (lower + upper)
    for radius, y in ((lower, lower), (upper, upper_y)):
        p.rod((0, y, -depth / 2.0), (0, y, depth / 2.0), radius, sections=24)
    if rng.random() < 0.4:  # electric style: a horn on one side
        p.box((0.07, 0.22, depth * 0.9), (upper * 0.9, upper_y + 0.05, 0), "main", rotation_z(-0.4))
    neck_l = rng.uniform(0.42, 0.56)
    neck_y0 = upper_y + upper * 0.8
    p.box((0.055, neck_l, 0.03), (0, neck_y0 + neck_l / 2.0, depth / 4.0), "accent")
    head_l = rng.uniform(0.13, 0.2)
    tilt = rotation_x(-math.radians(rng.uniform(0.0, 14.0)))
    p.box((0.085, head_l, 0.025), (0, neck_y0 + neck_l + head_l / 2.0, depth / 4.0), "accent", tilt)
    p.rod((0, lower, depth / 2.0 - 0.005), (0, lower, depth / 2.0 + 0.004), 0.05, "dark", sections=16)


def _lamp(p: PartList, rng: Rng) -> None:
    style = rng.choice(["table", "floor", "arm"], p=[0.45, 0.3, 0.25])
    base_r = rng.uniform(0.08, 0.14) * (1.5 if style == "floor" else 1.0)
    p.rod((0, 0, 0), (0, 0.035, 0), base_r, "dark", sections=18)
    shade_r = rng.uniform(0.13, 0.22) * (1.3 if style == "floor" else 1.0)
    shade_h = rng.uniform(0.14, 0.28)
    top_ratio = rng.uniform(0.45, 0.85)
    if style == "arm":
        lower = rng.uniform(0.3, 0.45)
        lean = math.radians(rng.uniform(10.0, 30.0))
        elbow = (0.0, 0.035 + lower * math.cos(lean), -lower * math.sin(lean))
        p.rod((0, 0.035, 0), elbow, 0.015, "dark")
        reach = rng.uniform(0.3, 0.45)
        head = (0.0, elbow[1] + 0.05, elbow[2] + reach)
        p.rod(elbow, head, 0.015, "dark")
        beam = np.array([0.0, -0.9, 0.45]) / math.hypot(0.9, 0.45)  # the shade opens towards the desk
        shade_l = shade_h * 1.2
        p.cone(shade_r * 0.75, shade_l, np.asarray(head) + beam * shade_l, -beam, "light")
        return
    pole = rng.uniform(0.28, 0.5) if style == "table" else rng.uniform(1.1, 1.6)
    p.rod((0, 0.035, 0), (0, pole + shade_h * 0.5, 0), 0.015, "dark")
    profile = [(0.0, 0.0), (shade_r, 0.0), (shade_r * top_ratio, shade_h), (0.0, shade_h)]
    p.lathe(profile, (0, pole, 0), "light", sections=20)


def _mug(p: PartList, rng: Rng) -> None:
    radius, height = rng.uniform(0.04, 0.06), rng.uniform(0.08, 0.12)
    wall = rng.uniform(0.005, 0.009)
    flare = rng.uniform(1.0, 1.15)
    profile = [(0.0, 0.0), (radius, 0.0), (radius * flare, height), (radius * flare - wall, height)]
    profile += [(radius - wall, wall), (0.0, wall)]
    p.lathe(profile, (0, 0, 0), sections=22)
    major = rng.uniform(0.45, 0.65) * height / 2.0
    minor = rng.uniform(0.006, 0.01)
    p.torus(major, minor, (radius * flare * 0.95 + major * 0.45, height * 0.52, 0), np.eye(4), "accent")


def _sofa(p: PartList, rng: Rng) -> None:
    width, depth = rng.uniform(1.5, 2.4), rng.uniform(0.8, 1.0)
    seat = rng.uniform(0.38, 0.46)
    leg = rng.choice([0.0, rng.uniform(0.05, 0.12)])
    base_h = seat - leg - 0.1
    p.box((width, base_h, depth), (0, leg + base_h / 2.0, 0))
    back_h, back_t = rng.uniform(0.35, 0.55), rng.uniform(0.15, 0.25)
    p.box((width, seat + back_h - leg, back_t), (0, leg + (seat + back_h - leg) / 2.0, -depth / 2 + back_t / 2))
    arm_w = rng.uniform(0.1, 0.25) if rng.random() < 0.85 else 0.0
    if arm_w > 0:
        arm_h = seat + rng.uniform(0.12, 0.25) - leg
        for side in (-1, 1):
            p.box((arm_w, arm_h, depth), (side * (width / 2 - arm_w / 2), leg + arm_h / 2.0, 0), "accent")
    cushions = int(rng.integers(1, 4))
    inner = width - 2 * arm_w
    for k in range(cushions):
        cw = inner / cushions
        p.box((cw * 0.96, 0.1, depth - back_t), (-inner / 2 + cw * (k + 0.5), seat - 0.05, back_t / 2), "light")
    if rng.random() < 0.2:  # chaise longue on one side
        side = rng.choice([-1.0, 1.0])
        cw = inner / 2.0
        p.box((cw, seat - leg, 0.6), (side * (inner / 2 - cw / 2), leg + (seat - leg) / 2.0, depth / 2 + 0.3))
    if leg > 0:
        for sx in (-1, 1):
            for sz in (-1, 1):
                p.box((0.06, leg, 0.06), (sx * (width / 2 - 0.06), leg / 2.0, sz * (depth / 2 - 0.06)), "dark")


def _table(p: PartList, rng: Rng) -> None:
    height, thick = rng.uniform(0.68, 0.78), rng.uniform(0.03, 0.06)
    round_top = rng.random() < 0.35
    if round_top:
        radius = rng.uniform(0.4, 0.65)
        p.rod((0, height - thick, 0), (0, height, 0), radius, sections=24)
        half_w = half_d = radius * 0.62
    else:
        width, depth = rng.uniform(0.9, 1.8), rng.uniform(0.6, 1.0)
        p.box((width, thick, depth), (0, height - thick / 2.0, 0))
        half_w, half_d = width / 2 - 0.07, depth / 2 - 0.07
    leg_h = height - thick
    style = rng.choice(["pedestal", "four"]) if round_top else rng.choice(["four", "trestle"], p=[0.75, 0.25])
    if style == "four":
        lt = rng.uniform(0.04, 0.08)
        for sx in (-1, 1):
            for sz in (-1, 1):
                p.box((lt, leg_h, lt), (sx * half_w, leg_h / 2.0, sz * half_d), "accent")
        if not round_top and rng.random() < 0.5:
            for sz in (-1, 1):
                p.box((2 * half_w, 0.08, 0.025), (0, leg_h - 0.04, sz * half_d), "accent")
    elif style == "pedestal":
        p.rod((0, 0.03, 0), (0, leg_h, 0), rng.uniform(0.04, 0.08), "accent", sections=14)
        p.rod((0, 0, 0), (0, 0.03, 0), rng.uniform(0.22, 0.35), "accent", sections=18)
    else:
        for side in (-1, 1):
            p.box((0.06, leg_h, 2 * half_d), (side * half_w, leg_h / 2.0, 0), "accent")
        p.box((2 * half_w, 0.06, 0.06), (0, leg_h * 0.3, 0), "accent")


_GENERATORS: dict[str, Callable[[PartList, Rng], None]] = {
    "airplane": _airplane,
    "bed": _bed,
    "bench": _bench,
    "bookshelf": _bookshelf,
    "bottle": _bottle,
    "car": _car,
    "chair": _chair,
    "guitar": _guitar,
    "lamp": _lamp,
    "mug": _mug,
    "sofa": _sofa,
    "table": _table,
    # After the twelve above, so that their objects (drawn from the class's index) stay what they were.
    **PAIRED_GENERATORS,
}

SYNTHETIC_CLASSES: tuple[str, ...] = tuple(_GENERATORS)
"""The class names of the synthetic benchmark, in label order."""

SHAPES_VERSION = 2
"""Version of the generators: raised whenever a class's objects change for the same ``(seed, class, index)``, so
that data and models made from the earlier objects are not taken for the new ones. 2: closed drums (``barrel``,
``crate``) 1.4-1.9 times as tall as wide, where they were as tall as wide."""


def generate_shape(class_name: str, rng: np.random.Generator) -> trimesh.Trimesh:
    """Build one random object of ``class_name``.

    Args:
        class_name: One of :data:`SYNTHETIC_CLASSES`.
        rng: Source of every random choice (shape parameters, styles, colours); the same state gives the same mesh.

    Returns:
        A mesh with per-face colours, y up, front towards +z, centred on its bounding box and scaled so that its
        farthest vertex is at distance 1 from the origin. It is a union of closed parts (each part watertight).

    Raises:
        KeyError: Unknown class name.
    """
    try:
        generator = _GENERATORS[class_name]
    except KeyError:
        raise KeyError(f"unknown synthetic class {class_name!r}; classes: {', '.join(SYNTHETIC_CLASSES)}") from None
    parts = PartList()
    generator(parts, rng)
    return parts.build(object_palette(rng))
