"""Camera placements around an object centred at the origin in a y-up world.

Poses are 4×4 camera-to-world matrices in the OpenGL convention used by pyrender: the camera looks along its local
−z axis, its local +y is the image's up direction and +x the image's right. Directions are unit vectors from the
origin towards the camera.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "camera_pose",
    "fibonacci_directions",
    "look_at",
    "pointclip_directions",
    "ring_directions",
]

_WORLD_UP = np.array([0.0, 1.0, 0.0])


def look_at(eye: np.ndarray, target: np.ndarray | None = None, up: np.ndarray | None = None) -> np.ndarray:
    """Camera-to-world pose of a camera at ``eye`` looking at ``target`` (the origin by default).

    Args:
        eye: Camera position, shape (3,).
        target: The point looked at; default the origin.
        up: Preferred world up direction; default +y. When the viewing direction is (nearly) parallel to it, +z
            (or +x) is used instead so that the pose is always well defined.

    Returns:
        A float64 4×4 matrix whose columns are the camera's right, up and backward axes and its position.
    """
    eye = np.asarray(eye, dtype=np.float64)
    target = np.zeros(3) if target is None else np.asarray(target, dtype=np.float64)
    backward = eye - target
    norm = np.linalg.norm(backward)
    if norm == 0.0:
        raise ValueError("camera position coincides with the target; cannot orient the camera")
    backward /= norm
    preferred = _WORLD_UP if up is None else np.asarray(up, dtype=np.float64)
    for candidate in (preferred, np.array([0.0, 0.0, 1.0]), np.array([1.0, 0.0, 0.0])):
        right = np.cross(candidate, backward)
        if np.linalg.norm(right) > 1e-6:
            break
    right /= np.linalg.norm(right)
    cam_up = np.cross(backward, right)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = right, cam_up, backward, eye
    return pose


def camera_pose(direction: np.ndarray, distance: float) -> np.ndarray:
    """Pose of a camera at ``distance`` from the origin along ``direction``, looking at the origin."""
    direction = np.asarray(direction, dtype=np.float64)
    return look_at(direction / np.linalg.norm(direction) * distance)


def _spherical(azimuth_rad: np.ndarray, elevation_rad: np.ndarray) -> np.ndarray:
    # Azimuth 0 looks at the object's front (+z); azimuth grows towards +x; elevation lifts towards +y.
    cos_el = np.cos(elevation_rad)
    return np.stack([cos_el * np.sin(azimuth_rad), np.sin(elevation_rad), cos_el * np.cos(azimuth_rad)], axis=-1)


def ring_directions(num_views: int, elevation_deg: float = 30.0, azimuth_offset_deg: float = 0.0) -> np.ndarray:
    """``num_views`` directions evenly spaced in azimuth on a ring at a fixed elevation (MVCNN-style).

    Args:
        num_views: Number of cameras (at least 1).
        elevation_deg: Angle above the horizontal plane; 30° is the MVCNN setting.
        azimuth_offset_deg: Azimuth of the first camera; 0 means in front of the object (+z).

    Returns:
        A (num_views, 3) array of unit vectors.
    """
    if num_views < 1:
        raise ValueError(f"num_views must be at least 1, got {num_views}")
    azimuths = np.deg2rad(azimuth_offset_deg + 360.0 * np.arange(num_views) / num_views)
    return _spherical(azimuths, np.full(num_views, math.radians(elevation_deg)))


def fibonacci_directions(num_views: int) -> np.ndarray:
    """``num_views`` nearly uniform directions on the sphere (Fibonacci lattice), ordered from top to bottom."""
    if num_views < 1:
        raise ValueError(f"num_views must be at least 1, got {num_views}")
    index = np.arange(num_views) + 0.5
    height = 1.0 - 2.0 * index / num_views  # y from near +1 down to near −1
    radius = np.sqrt(np.clip(1.0 - height**2, 0.0, None))
    golden_angle = math.pi * (3.0 - math.sqrt(5.0))
    azimuth = golden_angle * np.arange(num_views)
    return np.stack([radius * np.sin(azimuth), height, radius * np.cos(azimuth)], axis=-1)


def pointclip_directions(num_views: int = 10) -> np.ndarray:
    """The view set of PointCLIP V2's realistic projection, expressed as camera directions.

    Eight cameras on a ring at 45° azimuth steps, raised 20° above the horizon, then one camera above and one below
    the object, tilted 12° off the vertical axis. ``num_views`` < 10 keeps the first ``num_views`` of these.
    """
    if not 1 <= num_views <= 10:
        raise ValueError(f"the PointCLIP view set has 10 views; num_views must be in 1..10, got {num_views}")
    ring = ring_directions(8, elevation_deg=20.0)
    poles = _spherical(np.zeros(2), np.deg2rad(np.array([78.0, -78.0])))
    return np.concatenate([ring, poles], axis=0)[:num_views]
