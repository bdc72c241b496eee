"""Reading point-cloud files (.npy, .npz, .xyz, .txt, .pts, face-less .ply) into N×3 or N×6 float32 arrays.

Every problem with one file is raised as ``BadItemError`` whose message is the reason recorded in the manifest.

Colour columns: a 6-column file is ``xyz + rgb`` when columns 3–5 look like colours (all values in [0, 1], or all in
[0, 255] and not all in [0, 1]), otherwise the extra columns are taken for normals (they hold negative values)
and dropped. ``extra_columns="rgb"`` or ``"ignore"`` forces either reading. Colours come back in [0, 1].
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from pathlib import Path
from typing import Literal

import numpy as np

from crossmost_data.items import BadItemError, check_item_file

__all__ = ["POINT_SUFFIXES", "ExtraColumns", "ply_face_count", "read_point_file", "validate_points"]

POINT_SUFFIXES = (".npy", ".npz", ".xyz", ".txt", ".pts", ".ply")
ExtraColumns = Literal["auto", "rgb", "ignore"]

_NPZ_POINT_KEYS = ("points", "xyz", "pos", "pc", "point_cloud", "data")
_NPZ_COLOUR_KEYS = ("rgb", "colors", "colours", "color", "colour")
_NUMBER_SEPARATORS = re.compile(r"[,;\s]+")
# Points are stored and processed in float32, which ends at 3.4e38; stay well inside it.
_MAX_COORDINATE = 1e30


def read_point_file(path: str | os.PathLike[str], *, extra_columns: ExtraColumns = "auto") -> np.ndarray:
    """Read a point-cloud file into an N×3 (xyz) or N×6 (xyz + rgb in [0, 1]) float32 array, axes as stored.

    Supported: ``.npy`` (an N×C array, C ≥ 3), ``.npz`` (key ``points``/``xyz``/``pos``/``pc``/``data`` or the only
    array, optional ``rgb``/``colors`` key), ``.xyz``/``.txt``/``.pts`` (whitespace-, comma- or semicolon-separated
    rows of 3 or more numbers; leading header lines and ``#``/``//`` comments are skipped) and ``.ply`` point
    clouds (a ``.ply`` with faces is a mesh: read it with ``crossmost_data.mesh.load_mesh``).

    Args:
        path: The file.
        extra_columns: How to read columns 3–5 of a file with 6 or more columns (see the module docstring).

    Returns:
        Finite float32 points, at least one row.

    Raises:
        BadItemError: Missing, unreadable or malformed file, or no finite points; the message is the reason.
    """
    path, suffix = check_item_file(path, POINT_SUFFIXES, "point-cloud")
    try:
        if suffix == ".npy":
            array = np.load(path, allow_pickle=False)
            points, colours = _split_columns(np.asarray(array), extra_columns)
        elif suffix == ".npz":
            points, colours = _read_npz(path, extra_columns)
        elif suffix == ".ply":
            points, colours = _read_ply_points(path)
        else:
            points, colours = _split_columns(_read_text_table(path), extra_columns)
    except BadItemError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise BadItemError(f"unreadable {suffix[1:].upper()} file ({type(error).__name__}: {error})") from error
    if colours is not None:
        points = np.concatenate([points, colours], axis=1)
    return validate_points(points)


def validate_points(points: np.ndarray) -> np.ndarray:
    """Check an N×3/N×6 point array (finite, non-empty) and return it as float32.

    Raises:
        BadItemError: ``empty point cloud``, ``non-finite point coordinates``, ``coordinates too large to
            process``, complex or non-numeric values, or a wrong shape.
    """
    array = np.asarray(points)
    if array.ndim != 2 or array.shape[1] not in (3, 6):
        raise BadItemError(f"points must be an N×3 or N×6 array, got shape {array.shape}")
    _check_real(array.dtype)
    if array.shape[0] == 0:
        raise BadItemError("empty point cloud (0 points)")
    if not np.isfinite(array).all():
        bad_rows = int((~np.isfinite(array)).any(axis=1).sum())
        raise BadItemError(f"non-finite point coordinates (NaN or inf in {bad_rows} of {array.shape[0]} points)")
    largest = float(np.abs(array[:, :3]).max())
    if largest > _MAX_COORDINATE:
        raise BadItemError(
            f"coordinates too large to process (largest |coordinate| {largest:.3g}; points are stored and "
            f"processed in float32, which ends at 3.4e38): rescale the file"
        )
    return array.astype(np.float32, copy=False)


def _check_real(dtype: np.dtype) -> None:
    """Points are real numbers: a complex array would lose its imaginary part, a boolean one means nothing."""
    if np.issubdtype(dtype, np.complexfloating):
        raise BadItemError(f"points must be real numbers, got complex values (dtype {dtype})")
    if not (np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer)):
        raise BadItemError(f"points must be numeric, got dtype {dtype}")


def _split_columns(array: np.ndarray, extra_columns: ExtraColumns) -> tuple[np.ndarray, np.ndarray | None]:
    if array.ndim == 3 and array.shape[0] == 1:  # a batch of one, as some exporters write
        array = array[0]
    if array.ndim != 2 or array.shape[1] < 3:
        raise BadItemError(f"expected an N×3 or N×6 point array, got shape {array.shape}")
    _check_real(array.dtype)
    xyz = array[:, :3].astype(np.float64)
    if array.shape[1] < 6 or extra_columns == "ignore":
        return xyz, None
    extra = array[:, 3:6].astype(np.float64)
    if extra_columns == "rgb":
        return xyz, _colours_to_unit(extra, forced=True)
    return xyz, _colours_to_unit(extra, forced=False)


def _colours_to_unit(values: np.ndarray, *, forced: bool) -> np.ndarray | None:
    """Colours in [0, 1] from [0, 1] or [0, 255] values; ``None`` when the values are not colours (normals)."""
    if values.size == 0 or not np.isfinite(values).all():
        if forced:
            raise BadItemError("colour columns hold non-finite values")
        return None
    low, high = float(values.min()), float(values.max())
    if low >= 0.0 and high <= 1.0:
        return values
    if low >= 0.0 and high <= 255.0:
        return values / 255.0
    if forced:
        raise BadItemError(f"colour columns must lie in [0, 1] or [0, 255], got [{low:g}, {high:g}]")
    return None


def _read_npz(path: Path, extra_columns: ExtraColumns) -> tuple[np.ndarray, np.ndarray | None]:
    with np.load(path, allow_pickle=False) as archive:
        keys = list(archive.keys())
        point_key = next((key for key in _NPZ_POINT_KEYS if key in keys), None)
        if point_key is None:
            if len(keys) != 1:
                raise BadItemError(f"no point array in .npz: expected one of {', '.join(_NPZ_POINT_KEYS)}, got {keys}")
            point_key = keys[0]
        points, colours = _split_columns(np.asarray(archive[point_key]), extra_columns)
        colour_key = next((key for key in _NPZ_COLOUR_KEYS if key in keys), None)
        if colour_key is not None:
            colour_array = np.asarray(archive[colour_key], dtype=np.float64)
            if colour_array.ndim != 2 or colour_array.shape[0] != points.shape[0] or colour_array.shape[1] < 3:
                raise BadItemError(
                    f"colour array {colour_key!r} has shape {colour_array.shape}, expected {points.shape[0]}×3"
                )
            colours = _colours_to_unit(colour_array[:, :3], forced=True)
    return points, colours


def _read_text_table(path: Path) -> np.ndarray:
    text = path.read_text(encoding="utf-8", errors="replace")
    rows: list[list[float]] = []
    width: int | None = None
    for line_number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.strip()
        if not line or line.startswith(("#", "//")):
            continue
        tokens = [token for token in _NUMBER_SEPARATORS.split(line) if token]
        try:
            values = [float(token) for token in tokens]
        except ValueError:
            if not rows:  # header lines before the first numeric row (column names, a point count, ...)
                continue
            raise BadItemError(f"line {line_number} is not numeric: {raw_line[:80]!r}") from None
        if len(values) < 3:
            if not rows:  # a lone point count such as "2048"
                continue
            raise BadItemError(f"line {line_number} has {len(values)} values, expected at least 3")
        if width is None:
            width = len(values)
        elif len(values) != width:
            raise BadItemError(f"line {line_number} has {len(values)} values, the first data row has {width}")
        rows.append(values)
    if not rows:
        raise BadItemError("empty point cloud (no numeric rows of 3 or more values)")
    return np.asarray(rows, dtype=np.float64)


def _read_ply_points(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    import trimesh

    try:
        loaded = trimesh.load(io.BytesIO(path.read_bytes()), file_type="ply", process=False)
    except Exception as error:  # the PLY parser raises anything on garbage input
        raise BadItemError(f"unreadable PLY file ({type(error).__name__}: {error})") from error
    if isinstance(loaded, trimesh.Trimesh) and len(loaded.faces) > 0:
        raise BadItemError("PLY file has faces: it is a mesh, not a point cloud")
    vertices = np.asarray(getattr(loaded, "vertices", np.empty((0, 3))), dtype=np.float64)
    colours = None
    raw_colours = getattr(loaded, "colors", None)
    if isinstance(loaded, trimesh.PointCloud) and raw_colours is not None and len(raw_colours) == len(vertices) > 0:
        colours = np.asarray(raw_colours, dtype=np.float64)[:, :3] / 255.0
    return vertices, colours


def ply_face_count(path: str | os.PathLike[str]) -> int:
    """The number of faces a ``.ply`` header declares (0 for a point cloud), read without parsing the body.

    Raises:
        BadItemError: The file is missing or its header is not a PLY header.
    """
    path = Path(path)
    try:
        with path.open("rb") as stream:
            header = stream.read(65536)
    except OSError as error:
        raise BadItemError(f"unreadable PLY file ({type(error).__name__}: {error})") from error
    end = header.find(b"end_header")
    if not header.startswith(b"ply") or end < 0:
        raise BadItemError("not a PLY file (no 'ply' magic or 'end_header' line)")
    for line in header[:end].decode("ascii", errors="replace").splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "element" and parts[1] == "face":
            try:
                return int(parts[2])
            except ValueError:
                raise BadItemError(f"malformed PLY header line {line!r}") from None
    return 0
