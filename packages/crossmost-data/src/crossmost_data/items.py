"""What a dataset reader hands to the preparation pipeline: one raw item and what loading it produces."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import trimesh

__all__ = ["BadItemError", "LoadedItem", "SourceItem", "check_item_file", "make_uid"]


@dataclass(frozen=True)
class LoadedItem:
    """The geometry (and optionally the views) of one item, as returned by ``SourceItem.load()``.

    Attributes:
        mesh: A triangle mesh, y-up already (the reader converts); any scale and centre.
        points: An N×3 or N×6 (xyz + rgb in [0, 1]) float array, y-up; any scale and centre.
        images: Given views or photo frames, each H×W×3 uint8 RGB.
    """

    mesh: trimesh.Trimesh | None = None
    points: np.ndarray | None = None
    images: list[np.ndarray] | None = None


@dataclass(frozen=True)
class SourceItem:
    """One item of a raw dataset, cheap to create; its geometry is read lazily by ``load``.

    Attributes:
        uid: Unique in the dataset; only ``[A-Za-z0-9_-]`` (no dots: it becomes the WebDataset key).
        class_name: As in the dataset's class list.
        split: ``"train"``, ``"test"``, ...
        source: Path relative to the raw root (or a description), recorded in the manifest and sample json.
        load: Picklable callable (module-level function or ``functools.partial``) run in a worker process.
    """

    uid: str
    class_name: str
    split: str
    source: str
    load: Callable[[], LoadedItem]


class BadItemError(ValueError):
    """An item that cannot be used; the pipeline skips it and records ``str(error)`` as the reason."""


def check_item_file(path: str | os.PathLike[str], suffixes: Sequence[str], kind: str) -> tuple[Path, str]:
    """The path of an item file and its lower-case suffix, once it is known to be supported and to exist.

    Args:
        path: The file.
        suffixes: The supported suffixes, lower case with the dot (``(".off", ".obj")``).
        kind: What the file holds, for the message (``"mesh"``, ``"point-cloud"``).

    Raises:
        BadItemError: The suffix is not one of ``suffixes`` (the supported ones are listed), or there is no such
            file.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in suffixes:
        raise BadItemError(f"unsupported {kind} format {suffix!r} (supported: {', '.join(suffixes)})")
    if not path.is_file():
        if path.is_symlink():
            raise BadItemError(f"broken symbolic link: {path} points to {os.readlink(path)}, which does not exist")
        raise BadItemError(f"file not found: {path}")
    return path, suffix


_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def make_uid(text: str) -> str:
    """Turn any text (typically a relative path) into a deterministic WebDataset-safe key.

    Runs of characters outside ``[A-Za-z0-9_-]`` (dots, slashes, spaces, unicode) become a single ``_``.
    When anything had to be replaced, a short hash of the original text is appended so that different
    texts (``a/b`` and ``a_b``) never collapse onto the same uid.

    Args:
        text: The text to sanitise, e.g. ``"chair/train/chair_0001.off"``.

    Returns:
        A non-empty string of ``[A-Za-z0-9_-]``, e.g. ``"chair_train_chair_0001_off-3fa1c2d4"``.
    """
    cleaned = _UNSAFE.sub("_", text).strip("_")
    if cleaned == text and text:
        return text
    digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]
    return f"{cleaned}-{digest}" if cleaned else digest
