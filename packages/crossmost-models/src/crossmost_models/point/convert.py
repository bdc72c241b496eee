"""Deprecated: point-encoder checkpoint conversion moved to :mod:`crossmost_models.interop` (this module goes in the
next release). The authors' layout is now called ``"official"``; ``"crossmost"`` still maps their point encoder the
same way, and names crossmost's own layout."""

from __future__ import annotations

from crossmost_models import load_report
from crossmost_models._deprecated import moved_names
from crossmost_models.interop import files, point_encoder

__getattr__ = moved_names(
    __name__,
    {
        "CheckpointMismatchError": ("crossmost_models", load_report.CheckpointMismatchError),
        "LoadReport": ("crossmost_models", load_report.LoadReport),
        "load_checkpoint_file": ("crossmost_models.interop", files.load_checkpoint_file),
        **{
            name: ("crossmost_models.interop.point_encoder", getattr(point_encoder, name))
            for name in (
                "PointCheckpointSource",
                "convert_pointbert_state_dict",
                "extract_point_heads",
                "load_point_encoder_weights",
                "map_point_encoder_keys",
                "may_be_missing",
            )
        },
    },
)
