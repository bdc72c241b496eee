"""Checks of a resolved config before any heavy work: every path it names exists, and weights are given where the
preset expects them. Nothing here imports torch, so a mistake is reported in a fraction of a second, not after a
model was built or a download was attempted."""

from __future__ import annotations

import os
from pathlib import Path

from crossmost_train.config import ConfigError, TrainConfig

__all__ = ["check_config", "check_run_folder", "is_saved_model", "looks_like_path"]

_WEIGHT_SUFFIXES = {".pt", ".pth", ".bin", ".safetensors", ".ckpt", ".tar"}
_HF_HUB = "hf-hub:"


def looks_like_path(value: str) -> bool:
    """Whether a weights setting names a file or folder (rather than an open_clip tag or an ``hf-hub:`` repo)."""
    if not value or value.startswith(_HF_HUB):
        return False
    return (
        "/" in value
        or os.sep in value
        or value.startswith(("~", "."))
        or Path(value).suffix.lower() in _WEIGHT_SUFFIXES
        or Path(value).expanduser().exists()
    )


def is_saved_model(value: str) -> bool:
    """Whether ``value`` is a folder written by ``save_pretrained`` (it holds the whole model, point tower too)."""
    return bool(value) and (Path(value).expanduser() / "config.json").is_file()


def _data_root(root: str, streaming: bool) -> str | None:
    if not root:
        return "data.root is not set: pass data.root=<folder made by crossmost-data render or synth>"
    if "://" in root:  # a URL: read by the streaming loader, which names it when it cannot be opened
        if streaming:
            return None
        return f"data.root={root} is a URL, which only the streaming loader reads: add data.streaming=true"
    path = Path(root).expanduser()
    if not path.is_dir():
        return f"data.root={root}: no such folder (prepare one with `crossmost-data render ...`)"
    if not (path / "manifest.json").is_file():
        return f"data.root={root}: no manifest.json in it (not a folder made by crossmost-data render or synth)"
    return None


def _existing(key: str, value: str, *, folder: bool = False, is_path: bool = False) -> str | None:
    if not (is_path or looks_like_path(value)):
        return None
    path = Path(value).expanduser()
    if folder and not path.is_dir():
        return f"{key}={value}: no such folder"
    if not path.exists():
        return f"{key}={value}: no such file or folder"
    return None


def check_config(cfg: TrainConfig, *, data: bool = True, weights_required: bool = False) -> None:
    """Raise one :class:`ConfigError` listing every path of ``cfg`` that does not exist.

    Args:
        cfg: The resolved config.
        data: The command reads ``data.root``.
        weights_required: The command scores or trains the model, so a preset that expects pretrained towers
            (``model.require_pretrained``) must get them.
    """
    problems = [
        _data_root(cfg.data.root, cfg.data.streaming) if data else None,
        _existing("model.pretrained", cfg.model.pretrained),
        # Without init_point_encoder ("Init ✗") point_pretrained still gives the tokenizer, so it is read either way.
        _existing("model.point_pretrained", cfg.model.point_pretrained),
        _existing("model.point_tokenizer_pretrained", cfg.model.point_tokenizer_pretrained),
        _existing("model.templates", cfg.model.templates, is_path=cfg.model.templates.endswith(".json")),
        _existing("pretrain.clip_pretrained", cfg.pretrain.clip_pretrained, folder=True),
    ]
    if weights_required:
        problems.append(_missing_weights(cfg))
    found = [p for p in problems if p]
    if found:
        raise ConfigError("; ".join(found))


def _missing_weights(cfg: TrainConfig) -> str | None:
    m = cfg.model
    if not m.require_pretrained or is_saved_model(m.pretrained):
        return None
    missing = []
    if not m.pretrained:
        missing.append(
            "model.pretrained (an open_clip tag such as openai, see crossmost_models.list_pretrained(), an open_clip "
            "checkpoint file, or a save_pretrained folder)"
        )
    if m.init_point_encoder and not m.point_pretrained:
        missing.append("model.point_pretrained (a ULIP-aligned Point-BERT checkpoint, see docs/reproduction.md)")
    if not missing:
        return None
    return (
        f"model {m.name!r} would score and train random towers: set {' and '.join(missing)}, or "
        "model.require_pretrained=false to run random towers anyway"
    )


def check_run_folder(run: str, flag: str = "--run") -> Path:
    """The folder of a finished ``selftrain`` run, or a :class:`ConfigError` saying what is missing."""
    folder = Path(run).expanduser()
    if not folder.is_dir():
        raise ConfigError(f"{flag} {run}: no such folder")
    if not (folder / "model" / "config.json").is_file() and not (folder / "teacher" / "config.json").is_file():
        raise ConfigError(f"{flag} {run}: no model/ or teacher/ folder in it (is it a finished selftrain run?)")
    return folder
