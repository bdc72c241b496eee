"""Depth views of point clouds without OpenGL: a batched torch version of PointCLIP V2's realistic projection.

This is how the depth-image datasets of the paper (ModelNet40-d, the ScanObjectNN variants) get their views, and
the fallback view maker for any point cloud when no OpenGL platform is available. For every cloud and view:

1. the cloud is centred (bounding-box centre) and scaled into the unit sphere (``normalize``), so every view of
   one object shares one scale;
2. it is rotated into the view's camera frame (camera directions: PointCLIP V2's ten views by default: eight on a
   ring 20° above the horizon at 45° steps, one above and one below, tilted 12° off the vertical; or a ring / a
   Fibonacci sphere);
3. it is projected orthographically onto a ``grid_size``² grid, the unit sphere spanning ``object_ratio`` of it,
   and each cell keeps the depth of its nearest point (``scatter_reduce`` with ``amin``);
4. depth becomes intensity: 1 for the nearest possible point, ``min_intensity`` for the farthest, 0 for empty;
5. empty cells, and cells showing a far surface through a gap of a nearer one (``occlusion_gap``), take the
   brightest (nearest) value within ``densify_kernel`` (max pooling): the sparse points become opaque surfaces;
6. a Gaussian blur (``blur_kernel``, ``blur_sigma``) smooths the result, and it is upsampled bilinearly to
   ``image_size``;
7. intensity blends ``background`` (0) into ``foreground`` (1), giving 3-channel uint8 images. Swap the two
   colours for the opposite polarity (light objects on a dark background).

Everything runs as a handful of tensor ops over the whole batch (clouds × views × points); there are no Python
loops over points or clouds.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import numpy as np

from crossmost_data._extras import missing_extra

try:
    import torch
    import torch.nn.functional as F
except ImportError as _error:  # pragma: no cover - exercised only where torch is absent
    raise missing_extra("torch", "depth projection of point clouds (crossmost_data.views.depth)", _error) from _error

from crossmost_data.views.cameras import camera_pose, fibonacci_directions, pointclip_directions, ring_directions
from crossmost_data.views.config import RenderedViews

__all__ = ["DepthConfig", "depth_camera_poses", "project_depth_views", "project_depth_views_batch"]

_CAMERA_DISTANCE = 2.0  # nominal, for the recorded poses; the projection is orthographic
# Below this many elements per op, intra-op threading costs more than it saves (each op takes microseconds, and on a
# busy machine waking a second thread takes milliseconds), so small projections run on one thread.
_SINGLE_THREAD_WORK = 4_000_000


@dataclass(frozen=True)
class DepthConfig:
    """How point clouds are projected into depth views.

    Attributes:
        num_views: Views per cloud (PointCLIP V2 uses 10).
        layout: ``"pointclip"`` (PointCLIP V2's views; at most 10), ``"ring"`` (evenly spaced azimuths at
            ``elevation_deg``) or ``"sphere"`` (Fibonacci lattice).
        elevation_deg: Elevation of the ring layout.
        grid_size: Resolution of the projection grid (112 in PointCLIP V2).
        image_size: Output image size; the grid is resized bilinearly to it (224 in PointCLIP V2; a grid larger
            than the image is shrunk with antialiasing).
        object_ratio: Fraction of the grid width spanned by the unit sphere's diameter.
        normalize: Centre each cloud on its bounding-box centre and scale it into the unit sphere first. Without it
            the points must already lie inside the unit sphere (points outside are clamped to the border).
        densify_kernel: Odd window of the max-pooling fill of empty cells; 1 disables it.
        occlusion_gap: A cell whose intensity is more than this below the brightest (nearest) cell in its
            ``densify_kernel`` window shows a far surface seen through a gap of the near one; it takes the near
            value. Values >= 1 keep such cells.
        blur_kernel: Odd size of the Gaussian smoothing kernel; 1 disables it.
        blur_sigma: Standard deviation of the Gaussian, in grid cells.
        min_intensity: Intensity of the farthest possible point (the nearest gets 1, empty cells 0); in (0, 1].
        background: RGB colour of intensity 0.
        foreground: RGB colour of intensity 1 (the nearest surface).
    """

    num_views: int = 10
    layout: Literal["pointclip", "ring", "sphere"] = "pointclip"
    elevation_deg: float = 30.0
    grid_size: int = 112
    image_size: int = 224
    object_ratio: float = 0.8
    normalize: bool = True
    densify_kernel: int = 5
    occlusion_gap: float = 0.15
    blur_kernel: int = 3
    blur_sigma: float = 1.0
    min_intensity: float = 0.3
    background: tuple[int, int, int] = (255, 255, 255)
    foreground: tuple[int, int, int] = (40, 40, 40)

    def __post_init__(self) -> None:
        if self.layout not in ("pointclip", "ring", "sphere"):
            raise ValueError(f"DepthConfig.layout must be 'pointclip', 'ring' or 'sphere', got {self.layout!r}")
        if self.num_views < 1 or (self.layout == "pointclip" and self.num_views > 10):
            raise ValueError(f"DepthConfig.num_views must be >= 1 (<= 10 for 'pointclip'), got {self.num_views}")
        if self.grid_size < 4 or self.image_size < 4:
            raise ValueError("DepthConfig.grid_size and image_size must be at least 4")
        for name in ("densify_kernel", "blur_kernel"):
            value = getattr(self, name)
            if value < 1 or value % 2 == 0:
                raise ValueError(f"DepthConfig.{name} must be a positive odd number, got {value}")
        if not 0.0 < self.object_ratio <= 1.0:
            raise ValueError(f"DepthConfig.object_ratio must be in (0, 1], got {self.object_ratio}")
        if not 0.0 < self.min_intensity <= 1.0:
            raise ValueError(f"DepthConfig.min_intensity must be in (0, 1], got {self.min_intensity}")
        if self.occlusion_gap < 0:
            raise ValueError(f"DepthConfig.occlusion_gap must be >= 0, got {self.occlusion_gap}")
        if self.blur_sigma <= 0:
            raise ValueError(f"DepthConfig.blur_sigma must be positive, got {self.blur_sigma}")
        for name in ("background", "foreground"):
            value = getattr(self, name)
            if len(value) != 3 or any(not 0 <= int(c) <= 255 for c in value):
                raise ValueError(f"DepthConfig.{name} must be three integers in 0..255, got {value!r}")

    def camera_directions(self) -> np.ndarray:
        """Unit vectors from the object towards each view's camera, shape (num_views, 3)."""
        if self.layout == "pointclip":
            return pointclip_directions(self.num_views)
        if self.layout == "ring":
            return ring_directions(self.num_views, self.elevation_deg)
        return fibonacci_directions(self.num_views)

    def to_dict(self) -> dict[str, Any]:
        """The configuration as JSON-ready values."""
        return {
            key: list(value) if isinstance(value, tuple) else value for key, value in dataclasses.asdict(self).items()
        }


def depth_camera_poses(config: DepthConfig) -> list[np.ndarray]:
    """Camera-to-world pose of each depth view (orthographic cameras looking at the origin)."""
    return [camera_pose(d, _CAMERA_DISTANCE) for d in config.camera_directions()]


@lru_cache(maxsize=32)
def _view_rotations(config: DepthConfig) -> np.ndarray:
    # Rows of each matrix are the camera's right, up and backward axes: world → camera rotation.
    return np.stack([pose[:3, :3].T for pose in depth_camera_poses(config)]).astype(np.float32)


@lru_cache(maxsize=32)
def _gaussian_1d(size: int, sigma: float) -> np.ndarray:
    offsets = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    weights = np.exp(-(offsets**2) / (2.0 * sigma**2))
    return (weights / weights.sum()).astype(np.float32)


def _check_points(points: torch.Tensor) -> torch.Tensor:
    if points.ndim != 3 or points.shape[-1] < 3:
        raise ValueError(f"points must have shape B×N×3 (or B×N×6 with colours), got {tuple(points.shape)}")
    if points.shape[1] == 0:
        raise ValueError("cannot project an empty point cloud (0 points)")
    xyz = points[..., :3].float()
    if not bool(torch.isfinite(xyz).all()):
        raise ValueError("point cloud contains NaN or infinite coordinates")
    return xyz


def _normalize(xyz: torch.Tensor) -> torch.Tensor:
    centre = (xyz.amax(dim=1, keepdim=True) + xyz.amin(dim=1, keepdim=True)) / 2.0
    centred = xyz - centre
    radius = centred.norm(dim=-1).amax(dim=1, keepdim=True).unsqueeze(-1)
    return centred / torch.where(radius > 0, radius, torch.ones_like(radius))


def _intensity_grids(xyz: torch.Tensor, config: DepthConfig) -> torch.Tensor:
    """Per cloud and view, the nearest-point intensity on the grid: B×V×G×G, 0 where no point falls."""
    B = xyz.shape[0]
    G = config.grid_size
    rotations = torch.from_numpy(_view_rotations(config)).to(xyz.device)
    V = rotations.shape[0]
    camera = torch.einsum("bnc,vkc->bvnk", xyz, rotations)  # B×V×N×3: right, up, backward (towards camera)
    half = config.object_ratio * G / 2.0
    col = ((camera[..., 0] * half) + G / 2.0).floor().long().clamp_(0, G - 1)
    row = ((G / 2.0) - camera[..., 1] * half).floor().long().clamp_(0, G - 1)
    depth = (1.0 - camera[..., 2]).clamp(0.0, 2.0)  # 0 at the nearest possible point of the unit sphere
    view_index = torch.arange(B * V, device=xyz.device).view(B, V, 1)
    cell = (view_index * (G * G) + row * G + col).reshape(-1)
    nearest = torch.full((B * V * G * G,), math.inf, device=xyz.device)
    nearest.scatter_reduce_(0, cell, depth.reshape(-1), reduce="amin", include_self=False)
    occupied = torch.isfinite(nearest)
    nearness = 1.0 - nearest.clamp(max=2.0) / 2.0
    intensity = torch.where(occupied, config.min_intensity + (1.0 - config.min_intensity) * nearness, 0.0)
    return intensity.view(B, V, G, G)


def _finish(intensity: torch.Tensor, config: DepthConfig) -> torch.Tensor:
    """Densify, blur, upsample and colour B×V×G×G intensities into B×V×3×S×S uint8 images."""
    B, V, G, _ = intensity.shape
    grid = intensity.reshape(B * V, 1, G, G)
    if config.densify_kernel > 1:
        filled = F.max_pool2d(grid, config.densify_kernel, stride=1, padding=config.densify_kernel // 2)
        grid = torch.where(grid >= filled - config.occlusion_gap, grid, filled)
    if config.blur_kernel > 1:
        kernel = torch.from_numpy(_gaussian_1d(config.blur_kernel, config.blur_sigma)).to(grid.device)
        pad = config.blur_kernel // 2
        grid = F.conv2d(F.pad(grid, (pad, pad, 0, 0), mode="replicate"), kernel.view(1, 1, 1, -1))
        grid = F.conv2d(F.pad(grid, (0, 0, pad, pad), mode="replicate"), kernel.view(1, 1, -1, 1))
    if config.image_size != G:
        grid = F.interpolate(
            grid,
            size=(config.image_size, config.image_size),
            mode="bilinear",
            align_corners=False,
            antialias=config.image_size < G,  # shrinking a fine grid: average instead of skipping cells
        )
    grid = grid.clamp(0.0, 1.0)
    background = torch.tensor(config.background, dtype=torch.float32, device=grid.device).view(1, 3, 1, 1)
    foreground = torch.tensor(config.foreground, dtype=torch.float32, device=grid.device).view(1, 3, 1, 1)
    images = background + (foreground - background) * grid
    S = config.image_size
    return images.round().clamp(0, 255).to(torch.uint8).view(B, V, 3, S, S)


@contextmanager
def _threads(count: int | None) -> Iterator[None]:
    if count is None or torch.get_num_threads() == count:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@torch.no_grad()
def project_depth_views_batch(points: torch.Tensor, config: DepthConfig | None = None) -> torch.Tensor:
    """Project a batch of point clouds into depth views.

    Args:
        points: B×N×3 (or B×N×6; colours are ignored) float tensor, y up, on any device.
        config: Views, grid, image size and colours; default PointCLIP V2's 10 views, 112 grid, 224 px.

    Returns:
        A B×V×3×S×S uint8 tensor on the device of ``points`` (V = ``config.num_views``, S = ``config.image_size``).

    Raises:
        ValueError: Wrong shape, no points, or non-finite coordinates.
    """
    config = config if config is not None else DepthConfig()
    xyz = _check_points(points)
    B, N = xyz.shape[:2]
    work = B * config.num_views * max(N, 3 * config.image_size**2)
    with _threads(1 if work < _SINGLE_THREAD_WORK and xyz.device.type == "cpu" else None):
        if config.normalize:
            xyz = _normalize(xyz)
        return _finish(_intensity_grids(xyz, config), config)


def project_depth_views(points: np.ndarray, config: DepthConfig | None = None) -> RenderedViews:
    """Project one point cloud into depth views.

    Args:
        points: N×3 (or N×6) array, y up.
        config: See :class:`DepthConfig`.

    Returns:
        The views (H×W×3 uint8 each), the orthographic camera poses (camera-to-world) and the settings.

    Raises:
        ValueError: Wrong shape, no points, or non-finite coordinates.
    """
    config = config if config is not None else DepthConfig()
    array = np.asarray(points)
    if array.ndim != 2 or array.shape[1] < 3:
        raise ValueError(f"points must have shape N×3 (or N×6 with colours), got {array.shape}")
    images = project_depth_views_batch(
        torch.from_numpy(np.ascontiguousarray(array[:, :3], dtype=np.float32))[None], config
    )
    views = [np.ascontiguousarray(view.permute(1, 2, 0).numpy()) for view in images[0]]
    return RenderedViews(
        images=views,
        camera_poses=[pose.tolist() for pose in depth_camera_poses(config)],
        settings={"renderer": "crossmost-depth-projection", "projection": "orthographic", "config": config.to_dict()},
    )
