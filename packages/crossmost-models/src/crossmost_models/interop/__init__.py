"""Checkpoints of other code bases, loaded into crossmost models by key mapping: the authors' Cross-MoST code
(the ``official`` layout), ULIP and ULIP-2, OpenShape, Uni3D, Point-BERT and its dVAE.

Every load is strict by default and explained by a :class:`~crossmost_models.LoadReport` (missing / unexpected
keys, shape mismatches, keys skipped on purpose). Files are read with ``torch.load(..., weights_only=True)`` or
safetensors: no pickled objects are ever executed.

- :mod:`~crossmost_models.interop.files`: reading checkpoint files and finding the state dict inside them.
- :mod:`~crossmost_models.interop.point_encoder`: the point encoder alone (``PointBertEncoder`` keys).
- :mod:`~crossmost_models.interop.point_branch`: a model's point branch, and its tokenizer alone.
- :mod:`~crossmost_models.interop.official`: a whole model from the authors' checkpoints.
- :mod:`~crossmost_models.interop.released`: the released OpenShape and Uni3D files, and the family of a release.
- :mod:`~crossmost_models.interop.to_safetensors`: a one-time converter for released files that pickle objects.
"""

from crossmost_models.interop.files import load_checkpoint_file as load_checkpoint_file
from crossmost_models.interop.files import read_checkpoint as read_checkpoint
from crossmost_models.interop.files import unwrap_state_dict as unwrap_state_dict
from crossmost_models.interop.official import convert_crossmost_official as convert_crossmost_official
from crossmost_models.interop.official import load_crossmost_official as load_crossmost_official
from crossmost_models.interop.point_branch import POINT_SOURCES as POINT_SOURCES
from crossmost_models.interop.point_branch import convert_point_branch as convert_point_branch
from crossmost_models.interop.point_branch import detect_source as detect_source
from crossmost_models.interop.point_branch import load_point_branch as load_point_branch
from crossmost_models.interop.point_branch import load_point_tokenizer as load_point_tokenizer
from crossmost_models.interop.point_encoder import PointCheckpointSource as PointCheckpointSource
from crossmost_models.interop.point_encoder import convert_pointbert_state_dict as convert_pointbert_state_dict
from crossmost_models.interop.point_encoder import extract_point_heads as extract_point_heads
from crossmost_models.interop.point_encoder import load_point_encoder_weights as load_point_encoder_weights
from crossmost_models.interop.released import released_family as released_family
from crossmost_models.interop.to_safetensors import convert_to_safetensors as convert_to_safetensors

__all__ = [
    "POINT_SOURCES",
    "PointCheckpointSource",
    "convert_crossmost_official",
    "convert_point_branch",
    "convert_pointbert_state_dict",
    "convert_to_safetensors",
    "detect_source",
    "extract_point_heads",
    "load_checkpoint_file",
    "load_crossmost_official",
    "load_point_branch",
    "load_point_encoder_weights",
    "load_point_tokenizer",
    "read_checkpoint",
    "released_family",
    "unwrap_state_dict",
]
