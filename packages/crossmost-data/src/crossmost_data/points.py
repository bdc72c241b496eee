"""Point sampling: area-weighted (optionally coloured) surface samples, unit-sphere normalisation, resampling.

All randomness comes from an explicit ``numpy.random.Generator``; the same generator state gives the same points.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from crossmost_data.items import BadItemError

if TYPE_CHECKING:
    import trimesh

__all__ = [
    "DEFAULT_GREY",
    "farthest_point_indices",
    "mesh_has_color",
    "normalize_to_unit_sphere",
    "recentre_in_unit_sphere",
    "resample_points",
    "sample_surface",
    "unit_sphere_transform",
    "with_layout",
]

DEFAULT_GREY = 0.5
"""The rgb value given to points of objects that carry no colour when an ``xyzrgb`` layout is requested."""


def mesh_has_color(mesh: trimesh.Trimesh) -> bool:
    """Whether the mesh carries colour: a texture image, vertex colours, or face colours set by the file."""
    visual: Any = mesh.visual
    if visual is None:
        return False
    if visual.kind == "texture":
        return getattr(visual, "uv", None) is not None or _material_color(visual) is not None
    return bool(visual is not None and visual.kind in ("vertex", "face"))


def _material_color(visual: object) -> np.ndarray | None:
    material = getattr(visual, "material", None)
    for name in ("baseColorFactor", "main_color", "diffuse"):
        value = getattr(material, name, None)
        if value is not None:
            return np.asarray(value, dtype=np.float64)[:3] / (255.0 if np.asarray(value).dtype == np.uint8 else 1.0)
    return None


def _texture_image(visual: object) -> object | None:
    material = getattr(visual, "material", None)
    for name in ("baseColorTexture", "image"):
        image = getattr(material, name, None)
        if image is not None:
            return image
    return None


def _sample_colors(mesh: trimesh.Trimesh, face_index: np.ndarray, bary: np.ndarray) -> np.ndarray:
    """RGB in [0, 1] for each sample: texture lookup at the interpolated uv, vertex-colour interpolation, or
    the face colour; objects without colour get :data:`DEFAULT_GREY`."""
    visual: Any = mesh.visual
    faces = np.asarray(mesh.faces)[face_index]
    kind = getattr(visual, "kind", None)
    if kind == "texture":
        uv = getattr(visual, "uv", None)
        image = _texture_image(visual)
        if uv is not None and image is not None:
            from trimesh.visual.color import uv_to_color

            sample_uv = np.einsum("nk,nkd->nd", bary, np.asarray(uv)[faces])
            rgba = np.asarray(uv_to_color(sample_uv, image), dtype=np.float64)
            return rgba[:, :3] / 255.0
        color = _material_color(visual)
        if color is not None:
            return np.broadcast_to(np.clip(color, 0.0, 1.0), (len(face_index), 3)).copy()
    elif kind == "vertex":
        vertex_colors = np.asarray(visual.vertex_colors, dtype=np.float64)[:, :3] / 255.0
        return np.einsum("nk,nkd->nd", bary, vertex_colors[faces])
    elif kind == "face":
        return np.asarray(visual.face_colors, dtype=np.float64)[face_index, :3] / 255.0
    return np.full((len(face_index), 3), DEFAULT_GREY)


def sample_surface(mesh: trimesh.Trimesh, count: int, rng: np.random.Generator, *, color: bool = False) -> np.ndarray:
    """Sample ``count`` points uniformly on the surface (each triangle chosen with probability ∝ its area).

    Args:
        mesh: A validated triangle mesh.
        count: Number of points.
        rng: Source of randomness; the same state gives the same points.
        color: Also return rgb in [0, 1] per point (texture, vertex or face colour; grey when the mesh has none).

    Returns:
        ``count``×3 (or ×6 with ``color``) float32 array.

    Raises:
        BadItemError: The mesh has zero or non-finite total area.
    """
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    faces = np.asarray(mesh.faces)
    triangles = vertices[faces]
    edge_a = triangles[:, 1] - triangles[:, 0]
    edge_b = triangles[:, 2] - triangles[:, 0]
    area = 0.5 * np.linalg.norm(np.cross(edge_a, edge_b), axis=1)
    total = area.sum()
    if not (np.isfinite(total) and total > 0.0):
        raise BadItemError("zero surface area (all faces are degenerate)")
    cumulative = np.cumsum(area / total)
    face_index = np.minimum(np.searchsorted(cumulative, rng.random(count), side="right"), len(faces) - 1)
    # Uniform barycentric coordinates: u = 1 - √r1, v = √r1 (1 - r2), w = √r1 r2.
    r = rng.random((count, 2))
    sqrt_r1 = np.sqrt(r[:, 0])
    bary = np.stack([1.0 - sqrt_r1, sqrt_r1 * (1.0 - r[:, 1]), sqrt_r1 * r[:, 1]], axis=1)
    points = np.einsum("nk,nkd->nd", bary, triangles[face_index])
    if color:
        points = np.concatenate([points, np.clip(_sample_colors(mesh, face_index, bary), 0.0, 1.0)], axis=1)
    return points.astype(np.float32)


def normalize_to_unit_sphere(points: np.ndarray) -> np.ndarray:
    """Centre the xyz columns on their centroid and scale them so that the farthest point is at radius 1.

    Extra columns (rgb) are kept as they are. Computed in float64; returns a new float32 array.

    Raises:
        BadItemError: The points are empty, not finite, or all coincide (radius 0).
    """
    array = np.asarray(points, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] < 3 or len(array) == 0:
        raise BadItemError(f"expected a non-empty N×3 or N×6 point array, got shape {array.shape}")
    _check_finite(array[:, :3])
    centred, _, radius = _centred(array[:, :3])
    _check_radius(radius)
    out = array.copy()
    out[:, :3] = centred / radius
    return out.astype(np.float32)


def unit_sphere_transform(xyz: np.ndarray) -> tuple[np.ndarray, float]:
    """The centroid and maximum radius used by :func:`normalize_to_unit_sphere` (apply as ``(x - c) / r``).

    Raises:
        BadItemError: Non-finite coordinates, or all points coincide.
    """
    xyz = np.asarray(xyz, dtype=np.float64)
    _check_finite(xyz)
    _, centre, radius = _centred(xyz)
    _check_radius(radius)
    return centre, radius


def recentre_in_unit_sphere(points: np.ndarray) -> np.ndarray:
    """:func:`normalize_to_unit_sphere` of a float32 cloud in float32, for the loaders: a subsampled or cropped cloud
    is brought back to the unit sphere; a single point (radius 0) stays at the origin instead of failing.

    Args:
        points: N×3 or N×6 array (rgb columns are kept); not modified.

    Returns:
        A new float32 array.

    Raises:
        ValueError: The array is empty or not N×3 / N×6.
    """
    out = np.array(points, dtype=np.float32, copy=True)
    if out.ndim != 2 or out.shape[1] not in (3, 6) or out.shape[0] == 0:
        raise ValueError(f"a point cloud must be a non-empty N×3 or N×6 array, got shape {out.shape}")
    centred, _, radius = _centred(out[:, :3])
    out[:, :3] = centred / radius if radius > 0 else centred
    return out


def _centred(xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """``xyz`` minus its centroid (both in ``xyz``'s dtype), the centroid, and the largest distance to it (float64)."""
    centre = xyz.mean(axis=0)
    centred = xyz - centre
    return centred, centre, float(np.sqrt((centred.astype(np.float64) ** 2).sum(axis=1).max()))


def _check_finite(xyz: np.ndarray) -> None:
    if not np.isfinite(xyz).all():
        raise BadItemError("non-finite point coordinates (NaN or inf)")


def _check_radius(radius: float) -> None:
    if not radius > 1e-12:
        raise BadItemError("degenerate geometry: all points coincide (radius 0 after centring)")


def _bucket_height(n: int) -> int:
    """QuickFPS's kd-tree height (buckets of 2**h points): 5 up to 32k points, 7 above, and 2**h ≤ n. Measured with
    ``benchmarks/bench_fps.py``-sized clouds: h 5 is fastest at 10k points, h 7 at 50k-200k."""
    return max(1, min(5 if n < 2**15 else 7, n.bit_length() - 1))


def farthest_point_indices(xyz: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``count`` points chosen by farthest point sampling (exact FPS, in selection order).

    ``fpsample``'s bucket FPS (QuickFPS) does the work: exact farthest point sampling in a fraction of the time of
    the O(N·count) loop (``benchmarks/bench_fps.py``: 10k → 8192 points in ~0.03 s instead of ~3.6 s). Its start
    point is derived from one draw of ``rng`` (fpsample maps the start index through its kd-tree order), so the same
    generator state gives the same indices. Should the bucket kernel ever return repeated indices, fpsample's
    plain FPS is used instead.

    Raises:
        BadItemError: FPS gave repeated indices (the cloud is degenerate).
    """
    import fpsample

    n = len(xyz)
    if not 1 <= count <= n:
        raise BadItemError(f"cannot choose {count} of {n} points")
    cloud = np.ascontiguousarray(xyz[:, :3], dtype=np.float32)
    start = int(rng.integers(n))
    index = np.asarray(fpsample.bucket_fps_kdline_sampling(cloud, count, _bucket_height(n), start_idx=start))
    if len(np.unique(index)) != count:
        index = np.asarray(fpsample.fps_sampling(cloud, count, start_idx=start))
    if len(np.unique(index)) != count:
        raise BadItemError(f"farthest point sampling repeated points choosing {count} of {n}")
    return index.astype(np.int64)


def resample_points(
    points: np.ndarray,
    count: int,
    rng: np.random.Generator,
    *,
    min_points: int | None = None,
    downsample: Literal["random", "fps"] = "random",
    upsample: Literal["repeat", "jitter"] = "repeat",
    jitter_sigma: float = 0.005,
) -> np.ndarray:
    """Bring a given point cloud to exactly ``count`` points.

    Policy:
        * more than ``count`` points: a random subset without replacement (``downsample="random"``) or farthest
          point sampling (``"fps"``, better coverage; :func:`farthest_point_indices`).
        * fewer than ``min_points`` (default ``count``: an object with fewer points than requested is skipped):
          :class:`BadItemError` with the counts in the reason.
        * between ``min_points`` and ``count``: every point is kept once and the rest are copies of randomly
          chosen points (``upsample="repeat"``), or copies displaced by Gaussian noise of ``jitter_sigma`` times
          the cloud radius on xyz (``"jitter"``).

    The order of the result is shuffled. Returns a float32 array with the input's columns.

    Raises:
        BadItemError: Too few points, non-finite values, or a malformed array.
    """
    array = np.asarray(points)
    if array.ndim != 2 or array.shape[1] not in (3, 6):
        raise BadItemError(f"points must be an N×3 or N×6 array, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise BadItemError("non-finite point coordinates (NaN or inf)")
    n = len(array)
    minimum = count if min_points is None else min_points
    if n < max(minimum, 1):
        raise BadItemError(f"too few points: {n} < minimum {minimum} (requested {count})")
    if n >= count:
        if downsample == "fps":
            index = farthest_point_indices(array[:, :3].astype(np.float64), count, rng)
            index = index[rng.permutation(count)]
        else:
            index = rng.choice(n, size=count, replace=False)
        return array[index].astype(np.float32)
    extra = rng.choice(n, size=count - n, replace=True)
    out = np.concatenate([array, array[extra]]).astype(np.float64)
    if upsample == "jitter":
        xyz = array[:, :3].astype(np.float64)
        radius = float(np.sqrt(((xyz - xyz.mean(axis=0)) ** 2).sum(axis=1).max())) or 1.0
        out[n:, :3] += rng.normal(scale=jitter_sigma * radius, size=(count - n, 3))
    return out[rng.permutation(count)].astype(np.float32)


def with_layout(points: np.ndarray, layout: Literal["xyz", "xyzrgb"]) -> np.ndarray:
    """Return ``points`` with exactly the columns of ``layout``: drop rgb for ``xyz``; add grey rgb to xyz-only
    points for ``xyzrgb``."""
    if layout == "xyz":
        return points[:, :3]
    if points.shape[1] == 6:
        return points
    return np.concatenate([points[:, :3], np.full((len(points), 3), DEFAULT_GREY, dtype=points.dtype)], axis=1)
