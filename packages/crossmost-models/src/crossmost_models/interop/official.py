"""Loading the authors' whole Cross-MoST checkpoints (``checkpoint["model"]`` of theamaya/CrossMoST).

The ``official`` layout (after an optional ``module.`` prefix): ``visual.*`` (OpenAI CLIP names, no ``proj``; plus
``mask_token_embedding``, ``ln_patch``, ``decoder.0``), ``image_projection`` (W×D), ``pc_projection`` (2W×D),
``point_encoder.*`` (Point-BERT names plus ``mask_token``, ``proj`` (W×D), ``lm_head``), ``classifier`` (D×C) and
``logit_scale``. The point side is mapped by :mod:`crossmost_models.interop.point_branch`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import Tensor

from crossmost_models.interop.files import flat_state_dict, strip_module_prefix
from crossmost_models.interop.point_branch import convert_point_branch
from crossmost_models.load_report import LoadReport, compare_state_dicts
from crossmost_models.model import CrossModalModel

__all__ = ["convert_crossmost_official", "load_crossmost_official"]

# Keys of the CLIP text tower kept in some checkpoints; a crossmost model has no text tower.
_TEXT_TOWER_PREFIXES = ("transformer.", "token_embedding.", "ln_final.")
_TEXT_TOWER_KEYS = ("positional_embedding", "text_projection")


def _is_text_tower(key: str) -> bool:
    return key.startswith(_TEXT_TOWER_PREFIXES) or key in _TEXT_TOWER_KEYS


def _is_point_side(key: str) -> bool:
    return key.startswith("point_encoder.") or key == "pc_projection"


def convert_crossmost_official(state: Mapping[str, Tensor]) -> tuple[dict[str, Tensor], list[str]]:
    """Map a whole checkpoint of the authors' code (``checkpoint["model"]``) onto crossmost names.

    Returns:
        ``(converted, skipped)``; the text-tower keys some checkpoints keep are skipped.
    """
    state = strip_module_prefix(state)
    converted, skipped = convert_point_branch({k: v for k, v in state.items() if _is_point_side(k)}, "official")
    for key, value in state.items():
        if _is_point_side(key):
            continue
        if key == "visual.mask_token_embedding":
            converted["image_tower.mask_token"] = value.reshape(-1)
        elif key.startswith(("visual.ln_patch.", "visual.decoder.")):
            converted["image_tower." + key.removeprefix("visual.")] = value
        elif key == "visual.proj":
            skipped.append(key)  # superseded by image_projection (the projection the official model uses)
        elif key.startswith("visual."):
            converted["image_tower." + key] = value
        elif key == "image_projection":
            converted["image_tower.visual.proj"] = value
        elif key == "classifier":
            converted["classifier.weight"] = value
        elif key == "logit_scale":
            converted["classifier.logit_scale"] = value.reshape(())
        elif _is_text_tower(key):
            skipped.append(key)
        else:
            converted[key] = value  # reported as unexpected
    return converted, skipped


def load_crossmost_official(
    model: CrossModalModel,
    checkpoint: str | Path | Mapping[str, Any],
    *,
    strict: bool = True,
    allow_quickgelu_mismatch: bool = False,
) -> LoadReport:
    """Load an authors' Cross-MoST checkpoint (file or state dict) into ``model``.

    The official image tower is OpenAI CLIP with QuickGELU, so the model must use a QuickGELU open_clip
    architecture (``vit-b16-pointbert`` does: ``ViT-B-16-quickgelu``). The checkpoint's class count must equal the
    model's.

    Raises:
        ValueError: QuickGELU mismatch, class-count disagreement (both counts and the file named), or
            missing/unexpected keys and shape mismatches (listed).
    """
    origin = str(checkpoint) if not isinstance(checkpoint, Mapping) else "Cross-MoST state dict"
    state = flat_state_dict(checkpoint, origin=origin)
    clip_config = model.config.clip_config or {}
    if not clip_config.get("quick_gelu", False) and "quickgelu" not in model.config.clip.lower():
        message = (
            f"Cross-MoST checkpoints hold OpenAI CLIP weights (QuickGELU) but the model's image tower "
            f"{model.config.clip!r} uses GELU; create the model with a '-quickgelu' architecture "
            "(e.g. create_model('vit-b16-pointbert') or clip_kwargs={'force_quick_gelu': True})"
        )
        if not allow_quickgelu_mismatch:
            raise ValueError(message)
    converted, skipped = convert_crossmost_official(state)
    classifier = converted.get("classifier.weight")
    if classifier is not None and classifier.ndim == 2 and classifier.shape[1] != model.num_classes:
        raise ValueError(
            f"{origin} has a classifier with {classifier.shape[1]} classes but the model was created with "
            f"{model.num_classes} class names"
        )
    report = compare_state_dicts(
        model.state_dict(), converted, source=f"Cross-MoST checkpoint {origin}", skipped=skipped
    )
    report.check(strict=strict)
    model.load_state_dict({k: v for k, v in converted.items() if k in model.state_dict()}, strict=False)
    return report
