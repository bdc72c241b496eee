"""crossmost-models: a maskable open_clip image tower and a Point-BERT point tower sharing a text-initialised
classifier, with a model registry, safetensors save/load and conversion of the authors' Cross-MoST, ULIP and
Point-BERT checkpoints.

``import crossmost_models`` does not import open_clip; it is imported when a model is created.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("crossmost-models")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without installation
    __version__ = "0.0.0"

from crossmost_models.checkpointing import set_activation_checkpointing as set_activation_checkpointing
from crossmost_models.classifier import TextInitialisedClassifier as TextInitialisedClassifier
from crossmost_models.clip import create_clip as create_clip
from crossmost_models.clip import create_text_encoder as create_text_encoder
from crossmost_models.config import ClassifierConfig as ClassifierConfig
from crossmost_models.config import CrossModalConfig as CrossModalConfig
from crossmost_models.factory import build_model as build_model
from crossmost_models.factory import create_model as create_model
from crossmost_models.factory import create_model_and_transforms as create_model_and_transforms
from crossmost_models.factory import create_model_from_clip as create_model_from_clip
from crossmost_models.factory import from_pretrained as from_pretrained
from crossmost_models.image import MaskableVisionTower as MaskableVisionTower
from crossmost_models.image import VisionTowerOutput as VisionTowerOutput
from crossmost_models.image import vit_layer_id as vit_layer_id
from crossmost_models.interop import load_crossmost_official as load_crossmost_official
from crossmost_models.interop import load_point_branch as load_point_branch
from crossmost_models.interop import load_point_tokenizer as load_point_tokenizer
from crossmost_models.interop import read_checkpoint as read_checkpoint
from crossmost_models.load_report import CheckpointMismatchError as CheckpointMismatchError
from crossmost_models.load_report import LoadReport as LoadReport
from crossmost_models.lora import add_lora as add_lora
from crossmost_models.lora import merge_lora as merge_lora
from crossmost_models.model import CrossModalModel as CrossModalModel
from crossmost_models.model import save_pretrained as save_pretrained
from crossmost_models.ops import block_mask_groups as block_mask_groups
from crossmost_models.ops import check_points as check_points
from crossmost_models.ops import farthest_point_sample as farthest_point_sample
from crossmost_models.ops import group_points as group_points
from crossmost_models.ops import knn_group as knn_group
from crossmost_models.output import CrossModalOutput as CrossModalOutput
from crossmost_models.parts import image_num_layers as image_num_layers
from crossmost_models.parts import layer_id_fn as layer_id_fn
from crossmost_models.parts import point_tokenizer as point_tokenizer
from crossmost_models.point import PointBertConfig as PointBertConfig
from crossmost_models.point import PointBertEncoder as PointBertEncoder
from crossmost_models.point import PointEncoderOutput as PointEncoderOutput
from crossmost_models.registry import add_model_config as add_model_config
from crossmost_models.registry import get_model_config as get_model_config
from crossmost_models.registry import list_models as list_models
from crossmost_models.registry import list_pretrained as list_pretrained
from crossmost_models.saved_model import load_model_weights as load_model_weights
from crossmost_models.text import build_classifier_weights as build_classifier_weights
from crossmost_models.text import clean_class_name as clean_class_name
from crossmost_models.text import list_template_sets as list_template_sets
from crossmost_models.text import load_templates as load_templates
from crossmost_models.trainable import TrainablePlan as TrainablePlan
from crossmost_models.trainable import TrainableReport as TrainableReport
from crossmost_models.trainable import apply_trainable_plan as apply_trainable_plan
from crossmost_models.trainable import set_train_mode as set_train_mode
from crossmost_models.transforms import PointTransform as PointTransform
from crossmost_models.transforms import get_transforms as get_transforms

__all__ = [
    "CheckpointMismatchError",
    "ClassifierConfig",
    "CrossModalConfig",
    "CrossModalModel",
    "CrossModalOutput",
    "LoadReport",
    "MaskableVisionTower",
    "PointBertConfig",
    "PointBertEncoder",
    "PointEncoderOutput",
    "PointTransform",
    "TextInitialisedClassifier",
    "TrainablePlan",
    "TrainableReport",
    "VisionTowerOutput",
    "__version__",
    "add_lora",
    "add_model_config",
    "apply_trainable_plan",
    "block_mask_groups",
    "build_classifier_weights",
    "build_model",
    "check_points",
    "clean_class_name",
    "create_clip",
    "create_model",
    "create_model_and_transforms",
    "create_model_from_clip",
    "create_text_encoder",
    "farthest_point_sample",
    "from_pretrained",
    "get_model_config",
    "get_transforms",
    "group_points",
    "image_num_layers",
    "knn_group",
    "layer_id_fn",
    "list_models",
    "list_pretrained",
    "list_template_sets",
    "load_crossmost_official",
    "load_model_weights",
    "load_point_branch",
    "load_point_tokenizer",
    "load_templates",
    "merge_lora",
    "point_tokenizer",
    "read_checkpoint",
    "save_pretrained",
    "set_activation_checkpointing",
    "set_train_mode",
    "vit_layer_id",
]
