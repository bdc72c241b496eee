"""Unlabelled data: a folder of objects without class folders + a class list → shards with label -1 → loaders."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh

from crossmost_data.datasets import DatasetLayoutError, get_reader
from crossmost_data.format import iter_shard
from crossmost_data.format.manifest import Manifest
from crossmost_data.inspect import contact_sheet, format_counts, sheet_size
from crossmost_data.items import LoadedItem
from crossmost_data.loader import ShardDataset
from crossmost_data.prepare import prepare_dataset
from crossmost_data.prepare.config import PrepareConfig
from crossmost_data.prepare.worker import ItemTask, process_item
from crossmost_data.verify import verify_dataset

CLASSES = ["chair", "table", "lamp"]


def write_unlabelled_folder(root: Path) -> list[str]:
    """Three meshes and two point clouds, loose and in a nested folder; returns their relative paths."""
    rng = np.random.default_rng(0)
    (root / "scans" / "room2").mkdir(parents=True)
    trimesh.creation.box(extents=(1.0, 2.0, 0.5)).export(root / "box.off")
    trimesh.creation.icosphere(subdivisions=1).export(root / "ball.obj")
    trimesh.creation.cylinder(radius=0.3, height=2.0).export(root / "scans" / "pole.stl")
    np.save(root / "scans" / "cloud.npy", rng.normal(size=(300, 3)).astype(np.float32))
    np.savetxt(root / "scans" / "room2" / "cloud.xyz", rng.uniform(-1, 1, size=(250, 3)))
    return ["ball.obj", "box.off", "scans/cloud.npy", "scans/pole.stl", "scans/room2/cloud.xyz"]


def _config() -> PrepareConfig:
    return PrepareConfig(points_per_sample=96, image_size=32, num_views=2, samples_per_shard=3, progress=False)


def test_reader_unlabelled_layout_from_classes_option(tmp_path: Path) -> None:
    expected = write_unlabelled_folder(tmp_path)
    reader = get_reader("folder", view_source="depth", classes="chair, table,lamp")
    assert reader.labelled(tmp_path) is False  # type: ignore[attr-defined]
    assert reader.class_names(tmp_path) == CLASSES
    assert reader.splits(tmp_path) == ["train"]
    items = list(reader.iter_items(tmp_path, "train"))
    assert sorted(item.source for item in items) == expected
    assert {item.class_name for item in items} == {""}
    assert {item.split for item in items} == {"train"}


def test_reader_class_file_split_folders_and_choice(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    (tmp_path / "test").mkdir()
    write_unlabelled_folder(tmp_path / "train")
    np.save(tmp_path / "test" / "one.npy", np.ones((20, 3)) * np.arange(3))
    np.save(tmp_path / "stray.npy", np.ones((20, 3)))
    (tmp_path / "names.txt").write_text("# my classes\nchair\ntable\n")
    reader = get_reader("folder", view_source="depth", classes_file="names.txt")
    assert reader.class_names(tmp_path) == ["chair", "table"]
    assert reader.splits(tmp_path) == ["train", "test"]
    with pytest.warns(UserWarning, match="1 object files directly in"):
        test_items = list(reader.iter_items(tmp_path, "test"))
    assert [(item.source, item.class_name) for item in test_items] == [("test/one.npy", "")]
    # A class list whose classes have folders is the labelled layout; unlabelled=true overrides the choice.
    (tmp_path / "chair").mkdir()
    (tmp_path / "table").mkdir()
    trimesh.creation.box().export(tmp_path / "chair" / "c.off")
    assert get_reader("folder", classes_file="names.txt").labelled(tmp_path) is True  # type: ignore[attr-defined]
    forced = get_reader("folder", view_source="depth", classes_file="names.txt", unlabelled=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert {item.class_name for item in forced.iter_items(tmp_path, "train")} == {""}


def test_reader_errors_name_the_missing_class_list(tmp_path: Path) -> None:
    np.save(tmp_path / "loose.npy", np.ones((20, 3)))
    with pytest.raises(DatasetLayoutError, match="--option classes=chair,table,lamp"):
        get_reader("folder").class_names(tmp_path)
    with pytest.raises(DatasetLayoutError, match="needs its class list"):
        get_reader("folder", unlabelled="true").class_names(tmp_path)
    with pytest.raises(ValueError, match="unlabelled must be true or false"):
        get_reader("folder", unlabelled="maybe")
    with pytest.raises(DatasetLayoutError, match="lists chair more than once"):
        get_reader("folder", classes=["chair", "chair"]).class_names(tmp_path)


def test_prepare_verify_inspect_unlabelled(tmp_path: Path) -> None:
    raw, out = tmp_path / "raw", tmp_path / "out"
    raw.mkdir()
    write_unlabelled_folder(raw)
    (raw / "classes.txt").write_text("\n".join(CLASSES) + "\n")
    reader = get_reader("folder", view_source="depth")
    summary = prepare_dataset(reader, raw, out, _config())
    assert summary.exit_code == 0
    assert not summary.skipped
    assert summary.counts == {"train": {"": 5}}
    assert "(unlabelled)" in summary.format()
    manifest = Manifest.read(out)
    assert manifest.class_names == CLASSES
    assert manifest.unlabelled_counts == {"train": 5}
    assert manifest.class_counts == {"train": {}}
    assert manifest.num_samples("train") == 5
    assert manifest.num_labelled("train") == 0
    metas = [sample.meta for entry in manifest.shards("train") for sample in iter_shard(out / entry.file)]
    assert len(metas) == 5
    assert {(meta["label"], meta["class_name"]) for meta in metas} == {(-1, None)}
    assert {meta["view_source"] for meta in metas} == {"depth"}
    report = verify_dataset(out)
    assert report.ok, report.format()
    assert report.samples_checked == 5
    table = format_counts(manifest)
    assert [line.split() for line in table.splitlines() if "unlabelled" in line] == [["-1", "unlabelled", "5"]]
    sheet = contact_sheet(out, tmp_path / "sheet.png", per_class=2, tile=16)
    from PIL import Image

    assert Image.open(sheet).size == sheet_size(len(CLASSES) + 1, 2, 16)
    # A manifest that miscounts the unlabelled samples fails verification.
    data = json.loads((out / "manifest.json").read_text())
    data["unlabelled_counts"] = {"train": 4}
    (out / "manifest.json").write_text(json.dumps(data))
    assert any("5 unlabelled samples, the manifest says 4" in p for p in verify_dataset(out).problems)


def test_item_without_class_is_skipped_unless_the_dataset_is_unlabelled() -> None:
    def task(allowed: bool) -> ItemTask:
        return ItemTask(
            uid="x", class_name="", label=-1, split="train", source="x.npy", load=_cloud, dataset="d",
            view_source="depth", unlabelled_allowed=allowed,
        )  # fmt: skip

    refused = process_item(task(False))
    assert refused.files is None
    assert refused.reason == "the item has no class and the dataset does not declare itself unlabelled"
    accepted = process_item(task(True))
    assert accepted.files is not None
    assert json.loads(accepted.files["json"])["label"] == -1


def _cloud() -> LoadedItem:
    return LoadedItem(points=np.random.default_rng(1).normal(size=(200, 3)))


def test_loaders_pass_label_minus_one_through(tmp_path: Path) -> None:
    raw, out = tmp_path / "raw", tmp_path / "out"
    raw.mkdir()
    write_unlabelled_folder(raw)
    reader = get_reader("folder", view_source="depth", classes=CLASSES)
    assert prepare_dataset(reader, raw, out, _config()).exit_code == 0
    dataset = ShardDataset(out, "train", mode="train")
    assert len(dataset) == 5
    assert dataset.labels.tolist() == [-1] * 5
    batch = torch.utils.data.default_collate([dataset[i] for i in range(len(dataset))])
    assert batch["label"].dtype == torch.int64
    assert batch["label"].tolist() == [-1] * 5
    assert batch["points_weak"].shape == (5, 96, 3)
    evaluation = ShardDataset(out, "train", mode="eval")
    assert [evaluation[i]["label"] for i in range(5)] == [-1] * 5
