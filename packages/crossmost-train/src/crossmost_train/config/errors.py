"""The one error type of configuration problems."""

from __future__ import annotations

__all__ = ["ConfigError"]


class ConfigError(ValueError):
    """A preset, a YAML file or an override does not fit the configuration schema."""
