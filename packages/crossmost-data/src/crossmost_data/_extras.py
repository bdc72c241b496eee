"""Optional dependencies: the error that names the extra to install when one is missing."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["import_extra", "missing_extra"]


def missing_extra(extra: str, feature: str, error: ImportError) -> ImportError:
    """The ``ImportError`` to raise when ``feature`` lacks a module of the ``extra`` (``error``: the original one)."""
    return ImportError(
        f'the `{extra}` extra is missing for {feature} ({error}); install it with pip install "crossmost-data[{extra}]"'
    )


def import_extra(module: str, *, extra: str, feature: str) -> ModuleType:
    """Import ``module``, or raise the :func:`missing_extra` error naming ``extra``."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise missing_extra(extra, feature, error) from error
