"""Point-BERT grouping in one call: farthest-point centres and the kNN neighbourhood of each."""

from __future__ import annotations

import torch
from torch import Tensor

from crossmost_models.ops.fps import FpsStart, sample_and_rank
from crossmost_models.ops.knn import gather_neighbourhoods, gather_points


def group_points(
    points: Tensor,
    num_group: int,
    group_size: int,
    *,
    start: FpsStart = "fixed",
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Split each cloud into ``num_group`` local neighbourhoods of ``group_size`` points.

    Centres come from farthest-point sampling (:func:`~crossmost_models.ops.farthest_point_sample`); the
    neighbours of each centre are ranked during the same pass over the points, from the exact squared distances
    the sampler already computes, so no ``B×G×N`` distance matrix is built. The neighbours agree with
    :func:`~crossmost_models.ops.knn_group` up to distance ties.

    Args:
        points: ``B×N×C`` clouds, xyz first (``C`` = 3, or 6 with rgb), any float dtype, CPU or CUDA.
        num_group: centres per cloud (``G``), at most ``N``.
        group_size: points per neighbourhood (``K``), at most ``N``.
        start: first FPS centre: ``"fixed"`` (index 0), ``"random"`` or a ``B`` tensor of indices.
        generator: source of the random start (``None``: torch's global RNG).

    Returns:
        ``(neighbourhoods, centers)``: ``B×G×K×C`` neighbourhoods (xyz relative to their centre, nearest point
        first, other channels unchanged) and ``B×G×3`` centres. Both are differentiable with respect to
        ``points``.
    """
    if group_size < 1:
        raise ValueError(f"group_size must be at least 1; got {group_size}")
    centre_indices, neighbour_indices = sample_and_rank(
        points, num_group, start=start, generator=generator, num_neighbours=group_size
    )
    assert neighbour_indices is not None  # group_size ≥ 1
    centers = gather_points(points[..., :3], centre_indices)
    return gather_neighbourhoods(points, centers, neighbour_indices), centers
