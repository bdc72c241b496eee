"""ShardDataset over shards written by the test: sample contract, views, epochs, workers and damaged shards."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from crossmost_data.format import AtomicTarWriter, ShardCorruptError, encode_sample, shard_name
from crossmost_data.format.manifest import Manifest, ShardEntry
from crossmost_data.format.reader import scan_shard
from crossmost_data.loader import (
    EVAL_KEYS,
    TRAIN_KEYS,
    AugmentConfig,
    EvalImageTransform,
    MaskConfig,
    PointAugmentConfig,
    ShardDataset,
    build_dataloader,
    set_loader_epoch,
)

CLASSES = ["chair", "table", "lamp"]
AUGMENT = AugmentConfig(mask=MaskConfig(mask_patch_size=16, model_patch_size=8))


def _view(index: int, view: int, size: int) -> np.ndarray:
    """A view whose red channel encodes the view number and green channel the sample, with some texture."""
    rng = np.random.default_rng(1000 * index + view)
    image = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
    image[: size // 2, :, 0] = 40 * view
    image[: size // 2, :, 1] = index
    return image


def write_dataset(
    root: Path,
    *,
    shards: int = 4,
    per_shard: int = 5,
    num_views: int = 3,
    size: int = 32,
    points: int = 64,
    layout: str = "xyz",
) -> Manifest:
    """Write ``shards × per_shard`` samples of split "train" in the on-disk format and their manifest."""
    rng = np.random.default_rng(0)
    entries = []
    index = 0
    for s in range(shards):
        with AtomicTarWriter(root / shard_name("train", s)) as writer:
            for _ in range(per_shard):
                uid = f"obj{index:04d}"
                class_name = CLASSES[index % len(CLASSES)]
                xyz = rng.normal(size=(points, 3)) * [1.0, 2.0, 0.5] + index
                cloud = xyz if layout == "xyz" else np.concatenate([xyz, rng.uniform(0, 1, (points, 3))], axis=1)
                views = [_view(index, v, size) for v in range(num_views)]
                meta = {
                    "class_name": class_name,
                    "label": CLASSES.index(class_name),
                    "source": f"{class_name}/{uid}.off",
                }
                writer.write(uid, encode_sample(uid, cloud, views, meta))
                index += 1
        assert writer.info is not None
        entries.append(ShardEntry(writer.info.path.name, writer.info.num_samples, writer.info.sha256))
    manifest = Manifest(
        dataset="test",
        class_names=list(CLASSES),
        splits={"train": entries},
        num_views=num_views,
        image_size=size,
        points_per_sample=points,
        point_layout=layout,  # type: ignore[arg-type]
    )
    manifest.write(root)
    return manifest


@pytest.fixture(scope="module")
def dataset_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("shards")
    write_dataset(root)
    return root


def test_train_samples_have_the_contract_keys_shapes_and_dtypes(dataset_root: Path) -> None:
    dataset = ShardDataset(dataset_root, "train", mode="train", augment=AUGMENT)
    assert len(dataset) == 20
    assert dataset.class_names == CLASSES
    assert dataset.num_classes == 3
    sample = dataset[7]
    assert tuple(sample) == TRAIN_KEYS
    assert sample["index"] == 7
    assert sample["uid"] == "obj0007"
    assert sample["label"] == CLASSES.index("table")
    for key in ("image_weak", "image_strong"):
        assert sample[key].shape == (3, 32, 32)
        assert sample[key].dtype == torch.float32
    assert sample["image_mask"].shape == (4, 4)
    assert sample["image_mask"].dtype == torch.bool
    assert int(sample["image_mask"].sum()) == 2 * 4  # ceil(4 blocks × 0.3) = 2 blocks of 2×2 patches
    for key in ("points_weak", "points_strong"):
        assert sample[key].shape == (64, 3)
        assert sample[key].dtype == torch.float32
    batch = next(iter(build_dataloader(dataset, 4, shuffle=False)))
    assert batch["index"].dtype == torch.int64
    assert batch["label"].dtype == torch.int64
    assert batch["uid"] == ["obj0000", "obj0001", "obj0002", "obj0003"]
    assert batch["image_mask"].shape == (4, 4, 4)
    assert batch["points_strong"].shape == (4, 64, 3)


def test_labels_follow_the_manifest_class_index(dataset_root: Path) -> None:
    dataset = ShardDataset(dataset_root, "train", mode="eval")
    np.testing.assert_array_equal(dataset.labels, [i % 3 for i in range(20)])
    assert [dataset[i]["label"] for i in (0, 1, 2, 5)] == [0, 1, 2, 2]
    assert dataset.uids[:2] == ["obj0000", "obj0001"]


def test_eval_fixed_view_is_view_zero_and_points_are_normalised(dataset_root: Path) -> None:
    dataset = ShardDataset(dataset_root, "train", mode="eval")
    sample = dataset[4]
    assert tuple(sample) == EVAL_KEYS
    expected = EvalImageTransform(32)(Image.fromarray(_view(4, 0, 32)))
    torch.testing.assert_close(sample["image"], expected, rtol=0, atol=0)
    assert sample["points"].shape == (64, 3)
    assert float(sample["points"].norm(dim=1).max()) == pytest.approx(1.0, abs=1e-5)
    other = ShardDataset(dataset_root, "train", mode="eval", fixed_view=2, image_size=16)
    torch.testing.assert_close(other[4]["image"], EvalImageTransform(16)(Image.fromarray(_view(4, 2, 32))))


def test_eval_all_views(dataset_root: Path) -> None:
    dataset = ShardDataset(dataset_root, "train", mode="eval", view_policy="all")
    sample = dataset[3]
    assert sample["views"].shape == (3, 3, 32, 32)
    for v in range(3):
        torch.testing.assert_close(sample["views"][v], EvalImageTransform(32)(Image.fromarray(_view(3, v, 32))))
    torch.testing.assert_close(sample["image"], sample["views"][0])
    subset = ShardDataset(dataset_root, "train", mode="eval", view_policy="all", views_subset=2)
    assert subset[3]["views"].shape == (2, 3, 32, 32)
    batch = next(iter(build_dataloader(subset, 5, shuffle=False)))
    assert batch["views"].shape == (5, 2, 3, 32, 32)


def _chosen_views(dataset: ShardDataset) -> list[int]:
    views = []
    for i in range(len(dataset)):
        image = dataset[i]["image"]
        candidates = [EvalImageTransform(32)(Image.fromarray(_view(i, v, 32))) for v in range(dataset.num_views)]
        matches = [v for v, c in enumerate(candidates) if torch.equal(image, c)]
        assert len(matches) == 1
        views.append(matches[0])
    return views


def test_random_view_is_a_function_of_seed_epoch_index(dataset_root: Path) -> None:
    dataset = ShardDataset(dataset_root, "train", mode="eval", view_policy="random", seed=3)
    epoch0 = _chosen_views(dataset)
    assert _chosen_views(dataset) == epoch0
    dataset.set_epoch(1)
    epoch1 = _chosen_views(dataset)
    assert epoch1 != epoch0
    assert set(epoch0) == {0, 1, 2}
    subset = ShardDataset(dataset_root, "train", mode="eval", view_policy="random", views_subset=1)
    assert set(_chosen_views(subset)) == {0}


def _epoch_batches(dataset: ShardDataset, num_workers: int, epoch: int) -> list[dict[str, torch.Tensor]]:
    loader = build_dataloader(dataset, 6, shuffle=True, num_workers=num_workers, seed=11)
    set_loader_epoch(loader, epoch)
    return list(loader)


def test_training_batches_do_not_depend_on_the_number_of_workers(dataset_root: Path) -> None:
    dataset = ShardDataset(dataset_root, "train", mode="train", augment=AUGMENT, seed=5)
    in_process = _epoch_batches(dataset, 0, epoch=1)
    with_workers = _epoch_batches(dataset, 2, epoch=1)
    assert len(in_process) == len(with_workers) == 4
    for a, b in zip(in_process, with_workers, strict=True):
        assert a["uid"] == b["uid"]
        for key in TRAIN_KEYS:
            if key in ("uid", "replaces"):
                assert a[key] == b[key]
            else:
                torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    other_epoch = _epoch_batches(dataset, 0, epoch=2)
    assert sorted(torch.cat([b["index"] for b in other_epoch]).tolist()) == list(range(20))
    by_index = {int(i): b["image_weak"][k] for b in in_process for k, i in enumerate(b["index"])}
    changed = [
        not torch.equal(by_index[int(i)], b["image_weak"][k]) for b in other_epoch for k, i in enumerate(b["index"])
    ]
    assert any(changed)


def test_persistent_workers_see_set_epoch(dataset_root: Path) -> None:
    dataset = ShardDataset(dataset_root, "train", mode="eval", view_policy="random", seed=3)
    loader = build_dataloader(dataset, 20, shuffle=False, num_workers=1, persistent_workers=True)
    first = next(iter(loader))["image"]
    set_loader_epoch(loader, 1)
    second = next(iter(loader))["image"]
    dataset.set_epoch(1)
    torch.testing.assert_close(second, torch.stack([dataset[i]["image"] for i in range(20)]), rtol=0, atol=0)
    assert not torch.equal(first, second)


def test_num_points_subsamples_deterministically(dataset_root: Path) -> None:
    dataset = ShardDataset(dataset_root, "train", mode="eval", num_points=32)
    first = dataset[2]["points"]
    assert first.shape == (32, 3)
    torch.testing.assert_close(first, dataset[2]["points"], rtol=0, atol=0)
    again = ShardDataset(dataset_root, "train", mode="eval", num_points=32)[2]["points"]
    torch.testing.assert_close(first, again, rtol=0, atol=0)  # the same subset in another process or instance
    assert len(np.unique(first.numpy(), axis=0)) == 32  # drawn without replacement
    train = ShardDataset(dataset_root, "train", mode="train", num_points=32, augment=AUGMENT)
    assert train[2]["points_weak"].shape == (32, 3)
    with pytest.raises(ValueError, match="num_points"):
        ShardDataset(dataset_root, "train", mode="eval", num_points=65)


def test_strong_points_upsampled_beyond_the_weak_count(dataset_root: Path) -> None:
    augment = AugmentConfig(points=PointAugmentConfig(upsample_to=96), mask=AUGMENT.mask)
    sample = ShardDataset(dataset_root, "train", augment=augment)[0]
    assert sample["points_weak"].shape == (64, 3)
    assert sample["points_strong"].shape == (96, 3)


def test_bad_settings_have_clear_errors(dataset_root: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="view_policy='all' is for evaluation"):
        ShardDataset(dataset_root, "train", mode="train", view_policy="all", augment=AUGMENT)
    with pytest.raises(ValueError, match="views_subset"):
        ShardDataset(dataset_root, "train", views_subset=4, augment=AUGMENT)
    with pytest.raises(ValueError, match="mask_patch_size=32"):
        ShardDataset(dataset_root, "train", image_size=48)
    with pytest.raises(ValueError, match="xyzrgb"):
        ShardDataset(dataset_root, "train", mode="eval", use_colors=True)
    with pytest.raises(ValueError, match="split 'test'"):
        ShardDataset(dataset_root, "test", mode="eval")
    with pytest.raises(ValueError, match="no manifest"):
        ShardDataset(tmp_path, "train")


def test_colours_are_returned_on_request(tmp_path: Path) -> None:
    write_dataset(tmp_path, shards=1, per_shard=2, layout="xyzrgb")
    sample = ShardDataset(tmp_path, "train", mode="eval", use_colors=True)[1]
    assert sample["points"].shape == (64, 6)
    assert float(sample["points"][:, 3:].min()) >= 0.0
    assert float(sample["points"][:, 3:].max()) <= 1.0


def test_truncated_shard_is_skipped_and_named(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_dataset(tmp_path)
    damaged = tmp_path / "train-000002.tar"
    data = damaged.read_bytes()
    damaged.write_bytes(data[: len(data) // 2])
    with caplog.at_level(logging.WARNING):
        dataset = ShardDataset(tmp_path, "train", mode="eval")
    assert "train-000002.tar" in caplog.text
    assert [s.shard for s in dataset.skipped] == ["train-000002.tar"]
    skipped = dataset.skipped[0]
    assert "truncated" in skipped.reason
    assert len(dataset) == 20 - skipped.count
    assert 1 <= skipped.count <= 5
    kept = set(dataset.uids)
    assert {f"obj{i:04d}" for i in range(10)} <= kept
    assert {f"obj{i:04d}" for i in range(15, 20)} <= kept
    assert all(f"obj{i:04d}" not in kept for i in range(15 - skipped.count, 15))
    for i in range(len(dataset)):
        assert dataset[i]["uid"] == dataset.uids[i]
    with pytest.raises(ShardCorruptError, match=r"train-000002\.tar"):
        ShardDataset(tmp_path, "train", mode="eval", on_corrupt="raise")


def test_missing_and_tampered_shards(tmp_path: Path) -> None:
    write_dataset(tmp_path)
    (tmp_path / "train-000001.tar").unlink()
    dataset = ShardDataset(tmp_path, "train", mode="eval")
    assert len(dataset) == 15
    assert dataset.skipped[0].shard == "train-000001.tar"
    assert "missing" in dataset.skipped[0].reason
    assert dataset.skipped[0].count == 5
    tampered = tmp_path / "train-000003.tar"
    data = bytearray(tampered.read_bytes())
    offset, _ = scan_shard(tampered, 3).samples[0].views[0]
    data[offset : offset + 8] = b"NOTAPNG!"  # the PNG signature of a view: the tar structure is intact
    tampered.write_bytes(bytes(data))
    checked = ShardDataset(tmp_path, "train", mode="eval", verify_checksums=True)
    assert len(checked) == 10
    assert any(s.shard == "train-000003.tar" and "sha256" in s.reason for s in checked.skipped)
    unchecked = ShardDataset(tmp_path, "train", mode="eval")
    assert len(unchecked) == 15  # without the checksum the damage shows only when the sample is read
    stand_in = unchecked[10]  # obj0015's view is damaged: the next readable sample is read in its place
    assert stand_in["index"] == 10
    assert stand_in["uid"] == "obj0016"
    assert "train-000003.tar: sample 'obj0015': member 'view00.png' is damaged" in stand_in["replaces"]
    assert unchecked[11]["replaces"] == ""
