"""Cross-entropy of the student's logits against hard pseudo-labels, on the kept samples only."""

from __future__ import annotations

from typing import get_args

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import ClassificationNormalization

__all__ = ["ClassificationNormalization", "MaskedCrossEntropyLoss", "masked_cross_entropy"]


def masked_cross_entropy(
    logits: Tensor,
    labels: Tensor,
    keep: Tensor,
    *,
    label_smoothing: float = 0.0,
    normalization: ClassificationNormalization = "kept",
) -> Tensor:
    """Mean cross-entropy over the samples marked in ``keep``.

    Unkept rows never reach the arithmetic (their labels may be anything, their logits may be non-finite), and a
    batch with no kept sample gives exactly zero with a (zero) gradient path to ``logits``: never NaN, unlike the
    official code, which exits on the NaN mean of an empty selection.

    Args:
        logits: ``B×C`` student logits.
        labels: ``B`` int64 pseudo-labels.
        keep: ``B`` bool, the samples that count.
        label_smoothing: as in `torch.nn.functional.cross_entropy` (0 in the paper).
        normalization: ``"kept"`` divides by the number of kept samples (official code, default); ``"batch"``
            divides by B (the paper's Eq. 2).

    Returns:
        A scalar tensor.
    """
    if logits.dim() != 2:
        raise ValueError(f"masked_cross_entropy: logits must be B×C, got shape {tuple(logits.shape)}")
    batch = logits.shape[0]
    if labels.shape != (batch,) or keep.shape != (batch,):
        raise ValueError(
            f"masked_cross_entropy: labels and keep must have shape ({batch},) to match logits "
            f"{tuple(logits.shape)}, got {tuple(labels.shape)} and {tuple(keep.shape)}"
        )
    if keep.dtype != torch.bool:
        raise TypeError(f"masked_cross_entropy: keep must be bool, got {keep.dtype}")
    if normalization not in get_args(ClassificationNormalization):
        raise ValueError(f"masked_cross_entropy: normalization must be 'kept' or 'batch', got {normalization!r}")
    safe_labels = torch.where(keep, labels, torch.zeros_like(labels))
    safe_logits = torch.where(keep[:, None], logits, torch.zeros_like(logits))
    per_sample = F.cross_entropy(safe_logits, safe_labels, reduction="none", label_smoothing=label_smoothing)
    total = torch.where(keep, per_sample, torch.zeros_like(per_sample)).sum()
    count = keep.sum() if normalization == "kept" else torch.tensor(batch, device=logits.device)
    return total / count.clamp_min(1).to(total.dtype)


class MaskedCrossEntropyLoss(nn.Module):
    """`masked_cross_entropy` as a module."""

    def __init__(self, label_smoothing: float = 0.0, normalization: ClassificationNormalization = "kept") -> None:
        super().__init__()
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"MaskedCrossEntropyLoss: label_smoothing must be in [0, 1), got {label_smoothing}")
        self.label_smoothing = label_smoothing
        self.normalization: ClassificationNormalization = normalization

    def forward(self, logits: Tensor, labels: Tensor, keep: Tensor) -> Tensor:
        """Mean cross-entropy of ``logits`` (``B×C``) against ``labels`` over the ``keep`` samples."""
        return masked_cross_entropy(
            logits, labels, keep, label_smoothing=self.label_smoothing, normalization=self.normalization
        )

    def extra_repr(self) -> str:
        return f"label_smoothing={self.label_smoothing}, normalization={self.normalization!r}"
