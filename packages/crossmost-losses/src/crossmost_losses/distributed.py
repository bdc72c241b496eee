"""Process-group helpers: rank, world size and an all-gather that carries gradients.

Every function here degrades to the single-process case when `torch.distributed` is unavailable, not
initialised, or the world has one process, so losses call them unconditionally.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = ["all_gather_with_grad", "gather_batch_sizes", "is_distributed", "rank", "world_size"]


def is_distributed() -> bool:
    """Whether a default process group with more than one process is active."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    """Number of processes in the default group (1 without one)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


def rank() -> int:
    """Rank of this process in the default group (0 without one)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return 0


def gather_batch_sizes(local_size: int, device: torch.device | None = None) -> list[int]:
    """Leading sizes of every process's tensor, in rank order (``[local_size]`` in a single process).

    Args:
        local_size: this process's leading size.
        device: device of the collective's buffer; it must suit the backend (CUDA for NCCL). Defaults to CPU.
    """
    if not is_distributed():
        return [local_size]
    buffer = torch.tensor([local_size], dtype=torch.int64, device=device)
    sizes = [torch.zeros_like(buffer) for _ in range(dist.get_world_size())]
    dist.all_gather(sizes, buffer)
    return [int(size.item()) for size in sizes]


class _AllGatherWithGrad(torch.autograd.Function):
    """Concatenate every process's tensor along dim 0; the backward returns each process its own slice."""

    @staticmethod
    def forward(ctx: Any, tensor: Tensor) -> Tensor:
        sizes = gather_batch_sizes(tensor.shape[0], tensor.device)
        offset = sum(sizes[: dist.get_rank()])
        ctx.local_slice = (offset, offset + tensor.shape[0])
        # all_gather needs equal shapes: pad every process to the largest leading size, then trim.
        largest = max(sizes)
        padded = tensor.contiguous()
        if tensor.shape[0] < largest:
            padding = tensor.new_zeros((largest - tensor.shape[0], *tensor.shape[1:]))
            padded = torch.cat([padded, padding], dim=0)
        buffers = [torch.empty_like(padded) for _ in sizes]
        dist.all_gather(buffers, padded)
        return torch.cat([buffer[:size] for buffer, size in zip(buffers, sizes, strict=True)], dim=0)

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> Tensor:
        # Every process computed its loss from the full gathered tensor; the gradient of the sum of those losses
        # with respect to this process's rows is the sum over processes of their gradients at those rows.
        grad = grad_output.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        start, stop = ctx.local_slice
        return grad[start:stop]


def all_gather_with_grad(tensor: Tensor) -> Tensor:
    """Concatenate ``tensor`` from every process along dim 0, keeping the autograd graph.

    The result is ordered by rank, so this process's rows start at ``sum(gather_batch_sizes(n)[:rank()])``.
    Processes may hold different leading sizes (a short last batch); the other dimensions must agree.

    The backward sums the incoming gradients over processes (all-reduce) and returns this process's slice. When
    every process computes the same function of the gathered tensor (a global mean, say), each process therefore
    receives ``world_size()`` times the single-process gradient of its rows, and DDP's averaging of parameter
    gradients over processes brings it back to exactly the single-process gradient of the global batch.

    Without an initialised process group, or with one process, the input is returned unchanged.

    Args:
        tensor: the local tensor, at least one-dimensional.

    Returns:
        The gathered tensor of leading size ``sum(gather_batch_sizes(n))``.
    """
    if tensor.dim() == 0:
        raise ValueError("all_gather_with_grad needs a tensor with a leading (batch) dimension, got a scalar")
    if not is_distributed():
        return tensor
    gathered: Tensor = _AllGatherWithGrad.apply(tensor)
    return gathered
