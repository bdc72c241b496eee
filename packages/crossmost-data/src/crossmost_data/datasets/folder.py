"""Bring your own data: meshes or point clouds (+ optional images), sorted into class folders or not labelled at all.

Labelled layout::

    <root>/classes.txt                 optional: class folder names, one a line, in label order
    <root>/<class>/<object>.<ext>      meshes (.off .obj .stl .glb .gltf, .ply with faces) or point clouds
                                       (.npy .npz .xyz .txt .pts, .ply without faces); nested folders are walked
    <root>/<class>/<object>/           optional: the object's images (any name; sorted by name)
    <root>/<class>/<object>_*.png|jpg  optional: the object's images beside it (used when there is no folder)
    <root>/<class>/{train,val,test}/   optional split folders; otherwise every object is in "train", or
                                       ``test_fraction`` of each class goes to "test" (stratified, deterministic)

Without ``classes.txt`` the classes are the sub-folder names, sorted (hidden folders and ``__MACOSX`` ignored).
Class names are kept verbatim. ``up_axis`` names the axis that points up in the files; it is rotated to y.

Unlabelled layout (the objects are not sorted by class; self-training finds the classes)::

    <root>/<object>.<ext>              objects anywhere under the root (nested folders are walked), with images
                                       beside them as above
    <root>/{train,val,test}/...        optional split folders; otherwise as above ("train", or test_fraction in "test")

The class list then comes from the reader option ``classes`` (a list, or names separated by commas:
``--option classes=chair,table,lamp``) or from the class file (``classes_file``, one name a line; a name in the
root or a path). Every item gets the class name ``""`` and, in the prepared dataset, the label ``-1``.
``unlabelled="auto"`` (the default) picks this layout when a class list is given and none of its classes has a
sub-folder in the root; ``unlabelled=true``/``false`` forces the choice.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from crossmost_data.datasets._images import read_rgb_list
from crossmost_data.datasets._layout import (
    IMAGE_SUFFIXES,
    LayoutWarning,
    check_bool,
    check_fraction,
    image_files,
    read_lines,
    relative_source,
    require_dir,
    stratified_split,
    unique_uids,
)
from crossmost_data.datasets.point_files import ExtraColumns, ply_face_count, read_point_file
from crossmost_data.datasets.registry import DatasetLayoutError, ViewSource
from crossmost_data.items import BadItemError, LoadedItem, SourceItem, make_uid
from crossmost_data.mesh import UpAxis, load_mesh, to_y_up

__all__ = ["FolderReader"]

MESH_ONLY_SUFFIXES = (".off", ".obj", ".stl", ".glb", ".gltf")
POINT_ONLY_SUFFIXES = (".npy", ".npz", ".xyz", ".txt", ".pts")
OBJECT_SUFFIXES = (*MESH_ONLY_SUFFIXES, *POINT_ONLY_SUFFIXES, ".ply")
SPLIT_FOLDERS = ("train", "val", "test")
_HELP = (
    "A folder dataset is <root>/<class>/<object file> with one sub-folder per class (see the crossmost_data."
    "datasets.folder documentation)."
)
_UNLABELLED_HELP = (
    "For objects that are not sorted into class folders, give the class list: --option classes=chair,table,lamp "
    "(or a classes.txt with one name a line) and, if needed, --option unlabelled=true."
)


def load_folder_item(
    path: str, up_axis: UpAxis, image_paths: tuple[str, ...] | None, extra_columns: ExtraColumns
) -> LoadedItem:
    """Load one object file as a mesh or as points (a ``.ply`` is a mesh when it has faces), rotated to y-up."""
    file = Path(path)
    suffix = file.suffix.lower()
    images = read_rgb_list([Path(image) for image in image_paths]) if image_paths else None
    is_mesh = suffix in MESH_ONLY_SUFFIXES or (suffix == ".ply" and ply_face_count(file) > 0)
    if is_mesh:
        mesh = load_mesh(file)
        return LoadedItem(mesh=to_y_up(mesh, from_axis=up_axis) if up_axis != "y" else mesh, images=images)
    if suffix not in (*POINT_ONLY_SUFFIXES, ".ply"):
        raise BadItemError(f"unsupported file type {suffix!r}")
    points = read_point_file(file, extra_columns=extra_columns)
    return LoadedItem(points=to_y_up(points, from_axis=up_axis) if up_axis != "y" else points, images=images)


@dataclass(frozen=True)
class _FoundObject:
    path: Path
    class_name: str
    split: str
    images: tuple[Path, ...]


class FolderReader:
    """The ``folder`` reader.

    Args:
        up_axis: The up axis of the files (``"y"``, ``"z"`` or ``"x"``); converted to y-up.
        test_fraction: Without split folders, the share of each class put in ``"test"``: round(fraction × n)
            objects of a class of n (at least one when n ≥ 2, never all), those with the lowest hash of their path,
            so the same files always give the same split (0 = everything in ``"train"``).
        view_source: How views are made for objects without images: ``"render"`` (meshes) or ``"depth"``
            (projection of the points; works for meshes and point clouds). Point clouds without images need
            ``"depth"``; iterating with ``"render"`` then fails early with that advice.
        classes_file: The optional class file, one name a line: a name in the root, or a path (absolute, or
            relative to the root).
        extra_columns: How 6-column point files are read: ``"auto"`` (rgb when the values look like colours,
            otherwise normals, dropped), ``"rgb"`` or ``"ignore"``.
        classes: The class list as a list or a comma-separated string; takes precedence over the class file.
            Required (here or in the class file) for unlabelled data; for labelled data it orders and selects
            the class folders like ``classes.txt``.
        unlabelled: ``"auto"`` (unlabelled when a class list is given and none of its classes has a sub-folder),
            ``True`` (every object under the root is unlabelled) or ``False`` (class sub-folders).
    """

    name = "folder"

    def __init__(
        self,
        *,
        up_axis: UpAxis = "y",
        test_fraction: float = 0.0,
        view_source: Literal["render", "depth"] = "render",
        classes_file: str = "classes.txt",
        extra_columns: ExtraColumns = "auto",
        classes: str | Sequence[str] | None = None,
        unlabelled: bool | str = "auto",
    ) -> None:
        if up_axis not in ("x", "y", "z"):
            raise ValueError(f"up_axis must be 'x', 'y' or 'z', got {up_axis!r}")
        if view_source not in ("render", "depth"):
            raise ValueError(f"view_source must be 'render' or 'depth', got {view_source!r}")
        if extra_columns not in ("auto", "rgb", "ignore"):
            raise ValueError(f"extra_columns must be 'auto', 'rgb' or 'ignore', got {extra_columns!r}")
        self.up_axis: UpAxis = up_axis
        self.test_fraction = check_fraction(test_fraction, "test_fraction")
        self.view_source: ViewSource = view_source
        self.classes_file = str(classes_file)
        self.extra_columns: ExtraColumns = extra_columns
        self.classes = parse_class_list(classes)
        self.unlabelled: bool | None = (
            None if isinstance(unlabelled, str) and unlabelled.strip().lower() == "auto"
            else check_bool(unlabelled, "unlabelled")
        )  # fmt: skip

    def __repr__(self) -> str:
        return (
            f"FolderReader(up_axis={self.up_axis!r}, test_fraction={self.test_fraction}, "
            f"view_source={self.view_source!r}, unlabelled={'auto' if self.unlabelled is None else self.unlabelled})"
        )

    def labelled(self, root: Path) -> bool:
        """Whether the objects are sorted into class folders (``False``: every item is unlabelled)."""
        root = require_dir(Path(root).expanduser(), "a folder with one sub-folder per class", _HELP)
        if self.unlabelled is not None:
            return not self.unlabelled
        listed = self._listed_classes(root)
        return listed is None or any((root / name).is_dir() for name in listed[1])

    def class_names(self, root: Path) -> list[str]:
        """The ``classes`` option, else the class file, else the class sub-folders sorted by name."""
        root = require_dir(Path(root).expanduser(), "a folder with one sub-folder per class", _HELP)
        listed = self._listed_classes(root)
        if not self.labelled(root):
            if listed is None:
                raise DatasetLayoutError(
                    f"the unlabelled folder dataset {root} needs its class list: pass --option "
                    f"classes=chair,table,lamp or write the names, one a line, to {self._class_file(root)}"
                )
            return listed[1]
        if listed is not None:
            order_file, names = listed
            missing = [name for name in names if not (root / name).is_dir()]
            if missing:
                raise DatasetLayoutError(
                    f"{order_file} lists classes without a folder: {', '.join(str(root / n) for n in missing[:5])}"
                )
            unlisted = sorted(set(_class_folders(root)) - set(names))
            if unlisted:
                warnings.warn(
                    f"{order_file} does not list the folders {', '.join(unlisted[:5])}; they are ignored",
                    LayoutWarning,
                    stacklevel=2,
                )
            return names
        names = _class_folders(root)
        if not names:
            raise DatasetLayoutError(
                f"expected one sub-folder per class in {root}, found none. {_HELP} {_UNLABELLED_HELP}"
            )
        return names

    def _class_file(self, root: Path) -> Path:
        path = Path(self.classes_file).expanduser()
        return path if path.is_absolute() else root / path

    def _listed_classes(self, root: Path) -> tuple[str, list[str]] | None:
        """(where the list comes from, the names) from the ``classes`` option or the class file; else ``None``."""
        if self.classes is not None:
            where, names = "the reader option classes", list(self.classes)
        else:
            order_file = self._class_file(root)
            if not order_file.is_file():
                return None
            where, names = str(order_file), read_lines(order_file)
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise DatasetLayoutError(f"{where} lists {', '.join(duplicates)} more than once")
        if not names:
            raise DatasetLayoutError(f"{where} lists no classes")
        return where, names

    def splits(self, root: Path) -> list[str]:
        """The split folders present (train, val, test order), else ``["train"]`` or ``["train", "test"]``."""
        root = Path(root).expanduser()
        classes = self.class_names(root)
        present = self._split_folders(root, classes) if self.labelled(root) else _root_split_folders(root)
        if present:
            return present
        return ["train", "test"] if self.test_fraction > 0 else ["train"]

    def iter_items(self, root: Path, split: str) -> Iterator[SourceItem]:
        """The objects of ``split``, ordered by class index and then by path."""
        root = Path(root).expanduser()
        available = self.splits(root)
        if split not in available:
            raise ValueError(f"folder dataset {root} has no split {split!r}; splits: {', '.join(available)}")
        found = [obj for obj in self._find(root) if obj.split == split]
        if self.view_source == "render":
            self._check_renderable(found)
        items = (
            SourceItem(
                uid=make_uid(relative_source(obj.path, root)),
                class_name=obj.class_name,
                split=obj.split,
                source=relative_source(obj.path, root),
                load=functools.partial(
                    load_folder_item,
                    str(obj.path),
                    self.up_axis,
                    tuple(str(image) for image in obj.images) or None,
                    self.extra_columns,
                ),
            )
            for obj in found
        )
        yield from unique_uids(items, root)

    def _find(self, root: Path) -> list[_FoundObject]:
        labelled = self.labelled(root)
        _warn_unread_files([root / name for name in self.class_names(root)] if labelled else [root], root)
        if not labelled:
            return self._find_unlabelled(root)
        classes = self.class_names(root)
        split_mode = bool(self._split_folders(root, classes))
        found: list[_FoundObject] = []
        for class_name in classes:
            class_dir = root / class_name
            if split_mode:
                stray = [path for path in class_dir.iterdir() if path.is_file() and _is_object(path)]
                if stray:
                    warnings.warn(
                        f"{len(stray)} object files directly in {class_dir} are outside the split folders "
                        f"({', '.join(SPLIT_FOLDERS)}) and are ignored",
                        LayoutWarning,
                        stacklevel=3,
                    )
                for split in SPLIT_FOLDERS:
                    for path, images in _walk(class_dir / split):
                        found.append(_FoundObject(path, class_name, split, images))
            else:
                found += _stratified(list(_walk(class_dir)), class_name, root, self.test_fraction)
        return found

    def _find_unlabelled(self, root: Path) -> list[_FoundObject]:
        self.class_names(root)  # checks that the class list is given
        class_file = self._class_file(root).resolve()
        present = _root_split_folders(root)
        if present:
            stray = [path for path in root.iterdir() if path.is_file() and _is_object(path)]
            stray = [path for path in stray if path.resolve() != class_file]
            if stray:
                warnings.warn(
                    f"{len(stray)} object files directly in {root} are outside the split folders "
                    f"({', '.join(present)}) and are ignored",
                    LayoutWarning,
                    stacklevel=3,
                )
            return [_FoundObject(path, "", split, images) for split in present for path, images in _walk(root / split)]
        objects = [(path, images) for path, images in _walk(root) if path.resolve() != class_file]
        return _stratified(objects, "", root, self.test_fraction)

    @staticmethod
    def _split_folders(root: Path, classes: list[str]) -> list[str]:
        return [split for split in SPLIT_FOLDERS if any((root / name / split).is_dir() for name in classes)]

    @staticmethod
    def _check_renderable(found: list[_FoundObject]) -> None:
        clouds = [
            obj.path
            for obj in found
            if not obj.images
            and (
                obj.path.suffix.lower() in POINT_ONLY_SUFFIXES
                or (obj.path.suffix.lower() == ".ply" and _ply_is_cloud(obj.path))
            )
        ]
        if clouds:
            raise DatasetLayoutError(
                f"{len(clouds)} point-cloud files without images (e.g. {clouds[0]}) cannot be rendered: "
                "use the reader option view_source='depth' (--option view_source=depth) to make depth views from "
                "the points, or add images per object"
            )


def parse_class_list(classes: str | Sequence[str] | None) -> list[str] | None:
    """The ``classes`` option as a list of stripped names (a string is split at commas); ``None`` when not given."""
    if classes is None:
        return None
    if not isinstance(classes, (str, Sequence)):
        raise ValueError(f"classes must be class names (a list, or names separated by commas), got {classes!r}")
    raw = classes.split(",") if isinstance(classes, str) else list(classes)
    if not all(isinstance(name, str) for name in raw):
        raise ValueError(f"classes must be class names (a list, or names separated by commas), got {classes!r}")
    names = [name.strip() for name in raw if name.strip()]
    if not names:
        raise ValueError(f"classes names no class: {classes!r}")
    return names


def _stratified(
    objects: list[tuple[Path, tuple[Path, ...]]], class_name: str, root: Path, test_fraction: float
) -> list[_FoundObject]:
    """The objects of one class, ``test_fraction`` of them (rounded, see ``stratified_test_count``) in ``test``."""
    splits = stratified_split([relative_source(path, root) for path, _ in objects], test_fraction)
    return [_FoundObject(path, class_name, splits[relative_source(path, root)], images) for path, images in objects]


def _root_split_folders(root: Path) -> list[str]:
    return [split for split in SPLIT_FOLDERS if (root / split).is_dir()]


def _ply_is_cloud(path: Path) -> bool:
    try:
        return ply_face_count(path) == 0
    except BadItemError:
        return False  # unreadable: load() reports it as a bad item


def _class_folders(root: Path) -> list[str]:
    return sorted(path.name for path in root.iterdir() if path.is_dir() and not path.name.startswith((".", "_")))


def _is_object(path: Path) -> bool:
    return path.suffix.lower() in OBJECT_SUFFIXES and not path.name.startswith(".")


def _is_file_or_broken_link(path: Path) -> bool:
    """A file, or a symbolic link to nothing (kept so that loading it reports the broken link instead of the object
    silently missing)."""
    return path.is_file() or (path.is_symlink() and not path.exists())


# Files that travel with an object file and are read with it (OBJ materials, glTF buffers), or describe the dataset.
_COMPANION_SUFFIXES = frozenset({".mtl", ".bin", ".md"})


def _warn_unread_files(folders: list[Path], root: Path) -> None:
    """Warn, with counts per kind, about the files under ``folders`` the reader neither loads as objects nor uses
    as images (a folder of mixed downloads otherwise loses files without a word)."""
    kinds: dict[str, int] = {}
    broken = 0
    for folder in folders:
        for directory, subfolders, files in os.walk(folder):
            subfolders[:] = [name for name in subfolders if not name.startswith((".", "_"))]
            for name in files:
                path = Path(directory) / name
                suffix = path.suffix.lower()
                if name.startswith(".") or suffix in IMAGE_SUFFIXES or suffix in _COMPANION_SUFFIXES:
                    continue
                if _is_object(path):
                    continue  # read (a broken link among them is reported as a bad item)
                if path.is_symlink() and not path.exists():
                    broken += 1
                kinds[suffix or "(no suffix)"] = kinds.get(suffix or "(no suffix)", 0) + 1
    if not kinds:
        return
    shown = ", ".join(f"{kind} ×{count}" for kind, count in sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0])))
    links = f", {broken} of them broken symbolic links" if broken else ""
    warnings.warn(
        f"{sum(kinds.values())} files under {root} are of types the folder reader does not read and are left out "
        f"({shown}{links}); it reads {' '.join(OBJECT_SUFFIXES)} as objects and images beside them",
        LayoutWarning,
        stacklevel=4,
    )


def _walk(folder: Path) -> Iterator[tuple[Path, tuple[Path, ...]]]:
    """(object file, its images) for every object under ``folder``, sorted by path; image folders are not walked."""
    if not folder.is_dir():
        return
    entries = sorted(folder.iterdir(), key=lambda path: path.name)
    objects = [path for path in entries if _is_object(path) and _is_file_or_broken_link(path)]
    stems = {path.stem for path in objects}
    loose_images = [path for path in entries if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES]
    for path in objects:
        folder_images = image_files(folder / path.stem)
        yield path, tuple(folder_images or _loose_images_of(path.stem, stems, loose_images))
    for sub in entries:
        if sub.is_dir() and sub.name not in stems and not sub.name.startswith((".", "_")):
            yield from _walk(sub)


def _loose_images_of(stem: str, stems: set[str], images: list[Path]) -> list[Path]:
    """Images ``<stem>_*`` beside the object, unless they belong to another object with a longer matching stem."""
    owned = []
    for image in images:
        owners = [other for other in stems if image.stem.startswith(f"{other}_")]
        if owners and max(owners, key=len) == stem:
            owned.append(image)
    return owned
