"""OpenShape's ScanObjectNN file (``scanobjectnn-openshape``) and the code-free reading of pickled ``.npy`` files, on
files written as ``np.save`` writes them (by numpy 2 here, and in numpy 1's naming)."""

from __future__ import annotations

import os
import pickle
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from crossmost_data.datasets import DatasetLayoutError, LayoutWarning, get_reader
from crossmost_data.datasets.class_lists import SCANOBJECTNN_CLASSES
from crossmost_data.datasets.pickled_npy import UnsafePickleError, load_object_npy
from crossmost_data.format import iter_shard
from crossmost_data.format.manifest import Manifest
from crossmost_data.items import BadItemError
from crossmost_data.prepare import PrepareConfig, prepare_dataset

# OpenShape's ScanObjectNNTest.categories, as its loader lists them (label i is categories[i]).
OPENSHAPE_CATEGORIES = [
    "bag", "bin", "box", "cabinet", "chair", "desk", "display", "door", "shelf", "table",
    "bed", "pillow", "sink", "sofa", "toilet",
]  # fmt: skip


def _clouds(count: int, points: int = 40, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(points + index, 3)).astype(np.float32) for index in range(count)]


def write_openshape_file(
    folder: Path, labels: list[int], *, rgb: list[np.ndarray] | None = None, xyz: Any = None
) -> dict[str, Any]:
    """``xyz_label.npy`` as OpenShape saved it: ``np.save`` of a dict (a pickled 0-d object array)."""
    data: dict[str, Any] = {"xyz": _clouds(len(labels)) if xyz is None else xyz, "label": np.asarray(labels)}
    if rgb is not None:
        data["rgb"] = rgb
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "xyz_label.npy", data, allow_pickle=True)
    return data


def test_openshape_categories_are_scanobjectnn_order() -> None:
    assert list(SCANOBJECTNN_CLASSES) == OPENSHAPE_CATEGORIES


def test_load_object_npy_round_trips_a_dict_of_arrays(tmp_path: Path) -> None:
    data = {"xyz": _clouds(3), "label": np.array([2, 0, 14]), "scalar": np.int64(7), "name": "x", "n": None}
    np.save(tmp_path / "a.npy", data, allow_pickle=True)
    loaded = load_object_npy(tmp_path / "a.npy")
    assert sorted(loaded) == sorted(data)
    for got, want in zip(loaded["xyz"], data["xyz"], strict=True):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(loaded["label"], [2, 0, 14])
    assert loaded["scalar"] == 7
    assert isinstance(loaded["scalar"], np.int64)
    assert loaded["name"] == "x"
    assert loaded["n"] is None
    # A plain numeric .npy is read too, without unpickling.
    np.save(tmp_path / "b.npy", np.arange(6).reshape(2, 3))
    np.testing.assert_array_equal(load_object_npy(tmp_path / "b.npy"), np.arange(6).reshape(2, 3))


def test_load_object_npy_reads_numpy_1_names(tmp_path: Path) -> None:
    """Files written by numpy 1 name ``numpy.core.multiarray``; the pickle (protocol 3, as numpy 1 wrote it: names as
    plain text) is rewritten to that spelling and still loads."""
    data = np.empty((), dtype=object)
    data[()] = {"label": np.array([1, 2]), "xyz": [np.ones((2, 3))]}
    payload = pickle.dumps(data, protocol=3)
    assert b"numpy._core.multiarray" in payload or b"numpy.core.multiarray" in payload
    payload = payload.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    with (tmp_path / "old.npy").open("wb") as handle:
        np.lib.format.write_array_header_1_0(handle, {"descr": "|O", "fortran_order": False, "shape": ()})
        handle.write(payload)
    loaded = load_object_npy(tmp_path / "old.npy")
    np.testing.assert_array_equal(loaded["label"], [1, 2])
    np.testing.assert_array_equal(loaded["xyz"][0], np.ones((2, 3)))


class _RunsCode:
    def __reduce__(self) -> tuple[Any, tuple[str, ...]]:
        return (os.system, ("touch pwned",))


def test_load_object_npy_never_runs_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "evil.npy", np.array({"xyz": _RunsCode()}), allow_pickle=True)
    with pytest.raises(UnsafePickleError, match=r"evil\.npy asks to build (posix|nt|os)\.system"):
        load_object_npy(tmp_path / "evil.npy")
    assert not (tmp_path / "pwned").exists()
    # The reader turns it into a layout error that names the file.
    (tmp_path / "data").mkdir()
    os.replace(tmp_path / "evil.npy", tmp_path / "data" / "xyz_label.npy")
    with pytest.raises(DatasetLayoutError, match=r"xyz_label\.npy.*not a numpy array"):
        list(get_reader("scanobjectnn-openshape", strict_counts=False).iter_items(tmp_path / "data", "test"))
    assert not (tmp_path / "pwned").exists()


def test_load_object_npy_truncated_and_not_npy(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", {"xyz": _clouds(4)}, allow_pickle=True)
    raw = (tmp_path / "a.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match=r"cut\.npy: cannot read its object array .*truncated"):
        load_object_npy(tmp_path / "cut.npy")
    (tmp_path / "text.npy").write_text("not numpy")
    with pytest.raises(ValueError, match=r"text\.npy is not a \.npy file"):
        load_object_npy(tmp_path / "text.npy")


def test_reader_items_labels_and_points(tmp_path: Path) -> None:
    root = tmp_path / "meta_data" / "scanobjectnn"
    labels = [0, 14, 9, 9, 3]
    data = write_openshape_file(root, labels)
    reader = get_reader("scanobjectnn-openshape", strict_counts=False)
    assert reader.view_source == "depth"
    assert reader.splits(root) == ["test"]
    with pytest.warns(LayoutWarning, match="2890"):
        items = list(reader.iter_items(root, "test"))
    assert [item.class_name for item in items] == ["bag", "toilet", "table", "table", "cabinet"]
    assert [item.source for item in items] == [f"xyz_label.npy[{row}]" for row in range(5)]
    assert len({item.uid for item in items}) == 5
    for item, cloud in zip(items, data["xyz"], strict=True):
        loaded = item.load()
        assert loaded.points is not None
        assert loaded.points.dtype == np.float32
        np.testing.assert_array_equal(loaded.points, cloud)  # as stored: the file is y-up already
    with pytest.raises(ValueError, match="only 'test'"):
        list(reader.iter_items(root, "train"))


def test_reader_colours_and_a_stacked_array(tmp_path: Path) -> None:
    root = tmp_path / "sonn"
    clouds = np.random.default_rng(1).normal(size=(3, 20, 3))  # M×N×3 works as well as a list
    colours = [np.full((20, 3), 51.0), np.zeros((20, 3)), np.full((20, 3), 0.5)]  # 0-255 is rescaled
    write_openshape_file(root, [1, 2, 3], xyz=clouds, rgb=colours)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LayoutWarning)
        items = list(get_reader("scanobjectnn-openshape", strict_counts=False).iter_items(root, "test"))
    first = items[0].load().points
    assert first is not None
    assert first.shape == (20, 6)
    np.testing.assert_allclose(first[:, :3], clouds[0], rtol=1e-6)
    np.testing.assert_allclose(first[:, 3:], 0.2, rtol=1e-6)
    last = items[2].load().points
    assert last is not None
    np.testing.assert_allclose(last[:, 3:], 0.5)


def test_reader_counts_layout_errors_and_bad_objects(tmp_path: Path) -> None:
    root = tmp_path / "meta_data" / "scanobjectnn"
    write_openshape_file(root, [0, 1])
    with pytest.raises(DatasetLayoutError, match="has 2 items, the official release has 2890"):
        list(get_reader("scanobjectnn-openshape").iter_items(root, "test"))
    with pytest.raises(DatasetLayoutError, match=r"found .*meta_data/scanobjectnn/xyz_label\.npy: pass"):
        list(get_reader("scanobjectnn-openshape").iter_items(tmp_path, "test"))

    reader = get_reader("scanobjectnn-openshape", strict_counts=False)
    bad = tmp_path / "bad"
    write_openshape_file(bad, [0, 15])
    with pytest.raises(DatasetLayoutError, match=r"object 1 has label 15, outside \[0, 15\)"):
        list(reader.iter_items(bad, "test"))
    np.save(bad / "xyz_label.npy", {"xyz": _clouds(3), "label": np.array([0.0, 2.5, 1.0])}, allow_pickle=True)
    with pytest.raises(DatasetLayoutError, match=r"xyz_label\.npy: 'label' holds non-integer values"):
        list(reader.iter_items(bad, "test"))
    np.save(bad / "xyz_label.npy", {"xyz": _clouds(2), "label": np.array([3.0, 14.0])}, allow_pickle=True)
    with pytest.warns(LayoutWarning, match="2890"):  # whole-number floats are labels too
        assert [item.class_name for item in reader.iter_items(bad, "test")] == ["cabinet", "toilet"]
    np.save(bad / "xyz_label.npy", {"points": [], "label": []}, allow_pickle=True)
    with pytest.raises(DatasetLayoutError, match="keys 'xyz' and 'label', found \\['label', 'points'\\]"):
        list(reader.iter_items(bad, "test"))
    write_openshape_file(bad, [0, 1, 2], xyz=_clouds(2))
    with pytest.raises(DatasetLayoutError, match="'label' has 3 entries but 'xyz' has 2 objects"):
        list(reader.iter_items(bad, "test"))

    clouds = _clouds(3)
    clouds[1][4, 2] = np.nan
    clouds[2] = np.zeros((0, 3), dtype=np.float32)
    write_openshape_file(bad, [0, 1, 2], xyz=clouds)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LayoutWarning)
        items = list(reader.iter_items(bad, "test"))
    assert items[0].load().points is not None
    with pytest.raises(BadItemError, match="non-finite"):
        items[1].load()
    with pytest.raises(BadItemError, match="empty point cloud"):
        items[2].load()


def test_prepared_shards_hold_the_clouds_and_list_bad_objects(tmp_path: Path) -> None:
    pytest.importorskip("crossmost_data.views.depth")
    root = tmp_path / "sonn"
    clouds = _clouds(4, points=64)
    clouds[2][0, 0] = np.inf
    write_openshape_file(root, [4, 13, 0, 4], xyz=clouds)
    config = PrepareConfig(points_per_sample=32, image_size=24, num_views=2, progress=False)  # type: ignore[arg-type]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LayoutWarning)
        reader = get_reader("scanobjectnn-openshape", strict_counts=False)
        summary = prepare_dataset(reader, root, tmp_path / "out", config)
    manifest = Manifest.read(tmp_path / "out")
    assert manifest.class_names == list(SCANOBJECTNN_CLASSES)
    assert list(manifest.splits) == ["test"]
    samples = [sample for shard in manifest.shards("test") for sample in iter_shard(tmp_path / "out" / shard.file)]
    assert [sample.meta["class_name"] for sample in samples] == ["chair", "sofa", "chair"]
    assert all(sample.points.shape == (32, 3) for sample in samples)
    assert len(summary.skipped) == 1
    assert "xyz_label.npy[2]" in str(summary.skipped[0])
    assert "non-finite" in str(summary.skipped[0])
