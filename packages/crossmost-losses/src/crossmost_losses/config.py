"""``ObjectiveConfig``: the weights and settings of the Cross-MoST objective, and the names of its terms.

This module imports nothing but the standard library, so a command line can validate a configuration (and print
its errors) without loading torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Literal, get_args

__all__ = ["TERM_NAMES", "ClassificationNormalization", "ObjectiveConfig", "PseudoLabelStrategy", "TieBreak"]

PseudoLabelStrategy = Literal["joint", "independent", "image", "point", "random", "agreement"]
"""The pseudo-label strategies of `crossmost_losses.select_pseudo_labels`."""
TieBreak = Literal["image", "point"]
"""The modality that wins an exact confidence tie."""
ClassificationNormalization = Literal["kept", "batch"]
"""Denominator of the masked cross-entropy: the kept samples (official) or the whole batch (paper Eq. 2)."""

TERM_NAMES: tuple[str, ...] = (
    "cls_image",
    "cls_point",
    "fairness_image",
    "fairness_point",
    "mim",
    "mpm",
    "global_local_image",
    "global_local_point",
    "alignment",
)
"""Every term the objective can compute, in the order `ObjectiveOutput.terms` lists them."""


@dataclass(frozen=True)
class ObjectiveConfig:
    """Weights and settings of `CrossMoSTObjective` (defaults: official ModelNet40 Cross-MoST).

    Attributes:
        cls_image_weight: weight of the image-branch cross-entropy on pseudo-labels.
        cls_point_weight: weight of the point-branch cross-entropy on pseudo-labels.
        fairness_image_weight: weight of the image-branch fairness term.
        fairness_point_weight: weight of the point-branch fairness term.
        mim_weight: weight of masked image modelling.
        mpm_weight: weight of masked point modelling.
        global_local_image_weight: weight of the image global–local alignment (official 0.2).
        global_local_point_weight: weight of the point global–local alignment (official 0.2).
        alignment_weight: weight of the cross-modal InfoNCE (0 disables it: the baseline).
        image_to_point_weight: InfoNCE weight of the image→point direction (official 1, paper ½).
        point_to_image_weight: InfoNCE weight of the point→image direction (official 1, paper ½).
        temperature: InfoNCE temperature τ (official 1).
        strategy: pseudo-label strategy (`select_pseudo_labels`).
        threshold: confidence threshold (official 0.84 ModelNet/Co3D, 0.82 Redwood/ScanObjectNN).
        point_confidence_scale: point confidence factor (official 0.9 ModelNet/Co3D, 1.0 Redwood/ScanObjectNN).
        image_threshold: image threshold of ``independent`` and the threshold of ``image`` (``None``: ``threshold``).
        point_threshold: point threshold of ``independent`` and the threshold of ``point`` (``None``: ``threshold``).
        tie_break: modality that wins an exact confidence tie.
        agreement_floor: minimum confidence of the ``agreement`` strategy (official 0.2).
        agreement_requires_threshold: ``agreement`` also requires the joint confidence above ``threshold``.
        align_class_prior: divide each teacher's probabilities by a running average of its predicted class
            distribution before selecting pseudo-labels (distribution alignment, `crossmost_losses.class_prior`;
            off in the paper and the official code).
        class_prior_momentum: momentum of that running average (0.99: about the last 100 batches).
        label_smoothing: cross-entropy label smoothing (0 in the paper).
        classification_normalization: ``kept`` (official) or ``batch`` (paper Eq. 2) denominator of the CE.
        gather_fairness: average the fairness term over the global batch (official).
        gather_alignment: use every process's embeddings as InfoNCE negatives (official: per process).
        detach_global: stop the global-local gradient into the global embedding (official: not stopped).
        check_finite: raise a named error when an input of a computed term holds NaN or inf (one host
            synchronisation per input).
    """

    cls_image_weight: float = 1.0
    cls_point_weight: float = 1.0
    fairness_image_weight: float = 1.0
    fairness_point_weight: float = 1.0
    mim_weight: float = 1.0
    mpm_weight: float = 1.0
    global_local_image_weight: float = 0.2
    global_local_point_weight: float = 0.2
    alignment_weight: float = 1.0
    image_to_point_weight: float = 1.0
    point_to_image_weight: float = 1.0
    temperature: float = 1.0
    strategy: PseudoLabelStrategy = "joint"
    threshold: float = 0.84
    point_confidence_scale: float = 0.9
    image_threshold: float | None = None
    point_threshold: float | None = None
    tie_break: TieBreak = "image"
    agreement_floor: float = 0.2
    agreement_requires_threshold: bool = False
    align_class_prior: bool = False
    class_prior_momentum: float = 0.99
    label_smoothing: float = 0.0
    classification_normalization: ClassificationNormalization = "kept"
    gather_fairness: bool = True
    gather_alignment: bool = False
    detach_global: bool = False
    check_finite: bool = True

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name.endswith("_weight") and not (math.isfinite(value) and value >= 0):
                raise ValueError(f"ObjectiveConfig.{field.name} must be a finite non-negative number, got {value}")
        if self.strategy not in get_args(PseudoLabelStrategy):
            raise ValueError(
                f"ObjectiveConfig.strategy must be one of {get_args(PseudoLabelStrategy)}, got {self.strategy!r}"
            )
        if self.tie_break not in get_args(TieBreak):
            raise ValueError(f"ObjectiveConfig.tie_break must be 'image' or 'point', got {self.tie_break!r}")
        for name in ("threshold", "image_threshold", "point_threshold", "agreement_floor"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:  # also refuses NaN
                raise ValueError(f"ObjectiveConfig.{name} is a confidence and must be in [0, 1], got {value}")
        if not self.temperature > 0:
            raise ValueError(f"ObjectiveConfig.temperature must be positive, got {self.temperature}")
        if not self.point_confidence_scale > 0:
            raise ValueError(
                f"ObjectiveConfig.point_confidence_scale must be positive, got {self.point_confidence_scale}"
            )
        if not 0.0 <= self.class_prior_momentum < 1.0:  # also refuses NaN
            raise ValueError(f"ObjectiveConfig.class_prior_momentum must be in [0, 1), got {self.class_prior_momentum}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"ObjectiveConfig.label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.classification_normalization not in get_args(ClassificationNormalization):
            raise ValueError(
                "ObjectiveConfig.classification_normalization must be 'kept' or 'batch', got "
                f"{self.classification_normalization!r}"
            )

    def term_weights(self) -> dict[str, float]:
        """The weight of every term in `TERM_NAMES`, by name."""
        return {name: getattr(self, f"{name}_weight") for name in TERM_NAMES}
