"""ModelNet40 and ModelNet10 from the official OFF meshes (``ModelNet40.zip`` / ``ModelNet10.zip``).

Layout: ``<root>/<category>/<train|test>/<name>.off``. Only the official categories are read, so stray files or
folders in the root (``README.txt``, ``.DS_Store``, a ``__MACOSX`` folder) are ignored instead of becoming classes,
as they did with the official ``os.listdir``. Meshes are z-up and are rotated to y-up with the official permutation
new (x, y, z) = old (y, z, x). Optional existing 12-view renders are used as given views:
``<views_root>/<split>/<category>/<name>_<VVV>.png`` with VVV = 001…012.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from crossmost_data.datasets._images import read_rgb_list
from crossmost_data.datasets._layout import (
    check_bool,
    check_count,
    check_positive_int,
    relative_source,
    require_dir,
    unique_uids,
)
from crossmost_data.datasets.class_lists import MODELNET10_CLASSES, MODELNET40_CLASSES
from crossmost_data.datasets.registry import DatasetLayoutError, ViewSource
from crossmost_data.items import LoadedItem, SourceItem, make_uid
from crossmost_data.mesh import load_mesh, to_y_up

__all__ = ["ModelNet10Reader", "ModelNet40Reader", "ModelNetReader"]

_SPLITS = ("train", "test")


def load_modelnet_item(mesh_path: str, view_paths: tuple[str, ...] | None) -> LoadedItem:
    """Load one ModelNet mesh, rotated from z-up to y-up, with its given views when there are any."""
    mesh = to_y_up(load_mesh(mesh_path), from_axis="z")
    images = read_rgb_list([Path(path) for path in view_paths]) if view_paths is not None else None
    return LoadedItem(mesh=mesh, images=images)


class ModelNetReader:
    """Reader of the ModelNet OFF layout; use ``ModelNet40Reader`` or ``ModelNet10Reader``.

    Args:
        views_root: Folder of existing renders ``<views_root>/<split>/<category>/<name>_<VVV>.png``; when given,
            every item must have its ``num_views`` images and ``view_source`` is ``"given"``, otherwise views are
            rendered from the mesh (``"render"``).
        num_views: How many of the numbered views (``_001`` … ) to use; the official renders have 12.
        strict_counts: Fail when a split does not have the official number of meshes (a partial or wrong folder);
            with ``False`` only a warning is given.
    """

    name = "modelnet"
    up_axis = "z"
    """The axis that points up in the raw files (rotated to y when they are loaded)."""
    download = "Download it from https://modelnet.cs.princeton.edu and unzip it."
    classes: ClassVar[tuple[str, ...]] = ()
    expected_counts: ClassVar[dict[str, int]] = {}

    def __init__(
        self, *, views_root: str | Path | None = None, num_views: int = 12, strict_counts: bool = True
    ) -> None:
        self.views_root = Path(views_root).expanduser() if views_root not in (None, "") else None
        self.num_views = check_positive_int(num_views, "num_views")
        self.strict_counts = check_bool(strict_counts, "strict_counts")
        self.view_source: ViewSource = "given" if self.views_root is not None else "render"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(views_root={self.views_root!r}, num_views={self.num_views})"

    def class_names(self, root: Path) -> list[str]:
        """The official class list (independent of what else lies in ``root``)."""
        return list(self.classes)

    def splits(self, root: Path) -> list[str]:
        """``["train", "test"]``."""
        return list(_SPLITS)

    def iter_items(self, root: Path, split: str) -> Iterator[SourceItem]:
        """The meshes of ``split``, ordered by class index and then by file name."""
        if split not in _SPLITS:
            raise ValueError(f"{self.name} has no split {split!r}; splits: {', '.join(_SPLITS)}")
        root = Path(root).expanduser()
        self._check_root(root)
        views_dir = None
        if self.views_root is not None:
            views_dir = require_dir(
                self.views_root / split,
                f"{self.name} {split} renders (<views_root>/{split}/<category>/<name>_001.png …)",
                "These are existing MVCNN-style renders; leave views_root unset to render the meshes instead.",
            )
        missing = [category for category in self.classes if not (root / category / split).is_dir()]
        if missing:
            shown = ", ".join(str(root / category / split) for category in missing[:3])
            more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
            raise DatasetLayoutError(
                f"expected {self.name} category folders <root>/<category>/{split}/ with .off meshes; missing: "
                f"{shown}{more}{_nested_hint(root)}. {self.download}"
            )
        files = [
            (category, path)
            for category in self.classes
            for path in sorted((root / category / split).iterdir(), key=lambda path: path.name)
            if path.is_file() and path.suffix.lower() == ".off"
        ]
        check_count(
            len(files),
            self.expected_counts.get(split),
            what=f"{self.name} {split}",
            where=root,
            strict=self.strict_counts,
        )
        yield from unique_uids((self._item(root, views_dir, split, c, p) for c, p in files), root)

    def _item(self, root: Path, views_dir: Path | None, split: str, category: str, path: Path) -> SourceItem:
        view_paths = None
        if views_dir is not None:
            view_paths = tuple(
                str(views_dir / category / f"{path.stem}_{view:03d}.png") for view in range(1, self.num_views + 1)
            )
        return SourceItem(
            uid=make_uid(f"{self.name}-{split}-{path.stem}"),
            class_name=category,
            split=split,
            source=relative_source(path, root),
            load=functools.partial(load_modelnet_item, str(path), view_paths),
        )

    def _check_root(self, root: Path) -> None:
        if root.is_dir():
            return
        raise DatasetLayoutError(
            f"expected the {self.name} mesh folder (<root>/<category>/<train|test>/<name>.off) at {root}, "
            f"but it is {'missing' if not root.exists() else 'not a directory'}{_nested_hint(root)}. {self.download}"
        )


def _nested_hint(root: Path) -> str:
    """Point at the unzipped ``ModelNet40``/``ModelNet10`` folder when the root given is its parent or sibling."""
    for candidate in (root / "ModelNet40", root / "ModelNet10", root.parent / "ModelNet40", root.parent / "ModelNet10"):
        if candidate != root and candidate.is_dir():
            return f" (found {candidate}: pass that folder as the root)"
    return ""


class ModelNet40Reader(ModelNetReader):
    """ModelNet40 from ``ModelNet40.zip``: 40 classes in alphabetical order, 9843 train and 2468 test meshes."""

    name = "modelnet40"
    download = (
        "Download ModelNet40.zip from https://modelnet.cs.princeton.edu and pass its ModelNet40 folder as the root."
    )
    classes = MODELNET40_CLASSES
    expected_counts: ClassVar[dict[str, int]] = {"train": 9843, "test": 2468}


class ModelNet10Reader(ModelNetReader):
    """ModelNet10: 10 classes in the official order, read from ``ModelNet10.zip`` or the ModelNet40 folder."""

    name = "modelnet10"
    download = (
        "Download ModelNet10.zip (or ModelNet40.zip, which holds the same meshes) from "
        "https://modelnet.cs.princeton.edu and pass the unzipped folder as the root."
    )
    classes = MODELNET10_CLASSES
    expected_counts: ClassVar[dict[str, int]] = {"train": 3991, "test": 908}
