"""The Point-BERT point tower: configuration, mini-PointNet tokenizer and encoder.

Its checkpoint conversion lives in :mod:`crossmost_models.interop`.
"""

from typing import Any

from crossmost_models._deprecated import warn_moved
from crossmost_models.point.config import PointBertConfig as PointBertConfig
from crossmost_models.point.encoder import PointBertEncoder as PointBertEncoder
from crossmost_models.point.encoder import PointEncoderOutput as PointEncoderOutput
from crossmost_models.point.tokenizer import PointTokenizer as PointTokenizer

__all__ = ["PointBertConfig", "PointBertEncoder", "PointEncoderOutput", "PointTokenizer"]

_MOVED_TO_LOAD_REPORT = ("CheckpointMismatchError", "LoadReport")
_MOVED_TO_INTEROP = (
    "convert_pointbert_state_dict",
    "extract_point_heads",
    "load_checkpoint_file",
    "load_point_encoder_weights",
)


def __getattr__(name: str) -> Any:
    if name not in _MOVED_TO_LOAD_REPORT + _MOVED_TO_INTEROP:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    # Deprecated names, imported on first use: importing the interop modules with this package would run them while
    # the model that they fill is still being imported (the model imports this package).
    from crossmost_models import interop, load_report

    home = load_report if name in _MOVED_TO_LOAD_REPORT else interop
    warn_moved(f"{__name__}.{name}", "crossmost_models" if home is load_report else "crossmost_models.interop")
    return getattr(home, name)
