"""OpenShape's ScanObjectNN evaluation file, ``meta_data/scanobjectnn/xyz_label.npy``: the ``scanobjectnn-openshape``
reader.

The Objaverse-trained models (OpenShape, ULIP-2 and Uni3D in their papers) report ScanObjectNN zero-shot accuracy on
this file, which OpenShape ships in ``meta_data.zip``. It holds 2,890 test objects, a count that matches none of the
official variants (581 for OBJ_ONLY and OBJ_BG, 2,882 for PB_T50_RS), so its numbers are not comparable with theirs.

Layout: a ``.npy`` file holding a pickled dict (``np.save`` of a dict) with

- ``xyz``: one N×3 float array per object (a list or an object array; an M×N×3 array also works);
- ``label``: one integer per object, indexing OpenShape's category list, which is ScanObjectNN's own order
  (bag 0 … toilet 14, :data:`~crossmost_data.datasets.class_lists.SCANOBJECTNN_CLASSES`);
- ``rgb`` (optional): one N×3 colour array per object, in [0, 1] (or 0–255, which is rescaled).

The file is read with :func:`~crossmost_data.datasets.pickled_npy.load_object_npy`, which builds numpy arrays
and nothing else: the pickle never runs code. It is read once per process and kept while its items are loaded.

Axes: the clouds are used as stored. OpenShape's loader swaps y and z for its models (``y_up: True``, as it does for
its y-up Objaverse clouds), so the file is y-up, crossmost's convention; the model configs apply the same swap.

Splits: only ``test``. Self-training on it is transductive (the unlabelled test objects are the target data; their
labels never reach a loss): set ``data.train_split: test``, as the ``scanobjectnn-openshape-crossmost`` preset does.
Colours, when the file has them, make the items N×6 (prepare with ``--point-layout xyzrgb`` to keep them); without
them a family that reads xyzrgb gets the grey its own loader fills in.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from crossmost_data.datasets._layout import check_bool, check_count, integer_labels, relative_source, unique_uids
from crossmost_data.datasets.class_lists import SCANOBJECTNN_CLASSES
from crossmost_data.datasets.pickled_npy import UnsafePickleError, load_object_npy
from crossmost_data.datasets.point_files import validate_points
from crossmost_data.datasets.registry import DatasetLayoutError, ViewSource
from crossmost_data.items import BadItemError, LoadedItem, SourceItem, make_uid

__all__ = ["OPENSHAPE_SCANOBJECTNN_COUNT", "OpenShapeScanObjectNNReader"]

OPENSHAPE_SCANOBJECTNN_COUNT = 2890
"""Objects in OpenShape's ``scanobjectnn/xyz_label.npy``."""

_FILE_NAME = "xyz_label.npy"
_SPLITS = ("test",)
_DOWNLOAD = (
    "The file is part of OpenShape's meta_data.zip (github.com/Colin97/OpenShape_code, 'Meta Data'); unzip it and "
    "pass the folder meta_data/scanobjectnn (holding xyz_label.npy) as the root."
)


_PerObject = list[Any] | tuple[Any, ...] | np.ndarray
"""One entry per object: a list, a tuple, an object array or an M×N×C array."""


@dataclass(frozen=True)
class _Contents:
    """The checked contents of one file: per-object clouds, labels and (optional) colours."""

    xyz: _PerObject
    labels: np.ndarray
    rgb: _PerObject | None


def _per_object(value: Any, key: str, path: Path) -> _PerObject:
    if isinstance(value, np.ndarray) and value.dtype != object and value.ndim == 3:
        return value  # M×N×C: one row per object
    if isinstance(value, (list, tuple)) or (
        isinstance(value, np.ndarray) and value.dtype == object and value.ndim == 1
    ):
        return value
    shape = getattr(value, "shape", None)
    raise DatasetLayoutError(
        f"{path}: '{key}' must hold one array per object (a list, an object array or an M×N×3 array), got "
        f"{type(value).__name__}" + (f" of shape {shape}" if shape is not None else "")
    )


@functools.lru_cache(maxsize=2)
def _read_contents(path_text: str, modified_ns: int, size: int) -> _Contents:
    """The checked contents of the file (cached per process, keyed by its modification time and size)."""
    del modified_ns, size  # only part of the cache key: an edited file is read again
    path = Path(path_text)
    try:
        data = load_object_npy(path)
    except (ValueError, UnsafePickleError) as error:  # not a .npy file, truncated, or unsafe to unpickle
        raise DatasetLayoutError(f"cannot read {path}: {error}. {_DOWNLOAD}") from None
    if not isinstance(data, dict) or "xyz" not in data or "label" not in data:
        found = sorted(map(str, data)) if isinstance(data, dict) else type(data).__name__
        raise DatasetLayoutError(f"{path} must hold a dict with the keys 'xyz' and 'label', found {found}")
    xyz = _per_object(data["xyz"], "xyz", path)
    labels = integer_labels(data["label"], len(SCANOBJECTNN_CLASSES), where=str(path), item="object")
    if labels.shape[0] != len(xyz):
        raise DatasetLayoutError(f"{path}: 'label' has {labels.shape[0]} entries but 'xyz' has {len(xyz)} objects")
    rgb = None
    if "rgb" in data:
        rgb = _per_object(data["rgb"], "rgb", path)
        if len(rgb) != len(xyz):
            raise DatasetLayoutError(f"{path}: 'rgb' has {len(rgb)} objects but 'xyz' has {len(xyz)}")
    return _Contents(xyz=xyz, labels=labels, rgb=rgb)


def _contents(path: Path) -> _Contents:
    stat = path.stat()
    return _read_contents(str(path), stat.st_mtime_ns, stat.st_size)


def _colours(rgb: Any, count: int) -> np.ndarray:
    colours = np.asarray(rgb, dtype=np.float64)
    if colours.shape != (count, 3):
        raise BadItemError(f"'rgb' has shape {colours.shape}, expected ({count}, 3) to match the cloud")
    if not np.isfinite(colours).all() or colours.min() < 0 or colours.max() > 255:
        raise BadItemError("'rgb' holds values outside [0, 1] and [0, 255]")
    return colours / 255.0 if colours.max() > 1.0 else colours


def load_openshape_object(path: str, row: int) -> LoadedItem:
    """Object ``row`` of the file: its cloud as stored (N×3, or N×6 with the file's colours)."""
    contents = _contents(Path(path))
    try:
        points = np.asarray(contents.xyz[row], dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise BadItemError(f"object {row} of {path}: its cloud is not numeric ({error})") from None
    if points.ndim != 2 or points.shape[1] != 3:
        raise BadItemError(f"object {row} of {path}: its cloud must be N×3, got shape {points.shape}")
    if contents.rgb is not None:
        points = np.concatenate([points, _colours(contents.rgb[row], points.shape[0])], axis=1)
    return LoadedItem(points=validate_points(points))


class OpenShapeScanObjectNNReader:
    """The ``scanobjectnn-openshape`` reader: OpenShape's 2,890-object ScanObjectNN test file.

    Args:
        strict_counts: Fail when the file does not hold 2,890 objects (warn with ``False``).
    """

    name = "scanobjectnn-openshape"
    view_source: ViewSource = "depth"

    def __init__(self, *, strict_counts: bool = True) -> None:
        self.strict_counts = check_bool(strict_counts, "strict_counts")

    def __repr__(self) -> str:
        return f"OpenShapeScanObjectNNReader(strict_counts={self.strict_counts})"

    def class_names(self, root: Path) -> list[str]:
        """ScanObjectNN's 15 classes in OpenShape's label order (bag 0 … toilet 14)."""
        return list(SCANOBJECTNN_CLASSES)

    def splits(self, root: Path) -> list[str]:
        """``["test"]``: the file is OpenShape's test set only."""
        return list(_SPLITS)

    def data_file(self, root: Path) -> Path:
        """``<root>/xyz_label.npy``, checked to exist (the message points at the right folder when it can)."""
        root = Path(root).expanduser()
        path = root / _FILE_NAME
        if path.is_file():
            return path
        hint = ""
        for candidate in (root / "scanobjectnn", root / "meta_data" / "scanobjectnn"):
            if (candidate / _FILE_NAME).is_file():
                hint = f" (found {candidate / _FILE_NAME}: pass {candidate} as the root)"
                break
        raise DatasetLayoutError(
            f"expected OpenShape's ScanObjectNN file at {path}, but it is missing{hint}. {_DOWNLOAD}"
        )

    def iter_items(self, root: Path, split: str) -> Iterator[SourceItem]:
        """One item per object of the file, in file order."""
        if split not in _SPLITS:
            raise ValueError(f"{self.name} has no split {split!r}; it has only 'test' (OpenShape's test file)")
        root = Path(root).expanduser()
        path = self.data_file(root)
        contents = _contents(path)
        check_count(
            len(contents.labels),
            OPENSHAPE_SCANOBJECTNN_COUNT,
            what="OpenShape's ScanObjectNN file",
            where=root,
            strict=self.strict_counts,
        )
        classes = self.class_names(root)
        source = relative_source(path, root)
        items = (
            SourceItem(
                uid=make_uid(f"{self.name}-{split}-{row:05d}"),
                class_name=classes[label],
                split=split,
                source=f"{source}[{row}]",
                load=functools.partial(load_openshape_object, str(path), row),
            )
            for row, label in enumerate(contents.labels.tolist())
        )
        yield from unique_uids(items, root)
