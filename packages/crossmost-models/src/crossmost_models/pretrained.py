"""Which open_clip weights a model can start from, and whether they can be had before anything is built.

:func:`list_pretrained` lists the open_clip pretrained tags of each registered model's towers. :func:`check_tag`
runs before ``open_clip.create_model`` downloads a tag: an unknown tag, or one that is neither cached nor reachable
(offline, no network), becomes one :class:`ValueError` line that says how to point at a local file, instead of
a minute of retries and a long traceback.
"""

from __future__ import annotations

import os

from crossmost_models.hub import hub_endpoint, offline, unreachable

__all__ = ["check_tag"]

_HF_WEIGHT_NAMES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")


def _cached_on_hub(repo: str, filenames: tuple[str, ...], cache_dir: str | None) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return any(isinstance(try_to_load_from_cache(repo, f, cache_dir=cache_dir), str) for f in filenames)


def check_tag(clip_name: str, tag: str, *, cache_dir: str | None = None) -> None:
    """Make sure the open_clip weights ``tag`` of ``clip_name`` can be loaded, before any download starts.

    A local file passes. A known tag passes when its weights are in the cache, or when the hub (or its URL) can be
    reached and ``HF_HUB_OFFLINE`` is not set.

    Raises:
        ValueError: ``tag`` is neither a file nor a tag of ``clip_name`` (its tags are listed), or the weights are
            not cached and cannot be downloaded now (the message says how to use a local file instead).
    """
    if os.path.isfile(tag):
        return
    import open_clip

    cfg = open_clip.get_pretrained_cfg(clip_name, tag)
    if not cfg:
        tags = open_clip.list_pretrained_tags_by_model(clip_name)
        known = f"its tags: {', '.join(sorted(tags))}" if tags else "it has no published weights"
        raise ValueError(f"pretrained={tag!r} is neither a file nor an open_clip tag of {clip_name!r} ({known})")
    if cfg.get("file"):
        return
    hub = cfg.get("hf_hub", "")
    if hub:
        repo, filename = os.path.split(hub)  # "org/name/file.bin", or "org/name/" for open_clip's default names
        if _cached_on_hub(repo, (filename,) if filename else _HF_WEIGHT_NAMES, cache_dir):
            return
        source, probe = f"hf-hub:{repo}", hub_endpoint()
    else:
        url = str(cfg.get("url", ""))
        folder = cache_dir or os.path.expanduser("~/.cache/clip")
        if os.path.isfile(os.path.join(folder, os.path.basename(url))):
            return
        source, probe = url, url
    reason = "HF_HUB_OFFLINE is set" if offline() else unreachable(probe)
    if reason is None:
        return
    raise ValueError(
        f"cannot download the open_clip weights {tag!r} of {clip_name} ({source}): they are not in the local cache "
        f'and {reason}. Download them once with network (python -c "import open_clip; open_clip.create_model('
        f"'{clip_name}', pretrained='{tag}')\" fills the cache; later runs need no network, HF_HUB_OFFLINE=1 "
        "included), or give a local open_clip checkpoint file instead of the tag "
        "(model.pretrained=path/to/weights.safetensors)"
    )
