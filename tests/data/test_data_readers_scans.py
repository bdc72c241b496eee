"""Redwood and CO3D readers on miniatures of their folder layouts (points + tiny frames)."""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from crossmost_data.datasets import DatasetLayoutError, LayoutWarning, get_reader
from crossmost_data.datasets._layout import evenly_spaced, hashed_split
from crossmost_data.items import BadItemError


def write_frames(folder: Path, count: int, suffix: str = ".jpg") -> None:
    """Frames named so that name order differs from creation order; pixel value = frame number."""
    folder.mkdir(parents=True, exist_ok=True)
    for number in reversed(range(count)):
        image = Image.fromarray(np.full((6, 8, 3), number * 7, dtype=np.uint8))
        image.save(folder / f"frame{number:06d}{suffix}", quality=100)


def test_evenly_spaced_and_hashed_split() -> None:
    assert evenly_spaced(30, 10) == [0, 3, 6, 10, 13, 16, 19, 23, 26, 29]
    assert evenly_spaced(5, 10) == [0, 1, 2, 3, 4]
    assert evenly_spaced(9, 3) == [0, 4, 8]
    assert evenly_spaced(9, 1) == [0]
    keys = [f"object{i}" for i in range(2000)]
    share = sum(hashed_split(key, 0.2) == "test" for key in keys) / len(keys)
    assert 0.17 < share < 0.23
    assert [hashed_split(key, 0.2) for key in keys[:50]] == [hashed_split(key, 0.2) for key in keys[:50]]
    assert all(hashed_split(key, 0.0) == "train" for key in keys)


def build_redwood(root: Path, *, with_lists: bool = True) -> Path:
    categories = {"chair": ["00033", "00034"], "trash container": ["00100"], "sofa": ["00200"], "car": ["00300"]}
    (root / "meshpreprocessed3").mkdir(parents=True)
    for index, mesh_id in enumerate(["00033", "00034", "00100", "00200", "00300"]):
        np.save(root / "meshpreprocessed3" / f"{mesh_id}.npy", np.full((5, 3), float(index), dtype=np.float32))
        write_frames(root / "videoframes" / mesh_id, 12)
    (root / "categories.json").write_text(json.dumps(categories))
    if with_lists:
        (root / "train_set80.txt").write_text("00033\n00100\n00300\n")
        (root / "test_set80.txt").write_text("00034\n00200\n")
    return root


def test_redwood_split_lists_classes_and_frames(tmp_path: Path) -> None:
    root = build_redwood(tmp_path / "data")
    reader = get_reader("redwood")
    assert reader.view_source == "given"
    names = reader.class_names(root)
    assert names == ["chair", "table", "trash container", "bench", "plant", "sign", "bicycle", "motorcycle", "sofa"]
    train = list(reader.iter_items(root, "train"))
    assert [(item.uid, item.class_name) for item in train] == [
        ("redwood-train-00033", "chair"),
        ("redwood-train-00100", "trash container"),
    ]  # 00300 is a "car": not an official class
    test = list(reader.iter_items(root, "test"))
    assert [item.class_name for item in test] == ["chair", "sofa"]
    loaded = pickle.loads(pickle.dumps(train[1].load))()
    np.testing.assert_array_equal(loaded.points, np.full((5, 3), 2.0, dtype=np.float32))
    assert loaded.images is not None
    assert len(loaded.images) == 10
    # sorted frames 0..11, 10 evenly spaced: 0 1 2 4 5 6 7 9 10 11 (round half to even)
    expected = [7 * index for index in evenly_spaced(12, 10)]
    assert [int(image[0, 0, 0]) for image in loaded.images] == pytest.approx(expected, abs=2)
    three = next(iter(get_reader("redwood", num_frames=3).iter_items(root, "train"))).load()
    assert [int(image[0, 0, 0]) for image in three.images or []] == pytest.approx([0, 42, 77], abs=2)


def test_redwood_hashed_split_without_lists(tmp_path: Path) -> None:
    root = build_redwood(tmp_path / "data", with_lists=False)
    reader = get_reader("redwood", test_fraction=0.5)
    with pytest.warns(LayoutWarning, match=r"sha1"):
        train = {item.uid for item in reader.iter_items(root, "train")}
    with pytest.warns(LayoutWarning):
        test = {item.uid for item in reader.iter_items(root, "test")}
    ids = ["00033", "00034", "00100", "00200"]
    assert train | test == {f"redwood-{hashed_split(i, 0.5)}-{i}" for i in ids}
    assert not {uid.split("-")[-1] for uid in train} & {uid.split("-")[-1] for uid in test}


def test_redwood_bad_items_and_layout_errors(tmp_path: Path) -> None:
    root = build_redwood(tmp_path / "data")
    for frame in (root / "videoframes" / "00034").iterdir():
        frame.unlink()
    (root / "meshpreprocessed3" / "00200.npy").unlink()
    items = list(get_reader("redwood").iter_items(root, "test"))
    with pytest.raises(BadItemError, match="no image frames"):
        items[0].load()
    with pytest.raises(BadItemError, match="file not found"):
        items[1].load()
    (root / "test_set80.txt").unlink()
    with pytest.raises(DatasetLayoutError, match=re.escape(str(root / "test_set80.txt"))):
        list(get_reader("redwood").iter_items(root, "train"))
    (root / "categories.json").write_text(json.dumps({"chair": ["00033"], "sofa": ["00033"]}))
    with pytest.raises(DatasetLayoutError, match="00033 is listed under"):
        get_reader("redwood").category_ids(root)
    with pytest.raises(DatasetLayoutError, match=re.escape(str(tmp_path / "none"))):
        list(get_reader("redwood").iter_items(tmp_path / "none", "train"))
    with pytest.raises(DatasetLayoutError, match=re.escape(str(tmp_path / "empty" / "meshpreprocessed3"))):
        list(get_reader("redwood").iter_items(_empty_dir(tmp_path / "empty"), "train"))


def build_co3d(root: Path, *, with_lists: bool = True) -> Path:
    sequences = {
        "plant": ["247_26441_50907", "372_40980_81166"],
        "bench": ["415_57112_110099"],
        "car": ["106_12650_23736"],  # one of the 51 CO3D categories outside the official 42
    }
    for category, names in sequences.items():
        for index, name in enumerate(names):
            folder = root / category / name
            folder.mkdir(parents=True)
            points = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=np.float32) + index
            np.save(folder / "pointcloud1.npy", points)
            write_frames(folder / "images", 4)
    (root / "plant" / "set_lists").mkdir()  # native CO3D metadata folder: not a sequence
    empty = root / "bench" / "600_1_2"
    (empty / "images").mkdir(parents=True)
    np.save(empty / "pointcloud1.npy", np.zeros((3, 3), dtype=np.float32))
    native = root / "bench" / "700_3_4"
    write_frames(native / "images", 2)
    trimesh.PointCloud(
        np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 1.0]]), colors=np.array([[255, 0, 0, 255], [0, 255, 0, 255]])
    ).export(native / "pointcloud.ply")
    if with_lists:
        (root.parent / "train_set_80.txt").write_text(
            "plant/247_26441_50907\nbench/415_57112_110099\ncar/106_12650_23736\nbench/700_3_4\n"
        )
        (root.parent / "test_set_80.txt").write_text("plant/372_40980_81166\nbench/600_1_2\n")
    return root


def test_co3d_lists_in_parent_and_official_xy_swap(tmp_path: Path) -> None:
    root = build_co3d(tmp_path / "co3d" / "data_preprocessed")
    reader = get_reader("co3d")
    names = reader.class_names(root)
    assert len(names) == 42
    assert names[0] == "bench"
    assert names[41] == "plant"
    assert names[13] == "couch"
    with pytest.warns(LayoutWarning, match="1 split-list lines"):
        train = list(reader.iter_items(root, "train"))
    assert [(item.class_name, item.uid) for item in train] == [
        ("plant", "co3d-train-plant-247_26441_50907"),
        ("bench", "co3d-train-bench-415_57112_110099"),
        ("bench", "co3d-train-bench-700_3_4"),
    ]
    assert train[0].source == "plant/247_26441_50907/pointcloud1.npy"
    loaded = pickle.loads(pickle.dumps(train[0].load))()
    np.testing.assert_array_equal(loaded.points, [[2.0, 1.0, 3.0], [5.0, 4.0, 6.0]])  # x and y swapped
    assert [int(image[0, 0, 0]) for image in loaded.images or []] == pytest.approx([0, 7, 14, 21], abs=2)
    native = train[2].load()  # pointcloud.ply: read as stored, colours kept
    assert native.points is not None
    np.testing.assert_allclose(native.points, [[1, 2, 3, 1, 0, 0], [0, 0, 1, 0, 1, 0]], atol=1e-6)
    test = list(reader.iter_items(root, "test"))
    with pytest.raises(BadItemError, match="no image frames"):
        test[1].load()  # a sequence with an empty images folder is skipped with a reason
    never = list(get_reader("co3d", swap_xy="never").iter_items(root, "test"))
    np.testing.assert_array_equal(never[0].load().points, [[2.0, 3.0, 4.0], [5.0, 6.0, 7.0]])


def test_co3d_walks_sequences_without_lists(tmp_path: Path) -> None:
    root = build_co3d(tmp_path / "data_preprocessed", with_lists=False)
    reader = get_reader("co3d", test_fraction=0.0, num_frames=2)
    with pytest.warns(LayoutWarning, match="hashed split"):
        train = list(reader.iter_items(root, "train"))
    assert [item.uid for item in train] == [
        "co3d-train-bench-415_57112_110099",
        "co3d-train-bench-600_1_2",
        "co3d-train-bench-700_3_4",
        "co3d-train-plant-247_26441_50907",
        "co3d-train-plant-372_40980_81166",
    ]
    assert [int(image[0, 0, 0]) for image in train[0].load().images or []] == pytest.approx([0, 21], abs=2)
    with pytest.warns(LayoutWarning), pytest.raises(DatasetLayoutError, match="found none"):
        list(reader.iter_items(_empty_dir(tmp_path / "empty"), "train"))


def _empty_dir(path: Path) -> Path:
    path.mkdir()
    return path


def test_co3d_missing_root(tmp_path: Path) -> None:
    with pytest.raises(DatasetLayoutError, match=re.escape(str(tmp_path / "absent"))):
        list(get_reader("co3d").iter_items(tmp_path / "absent", "train"))
