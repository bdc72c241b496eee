"""Shard format: encode → write → read → decode round trips, corruption reported by name."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest

from crossmost_data.format import (
    AtomicTarWriter,
    ShardCorruptError,
    decode_sample,
    decode_view,
    encode_sample,
    file_sha256,
    index_members,
    iter_shard,
    iter_shard_files,
    read_span,
    scan_shard,
    shard_name,
)


def _sample(seed: int, n: int = 64, cols: int = 3, views: int = 2) -> tuple[np.ndarray, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    points = rng.normal(size=(n, cols)).astype(np.float32)
    images = [rng.integers(0, 256, size=(8, 10, 3), dtype=np.uint8) for _ in range(views)]
    return points, images


def _write_shard(path: Path, count: int = 3) -> list[tuple[np.ndarray, list[np.ndarray]]]:
    data = []
    with AtomicTarWriter(path) as writer:
        for i in range(count):
            points, images = _sample(i, cols=6 if i % 2 else 3)
            writer.write(f"obj_{i}", encode_sample(f"obj_{i}", points, images, {"label": i}))
            data.append((points, images))
    return data


def test_shard_name() -> None:
    assert shard_name("train", 3) == "train-000003.tar"


def test_round_trip_arrays_images_and_sha(tmp_path: Path) -> None:
    path = tmp_path / "train-000000.tar"
    data = _write_shard(path)
    assert not (tmp_path / "train-000000.tar.tmp").exists()
    with tarfile.open(path) as tar:
        names = tar.getnames()
    assert names[:4] == ["obj_0.points.npy", "obj_0.view00.png", "obj_0.view01.png", "obj_0.json"]
    samples = list(iter_shard(path))
    assert [s.uid for s in samples] == ["obj_0", "obj_1", "obj_2"]
    for sample, (points, images) in zip(samples, data, strict=True):
        assert sample.points.dtype == np.float32
        np.testing.assert_array_equal(sample.points, points)
        assert sample.meta["label"] == int(sample.uid[-1])
        for encoded, image in zip(sample.views, images, strict=True):
            np.testing.assert_array_equal(np.asarray(decode_view(encoded)), image)


def test_writer_info_matches_file_and_is_deterministic(tmp_path: Path) -> None:
    a, b = tmp_path / "a" / "x-000000.tar", tmp_path / "b" / "x-000000.tar"
    with AtomicTarWriter(a) as wa:
        wa.write("k", encode_sample("k", *_sample(0), {}))
    with AtomicTarWriter(b) as wb:
        wb.write("k", encode_sample("k", *_sample(0), {}))
    assert wa.info is not None
    assert wb.info is not None
    assert wa.info.num_samples == 1
    assert wa.info.sha256 == file_sha256(a) == file_sha256(b)


def test_index_and_random_access(tmp_path: Path) -> None:
    path = tmp_path / "s.tar"
    data = _write_shard(path, count=4)
    groups, problem = index_members(path)
    assert problem is None
    assert [g.key for g in groups] == ["obj_0", "obj_1", "obj_2", "obj_3"]
    scan = scan_shard(path, 2)
    assert [s.key for s in scan.samples] == ["obj_0", "obj_1", "obj_2", "obj_3"]
    with open(path, "rb") as handle:
        files = {suffix: read_span(handle.fileno(), span) for suffix, span in groups[2].members.items()}
        points = np.load(io.BytesIO(read_span(handle.fileno(), scan.samples[2].points)))
    sample = decode_sample({"__key__": groups[2].key, **files}, source=str(path))
    np.testing.assert_array_equal(sample.points, data[2][0])
    np.testing.assert_array_equal(points, data[2][0])


def test_error_in_block_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "t-000000.tar"
    files = encode_sample("a", *_sample(0), {})

    def write_then_fail() -> None:
        with AtomicTarWriter(path) as writer:
            writer.write("a", files)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_then_fail()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("cut", [0.5, 0.99])
def test_truncated_shard_names_file(tmp_path: Path, cut: float) -> None:
    path = tmp_path / "train-000001.tar"
    _write_shard(path)
    offset, size = index_members(path)[0][-1].members["json"]
    path.write_bytes(path.read_bytes()[: int((offset + size) * cut)])
    with pytest.raises(ShardCorruptError, match=r"train-000001\.tar"):
        list(iter_shard(path))
    scan = scan_shard(path, 2)
    assert scan.path.endswith("train-000001.tar")
    assert scan.problem is not None
    assert "truncated" in scan.problem


def test_truncated_at_member_boundary_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "b.tar"
    _write_shard(path, count=2)
    groups, _ = index_members(path)
    offset, size = groups[0].members["json"]
    end = offset + size + (-size % 512)
    path.write_bytes(path.read_bytes()[:end])
    with pytest.raises(ShardCorruptError, match="truncated"):
        list(iter_shard_files(path))


def test_encode_rejects_bad_uid_and_points() -> None:
    points, images = _sample(0)
    with pytest.raises(ValueError, match="uid"):
        encode_sample("a.b", points, images, {})
    bad = points.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        encode_sample("a", bad, images, {})


def _files(points: np.ndarray) -> dict[str, bytes]:
    buffer = io.BytesIO()
    np.save(buffer, points)
    return {"__key__": b"k", "points.npy": buffer.getvalue(), "json": b"{}"}


@pytest.mark.parametrize(
    ("points", "match"),
    [
        (np.zeros((4, 4), np.float32), "N×3 or N×6"),
        (np.zeros(4, np.float32), "N×3 or N×6"),
        (np.array([[0, 0, np.inf]], np.float32), "NaN or infinite"),
    ],
)
def test_decode_validates_points(points: np.ndarray, match: str) -> None:
    with pytest.raises(ShardCorruptError, match=f"shard-x.tar: sample 'k'.*{match}"):
        decode_sample(_files(points), source="shard-x.tar")


def test_decode_reports_missing_and_bad_members() -> None:
    files = _files(np.zeros((2, 3), np.float32))
    del files["points.npy"]
    with pytest.raises(ShardCorruptError, match=r"'points\.npy' is missing"):
        decode_sample(files, source="s.tar")
    files = _files(np.zeros((2, 3), np.float32))
    files["json"] = b"{not json"
    with pytest.raises(ShardCorruptError, match="'json' is not valid JSON"):
        decode_sample(files, source="s.tar")
    files = _files(np.zeros((2, 3), np.float32))
    files["points.npy"] = b"garbage"
    with pytest.raises(ShardCorruptError, match="cannot be read"):
        decode_sample(files, source="s.tar")
    with pytest.raises(ShardCorruptError, match=r"v\.png"):
        decode_view(b"not an image", source="v.png")
