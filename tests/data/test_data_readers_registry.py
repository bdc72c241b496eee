"""The reader registry: names, options, errors, the reader protocol and picklable item loaders."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from crossmost_data.datasets import DatasetReader, FolderReader, get_reader, list_readers, register_reader
from crossmost_data.datasets import registry as registry_module

BUILT_IN = [
    "co3d",
    "folder",
    "modelnet10",
    "modelnet40",
    "modelnet40-depth",
    "objaverse",
    "objaverse-lvis",
    "redwood",
    "scanobjectnn",
    "shapenet55",
]


def test_built_in_readers_are_listed_and_satisfy_the_protocol() -> None:
    names = list_readers()
    assert names == sorted(names)
    assert set(BUILT_IN) <= set(names)
    assert "synthetic" in names
    for name in BUILT_IN:
        reader = get_reader(name)
        assert isinstance(reader, DatasetReader), name
        assert reader.name == name
        assert reader.view_source in ("render", "depth", "given")


def test_synthetic_reader_is_imported_on_first_use() -> None:
    reader = get_reader("synthetic")
    assert reader.name == "synthetic"
    assert isinstance(reader, DatasetReader)


def test_unknown_reader_and_unknown_option() -> None:
    with pytest.raises(KeyError, match=r"unknown dataset reader 'modelnet41'.*modelnet40"):
        get_reader("modelnet41")
    with pytest.raises(ValueError, match=r"no option\(s\) varient; accepted options: variant"):
        get_reader("scanobjectnn", varient="hardest")


def test_command_line_spellings_and_string_values() -> None:
    reader = get_reader("modelnet40", **{"views-root": "/data/renders", "num-views": "4", "strict-counts": "false"})
    assert reader.view_source == "given"
    assert reader.num_views == 4
    assert reader.strict_counts is False
    assert get_reader("scanobjectnn", variant="OBJ_ONLY").variant == "obj-only"  # type: ignore[attr-defined]
    assert get_reader("co3d", num_frames="20").num_frames == 20  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="num_frames must be a positive integer"):
        get_reader("redwood", num_frames="0")
    with pytest.raises(ValueError, match="test_fraction must be in"):
        get_reader("folder", test_fraction=1.5)
    with pytest.raises(ValueError, match="up_axis"):
        get_reader("folder", up_axis="w")


def test_register_reader_refuses_silent_replacement(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry_module, "_FACTORIES", dict(registry_module._FACTORIES))

    class MineReader(FolderReader):
        name = "mine"

    register_reader("mine", MineReader)
    register_reader("mine", MineReader)  # the same factory again: harmless (a module imported twice)
    assert "mine" in list_readers()
    assert get_reader("mine", up_axis="z").name == "mine"
    with pytest.raises(ValueError, match="already registered"):
        register_reader("mine", FolderReader)
    register_reader("mine", FolderReader, replace=True)
    assert get_reader("mine").name == "folder"
    with pytest.raises(ValueError, match="non-empty"):
        register_reader(" ", FolderReader)


def test_item_loaders_pickle_and_run_after_unpickling(tmp_path: Path) -> None:
    (tmp_path / "box").mkdir()
    np.save(tmp_path / "box" / "a.npy", np.ones((4, 3), dtype=np.float32))
    item = next(iter(get_reader("folder", view_source="depth").iter_items(tmp_path, "train")))
    restored = pickle.loads(pickle.dumps(item.load))
    np.testing.assert_array_equal(restored().points, np.ones((4, 3), dtype=np.float32))
    assert pickle.loads(pickle.dumps(item)).uid == item.uid
