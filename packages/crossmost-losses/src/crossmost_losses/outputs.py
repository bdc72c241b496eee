"""Structural types of what the objective reads from a model (the fields of `crossmost_models.CrossModalOutput`).

`crossmost_losses` never imports `crossmost_models`: any object with these attributes will do, a frozen dataclass
included. Every attribute may be ``None``, as in `CrossModalOutput`: masked-modelling fields are ``None`` on the
teacher path (no masks) and the objective then skips the terms that need them; the logits and global embeddings
are required, and the objective raises a clear error when one of them is ``None`` (a modality was not run).
"""

from __future__ import annotations

from typing import Protocol

from torch import Tensor

__all__ = ["ModelOutputs", "TeacherOutputs"]


class TeacherOutputs(Protocol):
    """What the pseudo-label selection needs from the teacher."""

    @property
    def image_logits(self) -> Tensor | None:
        """``B×C`` image-branch logits."""
        ...

    @property
    def point_logits(self) -> Tensor | None:
        """``B×C`` point-branch logits."""
        ...


class ModelOutputs(TeacherOutputs, Protocol):
    """Everything the student contributes to the objective (docs/architecture.md §2)."""

    @property
    def image_embedding(self) -> Tensor | None:
        """``B×D`` normalised global image embedding."""
        ...

    @property
    def point_embedding(self) -> Tensor | None:
        """``B×D`` normalised global point embedding."""
        ...

    @property
    def image_patch_mask(self) -> Tensor | None:
        """``B×h×w`` bool patch mask (True = masked)."""
        ...

    @property
    def image_reconstruction(self) -> Tensor | None:
        """``B×3×H×W`` MIM decoder output."""
        ...

    @property
    def image_target(self) -> Tensor | None:
        """``B×3×H×W`` the normalised image the student saw."""
        ...

    @property
    def image_local_embedding(self) -> Tensor | None:
        """``B×(h·w)×D`` normalised projected patch tokens."""
        ...

    @property
    def point_group_mask(self) -> Tensor | None:
        """``B×G`` bool group mask (True = masked)."""
        ...

    @property
    def point_token_prediction(self) -> Tensor | None:
        """``B×G×W`` MPM head output."""
        ...

    @property
    def point_token_target(self) -> Tensor | None:
        """``B×G×W`` pre-mask point tokens, detached."""
        ...

    @property
    def point_local_embedding(self) -> Tensor | None:
        """``B×G×D`` normalised projected group tokens."""
        ...

    @property
    def point_cls_embedding(self) -> Tensor | None:
        """``B×D`` normalised CLS token in the projection of ``point_local_embedding`` (the global side of the
        point global–local alignment)."""
        ...
