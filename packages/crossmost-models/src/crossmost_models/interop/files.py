"""Reading foreign checkpoint files safely and finding the flat state dict inside them.

Every conversion in :mod:`crossmost_models.interop` reads files here: safetensors, or
``torch.load(weights_only=True)``, so no pickled object is ever executed.
"""

from __future__ import annotations

import argparse
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

__all__ = ["flat_state_dict", "load_checkpoint_file", "read_checkpoint", "strip_module_prefix", "unwrap_state_dict"]

# Entries under which training scripts keep the weights: Point-BERT ``base_model``, ULIP ``state_dict``, Cross-MoST
# ``model``, and some wrappers ``module``.
_CONTAINER_KEYS = ("state_dict", "model", "base_model", "module")
_MAX_DEPTH = 4


def load_checkpoint_file(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint file without unpickling arbitrary Python objects.

    ``.safetensors`` files are read with safetensors; anything else with ``torch.load(weights_only=True)``, which
    only admits tensors, containers and plain values (``argparse.Namespace``, which ULIP and Cross-MoST store as
    ``args``, is also admitted: it holds plain values only).

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        ValueError: when the file needs arbitrary objects to load (the message says how to extract its tensors),
            is damaged or truncated, cannot be read by ``torch.load``, or holds no mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return dict(load_file(str(path)))
        except Exception as error:  # safetensors raises its own error type for every kind of damage
            raise ValueError(f"{path} is damaged or truncated ({error})") from None
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise ValueError(
            f"{path} stores Python objects that crossmost will not unpickle with torch.load(weights_only=True) "
            f"({error}). If you trust the file, extract its tensors once in a separate Python session: "
            "torch.save(torch.load(path, weights_only=False)['state_dict'], 'weights.pt') (or the 'model' / "
            "'base_model' entry), or save them as safetensors."
        ) from error
    except Exception as error:  # a damaged or foreign file: torch raises RuntimeError/EOFError variants
        raise ValueError(f"{path} cannot be read with torch.load(weights_only=True): {error}") from error
    if not isinstance(loaded, Mapping):
        raise ValueError(f"{path} does not hold a state dict (found {type(loaded).__name__})")
    return dict(loaded)


def strip_module_prefix(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Remove the leading ``module.`` prefixes (DataParallel / DDP, possibly nested) from every key."""
    return {_strip_module(key): value for key, value in state.items()}


def _strip_module(key: str) -> str:
    while key.startswith("module."):
        key = key[len("module.") :]
    return key


def unwrap_state_dict(checkpoint: Mapping[str, Any], *, origin: str = "the checkpoint") -> dict[str, Tensor]:
    """The flat ``name → tensor`` mapping inside a checkpoint, with ``module.`` prefixes removed.

    A mapping of tensors is the state dict itself; otherwise the first of ``state_dict``, ``model``,
    ``base_model`` or ``module`` that holds a mapping is searched (a few levels deep).

    Raises:
        ValueError: no level of the checkpoint is a mapping of tensors; ``origin`` and the keys found are named.
    """
    current: Mapping[str, Any] = checkpoint
    for _ in range(_MAX_DEPTH):
        tensors = {k: v for k, v in current.items() if isinstance(v, Tensor)}
        if tensors and len(tensors) == len(current):
            return strip_module_prefix(tensors)
        container = next((k for k in _CONTAINER_KEYS if isinstance(current.get(k), Mapping)), None)
        if container is None:
            break
        current = current[container]
    found = ", ".join(sorted(map(str, current))[:12])
    raise ValueError(
        f"found no state dict in {origin}: expected tensors or one of {list(_CONTAINER_KEYS)}; its keys are [{found}]"
    )


def read_checkpoint(path: str | Path) -> dict[str, Tensor]:
    """Read a checkpoint file into a flat state dict (``state_dict``/``model``/``base_model`` unwrapped,
    ``module.`` stripped) without unpickling arbitrary objects.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file holds no tensors, or objects that ``weights_only`` loading refuses.
    """
    return unwrap_state_dict(load_checkpoint_file(path), origin=str(path))


def flat_state_dict(checkpoint: str | Path | Mapping[str, Any], origin: str) -> dict[str, Tensor]:
    """The flat state dict of a checkpoint given as a file (read with :func:`read_checkpoint`) or as a mapping."""
    if isinstance(checkpoint, Mapping):
        return unwrap_state_dict(checkpoint, origin=origin)
    return read_checkpoint(checkpoint)
