"""The samplers of training and evaluation across processes.

:class:`GlobalBatchSampler` (training) draws one permutation per epoch from ``(seed, epoch)``, cuts it into global
batches (dropping the incomplete last one, so every process makes the same number of steps) and gives each process its
slices: micro-step ``a`` of process ``r`` gets slice ``a × world + r`` of the global batch. The union over processes
and micro-steps of one optimiser step is therefore the same global batch for any ``world × accumulation`` split, and
resuming skips exactly the consumed micro-batches (``start_batch``).

:class:`ShardedEvalSampler` (evaluation) puts every index on exactly one rank: no padding, no duplicates.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

__all__ = ["GlobalBatchSampler", "ShardedEvalSampler"]


class ShardedEvalSampler(Sampler[int]):
    """Split ``range(dataset_len)`` over ``num_replicas`` ranks without padding.

    ``torch.utils.data.DistributedSampler`` pads the last batch with repeated samples so that every rank has the
    same length, which double-counts samples in evaluation. This sampler gives rank ``r`` either the contiguous
    block ``[r·N/W, (r+1)·N/W)`` (default; neighbouring samples usually share a shard, so reads stay local) or the
    strided indices ``r, r+W, r+2W, …``. Ranks differ in length by at most one sample; the evaluator gathers the
    per-rank results (e.g. ``accelerator.gather_for_metrics`` or an all-gather of variable size) and counts each
    sample once.

    Args:
        dataset_len: Number of samples.
        num_replicas: Number of processes.
        rank: This process's rank.
        contiguous: Contiguous blocks (``True``) or strided indices.

    Raises:
        ValueError: ``rank`` is not in ``[0, num_replicas)`` or a size is negative.
    """

    def __init__(self, dataset_len: int, num_replicas: int, rank: int, *, contiguous: bool = True) -> None:
        if dataset_len < 0:
            raise ValueError(f"dataset_len must be >= 0, got {dataset_len}")
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(f"rank must be in [0, num_replicas); got rank={rank}, num_replicas={num_replicas}")
        self.dataset_len = dataset_len
        self.num_replicas = num_replicas
        self.rank = rank
        self.contiguous = contiguous

    def indices(self) -> range:
        """The indices of this rank, in order."""
        if self.contiguous:
            start = self.rank * self.dataset_len // self.num_replicas
            stop = (self.rank + 1) * self.dataset_len // self.num_replicas
            return range(start, stop)
        return range(self.rank, self.dataset_len, self.num_replicas)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices())

    def __len__(self) -> int:
        return len(self.indices())


class GlobalBatchSampler(Sampler[int]):
    """Per-process indices of shuffled global batches (see the module docstring).

    Args:
        num_samples: size of the dataset.
        batch_size: samples per process and micro-step.
        grad_accum_steps: micro-steps per optimiser step.
        num_replicas: number of processes.
        rank: this process.
        seed: base seed of the per-epoch permutation.
        shuffle: permute (True) or keep dataset order.
    """

    def __init__(
        self,
        num_samples: int,
        *,
        batch_size: int,
        grad_accum_steps: int = 1,
        num_replicas: int = 1,
        rank: int = 0,
        seed: int = 0,
        shuffle: bool = True,
    ) -> None:
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.grad_accum_steps = grad_accum_steps
        self.num_replicas = num_replicas
        self.rank = rank
        self.seed = seed
        self.shuffle = shuffle
        self.global_batch = batch_size * grad_accum_steps * num_replicas
        if num_samples < self.global_batch:
            raise ValueError(
                f"the dataset has {num_samples} samples, fewer than one global batch of {self.global_batch} "
                "(optim.global_batch_size): lower the global batch or add data"
            )
        self.steps_per_epoch = num_samples // self.global_batch
        self.epoch = 0
        self.start_batch = 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Select the epoch's permutation and skip its first ``start_batch`` micro-batches of this process."""
        self.epoch = epoch
        self.start_batch = start_batch

    @property
    def batches_per_epoch(self) -> int:
        """Micro-batches of one process in a full epoch."""
        return self.steps_per_epoch * self.grad_accum_steps

    def _indices(self) -> list[int]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(self.num_samples, generator=g).tolist()
        else:
            order = list(range(self.num_samples))
        mine: list[int] = []
        b = self.batch_size
        for step in range(self.steps_per_epoch):
            base = step * self.global_batch
            for a in range(self.grad_accum_steps):
                chunk = a * self.num_replicas + self.rank
                mine.extend(order[base + chunk * b : base + (chunk + 1) * b])
        return mine[self.start_batch * b :]

    def __iter__(self) -> Iterator[int]:
        return iter(self._indices())

    def __len__(self) -> int:
        return (self.batches_per_epoch - self.start_batch) * self.batch_size
