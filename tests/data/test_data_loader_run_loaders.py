"""The loaders of a training run (``build_train_loader``, ``build_eval_loader``) and the folder opened once
(``PreparedData``): batch order and contents equal those of the construction crossmost-train used before they
moved here (a plain ``DataLoader`` over a ``GlobalBatchSampler`` / ``ShardedEvalSampler``), and known answers for
the order of a fixed seed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader

from crossmost_data.format.manifest import Manifest
from crossmost_data.loader import (
    GlobalBatchSampler,
    LoaderConfig,
    PreparedData,
    PreparedDataError,
    ShardedEvalSampler,
    build_eval_loader,
    build_train_loader,
)

from .test_data_loader_dataset import AUGMENT, CLASSES, write_dataset


@pytest.fixture(scope="module")
def dataset_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("run-loaders")
    write_dataset(root)  # 20 samples of split "train" in 4 shards
    return root


def _old_train_loader(
    dataset: Any, *, batch_size: int, accum: int, world: int, rank: int, seed: int, workers: int
) -> Any:
    """The training loader exactly as crossmost-train built it before the move (the reference)."""
    sampler = GlobalBatchSampler(
        len(dataset), batch_size=batch_size, grad_accum_steps=accum, num_replicas=world, rank=rank, seed=seed
    )
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        drop_last=True,
        pin_memory=False,
        persistent_workers=False,
    )
    return loader, sampler


def _old_eval_loader(dataset: Any, *, batch_size: int, world: int, rank: int, workers: int) -> Any:
    sampler = ShardedEvalSampler(len(dataset), world, rank)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers, pin_memory=False)


def _assert_same_batches(new: list[dict[str, Any]], old: list[dict[str, Any]]) -> None:
    assert len(new) == len(old) > 0
    for a, b in zip(new, old, strict=True):
        assert list(a) == list(b)
        for key in a:
            if isinstance(a[key], torch.Tensor):
                assert a[key].dtype == b[key].dtype, key
                assert torch.equal(a[key], b[key]), key
            else:
                assert a[key] == b[key], key


@pytest.mark.parametrize(("world", "accum"), [(1, 1), (2, 2)])
def test_train_loader_batches_equal_the_former_construction(dataset_root: Path, world: int, accum: int) -> None:
    config = LoaderConfig(str(dataset_root), seed=3, num_workers=0)
    data = PreparedData(config)
    for rank in range(world):
        dataset = data.dataset("train", mode="train", augment=AUGMENT, num_points=32)
        reference = data.dataset("train", mode="train", augment=AUGMENT, num_points=32)
        loader, sampler = build_train_loader(
            dataset, config, batch_size=2, grad_accum_steps=accum, num_replicas=world, rank=rank
        )
        old_loader, old_sampler = _old_train_loader(
            reference, batch_size=2, accum=accum, world=world, rank=rank, seed=3, workers=0
        )
        assert sampler.steps_per_epoch == old_sampler.steps_per_epoch
        for epoch, start in ((0, 0), (1, 1)):
            for s, d in ((sampler, dataset), (old_sampler, reference)):
                s.set_epoch(epoch, start)
                d.set_epoch(epoch)
            _assert_same_batches(list(loader), list(old_loader))


def test_train_loader_order_is_a_known_answer_and_splits_global_batches(dataset_root: Path) -> None:
    config = LoaderConfig(str(dataset_root), seed=3)
    dataset = PreparedData(config).dataset("train", mode="train", augment=AUGMENT, train_outputs=("image_weak",))
    loader, sampler = build_train_loader(dataset, config, batch_size=4)
    sampler.set_epoch(0)
    single = [batch["index"].tolist() for batch in loader]
    expected = torch.randperm(20, generator=torch.Generator().manual_seed(3 * 1_000_003)).tolist()
    assert single == [expected[i : i + 4] for i in range(0, 20, 4)]
    # Two processes with two micro-steps each see the same global batches of 8 (20 // 8 = 2 steps, rest dropped).
    shares = []
    for rank in range(2):
        split, split_sampler = build_train_loader(
            dataset, config, batch_size=2, grad_accum_steps=2, num_replicas=2, rank=rank
        )
        split_sampler.set_epoch(0)
        shares.append([batch["index"].tolist() for batch in split])
    for step in range(2):
        union = sorted(i for rank in range(2) for micro in shares[rank][2 * step : 2 * step + 2] for i in micro)
        assert union == sorted(expected[8 * step : 8 * step + 8])


def test_eval_loader_batches_equal_the_former_construction_and_cover_each_sample_once(dataset_root: Path) -> None:
    config = LoaderConfig(str(dataset_root), seed=5)
    data = PreparedData(config)
    dataset = data.dataset("train", mode="eval", view_policy="all", fixed_view=1)
    seen = []
    for rank in range(3):
        new = list(build_eval_loader(dataset, config, batch_size=3, num_replicas=3, rank=rank))
        _assert_same_batches(new, list(_old_eval_loader(dataset, batch_size=3, world=3, rank=rank, workers=0)))
        seen += [i for batch in new for i in batch["index"].tolist()]
    assert seen == list(range(20))


def test_too_small_a_dataset_for_one_global_batch_is_named(dataset_root: Path) -> None:
    config = LoaderConfig(str(dataset_root))
    dataset = PreparedData(config).dataset("train", mode="eval")
    with pytest.raises(ValueError, match=r"20 samples, fewer than one global batch of 24"):
        build_train_loader(dataset, config, batch_size=4, grad_accum_steps=3, num_replicas=2)


def test_the_manifest_is_read_once_for_every_dataset_of_the_folder(
    dataset_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[Path] = []
    real = Manifest.read.__func__  # type: ignore[attr-defined]

    def counting(cls: type[Manifest], directory: Any) -> Manifest:
        reads.append(Path(directory))
        return real(cls, directory)  # type: ignore[no-any-return]

    monkeypatch.setattr(Manifest, "read", classmethod(counting))
    data = PreparedData(LoaderConfig(str(dataset_root)))
    assert data.class_names == CLASSES
    train = data.dataset("train", mode="train", augment=AUGMENT)
    evaluation = data.dataset("train", mode="eval", view_policy="all")
    assert (len(train), len(evaluation)) == (20, 20)
    assert reads == [dataset_root]


def test_a_folder_that_cannot_serve_the_run_is_one_clear_error(dataset_root: Path, tmp_path: Path) -> None:
    with pytest.raises(PreparedDataError, match=r"manifest\.json is not valid: .*no manifest"):
        PreparedData(LoaderConfig(str(tmp_path)))
    data = PreparedData(LoaderConfig(str(dataset_root)))
    with pytest.raises(PreparedDataError, match=r"has no split 'test' \(it has train\)"):
        data.dataset("test", mode="eval")
    with pytest.raises(PreparedDataError, match=r"split 'train': .*points"):
        data.dataset("train", mode="eval", num_points=10_000)
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "manifest.json").write_text((dataset_root / "manifest.json").read_text())
    with pytest.raises(PreparedDataError, match=r"4 shard\(s\) of split 'train' are missing: train-000000\.tar"):
        PreparedData(LoaderConfig(str(copy))).dataset("train", mode="eval")
    edited = tmp_path / "edited"
    edited.mkdir()
    manifest = Manifest.read(dataset_root)
    manifest.class_names = list(reversed(CLASSES))
    (edited / "manifest.json").write_text(json.dumps(manifest.to_dict()))
    with pytest.raises(PreparedDataError, match=r"edited|not the list the shards were written with"):
        PreparedData(LoaderConfig(str(edited)))


def test_loader_config_refuses_bad_settings() -> None:
    with pytest.raises(ValueError, match="on_corrupt"):
        LoaderConfig(on_corrupt="ignore")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_unreadable"):
        LoaderConfig(max_unreadable=1.5)
    with pytest.raises(ValueError, match="num_workers"):
        LoaderConfig(num_workers=-1)
