"""Turning a clean mesh into a scan-like point cloud: occlusion, cuts, uneven density, noise, clutter, rotation.

This is the target domain of the synthetic benchmark (the ScanObjectNN of this world). A real scan sees an object
from a few places, misses what is hidden or cut off, samples near surfaces more densely, is noisy, and picks up the
floor and neighbouring things. Each effect is vectorised numpy; the only Python loops run over at most three
viewpoints and three distractor blobs.
"""

from __future__ import annotations

import math

import numpy as np
import trimesh

from crossmost_data.points import sample_surface
from crossmost_data.views.cameras import look_at

__all__ = ["make_scan", "visible_mask"]


def visible_mask(
    points: np.ndarray, direction: np.ndarray, *, grid: int | None = None, tolerance: float = 0.06
) -> np.ndarray:
    """Which points an orthographic camera looking from ``direction`` sees (a coarse z-buffer).

    A point is hidden when a point of its z-buffer cell is nearer by more than ``tolerance``, or when a point in one
    of the eight neighbouring cells is nearer by more than ``tolerance`` plus three cells' width (so that a cell
    which happens to hold no point of a near surface does not let the far side show through).

    Args:
        points: N×3 points inside the unit sphere.
        direction: Vector from the object towards the camera.
        grid: Resolution of the z-buffer over [-1, 1]²; default grows with the number of points (8 to 64).
        tolerance: A point is visible when it is at most this much behind the nearest point around its cell.

    Returns:
        Boolean mask of length N.
    """
    if grid is None:
        grid = int(np.clip(round(math.sqrt(len(points) / 4.0)), 8, 64))
    pose = look_at(np.asarray(direction, dtype=np.float64))
    camera = points @ pose[:3, :3]  # columns: right, up, backward (towards the camera)
    cols = np.clip(((camera[:, 0] + 1.0) / 2.0 * grid).astype(np.int64), 0, grid - 1)
    rows = np.clip(((camera[:, 1] + 1.0) / 2.0 * grid).astype(np.int64), 0, grid - 1)
    depth = -camera[:, 2]  # smaller is nearer
    nearest = np.full((grid + 2) * (grid + 2), np.inf)
    np.minimum.at(nearest, (rows + 1) * (grid + 2) + cols + 1, depth)
    padded = nearest.reshape(grid + 2, grid + 2)
    own = padded[rows + 1, cols + 1]
    around = np.min(
        [padded[1 + dr : grid + 1 + dr, 1 + dc : grid + 1 + dc] for dr in (-1, 0, 1) for dc in (-1, 0, 1)], axis=0
    )[rows, cols]
    # The neighbourhood test uses a looser tolerance (three cells' worth of slope) so that steep but visible
    # surfaces survive, while the far side of a solid, seen through a cell that missed the near surface, does not.
    return (depth <= own + tolerance + 1.0 / grid) & (depth <= around + tolerance + 6.0 / grid)


def _normalise(points: np.ndarray) -> np.ndarray:
    centred = points - (points.max(axis=0) + points.min(axis=0)) / 2.0
    radius = float(np.linalg.norm(centred, axis=1).max())
    return centred / radius if radius > 0 else centred


def _occlude_and_cut(dense: np.ndarray, rng: np.random.Generator, partiality: float) -> np.ndarray:
    views = 1 if rng.random() < partiality else int(rng.integers(2, 4))
    start = rng.uniform(0.0, 2.0 * math.pi)
    seen = np.zeros(len(dense), dtype=bool)
    for k in range(views):
        azimuth = start + 2.0 * math.pi * k / views + rng.normal(0.0, 0.3)
        elevation = rng.uniform(0.15, 0.8)
        direction = np.array(
            [math.cos(elevation) * math.sin(azimuth), math.sin(elevation), math.cos(elevation) * math.cos(azimuth)]
        )
        seen |= visible_mask(dense, direction)
    kept = dense[seen]
    if rng.random() < partiality:  # a cut: the scan's bounding box missed part of the object
        normal = rng.normal(size=3) * np.array([1.0, 0.4, 1.0])
        normal /= np.linalg.norm(normal)
        along = kept @ normal
        kept = kept[along <= np.quantile(along, 1.0 - rng.uniform(0.08, 0.3))]
    if partiality > 0:  # density falls off away from the scanner's focus
        focus = kept[rng.integers(len(kept))]
        spread = rng.uniform(0.4, 0.9)
        falloff = 1.0 - np.exp(-np.sum((kept - focus) ** 2, axis=1) / (2.0 * spread**2))
        kept = kept[rng.random(len(kept)) >= 0.6 * partiality * falloff]
    return kept


def _clutter(obj: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    if count == 0:
        return np.zeros((0, 3))
    low, high = obj.min(axis=0), obj.max(axis=0)
    centre, half = (low + high) / 2.0, (high - low) / 2.0
    floor_y = low[1] - 0.005
    n_floor = round(count * rng.uniform(0.5, 0.75))
    n_wall = round((count - n_floor) * 0.5) if rng.random() < 0.35 else 0
    n_blobs = count - n_floor - n_wall
    extent = half[[0, 2]] * rng.uniform(1.1, 1.5, size=2) + 0.05
    floor = np.empty((n_floor, 3))
    floor[:, 0] = centre[0] + rng.uniform(-1.0, 1.0, n_floor) * extent[0]
    floor[:, 1] = floor_y
    floor[:, 2] = centre[2] + rng.uniform(-1.0, 1.0, n_floor) * extent[1]
    wall = np.empty((n_wall, 3))
    wall[:, 0] = centre[0] + rng.uniform(-1.0, 1.0, n_wall) * extent[0]
    wall[:, 1] = floor_y + rng.uniform(0.0, 1.0, n_wall) * (high[1] - low[1]) * rng.uniform(0.5, 1.2)
    wall[:, 2] = centre[2] - extent[1]
    blobs = rng.integers(1, 4)
    owner = rng.integers(0, blobs, n_blobs)
    angle = rng.uniform(0.0, 2.0 * math.pi, blobs)
    distance = rng.uniform(0.9, 1.4, blobs) * max(float(half[0]), float(half[2]), 0.2)
    sigma = rng.uniform(0.04, 0.14, (blobs, 3))
    blob_centres = np.stack(
        [centre[0] + distance * np.cos(angle), floor_y + sigma[:, 1] * 1.5, centre[2] + distance * np.sin(angle)], 1
    )
    blob_points = blob_centres[owner] + rng.normal(size=(n_blobs, 3)) * sigma[owner]
    blob_points[:, 1] = np.maximum(blob_points[:, 1], floor_y)  # things stand on the floor, not in it
    return np.concatenate([floor, wall, blob_points], axis=0)


def make_scan(
    mesh: trimesh.Trimesh,
    rng: np.random.Generator,
    *,
    num_points: int = 2048,
    partiality: float = 0.6,
    noise: float = 0.01,
    clutter: float = 0.15,
    rotate: bool = True,
) -> np.ndarray:
    """Make a scan-like point cloud of ``mesh``.

    Args:
        mesh: The clean object (any scale; y up).
        rng: Source of every random choice.
        num_points: Points in the result.
        partiality: 0..1. The probability that the object is seen from a single viewpoint (otherwise from two or
            three), that a planar cut removes 8–30 % of it, and the strength of the uneven density.
        noise: Standard deviation of the Gaussian jitter, relative to the object's unit sphere; 1 % of the points
            also become outliers when it is positive.
        clutter: 0..1, the fraction of points that belong to the surroundings: a floor patch, sometimes a wall,
            and one to three distractor blobs standing next to the object.
        rotate: Rotate the whole scan by a random angle about the up (y) axis.

    Returns:
        A ``num_points``×3 float32 array, centred and scaled into the unit sphere, y up.

    Raises:
        ValueError: A knob is out of range or ``num_points`` < 1.
    """
    if num_points < 1:
        raise ValueError(f"num_points must be >= 1, got {num_points}")
    for name, value in (("partiality", partiality), ("clutter", clutter)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    dense = _normalise(sample_surface(mesh, 4 * num_points, rng).astype(np.float64))
    kept = _occlude_and_cut(dense, rng, partiality)
    if len(kept) < 16:  # a degenerate draw; a scan always shows something of the object
        kept = dense
    n_clutter = round(clutter * num_points)
    n_object = num_points - n_clutter
    obj = kept[rng.choice(len(kept), n_object, replace=len(kept) < n_object)]
    cloud = np.concatenate([obj, _clutter(obj, n_clutter, rng)], axis=0)
    if noise > 0:
        cloud += rng.normal(0.0, noise, cloud.shape)
        outliers = rng.random(len(cloud)) < 0.01
        low, high = cloud.min(axis=0), cloud.max(axis=0)
        cloud[outliers] = rng.uniform(low, high, (int(outliers.sum()), 3))
    if rotate:
        angle = rng.uniform(0.0, 2.0 * math.pi)
        cos, sin = math.cos(angle), math.sin(angle)
        cloud = cloud @ np.array([[cos, 0.0, -sin], [0.0, 1.0, 0.0], [sin, 0.0, cos]])
    cloud = cloud[rng.permutation(len(cloud))]
    return _normalise(cloud).astype(np.float32)
