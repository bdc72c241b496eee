"""Deprecated: checkpoint conversion moved to :mod:`crossmost_models.interop` (this module goes in the next release)."""

from __future__ import annotations

from crossmost_models import interop, load_report
from crossmost_models._deprecated import moved_names

__getattr__ = moved_names(
    __name__,
    {
        "LoadReport": ("crossmost_models", load_report.LoadReport),
        **{
            name: ("crossmost_models.interop", getattr(interop, name))
            for name in (
                "POINT_SOURCES",
                "convert_crossmost_official",
                "convert_point_branch",
                "detect_source",
                "load_crossmost_official",
                "load_point_branch",
                "load_point_tokenizer",
                "read_checkpoint",
            )
        },
    },
)
