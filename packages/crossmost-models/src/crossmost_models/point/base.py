"""What every point tower of crossmost shares: grouping around farthest-point centres, a tokenizer that can be frozen,
group masks for masked point modelling, and the :class:`PointEncoderOutput` they all return.

The families (Point-BERT / ULIP, OpenShape's PPAT, Uni3D) differ in how they group and tokenize and in their
transformer; the model around them (:class:`~crossmost_models.CrossModalModel`) only sees this interface.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol, TypeVar

import torch
from torch import Tensor, nn

from crossmost_models.ops import block_mask_groups, check_points, group_points, random_mask_groups

FpsStartPolicy = Literal["auto", "random", "fixed"]
MaskType = Literal["block", "random"]

_Config = TypeVar("_Config", bound="ConfigDict")


class ConfigDict:
    """``from_dict`` / ``to_dict`` for the point-tower config dataclasses (tuples travel as JSON lists)."""

    TUPLE_FIELDS: ClassVar[tuple[str, ...]] = ("mask_ratio",)

    @classmethod
    def from_dict(cls: type[_Config], values: Mapping[str, Any]) -> _Config:
        """Build a config from a mapping (e.g. parsed JSON); unknown keys are an error that lists them."""
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} field(s) {unknown}; known fields: {sorted(known)}")
        kwargs = dict(values)
        for name in cls.TUPLE_FIELDS:
            if name in kwargs:
                kwargs[name] = tuple(kwargs[name])
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples as lists) that :meth:`from_dict` turns back into an equal config."""
        values = dataclasses.asdict(self)  # type: ignore[call-overload]
        for name in self.TUPLE_FIELDS:
            values[name] = list(values[name])
        return dict(values)


class GroupingSettings(Protocol):
    """The config fields :class:`GroupedPointEncoder` reads."""

    num_group: int
    in_channels: int
    mask_ratio: tuple[float, float]
    mask_type: MaskType
    fps_start: FpsStartPolicy
    freeze_tokenizer_stats: bool
    validate_inputs: bool
    trans_dim: int


def normalise_widths(config: Any, name: str, problems: list[str]) -> None:
    """Make ``config.<name>`` a tuple of three positive integers, or append to ``problems`` what is wrong with it
    (the inner widths of a tokenizer or a set abstraction)."""
    widths = tuple(getattr(config, name))
    if len(widths) != 3 or any(not isinstance(w, int) or isinstance(w, bool) or w < 1 for w in widths):
        problems.append(f"{name} must be three positive integers (got {widths!r})")
    else:
        setattr(config, name, (widths[0], widths[1], widths[2]))


def grouping_problems(config: Any) -> list[str]:
    """What is wrong with the grouping and masking fields every point-tower config has (empty when nothing)."""
    problems = []
    for name in ("trans_dim", "depth", "num_heads", "num_group", "group_size"):
        value = getattr(config, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            problems.append(f"{name} must be a positive integer (got {value!r})")
    if not problems and config.trans_dim % config.num_heads:
        problems.append(f"trans_dim ({config.trans_dim}) must be divisible by num_heads ({config.num_heads})")
    if config.in_channels not in (3, 6):
        problems.append(f"in_channels must be 3 (xyz) or 6 (xyz + rgb) (got {config.in_channels!r})")
    if config.mlp_ratio <= 0:
        problems.append(f"mlp_ratio must be positive (got {config.mlp_ratio})")
    if not 0.0 <= config.drop_path_rate < 1.0:
        problems.append(f"drop_path_rate must be in [0, 1) (got {config.drop_path_rate})")
    if len(config.mask_ratio) != 2:
        problems.append(f"mask_ratio must be a (low, high) pair (got {config.mask_ratio!r})")
    else:
        low, high = config.mask_ratio
        if not 0.0 <= low <= high <= 1.0:
            problems.append(f"mask_ratio must satisfy 0 ≤ low ≤ high ≤ 1 (got {config.mask_ratio})")
    if config.mask_type not in ("block", "random"):
        problems.append(f"mask_type must be 'block' or 'random' (got {config.mask_type!r})")
    if config.fps_start not in ("auto", "random", "fixed"):
        problems.append(f"fps_start must be 'auto', 'random' or 'fixed' (got {config.fps_start!r})")
    return problems


@dataclass(frozen=True)
class PointEncoderOutput:
    """What a point tower's ``forward`` returns.

    Attributes:
        global_feature: ``B×F`` feature that the point projection maps into the shared space (``F`` is the
            encoder's ``feature_dim``: ``[CLS ; max over the group tokens]`` for Point-BERT, the CLS token for PPAT
            and Uni3D).
        tokens: ``B×G×W`` final group tokens.
        cls_token: ``B×W`` final CLS token.
        pre_mask_tokens: ``B×G×W`` group tokens before masking (the masked point modelling target; still attached
            to the graph, detach it where a stop-gradient is wanted).
        group_mask: ``B×G`` bool (``True`` = masked) when the pass was masked, else ``None``.
        centers: ``B×G×3`` group centres.
    """

    global_feature: Tensor
    tokens: Tensor
    cls_token: Tensor
    pre_mask_tokens: Tensor
    group_mask: Tensor | None
    centers: Tensor


class GroupedPointEncoder(nn.Module):
    """Base of the point towers: a tokenizer ``encoder`` over point groups, then a transformer.

    Subclasses set ``config`` (with the fields of :class:`GroupingSettings`), ``encoder`` (the tokenizer: the part
    that :meth:`freeze_tokenizer` freezes and ``reset_point_branch`` keeps) and ``feature_dim``, and implement
    ``forward`` returning a :class:`PointEncoderOutput`.
    """

    config: Any
    encoder: nn.Module
    feature_dim: int
    cls_token: nn.Parameter

    def __init__(self) -> None:
        super().__init__()
        self._tokenizer_frozen = False

    @property
    def width(self) -> int:
        """Token width ``W`` (``trans_dim``)."""
        return int(self.config.trans_dim)

    @property
    def num_groups(self) -> int:
        """``G``, the number of group tokens (the length of a group mask)."""
        return int(self.config.num_group)

    @property
    def tokenizer_frozen(self) -> bool:
        """Whether :meth:`freeze_tokenizer` has been called."""
        return self._tokenizer_frozen

    def freeze_tokenizer(self) -> None:
        """Stop training the tokenizer: no gradients for its parameters and, when ``config.freeze_tokenizer_stats``
        is set (the default), its BatchNorm running statistics stop updating too: the tokenizer stays in eval mode
        even while the encoder is in train mode."""
        self._tokenizer_frozen = True
        self.encoder.requires_grad_(False)
        if self.config.freeze_tokenizer_stats:
            self.encoder.eval()

    def unfreeze_tokenizer(self) -> None:
        """Undo :meth:`freeze_tokenizer`: the tokenizer trains and follows the encoder's train/eval mode again."""
        self._tokenizer_frozen = False
        self.encoder.requires_grad_(True)
        self.encoder.train(self.training)

    def train(self, mode: bool = True) -> GroupedPointEncoder:
        """Set train/eval mode; a frozen tokenizer with frozen statistics stays in eval mode."""
        super().train(mode)
        if self._tokenizer_frozen and self.config.freeze_tokenizer_stats:
            self.encoder.eval()
        return self

    def fps_start_for_mode(self) -> Literal["random", "fixed"]:
        """The FPS start policy in the current mode (``config.fps_start``, with ``"auto"`` resolved)."""
        if self.config.fps_start == "auto":
            return "random" if self.training else "fixed"
        start: Literal["random", "fixed"] = self.config.fps_start
        return start

    def checked_points(self, points: Tensor, min_points: int, dtype: torch.dtype) -> Tensor:
        """``points`` checked (when ``config.validate_inputs``) and cast to ``dtype``."""
        if self.config.validate_inputs:
            check_points(points, min_points=min_points, channels=(self.config.in_channels,))
        return points if points.dtype == dtype else points.to(dtype)

    def group(
        self,
        points: Tensor,
        *,
        fps_start: Literal["random", "fixed"] | Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Check ``points``, cast them to the parameters' dtype and split them into their ``G`` nearest-neighbour
        groups: ``(neighbourhoods B×G×K×C, centers B×G×3)`` (FPS centres, kNN of ``group_size``)."""
        config = self.config
        points = self.checked_points(points, max(config.num_group, config.group_size), self.cls_token.dtype)
        start = fps_start if fps_start is not None else self.fps_start_for_mode()
        return group_points(points, config.num_group, config.group_size, start=start, generator=generator)

    def init_weights(self, tokens: tuple[nn.Parameter, ...], *, convolutions: bool = True) -> None:
        """ViT-style initialisation: truncated normal (std 0.02) for linear weights (and 1-D convolution weights
        with ``convolutions``; otherwise convolutions get torch's default) and for ``tokens``, zero biases, unit
        LayerNorms. Modules are visited in registration order, so a seeded build is reproducible."""
        for module in self.modules():
            if isinstance(module, nn.Linear) or (convolutions and isinstance(module, nn.Conv1d)):
                nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Conv1d | nn.Conv2d):
                module.reset_parameters()
        for token in tokens:
            nn.init.trunc_normal_(token, std=0.02)

    def draw_group_mask(self, centers: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        """A ``B×G`` mask of the configured type and ratio for these centres."""
        draw = block_mask_groups if self.config.mask_type == "block" else random_mask_groups
        return draw(centers, self.config.mask_ratio, generator=generator)

    def resolve_group_mask(
        self,
        centers: Tensor,
        *,
        mask_groups: bool,
        group_mask: Tensor | None,
        generator: torch.Generator | None,
    ) -> Tensor | None:
        """The mask of this pass: ``group_mask`` checked, or a drawn one when ``mask_groups``, else ``None``."""
        batch_size, num_group = centers.shape[:2]
        if group_mask is not None:
            if group_mask.shape != (batch_size, num_group) or group_mask.dtype != torch.bool:
                raise ValueError(
                    f"group_mask must be a bool tensor of shape ({batch_size}, {num_group}); "
                    f"got {group_mask.dtype} of shape {tuple(group_mask.shape)}"
                )
            return group_mask.to(centers.device)
        if mask_groups:
            return self.draw_group_mask(centers, generator=generator)
        return None
