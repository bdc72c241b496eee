"""Point and image augmentations and the image block mask of crossmost_data.loader."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.spatial import Delaunay, cKDTree
from scipy.spatial.distance import pdist

from crossmost_data.loader.config import CLIP_MEAN, CLIP_STD, ImageAugmentConfig, MaskConfig, PointAugmentConfig
from crossmost_data.loader.image_transforms import (
    EvalImageTransform,
    StrongImageTransform,
    WeakImageTransform,
    random_resized_crop_box,
)
from crossmost_data.loader.masks import ImageBlockMaskGenerator, masked_block_count
from crossmost_data.loader.point_transforms import (
    StrongPointTransform,
    WeakPointTransform,
    dropout_to_first,
    random_crop,
    rotate,
    rotation_matrix_xyz,
    rotation_matrix_y,
    scale,
    upsample,
)
from crossmost_data.points import recentre_in_unit_sphere


def _cloud(n: int = 512, seed: int = 0, colors: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    xyz = rng.uniform(-1.0, 1.0, size=(n, 3)) * np.array([2.0, 1.0, 0.5]) + np.array([3.0, -1.0, 0.2])
    if colors:
        return np.concatenate([xyz, rng.uniform(0, 1, size=(n, 3))], axis=1).astype(np.float32)
    return xyz.astype(np.float32)


def _image(size: tuple[int, int] = (48, 48), seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8), mode="RGB")


# -- points -------------------------------------------------------------------------------------------------------


def test_normalize_centres_and_scales_to_unit_sphere() -> None:
    out = recentre_in_unit_sphere(_cloud())
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-5)
    assert np.linalg.norm(out, axis=1).max() == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("transform", [WeakPointTransform(), StrongPointTransform(num_points=512)])
def test_point_transforms_deterministic_per_seed_and_differ_across_seeds(transform: object) -> None:
    cloud = _cloud()
    first = transform(cloud, np.random.default_rng(5))  # type: ignore[operator]
    again = transform(cloud, np.random.default_rng(5))  # type: ignore[operator]
    other = transform(cloud, np.random.default_rng(6))  # type: ignore[operator]
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_transforms_do_not_modify_their_input() -> None:
    cloud = _cloud(colors=True)
    copy = cloud.copy()
    WeakPointTransform()(cloud, np.random.default_rng(0))
    StrongPointTransform(num_points=512)(cloud, np.random.default_rng(0))
    np.testing.assert_array_equal(cloud, copy)


def test_weak_transform_keeps_cloud_near_unit_radius() -> None:
    for seed in range(10):
        out = WeakPointTransform()(_cloud(seed=seed), np.random.default_rng(seed))
        radius = np.linalg.norm(out, axis=1).max()
        # normalised to radius 1, scaled by U(0.9, 1.1), rotated about the origin (norm-preserving)
        assert 0.9 - 1e-5 <= radius <= 1.1 + 1e-5
        np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-5)


def test_weak_transform_keeps_colours() -> None:
    cloud = _cloud(colors=True)
    out = WeakPointTransform()(cloud, np.random.default_rng(0))
    np.testing.assert_array_equal(out[:, 3:], cloud[:, 3:])


def test_rotation_matrices_known_answers() -> None:
    ry = rotation_matrix_y(math.pi / 2)
    np.testing.assert_allclose(ry @ [1.0, 0.0, 0.0], [0.0, 0.0, -1.0], atol=1e-12)
    np.testing.assert_allclose(ry @ [0.0, 1.0, 0.0], [0.0, 1.0, 0.0], atol=1e-12)
    # Rz·Ry·Rx: x first. A quarter turn about x then about z sends y → z → z, and x → x → y.
    r = rotation_matrix_xyz(np.array([math.pi / 2, 0.0, math.pi / 2]))
    np.testing.assert_allclose(r @ [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(r @ [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], atol=1e-12)
    for matrix in (ry, r, rotation_matrix_xyz(np.array([0.1, -0.2, 0.3]))):
        np.testing.assert_allclose(matrix @ matrix.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(matrix) == pytest.approx(1.0)


def test_rotation_preserves_distances_and_scale_multiplies_them() -> None:
    cloud = recentre_in_unit_sphere(_cloud(128))
    rotated = rotate(cloud, rotation_matrix_y(1.234))
    np.testing.assert_allclose(pdist(rotated), pdist(cloud), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rotated[:, 1], cloud[:, 1], atol=1e-6)  # the up axis is untouched
    scaled = scale(rotated, 1.7)
    np.testing.assert_allclose(pdist(scaled), 1.7 * pdist(cloud), rtol=1e-5, atol=1e-6)


def test_crop_removes_points_in_intended_mode_only() -> None:
    cloud = recentre_in_unit_sphere(_cloud(8192))
    intended = PointAugmentConfig(crop_mode="intended")
    official = PointAugmentConfig(crop_mode="official")
    for seed in range(5):
        cropped = random_crop(cloud, np.random.default_rng(seed), intended)
        assert 4096 <= cropped.shape[0] < 8192
        assert np.isin(cropped.view("V12"), cloud.view("V12")).all()  # a subset of the original rows
        np.testing.assert_array_equal(random_crop(cloud, np.random.default_rng(seed), official), cloud)
    small = recentre_in_unit_sphere(_cloud(2048))
    for seed in range(5):  # the official 4096-point floor can never be met by a 2048-point cloud
        np.testing.assert_array_equal(random_crop(small, np.random.default_rng(seed), official), small)
    assert random_crop(small, np.random.default_rng(0), intended).shape[0] < 2048
    np.testing.assert_array_equal(
        random_crop(small, np.random.default_rng(0), PointAugmentConfig(crop_mode="off")), small
    )


def test_dropout_keeps_count_and_copies_first_point() -> None:
    cloud = _cloud(16, colors=True)
    dropped = np.zeros(16, dtype=bool)
    dropped[[3, 7, 8]] = True
    out = dropout_to_first(cloud, dropped)
    assert out.shape == cloud.shape
    np.testing.assert_array_equal(out[[3, 7, 8]], np.repeat(cloud[:1], 3, axis=0))
    np.testing.assert_array_equal(out[~dropped], cloud[~dropped])


def test_upsample_count_and_new_points_inside_hull() -> None:
    cloud = recentre_in_unit_sphere(_cloud(200))
    out = upsample(cloud, 500, np.random.default_rng(0), neighbours=10)
    assert out.shape == (500, 3)
    np.testing.assert_array_equal(out[:200], cloud)
    added = out[200:]
    assert (Delaunay(cloud).find_simplex(added) >= 0).all()  # means of points lie in their convex hull
    # each added point is the mean of 10 neighbours: it is no farther from its nearest original point than the
    # largest 10-NN radius in the cloud
    radius = cKDTree(cloud).query(cloud, k=10)[0][:, -1].max()
    assert cKDTree(cloud).query(added, k=1)[0].max() <= radius + 1e-6
    np.testing.assert_array_equal(upsample(cloud, 150, np.random.default_rng(0)), cloud)


def test_upsample_known_answer_with_two_neighbours() -> None:
    cloud = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [10.0, 0.0, 0.0]], dtype=np.float32)
    out = upsample(cloud, 6, np.random.default_rng(0), neighbours=2)
    expected = {(0.5, 0.0, 0.0), (5.5, 0.0, 0.0)}  # mean of each point with its nearest neighbour
    assert {tuple(map(float, row)) for row in out[3:]} == expected


def test_strong_transform_output_count_matches_target() -> None:
    out = StrongPointTransform(num_points=512)(_cloud(512), np.random.default_rng(3))
    assert out.shape == (512, 3)
    out = StrongPointTransform(PointAugmentConfig(upsample_to=1024))(_cloud(512), np.random.default_rng(3))
    assert out.shape == (1024, 3)  # the official 2048 → 8192 student upsampling


def test_point_config_validation() -> None:
    with pytest.raises(ValueError, match="crop_mode"):
        PointAugmentConfig(crop_mode="typo")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="strong_scale"):
        PointAugmentConfig(strong_scale=(2.0, 0.5))


# -- images -------------------------------------------------------------------------------------------------------


def test_strong_image_deterministic_and_independent_of_global_rng() -> None:
    transform = StrongImageTransform(32)
    image = _image()
    random.seed(1)
    np.random.seed(1)
    first = transform(image, np.random.default_rng(7))
    state = (random.getstate(), np.random.get_state()[1].copy())
    random.seed(2)
    np.random.seed(2)
    again = transform(image, np.random.default_rng(7))
    other = transform(image, np.random.default_rng(8))
    assert first.shape == (3, 32, 32)
    assert first.dtype == torch.float32
    torch.testing.assert_close(first, again, rtol=0, atol=0)
    assert not torch.equal(first, other)
    random.seed(1)
    np.random.seed(1)
    transform(image, np.random.default_rng(7))
    assert random.getstate() == state[0]  # RandAugment ran with seeded globals, then restored them
    np.testing.assert_array_equal(np.random.get_state()[1], state[1])


def test_rand_augment_changes_the_image() -> None:
    image = _image()
    plain = StrongImageTransform(32, ImageAugmentConfig(rand_augment=None))
    augmented = StrongImageTransform(32)
    differs = [
        not torch.equal(plain(image, np.random.default_rng(s)), augmented(image, np.random.default_rng(s)))
        for s in range(5)
    ]
    assert any(differs)
    with pytest.raises(ValueError, match="RandAugment"):
        StrongImageTransform(32, ImageAugmentConfig(rand_augment="rand-q9"))


def test_normalisation_uses_clip_statistics() -> None:
    value = tuple(round(255 * m) for m in CLIP_MEAN)
    image = Image.new("RGB", (32, 32), value)
    out = EvalImageTransform(32)(image)
    expected = torch.tensor([(v / 255 - m) / s for v, m, s in zip(value, CLIP_MEAN, CLIP_STD, strict=True)])
    torch.testing.assert_close(out[:, 5, 5], expected.float())
    torch.testing.assert_close(WeakImageTransform(32)(image, np.random.default_rng(0)), out)


def test_eval_resizes_shorter_side_and_centre_crops() -> None:
    stripes = np.zeros((40, 80, 3), dtype=np.uint8)
    stripes[:, 30:50] = 255  # a white band in the centre of a wide image
    out = EvalImageTransform(20)(Image.fromarray(stripes))
    assert out.shape == (3, 20, 20)
    # 80×40 → 40×20, centre 20 columns = original columns 20..60: white in the middle, black at the edges
    assert out[0, 10, 10] > 1.0
    assert out[0, 10, 0] < -1.0


def test_random_resized_crop_box_within_ranges() -> None:
    for seed in range(50):
        left, top, w, h = random_resized_crop_box(64, 48, (0.3, 1.0), (3 / 4, 4 / 3), np.random.default_rng(seed))
        assert left >= 0
        assert left + w <= 64
        assert top >= 0
        assert top + h <= 48
        assert 0.3 * 64 * 48 * 0.9 <= w * h <= 64 * 48
        assert 3 / 4 * 0.9 <= w / h <= 4 / 3 * 1.1


# -- masks --------------------------------------------------------------------------------------------------------


def test_mask_count_matches_official_settings() -> None:
    generator = ImageBlockMaskGenerator(224, MaskConfig(mask_patch_size=32, model_patch_size=16, mask_ratio=0.3))
    mask = generator(np.random.default_rng(0))
    assert mask.shape == (14, 14)
    assert mask.dtype == bool
    assert generator.num_masked_blocks == 15
    assert mask.sum() == 60 == generator.num_masked_patches
    blocks = mask.reshape(7, 2, 7, 2)  # every 2×2 group of patches is one block: all or nothing
    assert (blocks.all(axis=(1, 3)) == blocks.any(axis=(1, 3))).all()


def test_mask_small_sizes_and_float_safe_ceil() -> None:
    generator = ImageBlockMaskGenerator(64, MaskConfig(mask_patch_size=16, model_patch_size=8, mask_ratio=0.3))
    mask = generator(np.random.default_rng(1))
    assert mask.shape == (8, 8)
    assert mask.sum() == math.ceil(16 * 0.3) * 4 == 20
    assert masked_block_count(10, 0.3) == 3  # 10 × 0.3 = 3.0000000000000004 in floating point
    assert masked_block_count(49, 0.3) == 15
    rectangular = ImageBlockMaskGenerator((32, 64), MaskConfig(mask_patch_size=16, model_patch_size=16, mask_ratio=0.5))
    mask = rectangular(np.random.default_rng(0))
    assert mask.shape == (2, 4)
    assert mask.sum() == 4


def test_mask_deterministic_per_seed_and_disabled_mask_is_empty() -> None:
    generator = ImageBlockMaskGenerator(64, MaskConfig(mask_patch_size=16, model_patch_size=8))
    np.testing.assert_array_equal(generator(np.random.default_rng(3)), generator(np.random.default_rng(3)))
    assert any(
        not np.array_equal(generator(np.random.default_rng(3)), generator(np.random.default_rng(s)))
        for s in range(4, 8)
    )
    disabled = ImageBlockMaskGenerator(64, MaskConfig(enabled=False, mask_patch_size=16, model_patch_size=8))
    assert not disabled(np.random.default_rng(0)).any()


def test_mask_validation_errors_name_the_sizes() -> None:
    with pytest.raises(ValueError, match="mask_patch_size=48"):
        ImageBlockMaskGenerator(224, MaskConfig(mask_patch_size=48, model_patch_size=16))
    with pytest.raises(ValueError, match="multiple of model_patch_size"):
        MaskConfig(mask_patch_size=32, model_patch_size=12)
