"""Activation checkpointing of the towers' transformer blocks.

A checkpointed block keeps only its input for the backward pass and runs its forward again when the gradient
reaches it (``torch.utils.checkpoint`` with ``use_reentrant=False``, random state preserved so stochastic depth
draws the same), trading about one extra forward of the blocks for their activations. The block's module and
parameter names do not change: the block's ``forward`` is replaced on the instance, not wrapped in another module,
so state dicts, checkpoints and layer ids are the same with and without it. Without gradients (an EMA teacher,
evaluation) a checkpointed block runs its plain forward.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from crossmost_models.parts import tower_layouts

__all__ = ["is_checkpointed", "set_activation_checkpointing"]

_MARK = "_crossmost_checkpointed"


def _checkpointed_forward(block: nn.Module, *args: Any, **kwargs: Any) -> Any:
    forward = type(block).forward.__get__(block)
    if not torch.is_grad_enabled():
        return forward(*args, **kwargs)
    return checkpoint(forward, *args, use_reentrant=False, **kwargs)


def _set(block: nn.Module, enabled: bool) -> None:
    if enabled and not is_checkpointed(block):
        block.forward = functools.partial(_checkpointed_forward, block)
        setattr(block, _MARK, True)
    elif not enabled and is_checkpointed(block):
        del block.forward
        delattr(block, _MARK)


def is_checkpointed(block: nn.Module) -> bool:
    """Whether ``block`` runs under activation checkpointing."""
    return bool(getattr(block, _MARK, False))


def set_activation_checkpointing(model: nn.Module, enabled: bool = True) -> int:
    """Switch activation checkpointing of every transformer block of the model's towers on or off.

    Args:
        model: a ``CrossModalModel`` (its towers' blocks are found by :func:`~crossmost_models.parts.tower_layouts`).
        enabled: on (default) or off.

    Returns:
        The number of blocks switched.

    Raises:
        TypeError: a tower whose blocks are not known.
    """
    count = 0
    for tower in tower_layouts(model):
        for block in tower.blocks:
            _set(block, enabled)
            count += 1
    return count
