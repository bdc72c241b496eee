"""Surface sampling (area weighting, colour, determinism), normalisation and resampling policy."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from crossmost_data.items import BadItemError
from crossmost_data.points import (
    DEFAULT_GREY,
    normalize_to_unit_sphere,
    recentre_in_unit_sphere,
    resample_points,
    sample_surface,
    with_layout,
)


def _two_squares() -> trimesh.Trimesh:
    """A 3×3 square at z=0 (area 9) and a 1×1 square at z=5 (area 1), two triangles each."""
    vertices = np.array(
        [[0, 0, 0], [3, 0, 0], [3, 3, 0], [0, 3, 0], [0, 0, 5], [1, 0, 5], [1, 1, 5], [0, 1, 5]], dtype=float
    )
    faces = np.array([[0, 1, 2], [0, 2, 3], [4, 5, 6], [4, 6, 7]])
    return trimesh.Trimesh(vertices, faces, process=False)


def test_area_weighted() -> None:
    points = sample_surface(_two_squares(), 20000, np.random.default_rng(0))
    big = int((points[:, 2] < 1).sum())
    expected = 20000 * 0.9
    # Binomial std ≈ sqrt(20000·0.9·0.1) ≈ 42; allow 4 std.
    assert abs(big - expected) < 4 * np.sqrt(20000 * 0.09)
    low = points[points[:, 2] < 1]
    assert low[:, :2].min() >= 0
    assert low[:, :2].max() <= 3
    # Uniform inside the big square: each quadrant holds about a quarter.
    quadrant = ((low[:, 0] < 1.5) & (low[:, 1] < 1.5)).mean()
    assert quadrant == pytest.approx(0.25, abs=0.02)


def test_seeded_determinism() -> None:
    mesh = trimesh.creation.icosphere(subdivisions=1)
    a = sample_surface(mesh, 100, np.random.default_rng(5))
    b = sample_surface(mesh, 100, np.random.default_rng(5))
    c = sample_surface(mesh, 100, np.random.default_rng(6))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.dtype == np.float32


def test_vertex_colours_interpolated_and_face_colours() -> None:
    mesh = _two_squares()
    colors = np.zeros((8, 4), dtype=np.uint8)
    colors[:, 3] = 255
    colors[:4, 0] = 255  # big square red, small square blue
    colors[4:, 2] = 255
    mesh.visual = trimesh.visual.ColorVisuals(mesh, vertex_colors=colors)
    points = sample_surface(mesh, 500, np.random.default_rng(1), color=True)
    assert points.shape == (500, 6)
    big = points[:, 2] < 1
    np.testing.assert_allclose(points[big, 3:], [[1.0, 0.0, 0.0]] * int(big.sum()), atol=1e-6)
    np.testing.assert_allclose(points[~big, 3:], [[0.0, 0.0, 1.0]] * int((~big).sum()), atol=1e-6)
    plain = sample_surface(trimesh.creation.box(), 10, np.random.default_rng(1), color=True)
    box = trimesh.creation.box()
    face_colors = np.tile([0, 255, 0, 255], (len(box.faces), 1)).astype(np.uint8)
    box.visual = trimesh.visual.ColorVisuals(box, face_colors=face_colors)
    green = sample_surface(box, 10, np.random.default_rng(1), color=True)
    np.testing.assert_allclose(green[:, 3:], [[0, 1, 0]] * 10)
    assert plain.shape == (10, 6)


def test_texture_colour_lookup() -> None:
    from PIL import Image

    vertices = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], dtype=float)
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    texture = np.zeros((4, 4, 3), dtype=np.uint8)
    texture[:, :] = (10, 200, 30)
    uv = vertices[:, :2]
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    mesh.visual = trimesh.visual.TextureVisuals(uv=uv, image=Image.fromarray(texture))
    points = sample_surface(mesh, 50, np.random.default_rng(0), color=True)
    np.testing.assert_allclose(points[:, 3:], [[10 / 255, 200 / 255, 30 / 255]] * 50, atol=1e-6)


def test_normalize_to_unit_sphere() -> None:
    points = np.array([[1, 1, 1, 0.2, 0.3, 0.4], [3, 1, 1, 0.5, 0.5, 0.5], [2, 3, 1, 0, 0, 0]], dtype=float)
    out = normalize_to_unit_sphere(points)
    np.testing.assert_allclose(out[:, :3].mean(axis=0), 0, atol=1e-6)
    assert np.linalg.norm(out[:, :3], axis=1).max() == pytest.approx(1.0)
    np.testing.assert_array_equal(out[:, 3:], points[:, 3:].astype(np.float32))
    centroid = points[:, :3].mean(axis=0)
    radius = np.linalg.norm(points[:, :3] - centroid, axis=1).max()
    np.testing.assert_allclose(out[:, :3], (points[:, :3] - centroid) / radius, rtol=1e-6)
    with pytest.raises(BadItemError, match="radius 0"):
        normalize_to_unit_sphere(np.ones((10, 3)))
    with pytest.raises(BadItemError, match="non-finite"):
        normalize_to_unit_sphere(np.array([[0, 0, np.inf], [1, 1, 1]]))


def test_the_loaders_recentring_is_the_same_normalisation_in_float32() -> None:
    cloud = np.random.default_rng(3).normal(size=(500, 6)) * 3.0 + 7.0
    recentred = recentre_in_unit_sphere(cloud)
    assert recentred.dtype == np.float32
    np.testing.assert_allclose(recentred, normalize_to_unit_sphere(cloud), atol=2e-6)
    np.testing.assert_array_equal(recentre_in_unit_sphere(np.array([[4.0, 5.0, 6.0]])), np.zeros((1, 3), np.float32))
    with pytest.raises(BadItemError, match="radius 0"):
        normalize_to_unit_sphere(np.array([[4.0, 5.0, 6.0]]))
    with pytest.raises(ValueError, match="N×3 or N×6"):
        recentre_in_unit_sphere(np.zeros((0, 3)))


def test_resample_down_is_a_subset_without_replacement() -> None:
    points = np.arange(300, dtype=float).reshape(100, 3)
    out = resample_points(points, 40, np.random.default_rng(0))
    rows = {tuple(r) for r in out}
    assert len(rows) == 40
    assert rows <= {tuple(r) for r in points.astype(np.float32)}


def test_fps_picks_the_far_end() -> None:
    points = np.zeros((50, 3))
    points[:, 0] = np.arange(50)
    out = resample_points(points, 2, np.random.default_rng(3), downsample="fps")
    xs = sorted(out[:, 0].tolist())
    assert 0.0 in xs or 49.0 in xs
    assert xs[1] - xs[0] >= 24.5  # the second point is the farthest from the first


def test_resample_policy_for_small_clouds() -> None:
    points = np.random.default_rng(0).normal(size=(10, 3))
    with pytest.raises(BadItemError, match=r"too few points: 10 < minimum 64 \(requested 64\)"):
        resample_points(points, 64, np.random.default_rng(0))
    up = resample_points(points, 64, np.random.default_rng(0), min_points=8)
    assert up.shape == (64, 3)
    assert {tuple(r) for r in up} == {tuple(r) for r in points.astype(np.float32)}
    jittered = resample_points(points, 64, np.random.default_rng(0), min_points=8, upsample="jitter")
    assert len({tuple(r) for r in jittered}) == 64
    with pytest.raises(BadItemError, match="non-finite"):
        resample_points(np.full((80, 3), np.nan), 64, np.random.default_rng(0))


def test_with_layout() -> None:
    xyz = np.zeros((4, 3), np.float32)
    assert with_layout(xyz, "xyz").shape == (4, 3)
    rgb = with_layout(xyz, "xyzrgb")
    np.testing.assert_array_equal(rgb[:, 3:], DEFAULT_GREY)
    assert with_layout(rgb, "xyz").shape == (4, 3)


def _exact_fps(xyz: np.ndarray, count: int, start: int) -> np.ndarray:
    """The textbook O(N·count) farthest point sampling from ``start``."""
    chosen = [start]
    distance = ((xyz - xyz[start]) ** 2).sum(axis=1)
    for _ in range(count - 1):
        chosen.append(int(distance.argmax()))
        distance = np.minimum(distance, ((xyz - xyz[chosen[-1]]) ** 2).sum(axis=1))
    return np.array(chosen)


@pytest.mark.parametrize(("n", "count"), [(300, 64), (5000, 1024), (40_000, 512)])
def test_fps_is_exact_farthest_point_sampling_and_seeded(n: int, count: int) -> None:
    from crossmost_data.points import farthest_point_indices

    xyz = np.random.default_rng(n).normal(size=(n, 3)).astype(np.float32)
    index = farthest_point_indices(xyz, count, np.random.default_rng(7))
    assert len(np.unique(index)) == count
    np.testing.assert_array_equal(index, _exact_fps(xyz.astype(np.float64), count, int(index[0])))
    np.testing.assert_array_equal(index, farthest_point_indices(xyz, count, np.random.default_rng(7)))


def test_fps_falls_back_when_the_bucket_kernel_repeats_points(monkeypatch: pytest.MonkeyPatch) -> None:
    import fpsample

    from crossmost_data.points import farthest_point_indices

    monkeypatch.setattr(fpsample, "bucket_fps_kdline_sampling", lambda pc, n, h, start_idx: np.zeros(n, np.int64))
    xyz = np.random.default_rng(0).normal(size=(200, 3))
    index = farthest_point_indices(xyz, 32, np.random.default_rng(1))
    start = int(np.random.default_rng(1).integers(200))
    np.testing.assert_array_equal(index, _exact_fps(xyz.astype(np.float32).astype(np.float64), 32, start))
