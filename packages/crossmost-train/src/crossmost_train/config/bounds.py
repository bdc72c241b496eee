"""The allowed range of a numeric config field, declared next to the field and checked by the config loader.

``field(default=..., metadata=within(0, 1))`` makes every value set from a preset, a YAML file or a ``key=value``
override pass through :func:`check_bounds`, so a bad number stops the run where the config is read, with the
field's name in the message, instead of as a ``ZeroDivisionError`` or a silent one-step run later on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Bounds", "check_bounds", "within"]

_KEY = "bounds"


@dataclass(frozen=True)
class Bounds:
    """A closed or half-open interval; ``None`` leaves a side unbounded."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False

    def describe(self) -> str:
        """The interval in words, for error messages."""
        if self.high is None:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        if self.low is None:
            return f"<= {self.high:g}"
        return f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}]"

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies in the interval."""
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return self.high is None or value <= self.high


def within(low: float | None = None, high: float | None = None, *, low_open: bool = False) -> dict[str, Bounds]:
    """Field metadata declaring the allowed range (``dataclasses.field(..., metadata=within(0, 1))``)."""
    return {_KEY: Bounds(low, high, low_open)}


def check_bounds(metadata: Mapping[str, Any], value: Any, key: str) -> str | None:
    """Why ``value`` of field ``key`` is out of its declared range (every element of a tuple or list), or ``None``."""
    bounds = metadata.get(_KEY)
    if bounds is None:
        return None
    for item in value if isinstance(value, (tuple, list)) else [value]:
        numeric = isinstance(item, (int, float)) and not isinstance(item, bool)
        if numeric and (not math.isfinite(item) or not bounds.contains(item)):
            return f"{key}: {item!r} is out of range; expected a number {bounds.describe()}"
    return None
