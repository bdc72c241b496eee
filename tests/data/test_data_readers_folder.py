"""The bring-your-own ``folder`` reader, with every supported mesh, point-cloud and image file type."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from crossmost_data.datasets import DatasetLayoutError, LayoutWarning, get_reader
from crossmost_data.items import BadItemError

VERTICES = np.array([[0, 0, 0], [1, 2, 3], [0, 1, 0], [0, 0, 1]], dtype=np.float64)
FACES = np.array([[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]])
CLOUD = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 0.0], [0.0, 0.0, 1.0]])


def tetra() -> trimesh.Trimesh:
    return trimesh.Trimesh(VERTICES, FACES, process=False)


def save_image(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((3, 4, 3), value, dtype=np.uint8)).save(path)


def build_folder(root: Path) -> Path:
    meshes, clouds = root / "mug", root / "Chair Wooden"  # class names are kept verbatim (spaces, capitals)
    meshes.mkdir(parents=True)
    clouds.mkdir(parents=True)
    tetra().export(meshes / "m_off.off")
    tetra().export(meshes / "m_obj.obj")
    tetra().export(meshes / "m_stl.stl")
    trimesh.Scene([tetra()]).export(meshes / "m_glb.glb")
    tetra().export(meshes / "m_ply.ply")  # a .ply with faces is a mesh
    (meshes / "m_obj.mtl").write_text("newmtl none\n")  # companion files are not objects
    np.save(clouds / "p_npy.npy", CLOUD.astype(np.float32))
    np.save(clouds / "p_rgb.npy", np.hstack([CLOUD, [[255, 0, 0], [0, 255, 0], [0, 0, 255]]]))
    np.savez(clouds / "p_npz.npz", points=CLOUD, colors=np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]]))
    (clouds / "p_xyz.xyz").write_text("x y z r g b\n1 2 3 255 255 255\n-1 0.5 0 0 0 0\n0 0 1 128 128 128\n")
    (clouds / "p_txt.txt").write_text("# xyz + normals\n1,2,3,0,-1,0\n-1,0.5,0,1,0,0\n0,0,1,0,0,-1\n")
    colours = np.array([[255, 0, 0, 255], [0, 255, 0, 255], [0, 0, 255, 255]], dtype=np.uint8)
    trimesh.PointCloud(CLOUD, colors=colours).export(clouds / "p_ply.ply")
    # images: a folder named after the object, and loose <stem>_*.png files beside another one
    save_image(meshes / "m_off" / "b.png", 20)
    save_image(meshes / "m_off" / "a.png", 10)
    save_image(clouds / "p_npy_000.png", 1)
    save_image(clouds / "p_npy_001.jpg", 2)
    save_image(clouds / "p_npy_x_000.png", 99)  # belongs to p_npy_x below, not to p_npy
    np.save(clouds / "p_npy_x.npy", CLOUD)
    (root / ".hidden").mkdir()
    (root / "__MACOSX").mkdir()
    return root


def items_by_name(reader_options: dict[str, object], root: Path, split: str = "train") -> dict[str, object]:
    reader = get_reader("folder", **reader_options)
    return {Path(item.source).name: item for item in reader.iter_items(root, split)}


def test_classes_sorted_or_from_classes_txt(tmp_path: Path) -> None:
    root = build_folder(tmp_path / "mine")
    reader = get_reader("folder")
    assert reader.class_names(root) == ["Chair Wooden", "mug"]
    assert reader.splits(root) == ["train"]
    (root / "classes.txt").write_text("mug\nChair Wooden\n")
    assert reader.class_names(root) == ["mug", "Chair Wooden"]
    (root / "classes.txt").write_text("mug\n")
    with pytest.warns(LayoutWarning, match="Chair Wooden"):
        assert reader.class_names(root) == ["mug"]
    (root / "classes.txt").write_text("mug\nlamp\n")
    with pytest.raises(DatasetLayoutError, match=re.escape(str(root / "lamp"))):
        reader.class_names(root)


def test_every_file_type_loads(tmp_path: Path) -> None:
    root = build_folder(tmp_path / "mine")
    items = items_by_name({"view_source": "depth"}, root)
    assert sorted(items) == sorted(
        [
            "m_off.off",
            "m_obj.obj",
            "m_stl.stl",
            "m_glb.glb",
            "m_ply.ply",
            "p_npy.npy",
            "p_rgb.npy",
            "p_npz.npz",
            "p_xyz.xyz",
            "p_txt.txt",
            "p_ply.ply",
            "p_npy_x.npy",
        ]
    )
    uids = [item.uid for item in items.values()]
    assert len(set(uids)) == len(uids)
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", uid) for uid in uids)
    for name in ("m_off.off", "m_obj.obj", "m_stl.stl", "m_glb.glb", "m_ply.ply"):
        loaded = pickle.loads(pickle.dumps(items[name].load))()
        assert loaded.mesh is not None, name
        assert loaded.points is None, name
        assert len(loaded.mesh.faces) == 4, name
        assert np.isclose(loaded.mesh.area, tetra().area), name
        assert items[name].class_name == "mug"
    expected_rgb = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]])
    for name in ("p_rgb.npy", "p_npz.npz", "p_ply.ply"):
        points = items[name].load().points
        assert points is not None, name
        assert points.shape == (3, 6), name
        assert points.dtype == np.float32, name
        np.testing.assert_allclose(points[:, :3], CLOUD, atol=1e-6)
        np.testing.assert_allclose(points[:, 3:], expected_rgb, atol=1e-6)
    np.testing.assert_allclose(items["p_npy.npy"].load().points, CLOUD, atol=1e-6)
    xyz = items["p_xyz.xyz"].load().points  # header skipped, 0–255 colours scaled
    np.testing.assert_allclose(xyz[:, 3:], [[1, 1, 1], [0, 0, 0], [128 / 255] * 3], atol=1e-6)
    txt = items["p_txt.txt"].load().points  # normals hold negative values: dropped
    assert txt.shape == (3, 3)
    np.testing.assert_allclose(txt, CLOUD, atol=1e-6)
    assert items["p_txt.txt"].class_name == "Chair Wooden"


def test_given_images_found_and_ordered(tmp_path: Path) -> None:
    root = build_folder(tmp_path / "mine")
    items = items_by_name({"view_source": "depth"}, root)
    folder_images = items["m_off.off"].load().images
    assert [int(image[0, 0, 0]) for image in folder_images or []] == [10, 20]  # a.png before b.png
    loose = items["p_npy.npy"].load().images
    assert loose is not None
    assert len(loose) == 2
    assert int(loose[0][0, 0, 0]) == 1
    owned = items["p_npy_x.npy"].load().images
    assert [int(image[0, 0, 0]) for image in owned or []] == [99]
    assert items["m_obj.obj"].load().images is None


def test_up_axis_z_is_rotated_to_y(tmp_path: Path) -> None:
    root = build_folder(tmp_path / "mine")
    items = items_by_name({"view_source": "depth", "up_axis": "z"}, root)
    mesh = items["m_off.off"].load().mesh
    assert mesh is not None
    np.testing.assert_allclose(mesh.vertices[1], [2.0, 3.0, 1.0])
    np.testing.assert_allclose(items["p_npy.npy"].load().points[0], [2.0, 3.0, 1.0], atol=1e-6)
    rgb = items["p_rgb.npy"].load().points
    np.testing.assert_allclose(rgb[0], [2.0, 3.0, 1.0, 1.0, 0.0, 0.0], atol=1e-6)  # colours untouched


def test_render_view_source_rejects_clouds_without_images(tmp_path: Path) -> None:
    root = build_folder(tmp_path / "mine")
    reader = get_reader("folder")
    assert reader.view_source == "render"
    with pytest.raises(DatasetLayoutError, match="view_source='depth'"):
        list(reader.iter_items(root, "train"))
    meshes_only = tmp_path / "meshes"
    (meshes_only / "mug").mkdir(parents=True)
    tetra().export(meshes_only / "mug" / "a.ply")
    assert [item.class_name for item in reader.iter_items(meshes_only, "train")] == ["mug"]


def test_split_folders_and_hashed_test_fraction(tmp_path: Path) -> None:
    root = tmp_path / "split"
    for split, count in (("train", 3), ("test", 2)):
        for index in range(count):
            path = root / "cup" / split / f"cup{index}.npy"
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, CLOUD)
    np.save(root / "cup" / "stray.npy", CLOUD)
    reader = get_reader("folder", view_source="depth")
    assert reader.splits(root) == ["train", "test"]
    with pytest.warns(LayoutWarning, match="outside the split folders"):
        train = list(reader.iter_items(root, "train"))
    assert [item.source for item in train] == ["cup/train/cup0.npy", "cup/train/cup1.npy", "cup/train/cup2.npy"]
    with pytest.warns(LayoutWarning):
        assert len(list(reader.iter_items(root, "test"))) == 2
    flat = build_folder(tmp_path / "flat")
    hashed = get_reader("folder", view_source="depth", test_fraction="0.5")
    assert hashed.splits(flat) == ["train", "test"]
    train_uids = {item.uid for item in hashed.iter_items(flat, "train")}
    test_uids = {item.uid for item in hashed.iter_items(flat, "test")}
    assert len(train_uids | test_uids) == 12
    assert not train_uids & test_uids
    assert train_uids == {item.uid for item in hashed.iter_items(flat, "train")}  # deterministic


def test_bad_files_raise_bad_item_error(tmp_path: Path) -> None:
    root = tmp_path / "bad"
    (root / "thing").mkdir(parents=True)
    np.save(root / "thing" / "nan.npy", np.array([[0.0, np.nan, 1.0]]))
    (root / "thing" / "empty.txt").write_text("just a header\n")
    (root / "thing" / "broken.glb").write_bytes(b"glTF\x02\x00\x00\x00garbage")
    np.save(root / "thing" / "flat.npy", np.zeros((4, 2)))
    (root / "thing" / "ragged.xyz").write_text("1 2 3\n4 5\n")
    items = items_by_name({"view_source": "depth"}, root)
    reasons = {}
    for name, item in items.items():
        with pytest.raises(BadItemError) as error:
            item.load()
        reasons[name] = str(error.value)
    assert "non-finite" in reasons["nan.npy"]
    assert "empty point cloud" in reasons["empty.txt"]
    assert "unreadable" in reasons["broken.glb"]
    assert "N×3" in reasons["flat.npy"]
    assert "line 2" in reasons["ragged.xyz"]


def test_missing_or_empty_root(tmp_path: Path) -> None:
    with pytest.raises(DatasetLayoutError, match=re.escape(str(tmp_path / "absent"))):
        get_reader("folder").class_names(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetLayoutError, match="one sub-folder per class"):
        get_reader("folder").class_names(tmp_path / "empty")


def test_test_fraction_is_a_share_of_each_class(tmp_path: Path) -> None:
    # 8 objects per class and 0.3: round(2.4) = 2 test objects in every class (a hash per object left some
    # classes without any); a class of 2 gets 1, a class of 1 keeps its object for training.
    root = tmp_path / "shapes"
    for name, count in (("ball", 8), ("box", 8), ("cone", 8), ("cup", 2), ("lone", 1)):
        (root / name).mkdir(parents=True)
        for i in range(count):
            np.savetxt(root / name / f"{name}_{i:02d}.xyz", CLOUD + i)
    reader = get_reader("folder", test_fraction=0.3, view_source="depth")
    test = [item.class_name for item in reader.iter_items(root, "test")]
    assert {name: test.count(name) for name in ("ball", "box", "cone", "cup", "lone")} == {
        "ball": 2, "box": 2, "cone": 2, "cup": 1, "lone": 0,
    }  # fmt: skip
    again = [
        item.source for item in get_reader("folder", test_fraction=0.3, view_source="depth").iter_items(root, "test")
    ]
    assert again == [item.source for item in reader.iter_items(root, "test")]  # deterministic
    assert len(list(reader.iter_items(root, "train"))) == 27 - 7


def test_stratified_test_count() -> None:
    from crossmost_data.datasets._layout import stratified_test_count

    assert [stratified_test_count(n, 0.3) for n in (0, 1, 2, 3, 8, 10)] == [0, 0, 1, 1, 2, 3]
    assert stratified_test_count(8, 0.0) == 0
    assert stratified_test_count(4, 0.99) == 3  # never the whole class
