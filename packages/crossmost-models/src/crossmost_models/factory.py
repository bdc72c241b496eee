"""Creating models (open_clip style): from a registered config name, from an open_clip model, from a typed config,
and from a saved-model folder.

Every path ends in :func:`build_model`, which assembles the towers and the classifier a
:class:`~crossmost_models.config.CrossModalConfig` describes.
"""

from __future__ import annotations

import copy
import dataclasses
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from crossmost_models.classifier import TextInitialisedClassifier
from crossmost_models.clip import build_clip_from_config, create_clip, resolved_clip_config
from crossmost_models.config import CrossModalConfig
from crossmost_models.hub import is_hub_id
from crossmost_models.image.plain_tower import PlainVisionTower
from crossmost_models.image.tower import MaskableVisionTower
from crossmost_models.interop.point_branch import load_point_branch
from crossmost_models.model import CrossModalModel
from crossmost_models.point.family import PointEncoder, build_point_encoder
from crossmost_models.registry import get_model_config
from crossmost_models.saved_model import load_model_weights, read_saved_model, resolve_saved_model
from crossmost_models.text import build_classifier_weights
from crossmost_models.transforms import ImageTransform, PointTransform, get_transforms

__all__ = [
    "build_model",
    "create_model",
    "create_model_and_transforms",
    "create_model_from_clip",
    "from_pretrained",
]

PointWeights = str | Path | Mapping[str, Tensor]
"""A point-branch checkpoint: a file, or a state dict (see :func:`crossmost_models.interop.load_point_branch`)."""


def build_model(
    config: CrossModalConfig,
    classnames: Sequence[str],
    classifier_weight: Tensor,
    *,
    visual: nn.Module | None = None,
    point_encoder: PointEncoder | None = None,
    templates: str | None = None,
) -> CrossModalModel:
    """Assemble the model ``config`` describes.

    Args:
        config: the architecture; ``config.clip_config`` (the resolved open_clip config) builds the image tower
            when ``visual`` is not given.
        classnames: class names in label order.
        classifier_weight: the ``D×C`` classifier matrix (text embeddings, or zeros to be overwritten by weights).
        visual: an open_clip ``VisionTransformer`` to use (shared, not copied); default: a randomly initialised one.
        point_encoder: a point encoder to use; default: a fresh one built from ``config.point``.
        templates: the template-set name the classifier was built from, recorded in saved models.

    Returns:
        The model, on the device of ``visual``.

    Raises:
        ValueError: no ``visual`` and no ``config.clip_config``, or parts whose sizes disagree.
    """
    if visual is None:
        if config.clip_config is None:
            raise ValueError("build_model needs visual=... or a config with the resolved open_clip config")
        visual = build_clip_from_config(config.clip_config).get_submodule("visual")
    tower = image_tower_for(visual, config)
    if point_encoder is None:
        point_encoder = build_point_encoder(config.point)
    classifier = TextInitialisedClassifier(
        classifier_weight.to(next(tower.parameters()).device),
        scale=config.classifier.scale,
        learnable_scale=config.classifier.learnable_scale,
        normalize_columns=config.classifier.normalize_columns,
    )
    return CrossModalModel(tower, point_encoder, classifier, classnames=classnames, config=config, templates=templates)


def image_tower_for(visual: nn.Module, config: CrossModalConfig) -> MaskableVisionTower | PlainVisionTower:
    """The maskable tower over ``visual``, or, for a tower that cannot be masked patch by patch (open_clip's timm
    towers such as ``EVA02-E-14-plus``), a :class:`~crossmost_models.image.PlainVisionTower` and a warning that names
    the tower: the model then runs without masked image modelling and the image global–local term."""
    try:
        return MaskableVisionTower(visual)
    except (TypeError, ValueError) as error:
        warnings.warn(
            f"the image tower of {config.clip!r} cannot be masked for masked image modelling ({error}); this model "
            "runs without the image MIM and image global-local terms (their outputs stay empty and the objective "
            "skips them)",
            UserWarning,
            stacklevel=3,
        )
    vision = (config.clip_config or {}).get("vision_cfg", {})
    image_size = vision.get("image_size", 224)
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    trunk = getattr(visual, "trunk", None)
    patch = getattr(getattr(trunk, "patch_embed", None), "patch_size", None) or vision.get("patch_size", 1)
    patch_size = int(patch[0] if isinstance(patch, tuple | list) else patch)
    embed_dim = int((config.clip_config or {}).get("embed_dim", 0))
    return PlainVisionTower(visual, embed_dim=embed_dim, image_size=(int(size[0]), int(size[1])), patch_size=patch_size)


def create_model_from_clip(
    clip_model: nn.Module,
    tokenizer: Callable[..., Tensor],
    config: CrossModalConfig,
    classnames: Sequence[str],
    *,
    templates: str | Sequence[str] | None = None,
    point_encoder: PointEncoder | None = None,
    text_batch_size: int = 256,
) -> CrossModalModel:
    """Build a model from an already-built open_clip model (e.g. CLIP towers pre-trained by the trainer).

    The classifier is built from ``clip_model``'s text tower; only ``clip_model.visual`` is kept (shared, not
    copied), so the text tower is freed once the caller drops ``clip_model``.

    Args:
        clip_model: an open_clip ``CLIP`` whose ``visual`` is a ``VisionTransformer``.
        tokenizer: its tokenizer.
        config: the architecture: ``config.clip`` and ``config.clip_kwargs`` name ``clip_model``'s open_clip
            architecture and the overrides it was created with (recorded so that the model can be saved and
            rebuilt), ``config.text_pretrained`` the weights it was created with, if any (recorded so that the text
            tower can be recreated for :meth:`~crossmost_models.CrossModalModel.set_classnames`).
        classnames: class names in label order.
        templates: template-set name, JSON path or list of templates; default: ``config.templates``.
        point_encoder: an existing encoder to use (e.g. aligned ULIP-style); default: a fresh one.
        text_batch_size: prompts per text-tower forward.

    Returns:
        The model on the device of ``clip_model``; its config records the resolved open_clip config and the
        template-set name (``"custom"`` for a list of templates).
    """
    chosen = templates if templates is not None else config.templates
    config = dataclasses.replace(
        config,
        templates=chosen if isinstance(chosen, str) else "custom",
        clip_config=resolved_clip_config(config.clip, config.clip_kwargs),
    )
    weight = build_classifier_weights(
        clip_model, tokenizer, classnames, chosen, clean_names=config.clean_class_names, batch_size=text_batch_size
    )
    device = next(clip_model.parameters()).device
    visual = clip_model.get_submodule("visual")
    return build_model(
        config,
        classnames,
        weight,
        visual=visual,
        point_encoder=point_encoder,
        templates=chosen if isinstance(chosen, str) else None,
    ).to(device)


def from_pretrained(
    directory: str | Path,
    *,
    strict: bool = True,
    device: str | torch.device | None = None,
    cache_dir: str | Path | None = None,
) -> CrossModalModel:
    """Load a model written by :func:`~crossmost_models.save_pretrained`, from a folder or from the Hugging Face hub.

    This is the one way a saved model is loaded: ``create_model(name, pretrained=folder)`` and
    ``create_model("hf-hub:user/repo")`` come here too. The open_clip architecture is rebuilt from the saved config
    (randomly initialised, no download), then every weight is read from ``model.safetensors``.

    Args:
        directory: the saved-model folder, or ``hf-hub:user/repo`` (optionally ``@revision``) for a hub repository
            holding its two files (see :mod:`crossmost_models.hub`; cached, and usable offline once cached).
        strict: require the saved keys to match the model's exactly.
        device: where to put the model (default CPU).
        cache_dir: the Hugging Face cache for ``hf-hub:`` models (default: the standard one).

    Raises:
        FileNotFoundError: missing files.
        ValueError: malformed config, class-count disagreement between ``config.json`` and the weights, key/shape
            mismatches (listed), or an ``hf-hub:`` repository that cannot be had.
    """
    saved = read_saved_model(resolve_saved_model(directory, cache_dir=cache_dir))
    assert saved.config.clip_config is not None  # read_saved_model refuses configs without it
    weight = torch.zeros(int(saved.config.clip_config["embed_dim"]), len(saved.classnames))
    model = build_model(saved.config, saved.classnames, weight, templates=saved.templates)
    load_model_weights(model, saved.weights, strict=strict)
    return model.to(device or "cpu")


def _apply_overrides(config: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    known = set(CrossModalConfig.__dataclass_fields__)
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown override(s) {unknown}; known keys: {sorted(known)}")
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(config.get(key), Mapping):
            config[key] = {**config[key], **value}
        else:
            config[key] = copy.deepcopy(value)
    return config


def _is_saved_model_dir(pretrained: str | Path) -> bool:
    if is_hub_id(pretrained):
        return True
    path = Path(pretrained)
    return path.is_dir() and (path / "config.json").is_file()


def create_model(
    name: str,
    *,
    pretrained: str | Path | None = None,
    point_pretrained: PointWeights | None = None,
    point_pretrained_source: str = "auto",
    classnames: Sequence[str] | None = None,
    templates: str | Sequence[str] | None = None,
    device: str | torch.device | None = None,
    allow_quickgelu_mismatch: bool = False,
    text_batch_size: int = 256,
    cache_dir: str | Path | None = None,
    **overrides: Any,
) -> CrossModalModel:
    """Create a :class:`CrossModalModel` from a registered config.

    The CLIP image and text towers are built with open_clip (optionally with pretrained weights), the classifier is
    initialised from the text tower's prompt ensemble for ``classnames``, and the text tower is then dropped.

    Args:
        name: registered model name (see :func:`list_models`), e.g. ``"vit-b16-pointbert"`` or ``"tiny"``; or
            ``"hf-hub:user/repo"``, a saved model on the Hugging Face hub (like ``pretrained`` below, with the
            architecture taken from it).
        pretrained: weights for the CLIP towers: an open_clip pretrained tag for the config's ``clip`` architecture
            (see :func:`crossmost_models.list_pretrained`; downloaded by open_clip unless cached), a local open_clip
            checkpoint file, or a folder written by :func:`save_pretrained` or its ``hf-hub:user/repo`` upload (then
            the whole model, classifier included, is loaded from it and ``classnames``/``templates`` must agree
            with it or be left out). ``None``: random initialisation.
        point_pretrained: a checkpoint file (or state dict) for the point branch: ULIP / ULIP-2, Point-BERT, the
            released OpenShape and Uni3D files, the authors' Cross-MoST checkpoints or crossmost's own names; loaded
            strictly by :func:`crossmost_models.interop.load_point_branch`.
        point_pretrained_source: ``"auto"`` (detect from the key names), ``"ulip"``, ``"pointbert"``,
            ``"openshape"``, ``"uni3d"``, ``"official"`` (the authors' code) or ``"crossmost"``.
        classnames: class names in label order; required unless ``pretrained`` is a saved-model folder.
        templates: prompt-template set name (``"modelnet40_64"``, ``"paper"``, …), a JSON file or a list of
            templates; default: the config's ``templates``.
        device: device of the returned model (default CPU).
        allow_quickgelu_mismatch: load a local file that looks like OpenAI weights into a GELU architecture with a
            warning instead of an error (see :func:`crossmost_models.clip.check_quickgelu`).
        text_batch_size: prompts per text-tower forward when building the classifier.
        cache_dir: where downloaded weights (open_clip tags, ``hf-hub:`` models) are cached (default: the Hugging
            Face cache).
        **overrides: replace config keys; dict-valued keys are merged, e.g. ``point={"drop_path_rate": 0.0}``,
            ``classifier={"normalize_columns": True}``, ``clip_kwargs={"force_quick_gelu": True}``.

    Returns:
        The model, in train mode, on ``device``.

    Raises:
        KeyError: unknown model name.
        ValueError: missing or disagreeing class names, bad overrides, a QuickGELU mismatch, or weights that do not
            fit (the message lists missing/unexpected keys and shape mismatches).
    """
    if is_hub_id(name):
        model = from_pretrained(name, device=device, cache_dir=cache_dir)
        name, pretrained = model.config.clip, name
        _check_saved_model_matches(model, name, model.config, classnames, templates, Path(str(pretrained)))
        return _with_point_weights(model, point_pretrained, point_pretrained_source).to(device or "cpu")
    config_dict = _apply_overrides(get_model_config(name), overrides)
    config = CrossModalConfig.from_dict(config_dict)
    if pretrained is not None and _is_saved_model_dir(pretrained):
        model = from_pretrained(pretrained, device=device, cache_dir=cache_dir)
        _check_saved_model_matches(model, name, config, classnames, templates, Path(str(pretrained)))
    else:
        if classnames is None:
            raise ValueError("create_model needs classnames=[...] (the classifier is built from them at creation)")
        weights = str(pretrained) if pretrained is not None else None
        clip_model, tokenizer = create_clip(
            config.clip,
            weights,
            allow_quickgelu_mismatch=allow_quickgelu_mismatch,
            cache_dir=str(cache_dir) if cache_dir is not None else None,
            **config.clip_kwargs,
        )
        config = dataclasses.replace(config, text_pretrained=weights)
        model = create_model_from_clip(
            clip_model, tokenizer, config, classnames, templates=templates, text_batch_size=text_batch_size
        )
    return _with_point_weights(model, point_pretrained, point_pretrained_source).to(device or "cpu")


def _with_point_weights(model: CrossModalModel, point_pretrained: PointWeights | None, source: str) -> CrossModalModel:
    if point_pretrained is not None:
        load_point_branch(model, point_pretrained, source=source, strict=True)
    return model


def create_model_and_transforms(
    name: str, *, up_axis: str = "y", seed: int = 0, **kwargs: Any
) -> tuple[CrossModalModel, ImageTransform, PointTransform]:
    """:func:`create_model` plus the transforms that turn your data into its inputs (open_clip style).

    Args:
        name: as :func:`create_model`.
        up_axis: the axis that points up in the point clouds you will feed (``"x"``, ``"y"`` or ``"z"``).
        seed: seed of the point transform's resampling.
        **kwargs: every other argument of :func:`create_model` (``pretrained``, ``classnames``, …).

    Returns:
        ``(model, image_transform, point_transform)``: a PIL image → ``3×H×W`` normalised tensor at the model's
        image size and CLIP mean/std, and an ``N×3`` (or ``N×6``) cloud → ``num_points×C`` tensor, y up, centred
        in the unit sphere (see :mod:`crossmost_models.transforms`).
    """
    model = create_model(name, **kwargs)
    image_transform, point_transform = get_transforms(model, up_axis=up_axis, seed=seed)
    return model, image_transform, point_transform


def _check_saved_model_matches(
    model: CrossModalModel,
    name: str,
    config: CrossModalConfig,
    classnames: Sequence[str] | None,
    templates: str | Sequence[str] | None,
    folder: Path,
) -> None:
    if model.config.clip != config.clip or model.config.point != config.point:
        raise ValueError(
            f"{folder} holds a model with clip={model.config.clip!r} and point={model.config.point}, which is not "
            f"the architecture of {name!r} (clip={config.clip!r}, point={config.point})"
        )
    if classnames is not None:
        if len(classnames) != model.num_classes:
            raise ValueError(
                f"{folder / 'model.safetensors'} has a classifier with {model.num_classes} classes but "
                f"{len(classnames)} class names were given"
            )
        if list(classnames) != model.classnames:
            raise ValueError(
                f"class names given to create_model differ from those saved in {folder / 'config.json'}; the "
                "classifier cannot be rebuilt without the text tower (create the model from CLIP weights instead)"
            )
    if isinstance(templates, str) and model.templates is not None and templates != model.templates:
        raise ValueError(f"templates {templates!r} differ from {model.templates!r} saved in {folder / 'config.json'}")
