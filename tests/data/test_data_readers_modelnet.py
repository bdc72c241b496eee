"""ModelNet40/10 readers on a miniature of the official OFF layout (all fixtures written in the real format)."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from crossmost_data.datasets import DatasetLayoutError, LayoutWarning, get_reader
from crossmost_data.datasets.class_lists import MODELNET10_CLASSES, MODELNET40_CLASSES
from crossmost_data.items import BadItemError

# A tetrahedron whose vertex 1 is (1, 2, 3): after the z-up → y-up permutation it must be (2, 3, 1).
TETRA_BODY = "0 0 0\n1 2 3\n0 1 0\n0 0 1\n3 0 1 2\n3 0 1 3\n3 0 2 3\n3 1 2 3\n"
GLUED_HEADER_OFF = "OFF4 4 0\n" + TETRA_BODY  # ModelNet's header quirk: counts glued to the keyword
GOOD_OFF = "OFF\n4 4 0\n" + TETRA_BODY


def build_modelnet(root: Path) -> Path:
    """All 40 category folders (train/test), a few meshes, a stray file and a stray folder in the root."""
    for category in MODELNET40_CLASSES:
        for split in ("train", "test"):
            (root / category / split).mkdir(parents=True)
    (root / "airplane" / "train" / "airplane_0001.off").write_text(GLUED_HEADER_OFF)
    (root / "airplane" / "train" / "airplane_0002.off").write_text(GOOD_OFF)
    (root / "chair" / "train" / "chair_0001.off").write_text(GOOD_OFF)
    (root / "night_stand" / "train" / "night_stand_0001.off").write_text(GOOD_OFF)
    (root / "night_stand" / "test" / "night_stand_0201.off").write_text(GOOD_OFF)
    (root / "xbox" / "test" / "xbox_0104.off").write_text(GOOD_OFF)
    (root / "airplane" / "train" / ".DS_Store").write_text("junk")
    (root / "README.txt").write_text("stray file that the official os.listdir turned into a class")
    (root / "__MACOSX").mkdir()
    return root


def test_class_lists_and_known_indices(tmp_path: Path) -> None:
    root = build_modelnet(tmp_path / "ModelNet40")
    names40 = get_reader("modelnet40").class_names(root)
    assert len(names40) == 40
    assert names40 == sorted(names40)
    assert names40[0] == "airplane"
    assert names40[23] == "night_stand"
    assert names40[39] == "xbox"
    names10 = get_reader("modelnet10").class_names(root)
    assert names10 == list(MODELNET10_CLASSES)
    assert names10.index("bathtub") == 0
    assert names10.index("night_stand") == 6
    assert names10.index("toilet") == 9


def test_items_sorted_by_class_then_name_and_strays_ignored(tmp_path: Path) -> None:
    root = build_modelnet(tmp_path / "ModelNet40")
    reader = get_reader("modelnet40", strict_counts=False)
    with pytest.warns(LayoutWarning, match="9843"):
        train = list(reader.iter_items(root, "train"))
    assert [item.uid for item in train] == [
        "modelnet40-train-airplane_0001",
        "modelnet40-train-airplane_0002",
        "modelnet40-train-chair_0001",
        "modelnet40-train-night_stand_0001",
    ]
    assert [item.class_name for item in train] == ["airplane", "airplane", "chair", "night_stand"]
    assert {item.split for item in train} == {"train"}
    assert train[0].source == "airplane/train/airplane_0001.off"
    with pytest.warns(LayoutWarning):
        test = list(reader.iter_items(root, "test"))
    assert [item.class_name for item in test] == ["night_stand", "xbox"]
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", item.uid) for item in train + test)
    assert reader.view_source == "render"


def test_modelnet10_reads_its_classes_from_the_modelnet40_folder(tmp_path: Path) -> None:
    root = build_modelnet(tmp_path / "ModelNet40")
    with pytest.warns(LayoutWarning):
        items = list(get_reader("modelnet10", strict_counts=False).iter_items(root, "train"))
    assert [(item.uid, item.class_name) for item in items] == [
        ("modelnet10-train-chair_0001", "chair"),
        ("modelnet10-train-night_stand_0001", "night_stand"),
    ]


def test_load_converts_z_up_to_y_up_and_repairs_glued_header(tmp_path: Path) -> None:
    root = build_modelnet(tmp_path / "ModelNet40")
    with pytest.warns(LayoutWarning):
        item = next(iter(get_reader("modelnet40", strict_counts=False).iter_items(root, "train")))
    load = pickle.loads(pickle.dumps(item.load))  # runs in a worker process: must survive pickling
    loaded = load()
    assert loaded.images is None
    assert loaded.points is None
    assert loaded.mesh is not None
    assert np.allclose(loaded.mesh.vertices[1], [2.0, 3.0, 1.0])
    assert len(loaded.mesh.faces) == 4


def test_official_counts_are_enforced_by_default(tmp_path: Path) -> None:
    root = build_modelnet(tmp_path / "ModelNet40")
    with pytest.raises(DatasetLayoutError, match=r"4 items.*9843.*strict_counts=False"):
        list(get_reader("modelnet40").iter_items(root, "train"))


def test_missing_root_and_missing_category_name_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(DatasetLayoutError, match=re.escape(str(missing))) as error:
        list(get_reader("modelnet40").iter_items(missing, "train"))
    assert "modelnet.cs.princeton.edu" in str(error.value)
    root = build_modelnet(tmp_path / "ModelNet40")
    for path in (root / "xbox" / "train").iterdir():
        path.unlink()
    (root / "xbox" / "train").rmdir()
    with pytest.raises(DatasetLayoutError, match=re.escape(str(root / "xbox" / "train"))):
        list(get_reader("modelnet40", strict_counts=False).iter_items(root, "train"))


def test_parent_folder_hint(tmp_path: Path) -> None:
    build_modelnet(tmp_path / "ModelNet40")
    with pytest.raises(DatasetLayoutError, match="pass that folder as the root"):
        list(get_reader("modelnet40", strict_counts=False).iter_items(tmp_path, "train"))


def test_bad_meshes_raise_bad_item_error_with_reason(tmp_path: Path) -> None:
    root = build_modelnet(tmp_path / "ModelNet40")
    (root / "bed" / "train" / "bed_0001.off").write_text("OFF\n3 0 0\n0 0 0\n1 0 0\n0 1 0\n")  # no faces
    (root / "bed" / "train" / "bed_0002.off").write_text("this is not an OFF file\x00\x01")
    with pytest.warns(LayoutWarning):
        items = {item.uid: item for item in get_reader("modelnet40", strict_counts=False).iter_items(root, "train")}
    with pytest.raises(BadItemError, match="no faces"):
        items["modelnet40-train-bed_0001"].load()
    with pytest.raises(BadItemError, match=r"\w"):
        items["modelnet40-train-bed_0002"].load()


def _write_views(views_root: Path, split: str, category: str, stem: str, count: int) -> None:
    folder = views_root / split / category
    folder.mkdir(parents=True, exist_ok=True)
    for view in range(1, count + 1):
        Image.fromarray(np.full((4, 5, 3), view * 10, dtype=np.uint8)).save(folder / f"{stem}_{view:03d}.png")


def test_given_views_are_read_in_order(tmp_path: Path) -> None:
    root = build_modelnet(tmp_path / "ModelNet40")
    views = tmp_path / "modelnet40v1png"
    _write_views(views, "train", "airplane", "airplane_0001", 12)
    _write_views(views, "train", "airplane", "airplane_0002", 3)  # incomplete: a bad item
    reader = get_reader("modelnet40", views_root=str(views), strict_counts=False)
    assert reader.view_source == "given"
    with pytest.warns(LayoutWarning):
        items = list(reader.iter_items(root, "train"))
    loaded = items[0].load()
    assert loaded.images is not None
    assert len(loaded.images) == 12
    assert [int(image[0, 0, 0]) for image in loaded.images] == [10 * v for v in range(1, 13)]
    assert loaded.images[0].shape == (4, 5, 3)
    assert loaded.images[0].dtype == np.uint8
    with pytest.raises(BadItemError, match=r"airplane_0002_004\.png"):
        items[1].load()
    four = get_reader("modelnet40", views_root=views, num_views=4, strict_counts=False)
    with pytest.warns(LayoutWarning):
        assert len(next(iter(four.iter_items(root, "train"))).load().images or []) == 4


def test_missing_views_root_names_the_path(tmp_path: Path) -> None:
    root = build_modelnet(tmp_path / "ModelNet40")
    reader = get_reader("modelnet40", views_root=tmp_path / "renders", strict_counts=False)
    with pytest.raises(DatasetLayoutError, match=re.escape(str(tmp_path / "renders" / "test"))):
        list(reader.iter_items(root, "test"))


def test_unknown_split_is_rejected(tmp_path: Path) -> None:
    root = build_modelnet(tmp_path / "ModelNet40")
    with pytest.raises(ValueError, match="no split 'val'"):
        list(get_reader("modelnet40").iter_items(root, "val"))
