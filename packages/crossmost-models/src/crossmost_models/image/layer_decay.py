"""Layer ids of image-tower parameters, for layer-wise learning-rate decay (BEiT / MUST style)."""

from __future__ import annotations

import re

__all__ = ["vit_layer_id"]

# Blocks of open_clip's own ViT, or of the timm trunk of its timm towers (EVA02-E-14-plus).
_RESBLOCK = re.compile(r"(?:^|\.)(?:transformer\.resblocks|trunk\.blocks)\.(\d+)\.")
_EMBEDDING_NAMES = ("conv1", "class_embedding", "positional_embedding", "ln_pre", "mask_token")
_TIMM_EMBEDDING_NAMES = ("patch_embed", "pos_embed", "cls_token")


def vit_layer_id(param_name: str, num_layers: int) -> int:
    """Layer id of an image-tower parameter for layer-wise lr decay.

    The patch embedding (``conv1``), class and positional embeddings, ``ln_pre`` and the ``[MSK]`` token get id 0;
    the parameters of residual block ``k`` (``…transformer.resblocks.k.…``, or ``…trunk.blocks.k.…`` in open_clip's
    timm towers, whose ``patch_embed``, ``pos_embed`` and ``cls_token`` get id 0) get ``k + 1``; everything else
    (``ln_post``, the projection, ``ln_patch``, the MIM decoder) gets ``num_layers + 1``. A learning rate
    ``lr · decay ** (num_layers + 1 - layer_id)`` then decays from the head towards the input.

    Names may be relative to the tower or to a whole model (``image_tower.visual.transformer.resblocks.3.attn…``).
    Only pass image-tower parameters: other towers have their own ``mask_token``.

    Args:
        param_name: the parameter's name as given by ``named_parameters()``.
        num_layers: number of residual blocks of the ViT (``CrossModalModel.image_num_layers``).

    Returns:
        An integer in ``[0, num_layers + 1]``.

    Raises:
        ValueError: a block index is not below ``num_layers``.
    """
    match = _RESBLOCK.search(param_name)
    if match is not None:
        block = int(match.group(1))
        if block >= num_layers:
            raise ValueError(f"parameter {param_name!r} is in block {block} but num_layers={num_layers}")
        return block + 1
    leaf_parent = param_name.split(".")
    if any(part in _EMBEDDING_NAMES for part in leaf_parent):
        return 0
    if "trunk" in leaf_parent and any(part in _TIMM_EMBEDDING_NAMES for part in leaf_parent):
        return 0
    return num_layers + 1
