"""Inputs for a model from your own data: the image transform and the point transform (open_clip's
``preprocess`` for both modalities).

* Images: shorter side resized to the model's image size (bicubic), centre crop, CLIP mean/std normalisation
  (open_clip's evaluation transform, with the mean/std of the weights when they carry their own).
* Points: the up axis rotated to y, resampled to the model's point count, centred on the centroid and scaled into
  the unit sphere, with rgb (grey when absent) for a model that takes ``xyzrgb``: the conventions of the datasets
  crossmost prepares (``crossmost-data render``), so a model sees the same kind of cloud it was trained on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor

from crossmost_models.clip import import_open_clip
from crossmost_models.model import CrossModalModel

__all__ = ["ImageTransform", "PointTransform", "get_transforms", "image_transform"]

ImageTransform = Callable[[Any], Tensor]
"""A PIL image → ``3×H×W`` float tensor."""

_UP_AXIS_COLUMNS = {"y": [0, 1, 2], "z": [1, 2, 0], "x": [2, 0, 1]}
"""New (x, y, z) = these old columns: a cyclic permutation (a rotation, never a mirror) that puts the axis up."""
_GREY = 0.5


class PointTransform:
    """A point cloud (``N×3`` xyz or ``N×6`` xyz+rgb, array or tensor) → a ``num_points×channels`` float tensor.

    Args:
        num_points: points per cloud the model takes (its config's ``num_points``).
        channels: 3 (xyz) or 6 (xyz + rgb in [0, 1]; grey for clouds without colour).
        up_axis: the axis that points up in the input clouds.
        seed: seed of the resampling; the same cloud always gives the same points.
        missing_color: the grey given to clouds without colour (the model's ``point_inputs.missing_color``).

    More points than ``num_points`` are subsampled without replacement; fewer are completed with repeats.
    """

    def __init__(
        self, num_points: int, *, channels: int = 3, up_axis: str = "y", seed: int = 0, missing_color: float = _GREY
    ) -> None:
        if num_points < 1:
            raise ValueError(f"num_points must be at least 1, got {num_points}")
        if channels not in (3, 6):
            raise ValueError(f"channels must be 3 (xyz) or 6 (xyz + rgb), got {channels}")
        if up_axis not in _UP_AXIS_COLUMNS:
            raise ValueError(f"up_axis must be 'x', 'y' or 'z', got {up_axis!r}")
        self.num_points, self.channels, self.up_axis, self.seed = num_points, channels, up_axis, seed
        self.missing_color = missing_color

    def __call__(self, points: Any) -> Tensor:
        cloud = np.asarray(points.detach().cpu() if isinstance(points, Tensor) else points, dtype=np.float64)
        if cloud.ndim != 2 or cloud.shape[1] not in (3, 6) or len(cloud) == 0:
            raise ValueError(f"expected a non-empty N×3 or N×6 point cloud, got shape {cloud.shape}")
        if not np.isfinite(cloud).all():
            raise ValueError("the point cloud holds NaN or infinite values")
        cloud[:, :3] = cloud[:, _UP_AXIS_COLUMNS[self.up_axis]]
        rng = np.random.default_rng(self.seed)
        n = len(cloud)
        if n >= self.num_points:
            cloud = cloud[rng.choice(n, self.num_points, replace=False)]
        else:
            cloud = cloud[np.concatenate([np.arange(n), rng.choice(n, self.num_points - n, replace=True)])]
        xyz = cloud[:, :3] - cloud[:, :3].mean(axis=0)
        radius = float(np.sqrt((xyz**2).sum(axis=1).max()))
        if not radius > 1e-12:
            raise ValueError("the point cloud is degenerate: all points coincide")
        rgb = cloud[:, 3:6] if cloud.shape[1] == 6 else np.full((len(cloud), 3), self.missing_color)
        out = np.concatenate([xyz / radius, rgb], axis=1)[:, : self.channels]
        return torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32))

    def __repr__(self) -> str:
        return (
            f"PointTransform(num_points={self.num_points}, channels={self.channels}, up_axis={self.up_axis!r}, "
            f"seed={self.seed})"
        )


def image_transform(model: CrossModalModel) -> ImageTransform:
    """open_clip's evaluation transform at the model's image size, with its weights' mean and std."""
    open_clip = import_open_clip()
    visual: Any = getattr(getattr(model, "image_tower", None), "visual", None)
    preprocess = dict(getattr(visual, "preprocess_cfg", None) or {})
    transform: ImageTransform = open_clip.image_transform(
        tuple(model.image_size),
        is_train=False,
        mean=preprocess.get("mean"),
        std=preprocess.get("std"),
    )
    return transform


def get_transforms(
    model: CrossModalModel, *, up_axis: str = "y", seed: int = 0
) -> tuple[ImageTransform, PointTransform]:
    """``(image_transform, point_transform)`` for a ``CrossModalModel`` (see the module docstring)."""
    config = model.config
    point_transform = PointTransform(
        config.num_points,
        channels=config.point.in_channels,
        up_axis=up_axis,
        seed=seed,
        missing_color=config.point_inputs.missing_color,
    )
    return image_transform(model), point_transform
