"""Point-encoder checkpoints of Point-BERT, ULIP and the authors' Cross-MoST, mapped onto
:class:`~crossmost_models.point.PointBertEncoder` by key.

Layouts and what is taken from them (``module.`` prefixes from DataParallel/DDP are always stripped, and
``state_dict`` / ``model`` / ``base_model`` / ``module`` containers are unwrapped):

``pointbert``
    Point-BERT checkpoints (``base_model``). Pre-training checkpoints hold the student as ``transformer_q.*`` next
    to ``transformer_k.*``, ``dvae.*`` and queues: only ``transformer_q.*`` is taken. Fine-tuned classification
    checkpoints hold the encoder keys directly. The heads ``lm_head`` (8192 dVAE tokens), ``cls_head`` and
    ``cls_head_finetune`` are dropped. Fine-tuned checkpoints have no ``mask_token``; it may stay at its
    initial value.
``pointbert-dvae``
    The Point-BERT dVAE (``dVAE.pth``): only its mini-PointNet ``encoder.*`` is used, which seeds the tokenizer;
    every other encoder parameter may stay at its initial value.
``ulip``
    ULIP / ULIP-2 checkpoints (``state_dict`` with ``module.point_encoder.*``): the point encoder. ULIP's
    PointBERT has no ``mask_token``; it may stay at its initial value. ``pc_projection`` is not an encoder weight:
    :func:`extract_point_heads` returns it.
``official``
    The authors' Cross-MoST and ULIP-style pre-training checkpoints (``point_encoder.*``). Their extra heads
    ``point_encoder.proj`` and ``point_encoder.lm_head`` and the top-level ``pc_projection`` are returned by
    :func:`extract_point_heads`, not loaded into the encoder.
``crossmost``
    crossmost's own models (``point_encoder.*``): the encoder keys are those of the authors' layout, without
    their extra heads.

The whole point branch of a model (encoder, projections and MPM head) is loaded by
:mod:`crossmost_models.interop.point_branch`, which maps its encoder keys with the functions here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, get_args

from torch import Tensor, nn

from crossmost_models.interop.files import unwrap_state_dict
from crossmost_models.load_report import LoadReport, compare_state_dicts

__all__ = [
    "PointCheckpointSource",
    "convert_pointbert_state_dict",
    "extract_point_heads",
    "load_point_encoder_weights",
    "map_point_encoder_keys",
    "may_be_missing",
]

PointCheckpointSource = Literal["pointbert", "pointbert-dvae", "ulip", "official", "crossmost"]

_POINTBERT_HEADS = ("lm_head.", "cls_head.", "cls_head_finetune.")
# The heads the authors keep under ``point_encoder.``: the global-local projection and the MPM head.
_OFFICIAL_HEADS = ("proj", "lm_head.weight", "lm_head.bias")


def _with_prefix(state: Mapping[str, Tensor], prefix: str) -> dict[str, Tensor]:
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def _check_source(source: str) -> None:
    if source not in get_args(PointCheckpointSource):
        raise ValueError(f"source must be one of {list(get_args(PointCheckpointSource))}; got {source!r}")


def map_point_encoder_keys(flat: Mapping[str, Tensor], source: PointCheckpointSource) -> dict[str, str]:
    """``checkpoint key → encoder key`` for the encoder's own weights in a flat state dict of ``source``.

    Keys that are not mapped (heads, other towers, momentum encoders, dVAE codebooks) are not encoder weights.
    """
    _check_source(source)
    if source == "pointbert":
        prefix = next((p for p in ("transformer_q.", "base_model.") if any(k.startswith(p) for k in flat)), "")
        return {
            k: k[len(prefix) :]
            for k in flat
            if k.startswith(prefix) and not k[len(prefix) :].startswith(_POINTBERT_HEADS)
        }
    if source == "pointbert-dvae":
        return {k: k for k in flat if k.startswith("encoder.")}
    # ulip, official and crossmost keep the point tower under point_encoder.
    encoder = {k: k[len("point_encoder.") :] for k in flat if k.startswith("point_encoder.")}
    return {k: name for k, name in encoder.items() if name not in _OFFICIAL_HEADS}


def convert_pointbert_state_dict(state_dict: Mapping[str, Any], *, source: PointCheckpointSource) -> dict[str, Tensor]:
    """Map a point-encoder checkpoint onto :class:`~crossmost_models.point.PointBertEncoder` keys.

    Args:
        state_dict: the checkpoint: a flat state dict or a whole checkpoint dict (``state_dict`` / ``model`` /
            ``base_model`` entries are unwrapped, ``module.`` prefixes stripped).
        source: ``"pointbert"``, ``"pointbert-dvae"``, ``"ulip"``, ``"official"`` or ``"crossmost"`` (see the
            module docs).

    Returns:
        ``encoder key → tensor`` for the encoder's own weights; heads and other towers are left out.

    Raises:
        ValueError: for an unknown source or when the checkpoint holds no point-encoder keys of that source.
    """
    _check_source(source)
    flat = unwrap_state_dict(state_dict)
    converted = {name: flat[key] for key, name in map_point_encoder_keys(flat, source).items()}
    if not any(k.startswith("encoder.") for k in converted):
        sample = ", ".join(sorted(flat)[:8])
        raise ValueError(
            f"no Point-BERT tokenizer keys (encoder.first_conv...) found for source {source!r}; "
            f"is this a {source!r} checkpoint? Its first keys are [{sample}]"
        )
    return converted


def extract_point_heads(state_dict: Mapping[str, Any], *, source: PointCheckpointSource) -> dict[str, Tensor]:
    """The projection and MPM heads that travel with a point encoder, under their checkpoint names.

    Returns ``pc_projection`` (ULIP and the authors' Cross-MoST: ``2W×D``, the map of ``[CLS ; max-pool]`` into the
    shared space) and, for the authors' layout, ``proj`` (``W×D`` global-local projection) and ``lm_head.weight`` /
    ``lm_head.bias`` (the MPM head), for whichever of them the checkpoint holds. Point-BERT's own heads (dVAE
    token classifier, contrastive and fine-tuning heads) have other shapes and are not returned.
    """
    _check_source(source)
    if source in ("pointbert", "pointbert-dvae"):
        return {}
    flat = unwrap_state_dict(state_dict)
    heads = {k: v for k, v in _with_prefix(flat, "point_encoder.").items() if k in _OFFICIAL_HEADS}
    if "pc_projection" in flat:
        heads["pc_projection"] = flat["pc_projection"]
    return heads


def may_be_missing(key: str, source: PointCheckpointSource) -> bool:
    """Whether encoder key ``key`` may be absent from a ``source`` checkpoint (it then keeps its current value)."""
    if key.endswith("num_batches_tracked"):  # absent from checkpoints written by old torch versions
        return True
    if source in ("pointbert", "ulip") and key == "mask_token":
        return True
    return source == "pointbert-dvae" and not key.startswith("encoder.")


def load_point_encoder_weights(
    encoder: nn.Module,
    state_dict: Mapping[str, Any],
    *,
    source: PointCheckpointSource,
    strict: bool = True,
) -> LoadReport:
    """Convert a checkpoint (see :func:`convert_pointbert_state_dict`) and copy it into ``encoder``.

    Args:
        encoder: a :class:`~crossmost_models.point.PointBertEncoder`.
        state_dict: the checkpoint (flat or whole; see :func:`convert_pointbert_state_dict`).
        source: which layout the checkpoint has.
        strict: raise instead of loading when a key is missing (beyond what the source never has), unexpected or
            of the wrong shape.

    Returns:
        A :class:`LoadReport`; ``print(report)`` shows the diff.

    Raises:
        CheckpointMismatchError: under ``strict`` when the report is not ``ok``; nothing is loaded then.
    """
    converted = convert_pointbert_state_dict(state_dict, source=source)
    report = compare_state_dicts(
        encoder.state_dict(),
        converted,
        source=f"a {source!r} point-encoder checkpoint",
        may_be_missing=lambda key: may_be_missing(key, source),
    )
    report.check(strict=strict, allow_mismatched=True)
    encoder.load_state_dict({k: converted[k] for k in report.loaded}, strict=False)
    return report
