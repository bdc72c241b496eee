"""Run state on disk without pickle: the tensors of a state go into a safetensors file, everything else into JSON.

A checkpoint is something users download and share, so reading one must never execute code. ``torch.save`` and
Accelerate's ``save_state`` pickle the optimiser, scheduler and RNG states; here a nested state (dicts, lists,
tuples, numbers, strings, ``None``, tensors, small numpy arrays) is split into its tensors, stored by safetensors,
and a JSON skeleton that refers to them, stored in the same file's metadata. Reading parses JSON and safetensors
only. Floats round-trip exactly (JSON writes the shortest repr), tensors bit for bit, tuples stay tuples and
non-string dictionary keys (an optimiser's parameter ids) keep their type.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from crossmost_models.saved_model import save_safetensors

__all__ = ["StateFileError", "capture_rng_state", "load_state_file", "restore_rng_state", "save_state_file"]

_SKELETON_KEY = "crossmost_state"


class StateFileError(ValueError):
    """A state file is missing, damaged or not a crossmost state file; the message names the file."""


def _encode(value: Any, tensors: dict[str, Tensor], path: str) -> Any:
    """The JSON skeleton of ``value``; its tensors go into ``tensors`` under their path (a state dict's tensors keep
    their names, so ``model.safetensors`` is an ordinary safetensors state dict)."""
    if isinstance(value, Tensor):
        name = path if path and path not in tensors else f"{path}#{len(tensors)}"
        tensors[name] = value.detach().to("cpu").contiguous().clone()
        return {"__tensor__": name}
    if isinstance(value, np.ndarray):
        return {"__ndarray__": value.tolist(), "dtype": str(value.dtype)}
    if isinstance(value, np.generic):
        return _encode(value.item(), tensors, path)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    prefix = f"{path}/" if path else ""
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, tensors, f"{prefix}{i}") for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, tensors, f"{prefix}{i}") for i, v in enumerate(value)]
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in value):
            return {k: _encode(v, tensors, f"{prefix}{k}") for k, v in value.items()}
        return {
            "__items__": [
                [_encode(k, tensors, f"{prefix}{i}.key"), _encode(v, tensors, f"{prefix}{k}")]
                for i, (k, v) in enumerate(value.items())
            ]
        }
    raise TypeError(f"cannot store a {type(value).__name__} in a run-state file (only tensors and plain values)")


def _decode(value: Any, tensors: dict[str, Tensor], where: str) -> Any:
    if isinstance(value, list):
        return [_decode(v, tensors, where) for v in value]
    if not isinstance(value, dict):
        return value
    if "__tensor__" in value:
        name = value["__tensor__"]
        if name not in tensors:
            raise StateFileError(f"{where}: tensor {name!r} is referenced but not stored")
        return tensors[name]
    if "__ndarray__" in value:
        return np.asarray(value["__ndarray__"], dtype=np.dtype(str(value["dtype"])))
    if "__tuple__" in value:
        return tuple(_decode(v, tensors, where) for v in value["__tuple__"])
    if "__items__" in value:
        return {_freeze(_decode(k, tensors, where)): _decode(v, tensors, where) for k, v in value["__items__"]}
    return {k: _decode(v, tensors, where) for k, v in value.items()}


def _freeze(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key


def save_state_file(path: str | os.PathLike[str], state: Any) -> None:
    """Write ``state`` (tensors and plain values, nested) to the safetensors file ``path``.

    Raises:
        TypeError: ``state`` holds an object that is neither a tensor nor a plain value.
    """
    tensors: dict[str, Tensor] = {}
    skeleton = _encode(state, tensors, "")
    save_safetensors(tensors, path, metadata={_SKELETON_KEY: json.dumps(skeleton)})


def load_state_file(path: str | os.PathLike[str]) -> Any:
    """Read a file written by :func:`save_state_file` (JSON and safetensors only: nothing is unpickled).

    Raises:
        StateFileError: the file is missing, truncated or damaged, or was not written by :func:`save_state_file`.
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise StateFileError(f"{path} is missing")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118 - not a dict
    except Exception as error:  # safetensors raises its own error type for every kind of damage
        raise StateFileError(f"{path} is damaged or truncated ({error})") from None
    if _SKELETON_KEY not in metadata:
        raise StateFileError(f"{path} is not a crossmost run-state file (no {_SKELETON_KEY!r} metadata)")
    try:
        skeleton = json.loads(metadata[_SKELETON_KEY])
    except json.JSONDecodeError as error:
        raise StateFileError(f"{path}: its state description is not valid JSON ({error})") from None
    return _decode(skeleton, tensors, str(path))


def capture_rng_state() -> dict[str, Any]:
    """The Python, numpy, torch CPU and CUDA random states of this process."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Set the random states captured by :func:`capture_rng_state`."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
