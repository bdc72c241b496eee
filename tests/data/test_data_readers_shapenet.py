"""ShapeNet-55 reader on a miniature of ULIP's shapenet-55 bundle."""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from crossmost_data.datasets import DatasetLayoutError, LayoutWarning, get_reader
from crossmost_data.datasets.shapenet55 import rotation_views, ulip_class_name
from crossmost_data.items import BadItemError

TAXONOMY = [
    {"synsetId": "02691156", "name": "airplane,aeroplane,plane", "children": [], "numInstances": 4045},
    {"synsetId": "02747177", "name": "ashcan,trash can,garbage can,wastebin", "children": [], "numInstances": 343},
    {"synsetId": "03211117", "name": "display,video display", "children": [], "numInstances": 1093},
    {"synsetId": "04530566", "name": "vessel,watercraft", "children": [], "numInstances": 1939},
    {"synsetId": "02690373", "name": "airliner", "children": [], "numInstances": 1490},  # a child synset, unused
]
TRAIN = ["02691156-1a04e3eab45ca15dd86060f189eb133", "03211117-2d0138ffe9f9b8ee", "04530566-aa"]
TEST = ["02747177-85d8a1ad55fa646878725384d6baf445", "02691156-zz"]


def build_bundle(root: Path, *, with_images: bool = True) -> Path:
    (root / "shapenet_pc").mkdir(parents=True)
    (root / "taxonomy.json").write_text(json.dumps(TAXONOMY))
    (root / "train.txt").write_text("".join(f"{stem}.npy\n" for stem in TRAIN))
    (root / "test.txt").write_text("".join(f"{stem}.npy\n" for stem in TEST))
    for index, stem in enumerate(TRAIN + TEST):
        points = np.arange(24, dtype=np.float32).reshape(8, 3) + index
        np.save(root / "shapenet_pc" / f"{stem}.npy", points)
    if with_images:
        stem = TRAIN[0]
        folder = root / "rendered_images" / stem
        folder.mkdir(parents=True)
        for rotation in range(0, 360, 12):
            for suffix, offset in (("", 0), ("_depth0001", 100)):
                pixel = np.full((4, 4, 3), rotation // 12 + offset, dtype=np.uint8)
                Image.fromarray(pixel).save(folder / f"{stem}_r_{rotation:03d}{suffix}.png")
    return root


def test_ulip_name_rules() -> None:
    assert ulip_class_name("airplane,aeroplane,plane") == "airplane"
    assert ulip_class_name("display,video display") == "monitor"
    assert ulip_class_name("vessel,watercraft") == "ship"
    assert ulip_class_name("ashcan,trash can,garbage can") == "trashcan"
    assert rotation_views(10) == [0, 3, 6, 9, 12, 15, 18, 21, 24, 27]
    assert rotation_views(30) == list(range(30))
    assert rotation_views(99) == list(range(30))


def test_classes_from_taxonomy_ordered_by_synset(tmp_path: Path) -> None:
    root = build_bundle(tmp_path / "shapenet-55")
    reader = get_reader("shapenet55", strict_counts=False)
    assert reader.class_names(root) == ["airplane", "trashcan", "monitor", "ship"]
    (root / "shape_names.txt").write_text("ship\nmonitor\ntrashcan\nairplane\n")
    assert reader.class_names(root) == ["ship", "monitor", "trashcan", "airplane"]
    (root / "shape_names.txt").write_text("plane\nmonitor\ntrashcan\nship\n")
    with pytest.warns(LayoutWarning, match="shape_names.txt"):
        assert reader.class_names(root) == ["airplane", "trashcan", "monitor", "ship"]


def test_items_points_and_rgb_views(tmp_path: Path) -> None:
    root = build_bundle(tmp_path / "shapenet-55")
    reader = get_reader("shapenet55", strict_counts=False)
    assert reader.splits(root) == ["train", "test"]
    with pytest.warns(LayoutWarning, match="41952"):
        train = list(reader.iter_items(root, "train"))
    assert [item.class_name for item in train] == ["airplane", "monitor", "ship"]
    assert train[0].uid == "shapenet55-train-02691156-1a04e3eab45ca15dd86060f189eb133"
    assert train[0].source == f"shapenet_pc/{TRAIN[0]}.npy"
    loaded = pickle.loads(pickle.dumps(train[0].load))()
    np.testing.assert_array_equal(loaded.points, np.arange(24, dtype=np.float32).reshape(8, 3))
    assert loaded.images is not None
    assert [int(image[0, 0, 0]) for image in loaded.images] == [0, 3, 6, 9, 12, 15, 18, 21, 24, 27]
    with pytest.raises(BadItemError, match=r"_r_000\.png"):
        train[1].load()  # the renders folder exists but this model has none
    with pytest.warns(LayoutWarning):
        test = list(reader.iter_items(root, "test"))
    assert [item.class_name for item in test] == ["trashcan", "airplane"]


def test_depth_renders_and_point_only_bundle(tmp_path: Path) -> None:
    root = build_bundle(tmp_path / "shapenet-55")
    depth = get_reader("shapenet55", image_kind="depth", num_views=3, strict_counts=False)
    with pytest.warns(LayoutWarning):
        loaded = next(iter(depth.iter_items(root, "train"))).load()
    assert [int(image[0, 0, 0]) for image in loaded.images or []] == [100, 110, 120]
    bare = build_bundle(tmp_path / "bare", with_images=False)
    reader = get_reader("shapenet55", strict_counts=False)
    assert reader.view_source == "depth"
    with (
        pytest.warns(LayoutWarning, match="10518"),
        pytest.warns(LayoutWarning, match="no ShapeNet-55 renders"),
    ):
        items = list(reader.iter_items(bare, "test"))
    assert all(item.load().images is None for item in items)


def test_layout_errors(tmp_path: Path) -> None:
    root = build_bundle(tmp_path / "shapenet-55")
    (root / "taxonomy.json").unlink()
    with pytest.raises(DatasetLayoutError, match=re.escape(str(root / "taxonomy.json"))) as error:
        get_reader("shapenet55").class_names(root)
    assert "ULIP" in str(error.value)
    root = build_bundle(tmp_path / "other")
    (root / "test.txt").write_text("garbage_line\n")
    with pytest.raises(DatasetLayoutError, match="garbage_line"):
        list(get_reader("shapenet55", strict_counts=False).iter_items(root, "test"))
    reader = get_reader("shapenet55", pc_root=tmp_path / "pcs", strict_counts=False)
    root = build_bundle(tmp_path / "third")
    with pytest.warns(LayoutWarning), pytest.raises(DatasetLayoutError, match=re.escape(str(tmp_path / "pcs"))):
        list(reader.iter_items(root, "train"))


def test_corrupt_point_file_is_a_bad_item(tmp_path: Path) -> None:
    root = build_bundle(tmp_path / "shapenet-55", with_images=False)
    (root / "shapenet_pc" / f"{TEST[1]}.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.warns(LayoutWarning):
        items = list(get_reader("shapenet55", strict_counts=False).iter_items(root, "test"))
    with pytest.raises(BadItemError, match="unreadable NPY"):
        items[1].load()
