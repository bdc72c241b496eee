"""Fairness regularisation: push the batch-mean prediction towards uniform (paper Eq. 4, one branch).

L = −(1/C) Σ_c log p̄_c, where p̄ is the mean softmax over the batch (the global batch with ``gather=True``; the
official code gathers). Its minimum, log C, is reached when p̄ is uniform.

Numerics: log p̄_c is computed in log space as ``logsumexp_b log_softmax(logits)_bc − log B``, which is exact and
finite for any finite logits, so no clamp or epsilon is needed (a clamp would also cut the gradient of the very
classes the term is meant to revive). Arithmetic runs in at least float32.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .distributed import all_gather_with_grad

__all__ = ["FairnessLoss", "fairness_loss"]


def fairness_loss(logits: Tensor, *, gather: bool = False) -> Tensor:
    """−(1/C) Σ_c log p̄_c of the batch-mean softmax of ``logits``.

    Args:
        logits: ``B×C`` student logits of one branch.
        gather: average over the global batch of every process, with gradient (a no-op in a single process).

    Returns:
        A scalar tensor, at least log C.
    """
    if logits.dim() != 2 or logits.shape[0] == 0:
        raise ValueError(f"fairness_loss: logits must be a non-empty B×C tensor, got shape {tuple(logits.shape)}")
    dtype = torch.promote_types(logits.dtype, torch.float32)
    log_probabilities = torch.log_softmax(logits, dim=1, dtype=dtype)
    if gather:
        log_probabilities = all_gather_with_grad(log_probabilities)
    log_mean = torch.logsumexp(log_probabilities, dim=0) - math.log(log_probabilities.shape[0])
    return -log_mean.mean()


class FairnessLoss(nn.Module):
    """`fairness_loss` as a module."""

    def __init__(self, gather: bool = False) -> None:
        super().__init__()
        self.gather = gather

    def forward(self, logits: Tensor) -> Tensor:
        """−(1/C) Σ_c log p̄_c of ``B×C`` logits."""
        return fairness_loss(logits, gather=self.gather)

    def extra_repr(self) -> str:
        return f"gather={self.gather}"
