"""The warning of a module that moved: its old name imports the new module for one release, and says so."""

from __future__ import annotations

import warnings

__all__ = ["warn_moved"]


def warn_moved(old: str, new: str) -> None:
    """Warn that module ``old`` is now ``new`` (a ``DeprecationWarning``; the old name goes in the next release)."""
    warnings.warn(
        f"{old} has moved to {new}; import from {new} (the old name will be removed in the next release)",
        DeprecationWarning,
        stacklevel=3,
    )
