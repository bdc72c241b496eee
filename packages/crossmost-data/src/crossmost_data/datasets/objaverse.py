"""Objaverse 1.0 and its labelled LVIS subset, read from the local copy the ``objaverse`` package keeps.

``pip install objaverse`` and its ``load_objects``/``load_lvis_annotations`` download into ``~/.objaverse``
(crossmost never downloads)::

    <root>/hf-objaverse-v1/object-paths.json.gz          {uid: "glbs/000-023/<uid>.glb"} for all ~800k objects
    <root>/hf-objaverse-v1/lvis-annotations.json.gz      {LVIS category: [uid, ...]} for the 1,156 categories
    <root>/hf-objaverse-v1/metadata/000-023.json.gz      per-object metadata (not needed here)
    <root>/hf-objaverse-v1/glbs/000-023/<uid>.glb        the downloaded objects (glTF binary, y up, PBR materials)

``root`` is ``~/.objaverse`` or its ``hf-objaverse-v1`` folder. GLB files are y-up (the glTF convention), so no
axis is rotated; their textures and base colours are kept and rendered.

``objaverse`` reads every GLB that has been downloaded (``glbs/*/*.glb``; a ``.tmp`` file of an unfinished
download is ignored) as one unlabelled item of the split ``train``, for pre-training and self-training; a file
that cannot be read is skipped and listed. Its class list is the ``classes`` option, else the LVIS categories when
``lvis-annotations.json.gz`` is there.

``objaverse-lvis`` reads the objects of ``lvis-annotations.json.gz``; the class list is the file's keys, in the
file's order (1,156 names), and an object's label is the category that lists it. The papers that report on it
(OpenShape, Uni3D and those that compare with them) train on Objaverse without these labels and evaluate zero-shot
on the whole LVIS subset (about 46k objects): every object is in the split ``test``. An object the annotation file
lists but that is not downloaded, or whose file is corrupt, is skipped and listed with the reason.
"""

from __future__ import annotations

import functools
import gzip
import json
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from crossmost_data.datasets._layout import LayoutWarning, relative_source, unique_uids
from crossmost_data.datasets.folder import parse_class_list
from crossmost_data.datasets.registry import DatasetLayoutError, ViewSource
from crossmost_data.items import BadItemError, LoadedItem, SourceItem, make_uid
from crossmost_data.mesh import load_mesh

__all__ = [
    "LVIS_ANNOTATIONS",
    "OBJECT_PATHS",
    "ObjaverseLvisReader",
    "ObjaverseReader",
    "objaverse_dir",
    "read_gzip_json",
]

VERSIONED_DIR = "hf-objaverse-v1"
OBJECT_PATHS = "object-paths.json.gz"
LVIS_ANNOTATIONS = "lvis-annotations.json.gz"
_DOWNLOAD = (
    "Download with the objaverse package (pip install objaverse): objaverse.load_lvis_annotations() and "
    "objaverse.load_objects(uids) store the files under ~/.objaverse/hf-objaverse-v1; pass that folder (or "
    "~/.objaverse) as the root."
)


def objaverse_dir(root: Path) -> Path:
    """The ``hf-objaverse-v1`` folder: ``root`` itself when it holds ``glbs/`` or the annotation files, else
    ``root/hf-objaverse-v1``.

    Raises:
        DatasetLayoutError: Neither holds the layout; the message names both places and the download.
    """
    root = Path(root).expanduser()
    for candidate in (root, root / VERSIONED_DIR):
        if (
            (candidate / "glbs").is_dir()
            or (candidate / OBJECT_PATHS).is_file()
            or (candidate / LVIS_ANNOTATIONS).is_file()
        ):
            return candidate
    raise DatasetLayoutError(
        f"expected the objaverse cache (glbs/000-XXX/<uid>.glb, {OBJECT_PATHS}, {LVIS_ANNOTATIONS}) in {root} or "
        f"{root / VERSIONED_DIR}, found none of it. {_DOWNLOAD}"
    )


def read_gzip_json(path: Path) -> Any:
    """The JSON content of a gzip-compressed file.

    Raises:
        DatasetLayoutError: The file is missing, not gzip or not JSON; the message names it.
    """
    try:
        with gzip.open(path, "rt", encoding="utf-8") as file:
            return json.load(file)
    except FileNotFoundError:
        raise DatasetLayoutError(f"expected {path}, but it is missing. {_DOWNLOAD}") from None
    except (OSError, EOFError, UnicodeDecodeError, ValueError) as error:
        raise DatasetLayoutError(f"cannot read {path} as gzip-compressed JSON: {error}") from error


def load_glb_item(path: str) -> LoadedItem:
    """Load one Objaverse GLB (y up already) with its materials and textures."""
    file = Path(path)
    if not file.exists() and not file.is_symlink():
        raise BadItemError(f"not downloaded: {file.parent.name}/{file.name} is missing")
    return LoadedItem(mesh=load_mesh(file))


def _lvis_annotations(base: Path) -> dict[str, list[str]]:
    data = read_gzip_json(base / LVIS_ANNOTATIONS)
    if not isinstance(data, dict) or not all(
        isinstance(name, str) and isinstance(uids, list) and all(isinstance(uid, str) for uid in uids)
        for name, uids in data.items()
    ):
        raise DatasetLayoutError(f"{base / LVIS_ANNOTATIONS} must map each LVIS category to a list of object uids")
    if not data:
        raise DatasetLayoutError(f"{base / LVIS_ANNOTATIONS} lists no category")
    return data


def _downloaded(base: Path) -> dict[str, Path]:
    """uid → GLB file for every object under ``glbs/``, in the order of the sorted paths."""
    glbs = base / "glbs"
    if not glbs.is_dir():
        return {}
    found: dict[str, Path] = {}
    for folder in sorted(path for path in glbs.iterdir() if path.is_dir()):
        for file in sorted(folder.iterdir(), key=lambda path: path.name):
            if file.suffix.lower() == ".glb" and (file.is_file() or file.is_symlink()):
                found.setdefault(file.stem, file)
    return found


def _item(base: Path, uid: str, class_name: str, split: str, path: Path) -> SourceItem:
    return SourceItem(
        uid=make_uid(uid),
        class_name=class_name,
        split=split,
        source=relative_source(path, base),
        load=functools.partial(load_glb_item, str(path)),
    )


class ObjaverseReader:
    """The ``objaverse`` reader: every downloaded Objaverse object, unlabelled, in the split ``train``.

    Args:
        classes: The class list of the self-training (a list, or names separated by commas); default: the LVIS
            categories of ``lvis-annotations.json.gz``.
    """

    name = "objaverse"

    def __init__(self, *, classes: str | Sequence[str] | None = None) -> None:
        self.classes = parse_class_list(classes)
        self.view_source: ViewSource = "render"

    def __repr__(self) -> str:
        return f"ObjaverseReader(classes={'LVIS' if self.classes is None else len(self.classes)})"

    def labelled(self, root: Path) -> bool:
        """``False``: Objaverse objects carry no class; every item is prepared with the label -1."""
        return False

    def class_names(self, root: Path) -> list[str]:
        """The ``classes`` option, else the LVIS categories."""
        if self.classes is not None:
            return list(self.classes)
        base = objaverse_dir(root)
        if not (base / LVIS_ANNOTATIONS).is_file():
            raise DatasetLayoutError(
                f"objaverse needs a class list: pass --option classes=chair,table,lamp, or put {LVIS_ANNOTATIONS} "
                f"in {base} to use the 1,156 LVIS categories. {_DOWNLOAD}"
            )
        return list(_lvis_annotations(base))

    def splits(self, root: Path) -> list[str]:
        """``["train"]``."""
        return ["train"]

    def iter_items(self, root: Path, split: str) -> Iterator[SourceItem]:
        """Every GLB under ``glbs/``, ordered by folder and file name."""
        if split != "train":
            raise ValueError(f"objaverse has no split {split!r}; splits: train")
        base = objaverse_dir(root)
        found = _downloaded(base)
        if not found:
            raise DatasetLayoutError(f"no downloaded object (glbs/000-XXX/<uid>.glb) under {base}. {_DOWNLOAD}")
        yield from unique_uids((_item(base, uid, "", "train", path) for uid, path in found.items()), base)


class ObjaverseLvisReader:
    """The ``objaverse-lvis`` reader: the objects of ``lvis-annotations.json.gz`` with their LVIS category.

    Every object is in the split ``test`` (the convention of OpenShape and Uni3D: the whole LVIS subset is the
    zero-shot test set). An object listed under two categories keeps the first (in the file's order) and a warning
    names it.
    """

    name = "objaverse-lvis"

    def __init__(self) -> None:
        self.view_source: ViewSource = "render"

    def __repr__(self) -> str:
        return "ObjaverseLvisReader()"

    def class_names(self, root: Path) -> list[str]:
        """The keys of ``lvis-annotations.json.gz`` in the file's order (1,156 in the release)."""
        return list(_lvis_annotations(objaverse_dir(root)))

    def splits(self, root: Path) -> list[str]:
        """``["test"]``."""
        return ["test"]

    def iter_items(self, root: Path, split: str) -> Iterator[SourceItem]:
        """The annotated objects, ordered by category (the file's order) and then by the category's list.

        A GLB's place is taken from ``object-paths.json.gz``, else from the files under ``glbs/``; objects in
        neither are yielded anyway and skipped as not downloaded when they are prepared.
        """
        if split != "test":
            raise ValueError(f"objaverse-lvis has no split {split!r}; splits: test (the whole LVIS set)")
        base = objaverse_dir(root)
        annotations = _lvis_annotations(base)
        paths = self._object_paths(base)
        owner: dict[str, str] = {}
        for category, uids in annotations.items():
            for uid in uids:
                if uid in owner:
                    if owner[uid] != category:
                        warnings.warn(
                            f"{base / LVIS_ANNOTATIONS} lists object {uid} under {owner[uid]!r} and {category!r}; "
                            f"it is read as {owner[uid]!r}",
                            LayoutWarning,
                            stacklevel=2,
                        )
                    continue
                owner[uid] = category
        # Listing glbs/ (up to ~800k files) is needed only for objects object-paths.json.gz does not place.
        downloaded = _downloaded(base) if any(uid not in paths for uid in owner) else {}
        items = (
            _item(base, uid, category, "test", self._place(base, uid, paths, downloaded))
            for uid, category in owner.items()
        )
        yield from unique_uids(items, base)

    @staticmethod
    def _object_paths(base: Path) -> dict[str, str]:
        if not (base / OBJECT_PATHS).is_file():
            return {}
        data = read_gzip_json(base / OBJECT_PATHS)
        if not isinstance(data, dict):
            raise DatasetLayoutError(f"{base / OBJECT_PATHS} must map object uids to paths under {base}")
        return data

    @staticmethod
    def _place(base: Path, uid: str, paths: dict[str, str], downloaded: dict[str, Path]) -> Path:
        relative = paths.get(uid)
        if isinstance(relative, str):
            return base / relative
        if uid in downloaded:
            return downloaded[uid]
        return base / "glbs" / "unknown" / f"{uid}.glb"
