"""Uni3D's point tower: Point-BERT-style group tokens fed to the blocks of a timm EVA ViT.

Layer order, as Uni3D builds it (``PointcloudEncoder`` over ``timm.create_model(pc_model)``):

1. ``num_group`` (512) farthest-point centres with their ``group_size`` (64) nearest points; each group is
   ``[xyz - centre ; rgb]`` (6 channels);
2. the mini-PointNet tokenizer ``encoder`` (``first_conv`` 6→128→256, ``second_conv`` 512→512→512) and
   ``encoder2trans`` (512 → ``W``);
3. a CLS token is prepended and the positions (``cls_pos``, and ``pos_embed``: 3→128→``W`` with GELU, of the
   centres) are added **once**, before the first block;
4. the EVA blocks of the ViT named by ``timm_model`` (rotary embeddings never applied), then the ViT's ``fc_norm``
   on the CLS token: the global feature, which ``trans2embed`` (``Linear(W → 1024)``) maps into CLIP space.

The EVA blocks are timm's own :class:`timm.models.eva.EvaBlock` (the variants differ only in their block settings:
fused ``qkv`` with ``q_bias``/``v_bias`` or separate ``q/k/v_proj``, packed or separate SwiGLU MLPs, a GELU MLP for
the giant model); their parameter names are those of the released files under ``visual.blocks``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import ClassVar, Literal

import torch
from torch import Tensor, nn

from crossmost_models.point.base import (
    ConfigDict,
    FpsStartPolicy,
    GroupedPointEncoder,
    MaskType,
    PointEncoderOutput,
    grouping_problems,
    normalise_widths,
)
from crossmost_models.point.encoder import POSITION_HIDDEN
from crossmost_models.point.tokenizer import POINT_BERT_WIDTHS, PointTokenizer

__all__ = ["UNI3D_BLOCKS", "Uni3dConfig", "Uni3dEncoder"]

EVA_NORM_EPS = 1e-6

UNI3D_BLOCKS: dict[str, dict[str, object]] = {
    # timm's settings of the ViTs Uni3D builds its towers from (timm.models.eva, the @register_model functions).
    "eva02_tiny_patch14_224": {"trans_dim": 192, "depth": 12, "num_heads": 3, "mlp_ratio": 4 * 2 / 3,
                               "qkv_fused": True, "swiglu_mlp": True, "scale_mlp": False},
    "eva02_small_patch14_224": {"trans_dim": 384, "depth": 12, "num_heads": 6, "mlp_ratio": 4 * 2 / 3,
                                "qkv_fused": True, "swiglu_mlp": True, "scale_mlp": False},
    "eva02_base_patch14_448": {"trans_dim": 768, "depth": 12, "num_heads": 12, "mlp_ratio": 4 * 2 / 3,
                               "qkv_fused": False, "swiglu_mlp": True, "scale_mlp": True},
    "eva02_large_patch14_448": {"trans_dim": 1024, "depth": 24, "num_heads": 16, "mlp_ratio": 4 * 2 / 3,
                                "qkv_fused": False, "swiglu_mlp": True, "scale_mlp": True},
    "eva_giant_patch14_560": {"trans_dim": 1408, "depth": 40, "num_heads": 16, "mlp_ratio": 6144 / 1408,
                              "qkv_fused": True, "swiglu_mlp": False, "scale_mlp": False},
}  # fmt: skip
"""Block settings of Uni3D ti / s / b / l / g, by the timm model name Uni3D's scripts pass as ``--pc-model``."""


@dataclass
class Uni3dConfig(ConfigDict):
    """Sizes and behaviour of :class:`Uni3dEncoder`; defaults are Uni3D-ti (the other sizes:
    ``Uni3dConfig.from_timm_model(name)``).

    Attributes:
        trans_dim: ViT width ``W``.
        depth: EVA blocks.
        num_heads: attention heads.
        mlp_ratio: MLP hidden width relative to ``W``.
        qkv_fused: one ``qkv`` projection with ``q_bias``/``v_bias`` (ti, s, g) or separate ``q/k/v_proj`` (b, l).
        swiglu_mlp: a SwiGLU MLP (ti, s, b, l) or a GELU MLP (g).
        scale_mlp: a LayerNorm inside the SwiGLU MLP, with separate ``fc1_g``/``fc1_x`` (b, l); without it the two
            are packed into one ``fc1`` (ti, s).
        encoder_dims: width of the mini-PointNet tokens (512), mapped to ``W`` by ``encoder2trans``.
        tokenizer_widths: the mini-PointNet's inner widths (Uni3D: 128, 256, 512).
        num_group: centres per cloud ``G`` (512).
        group_size: neighbours per group ``K`` (64).
        in_channels: 6 (xyz + rgb; Uni3D's only layout) or 3.
        drop_path_rate: stochastic depth of the last block.
        mask_ratio, mask_type, fps_start, freeze_tokenizer_stats, validate_inputs: as in
            :class:`~crossmost_models.point.PointBertConfig`.
        projection_bias: ``trans2embed`` has a bias (yes).
        family: always ``"uni3d"``.
    """

    TUPLE_FIELDS: ClassVar[tuple[str, ...]] = ("mask_ratio", "tokenizer_widths")

    trans_dim: int = 192
    depth: int = 12
    num_heads: int = 3
    mlp_ratio: float = 4 * 2 / 3
    qkv_fused: bool = True
    swiglu_mlp: bool = True
    scale_mlp: bool = False
    encoder_dims: int = 512
    tokenizer_widths: tuple[int, int, int] = field(default=POINT_BERT_WIDTHS)
    num_group: int = 512
    group_size: int = 64
    in_channels: int = 6
    drop_path_rate: float = 0.0
    mask_ratio: tuple[float, float] = field(default=(0.3, 0.4))
    mask_type: MaskType = "block"
    fps_start: FpsStartPolicy = "auto"
    freeze_tokenizer_stats: bool = True
    validate_inputs: bool = True
    projection_bias: bool = True
    family: Literal["uni3d"] = "uni3d"

    def __post_init__(self) -> None:
        problems = grouping_problems(self)
        normalise_widths(self, "tokenizer_widths", problems)
        if self.family != "uni3d":
            problems.append(f"family must be 'uni3d' (got {self.family!r})")
        if problems:
            raise ValueError("invalid Uni3dConfig: " + "; ".join(problems))
        self.mask_ratio = (float(self.mask_ratio[0]), float(self.mask_ratio[1]))

    @classmethod
    def from_timm_model(cls, name: str, **overrides: object) -> Uni3dConfig:
        """The config of the Uni3D tower built on timm's ``name`` (a key of :data:`UNI3D_BLOCKS`)."""
        if name not in UNI3D_BLOCKS:
            raise ValueError(f"unknown Uni3D trunk {name!r}; known: {sorted(UNI3D_BLOCKS)}")
        return cls(**{**UNI3D_BLOCKS[name], **overrides})  # type: ignore[arg-type]


class Uni3dEncoder(GroupedPointEncoder):
    """Uni3D's point tower (see the module docs for its layers).

    Args:
        config: sizes and behaviour; defaults to Uni3D-ti.
    """

    def __init__(self, config: Uni3dConfig | None = None) -> None:
        from timm.models.eva import EvaBlock

        super().__init__()
        self.config = config = config if config is not None else Uni3dConfig()
        width = config.trans_dim
        self.encoder = PointTokenizer(config.in_channels, config.encoder_dims, config.tokenizer_widths)
        self.encoder2trans = nn.Linear(config.encoder_dims, width)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, width))
        self.cls_pos = nn.Parameter(torch.zeros(1, 1, width))
        self.mask_token = nn.Parameter(torch.zeros(1, 1, width))
        self.pos_embed = nn.Sequential(nn.Linear(3, POSITION_HIDDEN), nn.GELU(), nn.Linear(POSITION_HIDDEN, width))
        depth = config.depth
        rates = [config.drop_path_rate * i / (depth - 1) if depth > 1 else 0.0 for i in range(depth)]
        norm = partial(nn.LayerNorm, eps=EVA_NORM_EPS)
        self.blocks = nn.ModuleList(
            EvaBlock(
                width,
                config.num_heads,
                qkv_bias=True,
                qkv_fused=config.qkv_fused,
                mlp_ratio=config.mlp_ratio,
                swiglu_mlp=config.swiglu_mlp,
                scale_mlp=config.scale_mlp,
                drop_path=rate,
                norm_layer=norm,
            )
            for rate in rates
        )
        self.fc_norm = norm(width)
        self.feature_dim = width
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """timm's EVA initialisation: truncated normal (std 0.02) for linear weights and the tokens, zero biases,
        unit norms; the tokenizer's convolutions as in Point-BERT."""
        self.init_weights((self.cls_token, self.cls_pos, self.mask_token))
        for name, parameter in self.named_parameters():
            if name.endswith(("q_bias", "v_bias")):
                nn.init.zeros_(parameter)

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
        :meth:`~crossmost_models.point.PointBertEncoder.forward`; the global feature is ``fc_norm`` of the final
        CLS token)."""
        groups, centers = self.group(points, fps_start=fps_start, generator=generator)
        tokens = self.encoder2trans(self.encoder(groups))  # B×G×W
        group_mask = self.resolve_group_mask(
            centers, mask_groups=mask_groups, group_mask=group_mask, generator=generator
        )
        inputs = tokens
        if group_mask is not None:
            inputs = torch.where(group_mask.unsqueeze(-1), self.mask_token.to(tokens.dtype), tokens)
        batch_size = inputs.shape[0]
        x = torch.cat([self.cls_token.expand(batch_size, -1, -1).to(inputs.dtype), inputs], dim=1)
        pos = self.pos_embed(centers)
        x = x + torch.cat([self.cls_pos.expand(batch_size, -1, -1).to(pos.dtype), pos], dim=1)
        for block in self.blocks:
            x = block(x)
        x = self.fc_norm(x)
        return PointEncoderOutput(
            global_feature=x[:, 0],
            tokens=x[:, 1:],
            cls_token=x[:, 0],
            pre_mask_tokens=tokens,
            group_mask=group_mask,
            centers=centers,
        )
