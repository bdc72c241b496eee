"""The configuration of the Point-BERT point tower, as data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

from crossmost_models.point.base import ConfigDict, FpsStartPolicy, MaskType, grouping_problems, normalise_widths

__all__ = ["FpsStartPolicy", "MaskType", "PointBertConfig"]


@dataclass
class PointBertConfig(ConfigDict):
    """Sizes and behaviour of :class:`~crossmost_models.point.PointBertEncoder`.

    Defaults are the Point-BERT tower of the Cross-MoST paper (12 × 384, 6 heads, 64 groups × 32 points).

    Attributes:
        trans_dim: transformer width ``W``.
        depth: number of transformer blocks.
        num_heads: attention heads.
        mlp_ratio: MLP hidden width relative to ``trans_dim``.
        drop_path_rate: stochastic depth of the last block, growing linearly from 0 at the first.
        qkv_bias: whether the attention ``qkv`` projection has a bias (Point-BERT: no).
        encoder_dims: width of the mini-PointNet tokens, mapped to ``trans_dim`` by ``reduce_dim``.
        tokenizer_widths: the mini-PointNet's inner widths ``(first hidden, first out, second hidden)``; Point-BERT's
            (and every released checkpoint's) are ``(128, 256, 512)``. Small models for tests and the demo use
            narrower ones: the tokenizer runs on every point of every group, and at 512 wide it dominates a tiny
            tower's cost.
        num_group: farthest-point centres per cloud ``G``.
        group_size: neighbours per group ``K``.
        in_channels: channels per input point: 3 (xyz) or 6 (xyz + rgb).
        mask_ratio: ``(low, high)`` bounds of the masked fraction of groups, drawn per cloud.
        mask_type: ``"block"`` (one contiguous block around a random seed group, the paper) or ``"random"``.
        fps_start: where farthest-point sampling starts: ``"random"`` (a random point per cloud), ``"fixed"``
            (point 0, so the same input always gives the same groups) or ``"auto"`` (the default: random in
            ``train()`` mode, as the official code always does, and fixed in ``eval()`` mode, so that teacher
            passes and evaluation are deterministic).
        freeze_tokenizer_stats: when the tokenizer is frozen (:meth:`PointBertEncoder.freeze_tokenizer`), also keep
            its BatchNorm layers in eval mode so their running statistics stay put. A deliberate difference from the
            official code, whose "frozen" tokenizer still updated its BatchNorm statistics (spec §7.4.11); set
            ``False`` to reproduce that.
        validate_inputs: check every input batch with :func:`~crossmost_models.ops.check_points` (one device sync
            per forward on CUDA).
        projection_bias: whether the point projection into the shared space has a bias (Point-BERT, ULIP: no).
        family: always ``"pointbert"`` (the key that tells the point-tower configs apart in JSON).
    """

    TUPLE_FIELDS: ClassVar[tuple[str, ...]] = ("mask_ratio", "tokenizer_widths")

    trans_dim: int = 384
    depth: int = 12
    num_heads: int = 6
    mlp_ratio: float = 4.0
    drop_path_rate: float = 0.1
    qkv_bias: bool = False
    encoder_dims: int = 256
    tokenizer_widths: tuple[int, int, int] = field(default=(128, 256, 512))
    num_group: int = 64
    group_size: int = 32
    in_channels: int = 3
    mask_ratio: tuple[float, float] = field(default=(0.3, 0.4))
    mask_type: MaskType = "block"
    fps_start: FpsStartPolicy = "auto"
    freeze_tokenizer_stats: bool = True
    validate_inputs: bool = True
    projection_bias: bool = False
    family: Literal["pointbert"] = "pointbert"

    def __post_init__(self) -> None:
        if len(self.mask_ratio) != 2:
            raise ValueError(
                f"invalid PointBertConfig: mask_ratio must be a (low, high) pair (got {self.mask_ratio!r})"
            )
        self.mask_ratio = (float(self.mask_ratio[0]), float(self.mask_ratio[1]))
        problems = grouping_problems(self)
        normalise_widths(self, "tokenizer_widths", problems)
        if not isinstance(self.encoder_dims, int) or self.encoder_dims < 1:
            problems.append(f"encoder_dims must be a positive integer (got {self.encoder_dims!r})")
        if self.family != "pointbert":
            problems.append(f"family must be 'pointbert' (got {self.family!r})")
        if problems:
            raise ValueError("invalid PointBertConfig: " + "; ".join(problems))
