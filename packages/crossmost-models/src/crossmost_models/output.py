"""``CrossModalOutput``: what :class:`~crossmost_models.CrossModalModel` returns (docs/architecture.md §2)."""

from __future__ import annotations

from dataclasses import dataclass, fields

from torch import Tensor

__all__ = ["CrossModalOutput"]


@dataclass(frozen=True)
class CrossModalOutput:
    """Outputs of one forward pass of :class:`~crossmost_models.CrossModalModel`.

    Teacher path (no masks): the global fields are set and every masked-modelling field is ``None``. Student path
    (``image_mask`` given and/or ``mask_points=True``): the masked-modelling fields of the masked branch are set too.
    When a modality is not given to ``forward`` (``images=None`` or ``points=None``), all its fields are ``None``.

    Attributes:
        image_embedding: ``B×D`` L2-normalised ``f^I(CLS)``.
        point_embedding: ``B×D`` L2-normalised ``f^P([CLS ; max-pool])``.
        image_logits: ``B×C`` ``scale × cosine(image_embedding, classifier column)``.
        point_logits: ``B×C`` same for the point embedding.
        image_patch_mask: ``B×h×w`` bool, the mask that was passed in (``True`` = masked).
        image_reconstruction: ``B×3×H×W`` MIM decoder output.
        image_target: ``B×3×H×W`` the normalised input image itself (the MIM target).
        image_local_embedding: ``B×(h·w)×D`` L2-normalised ``f^I(ln_patch(patch tokens))``.
        point_group_mask: ``B×G`` bool block mask drawn inside the point encoder (``True`` = masked).
        point_token_prediction: ``B×G×W`` MPM head on the final point tokens.
        point_token_target: ``B×G×W`` the pre-mask point tokens, detached.
        point_local_embedding: ``B×G×D`` L2-normalised ``point_local_projection`` of the final group tokens.
        point_cls_embedding: ``B×D`` L2-normalised ``point_local_projection`` of the final CLS token: the global
            side of the point global–local alignment, in the same projection as ``point_local_embedding`` (as the
            paper has one projection on both sides, and as the authors' code does).
    """

    image_embedding: Tensor | None = None
    point_embedding: Tensor | None = None
    image_logits: Tensor | None = None
    point_logits: Tensor | None = None
    image_patch_mask: Tensor | None = None
    image_reconstruction: Tensor | None = None
    image_target: Tensor | None = None
    image_local_embedding: Tensor | None = None
    point_group_mask: Tensor | None = None
    point_token_prediction: Tensor | None = None
    point_token_target: Tensor | None = None
    point_local_embedding: Tensor | None = None
    point_cls_embedding: Tensor | None = None

    @property
    def is_student(self) -> bool:
        """Whether any masked-modelling field is set (the student path)."""
        return self.image_patch_mask is not None or self.point_group_mask is not None

    def present(self) -> list[str]:
        """Names of the fields that are not ``None``."""
        return [f.name for f in fields(self) if getattr(self, f.name) is not None]
