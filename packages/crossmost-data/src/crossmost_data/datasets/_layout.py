"""Small helpers shared by the readers: layout checks, list files, deterministic splits and frame choice."""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from crossmost_data.datasets.registry import DatasetLayoutError
from crossmost_data.items import SourceItem

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp"})


class LayoutWarning(UserWarning):
    """The raw layout is usable but differs from the official one (a fallback split, a count mismatch, ...)."""


def require_dir(path: Path, what: str, download: str) -> Path:
    """``path`` if it is a directory, else a ``DatasetLayoutError`` naming it, what it should hold and its source."""
    if not path.is_dir():
        raise DatasetLayoutError(f"expected {what} at {path}, but it is {_state(path)}. {download}")
    return path


def require_file(path: Path, what: str, download: str) -> Path:
    """``path`` if it is a file, else a ``DatasetLayoutError`` naming it, what it should hold and its source."""
    if not path.is_file():
        raise DatasetLayoutError(f"expected {what} at {path}, but it is {_state(path)}. {download}")
    return path


def _state(path: Path) -> str:
    if not path.exists():
        return "missing"
    return "a directory" if path.is_dir() else "not a directory"


def read_lines(path: Path) -> list[str]:
    """The non-empty, stripped lines of a text file (list files, class files), ``#`` comments dropped."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise DatasetLayoutError(f"cannot read list file {path}: {error}") from error
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def hashed_split(key: str, test_fraction: float) -> str:
    """``"test"`` for a deterministic ``test_fraction`` of keys, else ``"train"``.

    The rule: the first 8 hex digits of ``sha1(key)`` read as an integer and divided by 2**32 fall below
    ``test_fraction``. It depends only on the key, so adding or removing other items never moves an item.
    """
    value = int(hashlib.sha1(key.encode("utf-8")).hexdigest()[:8], 16) / 2**32
    return "test" if value < test_fraction else "train"


HASHED_SPLIT_RULE = "split = 'test' if int(sha1(key)[:8], 16) / 2**32 < test_fraction else 'train'"


def stratified_test_count(count: int, test_fraction: float) -> int:
    """Objects of a group of ``count`` that go to ``test``: ``test_fraction`` of them rounded, at least one when the
    fraction is positive and the group has two or more, and never the whole group."""
    if count < 2 or test_fraction <= 0:
        return 0
    return min(max(1, int(count * test_fraction + 0.5)), count - 1)


def stratified_split(keys: Sequence[str], test_fraction: float) -> dict[str, str]:
    """``key → "train" | "test"`` for one group (a class): the :func:`stratified_test_count` keys with the lowest
    hash (the value :func:`hashed_split` compares) go to ``test``. It depends only on the group's keys, so the same
    files always give the same split, and every class gets its share."""
    ranked = sorted(keys, key=lambda key: (hashlib.sha1(key.encode("utf-8")).hexdigest(), key))
    test = set(ranked[: stratified_test_count(len(ranked), test_fraction)])
    return {key: "test" if key in test else "train" for key in keys}


def check_fraction(value: Any, option: str) -> float:
    """``value`` as a float in [0, 1), or a ``ValueError`` naming the option."""
    try:
        fraction = float(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{option} must be a number in [0, 1), got {value!r}") from error
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"{option} must be in [0, 1), got {fraction}")
    return fraction


def check_positive_int(value: Any, option: str) -> int:
    """``value`` as a positive int (accepting numeric strings from the command line), else a ``ValueError``."""
    try:
        number = int(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{option} must be a positive integer, got {value!r}") from error
    if number <= 0 or (isinstance(value, float) and value != number):
        raise ValueError(f"{option} must be a positive integer, got {value!r}")
    return number


def check_bool(value: Any, option: str) -> bool:
    """``value`` as a bool, accepting the strings true/false/yes/no/1/0 from the command line."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{option} must be true or false, got {value!r}")


def evenly_spaced(count: int, wanted: int) -> list[int]:
    """``wanted`` indices spread evenly over ``range(count)``, first and last included; all when ``count <= wanted``.

    The rule is ``round(i * (count - 1) / (wanted - 1))`` for ``i`` in ``range(wanted)``, e.g.
    ``evenly_spaced(30, 10) == [0, 3, 6, 10, 13, 16, 19, 23, 26, 29]``: suited to video frames, where the first
    and the last frame are the two ends of the scan.
    """
    if count <= wanted:
        return list(range(count))
    if wanted == 1:
        return [0]
    return [round(i * (count - 1) / (wanted - 1)) for i in range(wanted)]


def image_files(folder: Path) -> list[Path]:
    """The image files directly inside ``folder``, sorted by name (empty when the folder is missing)."""
    if not folder.is_dir():
        return []
    return sorted(
        (path for path in folder.iterdir() if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES),
        key=lambda path: path.name,
    )


def numbered_images(folder: Path) -> list[Path]:
    """The images named ``<int>.<ext>`` in ``folder``, ordered by their number (``2.png`` before ``10.png``)."""
    numbered = [path for path in image_files(folder) if path.stem.isdigit()]
    return sorted(numbered, key=lambda path: int(path.stem))


def unique_uids(items: Iterable[SourceItem], where: Path) -> Iterator[SourceItem]:
    """Pass items through, raising ``DatasetLayoutError`` when a uid repeats (two files that sanitise alike)."""
    seen: dict[str, str] = {}
    for item in items:
        previous = seen.get(item.uid)
        if previous is not None:
            raise DatasetLayoutError(
                f"two items under {where} map to the same uid {item.uid!r}: {previous} and {item.source}"
            )
        seen[item.uid] = item.source
        yield item


def check_count(found: int, expected: int | None, *, what: str, where: Path, strict: bool) -> None:
    """Compare an item count with the official one: error when ``strict``, warning otherwise."""
    if expected is None or found == expected:
        return
    message = (
        f"{what} under {where} has {found} items, the official release has {expected}; the folder is partial, "
        "modified or a different variant"
    )
    if strict:
        raise DatasetLayoutError(f"{message}. Pass strict_counts=False to read it anyway.")
    warnings.warn(message, LayoutWarning, stacklevel=3)


def relative_source(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` with forward slashes, or the absolute path when it lies outside ``root``."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def first_existing(candidates: Sequence[Path]) -> Path | None:
    """The first path of ``candidates`` that exists, else ``None``."""
    for candidate in candidates:
        if candidate.exists():
            return candidate
    return None


def integer_labels(values: Any, num_classes: int, *, where: str, item: str = "row") -> np.ndarray:
    """A dataset file's labels as int64, checked: whole numbers (integer-valued floats are accepted) in
    ``[0, num_classes)``.

    Raises:
        DatasetLayoutError: A label is not a whole number or is out of range; the message starts with ``where`` and
            names the first offending ``item`` ("row 3 has label 40, outside [0, 40)").
    """
    labels = np.asarray(values).reshape(-1)
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        rounded = np.rint(labels.astype(np.float64))
        if not np.array_equal(rounded, labels):
            raise DatasetLayoutError(f"{where}: 'label' holds non-integer values")
        labels = rounded
    labels = labels.astype(np.int64)
    out_of_range = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if out_of_range.size:
        first = int(out_of_range[0])
        raise DatasetLayoutError(
            f"{where}: {item} {first} has label {labels[first]}, outside [0, {num_classes}); "
            "is this the right dataset or variant?"
        )
    return labels
