"""Brute-force k-nearest-neighbour grouping around given centres.

Distances are first ranked with the fast expansion ``|c|² - 2c·p + |p|²`` (one batched matrix product), which is
accurate to float rounding; the best ``k + margin`` candidates are then re-measured exactly as
``Σ (p - c)²`` and sorted, so the returned neighbours are ordered by the exact distance and agree with a
k-d tree query (e.g. ``scipy.spatial.cKDTree``) up to distance ties.

Memory: the ranking needs a ``B×s×N`` matrix for a chunk of ``s`` centres. Centres are processed in chunks so that
this matrix stays under ``max_chunk_elements`` (default 2²⁶ values, 256 MiB in float32); 32 clouds × 64 centres ×
8192 points is exactly one chunk.
"""

from __future__ import annotations

import torch
from torch import Tensor

from crossmost_models.ops._common import working_dtype

DEFAULT_MAX_CHUNK_ELEMENTS = 1 << 26


def knn_group(
    points: Tensor,
    centers: Tensor,
    k: int,
    *,
    max_chunk_elements: int = DEFAULT_MAX_CHUNK_ELEMENTS,
) -> tuple[Tensor, Tensor]:
    """Group the ``k`` nearest points of every centre, expressed relative to that centre.

    Args:
        points: ``B×N×C`` clouds, xyz in the first three channels; further channels (e.g. rgb) are carried along.
        centers: ``B×S×3`` query centres (usually farthest-point samples of ``points``).
        k: neighbours per centre, ``1 ≤ k ≤ N``.
        max_chunk_elements: upper bound on the size of the distance matrix of one chunk of centres.

    Returns:
        ``(indices, neighbourhoods)``: ``B×S×k`` int64 indices into ``N`` sorted nearest first, and ``B×S×k×C``
        neighbourhoods whose xyz are ``point - centre`` and whose other channels are copied unchanged. The
        neighbourhoods are differentiable with respect to ``points`` and ``centers``.

    Raises:
        ValueError: for mismatched shapes or ``k`` outside ``[1, N]``.
    """
    if points.ndim != 3 or points.shape[-1] < 3:
        raise ValueError(f"points must be B×N×C with C ≥ 3 (xyz first); got shape {tuple(points.shape)}")
    if centers.ndim != 3 or centers.shape[-1] != 3 or centers.shape[0] != points.shape[0]:
        raise ValueError(
            f"centers must be B×S×3 with the batch size of points ({points.shape[0]}); got {tuple(centers.shape)}"
        )
    num_points = points.shape[1]
    if not 1 <= k <= num_points:
        raise ValueError(f"k must be in [1, N={num_points}]; got {k}")
    indices = knn_indices(points, centers, k, max_chunk_elements=max_chunk_elements)
    return indices, gather_neighbourhoods(points, centers, indices)


def knn_indices(
    points: Tensor,
    centers: Tensor,
    k: int,
    *,
    max_chunk_elements: int = DEFAULT_MAX_CHUNK_ELEMENTS,
) -> Tensor:
    """``B×S×k`` indices of the ``k`` nearest points of every centre, nearest first (see :func:`knn_group`)."""
    batch_size, num_points, _ = points.shape
    num_centers = centers.shape[1]
    dtype = working_dtype(torch.promote_types(points.dtype, centers.dtype))
    with torch.no_grad():
        xyz = points[..., :3].detach().to(dtype)
        queries = centers.detach().to(dtype)
        squared_norms = xyz.square().sum(-1).unsqueeze(1)  # B×1×N
        candidates = min(num_points, k + max(8, k // 2))
        chunk = max(1, max_chunk_elements // max(1, batch_size * num_points))
        result = torch.empty(batch_size, num_centers, k, dtype=torch.int64, device=points.device)
        for begin in range(0, num_centers, chunk):
            query = queries[:, begin : begin + chunk]
            approximate = torch.baddbmm(query.square().sum(-1, keepdim=True), query, xyz.transpose(1, 2), alpha=-2)
            approximate.add_(squared_norms)
            shortlist = approximate.topk(candidates, dim=-1, largest=False, sorted=False).indices
            exact = (gather_points(xyz, shortlist) - query.unsqueeze(2)).square().sum(-1)
            order = exact.topk(k, dim=-1, largest=False, sorted=True).indices
            result[:, begin : begin + chunk] = shortlist.gather(-1, order)
    return result


def gather_points(points: Tensor, indices: Tensor) -> Tensor:
    """``points[b, indices[b, ...]]`` for every cloud ``b``: ``B×N×C`` and ``B×S×k`` give ``B×S×k×C``."""
    batch = torch.arange(points.shape[0], device=points.device).view(-1, *([1] * (indices.ndim - 1)))
    return points[batch, indices]


def gather_neighbourhoods(points: Tensor, centers: Tensor, indices: Tensor) -> Tensor:
    """Neighbourhoods ``B×S×k×C`` for given neighbour indices: xyz relative to the centre, other channels as is."""
    grouped = gather_points(points, indices)
    relative = grouped[..., :3] - centers.to(grouped.dtype).unsqueeze(2)
    if grouped.shape[-1] == 3:
        return relative
    return torch.cat([relative, grouped[..., 3:]], dim=-1)
