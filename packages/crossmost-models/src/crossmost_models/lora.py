"""Low-rank adapters (LoRA, Hu et al. 2021) on the weight matrices of attention and MLP layers, in pure torch.

An adapted weight ``W`` (``out×in``) is seen by its module as ``W + (α / r) · B A`` with ``A`` (``r×in``, Kaiming
uniform) and ``B`` (``out×r``, zeros), so a fresh adapter leaves the module's output exactly unchanged. The adapter is
a ``torch.nn.utils.parametrize`` parametrization: every module that reads its weight (an ``nn.Linear``, and an
``nn.MultiheadAttention`` whose fused ``in_proj_weight`` and ``out_proj.weight`` its functional forward reads
directly) sees the adapted one without any change to its forward. The frozen base weight moves to
``…parametrizations.<name>.original`` and the adapter's factors to ``…parametrizations.<name>.0.lora_A`` / ``lora_B``
while adapters are attached; :func:`merge_lora` folds them into plain weights under the original names, which is what
a saved model holds.

The effective weight is formed once per forward of the layer, a temporary of the weight's size (kept for the
backward pass until the block's backward, or recomputed with activation checkpointing).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

__all__ = ["LowRankAdapter", "add_lora", "lora_targets", "merge_lora"]


class LowRankAdapter(nn.Module):
    """The parametrization ``W ↦ W + (alpha / rank) · lora_B @ lora_A``.

    Args:
        out_features: rows of the adapted weight.
        in_features: columns of the adapted weight.
        rank: ``r``, the inner dimension (≥ 1).
        alpha: the scale numerator; the update is scaled by ``alpha / rank``.
        device: where the factors live (that of the weight).
        dtype: their dtype (that of the weight).
    """

    def __init__(
        self,
        out_features: int,
        in_features: int,
        *,
        rank: int,
        alpha: float,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if rank < 1:
            raise ValueError(f"LoRA rank must be ≥ 1, got {rank}")
        self.rank = rank
        self.alpha = alpha
        self.scaling = alpha / rank
        self.lora_A = nn.Parameter(torch.empty(rank, in_features, device=device, dtype=dtype))
        self.lora_B = nn.Parameter(torch.zeros(out_features, rank, device=device, dtype=dtype))
        if self.lora_A.device.type != "meta":
            nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))

    def forward(self, weight: Tensor) -> Tensor:
        """The adapted weight."""
        return weight + (self.lora_B @ self.lora_A).to(weight.dtype) * self.scaling

    def extra_repr(self) -> str:
        return f"rank={self.rank}, alpha={self.alpha}"


def lora_targets(module: nn.Module) -> list[tuple[str, nn.Module, str]]:
    """``(module name, module, weight name)`` of every matrix an adapter goes on inside ``module``: the ``weight`` of
    each ``nn.Linear`` and the fused ``in_proj_weight`` of each ``nn.MultiheadAttention`` (whose ``out_proj`` is an
    ``nn.Linear`` and is found as one)."""
    found: list[tuple[str, nn.Module, str]] = []
    for name, sub in module.named_modules():
        if parametrize.is_parametrized(sub):
            continue
        if isinstance(sub, nn.Linear):
            found.append((name, sub, "weight"))
        elif isinstance(sub, nn.MultiheadAttention):
            if sub.in_proj_weight is None:
                raise ValueError(
                    f"{name or type(module).__name__}: a MultiheadAttention with separate q/k/v weights is not "
                    "supported by the adapters"
                )
            found.append((name, sub, "in_proj_weight"))
    return found


def add_lora(module: nn.Module, *, rank: int, alpha: float) -> int:
    """Attach a :class:`LowRankAdapter` to every matrix of :func:`lora_targets` ``(module)``.

    The base weights are frozen (``requires_grad=False``); the adapters' factors train. Matrices that already carry
    a parametrization are left alone, so calling it twice adds nothing.

    Returns:
        The number of adapted matrices.
    """
    targets = lora_targets(module)
    for _, sub, weight_name in targets:
        weight: Tensor = getattr(sub, weight_name)
        weight.requires_grad_(False)
        adapter = LowRankAdapter(
            weight.shape[0], weight.shape[1], rank=rank, alpha=alpha, device=weight.device, dtype=weight.dtype
        )
        parametrize.register_parametrization(sub, weight_name, adapter)
    return len(targets)


def merge_lora(module: nn.Module) -> int:
    """Fold every adapter inside ``module`` into a plain weight under the original name.

    The merged weight is a new parameter (``W + (α / r) · B A``, computed exactly as the adapted forward computes it,
    so outputs are unchanged bit for bit); the base weight it was made from is not written to, which keeps it intact
    for another model that shares it (an EMA teacher). The merged weight keeps the base weight's ``requires_grad``.

    A deep copy of a parametrized module shares its class with the original (the class that holds the adapted
    weight's property), so the parametrization is taken off this instance alone: the instance gets back its plain
    class, and the shared class keeps serving the copies that still carry adapters.

    Returns:
        The number of merged matrices.
    """
    merged = 0
    for sub in list(module.modules()):
        if not parametrize.is_parametrized(sub):
            continue
        lists: Any = sub.parametrizations
        for weight_name in list(lists.keys()):
            if not any(isinstance(p, LowRankAdapter) for p in lists[weight_name]):
                continue
            with torch.no_grad():
                effective = getattr(sub, weight_name).detach().clone()
            requires_grad = bool(lists[weight_name].original.requires_grad)
            del lists[weight_name]
            parametrized_class = type(sub)
            if len(lists) == 0:
                del sub.parametrizations
                sub.__class__ = parametrized_class.__bases__[0]
            else:  # other tensors stay parametrized: a class of this instance's own, without this property
                attributes = {k: v for k, v in vars(parametrized_class).items() if k != weight_name}
                sub.__class__ = type(parametrized_class.__name__, parametrized_class.__bases__, attributes)
            setattr(sub, weight_name, nn.Parameter(effective, requires_grad=requires_grad))
            merged += 1
    return merged
