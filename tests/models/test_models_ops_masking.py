"""Group masks (block and random) and the point-cloud input checks."""

from __future__ import annotations

import math

import pytest
import torch

from crossmost_models.ops import block_mask_groups, check_points, random_mask_groups
from crossmost_models.ops.masking import mask_counts


def _centers(seed: int, batch: int = 6, groups: int = 64) -> torch.Tensor:
    return torch.randn(batch, groups, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_mask_counts_are_int_of_ratio_times_groups_drawn_per_sample() -> None:
    counts = mask_counts(2000, 64, (0.3, 0.4), device=torch.device("cpu"), generator=torch.Generator().manual_seed(0))
    assert int(counts.min()) >= math.floor(0.3 * 64)
    assert int(counts.max()) <= math.floor(0.4 * 64)
    assert len(set(counts.tolist())) > 3  # drawn per sample, not once per batch
    # The same draws, done by hand: r ~ U(lo, hi) in float64, then int(r · G).
    uniform = torch.rand(2000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    expected = [int((0.3 + 0.1 * u) * 64) for u in uniform.tolist()]
    assert counts.tolist() == expected


def test_block_mask_has_the_drawn_count_and_is_a_contiguous_ball_around_a_centre() -> None:
    centers = _centers(1)
    generator = torch.Generator().manual_seed(5)
    mask = block_mask_groups(centers, (0.3, 0.4), generator=generator)
    # Replay the generator: seed groups are drawn first, then the ratios.
    replay = torch.Generator().manual_seed(5)
    seeds = torch.randint(64, (6,), generator=replay)
    counts = mask_counts(6, 64, (0.3, 0.4), device=torch.device("cpu"), generator=replay)
    assert mask.dtype == torch.bool
    assert mask.shape == (6, 64)
    assert mask.sum(1).tolist() == counts.tolist()
    for b in range(6):
        distance = (centers[b] - centers[b, seeds[b]]).norm(dim=-1)
        assert bool(mask[b, seeds[b]])
        nearest_other = distance.clone()
        nearest_other[seeds[b]] = math.inf
        assert bool(mask[b, nearest_other.argmin()])  # the seed's nearest neighbour is masked too
        assert float(distance[mask[b]].max()) < float(distance[~mask[b]].min())


def test_block_mask_is_reproducible_and_differs_between_seeds() -> None:
    centers = _centers(2)
    first = block_mask_groups(centers, generator=torch.Generator().manual_seed(0))
    again = block_mask_groups(centers, generator=torch.Generator().manual_seed(0))
    other = block_mask_groups(centers, generator=torch.Generator().manual_seed(1))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_block_mask_with_a_fixed_ratio_and_the_empty_ratio() -> None:
    centers = _centers(3, batch=3, groups=10)
    assert block_mask_groups(centers, (0.5, 0.5)).sum(1).tolist() == [5, 5, 5]
    assert block_mask_groups(centers, (0.0, 0.0)).sum().item() == 0
    assert block_mask_groups(centers, (1.0, 1.0)).all()


def test_random_mask_has_the_drawn_count_and_scatters() -> None:
    centers = _centers(4, batch=200)
    mask = random_mask_groups(centers, (0.3, 0.4), generator=torch.Generator().manual_seed(2))
    counts = mask.sum(1)
    assert int(counts.min()) >= 19
    assert int(counts.max()) <= 25
    # Every group gets masked somewhere in the batch (no spatial structure).
    assert bool(mask.any(0).all())


@pytest.mark.parametrize("ratio", [(0.4, 0.3), (-0.1, 0.2), (0.5, 1.5)])
def test_masks_reject_bad_ratios(ratio: tuple[float, float]) -> None:
    with pytest.raises(ValueError, match="ratio"):
        block_mask_groups(_centers(5), ratio)


@pytest.mark.parametrize(
    ("points", "message"),
    [
        (torch.zeros(2, 3, 100), r"looks like B×C×N; transpose it"),
        (torch.zeros(100, 3), r"add a batch dimension"),
        (torch.zeros(2, 100, 3, 1), r"rank 3"),
        (torch.zeros(2, 100, 4), r"4 channels per point \(shape \(2, 100, 4\)\) but C = 3 or 6"),
        (torch.zeros(2, 100, 3, dtype=torch.int64), r"floating dtype"),
        (torch.zeros(2, 16, 3), r"16 points per cloud but at least 32"),
        (torch.zeros(0, 100, 3), r"empty batch"),
        ([[0.0, 0.0, 0.0]], r"torch.Tensor"),
    ],
)
def test_check_points_explains_each_problem(points: torch.Tensor, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_points(points, min_points=32)


def test_check_points_names_the_samples_with_non_finite_values() -> None:
    points = torch.zeros(5, 40, 3)
    points[1, 3, 0] = float("nan")
    points[3, 0, 2] = float("inf")
    with pytest.raises(ValueError, match=r"NaN or infinite values in sample\(s\) 1, 3 of the batch"):
        check_points(points, min_points=32, name="points_strong")
    check_points(torch.zeros(5, 40, 6), min_points=32)  # a valid xyzrgb batch passes
    with pytest.raises(ValueError, match=r"but C = 3 is expected .*take the xyz channels"):
        check_points(torch.zeros(5, 40, 6), min_points=32, channels=(3,))
