"""The run's ``Accelerator`` and the batch arithmetic that feeds it: mixed precision, accumulation, and the
per-device batch that makes the declared global batch."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch

from crossmost_train.config import ConfigError, TrainConfig

if TYPE_CHECKING:
    from accelerate import Accelerator

__all__ = ["build_accelerator", "per_device_batch", "resolve_mixed_precision"]


def resolve_mixed_precision(setting: str) -> str:
    """``auto`` → bf16 on CUDA, ``no`` elsewhere."""
    if setting == "auto":
        return "bf16" if torch.cuda.is_available() else "no"
    return setting


def build_accelerator(
    cfg: TrainConfig, run_dir: Path, *, grad_accum_steps: int = 1, find_unused_parameters: bool = False
) -> Accelerator:
    """An ``Accelerator`` logging to ``run_dir`` (TensorBoard under ``run_dir/tensorboard``)."""
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs, ProjectConfiguration

    trackers = [t for t in cfg.run.trackers if t]
    return Accelerator(
        mixed_precision=resolve_mixed_precision(cfg.run.mixed_precision),
        gradient_accumulation_steps=grad_accum_steps,
        log_with=trackers or None,
        project_config=ProjectConfiguration(project_dir=str(run_dir), logging_dir=str(run_dir / "tensorboard")),
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=find_unused_parameters)],
    )


def per_device_batch(cfg: TrainConfig, num_processes: int) -> tuple[int, int]:
    """(per-device batch, accumulation steps) that make the declared global batch, or a clear error."""
    o = cfg.optim
    accum = max(1, o.grad_accum_steps)
    if o.batch_size_per_device:
        if o.batch_size_per_device * accum * num_processes != o.global_batch_size:
            raise ConfigError(
                f"optim.batch_size_per_device ({o.batch_size_per_device}) × optim.grad_accum_steps ({accum}) × "
                f"processes ({num_processes}) = {o.batch_size_per_device * accum * num_processes}, but "
                f"optim.global_batch_size is {o.global_batch_size}"
            )
        return o.batch_size_per_device, accum
    if o.global_batch_size % (accum * num_processes):
        raise ConfigError(
            f"optim.global_batch_size ({o.global_batch_size}) is not divisible by optim.grad_accum_steps ({accum}) × "
            f"processes ({num_processes})"
        )
    return o.global_batch_size // (accum * num_processes), accum
