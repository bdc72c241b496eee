"""Depth projection of point clouds: pixel positions and values by hand, nearest depth, batching, layouts, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from crossmost_data.views.depth import DepthConfig, depth_camera_poses, project_depth_views, project_depth_views_batch

# Raw grid values: no normalisation, no densification or blur, grid == image, white on black, so that a pixel's
# value is round(255 × intensity) with intensity = min_intensity + (1 − min_intensity) × (1 − depth / 2).
RAW = DepthConfig(
    num_views=4,
    layout="ring",
    elevation_deg=0.0,
    grid_size=16,
    image_size=16,
    object_ratio=1.0,
    normalize=False,
    densify_kernel=1,
    blur_kernel=1,
    min_intensity=0.5,
    background=(0, 0, 0),
    foreground=(255, 255, 255),
)


def _grey(images: list[np.ndarray], view: int) -> np.ndarray:
    image = images[view]
    assert np.array_equal(image[..., 0], image[..., 1])
    assert np.array_equal(image[..., 1], image[..., 2])
    return image[..., 0].astype(int)


def test_points_land_on_hand_computed_pixels_front_view() -> None:
    # View 0 looks from +z: image right = +x, image up = +y, nearness grows with z.
    points = np.array([[0.5, 0.5, 0.0], [-0.25, -0.5, 0.5]], dtype=np.float32)
    front = _grey(project_depth_views(points, RAW).images, 0)
    expected = np.zeros((16, 16), dtype=int)
    expected[4, 12] = round(255 * (0.5 + 0.5 * 0.5))  # col ⌊0.5·8+8⌋, row ⌊8−0.5·8⌋, depth 1
    expected[12, 6] = round(255 * (0.5 + 0.5 * 0.75))  # col ⌊−0.25·8+8⌋, row ⌊8+0.5·8⌋, depth 0.5
    assert np.array_equal(front, expected)


def test_side_view_uses_rotated_axes() -> None:
    # View 1 is at azimuth 90°, i.e. on +x: image right = −z, nearness grows with x.
    points = np.array([[0.5, 0.5, -0.5]], dtype=np.float32)
    side = _grey(project_depth_views(points, RAW).images, 1)
    assert np.argwhere(side > 0).tolist() == [[4, 12]]
    assert side[4, 12] == round(255 * (0.5 + 0.5 * 0.75))


def test_nearest_depth_wins_a_shared_pixel() -> None:
    near_far = np.array([[0.1, 0.1, 0.8], [0.1, 0.1, -0.8]], dtype=np.float32)
    far_near = near_far[::-1].copy()
    near_only = near_far[:1]
    for cloud in (near_far, far_near):
        assert np.array_equal(
            _grey(project_depth_views(cloud, RAW).images, 0), _grey(project_depth_views(near_only, RAW).images, 0)
        )
    assert _grey(project_depth_views(near_only, RAW).images, 0).max() == round(255 * (0.5 + 0.5 * 0.9))


def test_densify_fills_empty_cells_with_nearest_neighbour() -> None:
    config = DepthConfig(**{**RAW.to_dict(), "densify_kernel": 3, "background": (0, 0, 0), "foreground": (255,) * 3})
    image = _grey(project_depth_views(np.array([[0.0, 0.0, 0.0]], dtype=np.float32), config).images, 0)
    value = round(255 * 0.75)
    assert np.argwhere(image == value).tolist() == [[r, c] for r in (7, 8, 9) for c in (7, 8, 9)]
    assert image.sum() == 9 * value


def test_batch_equals_per_cloud() -> None:
    rng = np.random.default_rng(0)
    clouds = rng.normal(size=(3, 200, 3)).astype(np.float32)
    config = DepthConfig(grid_size=24, image_size=40)
    batch = project_depth_views_batch(torch.from_numpy(clouds), config)
    assert batch.shape == (3, 10, 3, 40, 40)
    assert batch.dtype == torch.uint8
    for index, cloud in enumerate(clouds):
        single = np.stack(project_depth_views(cloud, config).images)  # V×H×W×3
        assert np.array_equal(batch[index].permute(0, 2, 3, 1).numpy(), single)


def test_output_range_background_and_extra_channels() -> None:
    rng = np.random.default_rng(1)
    xyzrgb = np.concatenate([rng.uniform(-1, 1, (500, 3)), rng.uniform(0, 1, (500, 3))], axis=1).astype(np.float32)
    config = DepthConfig(grid_size=32, image_size=64, background=(200, 200, 200), foreground=(20, 20, 20))
    views = project_depth_views(xyzrgb, config)
    assert len(views.images) == 10
    for image in views.images:
        assert image.shape == (64, 64, 3)
        assert image.dtype == np.uint8
        assert image.min() >= 20
        assert image.max() <= 200
        assert tuple(image[0, 0]) == (200, 200, 200)
        assert (image < 190).any()  # something was drawn
    assert np.array_equal(np.stack(views.images), np.stack(project_depth_views(xyzrgb[:, :3], config).images))


def test_normalisation_makes_views_scale_and_shift_invariant() -> None:
    cloud = np.random.default_rng(2).normal(size=(300, 3)).astype(np.float32)
    config = DepthConfig(grid_size=32, image_size=32)
    moved = (cloud * 3.0 + np.array([5.0, -2.0, 1.0], dtype=np.float32)).astype(np.float32)
    a = np.stack(project_depth_views(cloud, config).images).astype(int)
    b = np.stack(project_depth_views(moved, config).images).astype(int)
    assert np.abs(a - b).max() <= 1  # float rounding at cell borders only


def test_polarity_swap_inverts_the_image() -> None:
    cloud = np.random.default_rng(3).normal(size=(300, 3)).astype(np.float32)
    dark_on_light = DepthConfig(grid_size=32, image_size=32, background=(255,) * 3, foreground=(0,) * 3)
    light_on_dark = DepthConfig(grid_size=32, image_size=32, background=(0,) * 3, foreground=(255,) * 3)
    a = np.stack(project_depth_views(cloud, dark_on_light).images).astype(int)
    b = np.stack(project_depth_views(cloud, light_on_dark).images).astype(int)
    assert np.abs(a + b - 255).max() <= 1


def test_pointclip_layout_poses() -> None:
    poses = depth_camera_poses(DepthConfig())
    assert len(poses) == 10
    elevations = [math.degrees(math.asin(p[1, 3] / np.linalg.norm(p[:3, 3]))) for p in poses]
    assert elevations[:8] == pytest.approx([20.0] * 8)
    assert elevations[8:] == pytest.approx([78.0, -78.0])
    views = project_depth_views(np.zeros((1, 3), dtype=np.float32) + 0.1, DepthConfig(grid_size=8, image_size=8))
    assert [np.asarray(p) for p in views.camera_poses][3] == pytest.approx(poses[3])
    assert views.settings["projection"] == "orthographic"


@pytest.mark.parametrize(
    ("points", "message"),
    [
        (np.zeros((0, 3), dtype=np.float32), "empty"),
        (np.array([[0.0, np.nan, 0.0]], dtype=np.float32), "NaN"),
        (np.zeros((5, 2), dtype=np.float32), "N×3"),
    ],
)
def test_bad_clouds_rejected(points: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        project_depth_views(points, RAW)


def test_bad_config_rejected() -> None:
    with pytest.raises(ValueError, match="odd"):
        DepthConfig(densify_kernel=4)
    with pytest.raises(ValueError, match="num_views"):
        DepthConfig(num_views=11)
