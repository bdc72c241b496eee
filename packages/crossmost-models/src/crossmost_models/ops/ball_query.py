"""Ball query: the first ``k`` points (in index order) within a radius of every centre, PointNet++ style.

This is the neighbourhood of PointNet++'s set abstraction as OpenShape's PointBERT ("PPAT") runs it: for every centre
the points whose squared distance is at most ``radius²`` are taken in the order of their index in the cloud (not
nearest first), the first ``k`` of them are kept, and a ball with fewer than ``k`` points is padded by repeating the
first point found. A centre that is itself a point of the cloud always finds at least itself.

Distances are exact (summed coordinate by coordinate, never the ``|p|² - 2p·c + |c|²`` expansion), so a point on
the sphere's surface is inside exactly when its true distance is at most the radius. Centres are processed in chunks
so that the ``B×s×N`` distance matrix of a chunk stays under ``max_chunk_elements`` values.
"""

from __future__ import annotations

import torch
from torch import Tensor

from crossmost_models.ops._common import working_dtype
from crossmost_models.ops.knn import DEFAULT_MAX_CHUNK_ELEMENTS, gather_neighbourhoods

__all__ = ["ball_query", "ball_query_indices"]


def ball_query(
    points: Tensor,
    centers: Tensor,
    radius: float,
    k: int,
    *,
    max_chunk_elements: int = DEFAULT_MAX_CHUNK_ELEMENTS,
) -> tuple[Tensor, Tensor]:
    """Group up to ``k`` points within ``radius`` of every centre, expressed relative to that centre.

    Args:
        points: ``B×N×C`` clouds, xyz in the first three channels; further channels (e.g. rgb) are carried along.
        centers: ``B×S×3`` query centres (usually farthest-point samples of ``points``).
        radius: ball radius (> 0); a point at distance exactly ``radius`` is inside.
        k: points per ball, ``1 ≤ k ≤ N``.
        max_chunk_elements: upper bound on the size of the distance matrix of one chunk of centres.

    Returns:
        ``(indices, neighbourhoods)``: ``B×S×k`` int64 indices (the in-radius points in increasing index order,
        padded with the first of them), and ``B×S×k×C`` neighbourhoods whose xyz are ``point - centre`` and whose
        other channels are copied unchanged (differentiable with respect to ``points`` and ``centers``). A ball
        that holds no point at all (a centre far from its cloud) repeats the cloud's nearest point instead.

    Raises:
        ValueError: for mismatched shapes, a radius that is not positive or ``k`` outside ``[1, N]``.
    """
    indices = ball_query_indices(points, centers, radius, k, max_chunk_elements=max_chunk_elements)
    return indices, gather_neighbourhoods(points, centers, indices)


def ball_query_indices(
    points: Tensor,
    centers: Tensor,
    radius: float,
    k: int,
    *,
    max_chunk_elements: int = DEFAULT_MAX_CHUNK_ELEMENTS,
) -> Tensor:
    """``B×S×k`` indices of the ball query (see :func:`ball_query`)."""
    if points.ndim != 3 or points.shape[-1] < 3:
        raise ValueError(f"points must be B×N×C with C ≥ 3 (xyz first); got shape {tuple(points.shape)}")
    if centers.ndim != 3 or centers.shape[-1] != 3 or centers.shape[0] != points.shape[0]:
        raise ValueError(
            f"centers must be B×S×3 with the batch size of points ({points.shape[0]}); got {tuple(centers.shape)}"
        )
    if not radius > 0:
        raise ValueError(f"radius must be positive; got {radius}")
    batch_size, num_points, _ = points.shape
    if not 1 <= k <= num_points:
        raise ValueError(f"k must be in [1, N={num_points}]; got {k}")
    num_centers = centers.shape[1]
    dtype = working_dtype(torch.promote_types(points.dtype, centers.dtype))
    limit = radius * radius
    with torch.no_grad():
        xyz = points[..., :3].detach().to(dtype).transpose(1, 2).unsqueeze(1)  # B×1×3×N
        queries = centers.detach().to(dtype).unsqueeze(-1)  # B×S×3×1
        order = torch.arange(num_points, device=points.device)
        chunk = max(1, max_chunk_elements // max(1, batch_size * num_points))
        result = torch.empty(batch_size, num_centers, k, dtype=torch.int64, device=points.device)
        for begin in range(0, num_centers, chunk):
            query = queries[:, begin : begin + chunk]
            squared = (xyz[:, :, 0] - query[:, :, 0]).square_()
            squared += (xyz[:, :, 1] - query[:, :, 1]).square_()
            squared += (xyz[:, :, 2] - query[:, :, 2]).square_()
            # In-radius points keep their index, the others get N: the k smallest keys are the first k inside.
            keys = torch.where(squared <= limit, order, num_points)
            first = keys.topk(k, dim=-1, largest=False, sorted=True).values
            nearest = squared.argmin(dim=-1, keepdim=True)
            head = torch.where(first[..., :1] < num_points, first[..., :1], nearest)
            result[:, begin : begin + chunk] = torch.where(first < num_points, first, head)
    return result
