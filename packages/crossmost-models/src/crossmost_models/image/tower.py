"""A maskable image tower over any open_clip ``VisionTransformer``.

The tower does not reimplement the transformer: it holds the open_clip ``VisionTransformer`` unchanged (so its
weights keep their open_clip names under ``visual.``) and runs the same steps as its ``forward``, with one step added:
right after the patch embedding (``conv1``), masked patches are replaced by a learnable ``[MSK]`` token, *before* the
class token is prepended and the positional embedding added, so a masked position keeps its positional embedding
(Cross-MoST / MUST masking). On top of the tower sit a separate LayerNorm for the patch tokens (``ln_patch``) and the
masked-image-modelling decoder (1×1 convolution + pixel shuffle).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

if TYPE_CHECKING:
    from open_clip.transformer import VisionTransformer

__all__ = ["MaskableVisionTower", "VisionTowerOutput"]


@dataclass(frozen=True)
class VisionTowerOutput:
    """What :meth:`MaskableVisionTower.forward` returns.

    Attributes:
        embedding: ``B×D`` global image embedding ``f^I(ln_post(CLS))``, **not** normalised.
        patch_tokens: ``B×L×W`` final patch tokens through ``ln_patch`` (``L = h·w``), or ``None`` when patch outputs
            were not requested.
        local_embedding: ``B×L×D`` patch tokens projected with the same ``f^I``, **not** normalised, or ``None``.
        reconstruction: ``B×3×H×W`` output of the MIM decoder, or ``None``.
    """

    embedding: Tensor
    patch_tokens: Tensor | None = None
    local_embedding: Tensor | None = None
    reconstruction: Tensor | None = None


def _check_supported(visual: nn.Module) -> None:
    """Refuse tower variants whose masked forward this module cannot reproduce exactly."""
    from open_clip.transformer import PatchDropout, VisionTransformer

    if not isinstance(visual, VisionTransformer):
        raise TypeError(
            f"MaskableVisionTower needs an open_clip VisionTransformer image tower, got {type(visual).__name__} "
            "(timm-, ResNet- and HF-based open_clip towers cannot be masked patch by patch)."
        )
    if getattr(visual, "attn_pool", None) is not None:
        raise ValueError(
            "open_clip towers with an attentional pooler (CoCa-style `attentional_pool`) are not supported: the pooled "
            "embedding mixes all tokens through the pooler queries, so there is no class token to read and no patch "
            "grid for the MIM decoder. Use a plain ViT config (pool_type 'tok' or 'avg')."
        )
    if visual.pool_type not in ("tok", "avg"):
        raise ValueError(
            f"open_clip tower pool_type={visual.pool_type!r} is not supported; use 'tok' (class token) or 'avg'."
        )
    if isinstance(visual.patch_dropout, PatchDropout):
        raise ValueError(
            f"open_clip tower has patch dropout (prob={visual.patch_dropout.prob}): it drops patch tokens at random, "
            "so the patch grid needed by the MIM decoder and the patch mask is lost. Build the tower with "
            "patch_dropout=0 (open_clip `force_patch_dropout=0.0`)."
        )
    if visual.proj is None:
        raise ValueError("open_clip tower has no projection (`proj` is None, e.g. after pruning its head).")


class MaskableVisionTower(nn.Module):
    """An open_clip ``VisionTransformer`` with ``[MSK]``-token masking, patch outputs and a MIM decoder.

    Args:
        visual: the open_clip image tower (``clip_model.visual``). It is used in place, not copied; its own
            ``proj`` is the image projection ``f^I`` applied to the class token and to the patch tokens.
        mask_token_std: standard deviation of the normal initialisation of the ``[MSK]`` token (MUST: 0.02).

    Raises:
        TypeError: ``visual`` is not an open_clip ``VisionTransformer``.
        ValueError: the tower uses a variant that cannot be masked correctly (attentional pooler, patch dropout,
            ``pool_type='none'``, no projection).
    """

    def __init__(self, visual: VisionTransformer, *, mask_token_std: float = 0.02) -> None:
        super().__init__()
        _check_supported(visual)
        self.visual = visual
        width = int(visual.conv1.out_channels)
        patch_h, patch_w = (int(s) for s in visual.patch_size)
        if patch_h != patch_w:
            raise ValueError(f"non-square patches {patch_h}×{patch_w} are not supported by the pixel-shuffle decoder")
        self.width = width
        self.patch_size = patch_h
        self.image_size: tuple[int, int] = (int(visual.image_size[0]), int(visual.image_size[1]))
        self.grid_size: tuple[int, int] = (int(visual.grid_size[0]), int(visual.grid_size[1]))
        self.embed_dim = int(visual.proj.shape[1])
        self.num_layers = len(visual.transformer.resblocks)
        self.mask_token = nn.Parameter(torch.empty(width))
        nn.init.normal_(self.mask_token, std=mask_token_std)
        self.ln_patch = nn.LayerNorm(width)
        self.decoder = nn.Sequential(
            nn.Conv2d(width, self.patch_size * self.patch_size * 3, kernel_size=1),
            nn.PixelShuffle(self.patch_size),
        )

    @property
    def proj(self) -> Tensor:
        """The image projection ``f^I`` (``W×D``), the open_clip tower's own ``proj``."""
        proj = self.visual.proj
        assert proj is not None  # checked at construction
        return proj

    def check_images(self, images: Tensor) -> None:
        """Raise a ``ValueError`` naming the problem when ``images`` is not ``B×3×H×W`` at the tower's size."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be B×3×H×W, got shape {tuple(images.shape)}")
        if tuple(images.shape[2:]) != self.image_size:
            raise ValueError(
                f"images are {images.shape[2]}×{images.shape[3]} but the image tower expects "
                f"{self.image_size[0]}×{self.image_size[1]}"
            )
        if not images.is_floating_point():
            raise ValueError(f"images must be a floating-point tensor (CLIP-normalised), got dtype {images.dtype}")

    def check_patch_mask(self, patch_mask: Tensor, batch_size: int) -> None:
        """Raise a ``ValueError`` when ``patch_mask`` is not a ``B×h×w`` bool tensor on the tower's patch grid."""
        expected = (batch_size, *self.grid_size)
        if patch_mask.dtype != torch.bool:
            raise ValueError(f"image patch mask must be a bool tensor, got dtype {patch_mask.dtype}")
        if tuple(patch_mask.shape) != expected:
            raise ValueError(
                f"image patch mask must be B×h×w = {expected} (patch size {self.patch_size}), "
                f"got {tuple(patch_mask.shape)}"
            )

    def embed_tokens(self, images: Tensor, patch_mask: Tensor | None = None) -> Tensor:
        """Patch-embed, mask, prepend the class token, add positions and ``ln_pre``: ``B×(1+L)×W``."""
        visual = self.visual
        x = visual.conv1(images)
        x = x.flatten(2).transpose(1, 2)  # B×L×W
        if patch_mask is not None:
            masked = patch_mask.flatten(1).unsqueeze(-1)
            x = torch.where(masked, self.mask_token.to(x.dtype), x)
        cls = visual.class_embedding.to(x.dtype).view(1, 1, -1).expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], dim=1)
        x = x + visual.positional_embedding.to(x.dtype)
        return visual.ln_pre(x)

    def pool(self, tokens: Tensor) -> Tensor:
        """Pool final tokens into the pre-projection global feature exactly as the open_clip tower does."""
        visual = self.visual
        if getattr(visual, "final_ln_after_pool", False):
            pooled = tokens[:, 0] if visual.pool_type == "tok" else tokens[:, 1:].mean(dim=1)
            return visual.ln_post(pooled)
        normed = visual.ln_post(tokens)
        return normed[:, 0] if visual.pool_type == "tok" else normed[:, 1:].mean(dim=1)

    def forward(
        self, images: Tensor, patch_mask: Tensor | None = None, *, return_patches: bool | None = None
    ) -> VisionTowerOutput:
        """Encode images, optionally masking patches.

        Args:
            images: ``B×3×H×W`` CLIP-normalised images at the tower's ``image_size``.
            patch_mask: optional ``B×h×w`` bool mask, ``True`` = replace that patch by ``[MSK]``.
            return_patches: compute the patch outputs (``patch_tokens``, ``local_embedding``, ``reconstruction``).
                Default: only when a mask is given.

        Returns:
            A :class:`VisionTowerOutput`; embeddings are not normalised.
        """
        self.check_images(images)
        if patch_mask is not None:
            self.check_patch_mask(patch_mask, images.shape[0])
        if return_patches is None:
            return_patches = patch_mask is not None
        x = self.embed_tokens(images, patch_mask)
        x = self.visual.transformer(x)
        embedding = self.pool(x) @ self.proj.to(x.dtype)
        if not return_patches:
            return VisionTowerOutput(embedding=embedding)
        patch_tokens = self.ln_patch(x[:, 1:])
        local_embedding = patch_tokens @ self.proj.to(patch_tokens.dtype)
        grid = patch_tokens.transpose(1, 2).reshape(x.shape[0], self.width, *self.grid_size)
        reconstruction = self.decoder(grid)
        return VisionTowerOutput(
            embedding=embedding,
            patch_tokens=patch_tokens,
            local_embedding=local_embedding,
            reconstruction=reconstruction,
        )

    def encode(self, images: Tensor, patch_mask: Tensor | None = None) -> Tensor:
        """L2-normalised ``B×D`` global embedding (no patch outputs are computed)."""
        return F.normalize(self.forward(images, patch_mask, return_patches=False).embedding, dim=-1)

    def extra_repr(self) -> str:
        return (
            f"image_size={self.image_size}, patch_size={self.patch_size}, width={self.width}, "
            f"embed_dim={self.embed_dim}"
        )


def tower_summary(tower: MaskableVisionTower) -> dict[str, Any]:
    """A small JSON-able description of a tower's geometry (used in reports and error messages)."""
    return {
        "image_size": list(tower.image_size),
        "patch_size": tower.patch_size,
        "grid_size": list(tower.grid_size),
        "width": tower.width,
        "embed_dim": tower.embed_dim,
        "num_layers": tower.num_layers,
    }
