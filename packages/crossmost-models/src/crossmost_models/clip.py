"""Building open_clip models: the shipped open_clip configs, and the QuickGELU guard for local weight files.

open_clip is imported lazily here, so ``import crossmost_models`` stays cheap.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import nn

from crossmost_models.config import CrossModalConfig
from crossmost_models.pretrained import check_tag

__all__ = [
    "OPEN_CLIP_CONFIG_DIR",
    "check_quickgelu",
    "create_clip",
    "create_text_encoder",
    "import_open_clip",
    "random_towers_expected",
]

OPEN_CLIP_CONFIG_DIR = Path(__file__).parent / "model_configs" / "open_clip"
"""open_clip-format JSON configs shipped with crossmost (e.g. ``crossmost-tiny-clip``)."""

_REGISTERED = False
# File names of the OpenAI CLIP releases (as downloaded by the `clip` package or open_clip's `openai` tag).
_OPENAI_FILE_STEMS = {
    "rn50",
    "rn101",
    "rn50x4",
    "rn50x16",
    "rn50x64",
    "vit-b-32",
    "vit-b-16",
    "vit-l-14",
    "vit-l-14-336px",
}


def import_open_clip() -> ModuleType:
    """Import open_clip and register crossmost's open_clip configs with it (once)."""
    global _REGISTERED
    import open_clip

    if not _REGISTERED:
        open_clip.add_model_config(OPEN_CLIP_CONFIG_DIR)
        _REGISTERED = True
    return open_clip


class _RandomInitNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("No pretrained weights loaded for model")


@contextlib.contextmanager
def random_towers_expected() -> Iterator[None]:
    """Inside the block, open_clip's "No pretrained weights loaded … initialized randomly" warning is not shown: for
    towers that are meant to start from random weights (trained from scratch). Every other message passes, and
    outside the block the warning is shown as usual."""
    notice = _RandomInitNotice()
    logger = logging.getLogger()  # open_clip logs through the root logger
    logger.addFilter(notice)
    try:
        yield
    finally:
        logger.removeFilter(notice)


def _is_torchscript_archive(path: Path) -> bool:
    # OpenAI released CLIP as TorchScript archives; those are zip files holding `constants.pkl` and `code/`.
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.endswith("constants.pkl") or "/code/" in name for name in archive.namelist())


def _looks_like_openai_weights(path: Path) -> str | None:
    stem = path.stem.lower()
    if "openai" in path.name.lower():
        return f"its name {path.name!r} mentions OpenAI"
    if stem in _OPENAI_FILE_STEMS:
        return f"its name {path.name!r} is the name of an OpenAI CLIP release"
    if _is_torchscript_archive(path):
        return "it is a TorchScript archive, the format of the OpenAI CLIP releases"
    return None


def check_quickgelu(model_name: str, pretrained: str | None, *, allow_mismatch: bool = False) -> None:
    """Refuse to load a local file that looks like OpenAI weights into a GELU (non-QuickGELU) architecture.

    OpenAI's CLIP models use QuickGELU; open_clip's plain ``ViT-B-16`` uses ``nn.GELU``. A pretrained *tag* sets the
    right activation, but a file path does not, so loading an OpenAI file into ``ViT-B-16`` silently changes every
    output (open_clip#771/#915). Use ``ViT-B-16-quickgelu`` (or any ``*-quickgelu`` name) for such files.

    Args:
        model_name: the open_clip architecture name.
        pretrained: the ``pretrained`` argument (a tag, a file path, or ``None``).
        allow_mismatch: warn instead of raising (for files that are known to be GELU models despite their name).

    Raises:
        ValueError: the file looks like OpenAI weights and ``model_name`` does not use QuickGELU.
    """
    if pretrained is None or "quickgelu" in model_name.lower():
        return
    path = Path(pretrained)
    if not path.is_file():
        return  # a pretrained tag: open_clip itself warns about a QuickGELU mismatch
    open_clip = import_open_clip()
    config = open_clip.get_model_config(model_name) or {}
    if config.get("quick_gelu", False):
        return
    reason = _looks_like_openai_weights(path)
    if reason is None:
        return
    message = (
        f"{path} looks like OpenAI CLIP weights ({reason}), which were trained with QuickGELU, but open_clip model "
        f"{model_name!r} uses GELU, so every output would silently change. Use {model_name + '-quickgelu'!r} "
        "instead, or pass allow_quickgelu_mismatch=True if this file really holds a GELU model."
    )
    if not allow_mismatch:
        raise ValueError(message)
    warnings.warn(message, UserWarning, stacklevel=3)


def create_clip(
    name: str,
    pretrained: str | None = None,
    *,
    device: str | torch.device | None = None,
    allow_quickgelu_mismatch: bool = False,
    cache_dir: str | None = None,
    **open_clip_kwargs: Any,
) -> tuple[nn.Module, Callable[..., torch.Tensor]]:
    """Create an open_clip model and its tokenizer (for CLIP pre-training and zero-shot classification).

    Args:
        name: open_clip architecture name (``ViT-B-16``, ``ViT-B-16-quickgelu``, ``crossmost-tiny-clip`` …).
        pretrained: an open_clip pretrained tag (passed through; may download) or a local checkpoint file.
            ``None`` builds randomly initialised towers.
        device: where to put the model (default CPU).
        allow_quickgelu_mismatch: see :func:`check_quickgelu` (skipped when ``force_quick_gelu=True`` is passed).
        cache_dir: where downloaded weights are cached (default: the Hugging Face cache).
        **open_clip_kwargs: passed to ``open_clip.create_model`` (e.g. ``force_image_size``, ``precision``).

    Returns:
        ``(clip_model, tokenizer)``.

    Raises:
        ValueError: a local file that looks like OpenAI weights with a GELU architecture, or that cannot be read
            (truncated, damaged, not a checkpoint); a tag that open_clip does not know for ``name``, or whose weights
            are not cached and cannot be downloaded now (one line each, see
            :func:`crossmost_models.pretrained.check_tag`), or a download that failed.
        RuntimeError: open_clip does not know ``name`` (its own message).
    """
    open_clip = import_open_clip()
    if not open_clip_kwargs.get("force_quick_gelu", False):
        check_quickgelu(name, pretrained, allow_mismatch=allow_quickgelu_mismatch)
    if pretrained is not None:
        check_tag(name, pretrained, cache_dir=cache_dir)
    local = pretrained is not None and Path(pretrained).is_file()
    try:
        model = open_clip.create_model(
            name, pretrained=pretrained, device=device or "cpu", cache_dir=cache_dir, **open_clip_kwargs
        )
    except Exception as error:
        if local:
            # torch and safetensors report a damaged file with their own error types and no file name
            raise ValueError(f"pretrained weights {pretrained} cannot be read: {error}") from None
        if pretrained is None or not isinstance(error, RuntimeError) or "download" not in str(error).lower():
            raise
        raise ValueError(f"{name} pretrained={pretrained!r}: {str(error).splitlines()[0]}") from None
    tokenizer = open_clip.get_tokenizer(name)
    return model, tokenizer


def create_text_encoder(
    model: nn.Module | CrossModalConfig,
    pretrained: str | None = None,
    *,
    device: str | torch.device | None = None,
    cache_dir: str | None = None,
) -> tuple[nn.Module, Callable[..., torch.Tensor]]:
    """The CLIP text tower (with its tokenizer) that a model's classifier was built from, for
    :meth:`~crossmost_models.CrossModalModel.set_classnames`.

    Args:
        model: a ``CrossModalModel`` (or its ``CrossModalConfig``).
        pretrained: the open_clip weights (tag or file) of the text tower; default: those the model records
            (``config.text_pretrained``, set when it was created from open_clip weights).
        device: where to put the tower (default CPU).
        cache_dir: where downloaded weights are cached.

    Returns:
        ``(clip_model, tokenizer)``; only ``encode_text`` is needed.

    Raises:
        ValueError: no weights given or recorded (a model built from random towers), or weights that cannot be
            loaded (a missing file, an unknown or unreachable tag).
    """
    config = model if isinstance(model, CrossModalConfig) else model.config
    assert isinstance(config, CrossModalConfig)
    source = pretrained or config.text_pretrained
    if not source:
        raise ValueError(
            "the model records no text-tower weights (its towers were created without open_clip weights): give "
            "the open_clip tag or checkpoint file of its text tower"
        )
    if Path(source).is_dir() or source.startswith("hf-hub:"):
        raise ValueError(f"{source} is a saved crossmost model, which holds no text tower: give open_clip weights")
    if not Path(source).is_file() and Path(source).suffix in {".pt", ".pth", ".bin", ".safetensors"}:
        raise ValueError(f"text-tower weights {source}: no such file")
    return create_clip(config.clip, source, device=device, cache_dir=cache_dir, **config.clip_kwargs)


def resolved_clip_config(name: str, clip_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    """The open_clip model config of ``name`` with the architecture overrides of ``clip_kwargs`` applied.

    Raises:
        KeyError: open_clip does not know ``name``.
    """
    open_clip = import_open_clip()
    config = open_clip.get_model_config(name)
    if config is None:
        raise KeyError(
            f"open_clip has no model config {name!r}; register it with crossmost_models.add_model_config or "
            "open_clip.add_model_config"
        )
    kwargs = clip_kwargs or {}
    if kwargs.get("force_quick_gelu"):
        config["quick_gelu"] = True
    if kwargs.get("force_image_size") is not None:
        config["vision_cfg"]["image_size"] = kwargs["force_image_size"]
    if kwargs.get("force_context_length") is not None:
        config["text_cfg"]["context_length"] = kwargs["force_context_length"]
    return dict(config)


def build_clip_from_config(clip_config: dict[str, Any]) -> nn.Module:
    """Instantiate a randomly initialised open_clip model from a resolved model config (no registry, no weights)."""
    open_clip = import_open_clip()
    config = dict(clip_config)
    custom_text = bool(config.pop("custom_text", False)) or "hf_model_name" in config.get("text_cfg", {})
    if "multimodal_cfg" in config:
        raise ValueError(
            "CoCa-style open_clip configs (multimodal_cfg) are not supported: their tower cannot be masked"
        )
    model_class = open_clip.CustomTextCLIP if custom_text else open_clip.CLIP
    model: nn.Module = model_class(**config)
    return model
