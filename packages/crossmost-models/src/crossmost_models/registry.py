"""The model registry (open_clip style): architectures are JSON files in ``model_configs/``, found by name."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from crossmost_models.clip import import_open_clip
from crossmost_models.config import CrossModalConfig

__all__ = ["add_model_config", "get_model_config", "list_models", "list_pretrained"]

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
    """Names of the registered crossmost model configs (shipped: ``vit-b16-pointbert``, ``ulip2-pointbert-vitg14``,
    ``openshape-pointbert-{vitg14,vitl14,vitb32}``, ``uni3d-{ti,s,b,l,g}`` and the tiny ``tiny``, ``ulip2-tiny``,
    ``openshape-tiny``, ``uni3d-tiny``, ``synthetic-demo``).

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
    open_clip = import_open_clip()
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
