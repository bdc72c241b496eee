"""Building blocks of the procedural shapes: boxes, rods, lathed solids and tori, collected with a colour role.

Every block is a closed (watertight) trimesh primitive; an object is the union of its blocks' triangles (no boolean
operations, which are slow and fragile). Coordinates are y up, the object's front faces +z.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import trimesh

__all__ = ["PartList", "object_palette", "rotation_x", "rotation_y", "rotation_z"]

Vec = Sequence[float] | np.ndarray


def rotation_y(angle: float) -> np.ndarray:
    """4×4 rotation about the y (up) axis by ``angle`` radians."""
    return trimesh.transformations.rotation_matrix(angle, [0.0, 1.0, 0.0])


def rotation_x(angle: float) -> np.ndarray:
    """4×4 rotation about the x axis by ``angle`` radians."""
    return trimesh.transformations.rotation_matrix(angle, [1.0, 0.0, 0.0])


def rotation_z(angle: float) -> np.ndarray:
    """4×4 rotation about the z axis by ``angle`` radians."""
    return trimesh.transformations.rotation_matrix(angle, [0.0, 0.0, 1.0])


def _translation(offset: Vec) -> np.ndarray:
    return trimesh.transformations.translation_matrix(np.asarray(offset, dtype=np.float64))


_Z_TO_Y = rotation_x(-math.pi / 2.0)  # maps +z onto +y: lathe and torus axes become vertical


class PartList:
    """The blocks of one object, each tagged with a colour role (``main``, ``accent``, ``dark`` or ``light``) or
    painted with colours of its own (:meth:`paint`)."""

    def __init__(self) -> None:
        self.meshes: list[trimesh.Trimesh] = []
        self.roles: list[str] = []
        self.painted: dict[int, np.ndarray] = {}

    def add(self, mesh: trimesh.Trimesh, role: str = "main", transform: np.ndarray | None = None) -> None:
        """Add a block, optionally moved by a 4×4 ``transform``."""
        if transform is not None:
            mesh.apply_transform(transform)
        self.meshes.append(mesh)
        self.roles.append(role)

    def paint(self, mesh: trimesh.Trimesh, face_colors: np.ndarray) -> None:
        """Add a block whose faces keep the given colours (F×4 uint8 RGBA) whatever the object's palette."""
        colours = np.asarray(face_colors, dtype=np.uint8)
        if colours.shape != (len(mesh.faces), 4):
            raise ValueError(f"paint needs {len(mesh.faces)}×4 face colours, got shape {colours.shape}")
        self.painted[len(self.meshes)] = colours
        self.add(mesh, "painted")

    def box(self, size: Vec, center: Vec, role: str = "main", rotation: np.ndarray | None = None) -> None:
        """An axis-aligned box of ``size`` (x, y, z) centred at ``center``, optionally rotated about that centre."""
        transform = _translation(center)
        if rotation is not None:
            transform = transform @ rotation
        self.add(trimesh.creation.box(extents=np.asarray(size, dtype=np.float64), transform=transform), role)

    def rod(self, start: Vec, end: Vec, radius: float, role: str = "main", sections: int = 10) -> None:
        """A cylinder of ``radius`` between two points."""
        segment = np.array([start, end], dtype=np.float64)
        self.add(trimesh.creation.cylinder(radius=radius, segment=segment, sections=sections), role)

    def lathe(self, profile: Sequence[tuple[float, float]], base: Vec, role: str = "main", sections: int = 20) -> None:
        """A solid of revolution about the vertical axis through ``base``.

        ``profile`` lists (radius, height) pairs from the bottom of the axis to its top; starting and ending at radius
        0 makes it closed.
        """
        linestring = np.asarray(profile, dtype=np.float64)
        mesh = trimesh.creation.revolve(linestring, sections=sections)
        self.add(mesh, role, _translation(base) @ _Z_TO_Y)

    def cone(self, radius: float, height: float, base: Vec, direction: Vec, role: str = "main") -> None:
        """A cone whose base disc is centred at ``base`` and whose tip points along ``direction``."""
        align = trimesh.geometry.align_vectors([0.0, 0.0, 1.0], np.asarray(direction, dtype=np.float64))
        mesh = trimesh.creation.cone(radius=radius, height=height, sections=16)
        self.add(mesh, role, _translation(base) @ align)

    def torus(self, major: float, minor: float, center: Vec, rotation: np.ndarray, role: str = "main") -> None:
        """A torus centred at ``center``; its ring lies in the plane ``rotation`` maps the xy plane to."""
        mesh = trimesh.creation.torus(major_radius=major, minor_radius=minor, major_sections=16, minor_sections=8)
        self.add(mesh, role, _translation(center) @ rotation)

    def build(self, palette: dict[str, np.ndarray]) -> trimesh.Trimesh:
        """One mesh with per-face colours from ``palette``, centred and scaled into the unit sphere."""
        for index, (mesh, role) in enumerate(zip(self.meshes, self.roles, strict=True)):
            visual: Any = mesh.visual
            colours = self.painted.get(index)
            visual.face_colors = (
                colours if colours is not None else np.broadcast_to(palette[role], (len(mesh.faces), 4))
            )
        combined = cast(trimesh.Trimesh, trimesh.util.concatenate(self.meshes))
        centre = (combined.bounds[0] + combined.bounds[1]) / 2.0
        combined.apply_translation(-centre)
        radius = float(np.linalg.norm(combined.vertices, axis=1).max())
        combined.apply_scale(1.0 / radius)
        return combined


def object_palette(
    rng: np.random.Generator, *, saturation: tuple[float, float] = (0.35, 0.85)
) -> dict[str, np.ndarray]:
    """Random per-object RGBA colours (uint8) for the four roles; hues are independent of the class."""

    def rgba(h: float, s: float, v: float) -> np.ndarray:
        r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
        return np.array([round(r * 255), round(g * 255), round(b * 255), 255], dtype=np.uint8)

    hue = rng.random()
    sat = rng.uniform(*saturation)
    return {
        "main": rgba(hue, sat, rng.uniform(0.5, 0.9)),
        "accent": rgba(hue + rng.uniform(0.25, 0.75), rng.uniform(*saturation), rng.uniform(0.35, 0.8)),
        "dark": rgba(hue, rng.uniform(0.0, 0.3), rng.uniform(0.12, 0.3)),
        "light": rgba(hue + rng.uniform(-0.1, 0.1), rng.uniform(0.05, 0.3), rng.uniform(0.8, 0.97)),
    }
