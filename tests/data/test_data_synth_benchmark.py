"""The synthetic benchmark: shape generators, scan-like target clouds and the ``synthetic`` reader."""

from __future__ import annotations

import importlib.util
import pickle
import re

import numpy as np
import pytest
import trimesh
from scipy.spatial import cKDTree

from crossmost_data.datasets.registry import get_reader
from crossmost_data.datasets.synthetic import (
    SYNTHETIC_CLASSES,
    SyntheticReader,
    generate_shape,
    make_scan,
    visible_mask,
)
from crossmost_data.items import LoadedItem
from crossmost_data.points import sample_surface
from crossmost_data.views import GLUnavailableError, PyOpenGLVersionError


def _chamfer(a: np.ndarray, b: np.ndarray) -> float:
    return float(cKDTree(b).query(a)[0].mean() + cKDTree(a).query(b)[0].mean()) / 2.0


@pytest.mark.parametrize("class_name", SYNTHETIC_CLASSES)
def test_every_class_builds_closed_coloured_unit_meshes(class_name: str) -> None:
    for seed in range(3):
        mesh = generate_shape(class_name, np.random.default_rng(seed))
        assert len(mesh.faces) > 0
        assert mesh.is_watertight  # a union of closed parts
        assert np.linalg.norm(mesh.vertices, axis=1).max() == pytest.approx(1.0)
        assert np.allclose(mesh.bounds.mean(axis=0), 0.0, atol=1e-9)
        assert getattr(mesh.visual, "kind", None) == "face"
        assert mesh.area > 0


def test_at_least_ten_distinct_classes() -> None:
    assert len(SYNTHETIC_CLASSES) >= 10
    assert len(set(SYNTHETIC_CLASSES)) == len(SYNTHETIC_CLASSES)
    assert all(re.fullmatch(r"[a-z_]+", name) for name in SYNTHETIC_CLASSES)


def test_shapes_are_deterministic_and_vary_with_the_seed() -> None:
    for class_name in SYNTHETIC_CLASSES:
        a = generate_shape(class_name, np.random.default_rng(7))
        b = generate_shape(class_name, np.random.default_rng(7))
        c = generate_shape(class_name, np.random.default_rng(8))
        assert np.array_equal(a.vertices, b.vertices)
        assert np.array_equal(a.faces, b.faces)
        colours: list[np.ndarray] = [getattr(mesh.visual, "face_colors") for mesh in (a, b, c)]  # noqa: B009
        assert np.array_equal(colours[0], colours[1])
        # Balls are all spheres: their objects differ in the pattern painted on them only.
        same_shape = a.vertices.shape == c.vertices.shape and np.allclose(a.vertices, c.vertices)
        assert not same_shape or not np.array_equal(colours[0], colours[2])


def test_classes_differ_more_between_than_within() -> None:
    # A crude separability check: mean Chamfer distance to another object of the same class is smaller than to
    # objects of other classes, for most classes.
    rng = np.random.default_rng(0)
    clouds = {
        name: [sample_surface(generate_shape(name, rng), 400, rng) for _ in range(3)] for name in SYNTHETIC_CLASSES
    }
    separable = 0
    for name, own in clouds.items():
        within = np.mean([_chamfer(own[0], own[k]) for k in (1, 2)])
        between = np.mean([_chamfer(own[0], other[0]) for key, other in clouds.items() if key != name])
        separable += within < between
    assert separable >= len(SYNTHETIC_CLASSES) - 2


def test_unknown_class_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match="unknown synthetic class 'spaceship'"):
        generate_shape("spaceship", np.random.default_rng(0))


def test_visible_mask_sees_the_front_half_of_a_sphere() -> None:
    points = sample_surface(trimesh.creation.icosphere(subdivisions=3), 4000, np.random.default_rng(0)).astype(float)
    seen = visible_mask(points, np.array([0.0, 0.0, 1.0]))
    assert 0.3 < seen.mean() < 0.55  # the front half, less the grazing rim that a scanner misses too
    assert points[seen, 2].min() > -0.1  # nothing of the back half
    assert seen[points[:, 2] > 0.7].all()  # all of the surface facing the camera


def test_scan_shape_range_and_determinism() -> None:
    mesh = generate_shape("chair", np.random.default_rng(0))
    a = make_scan(mesh, np.random.default_rng(5), num_points=512)
    b = make_scan(mesh, np.random.default_rng(5), num_points=512)
    c = make_scan(mesh, np.random.default_rng(6), num_points=512)
    assert a.shape == (512, 3)
    assert a.dtype == np.float32
    assert np.linalg.norm(a, axis=1).max() == pytest.approx(1.0, abs=1e-5)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_target_scans_differ_from_clean_samples() -> None:
    rng = np.random.default_rng(1)
    clean_gaps, scan_gaps = [], []
    for name in SYNTHETIC_CLASSES:
        mesh = generate_shape(name, rng)
        reference = sample_surface(mesh, 1024, rng)
        clean_gaps.append(_chamfer(sample_surface(mesh, 1024, rng), reference))
        scan_gaps.append(_chamfer(make_scan(mesh, rng, num_points=1024, rotate=False), reference))
    assert np.mean(scan_gaps) > 3.0 * np.mean(clean_gaps)


def test_clutter_adds_a_floor_and_partiality_removes_surface() -> None:
    sphere = trimesh.creation.icosphere(subdivisions=3)
    clean = make_scan(sphere, np.random.default_rng(0), num_points=1000, partiality=0.0, noise=0.0, clutter=0.0)
    cluttered = make_scan(sphere, np.random.default_rng(0), num_points=1000, partiality=0.0, noise=0.0, clutter=0.4)

    def on_lowest_plane(cloud: np.ndarray) -> float:
        return float(np.mean(cloud[:, 1] < cloud[:, 1].min() + 0.01))

    assert on_lowest_plane(clean) < 0.02
    assert on_lowest_plane(cluttered) > 0.15
    # Seen from one viewpoint (partiality 1), a scan covers much less of the sphere than seen from two or three.
    reference = sample_surface(sphere, 2000, np.random.default_rng(1)).astype(np.float64)
    coverage = {}
    for partiality in (0.0, 1.0):
        coverage[partiality] = np.mean(
            [
                _sphere_coverage(
                    make_scan(
                        sphere,
                        np.random.default_rng(seed),
                        num_points=1000,
                        partiality=partiality,
                        noise=0.0,
                        clutter=0.0,
                        rotate=False,
                    ),
                    reference,
                )
                for seed in range(4)
            ]
        )
    assert coverage[0.0] > 0.6
    assert coverage[1.0] < coverage[0.0] - 0.15


def _sphere_coverage(cloud: np.ndarray, reference: np.ndarray) -> float:
    """Share of the unit sphere's ``reference`` points near a point of ``cloud``, after undoing the normalisation
    (a translation and a scale) by a least-squares sphere fit: |p|² = 2 c·p + (r² − |c|²)."""
    xyz = cloud.astype(np.float64)
    design = np.concatenate([2.0 * xyz, np.ones((len(xyz), 1))], axis=1)
    solution = np.linalg.lstsq(design, (xyz**2).sum(axis=1), rcond=None)[0]
    centre = solution[:3]
    radius = np.sqrt(solution[3] + centre @ centre)
    restored = (xyz - centre) / radius
    return float(np.mean(cKDTree(restored).query(reference)[0] < 0.12))


def test_scan_rejects_bad_knobs() -> None:
    mesh = trimesh.creation.box()
    with pytest.raises(ValueError, match="partiality"):
        make_scan(mesh, np.random.default_rng(0), partiality=1.5)
    with pytest.raises(ValueError, match="noise"):
        make_scan(mesh, np.random.default_rng(0), noise=-0.1)


def test_reader_counts_labels_and_uids() -> None:
    reader = get_reader("synthetic", domain="source", objects_per_class=5, classes=["table", "chair", "mug"])
    assert isinstance(reader, SyntheticReader)
    assert reader.view_source == "render"
    assert reader.class_names(None) == ["table", "chair", "mug"]
    assert reader.splits(None) == ["train", "test"]
    train = list(reader.iter_items(None, "train"))
    test = list(reader.iter_items(None, "test"))
    for items, per_class in ((train, 4), (test, 1)):
        counts = {name: sum(item.class_name == name for item in items) for name in ("table", "chair", "mug")}
        assert counts == {"table": per_class, "chair": per_class, "mug": per_class}
    uids = [item.uid for item in train + test]
    assert len(set(uids)) == len(uids) == 15
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", uid) for uid in uids)
    assert {item.split for item in test} == {"test"}


def test_reader_loads_are_picklable_and_deterministic() -> None:
    reader = SyntheticReader(domain="target", objects_per_class=2, classes=["lamp"], scan_points=300, view_size=32)
    assert reader.view_source == "given"
    item = next(reader.iter_items(None, "train"))
    loaded = pickle.loads(pickle.dumps(item.load))()
    again = item.load()
    assert isinstance(loaded, LoadedItem)
    assert loaded.mesh is None
    assert loaded.points is not None
    assert loaded.points.shape == (300, 3)
    assert loaded.images is not None
    assert len(loaded.images) == 12
    assert loaded.images[0].shape == (32, 32, 3)
    assert loaded.images[0].dtype == np.uint8
    assert again.points is not None
    assert np.array_equal(loaded.points, again.points)
    assert again.images is not None
    assert all(np.array_equal(a, b) for a, b in zip(loaded.images, again.images, strict=True))


def test_seed_and_domain_change_the_objects() -> None:
    def first_points(domain: str, seed: int) -> np.ndarray:
        reader = SyntheticReader(domain=domain, objects_per_class=1, classes=["car"], seed=seed, test_fraction=0.0)  # type: ignore[arg-type]
        loaded = next(reader.iter_items(None, "train")).load()
        if loaded.mesh is not None:
            return np.asarray(loaded.mesh.vertices)
        assert loaded.points is not None
        return loaded.points

    source = SyntheticReader(domain="source", objects_per_class=1, classes=["car"], test_fraction=0.0)
    mesh = next(source.iter_items(None, "train")).load().mesh
    assert mesh is not None
    assert getattr(mesh.visual, "kind", None) == "face"
    assert np.array_equal(first_points("target", 3), first_points("target", 3))
    assert not np.array_equal(first_points("target", 3), first_points("target", 4))
    assert not np.array_equal(first_points("source", 0), first_points("source", 1))


def test_reader_rejects_bad_options() -> None:
    with pytest.raises(ValueError, match="unknown: spaceship"):
        SyntheticReader(classes=["chair", "spaceship"])
    with pytest.raises(ValueError, match="domain"):
        SyntheticReader(domain="real")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="splits"):
        next(SyntheticReader().iter_items(None, "val"))


def test_target_render_view_shift_moves_from_the_source_look_to_the_dark_look() -> None:
    if importlib.util.find_spec("pyrender") is None:
        pytest.skip("pyrender (the `render` extra) is not installed")

    def corner_and_colour(shift: float) -> tuple[np.ndarray, float]:
        reader = SyntheticReader(
            domain="target", objects_per_class=1, classes=["mug"], test_fraction=0.0, num_views=2, view_size=32,
            scan_points=200, target_views="render", view_shift=shift,
        )  # fmt: skip
        try:
            images = next(reader.iter_items(None, "train")).load().images
        except (GLUnavailableError, PyOpenGLVersionError) as error:
            pytest.skip(f"headless OpenGL is not available here: {error}")
        assert images is not None
        assert len(images) == 2
        image = images[0].astype(np.float64)
        object_pixels = image[np.abs(image - image[0, 0]).sum(axis=-1) > 30]
        assert len(object_pixels) > 20, "the object is in view"
        saturation = float((object_pixels.max(axis=-1) - object_pixels.min(axis=-1)).mean())
        return image[0, 0], saturation

    source_background, source_saturation = corner_and_colour(0.0)
    dark_background, dark_saturation = corner_and_colour(1.0)
    assert source_background.tolist() == [255.0, 255.0, 255.0]  # the source renders' white background
    assert dark_background.tolist() == [60.0, 60.0, 70.0]
    assert dark_saturation < source_saturation  # washed-out colours
    with pytest.raises(ValueError, match="view_shift"):
        SyntheticReader(domain="target", view_shift=1.5)
