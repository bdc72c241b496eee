"""Deprecated alias of :mod:`crossmost_data.prepare.recipe` (moved there; this name goes in the next release)."""

from crossmost_data._moved import warn_moved
from crossmost_data.prepare.recipe import *  # noqa: F403
from crossmost_data.prepare.recipe import __all__ as __all__

warn_moved(__name__, "crossmost_data.prepare.recipe")
