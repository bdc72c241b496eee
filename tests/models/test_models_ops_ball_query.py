"""Ball query against a brute-force reference with PointNet++'s conventions (index order, padding with the first)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crossmost_models.ops import ball_query, farthest_point_sample


def _reference(points: np.ndarray, centers: np.ndarray, radius: float, k: int) -> np.ndarray:
    """One centre at a time in float64: the in-radius indices in increasing order, the first k, padded with the
    first of them."""
    out = np.empty((*centers.shape[:2], k), dtype=np.int64)
    for b, (cloud, queries) in enumerate(zip(points, centers, strict=True)):
        for s, centre in enumerate(queries):
            inside = np.flatnonzero(((cloud[:, :3] - centre) ** 2).sum(axis=1) <= radius * radius)[:k]
            out[b, s] = np.concatenate([inside, np.full(k - len(inside), inside[0])])
    return out


def _clouds(seed: int, batch: int = 3, points: int = 400, channels: int = 3) -> torch.Tensor:
    values = np.random.default_rng(seed).uniform(-1, 1, (batch, points, channels))
    return torch.from_numpy(values.astype(np.float32))


@pytest.mark.parametrize(("seed", "radius", "k"), [(0, 0.2, 16), (1, 0.35, 64), (2, 0.5, 8), (3, 0.05, 4)])
def test_ball_query_equals_the_brute_force_reference(seed: int, radius: float, k: int) -> None:
    points = _clouds(seed)
    centers = points[torch.arange(3).unsqueeze(1), farthest_point_sample(points, 24)]
    indices, groups = ball_query(points, centers, radius, k)
    expected = _reference(points.double().numpy(), centers.double().numpy(), radius, k)
    np.testing.assert_array_equal(indices.numpy(), expected)
    # Every neighbourhood is the gathered points relative to their centre.
    gathered = points[torch.arange(3).view(3, 1, 1), indices]
    torch.testing.assert_close(groups, gathered - centers.unsqueeze(2))


def test_small_chunks_give_the_same_neighbours() -> None:
    points = _clouds(4, channels=6)
    centers = points[:, :30, :3]
    whole, groups = ball_query(points, centers, 0.3, 12)
    chunked, chunked_groups = ball_query(points, centers, 0.3, 12, max_chunk_elements=1)
    assert torch.equal(whole, chunked)
    assert torch.equal(groups, chunked_groups)
    assert torch.equal(groups[..., 3:], points[torch.arange(3).view(3, 1, 1), whole][..., 3:])  # rgb carried


def test_sparse_balls_are_padded_with_their_first_point() -> None:
    points = torch.tensor([[[0.0, 0, 0], [5, 0, 0], [0.1, 0, 0], [0.2, 0, 0], [9, 9, 9]]])
    centers = torch.tensor([[[0.0, 0, 0], [5, 0, 0]]])
    indices, _ = ball_query(points, centers, 0.15, 4)
    assert indices.tolist() == [[[0, 2, 0, 0], [1, 1, 1, 1]]]


def test_a_point_exactly_on_the_sphere_is_inside() -> None:
    points = torch.tensor([[[0.0, 0, 0], [0.5, 0, 0], [0.0, 0.25, 0]]], dtype=torch.float64)
    indices, _ = ball_query(points, points[:, :1], 0.5, 3)
    assert indices.tolist() == [[[0, 1, 2]]]


def test_an_empty_ball_repeats_the_nearest_point() -> None:
    points = torch.tensor([[[0.0, 0, 0], [1, 0, 0]]])
    indices, _ = ball_query(points, torch.tensor([[[0.9, 3, 0]]]), 0.1, 2)
    assert indices.tolist() == [[[1, 1]]]


def test_gradients_reach_the_points() -> None:
    points = _clouds(5).requires_grad_(True)
    _, groups = ball_query(points, points[:, :10].detach(), 0.4, 8)
    groups.sum().backward()
    assert points.grad is not None
    assert points.grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("points", "centers", "radius", "k", "message"),
    [
        (torch.zeros(2, 10), torch.zeros(2, 1, 3), 0.1, 1, "B×N×C"),
        (torch.zeros(2, 10, 3), torch.zeros(3, 1, 3), 0.1, 1, "centers"),
        (torch.zeros(2, 10, 3), torch.zeros(2, 1, 3), 0.0, 1, "radius"),
        (torch.zeros(2, 10, 3), torch.zeros(2, 1, 3), 0.1, 11, "k must be"),
    ],
)
def test_bad_inputs_are_named(points: torch.Tensor, centers: torch.Tensor, radius: float, k: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ball_query(points, centers, radius, k)
