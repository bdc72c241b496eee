"""The whole Cross-MoST objective: pseudo-labels from the teacher, every loss term on the student, diagnostics.

total = cls_image_weight · cls_image + cls_point_weight · cls_point
      + fairness_image_weight · fairness_image + fairness_point_weight · fairness_point
      + mim_weight · mim + mpm_weight · mpm
      + global_local_image_weight · global_local_image + global_local_point_weight · global_local_point
      + alignment_weight · alignment

where ``alignment`` already holds its per-direction weights. The defaults are the official ModelNet40 Cross-MoST
configuration, with the paper's values where the official code has a bug (MIM mean, MPM target, empty selections,
ties). A term whose weight is 0, or whose inputs the student does not provide (``None``: no masks), is not computed
and does not appear in `ObjectiveOutput.terms`.
"""

from __future__ import annotations

import functools
import operator
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from .alignment import cross_modal_infonce
from .class_prior import ClassPrior
from .classification import masked_cross_entropy
from .config import TERM_NAMES, ObjectiveConfig
from .diagnostics import pseudo_label_diagnostics
from .fairness import fairness_loss
from .global_local import global_local_alignment_loss
from .mim import masked_image_modeling_loss
from .mpm import masked_point_modeling_loss
from .outputs import ModelOutputs, TeacherOutputs
from .pseudo_labels import PseudoLabels, select_pseudo_labels

__all__ = ["TERM_NAMES", "CrossMoSTObjective", "ObjectiveConfig", "ObjectiveOutput"]


@dataclass(frozen=True)
class ObjectiveOutput:
    """Result of `CrossMoSTObjective.forward`.

    Attributes:
        total: scalar to backpropagate, ``Σ weights[name] · terms[name]``.
        terms: every computed term, **unweighted**, by name (`TERM_NAMES` order); skipped terms are absent.
        weights: the weight of each entry of ``terms``.
        diagnostics: `pseudo_label_diagnostics` of the teacher's predictions (0-d detached tensors).
        pseudo_labels: the selection the classification terms used.
    """

    total: Tensor
    terms: dict[str, Tensor]
    weights: dict[str, float]
    diagnostics: dict[str, Tensor]
    pseudo_labels: PseudoLabels

    def weighted_terms(self) -> dict[str, Tensor]:
        """Each term multiplied by its weight (these sum to ``total``)."""
        return {name: self.weights[name] * value for name, value in self.terms.items()}


_TERM_INPUTS: dict[str, tuple[str, ...]] = {
    "cls_image": ("image_logits",),
    "cls_point": ("point_logits",),
    "fairness_image": ("image_logits",),
    "fairness_point": ("point_logits",),
    "mim": ("image_reconstruction", "image_target", "image_patch_mask"),
    "mpm": ("point_token_prediction", "point_token_target", "point_group_mask"),
    "global_local_image": ("image_local_embedding", "image_embedding", "image_patch_mask"),
    "global_local_point": ("point_local_embedding", "point_cls_embedding", "point_group_mask"),
    "alignment": ("image_embedding", "point_embedding"),
}
"""The student attributes each term reads (an attribute may be ``None``: the masked-modelling terms are then
skipped; it must exist whenever its term's weight is not 0)."""

_ALWAYS_READ = ("image_logits", "point_logits", "image_embedding", "point_embedding")


def _check_attributes(student: object, weights: dict[str, float]) -> None:
    """Name every attribute the enabled terms read that ``student`` lacks, instead of a bare AttributeError."""
    needed: dict[str, list[str]] = {name: [] for name in _ALWAYS_READ}
    for term, inputs in _TERM_INPUTS.items():
        if weights[term]:
            for name in inputs:
                needed.setdefault(name, []).append(term)
    missing = [name for name in needed if not hasattr(student, name)]
    if missing:
        uses = "; ".join(f"{name} ({', '.join(needed[name]) or 'always read'})" for name in missing)
        raise TypeError(
            f"CrossMoSTObjective: the student outputs ({type(student).__name__}) lack {uses}; give every attribute "
            "of crossmost_losses.ModelOutputs (None where a term is not used) or set the weight of the terms that "
            "need them to 0"
        )


def _require(owner: str, outputs: object, name: str) -> Tensor:
    value = getattr(outputs, name, None)
    if value is None:
        raise ValueError(
            f"CrossMoSTObjective: {owner}.{name} is None; the objective needs both modalities "
            "(run the model on images and points)"
        )
    if not isinstance(value, Tensor):
        raise TypeError(f"CrossMoSTObjective: {owner}.{name} must be a tensor, got {type(value).__name__}")
    return value


def _check_matrix(name: str, tensor: Tensor, shape: tuple[int, int] | None = None) -> None:
    if tensor.dim() != 2:
        raise ValueError(f"CrossMoSTObjective: {name} must be a 2-D tensor, got shape {tuple(tensor.shape)}")
    if shape is not None and tuple(tensor.shape) != shape:
        raise ValueError(f"CrossMoSTObjective: {name} has shape {tuple(tensor.shape)}, expected {shape}")


class CrossMoSTObjective(nn.Module):
    """Pseudo-label selection, every Cross-MoST loss term and the diagnostics, in one call.

    Example:
        >>> objective = CrossMoSTObjective(ObjectiveConfig(threshold=0.82, point_confidence_scale=1.0))
        >>> out = objective(student_outputs, teacher_outputs, labels=batch["label"])  # doctest: +SKIP
        >>> out.total.backward()  # doctest: +SKIP
    """

    def __init__(self, config: ObjectiveConfig | None = None, num_classes: int | None = None) -> None:
        """``num_classes`` is needed only with ``config.align_class_prior`` (the size of the running priors,
        which are buffers of this module: save its ``state_dict`` with a run to resume it exactly)."""
        super().__init__()
        self.config = config if config is not None else ObjectiveConfig()
        self.image_prior: ClassPrior | None = None
        self.point_prior: ClassPrior | None = None
        if self.config.align_class_prior:
            if num_classes is None:
                raise ValueError("CrossMoSTObjective: align_class_prior needs num_classes (the classifier's size)")
            self.image_prior = ClassPrior(num_classes, self.config.class_prior_momentum)
            self.point_prior = ClassPrior(num_classes, self.config.class_prior_momentum)

    def extra_repr(self) -> str:
        return ", ".join(f"{key}={value!r}" for key, value in asdict(self.config).items())

    def _finite(self, term: str, name: str, tensor: Tensor, checked: set[str] | None = None) -> Tensor:
        """Return ``tensor``, raising if it holds NaN/inf (``checked`` remembers names already verified)."""
        if not self.config.check_finite or (checked is not None and name in checked):
            return tensor
        if not bool(torch.isfinite(tensor).all()):
            raise FloatingPointError(f"CrossMoSTObjective: {name} contains NaN or inf (needed by the {term!r} term)")
        if checked is not None:
            checked.add(name)
        return tensor

    def select(self, teacher: TeacherOutputs, generator: torch.Generator | None = None) -> PseudoLabels:
        """Pseudo-labels from the teacher's logits with this objective's settings."""
        config = self.config
        image_logits = _require("teacher", teacher, "image_logits").detach()
        point_logits = _require("teacher", teacher, "point_logits").detach()
        _check_matrix("teacher.image_logits", image_logits)
        _check_matrix("teacher.point_logits", point_logits, (image_logits.shape[0], image_logits.shape[1]))
        self._finite("pseudo_labels", "teacher.image_logits", image_logits)
        self._finite("pseudo_labels", "teacher.point_logits", point_logits)
        if self.image_prior is not None and self.point_prior is not None:
            image_logits = self._aligned_log_probabilities(image_logits, self.image_prior)
            point_logits = self._aligned_log_probabilities(point_logits, self.point_prior)
        return select_pseudo_labels(
            image_logits,
            point_logits,
            strategy=config.strategy,
            threshold=config.threshold,
            point_confidence_scale=config.point_confidence_scale,
            image_threshold=config.image_threshold,
            point_threshold=config.point_threshold,
            generator=generator,
            tie_break=config.tie_break,
            agreement_floor=config.agreement_floor,
            agreement_requires_threshold=config.agreement_requires_threshold,
        )

    def _aligned_log_probabilities(self, logits: Tensor, prior: ClassPrior) -> Tensor:
        """Log of the teacher's probabilities aligned to the uniform prior (the running prior is updated first,
        while training), so that the selection's softmax gives the aligned probabilities."""
        if prior.prior.shape[0] != logits.shape[1]:
            raise ValueError(
                f"CrossMoSTObjective: the teacher's logits have {logits.shape[1]} classes but the class prior was "
                f"built for {prior.prior.shape[0]}"
            )
        probabilities = torch.softmax(logits, dim=1, dtype=torch.promote_types(logits.dtype, torch.float32))
        if self.training:
            prior.update(probabilities)
        return prior.align(probabilities).log()

    def forward(
        self,
        student: ModelOutputs,
        teacher: TeacherOutputs,
        labels: Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
    ) -> ObjectiveOutput:
        """Compute every enabled term.

        Args:
            student: the student's outputs on the strong, masked inputs (`ModelOutputs`).
            teacher: the teacher's outputs on the weak inputs; only ``image_logits``/``point_logits`` are read.
            labels: optional ``B`` ground truth (``-1`` unknown), for diagnostics only; never reaches a loss.
            generator: random source of the ``random`` pseudo-label strategy.

        Returns:
            An `ObjectiveOutput`.

        Raises:
            ValueError: shapes disagree (batch size, class count between teacher and student or image and point).
            FloatingPointError: a needed input holds NaN/inf (with ``check_finite``); the message names it.
        """
        config = self.config
        weights = config.term_weights()
        _check_attributes(student, weights)
        pseudo_labels = self.select(teacher, generator)
        teacher_image_logits = _require("teacher", teacher, "image_logits").detach()
        teacher_point_logits = _require("teacher", teacher, "point_logits").detach()
        batch, num_classes = teacher_image_logits.shape
        image_logits = _require("student", student, "image_logits")
        point_logits = _require("student", student, "point_logits")
        for name, logits in (("image_logits", image_logits), ("point_logits", point_logits)):
            _check_matrix(f"student.{name}", logits)
            if tuple(logits.shape) != (batch, num_classes):
                raise ValueError(
                    f"CrossMoSTObjective: student.{name} has shape {tuple(logits.shape)} but the teacher's logits "
                    f"are {(batch, num_classes)} (same batch and class count required)"
                )
        image_embedding = _require("student", student, "image_embedding")
        point_embedding = _require("student", student, "point_embedding")
        for name, embedding in (("image_embedding", image_embedding), ("point_embedding", point_embedding)):
            if embedding.dim() != 2 or embedding.shape[0] != batch:
                raise ValueError(
                    f"CrossMoSTObjective: student.{name} must be {batch}×D to match the logits, got "
                    f"{tuple(embedding.shape)}"
                )

        terms: dict[str, Tensor] = {}
        checked: set[str] = set()

        branches = (
            ("image", image_logits, pseudo_labels.image_labels, pseudo_labels.image_keep),
            ("point", point_logits, pseudo_labels.point_labels, pseudo_labels.point_keep),
        )
        for branch, branch_logits, branch_labels, keep in branches:
            if weights[f"cls_{branch}"]:
                logits = self._finite(f"cls_{branch}", f"student.{branch}_logits", branch_logits, checked)
                terms[f"cls_{branch}"] = masked_cross_entropy(
                    logits,
                    branch_labels,
                    keep,
                    label_smoothing=config.label_smoothing,
                    normalization=config.classification_normalization,
                )
        for branch, branch_logits, _, _ in branches:
            if weights[f"fairness_{branch}"]:
                logits = self._finite(f"fairness_{branch}", f"student.{branch}_logits", branch_logits, checked)
                terms[f"fairness_{branch}"] = fairness_loss(logits, gather=config.gather_fairness)
        # Attributes of terms whose weight is 0 may be absent altogether.
        reconstruction = getattr(student, "image_reconstruction", None)
        image_target = getattr(student, "image_target", None)
        patch_mask = getattr(student, "image_patch_mask", None)
        image_local = getattr(student, "image_local_embedding", None)
        token_prediction = getattr(student, "point_token_prediction", None)
        token_target = getattr(student, "point_token_target", None)
        group_mask = getattr(student, "point_group_mask", None)
        point_local = getattr(student, "point_local_embedding", None)
        if weights["mim"] and reconstruction is not None and image_target is not None and patch_mask is not None:
            terms["mim"] = masked_image_modeling_loss(
                self._finite("mim", "student.image_reconstruction", reconstruction, checked),
                self._finite("mim", "student.image_target", image_target, checked),
                patch_mask,
            )
        if weights["mpm"] and token_prediction is not None and token_target is not None and group_mask is not None:
            terms["mpm"] = masked_point_modeling_loss(
                self._finite("mpm", "student.point_token_prediction", token_prediction, checked),
                self._finite("mpm", "student.point_token_target", token_target, checked),
                group_mask,
            )
        if weights["global_local_image"] and image_local is not None and patch_mask is not None:
            terms["global_local_image"] = global_local_alignment_loss(
                self._finite("global_local_image", "student.image_local_embedding", image_local, checked),
                self._finite("global_local_image", "student.image_embedding", image_embedding, checked),
                patch_mask,
                detach_global=config.detach_global,
            )
        if weights["global_local_point"] and point_local is not None and group_mask is not None:
            # Both sides in one projection (the paper's; the authors' code too): the global side is the CLS token
            # through the projection of the group tokens, not f^P, which would start from two unrelated spaces.
            point_global = getattr(student, "point_cls_embedding", None)
            if point_global is None:
                raise ValueError(
                    "CrossMoSTObjective: student.point_local_embedding is set but student.point_cls_embedding is None; "
                    "the point global-local alignment compares the group tokens with the CLS token in the same "
                    "projection"
                )
            terms["global_local_point"] = global_local_alignment_loss(
                self._finite("global_local_point", "student.point_local_embedding", point_local, checked),
                self._finite("global_local_point", "student.point_cls_embedding", point_global, checked),
                group_mask,
                detach_global=config.detach_global,
            )
        if weights["alignment"]:
            terms["alignment"] = cross_modal_infonce(
                self._finite("alignment", "student.image_embedding", image_embedding, checked),
                self._finite("alignment", "student.point_embedding", point_embedding, checked),
                temperature=config.temperature,
                image_to_point_weight=config.image_to_point_weight,
                point_to_image_weight=config.point_to_image_weight,
                gather=config.gather_alignment,
            )

        # With nothing enabled the total is a zero that still backpropagates (zero gradient into the logits).
        weighted = [weights[name] * value for name, value in terms.items()]
        if weighted:
            total = functools.reduce(operator.add, weighted)
        else:
            total = 0.0 * (image_logits.sum() + point_logits.sum())
        diagnostics = pseudo_label_diagnostics(pseudo_labels, teacher_image_logits, teacher_point_logits, labels)
        return ObjectiveOutput(
            total=total,
            terms=terms,
            weights={name: weights[name] for name in terms},
            diagnostics=diagnostics,
            pseudo_labels=pseudo_labels,
        )
