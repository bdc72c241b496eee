"""Model registry and factory (open_clip style): architectures are JSON files in ``model_configs/``."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping, Sequence
from fnmatch import fnmatch
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from crossmost_models.config import CrossModalConfig
from crossmost_models.hub import is_hub_id
from crossmost_models.model import CrossModalModel

if TYPE_CHECKING:
    from crossmost_models.transforms import ImageTransform, PointTransform

__all__ = [
    "add_model_config",
    "create_model",
    "create_model_and_transforms",
    "get_model_config",
    "list_models",
    "list_pretrained",
]

_CONFIG_DIR = Path(__file__).parent / "model_configs"
_MODEL_CONFIGS: dict[str, dict[str, Any]] = {}
_SCANNED = False


def _natural_key(name: str) -> list[int | str]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name.lower())]


def _is_open_clip_config(data: Mapping[str, Any]) -> bool:
    return all(key in data for key in ("embed_dim", "vision_cfg", "text_cfg"))


def _register_file(path: Path) -> str | None:
    data = json.loads(path.read_text(encoding="utf-8"))
    if _is_open_clip_config(data):
        from crossmost_models.clip import import_open_clip

        import_open_clip().add_model_config(path)
        return None
    CrossModalConfig.from_dict(data)  # validate now, not at creation
    _MODEL_CONFIGS[path.stem] = data
    return path.stem


def _scan() -> None:
    global _SCANNED
    if not _SCANNED:
        for path in sorted(_CONFIG_DIR.glob("*.json")):
            _register_file(path)
        _SCANNED = True


def list_models(pattern: str | None = None) -> list[str]:
    """Names of the registered crossmost model configs (shipped: ``tiny``, ``vit-b16-pointbert``).

    Args:
        pattern: an ``fnmatch`` pattern, case-insensitive (``"vit-*"``, ``"*pointbert*"``); default: all.
    """
    _scan()
    names = sorted(_MODEL_CONFIGS, key=_natural_key)
    return names if pattern is None else [n for n in names if fnmatch(n.lower(), pattern.lower())]


def list_pretrained(name: str | None = None) -> list[tuple[str, str]]:
    """``(model, open_clip tag)`` pairs the registered models can be created with (``pretrained=tag``).

    Args:
        name: a model name or an ``fnmatch`` pattern (``"vit-b16*"``); default: every registered model.

    Returns:
        The pairs, sorted by model then tag. Tags come from open_clip's table for each model's ``clip``
        architecture; a model whose towers have no published weights (``tiny``) has none. Any model also takes a
        local open_clip checkpoint file or a ``save_pretrained`` folder (local or ``hf-hub:user/repo``).
    """
    import open_clip

    return [
        (model, tag)
        for model in list_models(name)
        for tag in sorted(open_clip.list_pretrained_tags_by_model(get_model_config(model)["clip"]))
    ]


def add_model_config(path_or_dict: str | Path | Mapping[str, Any], *, name: str | None = None) -> list[str]:
    """Register model configs.

    Args:
        path_or_dict: a crossmost model-config JSON file, a folder of them, or a dict (then ``name`` is required).
            open_clip-format JSON files (``embed_dim``/``vision_cfg``/``text_cfg``) found this way are registered
            with open_clip instead, so a crossmost config can name them in its ``clip`` field.
        name: the name of a config given as a dict.

    Returns:
        The crossmost model names that were registered.

    Raises:
        ValueError: a dict without ``name``, or an invalid config.
        FileNotFoundError: the path does not exist.
    """
    _scan()
    if isinstance(path_or_dict, Mapping):
        if not name:
            raise ValueError("add_model_config(dict) needs name=...")
        CrossModalConfig.from_dict(dict(path_or_dict))
        _MODEL_CONFIGS[name] = copy.deepcopy(dict(path_or_dict))
        return [name]
    path = Path(path_or_dict)
    if not path.exists():
        raise FileNotFoundError(f"model config path {path} does not exist")
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    return [registered for file in files if (registered := _register_file(file)) is not None]


def get_model_config(name: str) -> dict[str, Any]:
    """A deep copy of the registered config ``name``.

    Raises:
        KeyError: unknown name (the message lists the known ones).
    """
    _scan()
    if name not in _MODEL_CONFIGS:
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(list_models())}")
    return copy.deepcopy(_MODEL_CONFIGS[name])


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
    point_pretrained: str | Path | Mapping[str, torch.Tensor] | None = None,
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
        point_pretrained: a checkpoint file (or state dict) for the point branch: ULIP, Point-BERT, the authors'
            Cross-MoST checkpoints or crossmost's own names; loaded strictly.
        point_pretrained_source: ``"auto"`` (detect from the key names), ``"ulip"``, ``"pointbert"``,
            ``"crossmost-official"`` or ``"crossmost"``.
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
    from crossmost_models.checkpoint import from_pretrained

    if is_hub_id(name):
        model = from_pretrained(name, device=device, cache_dir=cache_dir)
        name, pretrained = model.config.clip, name
        config = model.config
        _check_saved_model_matches(model, name, config, classnames, templates, Path(str(pretrained)))
        return _with_point_weights(model, point_pretrained, point_pretrained_source).to(device or "cpu")
    config_dict = _apply_overrides(get_model_config(name), overrides)
    config = CrossModalConfig.from_dict(config_dict)
    if pretrained is not None and _is_saved_model_dir(pretrained):
        model = from_pretrained(pretrained, device=device, cache_dir=cache_dir)
        _check_saved_model_matches(model, name, config, classnames, templates, Path(str(pretrained)))
    else:
        model = _create_from_clip(
            config, pretrained, classnames, templates, allow_quickgelu_mismatch, text_batch_size, cache_dir
        )
    return _with_point_weights(model, point_pretrained, point_pretrained_source).to(device or "cpu")


def _with_point_weights(
    model: CrossModalModel, point_pretrained: str | Path | Mapping[str, torch.Tensor] | None, source: str
) -> CrossModalModel:
    if point_pretrained is not None:
        from crossmost_models.convert import load_point_branch, read_checkpoint

        state = point_pretrained if isinstance(point_pretrained, Mapping) else read_checkpoint(point_pretrained)
        load_point_branch(model, state, source=source, strict=True)
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
    from crossmost_models.transforms import get_transforms

    model = create_model(name, **kwargs)
    image_transform, point_transform = get_transforms(model, up_axis=up_axis, seed=seed)
    return model, image_transform, point_transform


def _create_from_clip(
    config: CrossModalConfig,
    pretrained: str | Path | None,
    classnames: Sequence[str] | None,
    templates: str | Sequence[str] | None,
    allow_quickgelu_mismatch: bool,
    text_batch_size: int,
    cache_dir: str | Path | None,
) -> CrossModalModel:
    from crossmost_models.clip import create_clip

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
    return CrossModalModel.from_clip(
        clip_model,
        tokenizer,
        config.point,
        classnames,
        templates if templates is not None else config.templates,
        clip_name=config.clip,
        clip_kwargs=config.clip_kwargs,
        classifier={
            "scale": config.classifier.scale,
            "learnable_scale": config.classifier.learnable_scale,
            "normalize_columns": config.classifier.normalize_columns,
        },
        clean_class_names=config.clean_class_names,
        num_points=config.num_points,
        text_batch_size=text_batch_size,
        text_pretrained=weights,
    )


def _check_saved_model_matches(
    model: CrossModalModel,
    name: str,
    config: CrossModalConfig,
    classnames: Sequence[str] | None,
    templates: str | Sequence[str] | None,
    folder: Path,
) -> None:
    from crossmost_models.point import PointBertConfig

    same_point = PointBertConfig.from_dict(model.config.point) == PointBertConfig.from_dict(config.point)
    if model.config.clip != config.clip or not same_point:
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
