"""Symmetric image↔point InfoNCE on the student's global embeddings (paper Eq. 3).

Row i of the image embeddings and row i of the point embeddings come from the same object (the positive pair);
every other row of the other modality is a negative. With ``gather=True`` the negatives are the embeddings of the
whole global batch (`all_gather_with_grad`), and each process scores its own rows against them, with its positives
at the offset of its rows in the gathered batch.

Temperature: the paper writes τ without a value; the official code uses none, i.e. τ = 1 (the default here).
Because the embeddings are unit-norm the logits then lie in [-1, 1], so the loss stays near log B and keeps
pushing; CLIP and ULIP use a learnt τ ≈ 0.01 instead. Weights: the paper averages the two directions (½ each); the
official code sums them (1 each, the default here).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .distributed import all_gather_with_grad, gather_batch_sizes, is_distributed, rank

__all__ = ["CrossModalAlignmentLoss", "cross_modal_infonce"]


def cross_modal_infonce(
    image_embedding: Tensor,
    point_embedding: Tensor,
    *,
    temperature: float = 1.0,
    image_to_point_weight: float = 1.0,
    point_to_image_weight: float = 1.0,
    gather: bool = False,
    logit_scale: Tensor | None = None,
    labels: Tensor | None = None,
) -> Tensor:
    """Weighted sum of the image→point and point→image InfoNCE losses.

    The same contrast serves pre-training, where the two sides are point and text, or image and text: CLIP's and
    ULIP's learnt scale is ``logit_scale``, and captions made from class names make ``labels`` useful.

    Args:
        image_embedding: ``B×D`` image embeddings (L2-normalised by the model; not re-normalised here).
        point_embedding: ``B×D`` point embeddings of the same B objects, in the same order.
        temperature: τ, the logits are ``image · point / τ``. Must be positive.
        image_to_point_weight: weight of the loss that classifies each image among the points.
        point_to_image_weight: weight of the loss that classifies each point cloud among the images.
        gather: use the embeddings of every process as negatives (a no-op in a single process).
        logit_scale: a scalar tensor that multiplies each side's rows before the product (CLIP's learnt scale,
            ``1/τ``); ``temperature`` must then stay 1.
        labels: this process's ``B`` class labels. Without them row i's only positive is row i of the other side;
            with them every row of the same class is a positive, with equal shares of the target (UniCL's
            image-text-label contrast), so two objects of one class are not negatives of each other.

    Returns:
        A scalar tensor: ``image_to_point_weight · CE(img→pts) + point_to_image_weight · CE(pts→img)``, each CE
        averaged over this process's rows.
    """
    if image_embedding.dim() != 2 or image_embedding.shape != point_embedding.shape:
        raise ValueError(
            "cross_modal_infonce: image_embedding and point_embedding must both be B×D with the same shape, got "
            f"{tuple(image_embedding.shape)} and {tuple(point_embedding.shape)}"
        )
    if not temperature > 0:
        raise ValueError(f"cross_modal_infonce: temperature must be positive, got {temperature}")
    if logit_scale is not None and temperature != 1.0:
        raise ValueError(f"cross_modal_infonce: give a temperature or a logit_scale, not both (got {temperature})")
    if labels is not None and labels.shape != (image_embedding.shape[0],):
        raise ValueError(
            f"cross_modal_infonce: labels must have shape ({image_embedding.shape[0]},), got {tuple(labels.shape)}"
        )
    batch = image_embedding.shape[0]
    offset = 0
    all_images, all_points, all_labels = image_embedding, point_embedding, labels
    if gather and is_distributed():
        sizes = gather_batch_sizes(batch, image_embedding.device)
        offset = sum(sizes[: rank()])
        all_images = all_gather_with_grad(image_embedding)
        all_points = all_gather_with_grad(point_embedding)
        all_labels = None if labels is None else all_gather_with_grad(labels)
    targets = _targets(offset, batch, labels, all_labels, image_embedding.device)
    image_to_point = F.cross_entropy(_logits(image_embedding, all_points, temperature, logit_scale), targets)
    point_to_image = F.cross_entropy(_logits(point_embedding, all_images, temperature, logit_scale), targets)
    return image_to_point_weight * image_to_point + point_to_image_weight * point_to_image


def _logits(rows: Tensor, others: Tensor, temperature: float, logit_scale: Tensor | None) -> Tensor:
    if logit_scale is not None:
        return logit_scale * rows @ others.T
    return rows @ others.T / temperature


def _targets(offset: int, batch: int, labels: Tensor | None, all_labels: Tensor | None, device: torch.device) -> Tensor:
    """Class indices of the positives, or (with labels) each row's target distribution over the gathered rows."""
    if labels is None or all_labels is None:
        return torch.arange(offset, offset + batch, device=device)
    same = (labels[:, None] == all_labels[None, :]).float()
    return same / same.sum(dim=1, keepdim=True)


class CrossModalAlignmentLoss(nn.Module):
    """`cross_modal_infonce` as a module (see that function for the arguments)."""

    def __init__(
        self,
        temperature: float = 1.0,
        image_to_point_weight: float = 1.0,
        point_to_image_weight: float = 1.0,
        gather: bool = False,
    ) -> None:
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"CrossModalAlignmentLoss: temperature must be positive, got {temperature}")
        self.temperature = temperature
        self.image_to_point_weight = image_to_point_weight
        self.point_to_image_weight = point_to_image_weight
        self.gather = gather

    def forward(self, image_embedding: Tensor, point_embedding: Tensor) -> Tensor:
        """Symmetric InfoNCE between ``B×D`` image and point embeddings."""
        return cross_modal_infonce(
            image_embedding,
            point_embedding,
            temperature=self.temperature,
            image_to_point_weight=self.image_to_point_weight,
            point_to_image_weight=self.point_to_image_weight,
            gather=self.gather,
        )

    def extra_repr(self) -> str:
        return (
            f"temperature={self.temperature}, image_to_point_weight={self.image_to_point_weight}, "
            f"point_to_image_weight={self.point_to_image_weight}, gather={self.gather}"
        )
