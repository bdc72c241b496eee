"""Shared reading of point-cloud h5 files (``data`` N×P×3, ``label`` N or N×1) and their PointCLIP-style views.

A file that cannot be opened (truncated download, not HDF5) or lacks the keys stops the iteration with a
``DatasetLayoutError`` naming the file: silently dropping a whole file would change the evaluation set. A single row
that cannot be read or holds non-finite values is a ``BadItemError`` raised from ``load()``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from crossmost_data._extras import import_extra
from crossmost_data.datasets._images import read_rgb_list
from crossmost_data.datasets._layout import integer_labels, numbered_images
from crossmost_data.datasets.point_files import validate_points
from crossmost_data.datasets.registry import DatasetLayoutError
from crossmost_data.items import BadItemError, LoadedItem


def read_h5_labels(path: Path, num_classes: int, download: str) -> np.ndarray:
    """The integer labels of an h5 point file, after checking its keys, shapes and label range.

    Raises:
        DatasetLayoutError: The file is unreadable, lacks ``data``/``label``, has mismatched lengths or a label
            outside ``[0, num_classes)``; the message names the file.
    """
    h5py = import_extra("h5py", extra="h5", feature="the HDF5 readers (modelnet40-depth, scanobjectnn)")

    if not path.is_file():
        raise DatasetLayoutError(f"expected the h5 file {path}, but it is missing. {download}")
    try:
        with h5py.File(path, "r") as handle:
            keys = sorted(handle.keys())
            if "data" not in handle or "label" not in handle:
                raise DatasetLayoutError(f"h5 file {path} must hold the keys 'data' and 'label', found {keys}")
            data_shape = handle["data"].shape
            labels = np.asarray(handle["label"][()])
    except DatasetLayoutError:
        raise
    except (OSError, KeyError, ValueError, RuntimeError) as error:
        raise DatasetLayoutError(
            f"cannot read h5 file {path} ({type(error).__name__}: {error}); it is probably truncated or corrupt, "
            f"download it again. {download}"
        ) from error
    if len(data_shape) != 3 or data_shape[2] < 3:
        raise DatasetLayoutError(f"h5 file {path}: 'data' must be N×P×3, got shape {data_shape}")
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1 or labels.shape[0] != data_shape[0]:
        raise DatasetLayoutError(
            f"h5 file {path}: 'label' has shape {labels.shape}, expected ({data_shape[0]},) to match 'data'"
        )
    return integer_labels(labels, num_classes, where=f"h5 file {path}")


def load_h5_item(h5_path: str, row: int, views_dir: str | None) -> LoadedItem:
    """Load row ``row`` of an h5 point file (xyz as stored) and, when ``views_dir`` is set, its numbered views.

    ``views_dir`` is the folder holding ``<row>/<v>.png``; its images for this row are read in view order.
    """
    h5py = import_extra("h5py", extra="h5", feature="the HDF5 readers (modelnet40-depth, scanobjectnn)")

    try:
        with h5py.File(h5_path, "r") as handle:
            points = np.asarray(handle["data"][row], dtype=np.float64)[:, :3]
    except (OSError, KeyError, ValueError, IndexError, RuntimeError) as error:
        raise BadItemError(f"cannot read row {row} of {h5_path} ({type(error).__name__}: {error})") from error
    images = None
    if views_dir is not None:
        view_paths = numbered_images(Path(views_dir) / str(row))
        if not view_paths:
            raise BadItemError(f"no given views <v>.png in {Path(views_dir) / str(row)}")
        images = read_rgb_list(view_paths)
    return LoadedItem(points=validate_points(points), images=images)
