"""Damaged data at read time: every member is checked against the CRC-32 its sample records, an unreadable sample
is replaced by the next readable one and named (shard, key, member, reason), a truncated shard names the samples
it lost, and a split that is mostly unreadable stops with one message saying why."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from crossmost_data.format import ShardCorruptError, decode_sample, encode_sample
from crossmost_data.format.manifest import ManifestError
from crossmost_data.format.reader import scan_shard
from crossmost_data.loader import ShardDataset, build_dataloader
from crossmost_data.prepare.plan import ShardRecord

from .test_data_loader_dataset import AUGMENT, CLASSES, write_dataset


def _flip(path: Path, offset: int, count: int = 8) -> None:
    data = bytearray(path.read_bytes())
    for i in range(offset, offset + count):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))


def test_every_member_carries_a_checksum_that_decoding_checks() -> None:
    files = encode_sample("u1", np.ones((16, 3)), [np.zeros((8, 8, 3), np.uint8)], {"class_name": "chair"})
    meta = json.loads(files["json"])
    assert meta["crc32"] == {name: f"{zlib.crc32(files[name]):08x}" for name in ("points.npy", "view00.png")}
    decode_sample(files, source="s.tar")
    for member in ("points.npy", "view00.png"):
        damaged = dict(files)
        data = bytearray(damaged[member])
        data[-5] ^= 0xFF
        damaged[member] = bytes(data)
        with pytest.raises(ShardCorruptError, match=rf"s\.tar: sample 'u1': member '{member}' is damaged"):
            decode_sample(damaged, source="s.tar")


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_flipped_bytes_in_points_are_caught_when_read(tmp_path: Path, mode: str) -> None:
    write_dataset(tmp_path)
    shard = tmp_path / "train-000001.tar"
    offset, size = scan_shard(shard, 3).samples[2].points
    _flip(shard, offset + size - 40)  # inside the float data: the array still loads, with other values
    dataset = ShardDataset(tmp_path, "train", mode=mode, augment=AUGMENT)
    assert len(dataset) == 20  # nothing shows at indexing
    sample = dataset[7]
    assert sample["uid"] == "obj0008"
    assert "train-000001.tar: sample 'obj0007': member 'points.npy' is damaged" in sample["replaces"]
    assert dataset[8]["replaces"] == ""
    strict = ShardDataset(tmp_path, "train", mode=mode, augment=AUGMENT, on_corrupt="raise")
    with pytest.raises(ShardCorruptError, match=r"sample 'obj0007': member 'points\.npy' is damaged"):
        strict[7]


def test_flipped_bytes_in_a_view_do_not_stop_a_loader_with_workers(tmp_path: Path) -> None:
    write_dataset(tmp_path)
    shard = tmp_path / "train-000000.tar"
    for view in range(3):  # every view of obj0001, so that the random view choice always meets the damage
        offset, size = scan_shard(shard, 3).samples[1].views[view]
        _flip(shard, offset + size // 2)
    dataset = ShardDataset(tmp_path, "train", mode="train", augment=AUGMENT)
    batches = list(build_dataloader(dataset, 4, shuffle=False, num_workers=2))
    assert [len(b["uid"]) for b in batches] == [4] * 5  # full batches
    replaced = [(b["uid"][k], text) for b in batches for k, text in enumerate(b["replaces"]) if text]
    assert len(replaced) == 1
    uid, text = replaced[0]
    assert uid == "obj0002"
    assert "train-000000.tar: sample 'obj0001': member 'view0" in text
    indices = torch.cat([b["index"] for b in batches]).tolist()
    assert indices == list(range(20))


def test_a_truncated_shard_names_every_sample_it_lost(tmp_path: Path) -> None:
    write_dataset(tmp_path)
    shard = tmp_path / "train-000002.tar"
    uids = [f"obj{i:04d}" for i in range(10, 15)]
    ShardRecord(shard.name, "train", "f" * 8, uids, 5, "0" * 64).write(shard.with_suffix(".json"))
    first_lost = scan_shard(shard, 3).samples[2]
    shard.write_bytes(shard.read_bytes()[: first_lost.points[0] - 600])  # cut inside obj0012's header block
    dataset = ShardDataset(tmp_path, "train", mode="eval")
    (skipped,) = dataset.skipped
    assert skipped.shard == "train-000002.tar"
    assert skipped.count == 3
    assert sorted(skipped.keys) == ["obj0012", "obj0013", "obj0014"]
    assert "[obj0012, obj0013, obj0014]" in str(skipped)


def test_a_manifest_whose_classes_were_reordered_stops_with_one_message(tmp_path: Path) -> None:
    manifest = write_dataset(tmp_path)
    manifest.class_names = list(reversed(CLASSES))
    manifest.write(tmp_path)
    with pytest.raises(ManifestError, match=r"class_names \(3 classes\) are not the list the shards were written"):
        ShardDataset(tmp_path, "train", mode="eval")
    # A manifest written before the class list's digest was recorded: the samples' labels give it away.
    data = json.loads((tmp_path / "manifest.json").read_text())
    del data["class_names_sha256"]
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(ShardCorruptError) as info:
        ShardDataset(tmp_path, "train", mode="eval")
    message = str(info.value)
    assert "\n" not in message
    assert "13 of 20 samples cannot be used" in message  # the 7 "table" samples keep their index
    assert "the labels stored in the samples disagree with manifest.json's class_names" in message


def test_a_mostly_unreadable_split_stops_and_a_damaged_one_runs(tmp_path: Path) -> None:
    write_dataset(tmp_path)
    (tmp_path / "train-000000.tar").unlink()
    assert len(ShardDataset(tmp_path, "train", mode="eval")) == 15  # a quarter lost: damaged, still usable
    (tmp_path / "train-000001.tar").unlink()
    (tmp_path / "train-000002.tar").unlink()
    with pytest.raises(ShardCorruptError, match=r"15 of 20 samples cannot be used \(more than 50%\)"):
        ShardDataset(tmp_path, "train", mode="eval")
    assert len(ShardDataset(tmp_path, "train", mode="eval", max_unreadable=0.8)) == 5


def test_every_sample_unreadable_at_read_time_is_one_error(tmp_path: Path) -> None:
    write_dataset(tmp_path, shards=1, per_shard=3)
    shard = tmp_path / "train-000000.tar"
    for sample in scan_shard(shard, 3).samples:
        _flip(shard, sample.points[0] + sample.points[1] - 20)
    dataset = ShardDataset(tmp_path, "train", mode="eval")
    with pytest.raises(ShardCorruptError, match=r"no sample can be read \(first failure: .*obj0001"):
        dataset[1]
