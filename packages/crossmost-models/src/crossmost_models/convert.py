"""Loading the authors' Cross-MoST checkpoints and ULIP / Point-BERT point-encoder checkpoints by key mapping.

Every load is strict by default and explained by a :class:`LoadReport` (missing / unexpected keys, shape
mismatches, keys skipped on purpose). Files are read with ``torch.load(..., weights_only=True)`` or safetensors:
no pickled objects are ever executed.

Key layouts (after an optional ``module.`` prefix):

- ``crossmost-official`` (``checkpoint["model"]`` of theamaya/CrossMoST): ``visual.*`` (OpenAI CLIP names, no
  ``proj``; plus ``mask_token_embedding``, ``ln_patch``, ``decoder.0``), ``image_projection`` (W×D),
  ``pc_projection`` (2W×D), ``point_encoder.*`` (Point-BERT names plus ``mask_token``, ``proj`` (W×D),
  ``lm_head``), ``classifier`` (D×C), ``logit_scale``.
- ``ulip`` (``checkpoint["state_dict"]`` of salesforce/ULIP or the authors' ULIP-style pre-training):
  ``point_encoder.*`` and ``pc_projection``; image/text towers are skipped.
- ``pointbert`` (``checkpoint["base_model"]`` of Point-BERT): ``transformer_q.*``; the momentum encoder, dVAE and
  heads are skipped. No projection.
- ``crossmost``: this package's own names (``point_encoder.*``, ``point_projection.weight`` …).

The point-encoder keys and heads of the foreign layouts are mapped by :mod:`crossmost_models.point.convert`; files
are read by :mod:`crossmost_models.checkpoint_files`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from torch import Tensor

from crossmost_models.checkpoint_files import load_checkpoint_file, strip_module_prefix, unwrap_state_dict
from crossmost_models.load_report import LoadReport, compare_state_dicts
from crossmost_models.point.convert import (
    PointCheckpointSource,
    extract_point_heads,
    map_point_encoder_keys,
    may_be_missing,
)

if TYPE_CHECKING:
    from crossmost_models.model import CrossModalModel

__all__ = [
    "POINT_SOURCES",
    "LoadReport",
    "convert_crossmost_official",
    "convert_point_branch",
    "detect_source",
    "load_crossmost_official",
    "load_point_branch",
    "load_point_tokenizer",
    "read_checkpoint",
]

POINT_SOURCES = ("crossmost", "crossmost-official", "ulip", "pointbert")
# The layout name of each foreign source in crossmost_models.point.convert (there, "crossmost" is the authors' code).
_POINT_CHECKPOINT_SOURCE: dict[str, PointCheckpointSource] = {
    "crossmost-official": "crossmost",
    "ulip": "ulip",
    "pointbert": "pointbert",
}
_OWN_POINT_PREFIXES = ("point_encoder.", "point_projection.", "point_local_projection.", "mpm_head.")
# Where each layout keeps the mini-PointNet tokenizer: crossmost, ULIP and the authors' code under the point encoder,
# Point-BERT pre-training under its student, the dVAE and fine-tuned Point-BERT at the top level.
_TOKENIZER_PREFIXES = ("point_encoder.encoder.", "transformer_q.encoder.", "encoder.")
# Keys of the CLIP text tower kept in some checkpoints; a crossmost model has no text tower.
_TEXT_TOWER_PREFIXES = ("transformer.", "token_embedding.", "ln_final.")
_TEXT_TOWER_KEYS = ("positional_embedding", "text_projection")


def read_checkpoint(path: str | Path) -> dict[str, Tensor]:
    """Read a checkpoint file into a flat state dict (``state_dict``/``model``/``base_model`` unwrapped,
    ``module.`` stripped) without unpickling arbitrary objects.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file holds no tensors, or objects that ``weights_only`` loading refuses.
    """
    return unwrap_state_dict(load_checkpoint_file(path), origin=str(path))


def detect_source(state: Mapping[str, Tensor]) -> str:
    """Guess the key layout of a state dict: one of :data:`POINT_SOURCES`.

    Raises:
        ValueError: no known layout matches.
    """
    keys = set(state)
    if any(key.startswith("transformer_q.") for key in keys):
        return "pointbert"
    if "point_projection.weight" in keys or any(key.startswith("image_tower.") for key in keys):
        return "crossmost"
    if "classifier" in keys or "visual.mask_token_embedding" in keys or "point_encoder.lm_head.weight" in keys:
        return "crossmost-official"
    if "pc_projection" in keys:
        return "ulip"
    raise ValueError(
        "cannot tell the checkpoint format from its keys (expected Point-BERT 'transformer_q.*', ULIP "
        f"'pc_projection', Cross-MoST 'classifier' or crossmost 'point_projection.weight'); first keys: "
        f"{sorted(keys)[:6]}"
    )


def _is_text_tower(key: str) -> bool:
    return key.startswith(_TEXT_TOWER_PREFIXES) or key in _TEXT_TOWER_KEYS


def convert_point_branch(state: Mapping[str, Tensor], source: str) -> tuple[dict[str, Tensor], list[str]]:
    """Map the point-branch keys of ``state`` onto crossmost names.

    Returns:
        ``(converted, skipped)``: the crossmost-named tensors (``point_encoder.*``, ``point_projection.weight``
        and, for Cross-MoST checkpoints, ``point_local_projection.weight`` and ``mpm_head.*``) and the source keys
        deliberately left out.

    Raises:
        ValueError: unknown ``source``.
    """
    if source not in POINT_SOURCES:
        raise ValueError(f"unknown checkpoint source {source!r}; known: {', '.join(POINT_SOURCES)} or 'auto'")
    state = strip_module_prefix(state)
    if source == "crossmost":
        converted = {key: value for key, value in state.items() if key.startswith(_OWN_POINT_PREFIXES)}
        return converted, [key for key in state if key not in converted]
    point_source = _POINT_CHECKPOINT_SOURCE[source]
    encoder_keys = map_point_encoder_keys(state, point_source)
    converted = {f"point_encoder.{name}": state[key] for key, name in encoder_keys.items()}
    used = set(encoder_keys)
    heads = extract_point_heads(state, source=point_source)
    if "pc_projection" in heads:
        converted["point_projection.weight"] = heads["pc_projection"].T.contiguous()
        used.add("pc_projection")
    if source == "crossmost-official":
        for name, value in heads.items():
            if name == "proj":
                converted["point_local_projection.weight"] = value.T.contiguous()
            elif name.startswith("lm_head."):
                converted["mpm_head." + name.removeprefix("lm_head.")] = value
            else:
                continue
            used.add(f"point_encoder.{name}")
    skipped: list[str] = []
    for key, value in state.items():
        if key in used:
            continue
        if key.startswith("point_encoder."):
            converted[key] = value  # a point-tower key with no place in this layout: reported as unexpected
        else:
            skipped.append(key)
    return converted, skipped


def _point_keys_expected(model: CrossModalModel, source: str) -> set[str]:
    keys = {key for key in model.state_dict() if key.startswith("point_encoder.")}
    if source != "pointbert":
        keys.add("point_projection.weight")
    if source in ("crossmost", "crossmost-official"):
        keys |= {key for key in model.state_dict() if key.startswith(("point_local_projection.", "mpm_head."))}
    return keys


def _never_in_source(key: str, source: str) -> bool:
    """Model keys that checkpoints of a foreign ``source`` never hold (they keep their current values)."""
    point_source = _POINT_CHECKPOINT_SOURCE.get(source)
    if point_source is None or not key.startswith("point_encoder."):
        return False
    return may_be_missing(key.removeprefix("point_encoder."), point_source)


def load_point_branch(
    model: CrossModalModel, state: Mapping[str, Tensor], *, source: str = "auto", strict: bool = True
) -> LoadReport:
    """Load the point encoder (and, where the checkpoint has them, ``f^P``, the local projection and the MPM head).

    Args:
        model: the model to fill in place.
        state: a state dict (use :func:`read_checkpoint` for files).
        source: ``"auto"`` or one of :data:`POINT_SOURCES`.
        strict: raise when a key the source should provide is missing or a point key is unexpected (shape
            mismatches always raise). Keys of other parts (image/text towers, momentum encoders) are skipped.

    Returns:
        The :class:`LoadReport`.
    """
    state = strip_module_prefix(state)
    source = detect_source(state) if source == "auto" else source
    converted, skipped = convert_point_branch(state, source)
    model_state = model.state_dict()
    expected = {key: model_state[key] for key in _point_keys_expected(model, source)}
    optional = {key: model_state[key] for key in converted if key in model_state and key not in expected}
    report = compare_state_dicts(
        {**expected, **optional},
        converted,
        source=f"{source} point branch",
        skipped=skipped,
        may_be_missing=lambda key: _never_in_source(key, source),
    )
    report.check(strict=strict)
    model.load_state_dict({k: v for k, v in converted.items() if k in model_state}, strict=False)
    return report


def convert_crossmost_official(
    state: Mapping[str, Tensor], *, width: int | None = None
) -> tuple[dict[str, Tensor], list[str]]:
    """Map a whole Cross-MoST checkpoint (``checkpoint["model"]``) onto crossmost names.

    Returns:
        ``(converted, skipped)``; the text-tower keys some checkpoints keep are skipped.
    """
    state = strip_module_prefix(state)
    converted, skipped = convert_point_branch(
        {k: v for k, v in state.items() if k.startswith("point_encoder.") or k == "pc_projection"},
        "crossmost-official",
    )
    for key, value in state.items():
        if key.startswith("point_encoder.") or key == "pc_projection":
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
    checkpoint: str | Path | Mapping[str, Tensor],
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
    state = (
        read_checkpoint(checkpoint)
        if not isinstance(checkpoint, Mapping)
        else unwrap_state_dict(checkpoint, origin=origin)
    )
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


def load_point_tokenizer(model: CrossModalModel, checkpoint: str | Path | Mapping[str, Tensor]) -> LoadReport:
    """Load only the mini-PointNet tokenizer (``point_encoder.encoder.*``) of ``model``, strictly.

    The tokenizer is found in any layout that has one: Point-BERT's dVAE (``dVAE.pth``, the tokenizer the authors'
    point tower starts from), Point-BERT, ULIP, the authors' Cross-MoST checkpoints and crossmost models. Every other
    weight of the checkpoint and of the model is left alone (the paper's "Init ✗" ablation: a pre-trained tokenizer
    under a point transformer that skips the ULIP alignment).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the checkpoint holds no tokenizer, or its tokenizer does not fit (keys and shapes listed).
    """
    origin = str(checkpoint) if not isinstance(checkpoint, Mapping) else "state dict"
    state = (
        read_checkpoint(checkpoint)
        if not isinstance(checkpoint, Mapping)
        else unwrap_state_dict(checkpoint, origin=origin)
    )
    prefix = next((p for p in _TOKENIZER_PREFIXES if any(k.startswith(p + "first_conv.") for k in state)), None)
    if prefix is None:
        raise ValueError(
            f"{origin} holds no mini-PointNet tokenizer (keys like 'encoder.first_conv.0.weight' or "
            f"'point_encoder.encoder.first_conv.0.weight'); its first keys are {sorted(state)[:6]}"
        )
    weights = {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}
    tokenizer = model.point_encoder.encoder
    report = compare_state_dicts(
        tokenizer.state_dict(),
        weights,
        source=f"the tokenizer of {origin}",
        may_be_missing=lambda key: key.endswith("num_batches_tracked"),
    )
    report.check(strict=True)
    tokenizer.load_state_dict({k: weights[k] for k in report.loaded}, strict=False)
    return report
