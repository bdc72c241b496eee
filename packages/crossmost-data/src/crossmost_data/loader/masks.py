"""Random block masks on the ViT patch grid for masked image modelling (spec §2.5; SimMIM's MaskGenerator)."""

from __future__ import annotations

import math

import numpy as np

from crossmost_data.loader.config import MaskConfig

__all__ = ["ImageBlockMaskGenerator", "masked_block_count"]


def masked_block_count(num_blocks: int, ratio: float) -> int:
    """``ceil(num_blocks × ratio)``, robust to floating-point error (``10 × 0.3`` gives 3, not 4)."""
    return min(num_blocks, math.ceil(round(num_blocks * ratio, 9)))


class ImageBlockMaskGenerator:
    """Masks ``ceil(blocks × ratio)`` blocks of ``mask_patch_size`` pixels, chosen uniformly without replacement.

    With the defaults (224-pixel images, 32-pixel blocks, 16-pixel ViT patches, ratio 0.3) 15 of the 7×7 blocks
    are masked, i.e. 60 of the 14×14 patches.

    Args:
        image_size: Input size in pixels, an int (square) or ``(height, width)``.
        config: Block size, patch size and ratio.

    Raises:
        ValueError: The image size is not a multiple of ``mask_patch_size`` (which the config already checks is
            a multiple of ``model_patch_size``); the message names all three sizes.
    """

    def __init__(self, image_size: int | tuple[int, int], config: MaskConfig | None = None) -> None:
        self.config = config or MaskConfig()
        height, width = (image_size, image_size) if isinstance(image_size, int) else image_size
        block = self.config.mask_patch_size
        if height < 1 or width < 1 or height % block or width % block:
            raise ValueError(
                f"image size {height}×{width} must be a positive multiple of mask_patch_size={block} "
                f"(model_patch_size={self.config.model_patch_size}); choose a mask_patch_size that divides the "
                "image size, e.g. 2 × model_patch_size"
            )
        self.block_grid = (height // block, width // block)
        self.scale = block // self.config.model_patch_size
        self.patch_grid = (self.block_grid[0] * self.scale, self.block_grid[1] * self.scale)
        self.num_blocks = self.block_grid[0] * self.block_grid[1]
        self.num_masked_blocks = masked_block_count(self.num_blocks, self.config.mask_ratio)

    @property
    def num_masked_patches(self) -> int:
        """Masked patches per sample: ``num_masked_blocks × (mask_patch_size / model_patch_size)²``."""
        return self.num_masked_blocks * self.scale * self.scale

    def __call__(self, rng: np.random.Generator) -> np.ndarray:
        """One mask of shape ``patch_grid`` (bool, ``True`` = masked); all ``False`` when the config disables it."""
        if not self.config.enabled:
            return np.zeros(self.patch_grid, dtype=bool)
        chosen = rng.permutation(self.num_blocks)[: self.num_masked_blocks]
        blocks = np.zeros(self.num_blocks, dtype=bool)
        blocks[chosen] = True
        blocks = blocks.reshape(self.block_grid)
        return blocks.repeat(self.scale, axis=0).repeat(self.scale, axis=1)
