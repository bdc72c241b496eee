"""Point-cloud augmentations (spec §3.5): functional forms with explicit parameters, and the three pipelines.

Clouds are ``N×3`` (xyz) or ``N×6`` (xyz + rgb) arrays; geometric transforms act on the xyz columns and colours
travel with their points. Every function returns a new array: the caller's array is never modified.

The official strong pipeline crops with ``x_min=9`` (a typo for 0.9), which together with its 4096-point floor
makes the crop a no-op. ``crop_mode="intended"`` (the default) crops with ``x_min=0.9`` and a floor relative to the
cloud size; ``crop_mode="official"`` reproduces the inert behaviour.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial import cKDTree

from crossmost_data.loader.config import PointAugmentConfig
from crossmost_data.points import recentre_in_unit_sphere

__all__ = [
    "OFFICIAL_CROP_MIN_POINTS",
    "OFFICIAL_CROP_X_RANGE",
    "StrongPointTransform",
    "WeakPointTransform",
    "crop_to_box",
    "dropout_to_first",
    "random_crop",
    "rotate",
    "rotation_matrix_xyz",
    "rotation_matrix_y",
    "scale",
    "translate",
    "upsample",
]

OFFICIAL_CROP_X_RANGE = (9.0, 1.1)
OFFICIAL_CROP_MIN_POINTS = 4096


def _uniform(rng: np.random.Generator, low: float, high: float, size: int | None = None) -> np.ndarray | float:
    """``low + (high - low) × U[0, 1)``, defined for ``high < low`` too (NumPy's legacy ``uniform`` semantics)."""
    return low + (high - low) * rng.random(size)


def _check_cloud(points: np.ndarray) -> np.ndarray:
    array = np.asarray(points)
    if array.ndim != 2 or array.shape[1] not in (3, 6) or array.shape[0] == 0:
        raise ValueError(f"a point cloud must be a non-empty N×3 or N×6 array, got shape {array.shape}")
    return array.astype(np.float32, copy=True)


def scale(points: np.ndarray, factor: float) -> np.ndarray:
    """Multiply xyz by ``factor`` (isotropic)."""
    out = _check_cloud(points)
    out[:, :3] *= np.float32(factor)
    return out


def rotation_matrix_y(angle: float) -> np.ndarray:
    """The 3×3 rotation by ``angle`` radians about the y (up) axis."""
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rotation_matrix_xyz(angles: np.ndarray) -> np.ndarray:
    """``Rz · Ry · Rx`` for per-axis angles ``(ax, ay, az)`` in radians."""
    ax, ay, az = (float(a) for a in angles)
    rx = np.array([[1.0, 0.0, 0.0], [0.0, math.cos(ax), -math.sin(ax)], [0.0, math.sin(ax), math.cos(ax)]])
    rz = np.array([[math.cos(az), -math.sin(az), 0.0], [math.sin(az), math.cos(az), 0.0], [0.0, 0.0, 1.0]])
    return rz @ rotation_matrix_y(ay) @ rx


def rotate(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply the 3×3 rotation ``matrix`` to every point (``p' = R p``)."""
    out = _check_cloud(points)
    out[:, :3] = out[:, :3] @ np.asarray(matrix, dtype=np.float32).T
    return out


def translate(points: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Add the 3-vector ``shift`` to every point."""
    out = _check_cloud(points)
    out[:, :3] += np.asarray(shift, dtype=np.float32).reshape(1, 3)
    return out


def dropout_to_first(points: np.ndarray, dropped: np.ndarray) -> np.ndarray:
    """Replace the rows where ``dropped`` is true by copies of row 0 (the count is unchanged)."""
    out = _check_cloud(points)
    out[np.asarray(dropped, dtype=bool)] = out[0]
    return out


def crop_to_box(points: np.ndarray, box_min: np.ndarray, box_max: np.ndarray) -> np.ndarray:
    """The points strictly inside the axis-aligned box."""
    out = _check_cloud(points)
    inside = np.all((out[:, :3] > box_min) & (out[:, :3] < box_max), axis=1)
    return out[inside]


def random_crop(points: np.ndarray, rng: np.random.Generator, config: PointAugmentConfig) -> np.ndarray:
    """Crop a random box whose size is relative to the cloud's bounding box (Point-BERT's ``PointcloudRandomCrop``).

    Per attempt: x size ~ U(x range), aspect ``ar`` ~ U(aspect range), y size = x·ar, z size = x/ar (fractions of
    the extent), box origin ~ U(0, 1 - size) per axis. An attempt is accepted when it keeps fewer points than the
    cloud has but at least the floor; after ``crop_max_tries + 1`` failed attempts the cloud is returned whole.
    """
    out = _check_cloud(points)
    if config.crop_mode == "off":
        return out
    count = out.shape[0]
    if config.crop_mode == "official":
        x_range: tuple[float, float] = OFFICIAL_CROP_X_RANGE
        floor = OFFICIAL_CROP_MIN_POINTS
    else:
        x_range = config.crop_x_range
        minimum = config.crop_min_points
        floor = math.ceil(minimum * count) if minimum < 1 else int(minimum)
    xyz = out[:, :3]
    low, high = xyz.min(axis=0), xyz.max(axis=0)
    extent = high - low
    for _ in range(config.crop_max_tries + 1):
        size = np.empty(3)
        size[0] = _uniform(rng, *x_range)
        aspect = float(_uniform(rng, *config.crop_aspect_range))
        size[1], size[2] = size[0] * aspect, size[0] / aspect
        origin = np.array([_uniform(rng, 0.0, 1.0 - s) for s in size])
        box_min = low + extent * origin
        box_max = low + extent * (origin + size)
        kept = crop_to_box(out, box_min, box_max)
        if floor <= kept.shape[0] < count:
            return kept
    return out


def upsample(points: np.ndarray, target: int, rng: np.random.Generator, neighbours: int = 10) -> np.ndarray:
    """Add ``target - N`` points, each the mean of the ``neighbours`` nearest points of a random existing point.

    Centres are drawn without replacement while ``target - N <= N``, with replacement beyond. Clouds with at least
    ``target`` points are returned unchanged (copied).
    """
    out = _check_cloud(points)
    count = out.shape[0]
    missing = target - count
    if missing <= 0:
        return out
    centres = rng.choice(count, size=missing, replace=missing > count)
    k = min(neighbours, count)
    _, idx = cKDTree(out[:, :3]).query(out[centres, :3], k=k)
    idx = np.asarray(idx).reshape(missing, k)
    added = out[idx].mean(axis=1, dtype=np.float64).astype(np.float32)
    return np.concatenate([out, added], axis=0)


class WeakPointTransform:
    """Teacher cloud: normalise → isotropic scale U(weak_scale) → rotation perturbation (Rz·Ry·Rx, clipped) → with
    ``weak_rotate_y``, a uniform turn about the up axis (for pre-training on aligned objects a model that meets
    objects turned any way)."""

    def __init__(self, config: PointAugmentConfig | None = None) -> None:
        self.config = config or PointAugmentConfig()

    def __call__(self, points: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Transform one cloud with randomness from ``rng``."""
        cfg = self.config
        out = recentre_in_unit_sphere(points)
        out = scale(out, float(_uniform(rng, *cfg.weak_scale)))
        angles = np.clip(
            cfg.weak_rotation_sigma * rng.standard_normal(3), -cfg.weak_rotation_clip, cfg.weak_rotation_clip
        )
        out = rotate(out, rotation_matrix_xyz(angles))
        if cfg.weak_rotate_y:
            out = rotate(out, rotation_matrix_y(float(rng.random()) * 2.0 * math.pi))
        return out


class StrongPointTransform:
    """Student cloud: normalise → scale → rotate about y → translate → jitter → dropout → crop → upsample.

    Args:
        config: The augmentation settings.
        num_points: Points of the output cloud when ``config.upsample_to`` is not set; the crop is undone by
            upsampling back to this count.
    """

    def __init__(self, config: PointAugmentConfig | None = None, num_points: int | None = None) -> None:
        self.config = config or PointAugmentConfig()
        self.num_points = num_points

    def target_count(self, input_count: int) -> int:
        """Points of the output for an input of ``input_count`` points."""
        if self.config.upsample_to is not None:
            return max(self.config.upsample_to, input_count)
        return self.num_points if self.num_points is not None else input_count

    def __call__(self, points: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Transform one cloud with randomness from ``rng``."""
        cfg = self.config
        target = self.target_count(np.asarray(points).shape[0])
        out = recentre_in_unit_sphere(points)
        out = scale(out, float(_uniform(rng, *cfg.strong_scale)))
        if cfg.strong_rotate_y:
            out = rotate(out, rotation_matrix_y(float(rng.random()) * 2.0 * math.pi))
        extent = out[:, :3].max(axis=0) - out[:, :3].min(axis=0)
        out = translate(out, _uniform(rng, -cfg.translate, cfg.translate, 3) * extent)
        noise = np.clip(cfg.jitter_sigma * rng.standard_normal((out.shape[0], 3)), -cfg.jitter_clip, cfg.jitter_clip)
        out[:, :3] += noise.astype(np.float32)
        ratio = float(rng.random()) * cfg.dropout_max
        out = dropout_to_first(out, np.less_equal(rng.random(out.shape[0]), ratio))
        out = random_crop(out, rng, cfg)
        return upsample(out, target, rng, cfg.upsample_neighbours)
