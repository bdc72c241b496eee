"""Point-file loading: every supported format, colour detection and the reasons given for bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh

from crossmost_data.datasets.point_files import ply_face_count, read_point_file
from crossmost_data.items import BadItemError

XYZ = np.array([[0.5, -1.0, 2.0], [1.0, 0.0, 0.0], [0.0, 3.0, -1.0]])


def test_npy_shapes_and_extra_columns(tmp_path: Path) -> None:
    np.save(tmp_path / "batch.npy", XYZ[None].astype(np.float64))  # 1×N×3 as some exporters write
    np.testing.assert_allclose(read_point_file(tmp_path / "batch.npy"), XYZ)
    np.save(tmp_path / "intensity.npy", np.hstack([XYZ, [[7.0], [8.0], [9.0]]]))  # xyz + 1 column: kept xyz
    assert read_point_file(tmp_path / "intensity.npy").shape == (3, 3)
    unit_rgb = np.hstack([XYZ, [[0.0, 0.5, 1.0]] * 3])
    np.save(tmp_path / "rgb.npy", unit_rgb)
    np.testing.assert_allclose(read_point_file(tmp_path / "rgb.npy"), unit_rgb, atol=1e-6)
    assert read_point_file(tmp_path / "rgb.npy", extra_columns="ignore").shape == (3, 3)
    normals = np.hstack([XYZ, [[0.0, -1.0, 0.0]] * 3])
    np.save(tmp_path / "normals.npy", normals)
    assert read_point_file(tmp_path / "normals.npy").shape == (3, 3)
    with pytest.raises(BadItemError, match=r"colour columns must lie in \[0, 1\] or \[0, 255\]"):
        read_point_file(tmp_path / "normals.npy", extra_columns="rgb")


def test_npz_keys(tmp_path: Path) -> None:
    np.savez(tmp_path / "xyz.npz", xyz=XYZ, rgb=np.full((3, 3), 255.0))
    np.testing.assert_allclose(read_point_file(tmp_path / "xyz.npz")[:, 3:], np.ones((3, 3)))
    np.savez(tmp_path / "single.npz", anything=XYZ)
    np.testing.assert_allclose(read_point_file(tmp_path / "single.npz"), XYZ, atol=1e-6)
    np.savez(tmp_path / "ambiguous.npz", a=XYZ, b=XYZ)
    with pytest.raises(BadItemError, match=r"no point array in \.npz"):
        read_point_file(tmp_path / "ambiguous.npz")
    np.savez(tmp_path / "short.npz", points=XYZ, colors=np.ones((2, 3)))
    with pytest.raises(BadItemError, match="colour array 'colors' has shape"):
        read_point_file(tmp_path / "short.npz")


def test_text_formats(tmp_path: Path) -> None:
    (tmp_path / "a.pts").write_text("3\n0.5;-1;2\n1;0;0\n0;3;-1\n")  # a point count line, semicolons
    np.testing.assert_allclose(read_point_file(tmp_path / "a.pts"), XYZ, atol=1e-6)
    (tmp_path / "b.txt").write_text("// exported\nX,Y,Z\n0.5, -1, 2\n1, 0, 0\n\n0, 3, -1\n")
    np.testing.assert_allclose(read_point_file(tmp_path / "b.txt"), XYZ, atol=1e-6)
    (tmp_path / "c.xyz").write_text("0.5 -1 2\n1 0 0\nnot numbers\n")
    with pytest.raises(BadItemError, match="line 3 is not numeric"):
        read_point_file(tmp_path / "c.xyz")


def test_ply_point_cloud_and_face_count(tmp_path: Path) -> None:
    trimesh.PointCloud(XYZ).export(tmp_path / "plain.ply")
    assert ply_face_count(tmp_path / "plain.ply") == 0
    np.testing.assert_allclose(read_point_file(tmp_path / "plain.ply"), XYZ, atol=1e-6)
    mesh = trimesh.Trimesh(XYZ, [[0, 1, 2]], process=False)
    mesh.export(tmp_path / "mesh.ply")
    mesh.export(tmp_path / "mesh_ascii.ply", encoding="ascii")
    assert ply_face_count(tmp_path / "mesh.ply") == 1
    assert ply_face_count(tmp_path / "mesh_ascii.ply") == 1
    with pytest.raises(BadItemError, match="it is a mesh"):
        read_point_file(tmp_path / "mesh.ply")
    (tmp_path / "fake.ply").write_text("hello")
    with pytest.raises(BadItemError, match="not a PLY file"):
        ply_face_count(tmp_path / "fake.ply")


def test_missing_unsupported_and_empty(tmp_path: Path) -> None:
    with pytest.raises(BadItemError, match="file not found"):
        read_point_file(tmp_path / "absent.npy")
    with pytest.raises(BadItemError, match=r"unsupported point-cloud format '\.las'"):
        read_point_file(tmp_path / "scan.las")
    np.save(tmp_path / "empty.npy", np.zeros((0, 3)))
    with pytest.raises(BadItemError, match="empty point cloud"):
        read_point_file(tmp_path / "empty.npy")
    np.save(tmp_path / "inf.npy", np.array([[0.0, np.inf, 0.0], [1.0, 1.0, 1.0]]))
    with pytest.raises(BadItemError, match="NaN or inf in 1 of 2 points"):
        read_point_file(tmp_path / "inf.npy")
    np.save(tmp_path / "objects.npy", np.array(["a", "b", "c"]).reshape(1, 3))
    with pytest.raises(BadItemError, match="numeric"):
        read_point_file(tmp_path / "objects.npy")
