"""manifest.json round trip and its error messages; uid sanitising."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from crossmost_data.format.manifest import Manifest, ManifestError, ShardEntry, SkippedItem
from crossmost_data.items import make_uid


def _manifest() -> Manifest:
    return Manifest(
        dataset="toy",
        class_names=["chair", "table"],
        splits={"train": [ShardEntry("train-000000.tar", 3, "ab" * 32)], "test": []},
        num_views=2,
        image_size=32,
        points_per_sample=128,
        point_layout="xyzrgb",
        config={"seed": 1, "nested": {"a": [1, 2]}},
        skipped=[SkippedItem("u", "chair/u.off", "train", "empty mesh")],
    )


def test_round_trip(tmp_path: Path) -> None:
    manifest = _manifest()
    manifest.write(tmp_path)
    loaded = Manifest.read(tmp_path)
    assert loaded == manifest
    assert loaded.crossmost_data_version
    assert loaded.created
    assert loaded.num_samples("train") == 3
    assert loaded.label_of("table") == 1
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]


def test_missing_file_names_path(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"manifest\.json.*does not exist"):
        Manifest.read(tmp_path / "nowhere")


def test_bad_json_names_file(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("{oops")
    with pytest.raises(ManifestError, match=r"manifest\.json: not valid JSON"):
        Manifest.read(tmp_path)


@pytest.mark.parametrize("key", ["dataset", "class_names", "splits", "points_per_sample"])
def test_missing_key_named(tmp_path: Path, key: str) -> None:
    data = _manifest().to_dict()
    del data[key]
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(ManifestError, match=rf"manifest\.json: missing required key '{key}'"):
        Manifest.read(tmp_path)


def test_missing_shard_key_named(tmp_path: Path) -> None:
    data = _manifest().to_dict()
    del data["splits"]["train"][0]["sha256"]
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(ManifestError, match=r"missing key 'sha256' in splits\['train'\]\[0\]"):
        Manifest.read(tmp_path)


def test_unknown_split_lists_available() -> None:
    with pytest.raises(ManifestError, match="available splits"):
        _manifest().shards("val")


def test_make_uid() -> None:
    assert make_uid("chair_0001") == "chair_0001"
    uid = make_uid("chair/train/chair 0001.off")
    assert uid.startswith("chair_train_chair_0001_off-")
    assert make_uid("chair/train/chair 0001.off") == uid
    assert make_uid("a/b") != make_uid("a_b")
    assert make_uid("...")
    assert all(c.isalnum() or c in "_-" for c in make_uid("é/ü.x"))


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_manifest_and_shard_records_get_the_permissions_of_a_plain_open(tmp_path: Path, umask: int, mode: int) -> None:
    from crossmost_data.prepare.plan import ShardRecord

    old = os.umask(umask)
    try:
        _manifest().write(tmp_path)
        ShardRecord("train-000000.tar", "train", "f" * 8, ["u"], 1, "ab" * 32).write(tmp_path / "train-000000.json")
        plain = tmp_path / "plain.txt"
        plain.write_text("x")
    finally:
        os.umask(old)
    assert (plain.stat().st_mode & 0o777) == mode
    for name in ("manifest.json", "train-000000.json"):
        assert ((tmp_path / name).stat().st_mode & 0o777) == mode, name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json", "plain.txt", "train-000000.json"]
