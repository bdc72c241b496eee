"""Distribution alignment of the teacher's predictions to a uniform class prior, before pseudo-labels are selected.

Self-training amplifies a teacher's bias: a class the teacher predicts too often gets more confident labels, the
student learns them, and the next teacher predicts it more often still (CLIP's zero-shot heads are known to favour
some classes). Distribution alignment (ReMixMatch, Berthelot et al. 2020) counters it by dividing each prediction
by a running average of the teacher's predictions over the unlabelled data and renormalising:

    q̃_bc = (q_bc / p̄_c) / Σ_k (q_bk / p̄_k)

so that a class predicted twice as often as its share has its probabilities halved before the argmax and the
confidence threshold. The target is the uniform prior, the same assumption the fairness term makes (it maximises
the entropy of the batch's mean prediction). `ClassPrior` holds p̄ as an exponential moving average of the
teacher's batch-mean softmax, averaged over processes.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor, nn

from .distributed import is_distributed

__all__ = ["ClassPrior", "align_to_uniform_prior"]


def align_to_uniform_prior(probabilities: Tensor, prior: Tensor) -> Tensor:
    """Divide ``B×C`` probabilities by the ``C`` class ``prior`` and renormalise each row to sum to 1.

    Raises:
        ValueError: the shapes disagree, or ``prior`` has an entry that is not positive and finite.
    """
    if probabilities.dim() != 2 or prior.shape != probabilities.shape[1:]:
        raise ValueError(
            f"align_to_uniform_prior: probabilities must be B×C and the prior C, got {tuple(probabilities.shape)} "
            f"and {tuple(prior.shape)}"
        )
    if not bool(torch.isfinite(prior).all()) or not bool((prior > 0).all()):
        raise ValueError("align_to_uniform_prior: every entry of the class prior must be positive and finite")
    return _divided_and_renormalised(probabilities, prior.to(probabilities.dtype))


def _divided_and_renormalised(probabilities: Tensor, prior: Tensor) -> Tensor:
    aligned = probabilities / prior
    return aligned / aligned.sum(dim=1, keepdim=True)


class ClassPrior(nn.Module):
    """Running average of a teacher's predicted class distribution (a ``C`` buffer, saved with the module).

    Args:
        num_classes: C.
        momentum: weight of the old average at each update (0.99: about the last 100 batches).
    """

    prior: Tensor

    def __init__(self, num_classes: int, momentum: float = 0.99) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"ClassPrior: num_classes must be at least 1, got {num_classes}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"ClassPrior: momentum must be in [0, 1), got {momentum}")
        self.momentum = momentum
        self.register_buffer("prior", torch.full((num_classes,), 1.0 / num_classes))

    @torch.no_grad()
    def update(self, probabilities: Tensor) -> Tensor:
        """Fold the batch-mean of ``B×C`` ``probabilities`` (over every process) into the average; return it."""
        if probabilities.dim() != 2 or probabilities.shape[1] != self.prior.shape[0]:
            raise ValueError(
                f"ClassPrior.update: expected B×{self.prior.shape[0]} probabilities, got {tuple(probabilities.shape)}"
            )
        totals = torch.cat([probabilities.sum(dim=0), probabilities.new_tensor([probabilities.shape[0]])]).float()
        if is_distributed():
            dist.all_reduce(totals)
        count = totals[-1]
        # No host synchronisation: an empty global batch leaves the average as it is.
        batch_mean = torch.where(count > 0, totals[:-1] / count.clamp_min(1), self.prior.float())
        self.prior.mul_(self.momentum).add_(batch_mean.to(self.prior), alpha=1.0 - self.momentum)
        return self.prior

    def align(self, probabilities: Tensor) -> Tensor:
        """``B×C`` ``probabilities`` aligned to the uniform prior with this running average, without the checks
        (and host synchronisations) of :func:`align_to_uniform_prior`: a class whose average has underflowed to 0
        is divided by the smallest positive float instead of failing mid-run."""
        tiny = torch.finfo(probabilities.dtype).tiny
        return _divided_and_renormalised(probabilities, self.prior.to(probabilities.dtype).clamp_min(tiny))

    def extra_repr(self) -> str:
        return f"num_classes={self.prior.shape[0]}, momentum={self.momentum}"
