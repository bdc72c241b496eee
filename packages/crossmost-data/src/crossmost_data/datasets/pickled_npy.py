"""Read a ``.npy`` file whose array holds Python objects (``np.save`` of a dict or a list of arrays) without running
code from it.

``np.load(..., allow_pickle=True)`` hands the file's pickle to :mod:`pickle`, which can call any importable function:
a crafted file runs code on load. Such files are nevertheless how some projects ship evaluation data (OpenShape's
``xyz_label.npy``, for instance). :func:`load_object_npy` parses the ``.npy`` header itself and unpickles the payload
with an unpickler that can build only numpy arrays, numpy dtypes and numpy scalars besides the plain containers and
values the pickle protocol builds by itself (dict, list, tuple, str, bytes, int, float, bool, None). Any other class or
function named by the file stops the load with :class:`UnsafePickleError`, before it is imported or called.
"""

from __future__ import annotations

import importlib
import io
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib import format as npy_format

__all__ = ["UnsafePickleError", "load_object_npy"]


class UnsafePickleError(pickle.UnpicklingError):
    """The file's pickle names a class or function outside the allowed numpy constructors."""


def _multiarray_function(name: str) -> Callable[..., Any]:
    """``name`` from numpy's multiarray module (``numpy._core`` in numpy 2, ``numpy.core`` before)."""
    for module_name in ("numpy._core.multiarray", "numpy.core.multiarray"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        function: Callable[..., Any] = getattr(module, name)
        return function
    raise ImportError(f"numpy has no multiarray module providing {name}")  # pragma: no cover - every numpy has one


# (module, name) as a pickle names them → what they resolve to. Files written by numpy 1 name numpy.core, numpy 2
# names numpy._core; both resolve to the installed numpy's functions without importing the deprecated alias.
_RECONSTRUCT = _multiarray_function("_reconstruct")
_SCALAR = _multiarray_function("scalar")
_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy.core.multiarray", "scalar"): _SCALAR,
    ("numpy._core.multiarray", "scalar"): _SCALAR,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the names in ``_ALLOWED`` and refuses persistent ids."""

    def __init__(self, file: io.BufferedIOBase, path: Path) -> None:
        super().__init__(file)
        self._path = path

    def find_class(self, module: str, name: str) -> Any:
        allowed = _ALLOWED.get((module, name))
        if allowed is None:
            raise UnsafePickleError(
                f"{self._path} asks to build {module}.{name}, which is not a numpy array, dtype or scalar; crossmost "
                "does not run code from data files. If you trust the file, convert it once with numpy "
                "(np.load(path, allow_pickle=True)) into plain arrays saved with np.savez."
            )
        return allowed

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"{self._path} holds a persistent reference ({pid!r}), which plain .npy files never do")


def load_object_npy(path: str | Path) -> Any:
    """The Python object stored in a ``.npy`` file with an object dtype, read without running code from it.

    A 0-d object array (``np.save(path, {"xyz": ..., "label": ...})``) gives back the object it holds; any other
    object array is returned as an array. A ``.npy`` of plain numbers is read with ``np.load(allow_pickle=False)``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is not a ``.npy`` file or is truncated (the message names the file).
        UnsafePickleError: the pickle names anything but numpy arrays, dtypes and scalars.
    """
    path = Path(path)
    with path.open("rb") as handle:
        try:
            version = npy_format.read_magic(handle)
            if version == (1, 0):
                shape, _, dtype = npy_format.read_array_header_1_0(handle)
            else:
                shape, _, dtype = npy_format.read_array_header_2_0(handle)
        except ValueError as error:
            raise ValueError(f"{path} is not a .npy file ({error})") from None
        if not dtype.hasobject:
            handle.seek(0)
            return np.load(handle, allow_pickle=False)
        try:
            array = _NumpyOnlyUnpickler(handle, path).load()
        except UnsafePickleError:
            raise
        except (EOFError, pickle.UnpicklingError, ValueError, TypeError, AttributeError) as error:
            raise ValueError(
                f"{path}: cannot read its object array ({type(error).__name__}: {error}); the file is "
                "probably truncated or corrupt"
            ) from None
    if not isinstance(array, np.ndarray) or array.shape != tuple(shape):
        raise ValueError(
            f"{path}: the header announces an array of shape {tuple(shape)}, the payload holds {type(array).__name__}"
        )
    return array.item() if array.ndim == 0 else array
