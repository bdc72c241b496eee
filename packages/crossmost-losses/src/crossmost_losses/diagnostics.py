"""Diagnostics of the pseudo-labels and the teacher's predictions (no gradient).

Every value is a 0-d float tensor on the logits' device, detached, so a training loop can reduce them across
processes before moving anything to the host (call ``.item()`` or `diagnostics_to_floats` when logging). A value
that is undefined for the batch (an accuracy with no labelled kept sample, a share with nothing kept) is NaN;
aggregate with ``nanmean``.

Keys (``<branch>`` is ``image`` or ``point``):

================================== ================================================================================
``<branch>_kept_ratio``            fraction of the batch whose ``<branch>`` cross-entropy counts.
``image_label_share``,             among samples kept by either branch, the fraction whose label came from the image
``point_label_share``              (point) teacher, per `PseudoLabels.source` (paper Fig. 4).
``teacher_agreement``              fraction of the batch where the two teachers' argmaxes agree.
``<branch>_confidence``            mean largest teacher probability (unscaled).
``<branch>_entropy``               mean Shannon entropy of the teacher softmax, in nats (0 = one-hot).
``<branch>_sharpness``             log C − entropy = KL(p ‖ uniform) averaged over the batch: what the paper's
                                   Fig. 3 plots as "entropy" (it grows as predictions sharpen).
``<branch>_biasedness``            KL(h ‖ uniform) = Σ_c h_c log(C h_c) of the histogram h of the teacher's argmax
                                   classes over the batch: 0 when every class is predicted equally often, log C
                                   when one class takes everything (paper Fig. 3, on a balanced set).
``<branch>_pseudo_label_accuracy`` with labels: accuracy of the branch's pseudo-labels on its kept samples whose
                                   label is known (label ≥ 0).
``<branch>_teacher_accuracy``      with labels: accuracy of the branch teacher's argmax on all labelled samples.
================================== ================================================================================

Biasedness direction: the paper writes "KL divergence between a uniform distribution and the class distribution
of the predictions"; KL(uniform ‖ h) is infinite as soon as one class is never predicted (routine on a batch), so
the finite direction KL(h ‖ uniform) is used. Computed over a balanced evaluation set it matches the paper's
intent; computed on a training batch it also reflects the batch's own class mix.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .pseudo_labels import IMAGE_SOURCE, POINT_SOURCE, PseudoLabels

__all__ = [
    "class_biasedness",
    "diagnostics_to_floats",
    "mean_prediction_entropy",
    "pseudo_label_diagnostics",
]


def _nan_if_empty(numerator: Tensor, count: Tensor) -> Tensor:
    ratio = numerator.float() / count.clamp_min(1).float()
    return torch.where(count > 0, ratio, torch.full_like(ratio, math.nan))


@torch.no_grad()
def mean_prediction_entropy(logits: Tensor) -> Tensor:
    """Mean Shannon entropy (nats) of ``softmax(logits)`` over the rows of a ``B×C`` tensor."""
    if logits.dim() != 2:
        raise ValueError(f"mean_prediction_entropy: logits must be B×C, got shape {tuple(logits.shape)}")
    log_p = torch.log_softmax(logits, dim=1, dtype=torch.promote_types(logits.dtype, torch.float32))
    return -(log_p.exp() * log_p).sum(dim=1).mean()


@torch.no_grad()
def class_biasedness(predictions: Tensor, num_classes: int) -> Tensor:
    """KL(h ‖ uniform) of the class histogram h of ``predictions`` (``N`` int64 class indices).

    0 for a perfectly balanced histogram, log C when every prediction is the same class; NaN for no predictions.
    """
    if predictions.dim() != 1:
        raise ValueError(
            f"class_biasedness: predictions must be a 1-D tensor of classes, got {tuple(predictions.shape)}"
        )
    if num_classes < 1:
        raise ValueError(f"class_biasedness: num_classes must be positive, got {num_classes}")
    if predictions.numel() == 0:
        return torch.tensor(math.nan, device=predictions.device)
    histogram = torch.bincount(predictions, minlength=num_classes).double()
    if histogram.numel() > num_classes:
        raise ValueError(f"class_biasedness: predictions hold a class index ≥ num_classes ({num_classes})")
    share = histogram / histogram.sum()
    terms = torch.where(share > 0, share * torch.log(share * num_classes), torch.zeros_like(share))
    return terms.sum().float()


def _branch_statistics(branch: str, logits: Tensor) -> dict[str, Tensor]:
    num_classes = logits.shape[1]
    entropy = mean_prediction_entropy(logits)
    confidence = torch.softmax(logits, dim=1, dtype=torch.promote_types(logits.dtype, torch.float32)).amax(dim=1)
    return {
        f"{branch}_confidence": confidence.mean().float(),
        f"{branch}_entropy": entropy.float(),
        f"{branch}_sharpness": (math.log(num_classes) - entropy).float(),
        f"{branch}_biasedness": class_biasedness(logits.argmax(dim=1), num_classes),
    }


@torch.no_grad()
def pseudo_label_diagnostics(
    pseudo_labels: PseudoLabels,
    image_logits: Tensor,
    point_logits: Tensor,
    labels: Tensor | None = None,
) -> dict[str, Tensor]:
    """Diagnostics of one batch (see the module docstring for every key).

    Args:
        pseudo_labels: the selection made from ``image_logits`` and ``point_logits``.
        image_logits: ``B×C`` teacher logits of the image branch.
        point_logits: ``B×C`` teacher logits of the point branch.
        labels: optional ``B`` int64 ground truth, ``-1`` where unknown; it only feeds the accuracy keys.

    Returns:
        A dict of 0-d float tensors.
    """
    if image_logits.dim() != 2 or image_logits.shape != point_logits.shape:
        raise ValueError(
            "pseudo_label_diagnostics: image_logits and point_logits must both be B×C with the same shape, got "
            f"{tuple(image_logits.shape)} and {tuple(point_logits.shape)}"
        )
    batch = image_logits.shape[0]
    if pseudo_labels.image_labels.shape != (batch,):
        raise ValueError(
            f"pseudo_label_diagnostics: pseudo-labels cover {tuple(pseudo_labels.image_labels.shape)} samples, "
            f"logits {batch}"
        )
    image_argmax, point_argmax = image_logits.argmax(dim=1), point_logits.argmax(dim=1)
    kept_any = pseudo_labels.image_keep | pseudo_labels.point_keep
    kept_count = kept_any.sum()
    batch_count = torch.tensor(batch, device=image_logits.device)
    result: dict[str, Tensor] = {
        "image_kept_ratio": _nan_if_empty(pseudo_labels.image_keep.sum(), batch_count),
        "point_kept_ratio": _nan_if_empty(pseudo_labels.point_keep.sum(), batch_count),
        "image_label_share": _nan_if_empty((kept_any & (pseudo_labels.source == IMAGE_SOURCE)).sum(), kept_count),
        "point_label_share": _nan_if_empty((kept_any & (pseudo_labels.source == POINT_SOURCE)).sum(), kept_count),
        "teacher_agreement": _nan_if_empty((image_argmax == point_argmax).sum(), batch_count),
    }
    result.update(_branch_statistics("image", image_logits))
    result.update(_branch_statistics("point", point_logits))
    if labels is not None:
        if labels.shape != (batch,):
            raise ValueError(f"pseudo_label_diagnostics: labels must have shape ({batch},), got {tuple(labels.shape)}")
        labels = labels.to(image_logits.device)
        known = labels >= 0
        branches = (
            ("image", pseudo_labels.image_labels, pseudo_labels.image_keep, image_argmax),
            ("point", pseudo_labels.point_labels, pseudo_labels.point_keep, point_argmax),
        )
        for branch, branch_labels, keep, argmax in branches:
            counted = keep & known
            result[f"{branch}_pseudo_label_accuracy"] = _nan_if_empty(
                (counted & (branch_labels == labels)).sum(), counted.sum()
            )
            result[f"{branch}_teacher_accuracy"] = _nan_if_empty((known & (argmax == labels)).sum(), known.sum())
    return result


def diagnostics_to_floats(diagnostics: dict[str, Tensor]) -> dict[str, float]:
    """Move diagnostics to the host as Python floats (one synchronisation for the whole dict)."""
    if not diagnostics:
        return {}
    keys = list(diagnostics)
    values = torch.stack([diagnostics[key].detach().float().reshape(()) for key in keys]).cpu().tolist()
    return dict(zip(keys, values, strict=True))
