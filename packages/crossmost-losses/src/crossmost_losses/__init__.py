"""crossmost-losses: every term of the Cross-Modal Self-Training objective, with pseudo-labels and diagnostics.

Torch only. Each term is a functional core plus a small `torch.nn.Module`; `CrossMoSTObjective` combines them.
The names below are imported on first use, so ``from crossmost_losses import ObjectiveConfig`` (a plain dataclass)
does not load torch.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("crossmost-losses")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without installation
    __version__ = "0.0.0"

_EXPORTS: dict[str, str] = {
    "CrossModalAlignmentLoss": "alignment",
    "cross_modal_infonce": "alignment",
    "ClassPrior": "class_prior",
    "align_to_uniform_prior": "class_prior",
    "ClassificationNormalization": "config",
    "MaskedCrossEntropyLoss": "classification",
    "masked_cross_entropy": "classification",
    "class_biasedness": "diagnostics",
    "diagnostics_to_floats": "diagnostics",
    "mean_prediction_entropy": "diagnostics",
    "pseudo_label_diagnostics": "diagnostics",
    "all_gather_with_grad": "distributed",
    "gather_batch_sizes": "distributed",
    "is_distributed": "distributed",
    "rank": "distributed",
    "world_size": "distributed",
    "FairnessLoss": "fairness",
    "fairness_loss": "fairness",
    "GlobalLocalAlignmentLoss": "global_local",
    "global_local_alignment_loss": "global_local",
    "MaskedImageModelingLoss": "mim",
    "masked_image_modeling_loss": "mim",
    "MaskedPointModelingLoss": "mpm",
    "masked_point_modeling_loss": "mpm",
    "TERM_NAMES": "config",
    "CrossMoSTObjective": "objective",
    "ObjectiveConfig": "config",
    "ObjectiveOutput": "objective",
    "ModelOutputs": "outputs",
    "TeacherOutputs": "outputs",
    "IMAGE_SOURCE": "pseudo_labels",
    "POINT_SOURCE": "pseudo_labels",
    "PseudoLabels": "pseudo_labels",
    "PseudoLabelSelector": "pseudo_labels",
    "PseudoLabelStrategy": "config",
    "TieBreak": "config",
    "select_pseudo_labels": "pseudo_labels",
}
"""Public name → the module of this package that defines it."""

if TYPE_CHECKING:
    from .alignment import CrossModalAlignmentLoss as CrossModalAlignmentLoss
    from .alignment import cross_modal_infonce as cross_modal_infonce
    from .class_prior import ClassPrior as ClassPrior
    from .class_prior import align_to_uniform_prior as align_to_uniform_prior
    from .classification import MaskedCrossEntropyLoss as MaskedCrossEntropyLoss
    from .classification import masked_cross_entropy as masked_cross_entropy
    from .config import TERM_NAMES as TERM_NAMES
    from .config import ClassificationNormalization as ClassificationNormalization
    from .config import ObjectiveConfig as ObjectiveConfig
    from .config import PseudoLabelStrategy as PseudoLabelStrategy
    from .config import TieBreak as TieBreak
    from .diagnostics import class_biasedness as class_biasedness
    from .diagnostics import diagnostics_to_floats as diagnostics_to_floats
    from .diagnostics import mean_prediction_entropy as mean_prediction_entropy
    from .diagnostics import pseudo_label_diagnostics as pseudo_label_diagnostics
    from .distributed import all_gather_with_grad as all_gather_with_grad
    from .distributed import gather_batch_sizes as gather_batch_sizes
    from .distributed import is_distributed as is_distributed
    from .distributed import rank as rank
    from .distributed import world_size as world_size
    from .fairness import FairnessLoss as FairnessLoss
    from .fairness import fairness_loss as fairness_loss
    from .global_local import GlobalLocalAlignmentLoss as GlobalLocalAlignmentLoss
    from .global_local import global_local_alignment_loss as global_local_alignment_loss
    from .mim import MaskedImageModelingLoss as MaskedImageModelingLoss
    from .mim import masked_image_modeling_loss as masked_image_modeling_loss
    from .mpm import MaskedPointModelingLoss as MaskedPointModelingLoss
    from .mpm import masked_point_modeling_loss as masked_point_modeling_loss
    from .objective import CrossMoSTObjective as CrossMoSTObjective
    from .objective import ObjectiveOutput as ObjectiveOutput
    from .outputs import ModelOutputs as ModelOutputs
    from .outputs import TeacherOutputs as TeacherOutputs
    from .pseudo_labels import IMAGE_SOURCE as IMAGE_SOURCE
    from .pseudo_labels import POINT_SOURCE as POINT_SOURCE
    from .pseudo_labels import PseudoLabels as PseudoLabels
    from .pseudo_labels import PseudoLabelSelector as PseudoLabelSelector
    from .pseudo_labels import select_pseudo_labels as select_pseudo_labels


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = [
    "IMAGE_SOURCE",
    "POINT_SOURCE",
    "TERM_NAMES",
    "ClassPrior",
    "ClassificationNormalization",
    "CrossMoSTObjective",
    "CrossModalAlignmentLoss",
    "FairnessLoss",
    "GlobalLocalAlignmentLoss",
    "MaskedCrossEntropyLoss",
    "MaskedImageModelingLoss",
    "MaskedPointModelingLoss",
    "ModelOutputs",
    "ObjectiveConfig",
    "ObjectiveOutput",
    "PseudoLabelSelector",
    "PseudoLabelStrategy",
    "PseudoLabels",
    "TeacherOutputs",
    "TieBreak",
    "__version__",
    "align_to_uniform_prior",
    "all_gather_with_grad",
    "class_biasedness",
    "cross_modal_infonce",
    "diagnostics_to_floats",
    "fairness_loss",
    "gather_batch_sizes",
    "global_local_alignment_loss",
    "is_distributed",
    "masked_cross_entropy",
    "masked_image_modeling_loss",
    "masked_point_modeling_loss",
    "mean_prediction_entropy",
    "pseudo_label_diagnostics",
    "rank",
    "select_pseudo_labels",
    "world_size",
]
