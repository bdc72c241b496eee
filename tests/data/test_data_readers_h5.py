"""ModelNet40 h5 (modelnet40_ply_hdf5_2048) and ScanObjectNN readers on h5 files written with the real keys."""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

from crossmost_data.datasets import DatasetLayoutError, LayoutWarning, get_reader
from crossmost_data.datasets.scanobjectnn import SCANOBJECTNN_VARIANTS
from crossmost_data.items import BadItemError

POINTS = 16  # the real files hold 2048; the readers do not depend on it


def write_h5(
    path: Path, labels: list[int], *, label_column: bool, with_mask: bool = False, seed: int = 0
) -> np.ndarray:
    """An h5 file with ``data`` N×P×3 float32 and ``label`` (N×1 for PointNet, N for ScanObjectNN)."""
    rng = np.random.default_rng(seed)
    data = rng.normal(size=(len(labels), POINTS, 3)).astype(np.float32)
    label = np.asarray(labels, dtype=np.uint8 if label_column else np.int64)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as handle:
        handle.create_dataset("data", data=data)
        handle.create_dataset("label", data=label[:, None] if label_column else label)
        if with_mask:
            handle.create_dataset("mask", data=np.full((len(labels), POINTS), -1, dtype=np.int32))
    return data


def build_modelnet_h5(root: Path) -> dict[str, np.ndarray]:
    """Two train files and one test file; list files in the stock PointNet relative form and an absolute one."""
    arrays = {
        "ply_data_train0": write_h5(root / "ply_data_train0.h5", [0, 23, 39], label_column=True, seed=1),
        "ply_data_train1": write_h5(root / "ply_data_train1.h5", [5], label_column=True, seed=2),
        "ply_data_test0": write_h5(root / "ply_data_test0.h5", [23, 1], label_column=True, seed=3),
    }
    (root / "train_files.txt").write_text(
        "data/modelnet40_ply_hdf5_2048/ply_data_train0.h5\nply_data_train1.h5\n"  # PointNet form + plain relative
    )
    (root / "test_files.txt").write_text(f"{root / 'ply_data_test0.h5'}\n")  # absolute, as the official code needed
    return arrays


def test_modelnet40_depth_items_labels_and_points(tmp_path: Path) -> None:
    root = tmp_path / "modelnet40_ply_hdf5_2048"
    arrays = build_modelnet_h5(root)
    reader = get_reader("modelnet40-depth", strict_counts=False)
    assert reader.view_source == "depth"
    assert reader.class_names(root)[23] == "night_stand"
    with pytest.warns(LayoutWarning, match="9840"):
        train = list(reader.iter_items(root, "train"))
    assert [item.class_name for item in train] == ["airplane", "night_stand", "xbox", "bottle"]
    assert [item.uid for item in train] == [
        "modelnet40-depth-train-ply_data_train0-00000",
        "modelnet40-depth-train-ply_data_train0-00001",
        "modelnet40-depth-train-ply_data_train0-00002",
        "modelnet40-depth-train-ply_data_train1-00000",
    ]
    assert train[1].source == "ply_data_train0.h5[1]"
    loaded = pickle.loads(pickle.dumps(train[2].load))()
    assert loaded.images is None
    assert loaded.mesh is None
    assert loaded.points is not None
    assert loaded.points.dtype == np.float32
    np.testing.assert_array_equal(loaded.points, arrays["ply_data_train0"][2])  # already y-up: untouched
    with pytest.warns(LayoutWarning):
        test = list(reader.iter_items(root, "test"))
    assert [item.class_name for item in test] == ["night_stand", "bathtub"]


def test_modelnet40_depth_given_views(tmp_path: Path) -> None:
    root = tmp_path / "modelnet40_ply_hdf5_2048"
    build_modelnet_h5(root)
    for view in (0, 1, 2, 10):  # numeric order: 10 after 2
        folder = root / "image_data_test0" / "1"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((3, 3, 3), view, dtype=np.uint8)).save(folder / f"{view}.png")
    with pytest.warns(LayoutWarning):
        items = list(get_reader("modelnet40-depth", strict_counts=False).iter_items(root, "test"))
    images = items[1].load().images
    assert images is not None
    assert [int(image[0, 0, 0]) for image in images] == [0, 1, 2, 10]
    with pytest.raises(BadItemError, match="no given views"):
        items[0].load()  # the image folder exists but row 0 has none
    with pytest.warns(LayoutWarning):
        projected = list(
            get_reader("modelnet40-depth", strict_counts=False, use_given_views=False).iter_items(root, "test")
        )
    assert projected[1].load().images is None


def test_modelnet40_depth_layout_errors(tmp_path: Path) -> None:
    root = tmp_path / "modelnet40_ply_hdf5_2048"
    build_modelnet_h5(root)
    reader = get_reader("modelnet40-depth", strict_counts=False)
    (root / "test_files.txt").write_text("ply_data_test7.h5\n")
    with pytest.raises(DatasetLayoutError, match=re.escape(str(root / "ply_data_test7.h5"))):
        list(reader.iter_items(root, "test"))
    (root / "train_files.txt").unlink()
    with pytest.raises(DatasetLayoutError, match=re.escape(str(root / "train_files.txt"))):
        list(reader.iter_items(root, "train"))
    with pytest.raises(DatasetLayoutError, match="modelnet40_ply_hdf5_2048"):
        list(reader.iter_items(tmp_path / "absent", "train"))


def test_truncated_h5_fails_naming_the_file(tmp_path: Path) -> None:
    root = tmp_path / "modelnet40_ply_hdf5_2048"
    build_modelnet_h5(root)
    target = root / "ply_data_train1.h5"
    data = target.read_bytes()
    target.write_bytes(data[: len(data) // 3])
    with pytest.raises(DatasetLayoutError, match=r"ply_data_train1\.h5.*truncated or corrupt"):
        list(get_reader("modelnet40-depth", strict_counts=False).iter_items(root, "train"))


def test_wrong_shape_names_and_label_out_of_range(tmp_path: Path) -> None:
    root = tmp_path / "modelnet40_ply_hdf5_2048"
    build_modelnet_h5(root)
    write_h5(root / "ply_data_train1.h5", [40], label_column=True)
    with pytest.raises(DatasetLayoutError, match=r"row 0 has label 40"):
        list(get_reader("modelnet40-depth", strict_counts=False).iter_items(root, "train"))
    (root / "shape_names.txt").write_text("\n".join(["airplane", "bed"]))
    with pytest.raises(DatasetLayoutError, match=r"shape_names\.txt"):
        get_reader("modelnet40-depth").class_names(root)


def test_nan_row_is_a_bad_item(tmp_path: Path) -> None:
    root = tmp_path / "modelnet40_ply_hdf5_2048"
    build_modelnet_h5(root)
    with h5py.File(root / "ply_data_train1.h5", "r+") as handle:
        handle["data"][0, 3, 1] = np.nan
    with pytest.warns(LayoutWarning):
        items = list(get_reader("modelnet40-depth", strict_counts=False).iter_items(root, "train"))
    with pytest.raises(BadItemError, match="non-finite"):
        items[3].load()


def build_scanobjectnn(root: Path) -> None:
    """The three variants' official file names with ScanObjectNN's keys (``label`` is N, plus ``mask``)."""
    labels = {"train": [0, 14, 6], "test": [9, 14]}
    for variant, files in SCANOBJECTNN_VARIANTS.items():
        for split, (relative, _) in files.items():
            seed = len(variant) * 10 + len(split)
            write_h5(root / relative, labels[split], label_column=False, with_mask=variant != "obj-only", seed=seed)


@pytest.mark.parametrize(
    ("variant", "expected_file"),
    [
        ("obj-only", "main_split_nobg/training_objectdataset.h5"),
        ("OBJ_BG", "main_split/training_objectdataset.h5"),
        ("PB_T50_RS", "main_split/training_objectdataset_augmentedrot_scale75.h5"),
    ],
)
def test_scanobjectnn_variants_read_their_files(tmp_path: Path, variant: str, expected_file: str) -> None:
    root = tmp_path / "h5_files"
    build_scanobjectnn(root)
    reader = get_reader("scanobjectnn", variant=variant, strict_counts=False)
    names = reader.class_names(root)
    assert len(names) == 15
    assert names[0] == "bag"
    assert names[6] == "display"
    assert names[14] == "toilet"
    with pytest.warns(LayoutWarning):
        items = list(reader.iter_items(root, "train"))
    assert [item.class_name for item in items] == ["bag", "toilet", "display"]
    assert all(item.source.startswith(expected_file) for item in items)
    assert len({item.uid for item in items}) == 3
    assert all("." not in item.uid for item in items)
    with h5py.File(root / expected_file, "r") as handle:
        expected = handle["data"][1]
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(items[1].load))().points, expected)


def test_scanobjectnn_uids_differ_between_variants(tmp_path: Path) -> None:
    root = tmp_path / "h5_files"
    build_scanobjectnn(root)
    uids = set()
    for variant in SCANOBJECTNN_VARIANTS:
        with pytest.warns(LayoutWarning):
            uids |= {
                item.uid
                for item in get_reader("scanobjectnn", variant=variant, strict_counts=False).iter_items(root, "test")
            }
    assert len(uids) == 6


def test_scanobjectnn_counts_and_missing_files(tmp_path: Path) -> None:
    root = tmp_path / "h5_files"
    build_scanobjectnn(root)
    with pytest.raises(DatasetLayoutError, match="11416"):
        list(get_reader("scanobjectnn", variant="hardest").iter_items(root, "train"))
    os.remove(root / "main_split_nobg" / "test_objectdataset.h5")
    expected = root / "main_split_nobg" / "test_objectdataset.h5"
    with pytest.raises(DatasetLayoutError, match=re.escape(str(expected))) as error:
        list(get_reader("scanobjectnn", variant="obj-only", strict_counts=False).iter_items(root, "test"))
    assert "hkust-vgd.github.io/scanobjectnn" in str(error.value)
    with pytest.raises(DatasetLayoutError, match="pass that folder as the root"):
        list(get_reader("scanobjectnn", variant="obj-bg", strict_counts=False).iter_items(tmp_path, "test"))
    with pytest.raises(ValueError, match="unknown ScanObjectNN variant"):
        get_reader("scanobjectnn", variant="easy")


def test_scanobjectnn_given_views_folder(tmp_path: Path) -> None:
    root = tmp_path / "h5_files"
    build_scanobjectnn(root)
    folder = root / "main_split" / "test_objectdataset_augmentedrot_scale75image" / "0"
    folder.mkdir(parents=True)
    for view in range(10):
        Image.fromarray(np.full((2, 2, 3), view, dtype=np.uint8)).save(folder / f"{view}.png")
    with pytest.warns(LayoutWarning):
        items = list(get_reader("scanobjectnn", variant="hardest", strict_counts=False).iter_items(root, "test"))
    images = items[0].load().images
    assert images is not None
    assert [int(image[0, 0, 1]) for image in images] == list(range(10))
