"""The Point-BERT point tower: configuration, mini-PointNet tokenizer, encoder and checkpoint conversion."""

from crossmost_models.point.config import PointBertConfig as PointBertConfig
from crossmost_models.point.convert import CheckpointMismatchError as CheckpointMismatchError
from crossmost_models.point.convert import LoadReport as LoadReport
from crossmost_models.point.convert import convert_pointbert_state_dict as convert_pointbert_state_dict
from crossmost_models.point.convert import extract_point_heads as extract_point_heads
from crossmost_models.point.convert import load_checkpoint_file as load_checkpoint_file
from crossmost_models.point.convert import load_point_encoder_weights as load_point_encoder_weights
from crossmost_models.point.encoder import PointBertEncoder as PointBertEncoder
from crossmost_models.point.encoder import PointEncoderOutput as PointEncoderOutput
from crossmost_models.point.tokenizer import PointTokenizer as PointTokenizer

__all__ = [
    "CheckpointMismatchError",
    "LoadReport",
    "PointBertConfig",
    "PointBertEncoder",
    "PointEncoderOutput",
    "PointTokenizer",
    "convert_pointbert_state_dict",
    "extract_point_heads",
    "load_checkpoint_file",
    "load_point_encoder_weights",
]
