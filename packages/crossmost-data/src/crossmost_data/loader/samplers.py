"""Exact evaluation sampling across processes: every index on exactly one rank, no padding, no duplicates."""

from __future__ import annotations

from collections.abc import Iterator

from torch.utils.data import Sampler

__all__ = ["ShardedEvalSampler"]


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
