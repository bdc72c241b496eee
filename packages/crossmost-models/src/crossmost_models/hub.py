"""Saved models on the Hugging Face hub: ``hf-hub:user/repo`` (optionally ``@revision``) names a repository that
holds the two files of :func:`~crossmost_models.save_pretrained` (``config.json`` and ``model.safetensors``).

Upload a model by pushing the folder ``save_pretrained`` wrote (``huggingface-cli upload user/repo runs/my-model``).
Downloads land in the Hugging Face cache; with ``HF_HUB_OFFLINE=1``, or when the hub cannot be reached, the cached
copy is used, so a model that was loaded once loads again without network.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

__all__ = ["HF_HUB_PREFIX", "download_saved_model", "hub_endpoint", "is_hub_id", "offline", "unreachable"]

HF_HUB_PREFIX = "hf-hub:"
_TRUE = {"1", "true", "yes", "on"}


def offline() -> bool:
    """Whether the Hugging Face hub is switched off (``HF_HUB_OFFLINE``), read at call time."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


def hub_endpoint() -> str:
    """The Hugging Face endpoint (``HF_ENDPOINT``, default ``https://huggingface.co``)."""
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def unreachable(url: str, timeout: float = 5.0) -> str | None:
    """Why ``url``'s server cannot be reached (one short phrase), or ``None`` when it answers at all."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout):
            return None
    except urllib.error.HTTPError:
        return None  # the server answered (401, 404 …): it is reachable
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        return f"{url.split('/')[2] if '//' in url else url} is unreachable ({reason})"


def is_hub_id(name: str | Path) -> bool:
    """Whether ``name`` is an ``hf-hub:user/repo`` identifier."""
    return isinstance(name, str) and name.startswith(HF_HUB_PREFIX)


def download_saved_model(hub_id: str, files: Sequence[str], *, cache_dir: str | Path | None = None) -> Path:
    """The local folder holding ``files`` of the repository ``hf-hub:user/repo[@revision]`` (downloaded, or from
    the cache).

    Raises:
        ValueError: a malformed identifier, or a repository that is neither cached nor downloadable now (the message
            says why and how to load a local folder instead).
    """
    from huggingface_hub import snapshot_download

    repo, _, revision = hub_id[len(HF_HUB_PREFIX) :].partition("@")
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise ValueError(f"{hub_id!r} is not of the form hf-hub:user/repo or hf-hub:user/repo@revision")
    reason = "HF_HUB_OFFLINE is set" if offline() else unreachable(hub_endpoint())
    try:
        folder = snapshot_download(
            repo_id=repo,
            revision=revision or None,
            allow_patterns=list(files),
            cache_dir=str(cache_dir) if cache_dir is not None else None,
            local_files_only=reason is not None,
        )
    except Exception as error:  # huggingface_hub raises a family of HTTP, cache and validation errors
        why = f"it is not in the local cache and {reason}" if reason else f"{type(error).__name__}: {error}"
        raise ValueError(
            f"cannot load {hub_id}: {why}. Download it once with network, or load the folder save_pretrained "
            "wrote (from_pretrained('path/to/folder'))"
        ) from None
    return Path(folder)
