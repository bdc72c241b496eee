"""Group masks for masked point modelling: one contiguous block per cloud, or scattered groups.

Both draw, per cloud, a ratio ``r ~ U(lo, hi)`` and mask exactly ``int(r · G)`` of the ``G`` groups
(``True`` = masked). Everything is batched and drawn from an optional ``torch.Generator``, so a seeded generator
reproduces the masks exactly (the official code used Python's global ``random`` in a loop over the batch).
"""

from __future__ import annotations

import torch
from torch import Tensor

from crossmost_models.ops._common import random_integers, random_uniform


def _validate(centers: Tensor, ratio: tuple[float, float]) -> tuple[float, float]:
    if centers.ndim != 3 or centers.shape[-1] != 3:
        raise ValueError(f"centers must be B×G×3; got shape {tuple(centers.shape)}")
    if len(ratio) != 2:
        raise ValueError(f"ratio must be a (low, high) pair; got {ratio!r}")
    low, high = float(ratio[0]), float(ratio[1])
    if not 0.0 <= low <= high <= 1.0:
        raise ValueError(f"ratio must satisfy 0 ≤ low ≤ high ≤ 1; got ({low}, {high})")
    return low, high


def mask_counts(
    batch_size: int,
    num_groups: int,
    ratio: tuple[float, float],
    *,
    device: torch.device,
    generator: torch.Generator | None = None,
) -> Tensor:
    """``B`` int64 counts ``int(r · G)`` with ``r ~ U(ratio)`` drawn per cloud (in float64, like Python's floats)."""
    low, high = ratio
    ratios = random_uniform(low, high, batch_size, device=device, generator=generator)
    return torch.floor(ratios * num_groups).long()


def block_mask_groups(
    centers: Tensor,
    ratio: tuple[float, float] = (0.3, 0.4),
    *,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Mask one spatially contiguous block of groups per cloud (Point-BERT block masking).

    For every cloud a seed group is drawn uniformly, a ratio ``r ~ U(ratio)``, and the ``int(r · G)`` centres
    nearest to the seed centre (the seed included, distance ties broken by group index) are masked. Every masked
    centre is therefore at least as close to the seed as every unmasked one.

    Args:
        centers: ``B×G×3`` group centres.
        ratio: ``(low, high)`` bounds of the masked fraction, ``0 ≤ low ≤ high ≤ 1``; the paper uses (0.3, 0.4).
        generator: source of the seed groups and ratios (``None``: torch's global RNG). A CPU generator gives the
            same masks for CPU and CUDA centres.

    Returns:
        ``B×G`` bool, ``True`` where a group is masked.
    """
    low, high = _validate(centers, ratio)
    batch_size, num_groups, _ = centers.shape
    device = centers.device
    seeds = random_integers(num_groups, batch_size, device=device, generator=generator)
    counts = mask_counts(batch_size, num_groups, (low, high), device=device, generator=generator)
    with torch.no_grad():
        seed_centers = centers.gather(1, seeds.view(-1, 1, 1).expand(-1, 1, 3))
        distance = (centers - seed_centers).square().sum(-1)
        # The seed's own distance is 0, but other centres can coincide with it; force it first in the order.
        distance.scatter_(1, seeds.view(-1, 1), -1.0)
        order = distance.argsort(dim=1, stable=True)
        return _mask_first(order, counts)


def random_mask_groups(
    centers: Tensor,
    ratio: tuple[float, float] = (0.3, 0.4),
    *,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Mask ``int(r · G)`` groups chosen uniformly at random per cloud, ``r ~ U(ratio)`` per cloud.

    The official ``_mask_center_rand`` drew one ratio per batch and masked each group independently with that
    probability, so the count varied; here the count is exact per cloud, as in :func:`block_mask_groups`.

    Args:
        centers: ``B×G×3`` group centres (only the shape and device are used).
        ratio: ``(low, high)`` bounds of the masked fraction.
        generator: source of the draws (``None``: torch's global RNG).

    Returns:
        ``B×G`` bool, ``True`` where a group is masked.
    """
    low, high = _validate(centers, ratio)
    batch_size, num_groups, _ = centers.shape
    device = centers.device
    counts = mask_counts(batch_size, num_groups, (low, high), device=device, generator=generator)
    source = generator.device if generator is not None else device
    keys = torch.rand(batch_size, num_groups, generator=generator, device=source).to(device)
    return _mask_first(keys.argsort(dim=1), counts)


def _mask_first(order: Tensor, counts: Tensor) -> Tensor:
    """A ``B×G`` mask with ``True`` at the first ``counts[b]`` entries of ``order[b]``."""
    num_groups = order.shape[1]
    ranks = torch.arange(num_groups, device=order.device).expand_as(order)
    mask = torch.empty_like(order, dtype=torch.bool)
    mask.scatter_(1, order, ranks < counts.unsqueeze(1))
    return mask
