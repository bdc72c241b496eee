"""The point towers: Point-BERT (Cross-MoST, ULIP-1, ULIP-2), OpenShape's PointBERT (PPAT) and Uni3D; their
configurations, tokenizers, encoders and input conventions.

Their checkpoint conversion lives in :mod:`crossmost_models.interop`.
"""

from typing import Any

from crossmost_models._deprecated import warn_moved
from crossmost_models.point.base import GroupedPointEncoder as GroupedPointEncoder
from crossmost_models.point.base import PointEncoderOutput as PointEncoderOutput
from crossmost_models.point.config import PointBertConfig as PointBertConfig
from crossmost_models.point.encoder import PointBertEncoder as PointBertEncoder
from crossmost_models.point.family import POINT_FAMILIES as POINT_FAMILIES
from crossmost_models.point.family import PointConfig as PointConfig
from crossmost_models.point.family import PointEncoder as PointEncoder
from crossmost_models.point.family import build_point_encoder as build_point_encoder
from crossmost_models.point.family import point_config_from_dict as point_config_from_dict
from crossmost_models.point.inputs import CROSSMOST_INPUTS as CROSSMOST_INPUTS
from crossmost_models.point.inputs import RELEASED_INPUTS as RELEASED_INPUTS
from crossmost_models.point.inputs import PointInputConfig as PointInputConfig
from crossmost_models.point.inputs import prepare_points as prepare_points
from crossmost_models.point.ppat import PpatConfig as PpatConfig
from crossmost_models.point.ppat import PpatEncoder as PpatEncoder
from crossmost_models.point.tokenizer import PointTokenizer as PointTokenizer
from crossmost_models.point.uni3d import Uni3dConfig as Uni3dConfig
from crossmost_models.point.uni3d import Uni3dEncoder as Uni3dEncoder

__all__ = [
    "CROSSMOST_INPUTS",
    "POINT_FAMILIES",
    "RELEASED_INPUTS",
    "GroupedPointEncoder",
    "PointBertConfig",
    "PointBertEncoder",
    "PointConfig",
    "PointEncoder",
    "PointEncoderOutput",
    "PointInputConfig",
    "PointTokenizer",
    "PpatConfig",
    "PpatEncoder",
    "Uni3dConfig",
    "Uni3dEncoder",
    "build_point_encoder",
    "point_config_from_dict",
    "prepare_points",
]

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
