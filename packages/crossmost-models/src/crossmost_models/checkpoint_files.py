"""Deprecated: reading checkpoint files moved to :mod:`crossmost_models.interop.files` (this module goes in the next
release)."""

from __future__ import annotations

from crossmost_models._deprecated import moved_names
from crossmost_models.interop import files

__getattr__ = moved_names(
    __name__,
    {
        name: ("crossmost_models.interop.files", getattr(files, name))
        for name in ("load_checkpoint_file", "strip_module_prefix", "unwrap_state_dict")
    },
)
