"""Augmentation settings of the loader (defaults = the official Cross-MoST pipelines, spec §2.5, §3.4, §3.5)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "CLIP_MEAN",
    "CLIP_STD",
    "AugmentConfig",
    "CropMode",
    "ImageAugmentConfig",
    "MaskConfig",
    "PointAugmentConfig",
]

CLIP_MEAN: tuple[float, float, float] = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD: tuple[float, float, float] = (0.26862954, 0.26130258, 0.27577711)

CropMode = Literal["intended", "official", "off"]


def _check_range(name: str, value: tuple[float, float], low: float | None = None) -> None:
    if len(value) != 2 or value[0] > value[1]:
        raise ValueError(f"{name} must be a (min, max) pair with min <= max, got {value}")
    if low is not None and value[0] < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")


@dataclass(frozen=True)
class ImageAugmentConfig:
    """Image pipelines (spec §3.4).

    Attributes:
        strong_scale: Area range of the strong RandomResizedCrop.
        strong_ratio: Aspect-ratio range of the strong RandomResizedCrop.
        hflip_prob: Probability of the strong horizontal flip.
        rand_augment: timm RandAugment spec for the strong image (``None`` disables it).
        mean: Normalisation mean (CLIP).
        std: Normalisation std (CLIP).
    """

    strong_scale: tuple[float, float] = (0.3, 1.0)
    strong_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    hflip_prob: float = 0.5
    rand_augment: str | None = "rand-m9-mstd0.5-inc1"
    mean: tuple[float, float, float] = CLIP_MEAN
    std: tuple[float, float, float] = CLIP_STD

    def __post_init__(self) -> None:
        _check_range("strong_scale", self.strong_scale, low=0.0)
        _check_range("strong_ratio", self.strong_ratio, low=1e-6)
        if not 0.0 <= self.hflip_prob <= 1.0:
            raise ValueError(f"hflip_prob must be in [0, 1], got {self.hflip_prob}")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError(f"mean and std need 3 values each, std > 0; got mean={self.mean} std={self.std}")


@dataclass(frozen=True)
class PointAugmentConfig:
    """Point pipelines (spec §3.5). Transforms act on xyz; colour columns travel with their points.

    Attributes:
        weak_scale: Isotropic scale range of the weak (teacher) cloud.
        weak_rotation_sigma: Std (radians) of the per-axis weak rotation perturbation.
        weak_rotation_clip: Clip (radians) of the per-axis weak rotation perturbation.
        weak_rotate_y: Also turn the weak cloud by a uniform angle about the y (up) axis (off in the official
            pipeline; pre-training on aligned objects for targets turned any way switches it on).
        strong_scale: Isotropic scale range of the strong (student) cloud.
        strong_rotate_y: Rotate the strong cloud by a uniform angle in [0, 2π) about the y (up) axis.
        translate: Per-axis shift U(-t, t) × that axis's extent.
        jitter_sigma: Std of the per-coordinate Gaussian jitter.
        jitter_clip: Clip of the jitter.
        dropout_max: Upper bound of the dropout ratio r ~ U(0, dropout_max); dropped points become copies of point 0.
        crop_mode: ``"intended"`` crops a random box with ``crop_x_range``; ``"official"`` reproduces the
            official settings (x range (9, 1.1), at least 4096 points kept), which almost never crop anything;
            ``"off"`` skips the crop.
        crop_x_range: Range of the box's x size as a fraction of the cloud's x extent (intended mode).
        crop_aspect_range: Range of the aspect ratio that sets the y (× ar) and z (÷ ar) sizes.
        crop_min_points: Fewest points a crop must keep: a fraction of the cloud when < 1, else a count
            (intended mode; official mode always uses 4096, as the official code).
        crop_max_tries: Extra attempts before the cloud is returned uncropped (the official code makes 11 in all).
        upsample_to: Points of the strong cloud after upsampling; ``None`` = the size of the weak cloud.
        upsample_neighbours: Each added point is the mean of this many nearest neighbours of a random point.
    """

    weak_scale: tuple[float, float] = (0.9, 1.1)
    weak_rotation_sigma: float = 0.06
    weak_rotation_clip: float = 0.18
    weak_rotate_y: bool = False
    strong_scale: tuple[float, float] = (0.5, 2.0)
    strong_rotate_y: bool = True
    translate: float = 0.5
    jitter_sigma: float = 0.01
    jitter_clip: float = 0.05
    dropout_max: float = 0.875
    crop_mode: CropMode = "intended"
    crop_x_range: tuple[float, float] = (0.9, 1.1)
    crop_aspect_range: tuple[float, float] = (0.9, 1.1)
    crop_min_points: float = 0.5
    crop_max_tries: int = 10
    upsample_to: int | None = None
    upsample_neighbours: int = 10

    def __post_init__(self) -> None:
        _check_range("weak_scale", self.weak_scale, low=1e-6)
        _check_range("strong_scale", self.strong_scale, low=1e-6)
        _check_range("crop_x_range", self.crop_x_range, low=1e-6)
        _check_range("crop_aspect_range", self.crop_aspect_range, low=1e-6)
        if self.crop_mode not in ("intended", "official", "off"):
            raise ValueError(f"crop_mode must be 'intended', 'official' or 'off', got {self.crop_mode!r}")
        if not 0.0 <= self.dropout_max < 1.0:
            raise ValueError(f"dropout_max must be in [0, 1), got {self.dropout_max}")
        if self.crop_min_points <= 0:
            raise ValueError(f"crop_min_points must be > 0, got {self.crop_min_points}")
        if self.upsample_to is not None and self.upsample_to < 1:
            raise ValueError(f"upsample_to must be >= 1 or None, got {self.upsample_to}")
        if self.upsample_neighbours < 1:
            raise ValueError(f"upsample_neighbours must be >= 1, got {self.upsample_neighbours}")
        for name in ("weak_rotation_sigma", "weak_rotation_clip", "translate", "jitter_sigma", "jitter_clip"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


@dataclass(frozen=True)
class MaskConfig:
    """Image block mask for masked image modelling (spec §2.5, SimMIM's MaskGenerator).

    Attributes:
        enabled: When false the training sample still has ``image_mask``, all ``False``.
        mask_patch_size: Side in pixels of a masked block.
        model_patch_size: Patch size of the ViT (the mask is given on its patch grid).
        mask_ratio: Fraction of blocks masked: ``ceil(blocks × ratio)`` blocks per sample.
    """

    enabled: bool = True
    mask_patch_size: int = 32
    model_patch_size: int = 16
    mask_ratio: float = 0.3

    def __post_init__(self) -> None:
        if self.mask_patch_size < 1 or self.model_patch_size < 1:
            raise ValueError(
                f"mask_patch_size and model_patch_size must be >= 1, got {self.mask_patch_size}, "
                f"{self.model_patch_size}"
            )
        if self.mask_patch_size % self.model_patch_size:
            raise ValueError(
                f"mask_patch_size ({self.mask_patch_size}) must be a multiple of model_patch_size "
                f"({self.model_patch_size})"
            )
        if not 0.0 <= self.mask_ratio <= 1.0:
            raise ValueError(f"mask_ratio must be in [0, 1], got {self.mask_ratio}")


@dataclass(frozen=True)
class AugmentConfig:
    """All augmentation settings of a training loader (evaluation only normalises)."""

    image: ImageAugmentConfig = field(default_factory=ImageAugmentConfig)
    points: PointAugmentConfig = field(default_factory=PointAugmentConfig)
    mask: MaskConfig = field(default_factory=MaskConfig)
