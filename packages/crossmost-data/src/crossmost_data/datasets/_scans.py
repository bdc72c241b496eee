"""Shared parts of the real-scan readers (Redwood, CO3D): frame choice, loading, and split lists with a fallback."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from crossmost_data.datasets._images import read_rgb_list
from crossmost_data.datasets._layout import HASHED_SPLIT_RULE, LayoutWarning, evenly_spaced, image_files, read_lines
from crossmost_data.datasets.point_files import read_point_file
from crossmost_data.datasets.registry import DatasetLayoutError
from crossmost_data.items import BadItemError, LoadedItem


def load_scan_item(points_path: str, frames_dir: str, num_frames: int, swap_xy: bool) -> LoadedItem:
    """Load a scan's points (x and y swapped when ``swap_xy``) and ``num_frames`` evenly spaced frames.

    Frames are the images of ``frames_dir`` sorted by file name (the official code used the unsorted
    ``os.listdir``, so which frames it saw depended on the filesystem); all are used when there are fewer.
    """
    frames = image_files(Path(frames_dir))
    if not frames:
        state = "empty" if Path(frames_dir).is_dir() else "missing"
        raise BadItemError(f"no image frames: {frames_dir} is {state}")
    points = read_point_file(points_path)
    if swap_xy:
        points = points.copy()
        points[:, [0, 1]] = points[:, [1, 0]]
    chosen = [frames[index] for index in evenly_spaced(len(frames), num_frames)]
    return LoadedItem(points=np.ascontiguousarray(points), images=read_rgb_list(chosen))


def read_split_lists(files: dict[str, Path], dataset: str, test_fraction: float) -> dict[str, list[str]] | None:
    """The ids listed per split, or ``None`` (after a warning naming the hashed rule) when no list file exists.

    Raises:
        DatasetLayoutError: Only some of the list files exist.
    """
    present = {split: path for split, path in files.items() if path.is_file()}
    if present and len(present) != len(files):
        missing = ", ".join(str(path) for split, path in files.items() if split not in present)
        raise DatasetLayoutError(f"{dataset}: found {len(present)} of the split lists but not {missing}")
    if not present:
        listed = " and ".join(str(path) for path in files.values())
        warnings.warn(
            f"{dataset}: no split lists ({listed}); using a deterministic hashed split with test_fraction="
            f"{test_fraction}: {HASHED_SPLIT_RULE}, key = the object id",
            LayoutWarning,
            stacklevel=3,
        )
        return None
    return {split: read_lines(path) for split, path in present.items()}
