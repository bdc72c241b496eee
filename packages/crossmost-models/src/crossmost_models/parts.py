"""The anatomy of a model for training: the point tokenizer, each tower's transformer blocks and what comes before
them (the stem), the heads self-training adds, and the layer ids of layer-wise learning-rate decay.

Everything here reads a model without changing it. :mod:`crossmost_models.trainable` decides from these parts which
parameters train; :mod:`crossmost_models.checkpointing` recomputes the blocks' activations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from crossmost_models.image.layer_decay import vit_layer_id
from crossmost_models.image.plain_tower import PlainVisionTower
from crossmost_models.image.tower import MaskableVisionTower
from crossmost_models.point.encoder import PointBertEncoder
from crossmost_models.point.ppat import PpatEncoder
from crossmost_models.point.uni3d import Uni3dEncoder

__all__ = [
    "HEAD_PREFIXES",
    "TowerLayout",
    "image_num_layers",
    "layer_id_fn",
    "point_tokenizer",
    "tower_layouts",
]

HEAD_PREFIXES = (
    "classifier.",
    "mpm_head.",
    "point_local_projection.",
    "image_tower.ln_patch.",
    "image_tower.decoder.",
    "image_tower.mask_token",
    "point_encoder.mask_token",
)
"""Parameter-name prefixes of what Cross-MoST puts on top of the pre-trained towers: the shared classifier, the
masked-modelling heads (MIM decoder and its LayerNorm, MPM head), the local projection and the ``[MSK]`` tokens.
Every memory plan trains them (they are small), except that a plan which freezes a tower's stem freezes its mask
token too."""

_POINT_STEM = ("encoder.", "reduce_dim.", "cls_token", "cls_pos", "mask_token", "pos_embed.")
_PPAT_STEM = ("encoder.", "mask_token", "lift.", "lift_norm.", "cls_token")
_UNI3D_STEM = ("encoder.", "encoder2trans.", "cls_token", "cls_pos", "mask_token", "pos_embed.")
_TIMM_STEM = ("patch_embed.", "cls_token", "reg_token", "pos_embed", "norm_pre.")


@dataclass(frozen=True)
class TowerLayout:
    """Where a tower's transformer blocks are, and which of its parameters run before them.

    Attributes:
        name: ``image`` or ``point``.
        prefix: the tower's parameter-name prefix in the model (``image_tower``, ``point_encoder``).
        blocks: the transformer blocks, input first.
        blocks_prefix: the parameter-name prefix of ``blocks`` in the model.
        stem: parameter-name prefixes (model names) of what runs before the first block: patch or group embedding,
            class and mask tokens, positions (the point tower adds its positions before every block, so they count
            as stem: training them means back-propagating through every block).
    """

    name: str
    prefix: str
    blocks: nn.ModuleList
    blocks_prefix: str
    stem: tuple[str, ...]

    @property
    def depth(self) -> int:
        """Number of blocks."""
        return len(self.blocks)

    def layer_of(self, param_name: str) -> int | None:
        """0 for the stem, ``k + 1`` for block ``k``, ``depth + 1`` for what follows the blocks, ``None`` outside
        the tower."""
        if not param_name.startswith(self.prefix + "."):
            return None
        if param_name.startswith(self.blocks_prefix + "."):
            return int(param_name[len(self.blocks_prefix) + 1 :].split(".", 1)[0]) + 1
        if param_name.startswith(self.stem):
            return 0
        return self.depth + 1


def tower_layouts(model: nn.Module) -> list[TowerLayout]:
    """The :class:`TowerLayout` of each tower of a ``CrossModalModel`` (image first).

    Raises:
        TypeError: the model has a tower whose block layout is not known here (image: open_clip's ViT or a timm
            trunk with ``blocks``; point: Point-BERT, PPAT or Uni3D).
    """
    layouts: list[TowerLayout] = []
    image: Any = getattr(model, "image_tower", None)
    trunk: Any = getattr(getattr(image, "visual", None), "trunk", None)
    if isinstance(image, MaskableVisionTower):
        stem = ("conv1", "class_embedding", "positional_embedding", "ln_pre")
        layouts.append(
            TowerLayout(
                name="image",
                prefix="image_tower",
                blocks=image.visual.transformer.resblocks,
                blocks_prefix="image_tower.visual.transformer.resblocks",
                stem=(*(f"image_tower.visual.{s}" for s in stem), "image_tower.mask_token"),
            )
        )
    elif isinstance(image, PlainVisionTower) and isinstance(getattr(trunk, "blocks", None), nn.Sequential):
        # open_clip's timm towers (EVA02): the trunk's patch embedding, tokens and positions, then its blocks
        layouts.append(
            TowerLayout(
                name="image",
                prefix="image_tower",
                blocks=nn.ModuleList(trunk.blocks),
                blocks_prefix="image_tower.visual.trunk.blocks",
                stem=tuple(f"image_tower.visual.trunk.{s}" for s in _TIMM_STEM),
            )
        )
    elif image is not None:
        raise TypeError(f"image_tower is a {type(image).__name__}: its transformer blocks are not known")
    point: Any = getattr(model, "point_encoder", None)
    if isinstance(point, PointBertEncoder | PpatEncoder):
        point_stem = _POINT_STEM if isinstance(point, PointBertEncoder) else _PPAT_STEM
        layouts.append(
            TowerLayout(
                name="point",
                prefix="point_encoder",
                blocks=point.blocks.blocks,
                blocks_prefix="point_encoder.blocks.blocks",
                stem=tuple(f"point_encoder.{s}" for s in point_stem),
            )
        )
    elif isinstance(point, Uni3dEncoder):
        layouts.append(
            TowerLayout(
                name="point",
                prefix="point_encoder",
                blocks=point.blocks,
                blocks_prefix="point_encoder.blocks",
                stem=tuple(f"point_encoder.{s}" for s in _UNI3D_STEM),
            )
        )
    elif point is not None:
        raise TypeError(f"point_encoder is a {type(point).__name__}: its transformer blocks are not known")
    return layouts


def point_tokenizer(model: nn.Module) -> nn.Module:
    """The mini-PointNet tokenizer of the point tower (``model.point_encoder.encoder``).

    Raises:
        AttributeError: the model has no point tower with a tokenizer.
    """
    encoder: Any = getattr(model, "point_encoder", None)
    tokenizer = getattr(encoder, "encoder", None)
    if not isinstance(tokenizer, nn.Module):
        raise AttributeError(f"{type(model).__name__} has no point tokenizer (point_encoder.encoder)")
    return tokenizer


def image_num_layers(model: nn.Module) -> int:
    """Number of blocks of the image tower (``model.image_num_layers``), for layer-wise lr decay."""
    return int(model.image_num_layers)  # type: ignore[arg-type]


def layer_id_fn(model: nn.Module) -> Callable[[str, int], int]:
    """Layer ids for layer-wise lr decay: the image tower's by :func:`~crossmost_models.vit_layer_id` (0 for the
    embeddings, ``k + 1`` for block ``k``), and ``num_layers + 1`` (scale 1) for every parameter outside it.

    The image tower is every top-level child whose name starts with ``image``. Low-rank adapters of a block
    (``…resblocks.3.mlp.c_fc.parametrizations.weight.0.lora_A``) take the block's id.
    """
    prefixes = tuple(f"{n}." for n, _ in model.named_children() if n.startswith("image"))

    def layer_id(name: str, num_layers: int) -> int:
        if name.startswith(prefixes):
            return int(vit_layer_id(name, num_layers))
        return num_layers + 1

    return layer_id
