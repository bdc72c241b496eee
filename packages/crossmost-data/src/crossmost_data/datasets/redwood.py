"""Redwood 3D scans with their video frames, in the layout of the official Cross-MoST code.

Layout (``<root>`` = the official ``redwood/data`` folder):

- ``<root>/meshpreprocessed3/<mesh_id>.npy``: the preprocessed point cloud of each scan (axes as stored, as in the
  official code);
- ``<root>/videoframes/<mesh_id>/``: the RGB frames of the scan video; ``num_frames`` of them (default 10, the
  number the official code could reach) are taken evenly spaced from the frames sorted by name;
- ``<root>/categories.json``: ``{"chair": ["00033", ...], ...}``; only the 9 official classes are read;
- ``<root>/train_set80.txt`` / ``test_set80.txt``: mesh ids, one a line. An object is used when it appears in both
  a category and a split list. Without the lists, a deterministic hashed split (``test_fraction``) is used and a
  warning names the rule.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path

from crossmost_data.datasets._layout import (
    check_bool,
    check_fraction,
    check_positive_int,
    hashed_split,
    relative_source,
    require_dir,
    require_file,
    unique_uids,
)
from crossmost_data.datasets._scans import load_scan_item, read_split_lists
from crossmost_data.datasets.class_lists import REDWOOD_CLASSES
from crossmost_data.datasets.registry import DatasetLayoutError, ViewSource
from crossmost_data.items import SourceItem, make_uid

__all__ = ["RedwoodReader"]

_SPLITS = ("train", "test")
_DOWNLOAD = (
    "The scans and videos come from the Redwood 3D-scan dataset (http://redwood-data.org/3dscan/); the per-scan "
    ".npy clouds and extracted frames follow the layout of the official Cross-MoST data folder."
)


class RedwoodReader:
    """The ``redwood`` reader (9 classes, real photos as given views).

    Args:
        num_frames: Frames per scan, evenly spaced over the sorted frames.
        points_dir: Folder of ``<mesh_id>.npy`` relative to the root (or absolute).
        frames_dir: Folder of ``<mesh_id>/`` frame folders relative to the root (or absolute).
        categories: The category json, relative to the root (or absolute).
        test_fraction: Share of objects in ``test`` when the split lists are missing.
        swap_xy: Swap the x and y columns of the points (off by default: the official code keeps the axes).
    """

    name = "redwood"
    view_source: ViewSource = "given"

    def __init__(
        self,
        *,
        num_frames: int = 10,
        points_dir: str = "meshpreprocessed3",
        frames_dir: str = "videoframes",
        categories: str = "categories.json",
        test_fraction: float = 0.2,
        swap_xy: bool = False,
    ) -> None:
        self.num_frames = check_positive_int(num_frames, "num_frames")
        self.points_dir = str(points_dir)
        self.frames_dir = str(frames_dir)
        self.categories = str(categories)
        self.test_fraction = check_fraction(test_fraction, "test_fraction")
        self.swap_xy = check_bool(swap_xy, "swap_xy")

    def __repr__(self) -> str:
        return f"RedwoodReader(num_frames={self.num_frames}, test_fraction={self.test_fraction})"

    def class_names(self, root: Path) -> list[str]:
        """The 9 official classes (chair 0 … sofa 8)."""
        return list(REDWOOD_CLASSES)

    def splits(self, root: Path) -> list[str]:
        """``["train", "test"]``."""
        return list(_SPLITS)

    def category_ids(self, root: Path) -> dict[str, str]:
        """Mesh id → class name for the official classes, from the category json.

        Raises:
            DatasetLayoutError: The json is missing or malformed, or an id is listed under two classes.
        """
        root = Path(root).expanduser()
        path = require_file(root / self.categories, "the Redwood category json (name → list of mesh ids)", _DOWNLOAD)
        try:
            mapping = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise DatasetLayoutError(f"cannot read {path}: {error}") from error
        if not isinstance(mapping, dict) or not all(isinstance(ids, list) for ids in mapping.values()):
            raise DatasetLayoutError(f"{path} must map each category name to a list of mesh ids")
        owners: dict[str, str] = {}
        for class_name in REDWOOD_CLASSES:
            for mesh_id in mapping.get(class_name, []):
                key = str(mesh_id).strip()
                if key in owners and owners[key] != class_name:
                    raise DatasetLayoutError(
                        f"{path}: mesh id {key} is listed under {owners[key]!r} and {class_name!r}"
                    )
                owners[key] = class_name
        if not owners:
            raise DatasetLayoutError(f"{path} lists none of the classes {', '.join(REDWOOD_CLASSES)}")
        return owners

    def iter_items(self, root: Path, split: str) -> Iterator[SourceItem]:
        """The scans of ``split``, ordered by class index and then by mesh id."""
        if split not in _SPLITS:
            raise ValueError(f"{self.name} has no split {split!r}; splits: {', '.join(_SPLITS)}")
        root = require_dir(Path(root).expanduser(), "the Redwood data folder", _DOWNLOAD)
        points_dir = require_dir(root / self.points_dir, "the Redwood point clouds (<mesh_id>.npy)", _DOWNLOAD)
        frames_dir = require_dir(root / self.frames_dir, "the Redwood video frames (<mesh_id>/*.jpg)", _DOWNLOAD)
        owners = self.category_ids(root)
        lists = read_split_lists({name: root / f"{name}_set80.txt" for name in _SPLITS}, "redwood", self.test_fraction)
        if lists is None:
            members = {mesh_id for mesh_id in owners if hashed_split(mesh_id, self.test_fraction) == split}
        else:
            members = set(lists[split]) & set(owners)
        order = {name: index for index, name in enumerate(REDWOOD_CLASSES)}
        chosen = sorted(members, key=lambda mesh_id: (order[owners[mesh_id]], mesh_id))
        items = (
            SourceItem(
                uid=make_uid(f"{self.name}-{split}-{mesh_id}"),
                class_name=owners[mesh_id],
                split=split,
                source=relative_source(points_dir / f"{mesh_id}.npy", root),
                load=functools.partial(
                    load_scan_item,
                    str(points_dir / f"{mesh_id}.npy"),
                    str(frames_dir / mesh_id),
                    self.num_frames,
                    self.swap_xy,
                ),
            )
            for mesh_id in chosen
        )
        yield from unique_uids(items, root)
