"""Loading the point branch of a model (encoder, ``f^P``, local projection, MPM head) from foreign checkpoints.

Key layouts of a whole checkpoint (after an optional ``module.`` prefix):

- ``official`` (``checkpoint["model"]`` of theamaya/CrossMoST, the authors' code): ``point_encoder.*`` (Point-BERT
  names plus ``mask_token``, ``proj`` (W×D), ``lm_head``) and ``pc_projection`` (2W×D); the image side is mapped
  by :mod:`crossmost_models.interop.official`.
- ``ulip`` (``checkpoint["state_dict"]`` of salesforce/ULIP or the authors' ULIP-style pre-training):
  ``point_encoder.*`` and ``pc_projection``; image/text towers are skipped.
- ``pointbert`` (``checkpoint["base_model"]`` of Point-BERT): ``transformer_q.*``; the momentum encoder, dVAE and
  heads are skipped. No projection.
- ``crossmost``: this package's own names (``point_encoder.*``, ``point_projection.weight`` …).
- ``openshape`` and ``uni3d``: the released files of OpenShape's PointBERT and Uni3D
  (:mod:`crossmost_models.interop.released`). ULIP-2's files have the ``ulip`` layout.

The encoder keys are mapped by :mod:`crossmost_models.interop.point_encoder`; files are read by
:mod:`crossmost_models.interop.files`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import Tensor

from crossmost_models.interop.files import flat_state_dict, strip_module_prefix
from crossmost_models.interop.point_encoder import (
    PointCheckpointSource,
    extract_point_heads,
    map_point_encoder_keys,
    may_be_missing,
)
from crossmost_models.interop.released import (
    RELEASED_SOURCES,
    convert_released,
    detect_released_source,
    never_in_release,
)
from crossmost_models.load_report import LoadReport, compare_state_dicts
from crossmost_models.model import CrossModalModel
from crossmost_models.saved_model import WEIGHTS_FILE

__all__ = [
    "POINT_SOURCES",
    "convert_point_branch",
    "detect_source",
    "load_point_branch",
    "load_point_tokenizer",
    "resolve_source",
]

POINT_SOURCES = ("crossmost", "official", "ulip", "pointbert", *RELEASED_SOURCES)
# The layout of each foreign source's point encoder (crossmost's own keys are taken as they are).
_ENCODER_LAYOUT: dict[str, PointCheckpointSource] = {"official": "official", "ulip": "ulip", "pointbert": "pointbert"}
# Earlier name of the authors' layout, still accepted with a DeprecationWarning.
_DEPRECATED_SOURCES = {"crossmost-official": "official"}
_OWN_POINT_PREFIXES = ("point_encoder.", "point_projection.", "point_local_projection.", "mpm_head.")
# Where each layout keeps the mini-PointNet tokenizer: crossmost, ULIP and the authors' code under the point encoder,
# Point-BERT pre-training under its student, the dVAE and fine-tuned Point-BERT at the top level.
_TOKENIZER_PREFIXES = ("point_encoder.encoder.", "transformer_q.encoder.", "encoder.")


def detect_source(state: Mapping[str, Tensor]) -> str:
    """Guess the key layout of a state dict: one of :data:`POINT_SOURCES`.

    Raises:
        ValueError: no known layout matches.
    """
    keys = set(state)
    released = detect_released_source(state)
    if released is not None:
        return released
    if any(key.startswith("transformer_q.") for key in keys):
        return "pointbert"
    if "point_projection.weight" in keys or any(key.startswith("image_tower.") for key in keys):
        return "crossmost"
    if "classifier" in keys or "visual.mask_token_embedding" in keys or "point_encoder.lm_head.weight" in keys:
        return "official"
    if "pc_projection" in keys:
        return "ulip"
    raise ValueError(
        "cannot tell the checkpoint format from its keys (expected Point-BERT 'transformer_q.*', ULIP "
        "'pc_projection', OpenShape 'ppat.*', Uni3D 'point_encoder.visual.blocks.*', Cross-MoST 'classifier' or "
        f"crossmost 'point_projection.weight'); first keys: "
        f"{sorted(keys)[:6]}"
    )


def resolve_source(source: str, state: Mapping[str, Tensor]) -> str:
    """``source`` checked against :data:`POINT_SOURCES`, ``"auto"`` detected from the keys of ``state``.

    Raises:
        ValueError: an unknown source, or ``"auto"`` with keys of no known layout.
    """
    if source == "auto":
        return detect_source(state)
    if source in _DEPRECATED_SOURCES:
        new = _DEPRECATED_SOURCES[source]
        warnings.warn(f"checkpoint source {source!r} is deprecated; use {new!r}", DeprecationWarning, stacklevel=3)
        return new
    if source not in POINT_SOURCES:
        raise ValueError(f"unknown checkpoint source {source!r}; known: {', '.join(POINT_SOURCES)} or 'auto'")
    return source


def convert_point_branch(state: Mapping[str, Tensor], source: str) -> tuple[dict[str, Tensor], list[str]]:
    """Map the point-branch keys of ``state`` onto crossmost names.

    Returns:
        ``(converted, skipped)``: the crossmost-named tensors (``point_encoder.*``, ``point_projection.weight``
        and, for the authors' checkpoints, ``point_local_projection.weight`` and ``mpm_head.*``) and the source keys
        deliberately left out.

    Raises:
        ValueError: an unknown source, or ``"auto"`` with keys of no known layout.
    """
    state = strip_module_prefix(state)
    source = resolve_source(source, state)
    if source == "crossmost":
        converted = {key: value for key, value in state.items() if key.startswith(_OWN_POINT_PREFIXES)}
        return converted, [key for key in state if key not in converted]
    if source in RELEASED_SOURCES:
        return convert_released(state, source)
    point_source = _ENCODER_LAYOUT[source]
    encoder_keys = map_point_encoder_keys(state, point_source)
    converted = {f"point_encoder.{name}": state[key] for key, name in encoder_keys.items()}
    used = set(encoder_keys)
    heads = extract_point_heads(state, source=point_source)
    if "pc_projection" in heads:
        converted["point_projection.weight"] = heads["pc_projection"].T.contiguous()
        used.add("pc_projection")
    if source == "official":
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
    if source in RELEASED_SOURCES:
        keys |= {key for key in model.state_dict() if key.startswith("point_projection.")}
    elif source != "pointbert":
        keys.add("point_projection.weight")
    if source in ("crossmost", "official"):
        keys |= {key for key in model.state_dict() if key.startswith(("point_local_projection.", "mpm_head."))}
    return keys


def _never_in_source(key: str, source: str) -> bool:
    """Model keys that checkpoints of a foreign ``source`` never hold (they keep their current values)."""
    if source in RELEASED_SOURCES:
        return never_in_release(key)
    layout = _ENCODER_LAYOUT.get(source)
    if layout is None or not key.startswith("point_encoder."):
        return False
    return may_be_missing(key.removeprefix("point_encoder."), layout)


def load_point_branch(
    model: CrossModalModel,
    checkpoint: str | Path | Mapping[str, Any],
    *,
    source: str = "auto",
    strict: bool = True,
) -> LoadReport:
    """Load the point encoder (and, where the checkpoint has them, ``f^P``, the local projection and the MPM head).

    This is the one way foreign point weights enter a model: :func:`crossmost_models.create_model`'s
    ``point_pretrained`` comes here too.

    Args:
        model: the model to fill in place.
        checkpoint: a checkpoint file (read with :func:`~crossmost_models.interop.read_checkpoint`) or a state dict.
        source: ``"auto"`` (detect from the key names) or one of :data:`POINT_SOURCES` (``"official"``: the
            authors' Cross-MoST code).
        strict: raise when a key the source should provide is missing or a point key is unexpected (shape
            mismatches always raise). Keys of other parts (image/text towers, momentum encoders) are skipped.

    Returns:
        The :class:`~crossmost_models.LoadReport`.

    Raises:
        FileNotFoundError: no such file.
        ValueError: an unknown or undetectable layout, or weights that do not fit (keys and shapes listed).
    """
    state = strip_module_prefix(flat_state_dict(checkpoint, origin="point-branch state dict"))
    source = resolve_source(source, state)
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


def load_point_tokenizer(model: CrossModalModel, checkpoint: str | Path | Mapping[str, Any]) -> LoadReport:
    """Load only the mini-PointNet tokenizer (``point_encoder.encoder.*``) of ``model``, strictly.

    The tokenizer is found in any layout that has one: Point-BERT's dVAE (``dVAE.pth``, the tokenizer the authors'
    point tower starts from), Point-BERT, ULIP, the authors' Cross-MoST checkpoints and crossmost models (their
    weights file or the saved-model folder that holds it). Every other
    weight of the checkpoint and of the model is left alone (the paper's "Init ✗" ablation: a pre-trained tokenizer
    under a point transformer that skips the ULIP alignment).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the checkpoint holds no tokenizer, or its tokenizer does not fit (keys and shapes listed).
    """
    if not isinstance(checkpoint, Mapping) and Path(checkpoint).is_dir():
        checkpoint = Path(checkpoint) / WEIGHTS_FILE  # a saved crossmost model: its weights file
    origin = str(checkpoint) if not isinstance(checkpoint, Mapping) else "state dict"
    state = flat_state_dict(checkpoint, origin=origin)
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
