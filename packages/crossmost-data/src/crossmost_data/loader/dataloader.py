"""``DataLoader`` factories with the right sampler for training and exact evaluation, single or multi-process.

:func:`build_train_loader` and :func:`build_eval_loader` are the loaders of a crossmost-train run (global batches
that do not depend on the number of processes or accumulation steps; every evaluation sample scored once), built
from the run's :class:`~crossmost_data.loader.LoaderConfig`. :func:`build_dataloader` is the general factory for
loops of one's own (``DistributedSampler`` order, seeded workers).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, IterableDataset, Sampler

from crossmost_data.loader.prepared import LoaderConfig
from crossmost_data.loader.samplers import GlobalBatchSampler, ShardedEvalSampler
from crossmost_data.loader.streaming import StreamingEpochs, StreamingShardDataset

__all__ = ["build_dataloader", "build_eval_loader", "build_train_loader", "seed_worker", "set_loader_epoch"]


def seed_worker(worker_id: int) -> None:
    """``worker_init_fn``: one intra-op thread per worker, and distinct global seeds per worker.

    The loader's own transforms never read the global generators (they use per-sample generators); seeding them
    here only keeps any third-party code in a worker from repeating the same numbers in every worker.
    """
    torch.set_num_threads(1)
    worker_seed = torch.initial_seed() % 2**32
    random.seed(worker_seed)
    np.random.seed(worker_seed)


def build_dataloader(
    dataset: Dataset[Any],
    batch_size: int,
    *,
    shuffle: bool,
    num_workers: int = 0,
    distributed: tuple[int, int] | None = None,
    seed: int = 0,
    drop_last: bool = False,
    persistent_workers: bool = False,
    pin_memory: bool = False,
    prefetch_factor: int | None = None,
    multiprocessing_context: str | None = None,
    collate_fn: Callable[[list[Any]], Any] | None = None,
) -> DataLoader[Any]:
    """Build the loader of a :class:`ShardDataset`.

    Samplers:
        * ``shuffle=True``: ``DistributedSampler(shuffle=True, seed=seed, drop_last=drop_last)``, also with one
          process (``(rank, world) = (0, 1)``), so the order of every epoch is a function of ``(seed, epoch)``
          and a resumed run sees the same order. Every rank makes the same number of steps: with
          ``drop_last=False`` the sampler pads each rank to ``ceil(N / world)`` samples by repeating the first
          indices of the permutation; with ``drop_last=True`` it drops the tail (``floor(N / world)`` per rank)
          and the loader drops incomplete batches.
        * ``shuffle=False`` and ``distributed``: :class:`ShardedEvalSampler` (exact, unpadded; ranks may differ by
          one sample).
        * ``shuffle=False`` alone: sequential order.
        * An ``IterableDataset`` brings its own splitting: no sampler.

    Call :func:`set_loader_epoch` at the start of every epoch.

    Args:
        dataset: The dataset.
        batch_size: Samples per batch and process.
        shuffle: Training order (True) or evaluation order (False).
        num_workers: Loader worker processes.
        distributed: ``(rank, world_size)``, or ``None`` for one process.
        seed: Seed of the shuffling and of the workers' global generators.
        drop_last: See above.
        persistent_workers: Keep workers alive between epochs (``set_epoch`` still reaches them).
        pin_memory: Pin batches for faster host-to-GPU copies.
        prefetch_factor: Batches prefetched per worker (``None``: PyTorch's default).
        multiprocessing_context: ``"fork"``, ``"spawn"`` or ``"forkserver"`` (``None``: the platform default).
        collate_fn: Batch collation (default ``torch.utils.data.default_collate``).

    Returns:
        The ``DataLoader``; its ``sampler`` is the sampler described above.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if num_workers < 0:
        raise ValueError(f"num_workers must be >= 0, got {num_workers}")
    rank, world = distributed if distributed is not None else (0, 1)
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"distributed must be (rank, world_size) with 0 <= rank < world_size, got {distributed}")
    sampler: Sampler[int] | None = None
    if not isinstance(dataset, IterableDataset):
        if shuffle:
            sampler = DistributedSampler(
                dataset, num_replicas=world, rank=rank, shuffle=True, seed=seed, drop_last=drop_last
            )
        elif distributed is not None:
            sampler = ShardedEvalSampler(len(dataset), world, rank)  # type: ignore[arg-type]
    generator = torch.Generator()
    generator.manual_seed(seed)
    extra: dict[str, Any] = {}
    if num_workers > 0:
        extra["persistent_workers"] = persistent_workers
        extra["worker_init_fn"] = seed_worker
        if prefetch_factor is not None:
            extra["prefetch_factor"] = prefetch_factor
        if multiprocessing_context is not None:
            extra["multiprocessing_context"] = multiprocessing_context
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        drop_last=drop_last,
        pin_memory=pin_memory,
        generator=generator,
        collate_fn=collate_fn,
        **extra,
    )


def build_train_loader(
    dataset: Dataset[Any],
    config: LoaderConfig,
    *,
    batch_size: int,
    grad_accum_steps: int = 1,
    num_replicas: int = 1,
    rank: int = 0,
    pin_memory: bool = False,
) -> tuple[DataLoader[Any], GlobalBatchSampler | StreamingEpochs]:
    """The training loader of one process: its share of each shuffled global batch.

    The sampler is a :class:`GlobalBatchSampler` seeded with ``config.seed``: the global batches are the same for
    any ``num_replicas × grad_accum_steps`` split, incomplete ones are dropped, and ``sampler.set_epoch(epoch,
    start_batch)`` resumes mid-epoch. The loader draws its workers' base seed from torch's global generator, as a
    plain ``DataLoader`` does (the samples themselves depend only on ``(seed, epoch, index)``).

    A :class:`StreamingShardDataset` brings its own order instead: the returned "sampler" is its
    :class:`StreamingEpochs` (same contract: ``steps_per_epoch``, ``batches_per_epoch``, ``set_epoch(epoch,
    start_batch)``), and the shards are dealt among the processes and ``config.num_workers`` workers.

    Args:
        dataset: The training dataset (a :class:`ShardDataset` in ``mode="train"`` or one of the same layout).
        config: Seed and worker processes.
        batch_size: Samples per process and micro-step.
        grad_accum_steps: Micro-steps per optimiser step.
        num_replicas: Number of processes.
        rank: This process.
        pin_memory: Pin batches for faster host-to-GPU copies.

    Returns:
        The loader and its sampler (``steps_per_epoch``, ``batches_per_epoch``, ``set_epoch``).

    Raises:
        ValueError: The dataset holds fewer samples than one global batch; a streamed one has fewer shards than
            processes × workers.
    """
    if isinstance(dataset, StreamingShardDataset):
        epochs = dataset.plan_training(
            batch_size=batch_size,
            grad_accum_steps=grad_accum_steps,
            num_replicas=num_replicas,
            rank=rank,
            num_workers=config.num_workers,
        )
        stream = DataLoader(
            dataset, batch_size=batch_size, num_workers=config.num_workers, drop_last=True, pin_memory=pin_memory
        )
        return stream, epochs
    sampler = GlobalBatchSampler(
        len(dataset),  # type: ignore[arg-type]
        batch_size=batch_size,
        grad_accum_steps=grad_accum_steps,
        num_replicas=num_replicas,
        rank=rank,
        seed=config.seed,
    )
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=config.num_workers,
        drop_last=True,
        pin_memory=pin_memory,
        persistent_workers=False,
    )
    return loader, sampler


def build_eval_loader(
    dataset: Dataset[Any],
    config: LoaderConfig,
    *,
    batch_size: int,
    num_replicas: int = 1,
    rank: int = 0,
    pin_memory: bool = False,
) -> DataLoader[Any]:
    """The evaluation loader of one process: a contiguous, unpadded block of the dataset
    (:class:`ShardedEvalSampler`), so that each sample is scored once across processes. A
    :class:`StreamingShardDataset` gives each process whole shards instead (each sample once as well).

    Args:
        dataset: The evaluation dataset.
        config: Worker processes.
        batch_size: Samples per batch and process.
        num_replicas: Number of processes.
        rank: This process.
        pin_memory: Pin batches for faster host-to-GPU copies.

    Raises:
        ValueError: A streamed dataset has fewer shards than processes.
    """
    if isinstance(dataset, StreamingShardDataset):
        dataset.plan_evaluation(num_replicas=num_replicas, rank=rank)
        return DataLoader(dataset, batch_size=batch_size, num_workers=config.num_workers, pin_memory=pin_memory)
    sampler = ShardedEvalSampler(len(dataset), num_replicas, rank)  # type: ignore[arg-type]
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=config.num_workers,
        pin_memory=pin_memory,
    )


def set_loader_epoch(loader: DataLoader[Any], epoch: int) -> None:
    """Set the epoch of the loader's sampler (order) and dataset (views and augmentations); call before iterating."""
    sampler = loader.sampler
    if hasattr(sampler, "set_epoch"):
        sampler.set_epoch(epoch)
    dataset = loader.dataset
    if hasattr(dataset, "set_epoch"):
        dataset.set_epoch(epoch)
