"""The configuration of the Point-BERT point tower, as data."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

FpsStartPolicy = Literal["auto", "random", "fixed"]
MaskType = Literal["block", "random"]


@dataclass
class PointBertConfig:
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
    """

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

    def __post_init__(self) -> None:
        if len(self.mask_ratio) != 2:
            raise ValueError(
                f"invalid PointBertConfig: mask_ratio must be a (low, high) pair (got {self.mask_ratio!r})"
            )
        self.mask_ratio = (float(self.mask_ratio[0]), float(self.mask_ratio[1]))
        problems = []
        widths = tuple(self.tokenizer_widths)
        if len(widths) != 3 or any(not isinstance(w, int) or isinstance(w, bool) or w < 1 for w in widths):
            problems.append(f"tokenizer_widths must be three positive integers (got {self.tokenizer_widths!r})")
        else:
            self.tokenizer_widths = (widths[0], widths[1], widths[2])
        for name in ("trans_dim", "depth", "num_heads", "encoder_dims", "num_group", "group_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                problems.append(f"{name} must be a positive integer (got {value!r})")
        if not problems and self.trans_dim % self.num_heads:
            problems.append(f"trans_dim ({self.trans_dim}) must be divisible by num_heads ({self.num_heads})")
        if self.in_channels not in (3, 6):
            problems.append(f"in_channels must be 3 (xyz) or 6 (xyz + rgb) (got {self.in_channels!r})")
        if self.mlp_ratio <= 0:
            problems.append(f"mlp_ratio must be positive (got {self.mlp_ratio})")
        if not 0.0 <= self.drop_path_rate < 1.0:
            problems.append(f"drop_path_rate must be in [0, 1) (got {self.drop_path_rate})")
        low, high = self.mask_ratio
        if not 0.0 <= low <= high <= 1.0:
            problems.append(f"mask_ratio must satisfy 0 ≤ low ≤ high ≤ 1 (got {self.mask_ratio})")
        if self.mask_type not in ("block", "random"):
            problems.append(f"mask_type must be 'block' or 'random' (got {self.mask_type!r})")
        if self.fps_start not in ("auto", "random", "fixed"):
            problems.append(f"fps_start must be 'auto', 'random' or 'fixed' (got {self.fps_start!r})")
        if problems:
            raise ValueError("invalid PointBertConfig: " + "; ".join(problems))

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> PointBertConfig:
        """Build a config from a mapping (e.g. parsed JSON); unknown keys are an error that lists them."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown PointBertConfig field(s) {unknown}; known fields: {sorted(known)}")
        kwargs = dict(values)
        for name in ("mask_ratio", "tokenizer_widths"):
            if name in kwargs:
                kwargs[name] = tuple(kwargs[name])
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``mask_ratio`` as a list) that :meth:`from_dict` turns back into an equal config."""
        values = dataclasses.asdict(self)
        values["mask_ratio"] = list(self.mask_ratio)
        values["tokenizer_widths"] = list(self.tokenizer_widths)
        return values
