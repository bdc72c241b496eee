"""The point-tower families as one type: their configs, telling them apart in JSON, and building an encoder.

A config dict names its family in ``"family"`` (absent: ``"pointbert"``, the key every config written before the
families existed lacks): ``"pointbert"`` (Point-BERT, ULIP-1, ULIP-2), ``"ppat"`` (OpenShape's PointBERT) or
``"uni3d"`` (Uni3D ti to g).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crossmost_models.point.config import PointBertConfig
from crossmost_models.point.encoder import PointBertEncoder
from crossmost_models.point.ppat import PpatConfig, PpatEncoder
from crossmost_models.point.uni3d import Uni3dConfig, Uni3dEncoder

__all__ = ["POINT_FAMILIES", "PointConfig", "PointEncoder", "build_point_encoder", "point_config_from_dict"]

PointConfig = PointBertConfig | PpatConfig | Uni3dConfig
"""The config of any point tower."""

PointEncoder = PointBertEncoder | PpatEncoder | Uni3dEncoder
"""Any point tower."""

POINT_FAMILIES: dict[str, tuple[type[PointBertConfig] | type[PpatConfig] | type[Uni3dConfig], type[PointEncoder]]] = {
    "pointbert": (PointBertConfig, PointBertEncoder),
    "ppat": (PpatConfig, PpatEncoder),
    "uni3d": (Uni3dConfig, Uni3dEncoder),
}
"""``family → (config class, encoder class)``."""


def point_config_from_dict(values: Mapping[str, Any] | PointConfig) -> PointConfig:
    """The typed config of a point-tower dict, by its ``"family"`` (default ``"pointbert"``); configs pass through.

    Raises:
        ValueError: an unknown family (the known ones are listed) or an invalid config.
    """
    if isinstance(values, PointBertConfig | PpatConfig | Uni3dConfig):
        return values
    family = values.get("family", "pointbert")
    if family not in POINT_FAMILIES:
        raise ValueError(f"unknown point-tower family {family!r}; known: {sorted(POINT_FAMILIES)}")
    return POINT_FAMILIES[family][0].from_dict(values)


def build_point_encoder(config: PointConfig) -> PointEncoder:
    """A freshly initialised encoder of ``config``'s family."""
    encoder: PointEncoder = POINT_FAMILIES[config.family][1](config)  # type: ignore[arg-type]
    return encoder
