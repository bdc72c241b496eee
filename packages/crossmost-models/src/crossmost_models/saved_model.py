"""The saved-model folder: ``model.safetensors`` + ``config.json``, written atomically, read back strictly.

Nothing here unpickles objects: weights are safetensors and the config is JSON. The model is rebuilt from the folder
by :func:`crossmost_models.from_pretrained`.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from crossmost_models.config import CrossModalConfig
from crossmost_models.hub import download_saved_model, is_hub_id
from crossmost_models.load_report import LoadReport, compare_state_dicts

__all__ = [
    "CONFIG_FILE",
    "WEIGHTS_FILE",
    "SavedModelRecord",
    "load_model_weights",
    "read_saved_model",
    "resolve_saved_model",
    "save_safetensors",
    "write_saved_model",
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


def write_saved_model(
    directory: str | Path,
    state: Mapping[str, Tensor],
    config: CrossModalConfig,
    classnames: Sequence[str],
    templates: str | None,
) -> Path:
    """Write a model's weights and description into ``directory`` as ``model.safetensors`` and ``config.json``.

    ``config.json`` holds the model config (with the resolved open_clip config, so loading needs no registry), the
    class names, the template-set name and the crossmost-models version. Both files are written into a temporary
    folder next to ``directory`` which then replaces it, so a crash never leaves a half-written model behind.

    Args:
        directory: target folder (created, or replaced if it exists).
        state: the model's state dict.
        config: its architecture.
        classnames: its class names in label order.
        templates: the template-set name its classifier was built from, if any.

    Returns:
        The folder path.
    """
    target = Path(directory)
    target.parent.mkdir(parents=True, exist_ok=True)
    weights = {key: value.detach().to("cpu").contiguous() for key, value in state.items()}
    record: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "crossmost_models_version": _version(),
        "model_config": config.to_dict(),
        "classnames": list(classnames),
        "num_classes": len(classnames),
        "templates": templates,
    }
    # A plain mkdir (not mkdtemp, which makes 0700 folders): the saved model gets the umask's permissions.
    staging = target.parent / f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp"
    staging.mkdir()
    try:
        save_safetensors(weights, staging / WEIGHTS_FILE, metadata={"format": "pt"})
        (staging / CONFIG_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
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


@dataclass(frozen=True)
class SavedModelRecord:
    """What ``config.json`` of a saved model says: everything needed to rebuild the model before its weights load.

    Attributes:
        folder: the local folder holding ``config.json`` and ``model.safetensors``.
        config: the architecture (with the resolved open_clip config).
        classnames: class names in label order.
        templates: the template-set name the classifier was built with, if any.
    """

    folder: Path
    config: CrossModalConfig
    classnames: tuple[str, ...]
    templates: str | None

    @property
    def weights(self) -> Path:
        """The ``model.safetensors`` file."""
        return self.folder / WEIGHTS_FILE


def read_saved_model(folder: Path) -> SavedModelRecord:
    """Read and check ``config.json`` of a saved-model folder.

    Raises:
        FileNotFoundError: ``config.json`` is missing.
        ValueError: it is not JSON, not a crossmost model config, of a newer format, or lacks a required entry.
    """
    path = folder / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{folder} is not a saved crossmost model: {CONFIG_FILE} is missing")
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from error
    if saved.get("format") != FORMAT:
        raise ValueError(f"{path} is not a crossmost model config (format={saved.get('format')!r})")
    if saved.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(
            f"{path} has format version {saved['format_version']}, newer than this crossmost-models "
            f"({_version()}) understands ({FORMAT_VERSION}); upgrade crossmost-models"
        )
    for key in ("model_config", "classnames"):
        if key not in saved:
            raise ValueError(f"{path} lacks {key!r}")
    config = CrossModalConfig.from_dict(saved["model_config"])
    if config.clip_config is None:
        raise ValueError(f"{path} lacks the resolved open_clip config ('clip_config')")
    return SavedModelRecord(folder, config, tuple(saved["classnames"]), saved.get("templates"))


def _check_classifier(state: Mapping[str, Tensor], model_state: Mapping[str, Tensor], weights_path: Path) -> None:
    weight, own = state.get("classifier.weight"), model_state.get("classifier.weight")
    if weight is None or own is None or weight.ndim != 2 or own.ndim != 2:
        return
    if weight.shape[1] != own.shape[1]:
        raise ValueError(
            f"{weights_path} has a classifier with {weight.shape[1]} classes but the model has {own.shape[1]} "
            "classes; a classifier cannot be resized: use the class names the checkpoint was made with, or build a "
            "new model"
        )


def load_model_weights(model: nn.Module, weights: str | Path, *, strict: bool = True) -> LoadReport:
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
    model_state = model.state_dict()
    _check_classifier(state, model_state, path)
    report = compare_state_dicts(model_state, state, source=str(path))
    report.check(strict=strict)
    model.load_state_dict(state, strict=strict)
    return report


def resolve_saved_model(directory: str | Path, *, cache_dir: str | Path | None = None) -> Path:
    """The local folder of a saved model: ``directory`` itself, or the download of ``hf-hub:user/repo``."""
    if is_hub_id(directory):
        return download_saved_model(str(directory), (CONFIG_FILE, WEIGHTS_FILE), cache_dir=cache_dir)
    return Path(directory)
