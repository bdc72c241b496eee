"""Global–local alignment: pull each masked local embedding towards its object's global embedding.

For masked entry m of sample b the loss is ‖normalize(local_bm) − normalize(global_b)‖² = 2 − 2 cos, averaged over
all masked entries of the batch (paper's L_lg-align, one modality). Both embeddings must come from the same
projection (the objective passes the image patches with the image embedding, and the point groups with the point
class token, both through the local projection). Gradients flow into both the local and the
global embedding, as in the official code; ``detach_global=True`` stops the global side.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from ._masking import check_bool_mask, masked_mean

__all__ = ["GlobalLocalAlignmentLoss", "global_local_alignment_loss"]


def global_local_alignment_loss(
    local_embedding: Tensor, global_embedding: Tensor, mask: Tensor, *, detach_global: bool = False
) -> Tensor:
    """Mean squared distance between normalised masked local embeddings and the normalised global embedding.

    Args:
        local_embedding: ``B×M×D`` local (patch or group) embeddings in the shared space.
        global_embedding: ``B×D`` global embeddings, broadcast over the M local entries.
        mask: ``B×M`` bool (True = masked, the entries that count); a ``B×h×w`` patch mask with ``h·w = M`` is
            flattened row-major, matching the token order of a ViT.
        detach_global: stop the gradient into ``global_embedding``.

    Returns:
        A scalar tensor in [0, 4]; zero (with a gradient path) when nothing is masked.
    """
    if local_embedding.dim() != 3 or global_embedding.dim() != 2:
        raise ValueError(
            "global_local_alignment_loss: local_embedding must be B×M×D and global_embedding B×D, got "
            f"{tuple(local_embedding.shape)} and {tuple(global_embedding.shape)}"
        )
    batch, entries, dim = local_embedding.shape
    if tuple(global_embedding.shape) != (batch, dim):
        raise ValueError(
            f"global_local_alignment_loss: global_embedding must have shape {(batch, dim)} to match local_embedding "
            f"{tuple(local_embedding.shape)}, got {tuple(global_embedding.shape)}"
        )
    if mask.dim() == 3:
        mask = mask.flatten(1)
    check_bool_mask("global_local_alignment_loss", mask, (batch, entries))
    target = global_embedding.detach() if detach_global else global_embedding
    difference = F.normalize(local_embedding, dim=-1) - F.normalize(target, dim=-1)[:, None, :]
    squared_distance = difference.square().sum(dim=-1)
    return masked_mean(squared_distance, mask)


class GlobalLocalAlignmentLoss(nn.Module):
    """`global_local_alignment_loss` as a module."""

    def __init__(self, detach_global: bool = False) -> None:
        super().__init__()
        self.detach_global = detach_global

    def forward(self, local_embedding: Tensor, global_embedding: Tensor, mask: Tensor) -> Tensor:
        """Mean ‖normalize(local) − normalize(global)‖² over masked entries."""
        return global_local_alignment_loss(local_embedding, global_embedding, mask, detach_global=self.detach_global)

    def extra_repr(self) -> str:
        return f"detach_global={self.detach_global}"
