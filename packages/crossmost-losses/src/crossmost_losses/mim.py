"""Masked image modelling: L1 between the reconstruction and the normalised input on masked patches.

The mask lives on the patch grid (``B×h×w``, True = masked); each patch covers ``(H/h)×(W/w)`` pixels. The loss is
a true per-element mean over masked pixels × channels (the paper's 1/(MN) and MUST's value). The official
Cross-MoST code divides by the 197 tokens instead of the 3 channels, i.e. it is 3/197 of this value.
"""

from __future__ import annotations

from torch import Tensor, nn

from ._masking import check_bool_mask, masked_mean

__all__ = ["MaskedImageModelingLoss", "masked_image_modeling_loss"]


def masked_image_modeling_loss(reconstruction: Tensor, target: Tensor, patch_mask: Tensor) -> Tensor:
    """Mean absolute error over the pixels of masked patches, all channels.

    Args:
        reconstruction: ``B×3×H×W`` decoder output.
        target: ``B×3×H×W`` the (normalised) image the student saw before masking; treated as data (detached).
        patch_mask: ``B×h×w`` bool, True = masked; ``H`` and ``W`` must be multiples of ``h`` and ``w``.

    Returns:
        A scalar tensor; zero (with a gradient path) when nothing is masked.
    """
    if reconstruction.dim() != 4 or reconstruction.shape != target.shape:
        raise ValueError(
            "masked_image_modeling_loss: reconstruction and target must both be B×C×H×W with the same shape, got "
            f"{tuple(reconstruction.shape)} and {tuple(target.shape)}"
        )
    batch, channels, height, width = reconstruction.shape
    if patch_mask.dim() != 3:
        raise ValueError(f"masked_image_modeling_loss: patch_mask must be B×h×w, got {tuple(patch_mask.shape)}")
    grid_h, grid_w = patch_mask.shape[1:]
    check_bool_mask("masked_image_modeling_loss", patch_mask, (batch, grid_h, grid_w))
    if grid_h == 0 or grid_w == 0 or height % grid_h or width % grid_w:
        raise ValueError(
            f"masked_image_modeling_loss: image size {height}×{width} is not a multiple of the mask grid "
            f"{grid_h}×{grid_w}"
        )
    pixel_mask = patch_mask.repeat_interleave(height // grid_h, dim=1).repeat_interleave(width // grid_w, dim=2)
    error = (reconstruction - target.detach()).abs()
    return masked_mean(error, pixel_mask[:, None], elements_per_entry=channels)


class MaskedImageModelingLoss(nn.Module):
    """`masked_image_modeling_loss` as a module."""

    def forward(self, reconstruction: Tensor, target: Tensor, patch_mask: Tensor) -> Tensor:
        """Per-element L1 over masked pixels of ``B×3×H×W`` images, mask ``B×h×w``."""
        return masked_image_modeling_loss(reconstruction, target, patch_mask)
