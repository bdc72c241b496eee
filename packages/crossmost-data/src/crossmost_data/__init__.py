"""crossmost-data."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("crossmost-data")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without installation
    __version__ = "0.0.0"

__all__ = ["__version__"]
