"""Classes made in pairs whose confusions differ by modality.

Cross-modal pseudo-labels help because each branch is right where the other is confused. Two kinds of pairs make
that happen by construction:

* **Same shape, different look** (the point branch cannot tell them apart, the image branch can):
  ``basketball`` and ``soccer_ball`` are the same sphere, orange with dark seams or white with dark patches;
  ``dice`` and ``gift_box`` are the same near-cube, white with dark pips or coloured with a ribbon. Their patterns
  are painted on the faces, never modelled, so the two classes of a pair have one distribution of geometry.
* **Same outline, different shape** (from a camera near the horizon the image branch sees the same flat-topped
  outline, the point branch sees a round or a square cross-section): ``barrel`` and ``crate`` (closed drums
  taller than wide, round or square), ``bucket`` and ``bin`` (open tapered pails, round or square). Both classes
  of a pair draw their profile and colours from one distribution; only the cross-section differs.

Coordinates as in :mod:`crossmost_data.datasets.synthetic.shapes`: y up, front towards +z.
"""

from __future__ import annotations

import colorsys
import math

import numpy as np
import trimesh

from crossmost_data.datasets.synthetic.parts import PartList

__all__ = ["PAIRED_GENERATORS"]

Rng = np.random.Generator


def _rgba(h: float, s: float, v: float) -> np.ndarray:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
    return np.array([round(r * 255), round(g * 255), round(b * 255), 255], dtype=np.uint8)


def _random_rotation(rng: Rng) -> np.ndarray:
    """A uniformly random 3×3 rotation (QR of a Gaussian matrix, signs fixed)."""
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def _ball(rng: Rng) -> tuple[trimesh.Trimesh, np.ndarray]:
    """The shared geometry of the balls: an icosphere, and its face centres on the unit sphere in a random frame."""
    radius = rng.uniform(0.11, 0.13)
    ball = trimesh.creation.icosphere(subdivisions=3, radius=radius)
    centres = ball.triangles_center / radius
    return ball, centres @ _random_rotation(rng).T


def _basketball(p: PartList, rng: Rng) -> None:
    ball, c = _ball(rng)
    width = rng.uniform(0.05, 0.08)
    seams = (np.abs(c[:, 0]) < width) | (np.abs(c[:, 1]) < width) | (np.abs(np.abs(c[:, 2]) - 0.72) < width)
    colours = np.where(
        seams[:, None],
        _rgba(0.05, rng.uniform(0.2, 0.5), rng.uniform(0.08, 0.2)),
        _rgba(rng.uniform(0.03, 0.09), rng.uniform(0.7, 0.95), rng.uniform(0.65, 0.95)),
    )
    p.paint(ball, colours)


_ICOSAHEDRON_VERTICES = trimesh.creation.icosahedron().vertices / np.linalg.norm(
    trimesh.creation.icosahedron().vertices, axis=1, keepdims=True
)


def _soccer_ball(p: PartList, rng: Rng) -> None:
    ball, c = _ball(rng)
    patch = np.max(c @ _ICOSAHEDRON_VERTICES.T, axis=1) > math.cos(rng.uniform(0.3, 0.36))
    ink = _rgba(rng.uniform(0.55, 0.7), rng.uniform(0.0, 0.6), rng.uniform(0.05, 0.2))
    colours = np.where(patch[:, None], ink, _rgba(0.0, rng.uniform(0.0, 0.08), rng.uniform(0.85, 0.97)))
    p.paint(ball, colours)


def _cube(rng: Rng) -> tuple[trimesh.Trimesh, np.ndarray, np.ndarray]:
    """The shared geometry of dice and gift boxes: a finely tiled near-cube, with each face's centre and normal."""
    extents = rng.uniform(0.1, 0.12) * rng.uniform(0.92, 1.08, size=3)
    cube = trimesh.creation.box(extents=extents)
    for _ in range(4):  # 3072 faces: small enough tiles to paint pips and ribbons on
        cube = cube.subdivide()
    centres = cube.triangles_center / (extents / 2.0)  # each coordinate in [-1, 1]
    return cube, centres, cube.face_normals


_PIPS = {
    1: [(0.0, 0.0)],
    2: [(-0.5, -0.5), (0.5, 0.5)],
    3: [(-0.5, -0.5), (0.0, 0.0), (0.5, 0.5)],
    4: [(-0.5, -0.5), (-0.5, 0.5), (0.5, -0.5), (0.5, 0.5)],
    5: [(-0.5, -0.5), (-0.5, 0.5), (0.0, 0.0), (0.5, -0.5), (0.5, 0.5)],
    6: [(-0.5, -0.55), (-0.5, 0.0), (-0.5, 0.55), (0.5, -0.55), (0.5, 0.0), (0.5, 0.55)],
}


def _face_coordinates(centres: np.ndarray, normals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which cube side each face lies on (0..5) and its 2D position on that side, in [-1, 1]²."""
    axis = np.argmax(np.abs(normals), axis=1)
    side = axis * 2 + (normals[np.arange(len(normals)), axis] > 0)
    others = np.array([[1, 2], [0, 2], [0, 1]])[axis]
    uv = np.take_along_axis(centres, others, axis=1)
    return side, uv


def _dice(p: PartList, rng: Rng) -> None:
    cube, centres, normals = _cube(rng)
    side, uv = _face_coordinates(centres, normals)
    numbers = rng.permutation(np.arange(1, 7))
    radius = rng.uniform(0.17, 0.22)
    pip = np.zeros(len(side), dtype=bool)
    for s in range(6):
        on_side = side == s
        for centre in _PIPS[int(numbers[s])]:
            pip |= on_side & (np.linalg.norm(uv - np.asarray(centre), axis=1) < radius)
    body = _rgba(0.1, rng.uniform(0.0, 0.1), rng.uniform(0.85, 0.97))
    ink = _rgba(rng.choice([0.0, 0.6]), rng.uniform(0.0, 0.8), rng.uniform(0.05, 0.2))
    p.paint(cube, np.where(pip[:, None], ink, body))


def _gift_box(p: PartList, rng: Rng) -> None:
    cube, centres, _ = _cube(rng)
    hue = rng.random()
    width = rng.uniform(0.12, 0.2)
    ribbon = (np.abs(centres[:, 0]) < width) | (np.abs(centres[:, 2]) < width)
    paper = _rgba(hue, rng.uniform(0.55, 0.95), rng.uniform(0.5, 0.9))
    band = _rgba(hue + rng.uniform(0.3, 0.7), rng.uniform(0.5, 0.9), rng.uniform(0.75, 1.0))
    p.paint(cube, np.where(ribbon[:, None], band, paper))


def _container_profile(rng: Rng, *, open_top: bool) -> list[tuple[float, float]]:
    """The side profile (radius, height) shared by a pair: a closed straight drum, or an open tapered pail."""
    bottom = rng.uniform(0.14, 0.2)
    if not open_top:
        # 1.4-1.9 times as tall as wide, so that no cube matches the square drum. Drums as tall as wide (1.6-2.4
        # times the radius, before) made the crate a third near-cube beside dice and gift boxes: the point branch
        # had three classes of one geometry where the design has two.
        height = bottom * rng.uniform(2.8, 3.8)
        return [(0.0, 0.0), (bottom, 0.0), (bottom, height), (0.0, height)]
    top, height, wall = bottom * rng.uniform(1.1, 1.3), bottom * rng.uniform(1.4, 2.0), rng.uniform(0.008, 0.014)
    return [(0.0, 0.0), (bottom, 0.0), (top, height), (top - wall, height), (bottom - wall, wall), (0.0, wall)]


def _round(p: PartList, profile: list[tuple[float, float]]) -> None:
    p.lathe(profile, (0, 0, 0), sections=24)


def _square(p: PartList, profile: list[tuple[float, float]]) -> None:
    # Four sections make a square cross-section; its corners at √2 × the radius make the faces touch the round
    # twin's circle, so that seen face-on the two have one outline.
    corners = np.asarray(profile, dtype=np.float64) * np.array([math.sqrt(2.0), 1.0])
    solid = trimesh.creation.revolve(corners, sections=4)
    upright = trimesh.transformations.rotation_matrix(-math.pi / 2.0, [1.0, 0.0, 0.0])
    quarter = trimesh.transformations.rotation_matrix(math.pi / 4.0, [0.0, 1.0, 0.0])
    p.add(solid, "main", quarter @ upright)


def _barrel(p: PartList, rng: Rng) -> None:
    _round(p, _container_profile(rng, open_top=False))


def _crate(p: PartList, rng: Rng) -> None:
    _square(p, _container_profile(rng, open_top=False))


def _bucket(p: PartList, rng: Rng) -> None:
    _round(p, _container_profile(rng, open_top=True))


def _bin(p: PartList, rng: Rng) -> None:
    _square(p, _container_profile(rng, open_top=True))


PAIRED_GENERATORS = {
    "basketball": _basketball,
    "soccer_ball": _soccer_ball,
    "dice": _dice,
    "gift_box": _gift_box,
    "barrel": _barrel,
    "crate": _crate,
    "bucket": _bucket,
    "bin": _bin,
}
"""Class name → generator, in pairs: (basketball, soccer_ball), (dice, gift_box) look different with the same
shape; (barrel, crate), (bucket, bin) share an outline from the side, round or square."""
