"""Pseudo-label selection from the teacher's image and point predictions.

Cross-MoST's joint pseudo-labels: each modality's teacher softmax gives a hard label and a confidence (its
largest probability); the point confidence is multiplied by ``point_confidence_scale``; the more confident
modality supplies the label for *both* branches, and a sample is kept when that confidence is strictly above the
threshold. The other strategies are the paper's ablations:

=============== ===================================================================================================
``joint``       the rule above (default; official ``combined_pseudolabels``).
``independent`` each branch its own argmax label and its own threshold (``image_threshold``, ``point_threshold``,
                falling back to ``threshold``): the self-training baseline. No confidence scale.
``image``       image label and image confidence for both branches, kept above ``image_threshold`` (falling back
                to ``threshold``): "Image only" of the paper's Table 4.
``point``       point label and (unscaled) point confidence for both branches, kept above ``point_threshold``
                (falling back to ``threshold``): "Point cloud only".
``random``      the modality is drawn uniformly per sample ("Random"); keep if its (scaled) confidence passes.
``agreement``   keep only samples whose two argmaxes agree and whose smaller (scaled) confidence is above
                ``agreement_floor`` (official default 0.2); with ``agreement_requires_threshold`` the joint
                confidence must also pass ``threshold``. Off by default, as in the official code.
=============== ===================================================================================================

``point_confidence_scale`` is a cross-modal calibration: it only enters strategies that compare or combine the
two modalities (``joint``, ``random``, ``agreement``). Exact ties between the image confidence and the scaled point
confidence go to ``tie_break`` (image by default); the official code added the two class indices instead. Ties
inside one softmax go to the lowest class index (``torch.argmax``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import get_args

import torch
from torch import Tensor, nn

from .config import PseudoLabelStrategy, TieBreak

__all__ = [
    "IMAGE_SOURCE",
    "POINT_SOURCE",
    "PseudoLabelSelector",
    "PseudoLabelStrategy",
    "PseudoLabels",
    "TieBreak",
    "select_pseudo_labels",
]

IMAGE_SOURCE = 0
"""Value of `PseudoLabels.source` for a label taken from the image teacher."""
POINT_SOURCE = 1
"""Value of `PseudoLabels.source` for a label taken from the point teacher."""


@dataclass(frozen=True)
class PseudoLabels:
    """Hard pseudo-labels for both student branches (all tensors have leading size B, no gradient).

    Attributes:
        image_labels: ``B`` int64, the label the image branch is trained on.
        point_labels: ``B`` int64, the label the point branch is trained on (equal to ``image_labels`` for every
            strategy except ``independent``).
        image_keep: ``B`` bool, samples whose image-branch cross-entropy counts.
        point_keep: ``B`` bool, samples whose point-branch cross-entropy counts.
        source: ``B`` int64, the teacher the label came from (`IMAGE_SOURCE` = 0, `POINT_SOURCE` = 1). For
            ``independent`` and ``agreement`` it records the modality that wins the joint comparison.
        image_confidence: ``B``, the image teacher's largest softmax probability.
        point_confidence: ``B``, the point teacher's largest softmax probability, before any scaling.
    """

    image_labels: Tensor
    point_labels: Tensor
    image_keep: Tensor
    point_keep: Tensor
    source: Tensor
    image_confidence: Tensor
    point_confidence: Tensor


def _check_logits(image_logits: Tensor, point_logits: Tensor) -> None:
    for name, logits in (("image_logits", image_logits), ("point_logits", point_logits)):
        if logits.dim() != 2:
            raise ValueError(f"select_pseudo_labels: {name} must be B×C, got shape {tuple(logits.shape)}")
        if not logits.is_floating_point():
            raise TypeError(f"select_pseudo_labels: {name} must be floating point, got {logits.dtype}")
    if image_logits.shape != point_logits.shape:
        raise ValueError(
            "select_pseudo_labels: teacher image_logits and point_logits disagree in shape: "
            f"{tuple(image_logits.shape)} vs {tuple(point_logits.shape)} (batch size and class count must match)"
        )


def _winner_is_point(image_score: Tensor, point_score: Tensor, tie_break: TieBreak) -> Tensor:
    if tie_break == "image":
        return point_score > image_score
    return point_score >= image_score


@torch.no_grad()
def select_pseudo_labels(
    image_logits: Tensor,
    point_logits: Tensor,
    *,
    strategy: PseudoLabelStrategy = "joint",
    threshold: float = 0.84,
    point_confidence_scale: float = 0.9,
    image_threshold: float | None = None,
    point_threshold: float | None = None,
    generator: torch.Generator | None = None,
    tie_break: TieBreak = "image",
    agreement_floor: float = 0.2,
    agreement_requires_threshold: bool = False,
) -> PseudoLabels:
    """Select hard pseudo-labels from teacher logits (see the module docstring for each strategy).

    Args:
        image_logits: ``B×C`` teacher logits of the image branch.
        point_logits: ``B×C`` teacher logits of the point branch.
        strategy: one of ``joint``, ``independent``, ``image``, ``point``, ``random``, ``agreement``.
        threshold: keep a sample when its confidence is strictly above this (official 0.84 for ModelNet/Co3D,
            0.82 for Redwood/ScanObjectNN).
        point_confidence_scale: factor on the point confidence when the modalities are compared (official 0.9 for
            ModelNet/Co3D, 1.0 for Redwood/ScanObjectNN). Must be positive.
        image_threshold: image-branch threshold of ``independent`` and the threshold of ``image``; ``None`` uses
            ``threshold``.
        point_threshold: point-branch threshold of ``independent`` and the threshold of ``point``; ``None`` uses
            ``threshold``.
        generator: random source of the ``random`` strategy (on the logits' device or the CPU); ``None`` uses the
            global generator.
        tie_break: modality that wins an exact tie between the image confidence and the scaled point confidence.
        agreement_floor: ``agreement`` keeps samples whose smaller confidence is strictly above this.
        agreement_requires_threshold: ``agreement`` additionally requires the joint confidence above ``threshold``.

    Returns:
        A `PseudoLabels` on the logits' device.
    """
    _check_logits(image_logits, point_logits)
    if strategy not in get_args(PseudoLabelStrategy):
        raise ValueError(
            f"select_pseudo_labels: unknown strategy {strategy!r}; expected one of "
            f"{', '.join(get_args(PseudoLabelStrategy))}"
        )
    if tie_break not in get_args(TieBreak):
        raise ValueError(f"select_pseudo_labels: tie_break must be 'image' or 'point', got {tie_break!r}")
    if not point_confidence_scale > 0:
        raise ValueError(f"select_pseudo_labels: point_confidence_scale must be positive, got {point_confidence_scale}")

    # Softmax in at least float32: bf16 probabilities are too coarse for a 0.84 threshold.
    dtype = torch.promote_types(image_logits.dtype, torch.float32)
    image_confidence, image_argmax = torch.softmax(image_logits, dim=1, dtype=dtype).max(dim=1)
    point_confidence, point_argmax = torch.softmax(point_logits, dim=1, dtype=dtype).max(dim=1)
    scaled_point = point_confidence * point_confidence_scale
    from_point = _winner_is_point(image_confidence, scaled_point, tie_break)

    if strategy == "independent":
        image_keep = image_confidence > (threshold if image_threshold is None else image_threshold)
        point_keep = point_confidence > (threshold if point_threshold is None else point_threshold)
        return PseudoLabels(
            image_labels=image_argmax,
            point_labels=point_argmax,
            image_keep=image_keep,
            point_keep=point_keep,
            source=from_point.long(),
            image_confidence=image_confidence,
            point_confidence=point_confidence,
        )

    if strategy == "image":
        from_point = torch.zeros_like(from_point)
        keep = image_confidence > (threshold if image_threshold is None else image_threshold)
    elif strategy == "point":
        from_point = torch.ones_like(from_point)
        keep = point_confidence > (threshold if point_threshold is None else point_threshold)
    elif strategy == "random":
        device = generator.device if generator is not None else image_logits.device
        draw = torch.randint(0, 2, (image_logits.shape[0],), generator=generator, device=device)
        from_point = draw.to(image_logits.device).bool()
        keep = torch.where(from_point, scaled_point, image_confidence) > threshold
    elif strategy == "agreement":
        keep = (image_argmax == point_argmax) & (torch.minimum(image_confidence, scaled_point) > agreement_floor)
        if agreement_requires_threshold:
            keep &= torch.maximum(image_confidence, scaled_point) > threshold
    else:  # joint
        keep = torch.where(from_point, scaled_point, image_confidence) > threshold

    labels = torch.where(from_point, point_argmax, image_argmax)
    return PseudoLabels(
        image_labels=labels,
        point_labels=labels.clone(),
        image_keep=keep,
        point_keep=keep.clone(),
        source=from_point.long(),
        image_confidence=image_confidence,
        point_confidence=point_confidence,
    )


class PseudoLabelSelector(nn.Module):
    """`select_pseudo_labels` with its settings fixed at construction (see that function for the arguments)."""

    def __init__(
        self,
        strategy: PseudoLabelStrategy = "joint",
        threshold: float = 0.84,
        point_confidence_scale: float = 0.9,
        image_threshold: float | None = None,
        point_threshold: float | None = None,
        tie_break: TieBreak = "image",
        agreement_floor: float = 0.2,
        agreement_requires_threshold: bool = False,
    ) -> None:
        super().__init__()
        if strategy not in get_args(PseudoLabelStrategy):
            raise ValueError(
                f"PseudoLabelSelector: unknown strategy {strategy!r}; expected one of "
                f"{', '.join(get_args(PseudoLabelStrategy))}"
            )
        self.strategy: PseudoLabelStrategy = strategy
        self.threshold = threshold
        self.point_confidence_scale = point_confidence_scale
        self.image_threshold = image_threshold
        self.point_threshold = point_threshold
        self.tie_break: TieBreak = tie_break
        self.agreement_floor = agreement_floor
        self.agreement_requires_threshold = agreement_requires_threshold

    def forward(
        self, image_logits: Tensor, point_logits: Tensor, generator: torch.Generator | None = None
    ) -> PseudoLabels:
        """Select pseudo-labels from ``B×C`` teacher logits; ``generator`` drives the ``random`` strategy."""
        return select_pseudo_labels(
            image_logits,
            point_logits,
            strategy=self.strategy,
            threshold=self.threshold,
            point_confidence_scale=self.point_confidence_scale,
            image_threshold=self.image_threshold,
            point_threshold=self.point_threshold,
            generator=generator,
            tie_break=self.tie_break,
            agreement_floor=self.agreement_floor,
            agreement_requires_threshold=self.agreement_requires_threshold,
        )

    def extra_repr(self) -> str:
        return (
            f"strategy={self.strategy!r}, threshold={self.threshold}, "
            f"point_confidence_scale={self.point_confidence_scale}, tie_break={self.tie_break!r}"
        )
