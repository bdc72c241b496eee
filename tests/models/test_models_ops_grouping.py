"""Farthest-point sampling and kNN grouping against fpsample and scipy's cKDTree."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from crossmost_models.ops import farthest_point_sample, group_points, knn_group

fpsample = pytest.importorskip("fpsample", reason="fpsample is the reference FPS (dev group)")
spatial = pytest.importorskip("scipy.spatial", reason="scipy's cKDTree is the reference kNN (dev group)")


def _clouds(seed: int, batch: int = 3, points: int = 300, channels: int = 3) -> torch.Tensor:
    # float64 draws rounded to float32: no exact distance ties, and fpsample (which computes in float32) sees
    # exactly the values we do.
    values = np.random.default_rng(seed).standard_normal((batch, points, channels))
    return torch.from_numpy(values.astype(np.float32))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_fps_equals_fpsample_with_a_fixed_start(seed: int) -> None:
    points = _clouds(seed)
    ours = farthest_point_sample(points, 40, start="fixed")
    reference = np.stack([fpsample.fps_sampling(cloud.numpy(), 40, start_idx=0) for cloud in points])
    assert ours.dtype == torch.int64
    assert ours.shape == (3, 40)
    np.testing.assert_array_equal(ours.numpy(), reference.astype(np.int64))


@pytest.mark.parametrize("seed", [4, 5])
def test_fps_equals_fpsample_with_explicit_start_indices(seed: int) -> None:
    points = _clouds(seed)
    start = torch.tensor([7, 123, 299])
    ours = farthest_point_sample(points, 25, start=start)
    reference = np.stack(
        [fpsample.fps_sampling(cloud.numpy(), 25, start_idx=int(s)) for cloud, s in zip(points, start, strict=True)]
    )
    np.testing.assert_array_equal(ours.numpy(), reference.astype(np.int64))


def test_fps_in_float64_and_on_extra_channels_picks_the_same_centres() -> None:
    points = _clouds(6, channels=6)
    as_float32 = farthest_point_sample(points[..., :3], 30)
    np.testing.assert_array_equal(farthest_point_sample(points, 30).numpy(), as_float32.numpy())
    np.testing.assert_array_equal(farthest_point_sample(points.double(), 30).numpy(), as_float32.numpy())


def test_random_start_is_reproducible_with_a_seeded_generator_and_matches_fpsample() -> None:
    points = _clouds(7, batch=4)
    first = farthest_point_sample(points, 20, start="random", generator=torch.Generator().manual_seed(3))
    second = farthest_point_sample(points, 20, start="random", generator=torch.Generator().manual_seed(3))
    other = farthest_point_sample(points, 20, start="random", generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(first, second, rtol=0, atol=0)
    assert not torch.equal(first[:, 0], other[:, 0])
    reference = np.stack(
        [fpsample.fps_sampling(c.numpy(), 20, start_idx=int(s)) for c, s in zip(points, first[:, 0], strict=True)]
    )
    np.testing.assert_array_equal(first.numpy(), reference.astype(np.int64))


def test_fps_centres_are_distinct_and_spread() -> None:
    points = _clouds(8, batch=2, points=200)
    indices = farthest_point_sample(points, 50)
    for row in indices:
        assert len(set(row.tolist())) == 50
    # Greedy FPS property: each new centre is at least as far from the earlier ones as any later centre is.
    cloud, row = points[0], indices[0]
    gaps = [torch.cdist(cloud[row[i : i + 1]], cloud[row[:i]]).min().item() for i in range(1, 50)]
    assert all(a >= b - 1e-6 for a, b in itertools.pairwise(gaps))


@pytest.mark.parametrize("seed", [0, 1])
def test_knn_group_equals_ckdtree_as_sets_and_is_sorted(seed: int) -> None:
    points = _clouds(seed, batch=2, points=400)
    centers = points[:, :17] + 0.01
    indices, neighbourhoods = knn_group(points, centers, 12)
    assert indices.shape == (2, 17, 12)
    assert neighbourhoods.shape == (2, 17, 12, 3)
    for b in range(2):
        distances, reference = spatial.cKDTree(points[b].double().numpy()).query(centers[b].double().numpy(), k=12)
        for s in range(17):
            assert set(indices[b, s].tolist()) == set(reference[s].tolist())
        ours = (points[b][indices[b]] - centers[b].unsqueeze(1)).norm(dim=-1)
        assert bool((ours[:, 1:] >= ours[:, :-1]).all())
        np.testing.assert_allclose(ours.numpy(), distances, rtol=1e-5)


def test_knn_chunking_does_not_change_the_result() -> None:
    points = _clouds(9, batch=2, points=300)
    centers = points[:, 100:140]
    whole, _ = knn_group(points, centers, 9)
    chunked, _ = knn_group(points, centers, 9, max_chunk_elements=2 * 300 * 7)
    torch.testing.assert_close(whole, chunked, rtol=0, atol=0)


def test_neighbourhoods_are_relative_to_their_centre_and_keep_colours() -> None:
    points = _clouds(10, batch=2, points=120, channels=6)
    centers = points[:, :5, :3]
    indices, neighbourhoods = knn_group(points, centers, 4)
    expected = points[torch.arange(2).view(2, 1, 1), indices]
    torch.testing.assert_close(neighbourhoods[..., :3], expected[..., :3] - centers.unsqueeze(2))
    torch.testing.assert_close(neighbourhoods[..., 3:], expected[..., 3:])
    # Each centre is a cloud point, so its nearest neighbour is itself at offset zero.
    torch.testing.assert_close(neighbourhoods[:, :, 0, :3], torch.zeros(2, 5, 3))


def test_group_points_agrees_with_fps_then_knn() -> None:
    points = _clouds(11, batch=3, points=256, channels=6)
    neighbourhoods, centers = group_points(points, 8, 16, start="fixed")
    centre_indices = farthest_point_sample(points, 8)
    expected_centers = points[torch.arange(3).unsqueeze(1), centre_indices, :3]
    torch.testing.assert_close(centers, expected_centers, rtol=0, atol=0)
    _, expected = knn_group(points, centers, 16)
    torch.testing.assert_close(neighbourhoods, expected)


def test_group_points_is_differentiable_and_keeps_low_precision_dtypes() -> None:
    points = _clouds(12, batch=2, points=64).requires_grad_(True)
    neighbourhoods, centers = group_points(points, 4, 8)
    (neighbourhoods.square().sum() + centers.sum()).backward()
    assert points.grad is not None
    assert bool(points.grad.abs().sum() > 0)
    half_groups, half_centers = group_points(points.detach().to(torch.bfloat16), 4, 8)
    assert half_groups.dtype == torch.bfloat16
    assert half_centers.dtype == torch.bfloat16


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda p: farthest_point_sample(p, 0), "num_samples"),
        (lambda p: farthest_point_sample(p, 11), "num_samples"),
        (lambda p: farthest_point_sample(p, 3, start="middle"), "start"),  # type: ignore[arg-type]
        (lambda p: farthest_point_sample(p, 3, start=torch.tensor([0, 10])), "start indices"),
        (lambda p: farthest_point_sample(p[0], 3), "B×N×C"),
        (lambda p: knn_group(p, p[:, :2], 11), "k must be"),
        (lambda p: knn_group(p, p[:1, :2], 2), "centers"),
        (lambda p: group_points(p, 2, 0), "group_size"),
    ],
)
def test_grouping_ops_reject_bad_arguments(call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=message):
        call(_clouds(13, batch=2, points=10))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_grouping_on_cuda_matches_cpu() -> None:
    points = _clouds(14, batch=4, points=512)
    generator = torch.Generator().manual_seed(0)
    cpu = group_points(points, 16, 8, start="random", generator=generator)
    generator = torch.Generator().manual_seed(0)
    gpu = group_points(points.cuda(), 16, 8, start="random", generator=generator)
    torch.testing.assert_close(gpu[1].cpu(), cpu[1])
    torch.testing.assert_close(gpu[0].cpu(), cpu[0])
