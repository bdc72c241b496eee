"""The shared, text-initialised cosine classifier used by both the image and the point branch."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["TextInitialisedClassifier"]


class TextInitialisedClassifier(nn.Module):
    """``logits = scale × cosine(feature, column)`` with a ``D×C`` weight initialised from text embeddings.

    The weight is a trainable ``D×C`` matrix (``weight[:, c]`` is class ``c``), normally the output of
    :func:`~crossmost_models.build_classifier_weights`. The scale is stored as its logarithm in ``logit_scale``
    (init ``ln(100)``, CLIP's value) and is either learnable (official code) or a fixed buffer.

    Column normalisation: by default (``normalize_columns=False``, as the official code) features are normalised but
    columns are used as they are, so once training changes the column norms the logits are no longer exact cosines.
    With ``normalize_columns=True`` each column is re-normalised in every forward (true cosine logits).

    Args:
        weight: ``D×C`` initial weight (copied).
        scale: initial logit scale (the factor, not its log); default 100.
        learnable_scale: make ``logit_scale`` a parameter (official) or a fixed buffer.
        normalize_columns: re-normalise the columns in ``forward``.

    Raises:
        ValueError: a weight that is not 2-D with at least one class, a non-positive scale, or non-finite values.
    """

    def __init__(
        self,
        weight: Tensor,
        *,
        scale: float = 100.0,
        learnable_scale: bool = True,
        normalize_columns: bool = False,
    ) -> None:
        super().__init__()
        if weight.ndim != 2 or weight.shape[1] < 1:
            raise ValueError(f"classifier weight must be D×C with C ≥ 1, got shape {tuple(weight.shape)}")
        if not torch.isfinite(weight).all():
            raise ValueError("classifier weight has non-finite values")
        if not (scale > 0 and math.isfinite(scale)):
            raise ValueError(f"logit scale must be a positive finite number, got {scale}")
        self.weight = nn.Parameter(weight.detach().clone().float())
        log_scale = torch.tensor(math.log(scale), dtype=torch.float32)
        self.learnable_scale = learnable_scale
        self.normalize_columns = normalize_columns
        if learnable_scale:
            self.logit_scale = nn.Parameter(log_scale)
        else:
            self.register_buffer("logit_scale", log_scale)

    @property
    def embed_dim(self) -> int:
        """Feature dimension ``D``."""
        return int(self.weight.shape[0])

    @property
    def num_classes(self) -> int:
        """Number of classes ``C``."""
        return int(self.weight.shape[1])

    def scale(self) -> Tensor:
        """The current logit scale ``exp(logit_scale)``."""
        log_scale: Tensor = self.logit_scale
        return log_scale.exp()

    def forward(self, features: Tensor) -> Tensor:
        """``B×D`` features (normalised here) → ``B×C`` float32 logits, also under autocast.

        Logits are ``scale × cosine`` with a scale near 100: in bf16 they would be rounded to steps of 0.125–0.25,
        enough to flip the teacher's keep decisions at a 0.84 confidence threshold, so this small matrix product
        always runs in float32.
        """
        if features.ndim != 2 or features.shape[1] != self.embed_dim:
            raise ValueError(f"classifier expects B×{self.embed_dim} features, got shape {tuple(features.shape)}")
        with torch.autocast(device_type=features.device.type, enabled=False):
            weight: Tensor = self.weight.float()
            if self.normalize_columns:
                weight = F.normalize(weight, dim=0)
            features = F.normalize(features.float(), dim=-1)
            return self.scale().float() * (features @ weight)

    def extra_repr(self) -> str:
        return (
            f"embed_dim={self.embed_dim}, num_classes={self.num_classes}, "
            f"learnable_scale={self.learnable_scale}, normalize_columns={self.normalize_columns}"
        )
