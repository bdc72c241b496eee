"""Saving and loading crossmost models: ``model.safetensors`` + ``config.json``, written atomically.

Nothing here unpickles objects: weights are safetensors and the config is JSON.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from crossmost_models.hub import download_saved_model, is_hub_id
from crossmost_models.load_report import LoadReport, compare_state_dicts

if TYPE_CHECKING:
    from crossmost_models.model import CrossModalModel

__all__ = [
    "CONFIG_FILE",
    "WEIGHTS_FILE",
    "from_pretrained",
    "load_model_weights",
    "resolve_saved_model",
    "save_pretrained",
    "save_safetensors",
]

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
FORMAT = "crossmost-model"
FORMAT_VERSION = 1


def _version() -> str:
    from crossmost_models import __version__

    return __version__


def _umask() -> int:
    """The process's umask, read without changing it where Linux reports it (``os.umask`` sets it to read it)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def save_safetensors(
    tensors: Mapping[str, Tensor], path: str | os.PathLike[str], metadata: dict[str, str] | None = None
) -> None:
    """``safetensors.torch.save_file`` with the permissions a plain ``open`` gives (0666 minus the umask); safetensors
    itself always writes 0600, which another user, a container or a web server cannot read."""
    from safetensors.torch import save_file

    save_file(dict(tensors), str(path), metadata=metadata)
    os.chmod(path, 0o666 & ~_umask())


def save_pretrained(model: CrossModalModel, directory: str | Path) -> Path:
    """Save ``model`` into ``directory`` as ``model.safetensors`` and ``config.json``.

    ``config.json`` holds the model config (with the resolved open_clip config, so loading needs no registry), the
    class names, the template-set name and the crossmost-models version. Both files are written into a temporary
    folder next to ``directory`` which then replaces it, so a crash never leaves a half-written model behind.

    Args:
        model: the model to save.
        directory: target folder (created, or replaced if it exists).

    Returns:
        The folder path.
    """
    target = Path(directory)
    target.parent.mkdir(parents=True, exist_ok=True)
    state = {key: value.detach().to("cpu").contiguous() for key, value in model.state_dict().items()}
    config: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "crossmost_models_version": _version(),
        "model_config": model.config.to_dict(),
        "classnames": model.classnames,
        "num_classes": model.num_classes,
        "templates": model.templates,
    }
    # A plain mkdir (not mkdtemp, which makes 0700 folders): the saved model gets the umask's permissions.
    staging = target.parent / f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp"
    staging.mkdir()
    try:
        save_safetensors(state, staging / WEIGHTS_FILE, metadata={"format": "pt"})
        (staging / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        if target.exists():
            old = target.parent / f".{target.name}.old-{os.getpid()}"
            os.replace(target, old)
            os.replace(staging, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _read_config(folder: Path) -> dict[str, Any]:
    path = folder / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{folder} is not a saved crossmost model: {CONFIG_FILE} is missing")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from error
    if config.get("format") != FORMAT:
        raise ValueError(f"{path} is not a crossmost model config (format={config.get('format')!r})")
    if config.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(
            f"{path} has format version {config['format_version']}, newer than this crossmost-models "
            f"({_version()}) understands ({FORMAT_VERSION}); upgrade crossmost-models"
        )
    for key in ("model_config", "classnames"):
        if key not in config:
            raise ValueError(f"{path} lacks {key!r}")
    return config


def _check_classifier(state: Mapping[str, Tensor], num_classes: int, weights_path: Path, what: str) -> None:
    weight = state.get("classifier.weight")
    if weight is not None and weight.ndim == 2 and weight.shape[1] != num_classes:
        raise ValueError(
            f"{weights_path} has a classifier with {weight.shape[1]} classes but {what} has {num_classes} classes; "
            "a classifier cannot be resized: use the class names the checkpoint was made with, or build a new model"
        )


def load_model_weights(model: CrossModalModel, weights: str | Path, *, strict: bool = True) -> LoadReport:
    """Load a ``model.safetensors`` (or a saved-model folder) into an existing model.

    Args:
        model: the model to fill.
        weights: a ``.safetensors`` file, or a folder holding ``model.safetensors``.
        strict: raise on missing/unexpected keys (shape mismatches always raise).

    Returns:
        The :class:`LoadReport`.

    Raises:
        ValueError: the file is damaged or truncated, the checkpoint's class count differs from the model's (both
            counts and the file are named), or keys/shapes do not match.
    """
    from safetensors.torch import load_file

    path = Path(weights)
    if path.is_dir():
        path = path / WEIGHTS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} does not exist")
    try:
        state = load_file(str(path))
    except Exception as error:  # safetensors raises its own error type for every kind of damage
        raise ValueError(f"weights file {path} is damaged or truncated ({error})") from None
    _check_classifier(state, model.num_classes, path, f"the model (classes {model.classnames[:3]}…)")
    report = compare_state_dicts(model.state_dict(), state, source=str(path))
    report.check(strict=strict)
    model.load_state_dict(state, strict=strict)
    return report


def resolve_saved_model(directory: str | Path, *, cache_dir: str | Path | None = None) -> Path:
    """The local folder of a saved model: ``directory`` itself, or the download of ``hf-hub:user/repo``."""
    if is_hub_id(directory):
        return download_saved_model(str(directory), (CONFIG_FILE, WEIGHTS_FILE), cache_dir=cache_dir)
    return Path(directory)


def from_pretrained(
    directory: str | Path,
    *,
    strict: bool = True,
    device: str | torch.device | None = None,
    cache_dir: str | Path | None = None,
) -> CrossModalModel:
    """Load a model written by :func:`save_pretrained`, from a folder or from the Hugging Face hub.

    The open_clip architecture is rebuilt from the saved config (randomly initialised, no download), then every
    weight is read from ``model.safetensors``.

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
    from crossmost_models.clip import build_clip_from_config
    from crossmost_models.config import CrossModalConfig
    from crossmost_models.model import CrossModalModel

    folder = resolve_saved_model(directory, cache_dir=cache_dir)
    saved = _read_config(folder)
    config = CrossModalConfig.from_dict(saved["model_config"])
    if config.clip_config is None:
        raise ValueError(f"{folder / CONFIG_FILE} lacks the resolved open_clip config ('clip_config')")
    classnames = list(saved["classnames"])
    clip_model = build_clip_from_config(config.clip_config)
    visual = clip_model.get_submodule("visual")
    del clip_model  # the text tower is not part of a crossmost model
    weight = torch.zeros(int(config.clip_config["embed_dim"]), len(classnames))
    model = CrossModalModel.from_parts(visual, config, weight, classnames, templates=saved.get("templates"))
    load_model_weights(model, folder / WEIGHTS_FILE, strict=strict)
    return model.to(device or "cpu")
