"""The preparation pipeline end to end with a small in-test reader (given views, no OpenGL needed)."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import trimesh

from crossmost_data.format import file_sha256, iter_shard
from crossmost_data.format.manifest import Manifest
from crossmost_data.items import BadItemError, LoadedItem, SourceItem
from crossmost_data.prepare import PrepareConfig, PrepareError, prepare_dataset

CLASSES = ["box", "ball"]


def _views(seed: int, count: int = 2, size: int = 20) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, size=(size, size + 4, 3), dtype=np.uint8) for _ in range(count)]


def _good_item(uid: str, class_name: str, split: str, seed: int) -> SourceItem:
    mesh = trimesh.creation.box(extents=(1, 2, 3)) if class_name == "box" else trimesh.creation.icosphere(1)
    load = functools.partial(LoadedItem, mesh=mesh, images=_views(seed))
    return SourceItem(uid, class_name, split, f"{class_name}/{uid}.off", load)


def _raise(reason: str) -> LoadedItem:
    raise BadItemError(reason)


def _raise_os() -> LoadedItem:
    raise OSError("disk says no")


def _bad_items(split: str) -> list[SourceItem]:
    views = _views(0)

    def item(uid: str, load: Callable[[], LoadedItem], cls: str = "box") -> SourceItem:
        return SourceItem(uid, cls, split, f"box/{uid}.off", load)

    nan_mesh = trimesh.Trimesh([[0, 0, 0], [1, 0, np.nan], [0, 1, 0]], [[0, 1, 2]], process=False)
    return [
        item("bad_empty", lambda: LoadedItem(mesh=trimesh.Trimesh(np.zeros((0, 3)), np.zeros((0, 3), int)))),
        item("bad_pointonly", lambda: LoadedItem(mesh=trimesh.Trimesh(np.eye(3), np.zeros((0, 3), int)))),
        item("bad_nan", lambda: LoadedItem(mesh=nan_mesh, images=views)),
        item("bad_range", lambda: LoadedItem(mesh=trimesh.Trimesh(np.eye(3), [[0, 1, 7]], process=False))),
        item("bad_flat", lambda: LoadedItem(mesh=trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [2, 0, 0]], [[0, 1, 2]]))),
        item("bad_fewpoints", lambda: LoadedItem(points=np.random.default_rng(0).normal(size=(5, 3)), images=views)),
        item("bad_samepoints", lambda: LoadedItem(points=np.ones((100, 3)), images=views)),
        item("bad_unreadable", functools.partial(_raise, "unreadable OFF file (garbage)")),
        item("bad_oserror", _raise_os),
        item("bad_class", lambda: LoadedItem(mesh=trimesh.creation.box(), images=views), cls="unicorn"),
        item("bad_noviews", lambda: LoadedItem(mesh=trimesh.creation.box())),
    ]


EXPECTED_REASONS = {
    "bad_empty": "empty mesh",
    "bad_pointonly": "point-only",
    "bad_nan": "non-finite vertex",
    "bad_range": "out of range",
    "bad_flat": "zero surface area",
    "bad_fewpoints": "too few points",
    "bad_samepoints": "radius 0",
    "bad_unreadable": "unreadable OFF",
    "bad_oserror": "cannot load: OSError: disk says no",
    "bad_class": "not in the dataset's class list",
    "bad_noviews": "view source is 'given'",
}


@dataclass
class ToyReader:
    """A reader with ``per_class`` good items per class and split, plus optional bad ones."""

    per_class: int = 3
    with_bad: bool = False
    name: str = "toy"
    view_source: str = "given"
    extra: dict[str, list[SourceItem]] = field(default_factory=dict)

    def class_names(self, root: Path) -> list[str]:
        return list(CLASSES)

    def splits(self, root: Path) -> list[str]:
        return ["train", "test"]

    def iter_items(self, root: Path, split: str) -> Iterator[SourceItem]:
        seed = 0
        for class_name in CLASSES:
            for i in range(self.per_class):
                seed += 1
                yield _good_item(f"{class_name}_{split}_{i:03d}", class_name, split, seed)
        if self.with_bad and split == "train":
            yield from _bad_items(split)


def _config(**overrides: object) -> PrepareConfig:
    base: dict[str, object] = {"points_per_sample": 64, "image_size": 16, "samples_per_shard": 2, "progress": False}
    base.update(overrides)
    return PrepareConfig(**base)  # type: ignore[arg-type]


def test_prepare_writes_shards_manifest_and_samples(tmp_path: Path) -> None:
    summary = prepare_dataset(ToyReader(), tmp_path / "raw", tmp_path / "out", _config(workers=0))
    assert summary.exit_code == 0
    assert summary.counts == {"train": {"box": 3, "ball": 3}, "test": {"box": 3, "ball": 3}}
    manifest = Manifest.read(tmp_path / "out")
    assert manifest.class_names == CLASSES
    assert manifest.num_views == 2
    assert manifest.image_size == 16
    assert manifest.points_per_sample == 64
    assert manifest.up_axis == "y"
    assert [e.file for e in manifest.splits["train"]] == ["train-000000.tar", "train-000001.tar", "train-000002.tar"]
    assert manifest.num_samples("test") == 6
    assert manifest.config["prepare"]["points_per_sample"] == 64
    uids = []
    for entry in manifest.splits["train"]:
        assert file_sha256(tmp_path / "out" / entry.file) == entry.sha256
        samples = list(iter_shard(tmp_path / "out" / entry.file))
        assert len(samples) == entry.num_samples
        for sample in samples:
            uids.append(sample.uid)
            assert sample.points.shape == (64, 3)
            assert np.linalg.norm(sample.points, axis=1).max() == pytest.approx(1.0, abs=1e-5)
            np.testing.assert_allclose(sample.points.mean(axis=0), 0.0, atol=1e-5)
            assert len(sample.views) == 2
            assert sample.meta["label"] == CLASSES.index(sample.meta["class_name"])
            assert sample.meta["view_source"] == "given"
    assert uids == sorted(uids)


def test_bad_items_are_skipped_with_reasons(tmp_path: Path) -> None:
    out = tmp_path / "out"
    summary = prepare_dataset(ToyReader(with_bad=True), tmp_path, out, _config(workers=0, samples_per_shard=4))
    assert summary.exit_code == 0
    reasons = {s.uid: s.reason for s in Manifest.read(out).skipped}
    assert set(reasons) == set(EXPECTED_REASONS)
    for uid, expected in EXPECTED_REASONS.items():
        assert expected in reasons[uid], (uid, reasons[uid])
    assert {s.uid for s in summary.skipped} == set(EXPECTED_REASONS)
    text = summary.format()
    assert "skipped 11 item(s)" in text
    assert "zero surface area" in text
    assert Manifest.read(out).num_samples("train") == 6
    assert not list(out.glob("*.tmp"))
    strict = prepare_dataset(
        ToyReader(with_bad=True), tmp_path, out, _config(workers=0, samples_per_shard=4, strict=True)
    )
    assert strict.exit_code == 1
    assert strict.shards_resumed == 7  # 17 train items in shards of 4, 6 test items


def test_rerun_resumes_and_recreates_deleted_shard_identically(tmp_path: Path) -> None:
    out = tmp_path / "out"
    prepare_dataset(ToyReader(), tmp_path, out, _config(workers=0))
    tars = sorted(out.glob("*.tar"))
    mtimes = {p.name: p.stat().st_mtime_ns for p in tars}
    shas = {p.name: file_sha256(p) for p in tars}
    (out / "train-000001.tar").unlink()
    (out / "test-000000.tar.tmp").write_bytes(b"half written")
    summary = prepare_dataset(ToyReader(), tmp_path, out, _config(workers=0))
    assert summary.shards_written == 1
    assert summary.shards_resumed == 5
    assert not (out / "test-000000.tar.tmp").exists()
    for path in sorted(out.glob("*.tar")):
        assert file_sha256(path) == shas[path.name]
        if path.name != "train-000001.tar":
            assert path.stat().st_mtime_ns == mtimes[path.name]


def test_config_change_is_refused_unless_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "out"
    prepare_dataset(ToyReader(), tmp_path, out, _config(workers=0))
    with pytest.raises(PrepareError, match="different configuration"):
        prepare_dataset(ToyReader(), tmp_path, out, _config(workers=0, points_per_sample=32))
    prepare_dataset(ToyReader(), tmp_path, out, _config(workers=0, points_per_sample=32, overwrite=True))
    assert Manifest.read(out).points_per_sample == 32


def _manifest_without_time(path: Path) -> dict[str, object]:
    data = json.loads((path / "manifest.json").read_text())
    del data["created"]
    return data


def test_split_across_machines_then_merge_equals_single_run(tmp_path: Path) -> None:
    single, split = tmp_path / "single", tmp_path / "split"
    prepare_dataset(ToyReader(), tmp_path, single, _config(workers=0))
    first = prepare_dataset(ToyReader(), tmp_path, split, _config(workers=0, shard_index=0, num_shards=2))
    assert first.manifest_path is None
    assert first.shards_pending == ["train-000001.tar", "test-000000.tar", "test-000002.tar"]
    assert "manifest not written yet" in first.format()
    with pytest.raises(PrepareError, match="cannot merge"):
        prepare_dataset(ToyReader(), tmp_path, split, _config(workers=0, merge_only=True))
    second = prepare_dataset(ToyReader(), tmp_path, split, _config(workers=0, shard_index=1, num_shards=2))
    assert second.manifest_path == split / "manifest.json"
    assert _manifest_without_time(split) == _manifest_without_time(single)
    (split / "manifest.json").unlink()
    merged = prepare_dataset(ToyReader(), tmp_path, split, _config(workers=0, merge_only=True))
    assert merged.shards_written == 0
    assert _manifest_without_time(split) == _manifest_without_time(single)


def test_max_items_takes_every_class(tmp_path: Path) -> None:
    summary = prepare_dataset(ToyReader(per_class=5), tmp_path, tmp_path / "o", _config(workers=0, max_items=4))
    assert summary.counts["train"] == {"box": 2, "ball": 2}


def test_given_views_resized_and_counted(tmp_path: Path) -> None:
    prepare_dataset(ToyReader(per_class=1), tmp_path, tmp_path / "o", _config(workers=0, num_views=1, image_size=12))
    from crossmost_data.format import decode_view

    sample = next(iter_shard(tmp_path / "o" / "train-000000.tar"))
    assert len(sample.views) == 1
    assert decode_view(sample.views[0]).size == (12, 12)
    with pytest.raises(PrepareError, match="unknown split"):
        prepare_dataset(ToyReader(), tmp_path, tmp_path / "p", _config(splits=("val",)))


def test_all_items_bad_is_an_error(tmp_path: Path) -> None:
    reader = ToyReader(per_class=0, with_bad=True)
    summary = prepare_dataset(reader, tmp_path, tmp_path / "o", _config(workers=0, splits=("train",)))
    assert summary.exit_code == 1
    assert "no item could be prepared" in summary.format()


@pytest.mark.slow
def test_process_pool_gives_the_same_bytes(tmp_path: Path) -> None:
    prepare_dataset(ToyReader(), tmp_path, tmp_path / "a", _config(workers=0, splits=("train",)))
    prepare_dataset(ToyReader(), tmp_path, tmp_path / "b", _config(workers=2, splits=("train",)))
    for path in sorted((tmp_path / "a").glob("*.tar")):
        assert file_sha256(path) == file_sha256(tmp_path / "b" / path.name)
