"""Deprecated alias of :mod:`crossmost_data.views` (moved there; this name goes in the next release)."""

from crossmost_data._moved import warn_moved
from crossmost_data.views import *  # noqa: F403
from crossmost_data.views import __all__ as __all__

warn_moved(__name__, "crossmost_data.views")
