"""OpenShape's PointBERT ("PPAT", point patch transformer): a PointNet++ set abstraction with ball query lifts each
farthest-point patch to a token, and a plain pre-LN transformer reads the CLS token.

Layer order, as OpenShape builds it (``scaling = 4``, the released ``openshape-pointbert-*`` files):

1. ``num_group`` (384) farthest-point centres; around each, the first ``group_size`` (64) points within ``radius``
   (0.2) in index order, padded with the first point found (:func:`~crossmost_models.ops.ball_query`);
2. per point: ``[xyz - centre ; xyz ; rgb]`` (9 channels for xyz+rgb input) through three 1×1 convolutions
   ``9→64→64→256``, each followed by BatchNorm and ReLU, then a max over the patch;
3. ``lift``: a 1×1 convolution of ``[centre ; patch feature]`` (259 → 512) and a LayerNorm;
4. a learned CLS token (a ``W`` vector) is prepended and 12 pre-LN blocks (8 heads of 64, no ``qkv`` bias, GELU MLP
   of width 1536) run without positional embedding and without a final norm;
5. the CLS token is the global feature; OpenShape's ``proj`` (``Linear(512 → D)`` with bias) maps it into CLIP space.

Masked point modelling: a masked patch keeps its centre (the lift still sees the coordinates) and its pooled feature is
replaced by a learned ``mask_token`` (crossmost's addition; the release has none).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

import torch
from torch import Tensor, nn

from crossmost_models.ops import ball_query, farthest_point_sample
from crossmost_models.ops.knn import gather_points
from crossmost_models.point.base import (
    ConfigDict,
    FpsStartPolicy,
    GroupedPointEncoder,
    MaskType,
    PointEncoderOutput,
    grouping_problems,
    normalise_widths,
)
from crossmost_models.point.transformer import PositionalTransformer

__all__ = ["PpatConfig", "PpatEncoder", "SetAbstraction"]


@dataclass
class PpatConfig(ConfigDict):
    """Sizes and behaviour of :class:`PpatEncoder`; defaults are the released OpenShape PointBERT (32.3 M
    parameters with its projection).

    Attributes:
        trans_dim: transformer width ``W`` (512).
        depth: transformer blocks (12).
        num_heads: attention heads (8, of width ``W / heads``).
        mlp_ratio: MLP width relative to ``W`` (3: 1536).
        set_abstraction_widths: the set abstraction's three 1×1 convolution widths (64, 64, 256).
        num_group: patch centres ``G`` (384).
        group_size: points per ball ``K`` (64).
        radius: ball radius (0.2, in unit-sphere coordinates).
        in_channels: 3 (xyz) or 6 (xyz + rgb).
        drop_path_rate: stochastic depth of the last block (OpenShape: 0).
        mask_ratio, mask_type, fps_start, freeze_tokenizer_stats, validate_inputs: as in
            :class:`~crossmost_models.point.PointBertConfig`.
        projection_bias: the projection into CLIP space has a bias (OpenShape's ``proj``: yes).
        family: always ``"ppat"``.
    """

    TUPLE_FIELDS: ClassVar[tuple[str, ...]] = ("mask_ratio", "set_abstraction_widths")

    trans_dim: int = 512
    depth: int = 12
    num_heads: int = 8
    mlp_ratio: float = 3.0
    set_abstraction_widths: tuple[int, int, int] = field(default=(64, 64, 256))
    num_group: int = 384
    group_size: int = 64
    radius: float = 0.2
    in_channels: int = 6
    drop_path_rate: float = 0.0
    mask_ratio: tuple[float, float] = field(default=(0.3, 0.4))
    mask_type: MaskType = "block"
    fps_start: FpsStartPolicy = "auto"
    freeze_tokenizer_stats: bool = True
    validate_inputs: bool = True
    projection_bias: bool = True
    family: Literal["ppat"] = "ppat"

    def __post_init__(self) -> None:
        problems = grouping_problems(self)
        normalise_widths(self, "set_abstraction_widths", problems)
        if not self.radius > 0:
            problems.append(f"radius must be positive (got {self.radius})")
        if self.family != "ppat":
            problems.append(f"family must be 'ppat' (got {self.family!r})")
        if problems:
            raise ValueError("invalid PpatConfig: " + "; ".join(problems))
        self.mask_ratio = (float(self.mask_ratio[0]), float(self.mask_ratio[1]))


class SetAbstraction(nn.Module):
    """PointNet++ set abstraction over given balls: shared 1×1 convolutions (each with BatchNorm and ReLU) on
    ``[xyz - centre ; point]`` and a max over the ball.

    Parameter names (``mlp_convs.{i}``, ``mlp_bns.{i}``) are OpenShape's, so its checkpoints map by key.

    Args:
        in_channels: channels per input point (3 or 6); the first convolution sees ``in_channels + 3``.
        widths: output widths of the convolutions.
    """

    def __init__(self, in_channels: int, widths: tuple[int, ...]) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_dims = widths[-1]
        self.mlp_convs = nn.ModuleList()
        self.mlp_bns = nn.ModuleList()
        last = in_channels + 3
        for width in widths:
            self.mlp_convs.append(nn.Conv2d(last, width, 1))
            self.mlp_bns.append(nn.BatchNorm2d(width))
            last = width

    def forward(self, balls: Tensor) -> Tensor:
        """``B×G×K×(3 + C)`` balls (relative xyz first) → ``B×G×out_dims`` pooled features."""
        x = balls.permute(0, 3, 2, 1)  # B×C'×K×G, OpenShape's layout
        for conv, norm in zip(self.mlp_convs, self.mlp_bns, strict=True):
            x = torch.relu(norm(conv(x)))
        return x.amax(dim=2).transpose(1, 2)


class PpatEncoder(GroupedPointEncoder):
    """OpenShape's PointBERT (PPAT) point tower (see the module docs for its layers).

    Args:
        config: sizes and behaviour; defaults to the released model.
    """

    def __init__(self, config: PpatConfig | None = None) -> None:
        super().__init__()
        self.config = config = config if config is not None else PpatConfig()
        width = config.trans_dim
        sa_width = config.set_abstraction_widths[-1]
        self.encoder = SetAbstraction(config.in_channels, config.set_abstraction_widths)
        self.mask_token = nn.Parameter(torch.zeros(sa_width))
        self.lift = nn.Conv1d(sa_width + 3, width, 1)
        self.lift_norm = nn.LayerNorm(width)
        self.cls_token = nn.Parameter(torch.zeros(width))
        self.blocks = PositionalTransformer(
            width,
            config.depth,
            config.num_heads,
            mlp_ratio=config.mlp_ratio,
            qkv_bias=False,
            drop_path_rate=config.drop_path_rate,
        )
        self.feature_dim = width
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Truncated normal (std 0.02) for linear weights and the tokens, zero biases, unit norms; the
        convolutions keep torch's default initialisation, as in OpenShape."""
        self.init_weights((self.cls_token, self.mask_token), convolutions=False)

    def group(
        self,
        points: Tensor,
        *,
        fps_start: Literal["random", "fixed"] | Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Check and cast ``points``; return ``(balls B×G×K×(3 + C), centers B×G×3)`` with each ball's points as
        ``[xyz - centre ; xyz ; rgb]``."""
        config = self.config
        points = self.checked_points(points, max(config.num_group, config.group_size), self.cls_token.dtype)
        start = fps_start if fps_start is not None else self.fps_start_for_mode()
        centre_indices = farthest_point_sample(points, config.num_group, start=start, generator=generator)
        centers = gather_points(points[..., :3], centre_indices)
        indices, relative = ball_query(points[..., :3], centers, config.radius, config.group_size)
        return torch.cat([relative, gather_points(points, indices)], dim=-1), centers

    def forward(
        self,
        points: Tensor,
        *,
        mask_groups: bool = False,
        group_mask: Tensor | None = None,
        generator: torch.Generator | None = None,
        fps_start: Literal["random", "fixed"] | Tensor | None = None,
    ) -> PointEncoderOutput:
        """Encode a batch of ``B×N×C`` point clouds (the arguments and the result are those of
        :meth:`~crossmost_models.point.PointBertEncoder.forward`; the global feature is the final CLS token)."""
        balls, centers = self.group(points, fps_start=fps_start, generator=generator)
        features = self.encoder(balls)  # B×G×S
        group_mask = self.resolve_group_mask(
            centers, mask_groups=mask_groups, group_mask=group_mask, generator=generator
        )
        tokens = self._lift(centers, features)
        inputs = tokens
        if group_mask is not None:
            masked = torch.where(group_mask.unsqueeze(-1), self.mask_token.to(features.dtype), features)
            inputs = self._lift(centers, masked)
        cls = self.cls_token.to(inputs.dtype).expand(inputs.shape[0], 1, -1)
        x = self.blocks(torch.cat([cls, inputs], dim=1))
        return PointEncoderOutput(
            global_feature=x[:, 0],
            tokens=x[:, 1:],
            cls_token=x[:, 0],
            pre_mask_tokens=tokens,
            group_mask=group_mask,
            centers=centers,
        )

    def _lift(self, centers: Tensor, features: Tensor) -> Tensor:
        lifted = self.lift(torch.cat([centers.to(features.dtype), features], dim=-1).transpose(1, 2))
        return self.lift_norm(lifted.transpose(1, 2))
