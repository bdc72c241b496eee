"""AdamW parameter groups (layer-wise lr decay on the ViT, no decay on 1-D tensors) and the lr schedule."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn


def scaled_learning_rate(base_lr: float, global_batch_size: int) -> float:
    """lr = base_lr × global batch / 256 (the global batch is declared, never inferred from the process count)."""
    return base_lr * global_batch_size / 256.0


def build_param_groups(
    model: nn.Module,
    *,
    weight_decay: float,
    layer_decay: float = 1.0,
    num_layers: int = 0,
    layer_id: Callable[[str, int], int] | None = None,
    decay_zero_dim: bool = False,
) -> list[dict[str, Any]]:
    """Split the trainable parameters into AdamW groups.

    A parameter whose ViT layer id is ``i`` (0 = embeddings, 1..L = blocks, L+1 = everything after the tower and
    every non-ViT parameter) gets lr scale ``layer_decay ** (L + 1 - i)``. Tensors with one dimension (biases, norm
    weights, class tokens) get no weight decay; 0-D tensors (``logit_scale``) get it only if ``decay_zero_dim``.
    Frozen parameters (``requires_grad=False``) are left out. Without ``layer_id`` every parameter is in one layer
    with lr scale 1 (no layer-wise decay).

    Returns:
        Param groups with the extra keys ``lr_scale`` and ``group_name`` (used by the schedule and the logs).
    """
    groups: dict[tuple[int, bool], dict[str, Any]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        lid = num_layers + 1 if layer_id is None else layer_id(name, num_layers)
        decay = param.ndim >= 2 or (param.ndim == 0 and decay_zero_dim)
        key = (lid, decay)
        if key not in groups:
            groups[key] = {
                "params": [],
                "param_names": [],
                "weight_decay": weight_decay if decay else 0.0,
                "lr_scale": layer_decay ** (num_layers + 1 - lid),
                "group_name": f"layer{lid}_{'decay' if decay else 'no_decay'}",
            }
        groups[key]["params"].append(param)
        groups[key]["param_names"].append(name)
    return [groups[k] for k in sorted(groups)]


def build_adamw(
    groups: list[dict[str, Any]],
    *,
    lr: float,
    betas: tuple[float, float],
    eps: float,
    fused: bool,
    device: torch.device,
) -> torch.optim.AdamW:
    """AdamW over ``groups`` with each group's initial lr = ``lr × lr_scale`` (fused on CUDA, foreach otherwise)."""
    for g in groups:
        g["lr"] = lr * g["lr_scale"]
    params = [{k: v for k, v in g.items() if k != "param_names"} for g in groups]
    use_fused = fused and device.type == "cuda"
    return torch.optim.AdamW(params, lr=lr, betas=betas, eps=eps, fused=use_fused or None, foreach=not use_fused)


class WarmupCosine:
    """Multiplier of the peak lr at optimiser step ``s`` (0-based): linear warm-up to 1 over ``warmup_steps``
    (step s uses (s+1)/warmup_steps), then a half cosine down to ``floor`` (min_lr / lr) at ``total_steps``."""

    def __init__(self, *, warmup_steps: int, total_steps: int, floor: float) -> None:
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps
        self.floor = floor

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        span = max(1, self.total_steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / span)
        return self.floor + (1.0 - self.floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(
    optimizer: torch.optim.Optimizer, *, warmup_steps: int, total_steps: int, lr: float, min_lr: float
) -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` with :class:`WarmupCosine` on every group (the layer scales are in the groups' base lr).

    It is stepped once per optimiser step by the loop itself (not through ``accelerator.prepare``, whose scheduler
    wrapper steps once per process and would make the schedule depend on the number of processes).
    """
    floor = min_lr / lr if lr > 0 else 0.0
    fn = WarmupCosine(warmup_steps=warmup_steps, total_steps=total_steps, floor=floor)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda=fn)
