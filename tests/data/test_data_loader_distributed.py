"""Sampling across processes and workers: exact evaluation and equal training steps."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from crossmost_data.format import AtomicTarWriter, encode_sample, shard_name
from crossmost_data.format.manifest import Manifest, ShardEntry
from crossmost_data.loader import (
    TRAIN_KEYS,
    AugmentConfig,
    ImageAugmentConfig,
    MaskConfig,
    ShardDataset,
    ShardedEvalSampler,
    build_dataloader,
    set_loader_epoch,
)

CLASSES = ["a", "b"]
AUGMENT = AugmentConfig(
    image=ImageAugmentConfig(rand_augment=None), mask=MaskConfig(mask_patch_size=8, model_patch_size=4)
)


def write_dataset(root: Path, *, shards: int = 4, per_shard: int = 5, size: int = 16, points: int = 32) -> None:
    """``shards × per_shard`` samples of split "train" (2 views each) and their manifest."""
    rng = np.random.default_rng(0)
    entries = []
    index = 0
    for s in range(shards):
        with AtomicTarWriter(root / shard_name("train", s)) as writer:
            for _ in range(per_shard):
                uid = f"s{index:03d}"
                views = [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(2)]
                meta = {"class_name": CLASSES[index % 2], "source": uid}
                writer.write(uid, encode_sample(uid, rng.normal(size=(points, 3)), views, meta))
                index += 1
        assert writer.info is not None
        entries.append(ShardEntry(writer.info.path.name, writer.info.num_samples, writer.info.sha256))
    Manifest("test", CLASSES, {"train": entries}, num_views=2, image_size=size, points_per_sample=points).write(root)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dist")
    write_dataset(path)
    return path


@pytest.mark.parametrize("contiguous", [True, False])
def test_eval_sampler_covers_every_index_once(contiguous: bool) -> None:
    for length in (0, 1, 7, 20):
        for world in (1, 2, 3):
            parts = [list(ShardedEvalSampler(length, world, r, contiguous=contiguous)) for r in range(world)]
            assert sorted(i for part in parts for i in part) == list(range(length))
            sizes = [len(ShardedEvalSampler(length, world, r, contiguous=contiguous)) for r in range(world)]
            assert sizes == [len(p) for p in parts]
            assert max(sizes) - min(sizes) <= 1
    assert list(ShardedEvalSampler(7, 2, 1)) == [3, 4, 5, 6]
    assert list(ShardedEvalSampler(7, 2, 1, contiguous=False)) == [1, 3, 5]
    with pytest.raises(ValueError, match="rank"):
        ShardedEvalSampler(7, 2, 2)


def test_eval_sampler_contiguous_parts_concatenate_in_rank_order() -> None:
    for n, world in ((10, 3), (2, 4), (0, 2), (7, 1)):
        parts = [list(ShardedEvalSampler(n, world, r)) for r in range(world)]
        flat = [i for p in parts for i in p]
        assert flat == list(range(n))
        assert max(len(p) for p in parts) - min(len(p) for p in parts) <= 1


def test_simulated_ranks_eval_exact_and_train_equal_steps(root: Path) -> None:
    dataset = ShardDataset(root, "train", mode="eval")
    eval_indices = []
    for rank in range(3):
        loader = build_dataloader(dataset, 4, shuffle=False, distributed=(rank, 3))
        assert isinstance(loader.sampler, ShardedEvalSampler)
        eval_indices += [int(i) for batch in loader for i in batch["index"]]
    assert sorted(eval_indices) == list(range(20))
    for drop_last in (False, True):
        steps, seen = [], []
        for rank in range(3):
            loader = build_dataloader(dataset, 4, shuffle=True, distributed=(rank, 3), seed=1, drop_last=drop_last)
            set_loader_epoch(loader, 2)
            batches = list(loader)
            steps.append(len(batches))
            seen += [int(i) for batch in batches for i in batch["index"]]
        assert len(set(steps)) == 1  # no rank waits for another at the end of the epoch
        if drop_last:  # 20 // 3 = 6 per rank, one full batch of 4 each
            assert steps == [1, 1, 1]
            assert len(seen) == len(set(seen)) == 12
        else:  # padded to 7 per rank: every index, two of them twice
            assert steps == [2, 2, 2]
            assert set(seen) == set(range(20))
            assert len(seen) == 21


_RANK_SCRIPT = """
import json, os, sys
import torch.distributed as dist
from crossmost_data.loader import (AugmentConfig, ImageAugmentConfig, MaskConfig, ShardDataset,
    build_dataloader, set_loader_epoch)

root, out = sys.argv[1], sys.argv[2]
dist.init_process_group("gloo", init_method="env://")
rank, world = dist.get_rank(), dist.get_world_size()
augment = AugmentConfig(
    image=ImageAugmentConfig(rand_augment=None), mask=MaskConfig(mask_patch_size=8, model_patch_size=4)
)
evaluation = ShardDataset(root, "train", mode="eval")
loader = build_dataloader(evaluation, 3, shuffle=False, num_workers=2, distributed=(rank, world))
eval_indices = [int(i) for batch in loader for i in batch["index"]]
training = ShardDataset(root, "train", mode="train", augment=augment, seed=4)
loader = build_dataloader(training, 3, shuffle=True, num_workers=2, distributed=(rank, world), seed=4)
set_loader_epoch(loader, 1)
train_steps = sum(1 for _ in loader)
result = {"rank": rank, "eval": eval_indices, "train_steps": train_steps}
gathered = [None] * world
dist.all_gather_object(gathered, result)
if rank == 0:
    with open(out, "w") as handle:
        json.dump(gathered, handle)
dist.barrier()
dist.destroy_process_group()
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_two_processes_with_gloo_cover_every_sample_once(root: Path, tmp_path: Path) -> None:
    script = tmp_path / "rank.py"
    script.write_text(textwrap.dedent(_RANK_SCRIPT))
    out = tmp_path / "result.json"
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()), "WORLD_SIZE": "2"}
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(root), str(out)],
            env={**env, "RANK": str(rank)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for rank in range(2)
    ]
    logs = [proc.communicate(timeout=240)[0].decode(errors="replace") for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], "\n".join(logs)
    results = json.loads(out.read_text())
    assert sorted(i for r in results for i in r["eval"]) == list(range(20))  # no duplicate, no gap
    assert [len(r["eval"]) for r in results] == [10, 10]
    assert results[0]["train_steps"] == results[1]["train_steps"] == 4  # 10 samples per rank, batches of 3


def test_dataset_checks_its_settings(root: Path) -> None:
    with pytest.raises(ValueError, match="on_corrupt must be"):
        ShardDataset(root, "train", mode="eval", on_corrupt="ignore")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="use_colors=True needs an xyzrgb dataset"):
        ShardDataset(root, "train", mode="eval", use_colors=True)
    loaded = ShardDataset(root, "train", mode="eval", num_points=24)
    assert (loaded.image_size, loaded.num_points, loaded.num_classes) == (16, 24, 2)


@pytest.mark.slow
def test_spawned_persistent_worker_matches_in_process_loading(root: Path) -> None:
    dataset = ShardDataset(root, "train", mode="train", augment=AUGMENT, seed=2)
    in_process = build_dataloader(dataset, 5, shuffle=True, num_workers=0, seed=2)
    spawned = build_dataloader(
        dataset, 5, shuffle=True, num_workers=1, seed=2, multiprocessing_context="spawn", persistent_workers=True
    )
    for epoch in (0, 1):  # the second epoch reaches the persistent worker through shared memory
        set_loader_epoch(in_process, epoch)
        set_loader_epoch(spawned, epoch)
        for a, b in zip(in_process, spawned, strict=True):
            assert a["uid"] == b["uid"]
            for key in TRAIN_KEYS[2:]:
                if key == "replaces":
                    assert a[key] == b[key]
                else:
                    torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
