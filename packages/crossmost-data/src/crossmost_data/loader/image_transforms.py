"""Image pipelines of the self-training loader (spec §3.4): weak (teacher), strong (student) and evaluation.

The geometric operations are written on PIL directly so that every random number comes from the generator passed
in (torchvision's transforms draw from torch's global generator). RandAugment is timm's
(``rand_augment_transform``), run with the global generators temporarily seeded from the sample's generator
(:func:`crossmost_data.loader.seeding.global_rng_seeded`).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image

from crossmost_data.loader.config import ImageAugmentConfig
from crossmost_data.loader.seeding import global_rng_seeded

__all__ = [
    "EvalImageTransform",
    "StrongImageTransform",
    "WeakImageTransform",
    "center_crop",
    "random_resized_crop_box",
    "resize_shorter_side",
    "to_normalized_tensor",
]

_BICUBIC = Image.Resampling.BICUBIC


def _posterize_allowing_zero_bits(image: Image.Image, bits_to_keep: int, **_: object) -> Image.Image:
    """timm's posterize, except that 0 bits (asked for by ``PosterizeIncreasing`` at magnitude 10) keeps nothing,
    as older Pillow did; Pillow 11+ raises on 0 bits, which stopped a run at a random sample."""
    from PIL import ImageOps

    if bits_to_keep >= 8:
        return image
    if bits_to_keep <= 0:
        return Image.new(image.mode, image.size)
    return ImageOps.posterize(image, bits_to_keep)


def to_normalized_tensor(
    image: Image.Image, mean: tuple[float, float, float], std: tuple[float, float, float]
) -> torch.Tensor:
    """RGB image → 3×H×W float32 tensor of ``(x / 255 - mean) / std`` per channel.

    Computed in NumPy (single-threaded): torch's intra-op threads only add synchronisation for an image this size,
    and slow the loader down badly on a busy machine.
    """
    array = np.asarray(image.convert("RGB") if image.mode != "RGB" else image, dtype=np.float32)
    gain = (1.0 / (255.0 * np.asarray(std, dtype=np.float64))).astype(np.float32)
    offset = (np.asarray(mean, dtype=np.float64) / np.asarray(std, dtype=np.float64)).astype(np.float32)
    normalized = array * gain - offset
    return torch.from_numpy(np.ascontiguousarray(normalized.transpose(2, 0, 1)))


def resize_shorter_side(image: Image.Image, size: int) -> Image.Image:
    """Resize (bicubic) so that the shorter side is ``size``, keeping the aspect ratio (like ``Resize(int)``)."""
    width, height = image.size
    if min(width, height) == size:
        return image
    new_size = (size, int(size * height / width)) if width <= height else (int(size * width / height), size)
    return image.resize(new_size, _BICUBIC)


def center_crop(image: Image.Image, size: int) -> Image.Image:
    """The central ``size``×``size`` crop (the image must be at least that large)."""
    width, height = image.size
    if (width, height) == (size, size):
        return image
    left = round((width - size) / 2.0)
    top = round((height - size) / 2.0)
    return image.crop((left, top, left + size, top + size))


def random_crop(image: Image.Image, size: int, rng: np.random.Generator) -> Image.Image:
    """A uniformly placed ``size``×``size`` crop."""
    width, height = image.size
    if (width, height) == (size, size):
        return image
    left = int(rng.integers(0, width - size + 1))
    top = int(rng.integers(0, height - size + 1))
    return image.crop((left, top, left + size, top + size))


def random_resized_crop_box(
    width: int,
    height: int,
    scale: tuple[float, float],
    ratio: tuple[float, float],
    rng: np.random.Generator,
    attempts: int = 10,
) -> tuple[int, int, int, int]:
    """The box ``(left, top, crop_width, crop_height)`` of a RandomResizedCrop (Inception-style sampling).

    Up to ``attempts`` times, draw an area fraction in ``scale`` and a log-uniform aspect ratio in ``ratio``; the
    first box that fits is placed uniformly. Otherwise fall back to the largest central box whose aspect ratio is
    clamped to ``ratio`` (the algorithm of torchvision's ``RandomResizedCrop.get_params``).
    """
    area = width * height
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(attempts):
        target_area = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(log_ratio[0], log_ratio[1]))
        crop_w = round(math.sqrt(target_area * aspect))
        crop_h = round(math.sqrt(target_area / aspect))
        if 0 < crop_w <= width and 0 < crop_h <= height:
            top = int(rng.integers(0, height - crop_h + 1))
            left = int(rng.integers(0, width - crop_w + 1))
            return left, top, crop_w, crop_h
    in_ratio = width / height
    if in_ratio < ratio[0]:
        crop_w, crop_h = width, round(width / ratio[0])
    elif in_ratio > ratio[1]:
        crop_h, crop_w = height, round(height * ratio[1])
    else:
        crop_w, crop_h = width, height
    return (width - crop_w) // 2, (height - crop_h) // 2, crop_w, crop_h


class WeakImageTransform:
    """Teacher image: resize the shorter side to ``size`` (bicubic) → random ``size`` crop → tensor → normalise."""

    def __init__(self, size: int, config: ImageAugmentConfig | None = None) -> None:
        if size < 1:
            raise ValueError(f"image size must be >= 1, got {size}")
        self.size = size
        self.config = config or ImageAugmentConfig()

    def __call__(self, image: Image.Image, rng: np.random.Generator) -> torch.Tensor:
        """Transform one image with randomness from ``rng``."""
        cropped = random_crop(resize_shorter_side(image, self.size), self.size, rng)
        return to_normalized_tensor(cropped, self.config.mean, self.config.std)


class StrongImageTransform:
    """Student image: RandomResizedCrop (bicubic) → horizontal flip → timm RandAugment → tensor → normalise.

    RandAugment gets the hyper-parameters timm's ``create_transform`` would pass: ``translate_const`` = 45 % of the
    image size, the fill colour = the normalisation mean in 0–255, bicubic resampling.
    """

    def __init__(self, size: int, config: ImageAugmentConfig | None = None) -> None:
        if size < 1:
            raise ValueError(f"image size must be >= 1, got {size}")
        self.size = size
        self.config = config or ImageAugmentConfig()
        self.rand_augment = None
        if self.config.rand_augment:
            from timm.data.auto_augment import rand_augment_transform

            hparams = {
                "translate_const": int(size * 0.45),
                "img_mean": tuple(min(255, round(255 * m)) for m in self.config.mean),
                "interpolation": _BICUBIC,
            }
            try:
                self.rand_augment = rand_augment_transform(self.config.rand_augment, hparams)
            except (AssertionError, ValueError, KeyError) as error:
                raise ValueError(f"invalid RandAugment spec {self.config.rand_augment!r}: {error}") from error
            for op in self.rand_augment.ops:
                if op.name.startswith("Posterize"):
                    op.aug_fn = _posterize_allowing_zero_bits

    def __call__(self, image: Image.Image, rng: np.random.Generator) -> torch.Tensor:
        """Transform one image with randomness from ``rng`` only (RandAugment included)."""
        width, height = image.size
        left, top, crop_w, crop_h = random_resized_crop_box(
            width, height, self.config.strong_scale, self.config.strong_ratio, rng
        )
        out = image.resize((self.size, self.size), _BICUBIC, box=(left, top, left + crop_w, top + crop_h))
        if rng.random() < self.config.hflip_prob:
            out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        if self.rand_augment is not None:
            with global_rng_seeded(rng):
                out = self.rand_augment(out)
        return to_normalized_tensor(out, self.config.mean, self.config.std)


class EvalImageTransform:
    """Evaluation image: resize the shorter side to ``size`` (bicubic) → centre crop → tensor → normalise."""

    def __init__(self, size: int, config: ImageAugmentConfig | None = None) -> None:
        if size < 1:
            raise ValueError(f"image size must be >= 1, got {size}")
        self.size = size
        self.config = config or ImageAugmentConfig()

    def __call__(self, image: Image.Image) -> torch.Tensor:
        """Transform one image (deterministic)."""
        cropped = center_crop(resize_shorter_side(image, self.size), self.size)
        return to_normalized_tensor(cropped, self.config.mean, self.config.std)
