"""ModelNet40 as 2048-point clouds from ``modelnet40_ply_hdf5_2048`` (the PointNet h5 release).

Layout: ``<root>/train_files.txt`` and ``test_files.txt`` list the h5 files (``ply_data_train0.h5`` …, keys
``data`` N×2048×3 float32 and ``label`` N×1). A listed path may be absolute, relative to the root, or the stock
PointNet form ``data/modelnet40_ply_hdf5_2048/ply_data_train0.h5`` (then its file name is looked up in the root);
the official Cross-MoST code required absolute paths. Points are already y-up.

Views: existing PointCLIP-V2 depth images ``<h5 dir>/<h5 name with ply→image>/<row>/<v>.png`` (e.g.
``image_data_train0/17/0.png``) are used when that folder exists; otherwise the views are depth projections of the
points (``view_source = "depth"``).

A listed h5 file that is truncated or corrupt stops the iteration with a ``DatasetLayoutError`` naming it (rather
than skipping its ~2000 clouds silently); a single unreadable or non-finite row is a ``BadItemError`` from ``load()``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from crossmost_data.datasets._h5 import load_h5_item, read_h5_labels
from crossmost_data.datasets._layout import (
    check_bool,
    check_count,
    read_lines,
    relative_source,
    require_dir,
    require_file,
    unique_uids,
)
from crossmost_data.datasets.class_lists import MODELNET40_CLASSES
from crossmost_data.datasets.registry import DatasetLayoutError, ViewSource
from crossmost_data.items import SourceItem, make_uid

__all__ = ["ModelNet40DepthReader"]

_SPLITS = ("train", "test")
_DOWNLOAD = (
    "It is the PointNet release modelnet40_ply_hdf5_2048.zip (originally shapenet.cs.stanford.edu/media/"
    "modelnet40_ply_hdf5_2048.zip; mirrors exist on Hugging Face); unzip it and pass the folder as the root."
)
_EXPECTED_COUNTS = {"train": 9840, "test": 2468}


class ModelNet40DepthReader:
    """The ``modelnet40-depth`` reader (h5 point clouds; given depth images or depth projections).

    Args:
        use_given_views: Use the PointCLIP-V2 images next to the h5 files when their folder exists.
        strict_counts: Fail when a split does not have the official 9840 / 2468 clouds (warn with ``False``).
    """

    name = "modelnet40-depth"
    view_source: ViewSource = "depth"

    def __init__(self, *, use_given_views: bool = True, strict_counts: bool = True) -> None:
        self.use_given_views = check_bool(use_given_views, "use_given_views")
        self.strict_counts = check_bool(strict_counts, "strict_counts")

    def __repr__(self) -> str:
        return f"ModelNet40DepthReader(use_given_views={self.use_given_views})"

    def class_names(self, root: Path) -> list[str]:
        """The 40 ModelNet40 classes; ``<root>/shape_names.txt``, when present, must list the same names."""
        names = list(MODELNET40_CLASSES)
        shape_names = Path(root).expanduser() / "shape_names.txt"
        if shape_names.is_file():
            listed = read_lines(shape_names)
            if listed != names:
                raise DatasetLayoutError(
                    f"{shape_names} does not list the 40 ModelNet40 classes in alphabetical order "
                    f"(first difference at {_first_difference(listed, names)}); is this modelnet40_ply_hdf5_2048?"
                )
        return names

    def splits(self, root: Path) -> list[str]:
        """``["train", "test"]``."""
        return list(_SPLITS)

    def h5_files(self, root: Path, split: str) -> list[Path]:
        """The h5 files of ``split`` in list-file order, each resolved to an existing path."""
        root = Path(root).expanduser()
        require_dir(root, "the modelnet40_ply_hdf5_2048 folder", _DOWNLOAD)
        list_file = require_file(root / f"{split}_files.txt", f"the {split} list of h5 files", _DOWNLOAD)
        return [_resolve_listed(line, root, list_file) for line in read_lines(list_file)]

    def iter_items(self, root: Path, split: str) -> Iterator[SourceItem]:
        """One item per h5 row, in list-file order and row order."""
        if split not in _SPLITS:
            raise ValueError(f"{self.name} has no split {split!r}; splits: {', '.join(_SPLITS)}")
        root = Path(root).expanduser()
        classes = self.class_names(root)
        files = [(path, read_h5_labels(path, len(classes), _DOWNLOAD)) for path in self.h5_files(root, split)]
        total = sum(len(labels) for _, labels in files)
        check_count(total, _EXPECTED_COUNTS[split], what=f"{self.name} {split}", where=root, strict=self.strict_counts)
        yield from unique_uids(self._items(root, split, classes, files), root)

    def _items(
        self, root: Path, split: str, classes: list[str], files: list[tuple[Path, np.ndarray]]
    ) -> Iterator[SourceItem]:
        for path, labels in files:
            views_dir = path.parent / path.stem.replace("ply", "image")
            given = str(views_dir) if self.use_given_views and views_dir.is_dir() else None
            source = relative_source(path, root)
            for row, label in enumerate(labels.tolist()):
                yield SourceItem(
                    uid=make_uid(f"{self.name}-{split}-{path.stem}-{row:05d}"),
                    class_name=classes[label],
                    split=split,
                    source=f"{source}[{row}]",
                    load=functools.partial(load_h5_item, str(path), row, given),
                )


def _resolve_listed(line: str, root: Path, list_file: Path) -> Path:
    listed = Path(line).expanduser()
    candidates = [listed] if listed.is_absolute() else [root / listed]
    candidates.append(root / listed.name)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    tried = ", ".join(str(candidate) for candidate in dict.fromkeys(candidates))
    raise DatasetLayoutError(f"{list_file} lists {line!r}, but no such file exists (tried {tried}). {_DOWNLOAD}")


def _first_difference(listed: list[str], expected: list[str]) -> str:
    for index, (got, want) in enumerate(zip(listed, expected, strict=False)):
        if got != want:
            return f"line {index + 1}: {got!r} instead of {want!r}"
    return f"{len(listed)} names instead of {len(expected)}"
