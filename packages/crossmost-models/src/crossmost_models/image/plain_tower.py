"""An image tower that cannot be masked patch by patch (open_clip's timm towers, e.g. EVA02-E-14-plus): global
embeddings only, no masked image modelling.

Cross-MoST's image masked modelling replaces patch embeddings by a ``[MSK]`` token inside the ViT
(:class:`~crossmost_models.image.MaskableVisionTower`), which needs the open_clip ``VisionTransformer`` internals.
Towers built on a timm trunk do not expose them, so a model over one runs without the image MIM and image
global–local terms (:func:`~crossmost_models.build_model` says so when it builds the model); every other term of the
objective works unchanged.
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from crossmost_models.image.tower import VisionTowerOutput

__all__ = ["PlainVisionTower"]


class PlainVisionTower(nn.Module):
    """An open_clip image tower used as it is: ``B×3×H×W`` images → ``B×D`` embeddings.

    It offers what :class:`~crossmost_models.image.MaskableVisionTower` offers except masking: a patch mask is
    refused (the model never passes one; see :attr:`supports_masking`).

    Args:
        visual: the open_clip image tower (``clip_model.visual``), used in place.
        embed_dim: its output dimension ``D`` (the open_clip config's ``embed_dim``).
        image_size: ``(H, W)`` it takes.
        patch_size: the trunk's patch size, for the patch grid of (unused) masks; 1 when the trunk has none.
    """

    supports_masking = False

    def __init__(self, visual: nn.Module, *, embed_dim: int, image_size: tuple[int, int], patch_size: int) -> None:
        super().__init__()
        self.visual = visual
        self.embed_dim = int(embed_dim)
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.patch_size = int(patch_size)
        self.grid_size = (self.image_size[0] // self.patch_size, self.image_size[1] // self.patch_size)
        trunk: Any = getattr(visual, "trunk", visual)
        blocks = getattr(trunk, "blocks", None)
        self.num_layers = len(blocks) if isinstance(blocks, nn.Sequential | nn.ModuleList) else 1

    def check_images(self, images: Tensor) -> None:
        """Raise a ``ValueError`` naming the problem when ``images`` is not ``B×3×H×W`` at the tower's size."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be B×3×H×W, got shape {tuple(images.shape)}")
        if tuple(images.shape[2:]) != self.image_size:
            raise ValueError(
                f"images are {images.shape[2]}×{images.shape[3]} but the image tower expects "
                f"{self.image_size[0]}×{self.image_size[1]}"
            )

    def forward(self, images: Tensor, patch_mask: Tensor | None = None) -> VisionTowerOutput:
        """The global embedding of ``images`` (not normalised).

        Raises:
            ValueError: a ``patch_mask`` was given (this tower cannot be masked), or the images are malformed.
        """
        if patch_mask is not None:
            raise ValueError(f"the image tower {type(self.visual).__name__} cannot be masked patch by patch")
        self.check_images(images)
        return VisionTowerOutput(embedding=self.visual(images))

    def encode(self, images: Tensor, patch_mask: Tensor | None = None) -> Tensor:
        """L2-normalised ``B×D`` global embedding."""
        return F.normalize(self.forward(images, patch_mask).embedding, dim=-1)

    def extra_repr(self) -> str:
        return f"image_size={self.image_size}, embed_dim={self.embed_dim}, masking=False"
