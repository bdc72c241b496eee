"""The input conventions of a point tower, and the one function that turns crossmost's clouds into them.

crossmost's datasets and transforms hold clouds y up, centred and scaled into the unit sphere, ``xyz`` or ``xyzrgb``
with rgb in [0, 1] (:mod:`crossmost_data.points`). The released towers were trained on other conventions: Uni3D,
OpenShape's bigG and B/32 models and ULIP-2 on z-up clouds (Objaverse's y-up files with y and z swapped, a mirror
rather than a rotation, exactly as their data loaders do), OpenShape's L/14 model on y-up clouds; all on clouds
centred on their mean and scaled by the largest radius, with rgb, and grey 0.4 where an object has no colour.
:func:`prepare_points` applies a model's :class:`PointInputConfig`; :class:`~crossmost_models.CrossModalModel` calls
it on every cloud it is given, so training, evaluation and prediction prepare clouds alike without the caller
knowing the family.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor

__all__ = ["CROSSMOST_INPUTS", "RELEASED_INPUTS", "PointInputConfig", "prepare_points"]


@dataclass(frozen=True)
class PointInputConfig:
    """How a point tower expects its clouds.

    Whether a tower takes ``xyz`` or ``xyzrgb`` is its point config's ``in_channels``.

    Attributes:
        missing_color: the rgb value (each channel) given to clouds without colour by ``xyzrgb`` towers.
        up_axis: the axis that points up in the tower's training data: ``"y"`` (crossmost's own) or ``"z"`` (reached
            from crossmost's y-up clouds by swapping the y and z columns, as the released models' loaders did).
        normalize: ``"none"`` (take the clouds as given) or ``"unit_sphere"`` (re-centre on the mean and scale the
            largest radius to 1, per cloud).
    """

    missing_color: float = 0.5
    up_axis: Literal["y", "z"] = "y"
    normalize: Literal["none", "unit_sphere"] = "none"

    def __post_init__(self) -> None:
        problems = []
        if not 0.0 <= self.missing_color <= 1.0:
            problems.append(f"missing_color must be in [0, 1] (got {self.missing_color})")
        if self.up_axis not in ("y", "z"):
            problems.append(f"up_axis must be 'y' or 'z' (got {self.up_axis!r})")
        if self.normalize not in ("none", "unit_sphere"):
            problems.append(f"normalize must be 'none' or 'unit_sphere' (got {self.normalize!r})")
        if problems:
            raise ValueError("invalid PointInputConfig: " + "; ".join(problems))

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> PointInputConfig:
        """Build from a JSON-like dict, refusing unknown keys."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown point-input key(s) {unknown}; known keys: {sorted(known)}")
        return cls(**values)


CROSSMOST_INPUTS = PointInputConfig()
"""crossmost's own convention (the Cross-MoST Point-BERT): clouds as the datasets hold them."""

RELEASED_INPUTS = PointInputConfig(missing_color=0.4, up_axis="z", normalize="unit_sphere")
"""The convention of ULIP-2, OpenShape (bigG, B/32) and Uni3D; OpenShape's L/14 model differs only in
``up_axis="y"``."""


def prepare_points(points: Tensor, inputs: PointInputConfig, channels: int) -> Tensor:
    """Turn crossmost clouds (``B×N×3`` or ``B×N×6``, y up) into what a tower with conventions ``inputs`` and
    ``channels`` input channels (3: xyz, 6: xyz + rgb) expects.

    Drops rgb for ``xyz`` towers, adds ``missing_color`` for ``xyzrgb`` towers given ``xyz`` clouds, swaps the y and
    z columns for z-up towers and re-normalises into the unit sphere when asked. Clouds already in the tower's
    convention pass through unchanged (the identity for crossmost's own towers).

    Raises:
        ValueError: ``points`` is not ``B×N×3`` or ``B×N×6``, or ``channels`` is not 3 or 6.
    """
    if channels not in (3, 6):
        raise ValueError(f"channels must be 3 (xyz) or 6 (xyz + rgb); got {channels}")
    if points.ndim != 3 or points.shape[-1] not in (3, 6):
        raise ValueError(
            f"points must be B×N×3 (xyz) or B×N×6 (xyz + rgb); got shape {tuple(points.shape)} (transpose a B×C×N "
            "batch to B×N×C)"
        )
    xyz = points[..., :3]
    changed = inputs.up_axis == "z" or inputs.normalize == "unit_sphere"
    if inputs.up_axis == "z":
        xyz = xyz[..., [0, 2, 1]]
    if inputs.normalize == "unit_sphere":
        xyz = xyz - xyz.mean(dim=1, keepdim=True)
        radius = xyz.square().sum(-1).amax(dim=1).sqrt().clamp_min(torch.finfo(xyz.dtype).tiny)
        xyz = xyz / radius.view(-1, 1, 1)
    if channels == 3:
        return xyz
    if points.shape[-1] == 6:
        return torch.cat([xyz, points[..., 3:]], dim=-1) if changed else points
    return torch.cat([xyz, xyz.new_full((*xyz.shape[:2], 3), inputs.missing_color)], dim=-1)
