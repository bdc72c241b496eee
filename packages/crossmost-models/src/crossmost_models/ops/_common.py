"""Small helpers shared by the grouping ops: working precision and seeded random draws on any device."""

from __future__ import annotations

import torch
from torch import Tensor

_LOW_PRECISION = (torch.float16, torch.bfloat16)


def working_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype distances are computed in: half precision is widened to float32.

    Half and bfloat16 distances tie far too often for farthest-point sampling and nearest-neighbour ranking to be
    meaningful, so those inputs are compared in float32; float32 and float64 are kept as they are.
    """
    return torch.float32 if dtype in _LOW_PRECISION else dtype


def random_integers(high: int, size: int, *, device: torch.device, generator: torch.Generator | None) -> Tensor:
    """``size`` int64 values uniform in ``[0, high)``, drawn from ``generator`` (or the global RNG when ``None``).

    The draw happens on the generator's device, so a CPU generator gives the same numbers whether the data lives on
    CPU or CUDA; the result is moved to ``device``.
    """
    source = generator.device if generator is not None else device
    return torch.randint(high, (size,), generator=generator, device=source).to(device)


def random_uniform(
    low: float,
    high: float,
    size: int | tuple[int, ...],
    *,
    device: torch.device,
    generator: torch.Generator | None,
) -> Tensor:
    """float64 samples uniform in ``[low, high)``, drawn on the generator's device and moved to ``device``."""
    shape = (size,) if isinstance(size, int) else size
    source = generator.device if generator is not None else device
    uniform = torch.rand(shape, generator=generator, device=source, dtype=torch.float64)
    return (low + (high - low) * uniform).to(device)
