"""Mesh input: robust loading of .off/.obj/.ply/.stl/.glb/.gltf, validation, and up-axis conversion.

Every problem with one file is raised as :class:`~crossmost_data.items.BadItemError` whose message is the reason
recorded in the manifest (``"empty mesh"``, ``"point-only file (no faces)"``, ...), so that a preparation run can
skip the item and go on.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np

from crossmost_data.items import BadItemError, check_item_file

if TYPE_CHECKING:
    import trimesh

__all__ = [
    "MESH_SUFFIXES",
    "UpAxis",
    "flatten_scene",
    "load_mesh",
    "repair_off_header",
    "to_y_up",
    "up_axis_rotation",
    "validate_mesh",
]

MESH_SUFFIXES = (".off", ".obj", ".ply", ".stl", ".glb", ".gltf")
UpAxis = Literal["x", "y", "z"]

# ModelNet's OFF files sometimes glue the counts to the magic word: "OFF490 488 0".
_GLUED_OFF = re.compile(rb"^\s*(C?N?OFF)[ \t]*(\d[^\r\n]*)")
# Coordinates are sampled and rendered in float32, which ends at 3.4e38; stay well inside it.
_MAX_COORDINATE = 1e30


def repair_off_header(data: bytes) -> bytes:
    """Split an OFF header whose counts are glued to the keyword (``b"OFF490 488 0"`` → ``b"OFF\\n490 488 0"``),
    dropping a comment after the counts (``b"OFF4 4 0 # note"`` → ``b"OFF\\n4 4 0"``).

    Files with a correct header are returned unchanged. :func:`load_mesh` uses this only for a file the OFF parser
    cannot read as it is: current trimesh reads glued headers itself.
    """
    match = _GLUED_OFF.match(data)
    if match is None:
        return data
    counts = match.group(2).split(b"#", 1)[0].rstrip()
    return match.group(1) + b"\n" + counts + data[match.end() :]


def flatten_scene(scene: trimesh.Scene) -> trimesh.Trimesh:
    """Concatenate every mesh instance of a scene with its node transform applied (a glTF loads as a scene).

    Taking only the first geometry or ignoring the transforms gives parts in the wrong place and scale; this
    bakes each instance's world transform into its vertices. Non-triangle geometry (paths, point clouds) is dropped.

    Raises:
        BadItemError: The scene contains no triangle geometry.
    """
    import trimesh

    parts = [g for g in scene.dump(concatenate=False) if isinstance(g, trimesh.Trimesh) and len(g.faces) > 0]
    if not parts:
        kinds = sorted({type(g).__name__ for g in scene.geometry.values()})
        if any(k == "PointCloud" for k in kinds):
            raise BadItemError("point-only file (no faces)")
        raise BadItemError(f"scene has no triangle mesh (geometry types: {kinds or 'none'})")
    if len(parts) == 1:
        return parts[0]
    try:
        merged = trimesh.util.concatenate(parts)
    except (ValueError, TypeError, AttributeError):
        # Textures that cannot be packed into one atlas: fall back to per-vertex colours sampled from them.
        for part in parts:
            visual: Any = part.visual
            part.visual = visual.to_color()
        merged = trimesh.util.concatenate(parts)
    if not isinstance(merged, trimesh.Trimesh):
        raise BadItemError(f"scene parts could not be merged into one mesh (got {type(merged).__name__})")
    return merged


def validate_mesh(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """Check that a mesh can be sampled and rendered; return it unchanged.

    Raises:
        BadItemError: With the reason: ``empty mesh``, ``point-only file (no faces)``, ``non-finite vertex
            coordinates``, ``face indices out of range``, ``coordinates too large to process``, ``zero surface
            area``.
    """
    vertices = np.asarray(mesh.vertices)
    faces = np.asarray(mesh.faces)
    if len(vertices) == 0:
        raise BadItemError("empty mesh (no vertices)")
    if faces.size == 0:
        raise BadItemError("point-only file (no faces)")
    if not np.isfinite(vertices).all():
        raise BadItemError(
            f"non-finite vertex coordinates (NaN or inf in {int((~np.isfinite(vertices)).sum())} values)"
        )
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise BadItemError(f"faces must be triangles, got an array of shape {faces.shape}")
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise BadItemError(f"face indices out of range [0, {len(vertices)}): min {faces.min()}, max {faces.max()}")
    scale = float(np.abs(vertices).max())
    if scale > _MAX_COORDINATE:
        raise BadItemError(
            f"coordinates too large to process (largest |coordinate| {scale:.3g}; points and views are computed "
            f"in float32, which ends at 3.4e38): rescale the mesh"
        )
    # Areas of the mesh scaled to unit size, so that tiny or huge (but valid) coordinates neither under- nor
    # overflow: "zero surface area" then means degenerate faces, nothing else.
    triangles = vertices[faces] / (scale if scale > 0 else 1.0)
    area = 0.5 * np.linalg.norm(np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0]), axis=1)
    if not area.sum() > 0.0:
        raise BadItemError("zero surface area (all faces are degenerate)")
    return mesh


def _load_raw(path: Path) -> object:
    import trimesh

    suffix = path.suffix.lower()
    if suffix == ".off":
        data = path.read_bytes()
        try:
            return trimesh.load(io.BytesIO(data), file_type="off", process=False)
        except Exception:  # an OFF parser that does not know glued headers: try the repaired header
            repaired = repair_off_header(data)
            if repaired == data:
                raise
            return trimesh.load(io.BytesIO(repaired), file_type="off", process=False)
    return trimesh.load(str(path), file_type=suffix[1:], process=False)


def load_mesh(path: str | os.PathLike[str]) -> trimesh.Trimesh:
    """Load one mesh file into a single validated ``trimesh.Trimesh``, keeping its colours/textures.

    Handles ModelNet's glued OFF headers, flattens glTF/GLB scenes with their node transforms, and validates the
    result (see :func:`validate_mesh`). Axes are left as stored; convert with :func:`to_y_up`.

    Args:
        path: A ``.off``, ``.obj``, ``.ply``, ``.stl``, ``.glb`` or ``.gltf`` file.

    Returns:
        The mesh (vertices as stored, faces unmerged).

    Raises:
        BadItemError: The file is missing, of an unsupported type, unreadable, or fails validation; the message
            is the reason (it does not repeat the path: the manifest records the source separately).
    """
    import trimesh

    path, suffix = check_item_file(path, MESH_SUFFIXES, "mesh")
    try:
        loaded = _load_raw(path)
    except BadItemError:
        raise
    except Exception as error:  # parsers raise anything on garbage input
        raise BadItemError(f"unreadable {suffix[1:].upper()} file ({type(error).__name__}: {error})") from error
    if isinstance(loaded, trimesh.Scene):
        if not loaded.geometry:
            raise BadItemError("empty mesh (the file holds no geometry)")
        loaded = flatten_scene(loaded)
    if isinstance(loaded, trimesh.PointCloud):
        raise BadItemError("point-only file (no faces)")
    if not isinstance(loaded, trimesh.Trimesh):
        raise BadItemError(f"unreadable {suffix[1:].upper()} file (loaded as {type(loaded).__name__}, not a mesh)")
    return validate_mesh(loaded)


_AXIS_ORDER: dict[str, list[int]] = {
    # new (x, y, z) = old columns; each is a cyclic permutation, i.e. a proper rotation (det +1).
    "y": [0, 1, 2],
    "z": [1, 2, 0],  # (x, y, z) ← (y, z, x): the official Cross-MoST code's ModelNet conversion
    "x": [2, 0, 1],  # (x, y, z) ← (z, x, y)
}


def up_axis_rotation(from_axis: UpAxis) -> np.ndarray:
    """The 3×3 rotation matrix ``R`` with ``new = R @ old`` that makes ``from_axis`` the y axis."""
    if from_axis not in _AXIS_ORDER:
        raise ValueError(f"from_axis must be one of {sorted(_AXIS_ORDER)}, got {from_axis!r}")
    return np.eye(3)[_AXIS_ORDER[from_axis]]


@overload
def to_y_up(data: np.ndarray, from_axis: UpAxis = "z") -> np.ndarray: ...
@overload
def to_y_up(data: trimesh.Trimesh, from_axis: UpAxis = "z") -> trimesh.Trimesh: ...
def to_y_up(data: np.ndarray | trimesh.Trimesh, from_axis: UpAxis = "z") -> np.ndarray | trimesh.Trimesh:
    """Rotate points or a mesh so that ``from_axis`` becomes the up (y) axis.

    ``from_axis="z"`` (ModelNet, ShapeNet originals, most scanners) is exactly the permutation of the official
    Cross-MoST code: new (x, y, z) = old (y, z, x). It is a cyclic permutation, hence a rotation: no mirroring,
    face winding and normals stay consistent. ``"x"`` uses new (x, y, z) = old (z, x, y); ``"y"`` is the identity.

    Args:
        data: An N×3 or N×6 array (extra columns such as rgb are kept as they are) or a ``trimesh.Trimesh``.
        from_axis: The axis that points up in ``data``.

    Returns:
        A new array, or a copy of the mesh; the input is not modified.
    """
    order = _AXIS_ORDER.get(from_axis)
    if order is None:
        raise ValueError(f"from_axis must be one of {sorted(_AXIS_ORDER)}, got {from_axis!r}")
    if isinstance(data, np.ndarray):
        if data.ndim != 2 or data.shape[1] < 3:
            raise ValueError(f"expected an N×3 or N×6 array, got shape {data.shape}")
        out = data.copy()
        out[:, :3] = data[:, order]
        return out
    mesh = data.copy()
    if from_axis != "y":
        transform = np.eye(4)
        transform[:3, :3] = up_axis_rotation(from_axis)
        mesh.apply_transform(transform)
    return mesh
