"""The streaming loader over shards written by the test: the same samples as the map-style dataset, every sample of
an epoch once across processes × workers, equal steps on every process, an exact resume, the shard-count check,
damage read around and named, and shards served over HTTP by a server in a thread."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from crossmost_data.format import ShardCorruptError
from crossmost_data.format.manifest import Manifest
from crossmost_data.format.reader import scan_shard
from crossmost_data.loader import (
    LoaderConfig,
    PreparedData,
    PreparedDataError,
    ShardDataset,
    StreamingShardDataset,
    build_eval_loader,
    build_train_loader,
)

from .test_data_loader_dataset import AUGMENT, write_dataset

OUTPUTS = ("image_weak", "image_mask", "points_weak", "points_strong")


def _equal(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a.keys() == b.keys() and all(
        torch.equal(a[k], b[k]) if isinstance(a[k], torch.Tensor) else a[k] == b[k] for k in a
    )


def _rows(batches: list[dict[str, Any]]) -> list[tuple[int, str]]:
    return [(int(i), u) for b in batches for i, u in zip(b["index"], b["uid"], strict=True)]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("stream")
    write_dataset(folder, shards=6, per_shard=4, size=16, points=32)
    return folder


@pytest.fixture(scope="module")
def uneven(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """5 shards of 5 samples: two processes hold 15 and 10 of the 25."""
    folder = tmp_path_factory.mktemp("uneven")
    write_dataset(folder, shards=5, per_shard=5, size=16, points=32)
    return folder


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files without a console line per request."""

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def http_root(root: Path) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join()


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_streamed_samples_equal_the_map_style_samples(root: Path, mode: str) -> None:
    options: dict[str, Any] = {"mode": mode, "augment": AUGMENT, "seed": 3, "num_points": 24}
    if mode == "eval":
        options["view_policy"] = "all"
    mapped = ShardDataset(root, "train", **options)
    streamed = StreamingShardDataset(str(root), "train", **options)
    for dataset in (mapped, streamed):
        dataset.set_epoch(2)
    samples = list(streamed)
    assert [s["index"] for s in samples] == list(range(24))  # manifest order without a plan
    for sample in samples:
        reference = mapped[sample["index"]]
        assert reference["uid"] == sample["uid"]
        assert _equal(sample, reference), sample["uid"]


def _train_epoch(
    root: Path | str, *, world: int, workers: int, batch: int, epoch: int = 0, start: int = 0, buffer: int = 8
) -> list[list[dict[str, Any]]]:
    """The micro-batches of every rank in one epoch (or from micro-batch ``start`` on)."""
    config = LoaderConfig(str(root), seed=5, num_workers=workers, streaming=True, shuffle_buffer=buffer)
    per_rank = []
    for rank in range(world):
        dataset = PreparedData(config).dataset("train", mode="train", augment=AUGMENT, train_outputs=OUTPUTS)
        loader, epochs = build_train_loader(dataset, config, batch_size=batch, num_replicas=world, rank=rank)
        epochs.set_epoch(epoch, start)
        batches = list(loader)
        assert len(batches) == epochs.batches_per_epoch - start
        per_rank.append(batches)
    return per_rank


def test_an_epoch_serves_every_sample_once_across_processes_and_workers(root: Path) -> None:
    per_rank = _train_epoch(root, world=2, workers=3, batch=2)  # one shard per worker of each process
    rows = [row for batches in per_rank for row in _rows(batches)]
    assert sorted(i for i, _ in rows) == list(range(24))
    assert all(uid == f"obj{i:04d}" for i, uid in rows)
    assert all(len(b["uid"]) == 2 for batches in per_rank for b in batches)
    orders = [[_rows(b) for b in _train_epoch(root, world=2, workers=0, batch=2, epoch=e)] for e in (0, 1, 0)]
    for order in orders:
        assert sorted(i for rank in order for i, _ in rank) == list(range(24))
    assert orders[0] != orders[1]  # the shards and the buffer are dealt anew each epoch
    assert orders[0] == orders[2]  # from the seed and the epoch alone


def test_every_process_makes_the_same_steps_when_it_holds_fewer_samples(uneven: Path) -> None:
    per_rank = _train_epoch(uneven, world=2, workers=0, batch=4)
    assert [len(b) for b in per_rank] == [3, 3]  # floor(25 / 8) steps of 4 samples on each process
    rows = [_rows(b) for b in per_rank]
    counts = sorted(len({i for i, _ in r}) for r in rows)
    assert counts == [10, 12]  # the process holding 10 reads them again, the one holding 15 stops at 12
    short = next(b for b, r in zip(per_rank, rows, strict=True) if len({i for i, _ in r}) == 10)
    samples = [{k: v[n] for k, v in batch.items()} for batch in short for n in range(4)]
    seen: dict[int, dict[str, Any]] = {}
    repeated = 0
    for sample in samples:
        first = seen.setdefault(int(sample["index"]), sample)
        if first is not sample:  # a second reading gets other augmentations (repeat enters the seed)
            repeated += 1
            assert not torch.equal(first["points_strong"], sample["points_strong"])
    assert repeated == 2


@pytest.mark.parametrize(("workers", "starts"), [(0, (1, 5)), (2, (5,))])
def test_a_resumed_epoch_serves_the_same_micro_batches(root: Path, workers: int, starts: tuple[int, ...]) -> None:
    (full,) = _train_epoch(root, world=1, workers=workers, batch=2, epoch=1)
    for start in starts:
        (resumed,) = _train_epoch(root, world=1, workers=workers, batch=2, epoch=1, start=start)
        assert len(resumed) == len(full) - start
        for a, b in zip(full[start:], resumed, strict=True):
            assert _equal(a, b)


def test_fewer_shards_than_processes_times_workers_is_refused_with_the_numbers(root: Path) -> None:
    config = LoaderConfig(str(root), num_workers=4, streaming=True)
    dataset = PreparedData(config).dataset("train", mode="train", augment=AUGMENT)
    with pytest.raises(ValueError, match=r"6 shard\(s\), fewer than the 2 process\(es\) × 4 loader worker\(s\) = 8"):
        build_train_loader(dataset, config, batch_size=2, num_replicas=2, rank=0)
    eval_set = PreparedData(config).dataset("train", mode="eval")
    with pytest.raises(ValueError, match=r"6 shard\(s\), fewer than the 7 processes"):
        build_eval_loader(eval_set, config, batch_size=2, num_replicas=7, rank=0)


def test_evaluation_scores_every_sample_once_across_processes(uneven: Path) -> None:
    config = LoaderConfig(str(uneven), num_workers=2, streaming=True)
    rows = []
    for rank in range(2):
        dataset = PreparedData(config).dataset("train", mode="eval", view_policy="all")
        assert len(dataset) == 25
        rows += _rows(list(build_eval_loader(dataset, config, batch_size=4, num_replicas=2, rank=rank)))
    assert sorted(rows) == [(i, f"obj{i:04d}") for i in range(25)]


def _damaged_copy(root: Path, folder: Path) -> tuple[Path, str]:
    """A copy of ``root`` with shard 1 truncated inside its third sample and a flipped byte in the cloud of the
    second sample of shard 3; returns the copy and the damaged key."""
    folder.mkdir()
    for path in root.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    truncated = folder / "train-000001.tar"
    cut = scan_shard(truncated, 3).samples[2].points[0] + 10
    truncated.write_bytes(truncated.read_bytes()[:cut])
    flipped = folder / "train-000003.tar"
    sample = scan_shard(flipped, 3).samples[1]
    data = bytearray(flipped.read_bytes())
    data[sample.points[0] + sample.points[1] - 20] ^= 0x5A
    flipped.write_bytes(bytes(data))
    return folder, sample.key


def test_damage_is_read_around_and_named(root: Path, tmp_path: Path) -> None:
    folder, key = _damaged_copy(root, tmp_path / "damaged")
    (folder / "train-000005.tar").unlink()
    dataset = StreamingShardDataset(str(folder), "train", mode="eval")
    samples = list(dataset)
    assert [s["index"] for s in samples] == list(range(24))  # every position served, damaged ones by stand-ins
    replaced = {s["index"]: s["replaces"] for s in samples if s["replaces"]}
    assert sorted(replaced) == [6, 7, 13, 20, 21, 22, 23]
    assert "train-000001.tar: sample #2 of the shard lost" in replaced[6]
    assert "truncated or damaged" in replaced[7]
    assert f"train-000003.tar: sample {key!r}: member 'points.npy' is damaged" in replaced[13]
    assert f"{folder / 'train-000005.tar'} cannot be opened" in replaced[20]
    assert samples[13]["uid"] == "obj0014"  # the next readable sample stands in
    assert samples[22]["uid"] == "obj0019"  # at the end of the stream, the last readable one
    strict = StreamingShardDataset(str(folder), "train", mode="eval", on_corrupt="raise")
    with pytest.raises(ShardCorruptError, match=r"train-000001\.tar: the shard is truncated"):
        list(strict)


def test_shards_stream_over_http_with_workers(root: Path, http_root: str) -> None:
    local = _train_epoch(root, world=1, workers=2, batch=3)
    remote = _train_epoch(http_root, world=1, workers=2, batch=3)
    for a_rank, b_rank in zip(local, remote, strict=True):
        for a, b in zip(a_rank, b_rank, strict=True):
            assert _equal(a, b)
    config = LoaderConfig(http_root, streaming=True)
    data = PreparedData(config)
    assert data.manifest == Manifest.read(root)
    evaluated = list(build_eval_loader(data.dataset("train", mode="eval"), config, batch_size=24))
    assert _rows(evaluated) == [(i, f"obj{i:04d}") for i in range(24)]


def test_urls_that_cannot_be_opened_are_named(root: Path, http_root: str) -> None:
    with pytest.raises(PreparedDataError, match=rf"{http_root}/nowhere/manifest\.json cannot be opened"):
        PreparedData(LoaderConfig(f"{http_root}/nowhere", streaming=True))
    with pytest.raises(ValueError, match=r"is a URL, which only the streaming loader reads"):
        LoaderConfig(http_root)
    dataset = StreamingShardDataset(http_root, "train", mode="eval", on_corrupt="raise", manifest=Manifest.read(root))
    dataset.location = f"{http_root}/gone"
    with pytest.raises(ShardCorruptError, match=rf"{http_root}/gone/train-000000\.tar cannot be opened"):
        list(dataset)


def test_locations_join_and_name_alike_for_folders_and_urls() -> None:
    from crossmost_data.loader.remote import is_url, join_location, location_name

    assert (is_url("s3://bucket/set"), is_url("/data/set"), is_url("data/a://b")) == (True, False, False)
    assert join_location("s3://bucket/sets/modelnet40/", "manifest.json") == "s3://bucket/sets/modelnet40/manifest.json"
    assert join_location("/data/modelnet40", "train-000000.tar") == "/data/modelnet40/train-000000.tar"
    assert location_name("s3://bucket/sets/modelnet40/") == "modelnet40"
    assert location_name("/data/modelnet40") == "modelnet40"
