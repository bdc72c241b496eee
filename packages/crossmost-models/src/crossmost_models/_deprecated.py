"""Names kept at their former import paths for one release, each with a ``DeprecationWarning`` naming its new home."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["moved_names", "warn_moved"]


def warn_moved(former: str, home: str, *, stacklevel: int = 3) -> None:
    """Warn that ``former`` (``module.name``) moved to the module ``home``."""
    warnings.warn(
        f"{former} is deprecated and will be removed in the next release; import it from {home}",
        DeprecationWarning,
        stacklevel=stacklevel,
    )


def moved_names(module: str, new_homes: Mapping[str, tuple[str, Any]]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that serves names that moved away from ``module``.

    Args:
        module: the former module (its ``__name__``).
        new_homes: ``name → (new module, object)``.
    """

    def module_getattr(name: str) -> Any:
        if name not in new_homes:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        home, value = new_homes[name]
        warn_moved(f"{module}.{name}", home)
        return value

    return module_getattr
