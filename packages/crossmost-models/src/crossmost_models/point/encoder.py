"""The Point-BERT point tower: grouping, mini-PointNet tokens, a transformer with per-block positions."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from crossmost_models.point.base import GroupedPointEncoder, PointEncoderOutput
from crossmost_models.point.config import PointBertConfig
from crossmost_models.point.tokenizer import PointTokenizer
from crossmost_models.point.transformer import PositionalTransformer

POSITION_HIDDEN = 128


class PointBertEncoder(GroupedPointEncoder):
    """Point-BERT transformer over farthest-point groups of a point cloud (the Cross-MoST point tower).

    Forward pass: FPS picks ``num_group`` centres, each with its ``group_size`` nearest points (relative to the
    centre); the mini-PointNet ``encoder`` turns each group into a token, ``reduce_dim`` maps it to ``trans_dim``;
    masked groups (student passes) are replaced by ``mask_token`` but keep their positional embedding; a ``cls_token``
    with position ``cls_pos`` is prepended; the positional MLP ``pos_embed`` of the centres is added before every
    transformer block; a final LayerNorm ``norm`` follows.

    Parameter names mirror Point-BERT/ULIP (``encoder.first_conv.0.weight``, ``reduce_dim``, ``cls_token``,
    ``cls_pos``, ``mask_token``, ``pos_embed.{0,2}``, ``blocks.blocks.N.…``, ``norm``), so their checkpoints map
    by key (:mod:`crossmost_models.point.convert`).

    Args:
        config: sizes and behaviour; defaults to the paper's tower.
    """

    def __init__(self, config: PointBertConfig | None = None) -> None:
        super().__init__()
        self.config = config = config if config is not None else PointBertConfig()
        width = config.trans_dim
        self.encoder = PointTokenizer(config.in_channels, config.encoder_dims, config.tokenizer_widths)
        self.reduce_dim = nn.Linear(config.encoder_dims, width)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, width))
        self.cls_pos = nn.Parameter(torch.zeros(1, 1, width))
        self.mask_token = nn.Parameter(torch.zeros(1, 1, width))
        self.pos_embed = nn.Sequential(nn.Linear(3, POSITION_HIDDEN), nn.GELU(), nn.Linear(POSITION_HIDDEN, width))
        self.blocks = PositionalTransformer(
            width,
            config.depth,
            config.num_heads,
            mlp_ratio=config.mlp_ratio,
            qkv_bias=config.qkv_bias,
            drop_path_rate=config.drop_path_rate,
        )
        self.norm = nn.LayerNorm(width)
        self.feature_dim = 2 * width
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Point-BERT's initialisation: truncated normal (std 0.02) for linear/conv weights and the three learnable
        tokens, zero biases, unit LayerNorms."""
        self.init_weights((self.cls_token, self.cls_pos, self.mask_token))

    def forward(
        self,
        points: Tensor,
        *,
        mask_groups: bool = False,
        group_mask: Tensor | None = None,
        generator: torch.Generator | None = None,
        fps_start: Literal["random", "fixed"] | Tensor | None = None,
    ) -> PointEncoderOutput:
        """Encode a batch of point clouds.

        Args:
            points: ``B×N×C`` clouds (``C = config.in_channels``), centred and scaled to the unit sphere, y up.
            mask_groups: draw a group mask (``config.mask_type``, ``config.mask_ratio``) and replace the masked
                tokens by ``mask_token`` (the student pass of masked point modelling).
            group_mask: an explicit ``B×G`` bool mask to apply instead of drawing one.
            generator: source of the random FPS start and of the drawn mask (``None``: torch's global RNG).
            fps_start: override ``config.fps_start`` for this call (``"random"``, ``"fixed"`` or ``B`` indices).

        Returns:
            A :class:`PointEncoderOutput`.

        Raises:
            ValueError: for malformed points (see :func:`~crossmost_models.ops.check_points`) or a mask of the
                wrong shape or dtype.
        """
        neighbourhoods, centers = self.group(points, fps_start=fps_start, generator=generator)
        batch_size = points.shape[0]
        tokens = self.reduce_dim(self.encoder(neighbourhoods))  # B×G×W
        group_mask = self.resolve_group_mask(
            centers, mask_groups=mask_groups, group_mask=group_mask, generator=generator
        )
        inputs = tokens
        if group_mask is not None:
            inputs = torch.where(group_mask.unsqueeze(-1), self.mask_token.to(tokens.dtype), tokens)
        x = torch.cat([self.cls_token.expand(batch_size, -1, -1).to(inputs.dtype), inputs], dim=1)
        pos = self.pos_embed(centers)
        pos = torch.cat([self.cls_pos.expand(batch_size, -1, -1).to(pos.dtype), pos], dim=1)
        x = self.norm(self.blocks(x, pos))
        cls_token, group_tokens = x[:, 0], x[:, 1:]
        return PointEncoderOutput(
            global_feature=torch.cat([cls_token, group_tokens.amax(dim=1)], dim=-1),
            tokens=group_tokens,
            cls_token=cls_token,
            pre_mask_tokens=tokens,
            group_mask=group_mask,
            centers=centers,
        )
