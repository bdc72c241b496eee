"""Streaming loader for corpora too large for random access, built on webdataset (user-needs theme 10).

Shards are split explicitly: by rank (``rank::world_size`` of the epoch's shard order) and then by loader worker
(``worker::num_workers``); the split is checked up front, and too few shards for ``world_size × num_workers``
readers is an error instead of a hang. Samples go through the same :class:`SampleBuilder` as the map-style
dataset, with the same global index (shard offset from the manifest + position in the shard), so a sample gets
the same view and augmentations for the same ``(seed, epoch)`` whichever loader reads it.

Two regimes:
    * training (``exact=False``, the default for ``mode="train"``): the shard order is shuffled per epoch with
      ``(seed, epoch)``, each worker cycles over its shards and every worker yields exactly
      ``total // (world_size × num_workers)`` samples (webdataset's ``with_epoch``), so all ranks make the same
      number of steps; samples pass a shuffle buffer seeded by ``(seed, epoch, rank, worker)``.
    * evaluation (``exact=True``, the default for ``mode="eval"``): one pass, in order, every sample exactly once
      across all ranks and workers (ranks may differ in length; gather and count each sample once).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Collection, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import IterableDataset, get_worker_info

from crossmost_data.loader.config import AugmentConfig
from crossmost_data.loader.sample import LoaderMode, resolve_label
from crossmost_data.loader.split import OnCorrupt, ShardSplit
from crossmost_data.loader.views import ViewPolicy
from crossmost_data.shards import ShardCorruptError, decode_sample, decode_view

__all__ = ["StreamingShardDataset", "check_shard_split"]

logger = logging.getLogger(__name__)


def check_shard_split(num_shards: int, world_size: int, num_workers: int) -> None:
    """Refuse a split that would leave a reader without shards (webdataset#188: empty workers hang training).

    Raises:
        ValueError: ``num_shards < world_size × max(1, num_workers)``; the message gives the numbers and the fixes.
    """
    readers = world_size * max(1, num_workers)
    if num_shards < readers:
        raise ValueError(
            f"streaming needs at least one shard per reader: {num_shards} shard(s) < {world_size} process(es) × "
            f"{max(1, num_workers)} worker(s) = {readers}; use fewer loader workers, write smaller shards, or use the "
            "map-style ShardDataset"
        )


def _log_and_continue(error: Exception) -> bool:
    logger.warning("skipping damaged streaming data: %s", error)
    return True


def _reraise(error: Exception) -> bool:
    raise error


class StreamingShardDataset(ShardSplit, IterableDataset[dict[str, Any]]):
    """An ``IterableDataset`` over the shards of one split, read sequentially with webdataset.

    Args:
        root: The prepared dataset folder.
        split: Split name.
        mode: ``"train"`` or ``"eval"`` (same dicts as :class:`ShardDataset`).
        rank: This process's rank.
        world_size: Number of processes.
        num_workers: ``num_workers`` of the ``DataLoader`` that will read this dataset (0 = in-process).
        exact: One exact pass (``True``) or fixed-length repeated epochs (``False``); ``None`` = ``mode == "eval"``.
        shuffle_buffer: Samples held by the training shuffle buffer (0 disables it).
        view_policy, fixed_view, num_points, image_size, views_subset, seed, augment, use_colors: As for
            :class:`ShardDataset`.
        on_corrupt: ``"skip"`` logs a damaged shard or sample (naming the shard) and goes on; ``"raise"`` stops.

    Raises:
        ValueError: Fewer shards than ``world_size × num_workers``, or an inconsistent setting.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str,
        *,
        mode: LoaderMode = "train",
        rank: int = 0,
        world_size: int = 1,
        num_workers: int = 0,
        exact: bool | None = None,
        shuffle_buffer: int = 1000,
        view_policy: ViewPolicy | None = None,
        fixed_view: int = 0,
        num_points: int | None = None,
        image_size: int | None = None,
        views_subset: int | None = None,
        seed: int = 0,
        on_corrupt: OnCorrupt = "skip",
        augment: AugmentConfig | None = None,
        use_colors: bool = False,
        train_outputs: Collection[str] | None = None,
    ) -> None:
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, world_size); got rank={rank}, world_size={world_size}")
        self.rank, self.world_size, self.num_workers = rank, world_size, num_workers
        super().__init__(
            root,
            split,
            mode=mode,
            view_policy=view_policy,
            fixed_view=fixed_view,
            num_points=num_points,
            image_size=image_size,
            views_subset=views_subset,
            seed=seed,
            on_corrupt=on_corrupt,
            augment=augment,
            use_colors=use_colors,
            train_outputs=train_outputs,
        )
        entries = self.manifest.shards(split)
        self.exact = (mode == "eval") if exact is None else exact
        self.shuffle_buffer = shuffle_buffer
        self._paths = [str(self.root / entry.file) for entry in entries]
        self._counts = [entry.num_samples for entry in entries]
        self._offsets = np.concatenate([[0], np.cumsum(self._counts)[:-1]]).astype(int).tolist()
        self.total_samples = int(sum(self._counts))

    def _check_manifest(self) -> None:
        check_shard_split(len(self.manifest.shards(self.split)), self.world_size, self.num_workers)

    # -- sizes ------------------------------------------------------------------------------------------------

    @property
    def samples_per_worker(self) -> int:
        """Training: samples each worker yields per epoch, ``total // (world_size × max(1, num_workers))``."""
        return self.total_samples // (self.world_size * max(1, self.num_workers))

    def __len__(self) -> int:
        """Samples this rank yields per epoch (exact mode: the samples of its shards, as the manifest counts them)."""
        if self.exact:
            return sum(self._counts[i] for i in self._rank_shards(self.epoch))
        return self.samples_per_worker * max(1, self.num_workers)

    # -- splitting --------------------------------------------------------------------------------------------

    def _epoch_order(self, epoch: int) -> list[int]:
        order = list(range(len(self._paths)))
        if not self.exact:
            rng = np.random.default_rng([self.seed, epoch])  # same on every rank: a deterministic shuffle
            order = [order[i] for i in rng.permutation(len(order))]
        return order

    def _rank_shards(self, epoch: int) -> list[int]:
        return self._epoch_order(epoch)[self.rank :: self.world_size]  # the node splitter

    def _worker_shards(self, epoch: int, worker: int, num_workers: int) -> list[int]:
        return self._rank_shards(epoch)[worker::num_workers]  # the worker splitter

    # -- pipeline ---------------------------------------------------------------------------------------------

    def _read(self, shards: list[int], epoch: int, worker: int) -> Iterator[tuple[int, int, dict[str, Any]]]:
        """(global index, pass, raw sample) for the worker's shards: one pass (exact) or endless reshuffled passes."""
        from webdataset.tariterators import tarfile_samples

        handler = _log_and_continue if self.on_corrupt == "skip" else _reraise
        repeat = 0
        while True:
            order = shards
            if not self.exact and repeat > 0:
                rng = np.random.default_rng([self.seed, epoch, self.rank, worker, repeat])
                order = [shards[i] for i in rng.permutation(len(shards))]
            produced = 0
            for shard in order:
                samples = tarfile_samples(iter([{"url": self._paths[shard]}]), handler=handler)
                count = 0
                for position, files in enumerate(samples):
                    count = position + 1
                    yield self._offsets[shard] + position, repeat, files
                produced += count
                if count != self._counts[shard]:
                    # a tar cut at a block boundary ends silently: only the manifest count reveals it
                    handler(
                        ShardCorruptError(
                            f"{self._paths[shard]}: {count} sample(s) read, the manifest lists {self._counts[shard]} "
                            "(truncated or damaged shard)"
                        )
                    )
            if self.exact:
                return
            if produced == 0:
                names = ", ".join(Path(self._paths[i]).name for i in shards)
                raise ShardCorruptError(
                    f"no readable sample in the shards of rank {self.rank} worker {worker}: {names}"
                )
            repeat += 1

    def _shuffle(self, items: Iterable[Any], epoch: int, worker: int) -> Iterator[Any]:
        if self.exact or self.shuffle_buffer <= 1:
            yield from items
            return
        rng = np.random.default_rng([self.seed, epoch, self.rank, worker, 2**31])
        buffer: list[Any] = []
        for item in items:
            if len(buffer) < self.shuffle_buffer:
                buffer.append(item)
                continue
            slot = int(rng.integers(0, len(buffer)))
            buffer[slot], item = item, buffer[slot]
            yield item
        while buffer:
            yield buffer.pop(int(rng.integers(0, len(buffer))))

    def _build(self, item: tuple[int, int, dict[str, Any]], epoch: int) -> dict[str, Any]:
        index, repeat, files = item
        source = str(files.get("__url__", "shard"))
        decoded = decode_sample(files, source=source)
        if len(decoded.views) < self.num_views:
            raise ShardCorruptError(
                f"{source}: sample {decoded.uid!r} has {len(decoded.views)} views, {self.num_views} needed"
            )
        try:
            label = resolve_label(decoded.meta, self.manifest.class_names, where=f"{source}: sample {decoded.uid!r}")
        except ValueError as error:
            raise ShardCorruptError(str(error)) from error

        def load_view(view: int) -> Any:
            return decode_view(decoded.views[view], source=f"{source}: sample {decoded.uid!r} view {view}")

        return self.builder(
            index=index,
            uid=decoded.uid,
            label=label,
            points=decoded.points,
            load_view=load_view,
            epoch=epoch,
            repeat=repeat,
        )

    def _built(self, items: Iterable[tuple[int, int, dict[str, Any]]], epoch: int) -> Iterator[dict[str, Any]]:
        for item in items:
            try:
                yield self._build(item, epoch)
            except (ShardCorruptError, ValueError) as error:
                if self.on_corrupt == "raise":
                    raise
                logger.warning("skipping a damaged sample: %s", error)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        import webdataset as wds

        info = get_worker_info()
        worker, num_workers = (0, 1) if info is None else (info.id, info.num_workers)
        if num_workers != max(1, self.num_workers):
            raise ValueError(
                f"StreamingShardDataset was built for num_workers={self.num_workers} but is read by {num_workers} "
                "reader(s); pass the DataLoader's num_workers to the dataset"
            )
        epoch = self.epoch
        shards = self._worker_shards(epoch, worker, num_workers)
        pipeline = wds.DataPipeline(
            functools.partial(self._read, shards, epoch, worker),
            functools.partial(self._shuffle, epoch=epoch, worker=worker),
            functools.partial(self._built, epoch=epoch),
        )
        if not self.exact:
            pipeline = pipeline.with_epoch(self.samples_per_worker)
        return iter(pipeline)
