"""Shared helpers for the masked terms: a masked mean that is exactly zero, never NaN, on an empty mask."""

from __future__ import annotations

import torch
from torch import Tensor


def masked_mean(values: Tensor, mask: Tensor, elements_per_entry: int = 1) -> Tensor:
    """Sum of ``values`` where ``mask`` is set, divided by ``mask.sum() × elements_per_entry``.

    ``mask`` broadcasts against ``values``; masked-out entries never reach the arithmetic, so non-finite values
    there do no harm. An empty mask gives zero with a (zero) gradient path to ``values``.
    """
    selected = torch.where(mask, values, torch.zeros_like(values))
    count = mask.sum() * elements_per_entry
    return selected.sum() / count.clamp_min(1).to(selected.dtype)


def check_bool_mask(name: str, mask: Tensor, shape: tuple[int, ...]) -> None:
    """Raise a clear error unless ``mask`` is a bool tensor of ``shape``."""
    if mask.dtype != torch.bool:
        raise TypeError(f"{name}: mask must be bool (True = masked), got {mask.dtype}")
    if tuple(mask.shape) != shape:
        raise ValueError(f"{name}: mask must have shape {shape}, got {tuple(mask.shape)}")
