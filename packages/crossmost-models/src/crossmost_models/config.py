"""``CrossModalConfig``: a model architecture as data (the JSON files in ``model_configs/``)."""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from crossmost_models.point.family import PointConfig, point_config_from_dict
from crossmost_models.point.inputs import CROSSMOST_INPUTS, PointInputConfig

__all__ = ["ClassifierConfig", "CrossModalConfig"]

# open_clip.create_model overrides that change the architecture and are therefore recorded in the saved config.
ALLOWED_CLIP_KWARGS = ("force_quick_gelu", "force_image_size", "force_context_length")


def _reject_unknown(cls: type, data: dict[str, Any], where: str) -> None:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in {where}; known keys: {sorted(known)}")


@dataclass(frozen=True)
class ClassifierConfig:
    """The shared classifier.

    Attributes:
        scale: initial logit scale (the factor; stored as its log). CLIP/official: 100.
        learnable_scale: train ``logit_scale`` (official) or keep it fixed.
        normalize_columns: re-normalise classifier columns in every forward (official: ``False``).
    """

    scale: float = 100.0
    learnable_scale: bool = True
    normalize_columns: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClassifierConfig:
        _reject_unknown(cls, data, "classifier config")
        return cls(**data)


@dataclass(frozen=True)
class CrossModalConfig:
    """Architecture of a :class:`~crossmost_models.CrossModalModel`; frozen (``dataclasses.replace`` derives a
    changed copy), so a model's config is never changed behind it.

    Attributes:
        clip: open_clip architecture name of the image (and, at creation, text) tower, e.g. ``ViT-B-16``.
        point: the point tower (Point-BERT, OpenShape's PPAT or Uni3D; see :mod:`crossmost_models.point`).
        num_points: points per cloud the model is meant for (data preparation and benchmarks read it).
        clip_kwargs: architecture overrides passed to ``open_clip.create_model`` (only ``force_quick_gelu``,
            ``force_image_size`` and ``force_context_length``).
        classifier: the shared classifier settings.
        templates: default prompt-template set for the classifier.
        clean_class_names: clean class names for prompts (``night_stand`` → ``night stand``); ``False`` keeps them
            verbatim like the official code.
        clip_config: the resolved open_clip model config (filled in at creation and saved, so that a saved model
            does not depend on open_clip's registry to be rebuilt).
        text_pretrained: the open_clip weights (tag or file) the towers and the classifier were created from, if
            any; :func:`crossmost_models.create_text_encoder` rebuilds the text tower from them.
        point_inputs: the point tower's input conventions (up axis, colour fill, normalisation), applied to every
            cloud the model is given (:func:`~crossmost_models.point.prepare_points`); default: crossmost's own.
    """

    clip: str
    point: PointConfig
    num_points: int = 8192
    clip_kwargs: dict[str, Any] = field(default_factory=dict)
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    templates: str = "modelnet40_64"
    clean_class_names: bool = True
    clip_config: dict[str, Any] | None = None
    text_pretrained: str | None = None
    point_inputs: PointInputConfig = CROSSMOST_INPUTS

    def __post_init__(self) -> None:
        bad = sorted(set(self.clip_kwargs) - set(ALLOWED_CLIP_KWARGS))
        if bad:
            raise ValueError(f"clip_kwargs {bad} are not supported; allowed: {list(ALLOWED_CLIP_KWARGS)}")
        if self.num_points < 1:
            raise ValueError(f"num_points must be positive, got {self.num_points}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CrossModalConfig:
        """Build from a JSON-like dict, refusing unknown keys."""
        data = copy.deepcopy(dict(data))
        _reject_unknown(cls, data, "model config")
        if "clip" not in data or "point" not in data:
            raise ValueError("a model config needs at least 'clip' (open_clip name) and 'point' (point-tower config)")
        point, classifier = point_config_from_dict(data.pop("point")), data.pop("classifier", {})
        if not isinstance(classifier, ClassifierConfig):
            classifier = ClassifierConfig.from_dict(classifier)
        inputs = data.pop("point_inputs", CROSSMOST_INPUTS)
        if not isinstance(inputs, PointInputConfig):
            inputs = PointInputConfig.from_dict(inputs)
        return cls(point=point, classifier=classifier, point_inputs=inputs, **data)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable deep copy (the form of the JSON files and of a saved model's ``config.json``)."""
        values = copy.deepcopy(asdict(self))
        values["point"] = self.point.to_dict()
        return values
