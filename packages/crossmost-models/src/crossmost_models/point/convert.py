"""Load Point-BERT, ULIP and Cross-MoST point-encoder checkpoints into :class:`PointBertEncoder` by key mapping.

Sources and what is taken from them (``module.`` prefixes from DataParallel/DDP are always stripped, and
``state_dict`` / ``model`` / ``base_model`` containers are unwrapped):

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
``crossmost``
    The authors' Cross-MoST and ULIP-style pre-training checkpoints (``point_encoder.*``). Their extra heads
    ``point_encoder.proj`` and ``point_encoder.lm_head`` and the top-level ``pc_projection`` are returned by
    :func:`extract_point_heads`, not loaded into the encoder.

Files are read without unpickling arbitrary objects (:func:`load_checkpoint_file`).
"""

from __future__ import annotations

import argparse
import pickle
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import torch
from torch import Tensor, nn

PointCheckpointSource = Literal["pointbert", "pointbert-dvae", "ulip", "crossmost"]

_CONTAINER_KEYS = ("state_dict", "model", "base_model")
_POINTBERT_HEADS = ("lm_head.", "cls_head.", "cls_head_finetune.")
_CROSSMOST_HEADS = ("proj", "lm_head.weight", "lm_head.bias")


class CheckpointMismatchError(ValueError):
    """A strict load found missing, unexpected or wrongly shaped tensors; ``report`` has the details."""

    def __init__(self, report: LoadReport) -> None:
        super().__init__(f"{report}\nPass strict=False to load the tensors that do match and keep the rest.")
        self.report = report


@dataclass(frozen=True)
class LoadReport:
    """The difference between a converted checkpoint and an encoder, as a readable list.

    Attributes:
        source: the checkpoint source the keys were mapped from.
        loaded: encoder keys filled from the checkpoint.
        missing: encoder keys the checkpoint lacks (an error under ``strict``).
        allowed_missing: encoder keys the checkpoint lacks that this source never has; they keep their values.
        unexpected: checkpoint keys the encoder does not have (an error under ``strict``).
        shape_mismatches: ``(key, encoder shape, checkpoint shape)`` (an error under ``strict``; never loaded).
    """

    source: str
    loaded: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    allowed_missing: tuple[str, ...] = ()
    unexpected: tuple[str, ...] = ()
    shape_mismatches: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True when nothing is missing (beyond what the source allows), unexpected or mis-shaped."""
        return not (self.missing or self.unexpected or self.shape_mismatches)

    def __str__(self) -> str:
        lines = [f"point encoder weights from a {self.source!r} checkpoint: {len(self.loaded)} tensors match"]
        if self.missing:
            lines.append(f"  missing from the checkpoint ({len(self.missing)}):")
            lines += [f"    - {key}" for key in self.missing]
        if self.unexpected:
            lines.append(f"  unexpected, not in the encoder ({len(self.unexpected)}):")
            lines += [f"    + {key}" for key in self.unexpected]
        if self.shape_mismatches:
            lines.append(f"  shape mismatches ({len(self.shape_mismatches)}):")
            lines += [
                f"    ~ {key}: encoder {tuple(expected)}, checkpoint {tuple(found)}"
                for key, expected, found in self.shape_mismatches
            ]
        if self.allowed_missing:
            lines.append(
                f"  not in {self.source!r} checkpoints, kept at their current values: {', '.join(self.allowed_missing)}"
            )
        return "\n".join(lines)


def load_checkpoint_file(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint file without unpickling arbitrary Python objects.

    ``.safetensors`` files are read with safetensors; anything else with ``torch.load(weights_only=True)``, which
    only admits tensors, containers and plain values (``argparse.Namespace``, which ULIP and Cross-MoST store as
    ``args``, is also admitted: it holds plain values only).

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        ValueError: when the file needs arbitrary objects to load; the message says how to extract its tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return dict(load_file(str(path)))
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise ValueError(
            f"{path} stores Python objects that crossmost will not unpickle ({error}). If you trust the file, "
            "extract its tensors once in a separate Python session: torch.save(torch.load(path, "
            "weights_only=False)['state_dict'], 'weights.pt') (or the 'model' / 'base_model' entry)."
        ) from error
    if not isinstance(loaded, Mapping):
        raise ValueError(f"{path} does not hold a state dict (found {type(loaded).__name__})")
    return dict(loaded)


def unwrap_state_dict(checkpoint: Mapping[str, Any]) -> dict[str, Tensor]:
    """The flat ``name → tensor`` mapping inside a checkpoint (descending into ``state_dict``, ``model`` or
    ``base_model``), with ``module.`` prefixes removed."""
    current: Mapping[str, Any] = checkpoint
    for _ in range(4):
        tensors = {k: v for k, v in current.items() if isinstance(v, Tensor)}
        if tensors and len(tensors) == len(current):
            return {_strip_module(k): v for k, v in tensors.items()}
        container = next((k for k in _CONTAINER_KEYS if isinstance(current.get(k), Mapping)), None)
        if container is None:
            break
        current = current[container]
    found = ", ".join(sorted(map(str, current))[:12])
    raise ValueError(
        f"found no state dict in the checkpoint: expected tensors or one of {list(_CONTAINER_KEYS)}; top-level "
        f"keys are [{found}]"
    )


def _strip_module(key: str) -> str:
    while key.startswith("module."):
        key = key[len("module.") :]
    return key


def _with_prefix(state: Mapping[str, Tensor], prefix: str) -> dict[str, Tensor]:
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def _check_source(source: str) -> None:
    if source not in get_args(PointCheckpointSource):
        raise ValueError(f"source must be one of {list(get_args(PointCheckpointSource))}; got {source!r}")


def convert_pointbert_state_dict(state_dict: Mapping[str, Any], *, source: PointCheckpointSource) -> dict[str, Tensor]:
    """Map a point-encoder checkpoint onto :class:`~crossmost_models.point.PointBertEncoder` keys.

    Args:
        state_dict: the checkpoint: a flat state dict or a whole checkpoint dict (``state_dict`` / ``model`` /
            ``base_model`` entries are unwrapped, ``module.`` prefixes stripped).
        source: ``"pointbert"``, ``"pointbert-dvae"``, ``"ulip"`` or ``"crossmost"`` (see the module docs).

    Returns:
        ``encoder key → tensor`` for the encoder's own weights; heads and other towers are left out.

    Raises:
        ValueError: for an unknown source or when the checkpoint holds no point-encoder keys of that source.
    """
    _check_source(source)
    flat = unwrap_state_dict(state_dict)
    if source == "pointbert":
        if any(k.startswith("transformer_q.") for k in flat):
            flat = _with_prefix(flat, "transformer_q.")
        elif any(k.startswith("base_model.") for k in flat):
            flat = _with_prefix(flat, "base_model.")
        converted = {k: v for k, v in flat.items() if not k.startswith(_POINTBERT_HEADS)}
    elif source == "pointbert-dvae":
        converted = {k: v for k, v in flat.items() if k.startswith("encoder.")}
    else:  # ulip and crossmost keep the point tower under point_encoder.
        encoder = _with_prefix(flat, "point_encoder.")
        converted = {k: v for k, v in encoder.items() if k not in _CROSSMOST_HEADS}
    if not any(k.startswith("encoder.") for k in converted):
        sample = ", ".join(sorted(flat)[:8])
        raise ValueError(
            f"no Point-BERT tokenizer keys (encoder.first_conv...) found for source {source!r}; "
            f"is this a {source!r} checkpoint? Its first keys are [{sample}]"
        )
    return converted


def extract_point_heads(state_dict: Mapping[str, Any], *, source: PointCheckpointSource) -> dict[str, Tensor]:
    """The projection and MPM heads that travel with a point encoder, under their checkpoint names.

    Returns ``pc_projection`` (ULIP and Cross-MoST: ``2W×D``, the map of ``[CLS ; max-pool]`` into the shared
    space) and, for Cross-MoST, ``proj`` (``W×D`` global-local projection) and ``lm_head.weight`` /
    ``lm_head.bias`` (the MPM head), for whichever of them the checkpoint holds. Point-BERT's own heads (dVAE
    token classifier, contrastive and fine-tuning heads) have other shapes and are not returned.
    """
    _check_source(source)
    if source in ("pointbert", "pointbert-dvae"):
        return {}
    flat = unwrap_state_dict(state_dict)
    heads = {k: v for k, v in _with_prefix(flat, "point_encoder.").items() if k in _CROSSMOST_HEADS}
    if "pc_projection" in flat:
        heads["pc_projection"] = flat["pc_projection"]
    return heads


def _allowed_missing(key: str, source: str) -> bool:
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
    expected = encoder.state_dict()
    missing = sorted(k for k in expected if k not in converted)
    mismatched = [
        (k, tuple(expected[k].shape), tuple(v.shape))
        for k, v in sorted(converted.items())
        if k in expected and v.shape != expected[k].shape
    ]
    bad_shapes = {k for k, _, _ in mismatched}
    report = LoadReport(
        source=source,
        loaded=tuple(sorted(k for k in converted if k in expected and k not in bad_shapes)),
        missing=tuple(k for k in missing if not _allowed_missing(k, source)),
        allowed_missing=tuple(k for k in missing if _allowed_missing(k, source)),
        unexpected=tuple(sorted(k for k in converted if k not in expected)),
        shape_mismatches=tuple(mismatched),
    )
    if strict and not report.ok:
        raise CheckpointMismatchError(report)
    encoder.load_state_dict({k: converted[k] for k in report.loaded}, strict=False)
    return report
