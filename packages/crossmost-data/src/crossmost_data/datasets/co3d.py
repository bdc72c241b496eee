"""CO3D sequences (point cloud + photos) in the official Cross-MoST layout or CO3D's native one.

Layout (``<root>`` = the official ``co3d/data_preprocessed`` folder, or a CO3D download):

- points: ``<root>/<category>/<sequence>/pointcloud1.npy`` (the official preprocessed file) or, failing that, CO3D's
  native ``pointcloud.ply``. The official loader swaps the x and y columns of ``pointcloud1.npy``; this reader does
  the same by default (``swap_xy="auto"``), so results match the official protocol. The native ``pointcloud.ply``
  is read as stored: CO3D defines no gravity axis (facebookresearch/co3d#28), so no swap can make it y-up.
- frames: ``<root>/<category>/<sequence>/images/*.jpg``, sorted by name; ``num_frames`` (default 10) are taken
  evenly spaced. A sequence without images is skipped with that reason (the official code dropped them silently).
- splits: ``train_set_80.txt`` / ``test_set_80.txt`` with ``<category>/<sequence>`` lines, looked for in the root
  and then in its parent (where the official code kept them). Without them a deterministic hashed split of
  ``<category>/<sequence>`` (``test_fraction``) is used and a warning names the rule.

Only the 42 official categories are read.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from crossmost_data.datasets._layout import (
    LayoutWarning,
    check_fraction,
    check_positive_int,
    first_existing,
    hashed_split,
    relative_source,
    require_dir,
    unique_uids,
)
from crossmost_data.datasets._scans import load_scan_item, read_split_lists
from crossmost_data.datasets.class_lists import CO3D_CLASSES
from crossmost_data.datasets.registry import DatasetLayoutError, ViewSource
from crossmost_data.items import SourceItem, make_uid

__all__ = ["Co3DReader"]

_SPLITS = ("train", "test")
_POINT_FILES = ("pointcloud1.npy", "pointcloud.ply")
_DOWNLOAD = (
    "CO3D is downloaded with the scripts of github.com/facebookresearch/co3d (per category; only the point clouds "
    "and a few frames per sequence are needed)."
)
SwapXY = Literal["auto", "always", "never"]


class Co3DReader:
    """The ``co3d`` reader (42 classes, real photos as given views).

    Args:
        num_frames: Frames per sequence, evenly spaced over the sorted frames.
        test_fraction: Share of sequences in ``test`` when the split lists are missing.
        split_dir: Folder holding the split lists (default: the root, then its parent).
        swap_xy: ``"auto"`` swaps x and y for ``pointcloud1.npy`` only (the official behaviour), ``"always"`` or
            ``"never"`` for every file.
    """

    name = "co3d"
    view_source: ViewSource = "given"

    def __init__(
        self,
        *,
        num_frames: int = 10,
        test_fraction: float = 0.2,
        split_dir: str | Path | None = None,
        swap_xy: SwapXY = "auto",
    ) -> None:
        if swap_xy not in ("auto", "always", "never"):
            raise ValueError(f"swap_xy must be 'auto', 'always' or 'never', got {swap_xy!r}")
        self.num_frames = check_positive_int(num_frames, "num_frames")
        self.test_fraction = check_fraction(test_fraction, "test_fraction")
        self.split_dir = Path(split_dir).expanduser() if split_dir not in (None, "") else None
        self.swap_xy: SwapXY = swap_xy

    def __repr__(self) -> str:
        return f"Co3DReader(num_frames={self.num_frames}, swap_xy={self.swap_xy!r})"

    def class_names(self, root: Path) -> list[str]:
        """The 42 official classes (bench 0 … plant 41)."""
        return list(CO3D_CLASSES)

    def splits(self, root: Path) -> list[str]:
        """``["train", "test"]``."""
        return list(_SPLITS)

    def split_list_files(self, root: Path) -> dict[str, Path]:
        """Where the split lists are read from: the first folder (split_dir, root, parent) that has one."""
        folders = [self.split_dir] if self.split_dir is not None else [root, root.parent]
        for folder in folders:
            files = {split: folder / f"{split}_set_80.txt" for split in _SPLITS}
            if any(path.is_file() for path in files.values()):
                return files
        return {split: folders[0] / f"{split}_set_80.txt" for split in _SPLITS}

    def iter_items(self, root: Path, split: str) -> Iterator[SourceItem]:
        """The sequences of ``split``: in list order when the lists exist, else by class index and name."""
        if split not in _SPLITS:
            raise ValueError(f"{self.name} has no split {split!r}; splits: {', '.join(_SPLITS)}")
        root = require_dir(Path(root).expanduser(), "the CO3D folder (<category>/<sequence>/...)", _DOWNLOAD)
        lists = read_split_lists(self.split_list_files(root), "co3d", self.test_fraction)
        if lists is None:
            sequences = [key for key in self._walk_sequences(root) if hashed_split(key, self.test_fraction) == split]
        else:
            sequences = self._listed_sequences(lists[split])
        yield from unique_uids((self._item(root, split, key) for key in sequences), root)

    def _listed_sequences(self, lines: list[str]) -> list[str]:
        known = set(CO3D_CLASSES)
        keys = [line.strip("/") for line in lines]
        chosen = [key for key in keys if key.split("/")[0] in known and key.count("/") == 1]
        if len(chosen) != len(keys):
            warnings.warn(
                f"co3d: {len(keys) - len(chosen)} split-list lines are not <category>/<sequence> of the 42 "
                "official categories and were ignored",
                LayoutWarning,
                stacklevel=3,
            )
        return list(dict.fromkeys(chosen))

    def _walk_sequences(self, root: Path) -> list[str]:
        keys = []
        for category in CO3D_CLASSES:
            folder = root / category
            if not folder.is_dir():
                continue
            for sequence in sorted(folder.iterdir(), key=lambda path: path.name):
                if sequence.is_dir() and (
                    (sequence / "images").is_dir() or any((sequence / name).is_file() for name in _POINT_FILES)
                ):
                    keys.append(f"{category}/{sequence.name}")
        if not keys:
            raise _layout_error(root)
        return keys

    def _item(self, root: Path, split: str, key: str) -> SourceItem:
        category, sequence = key.split("/")
        folder = root / category / sequence
        points_path = first_existing([folder / name for name in _POINT_FILES]) or folder / _POINT_FILES[0]
        swap = self.swap_xy == "always" or (self.swap_xy == "auto" and points_path.name == "pointcloud1.npy")
        return SourceItem(
            uid=make_uid(f"{self.name}-{split}-{category}-{sequence}"),
            class_name=category,
            split=split,
            source=relative_source(points_path, root),
            load=functools.partial(load_scan_item, str(points_path), str(folder / "images"), self.num_frames, swap),
        )


def _layout_error(root: Path) -> DatasetLayoutError:
    return DatasetLayoutError(
        f"expected CO3D sequences at {root}/<category>/<sequence>/ (with pointcloud1.npy or pointcloud.ply and "
        f"images/) for the official categories, found none. {_DOWNLOAD}"
    )
