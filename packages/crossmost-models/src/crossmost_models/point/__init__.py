"""The Point-BERT point tower: configuration, mini-PointNet tokenizer, encoder and checkpoint conversion."""

from crossmost_models.point.config import PointBertConfig as PointBertConfig
from crossmost_models.point.encoder import PointBertEncoder as PointBertEncoder
from crossmost_models.point.encoder import PointEncoderOutput as PointEncoderOutput
from crossmost_models.point.tokenizer import PointTokenizer as PointTokenizer

__all__ = ["PointBertConfig", "PointBertEncoder", "PointEncoderOutput", "PointTokenizer"]
