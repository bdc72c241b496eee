"""The synthetic 2D corpus (image-space looks, the ``corpus`` domain) and the classes made in modality pairs."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from crossmost_data.datasets.synthetic import SHAPES_VERSION, SYNTHETIC_CLASSES, SyntheticReader, generate_shape
from crossmost_data.datasets.synthetic.looks import LOOK_STYLES, depth_shaded, line_drawing, occlude, random_look
from crossmost_data.points import sample_surface
from crossmost_data.views import GLUnavailableError, PyOpenGLVersionError


def _view(size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """A red disc on black, 1 unit away at its centre and 1.5 at its rim (a sphere-like depth map)."""
    yy, xx = np.mgrid[:size, :size]
    radius = np.hypot(yy - (size - 1) / 2, xx - (size - 1) / 2) / (size / 3)
    inside = radius < 1.0
    rgb = np.zeros((size, size, 3), dtype=np.uint8)
    rgb[inside] = (200, 30, 30)
    depth = np.where(inside, 1.0 + 0.5 * radius**2, 0.0).astype(np.float32)
    return rgb, depth


def _is_grey(image: np.ndarray) -> bool:
    """Grey up to sensor noise (drawn per channel, so it averages out over the image)."""
    means = image.reshape(-1, 3).astype(float).mean(axis=0)
    return bool(np.ptp(means) < 3.0)


def test_depth_shading_is_brightest_nearest_and_black_outside() -> None:
    _rgb, depth = _view()
    shaded = depth_shaded(depth)
    assert shaded.shape == (32, 32, 3)
    assert np.all(shaded[depth == 0] == 0.0)
    centre, rim = shaded[16, 16, 0], shaded[depth > 0].min()
    assert centre == pytest.approx(1.0, abs=0.02)
    assert rim == pytest.approx(0.25, abs=1e-6)  # the farthest surface is 1 - 0.75
    assert np.array_equal(shaded[..., 0], shaded[..., 2])  # grey


def test_line_drawing_inks_the_outline_on_paper() -> None:
    rgb, depth = _view()
    drawing = line_drawing(rgb, depth, ink=0.1, paper=0.9)
    assert np.allclose(np.unique(drawing), [0.1, 0.9])
    inked = np.isclose(drawing[..., 0], 0.1)
    outline = (depth > 0) & ~(np.roll(depth > 0, 1, 0) & np.roll(depth > 0, -1, 0) & np.roll(depth > 0, 1, 1))
    assert inked[outline].mean() > 0.5  # the silhouette is drawn
    assert inked[~(depth > 0)].mean() < 0.1  # the background stays paper


def test_random_look_is_deterministic_varied_and_keeps_the_format() -> None:
    rgb, depth = _view()
    looks = [random_look(rgb, depth, np.random.default_rng(seed)) for seed in range(40)]
    again = random_look(rgb, depth, np.random.default_rng(3))
    assert np.array_equal(looks[3], again)
    assert all(look.shape == (32, 32, 3) and look.dtype == np.uint8 for look in looks)
    backgrounds = {tuple(look[0, 0]) for look in looks}
    assert len(backgrounds) > 20  # new backgrounds, not the black of the render
    greys = sum(_is_grey(look) for look in looks)
    assert 2 <= greys <= 20  # grey, depth and drawing styles: about a fifth of the looks


def test_random_look_style_weights_pick_the_style() -> None:
    rgb, depth = _view()
    only_depth = (0.0, 0.0, 1.0, 0.0)
    for seed in range(10):
        look = random_look(rgb, depth, np.random.default_rng(seed), style_weights=only_depth)
        assert _is_grey(look)
    assert LOOK_STYLES == ("colour", "grey", "depth", "drawing")


@pytest.mark.parametrize(
    ("rgb", "depth", "weights", "message"),
    [
        (np.zeros((8, 9, 3), np.uint8), np.zeros((8, 9)), (1, 0, 0, 0), "square"),
        (np.zeros((8, 8, 3), np.uint8), np.zeros((4, 4)), (1, 0, 0, 0), "depth map"),
        (np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8)), (0, 0, 0, 0), "style_weights"),
        (np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8)), (1, -1, 1, 0), "style_weights"),
    ],
)
def test_random_look_rejects_bad_input(rgb: np.ndarray, depth: np.ndarray, weights: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        random_look(rgb, depth, np.random.default_rng(0), style_weights=weights)


def test_occluder_stands_in_front_of_the_object_from_the_bottom_of_the_view() -> None:
    rgb, depth = _view()
    for seed in range(10):
        occluded = occlude(rgb, depth, np.random.default_rng(seed))
        changed = np.any(occluded != rgb, axis=2)
        rows, cols = np.nonzero(changed)
        assert rows.max() == 31  # it stands on the ground, at the bottom of the view
        assert changed[rows.min() :, cols.min() : cols.max() + 1].all()  # one solid box
        box_cols = cols.max() - cols.min() + 1
        object_cols = np.nonzero((depth > 0).any(axis=0))[0]
        assert 0.3 * len(object_cols) <= box_cols <= 0.7 * len(object_cols)
        assert object_cols.min() <= cols.min()
        assert cols.max() <= object_cols.max()
        hidden = (changed & (depth > 0)).sum() / (depth > 0).sum()
        assert 0.1 < hidden < 0.7
    assert np.array_equal(occlude(rgb, np.zeros_like(depth), np.random.default_rng(0)), rgb)


# --- classes made in pairs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("first", "second"), [("basketball", "soccer_ball"), ("dice", "gift_box")])
def test_look_pairs_share_the_shape_and_differ_in_colour(first: str, second: str) -> None:
    for seed in range(3):
        a = generate_shape(first, np.random.default_rng(seed))
        b = generate_shape(second, np.random.default_rng(seed))
        assert np.array_equal(a.vertices, b.vertices)
        assert np.array_equal(a.faces, b.faces)
        colours_a = np.asarray(a.visual.face_colors, dtype=float)[:, :3]  # type: ignore[union-attr]
        colours_b = np.asarray(b.visual.face_colors, dtype=float)[:, :3]  # type: ignore[union-attr]
        assert np.abs(colours_a - colours_b).mean() > 40
        assert len(np.unique(colours_a, axis=0)) == 2  # a body and a pattern
        assert len(np.unique(colours_b, axis=0)) == 2


@pytest.mark.parametrize(("round_name", "square_name"), [("barrel", "crate"), ("bucket", "bin")])
def test_outline_pairs_share_the_side_profile_and_differ_in_cross_section(round_name: str, square_name: str) -> None:
    for seed in range(3):
        round_mesh = generate_shape(round_name, np.random.default_rng(seed))
        square_mesh = generate_shape(square_name, np.random.default_rng(seed))
        # Both are scaled into the unit sphere by their farthest point, so compare shapes relative to the height.
        for mesh in (round_mesh, square_mesh):
            mesh.apply_scale(1.0 / np.ptp(mesh.vertices[:, 1]))
        # Seen face-on (along z), one outline: the square's faces touch the round twin's circle.
        assert np.ptp(square_mesh.vertices[:, 0]) == pytest.approx(np.ptp(round_mesh.vertices[:, 0]), rel=0.02)
        # Cross-sections: surface points of the round one keep one distance from the axis along the faces, the square
        # one's run from the inscribed circle to the corners (√2 ×).
        rng = np.random.default_rng(seed)
        spreads = []
        for mesh in (round_mesh, square_mesh):
            points = sample_surface(mesh, 4000, rng)
            side = points[np.abs(points[:, 1] - np.median(points[:, 1])) < 0.05]
            radius = np.hypot(side[:, 0] - mesh.centroid[0], side[:, 2] - mesh.centroid[2])
            outer = radius[radius > 0.65 * radius.max()]
            spreads.append(outer.max() / outer.min())
        assert spreads[0] < 1.2  # the taper and the inner wall of a pail within the band
        assert spreads[1] > 1.3


def _height_over_width(class_name: str, seeds: range) -> np.ndarray:
    """Height over the larger horizontal extent, per object (y is up)."""
    extents = np.array([generate_shape(class_name, np.random.default_rng(seed)).extents for seed in seeds])
    return extents[:, 1] / extents[:, [0, 2]].max(axis=1)


def test_only_the_look_pairs_share_a_geometry_the_drums_are_no_cubes() -> None:
    # Clouds are scaled into the unit sphere, so proportions are all the point branch has: the square drum (crate)
    # must not fall among the near-cubes (dice, gift boxes), or three classes would share one geometry.
    seeds = range(40)
    cubes = np.concatenate([_height_over_width(name, seeds) for name in ("dice", "gift_box")])
    drums = np.concatenate([_height_over_width(name, seeds) for name in ("barrel", "crate")])
    assert cubes.min() > 0.8
    assert cubes.max() < 1.2
    assert drums.min() > 1.35
    assert drums.max() < 2.0
    assert SHAPES_VERSION == 2  # raise it (and the demo recipe's) whenever a class's objects change


def test_every_pair_class_is_registered_after_the_first_twelve() -> None:
    assert SYNTHETIC_CLASSES[:3] == ("airplane", "bed", "bench")
    assert set(SYNTHETIC_CLASSES[12:]) == {
        "basketball", "soccer_ball", "dice", "gift_box", "barrel", "crate", "bucket", "bin",
    }  # fmt: skip


# --- the corpus domain --------------------------------------------------------------------------------------------


def _needs_gl() -> None:
    if importlib.util.find_spec("pyrender") is None:
        pytest.skip("pyrender (the `render` extra) is not installed")


def test_corpus_items_carry_a_mesh_and_varied_given_views() -> None:
    _needs_gl()
    reader = SyntheticReader(domain="corpus", objects_per_class=2, classes=["chair", "dice"], num_views=4, view_size=32)
    assert reader.view_source == "given"
    items = list(reader.iter_items(None, "train"))
    assert [item.uid for item in items] == ["corpus-chair-00000", "corpus-dice-00000"]
    try:
        loaded = items[0].load()
    except (GLUnavailableError, PyOpenGLVersionError) as error:
        pytest.skip(f"headless OpenGL is not available here: {error}")
    assert loaded.mesh is not None
    assert loaded.images is not None
    assert len(loaded.images) == 4
    assert all(image.shape == (32, 32, 3) and image.dtype == np.uint8 for image in loaded.images)
    corners = {tuple(image[0, 0]) for image in loaded.images}
    assert len(corners) >= 3  # each view has a look of its own
    again = items[0].load()
    assert all(np.array_equal(a, b) for a, b in zip(loaded.images, again.images or [], strict=True))


def test_target_view_shift_range_is_checked() -> None:
    with pytest.raises(ValueError, match="view_shift_min"):
        SyntheticReader(domain="target", view_shift=0.5, view_shift_min=0.7)
    with pytest.raises(ValueError, match="occlusion"):
        SyntheticReader(domain="target", occlusion=1.5)
    with pytest.raises(ValueError, match="synthetic domain"):
        SyntheticReader(domain="photos")  # type: ignore[arg-type]
