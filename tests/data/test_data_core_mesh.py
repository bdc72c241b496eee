"""Mesh loading (OFF header quirk, glTF scene flattening, validation) and up-axis conversion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh

from crossmost_data.items import BadItemError
from crossmost_data.mesh import load_mesh, repair_off_header, to_y_up, up_axis_rotation, validate_mesh

TETRA_V = "0 0 0\n1 0 0\n0 1 0\n0 0 1\n"
TETRA_F = "3 0 1 2\n3 0 1 3\n3 0 2 3\n3 1 2 3\n"


def test_repair_off_header() -> None:
    assert repair_off_header(b"OFF490 488 0\n1 2 3") == b"OFF\n490 488 0\n1 2 3"
    assert repair_off_header(b"OFF\n4 4 0\n") == b"OFF\n4 4 0\n"


def test_modelnet_glued_off_header(tmp_path: Path) -> None:
    path = tmp_path / "chair_0001.off"
    path.write_text("OFF4 4 0\n" + TETRA_V + TETRA_F)
    mesh = load_mesh(path)
    assert mesh.vertices.shape == (4, 3)
    assert mesh.faces.shape == (4, 3)
    np.testing.assert_allclose(mesh.area, 1.5 + np.sqrt(3) / 2)


def test_glb_scene_is_flattened_with_node_transforms(tmp_path: Path) -> None:
    scene = trimesh.Scene()
    scene.add_geometry(trimesh.creation.box(extents=(1, 1, 1)), node_name="a", geom_name="a")
    moved = np.eye(4)
    moved[:3, 3] = (10.0, 0.0, 0.0)
    scene.add_geometry(trimesh.creation.box(extents=(1, 1, 1)), node_name="b", geom_name="b", transform=moved)
    path = tmp_path / "scene.glb"
    path.write_bytes(scene.export(file_type="glb"))
    mesh = load_mesh(path)
    assert isinstance(mesh, trimesh.Trimesh)
    assert len(mesh.faces) == 24
    np.testing.assert_allclose(mesh.bounds, [[-0.5, -0.5, -0.5], [10.5, 0.5, 0.5]], atol=1e-6)


def test_obj_ply_stl_round_trip(tmp_path: Path) -> None:
    box = trimesh.creation.box(extents=(1, 2, 3))
    for suffix in ("obj", "ply", "stl"):
        path = tmp_path / f"box.{suffix}"
        box.export(path)
        np.testing.assert_allclose(load_mesh(path).area, box.area, rtol=1e-6)


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.off", "OFF\n0 0 0\n", "empty mesh"),
        ("points.off", "OFF\n3 0 0\n0 0 0\n1 0 0\n0 1 0\n", "point-only"),
        ("nan.off", "OFF\n3 1 0\n0 0 0\nnan 0 0\n0 1 0\n3 0 1 2\n", "non-finite"),
        ("range.off", "OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 7\n", "(out of|outside the) range"),
        ("flat.off", "OFF\n3 1 0\n0 0 0\n1 0 0\n2 0 0\n3 0 1 2\n", "zero surface area"),
        ("garbage.ply", "\x00\x01 definitely not a ply", "unreadable PLY"),
        ("garbage.glb", "nope", "unreadable GLB"),
        ("mesh.xyz", "0 0 0", "unsupported mesh format"),
    ],
)
def test_bad_files_raise_bad_item_with_reason(tmp_path: Path, name: str, content: str, reason: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(BadItemError, match=reason):
        load_mesh(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BadItemError, match="file not found"):
        load_mesh(tmp_path / "nope.off")


def test_validate_point_only_ply(tmp_path: Path) -> None:
    path = tmp_path / "cloud.ply"
    trimesh.PointCloud(np.random.default_rng(0).normal(size=(20, 3))).export(path)
    with pytest.raises(BadItemError, match="point-only"):
        load_mesh(path)
    with pytest.raises(BadItemError, match="empty"):
        validate_mesh(trimesh.Trimesh(np.zeros((0, 3)), np.zeros((0, 3), int)))
    with pytest.raises(BadItemError, match=r"face indices out of range \[0, 3\): min 0, max 5"):
        validate_mesh(trimesh.Trimesh(np.eye(3), [[0, 1, 5]], process=False))


def test_to_y_up_z_matches_official_permutation() -> None:
    points = np.array([[1.0, 2.0, 3.0, 0.1, 0.2, 0.3]])
    converted = to_y_up(points, "z")
    # new (x, y, z) = old (y, z, x); colours untouched.
    np.testing.assert_array_equal(converted, [[2.0, 3.0, 1.0, 0.1, 0.2, 0.3]])
    np.testing.assert_array_equal(points, [[1.0, 2.0, 3.0, 0.1, 0.2, 0.3]])
    up = to_y_up(np.array([[0.0, 0.0, 1.0]]), "z")
    np.testing.assert_array_equal(up, [[0.0, 1.0, 0.0]])
    np.testing.assert_array_equal(to_y_up(np.array([[5.0, 0, 0]]), "x"), [[0.0, 5.0, 0.0]])
    np.testing.assert_array_equal(to_y_up(points, "y"), points)


@pytest.mark.parametrize("axis", ["x", "y", "z"])
def test_to_y_up_is_a_rotation_and_keeps_mesh_orientation(axis: str) -> None:
    rotation = up_axis_rotation(axis)  # type: ignore[arg-type]
    assert np.linalg.det(rotation) == pytest.approx(1.0)
    box = trimesh.creation.box(extents=(1, 2, 3))
    converted = to_y_up(box, axis)  # type: ignore[arg-type]
    np.testing.assert_allclose(converted.vertices, to_y_up(np.asarray(box.vertices), axis))  # type: ignore[arg-type]
    assert converted.volume == pytest.approx(box.volume)  # positive: winding still outward
    assert box.extents[2] == pytest.approx(3.0)  # input untouched


def test_to_y_up_rejects_unknown_axis() -> None:
    with pytest.raises(ValueError, match="from_axis"):
        to_y_up(np.zeros((2, 3)), "w")  # type: ignore[call-overload]
