"""The point towers of OpenShape and Uni3D, from their released checkpoint files as released.

ULIP-2's files have ULIP's layout and load as the ``ulip`` source (:mod:`crossmost_models.interop.point_branch`).

Containers and prefixes (all read without unpickling arbitrary objects; fp16 weights are upcast to float32):

``openshape``
    ``openshape-pointbert-vitg14-rgb`` (and its ``-no-lvis`` / ``-shapenet-only`` variants): ``ckpt["state_dict"]``
    with ``module.`` prefixes; ``openshape-pointbert-vitl14-rgb`` and ``-vitb32-rgb``: a flat dict under
    ``pc_encoder.``. Keys ``ppat.sa.*`` (set abstraction), ``ppat.lift.{0,2}``, ``ppat.cls_token``,
    ``ppat.transformer.layers.{i}.{0,1}.*`` and ``proj.*`` (the projection into CLIP space).
``uni3d``
    ``uni3d-{ti,s,b,l,g}/model.pt`` (DeepSpeed): ``ckpt["module"]``. Keys ``point_encoder.{encoder, encoder2trans,
    cls_token, cls_pos, pos_embed}``, the EVA blocks ``point_encoder.visual.blocks.*``, ``point_encoder.visual.fc_norm``
    and ``point_encoder.trans2embed`` (the projection). The file also carries timm ViT keys Uni3D never uses
    (:data:`UNI3D_UNUSED`): they are skipped by name and listed in the load report.

Every other key is strict: a key the model has no place for, a missing key or a wrong shape is an error that lists
them (crossmost's own additions that no release has, the ``mask_token`` of masked point modelling, keep their
initial values).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from crossmost_models.interop.files import flat_state_dict

__all__ = [
    "RELEASED_SOURCES",
    "UNI3D_UNUSED",
    "convert_released",
    "detect_released_source",
    "never_in_release",
    "released_family",
]

RELEASED_SOURCES = ("openshape", "uni3d")

UNI3D_UNUSED = (
    "point_encoder.visual.patch_embed.",
    "point_encoder.visual.pos_embed",
    "point_encoder.visual.cls_token",
    "point_encoder.visual.head.",
    "logit_scale",
)
"""Keys (or key prefixes) of Uni3D's files that its forward pass never uses: the timm ViT's image-only parts and the
contrastive temperature."""

_OPENSHAPE_PREFIX = "pc_encoder."
_OPENSHAPE_RULES = (
    (r"ppat\.sa\.(mlp_convs|mlp_bns)\.(\d+)\.(.+)", r"point_encoder.encoder.\1.\2.\3"),
    (r"ppat\.lift\.0\.(.+)", r"point_encoder.lift.\1"),
    (r"ppat\.lift\.2\.(.+)", r"point_encoder.lift_norm.\1"),
    (r"ppat\.cls_token", r"point_encoder.cls_token"),
    (r"ppat\.transformer\.layers\.(\d+)\.0\.norm\.(.+)", r"point_encoder.blocks.blocks.\1.norm1.\2"),
    (r"ppat\.transformer\.layers\.(\d+)\.0\.fn\.to_qkv\.(.+)", r"point_encoder.blocks.blocks.\1.attn.qkv.\2"),
    (r"ppat\.transformer\.layers\.(\d+)\.0\.fn\.to_out\.0\.(.+)", r"point_encoder.blocks.blocks.\1.attn.proj.\2"),
    (r"ppat\.transformer\.layers\.(\d+)\.1\.norm\.(.+)", r"point_encoder.blocks.blocks.\1.norm2.\2"),
    (r"ppat\.transformer\.layers\.(\d+)\.1\.fn\.net\.0\.(.+)", r"point_encoder.blocks.blocks.\1.mlp.fc1.\2"),
    (r"ppat\.transformer\.layers\.(\d+)\.1\.fn\.net\.3\.(.+)", r"point_encoder.blocks.blocks.\1.mlp.fc2.\2"),
    (r"proj\.(weight|bias)", r"point_projection.\1"),
)
# Uni3D's tokenizer, positions, class token and `encoder2trans` already have crossmost's names (a key that matches
# no rule keeps its name).
_UNI3D_RULES = (
    (r"point_encoder\.visual\.blocks\.(.+)", r"point_encoder.blocks.\1"),
    (r"point_encoder\.visual\.fc_norm\.(.+)", r"point_encoder.fc_norm.\1"),
    (r"point_encoder\.trans2embed\.(weight|bias)", r"point_projection.\1"),
)
_RULES = {
    "openshape": [(re.compile(pattern), target) for pattern, target in _OPENSHAPE_RULES],
    "uni3d": [(re.compile(pattern), target) for pattern, target in _UNI3D_RULES],
}
_UNUSED = {"openshape": (), "uni3d": UNI3D_UNUSED}


def detect_released_source(state: Mapping[str, Tensor]) -> str | None:
    """``"openshape"`` or ``"uni3d"`` when the (``module.``-stripped) keys are those of their releases, else
    ``None``."""
    keys = set(state)
    if any(key.startswith(("ppat.", _OPENSHAPE_PREFIX + "ppat.")) for key in keys):
        return "openshape"
    if (
        any(key.startswith("point_encoder.visual.blocks.") for key in keys)
        and "point_encoder.encoder2trans.weight" in keys
    ):
        return "uni3d"
    return None


def convert_released(state: Mapping[str, Tensor], source: str) -> tuple[dict[str, Tensor], list[str]]:
    """Map a released checkpoint's keys onto crossmost names.

    Args:
        state: the flat state dict (containers unwrapped, ``module.`` stripped).
        source: ``"openshape"`` or ``"uni3d"``.

    Returns:
        ``(converted, skipped)``: the crossmost-named tensors (floating point ones as float32) and the keys the
        release carries but never uses. A key that matches no rule keeps its name, so that the load report lists it
        as unexpected.

    Raises:
        ValueError: an unknown source.
    """
    if source not in _RULES:
        raise ValueError(f"unknown released checkpoint source {source!r}; known: {', '.join(RELEASED_SOURCES)}")
    converted: dict[str, Tensor] = {}
    skipped: list[str] = []
    for key, value in state.items():
        name = key.removeprefix(_OPENSHAPE_PREFIX) if source == "openshape" else key
        if name.startswith(_UNUSED[source]):
            skipped.append(key)
            continue
        target = next((rule.sub(new, name) for rule, new in _RULES[source] if rule.fullmatch(name)), key)
        converted[target] = value.float() if value.dtype in (torch.float16, torch.bfloat16) else value
    return converted, skipped


def never_in_release(key: str) -> bool:
    """Model keys no released checkpoint holds: crossmost's ``mask_token`` (the released towers were never trained
    with masked point modelling) and BatchNorm counters absent from files written by old torch versions."""
    return key == "point_encoder.mask_token" or key.endswith("num_batches_tracked")


def released_family(checkpoint: str | Path | Mapping[str, Any]) -> str:
    """The point-tower family (``"pointbert"``, ``"ppat"`` or ``"uni3d"``) of a released checkpoint, from its keys.

    ``"pointbert"`` covers ULIP-1 and ULIP-2 (``point_encoder.blocks.blocks.*`` with ``pc_projection``); ULIP-2's
    towers take ``xyzrgb`` (``point_encoder.encoder.first_conv.0.weight`` has 6 input channels) and have 18 blocks.

    Raises:
        FileNotFoundError: no such file.
        ValueError: keys of no released family (the first keys are named).
    """
    state = flat_state_dict(checkpoint, origin="released checkpoint")
    source = detect_released_source(state)
    if source is not None:
        return "ppat" if source == "openshape" else "uni3d"
    if "pc_projection" in state and any(key.startswith("point_encoder.blocks.blocks.") for key in state):
        return "pointbert"
    raise ValueError(
        "the checkpoint has the keys of no released point tower (ULIP 'point_encoder.blocks.blocks.*' with "
        f"'pc_projection', OpenShape 'ppat.*', Uni3D 'point_encoder.visual.blocks.*'); first keys: {sorted(state)[:6]}"
    )
