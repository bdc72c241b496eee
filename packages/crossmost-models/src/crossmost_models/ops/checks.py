"""Input validation for point clouds, with messages that say what is wrong and where."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def check_points(
    points: Tensor,
    *,
    min_points: int,
    channels: Sequence[int] = (3, 6),
    name: str = "points",
) -> None:
    """Raise a ``ValueError`` that names the problem if ``points`` is not a usable ``B×N×C`` batch of clouds.

    Checks, in order: it is a tensor of rank 3 (a single ``N×C`` cloud is told to add a batch dimension), it has a
    floating dtype, the channel count is one of ``channels`` (a ``B×C×N`` batch is told to transpose), there are at
    least ``min_points`` points per cloud, and every value is finite (the message lists the offending sample
    indices).

    Args:
        points: the batch to check.
        min_points: the fewest points per cloud the caller needs (e.g. ``max(num_group, group_size)``).
        channels: accepted channel counts (3 = xyz, 6 = xyz + rgb).
        name: how the tensor is called in messages.

    Raises:
        ValueError: describing the first problem found.
    """
    if not isinstance(points, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape B×N×C; got {type(points).__name__}")
    shape = tuple(points.shape)
    allowed = " or ".join(str(c) for c in channels)
    if points.ndim == 2 and shape[-1] in channels:
        raise ValueError(
            f"{name} has shape {shape}, a single N×C cloud; add a batch dimension ({name}.unsqueeze(0)) to get 1×N×C"
        )
    if points.ndim != 3:
        raise ValueError(f"{name} must have rank 3 (B×N×C with C = {allowed}); got rank {points.ndim}, shape {shape}")
    if not torch.is_floating_point(points):
        raise ValueError(f"{name} must have a floating dtype (e.g. float32); got {points.dtype}")
    batch_size, num_points, num_channels = shape
    if num_channels not in channels:
        if num_points in channels:
            raise ValueError(
                f"{name} has shape {shape}, which looks like B×C×N; transpose it to B×N×C "
                f"({name}.transpose(1, 2)) with C = {allowed}"
            )
        hint = " (take the xyz channels with [..., :3] or use a model with in_channels=6)" if num_channels == 6 else ""
        raise ValueError(
            f"{name} has {num_channels} channels per point (shape {shape}) but C = {allowed} is expected "
            f"(3: xyz, 6: xyz + rgb){hint}"
        )
    if batch_size == 0:
        raise ValueError(f"{name} is an empty batch (shape {shape})")
    if num_points < min_points:
        raise ValueError(
            f"{name} has {num_points} points per cloud but at least {min_points} are needed "
            "(the number of groups and the group size must not exceed the number of points)"
        )
    finite_per_sample = torch.isfinite(points).flatten(1).all(dim=1)
    if not bool(finite_per_sample.all()):
        bad = torch.nonzero(~finite_per_sample).flatten().tolist()
        shown = ", ".join(str(i) for i in bad[:10]) + (", ..." if len(bad) > 10 else "")
        raise ValueError(
            f"{name} contains NaN or infinite values in sample(s) {shown} of the batch ({len(bad)} in all)"
        )
