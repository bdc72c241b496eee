"""Masked point modelling: L1 between predicted and original point tokens at masked groups (paper's L_mpm).

The target is the tokenizer's pre-mask token of each group, detached (the caller passes it detached; it is
detached again here). The official code compared against the *masked* input, i.e. the learnable [MSK] token
itself, with gradient into it, and normalised by an extra 1/B and a channel sum; this is a per-element mean over
masked groups × channels, as the paper writes (1/(MN)).
"""

from __future__ import annotations

from torch import Tensor, nn

from ._masking import check_bool_mask, masked_mean

__all__ = ["MaskedPointModelingLoss", "masked_point_modeling_loss"]


def masked_point_modeling_loss(prediction: Tensor, target: Tensor, group_mask: Tensor) -> Tensor:
    """Mean absolute error over masked groups and token channels.

    Args:
        prediction: ``B×G×W`` MPM head output.
        target: ``B×G×W`` pre-mask point tokens (detached here).
        group_mask: ``B×G`` bool, True = masked.

    Returns:
        A scalar tensor; zero (with a gradient path) when nothing is masked.
    """
    if prediction.dim() != 3 or prediction.shape != target.shape:
        raise ValueError(
            "masked_point_modeling_loss: prediction and target must both be B×G×W with the same shape, got "
            f"{tuple(prediction.shape)} and {tuple(target.shape)}"
        )
    check_bool_mask("masked_point_modeling_loss", group_mask, tuple(prediction.shape[:2]))
    error = (prediction - target.detach()).abs()
    return masked_mean(error, group_mask[:, :, None], elements_per_entry=prediction.shape[2])


class MaskedPointModelingLoss(nn.Module):
    """`masked_point_modeling_loss` as a module."""

    def forward(self, prediction: Tensor, target: Tensor, group_mask: Tensor) -> Tensor:
        """Per-element L1 over masked groups of ``B×G×W`` tokens, mask ``B×G``."""
        return masked_point_modeling_loss(prediction, target, group_mask)
