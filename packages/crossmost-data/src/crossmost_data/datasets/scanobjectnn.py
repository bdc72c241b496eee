"""ScanObjectNN from the official h5 release (``h5_files.zip``), in its three variants.

- ``obj-only`` (OBJ_ONLY): ``main_split_nobg/training_objectdataset.h5`` and ``main_split_nobg/test_objectdataset.h5``;
- ``obj-bg`` (OBJ_BG): ``main_split/training_objectdataset.h5`` and ``main_split/test_objectdataset.h5``;
- ``hardest`` (PB_T50_RS): ``main_split/training_objectdataset_augmentedrot_scale75.h5`` and
  ``main_split/test_objectdataset_augmentedrot_scale75.h5``.

Each file holds ``data`` (N×2048×3 float32), ``label`` (N) and ``mask`` (per-point object/background ids, unused:
the background points are part of the obj-bg and hardest tasks). The expected counts are frozen here (2309/581
for obj-only and obj-bg, 11416/2882 for hardest) and a mismatch fails loudly, because a silently swapped variant is
the most common reason for chance-level ScanObjectNN results.

Axes: the points are used as stored. y is the gravity axis of ScanObjectNN (hkust-vgd/scanobjectnn#33; its own
augmentation rotates about y), which already matches crossmost's y-up convention; the official Cross-MoST code
applies no conversion either.

Views: existing PointCLIP-V2-style depth images ``<h5 dir>/<h5 name without .h5>image/<row>/<v>.png`` are used
when that folder exists; otherwise the views are depth projections of the points (``view_source = "depth"``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

from crossmost_data.datasets._h5 import load_h5_item, read_h5_labels
from crossmost_data.datasets._layout import check_bool, check_count, relative_source, require_dir, unique_uids
from crossmost_data.datasets.class_lists import SCANOBJECTNN_CLASSES
from crossmost_data.datasets.registry import DatasetLayoutError, ViewSource
from crossmost_data.items import SourceItem, make_uid

__all__ = ["SCANOBJECTNN_VARIANTS", "ScanObjectNNReader"]

_SPLITS = ("train", "test")
_DOWNLOAD = (
    "ScanObjectNN is distributed by its authors after a terms-of-use form (https://hkust-vgd.github.io/scanobjectnn/);"
    " unzip h5_files.zip and pass the h5_files folder (holding main_split/ and main_split_nobg/) as the root."
)

# variant → split → (path relative to the root, official number of objects)
SCANOBJECTNN_VARIANTS: dict[str, dict[str, tuple[str, int]]] = {
    "obj-only": {
        "train": ("main_split_nobg/training_objectdataset.h5", 2309),
        "test": ("main_split_nobg/test_objectdataset.h5", 581),
    },
    "obj-bg": {
        "train": ("main_split/training_objectdataset.h5", 2309),
        "test": ("main_split/test_objectdataset.h5", 581),
    },
    "hardest": {
        "train": ("main_split/training_objectdataset_augmentedrot_scale75.h5", 11416),
        "test": ("main_split/test_objectdataset_augmentedrot_scale75.h5", 2882),
    },
}

_ALIASES = {
    "objonly": "obj-only",
    "nobg": "obj-only",
    "objbg": "obj-bg",
    "withbg": "obj-bg",
    "bg": "obj-bg",
    "pbt50rs": "hardest",
    "augmentedrotscale75": "hardest",
}


def _canonical_variant(variant: str) -> str:
    key = str(variant).strip().lower()
    if key in SCANOBJECTNN_VARIANTS:
        return key
    compact = key.replace("-", "").replace("_", "").replace(" ", "")
    resolved = _ALIASES.get(compact, compact if compact in SCANOBJECTNN_VARIANTS else None)
    if resolved is None:
        raise ValueError(
            f"unknown ScanObjectNN variant {variant!r}; choose one of {', '.join(SCANOBJECTNN_VARIANTS)} "
            "(OBJ_ONLY, OBJ_BG and PB_T50_RS in the paper's names)"
        )
    return resolved


class ScanObjectNNReader:
    """The ``scanobjectnn`` reader.

    Args:
        variant: ``"obj-only"``, ``"obj-bg"`` or ``"hardest"`` (also accepted: ``OBJ_ONLY``, ``OBJ_BG``,
            ``PB_T50_RS`` and similar spellings).
        use_given_views: Use existing depth images next to the h5 files when their folder exists.
        strict_counts: Fail when a split does not have the official number of objects (warn with ``False``).
    """

    name = "scanobjectnn"
    view_source: ViewSource = "depth"

    def __init__(self, *, variant: str = "hardest", use_given_views: bool = True, strict_counts: bool = True) -> None:
        self.variant = _canonical_variant(variant)
        self.use_given_views = check_bool(use_given_views, "use_given_views")
        self.strict_counts = check_bool(strict_counts, "strict_counts")

    def __repr__(self) -> str:
        return f"ScanObjectNNReader(variant={self.variant!r}, use_given_views={self.use_given_views})"

    def class_names(self, root: Path) -> list[str]:
        """The 15 classes in label order (bag 0 … toilet 14)."""
        return list(SCANOBJECTNN_CLASSES)

    def splits(self, root: Path) -> list[str]:
        """``["train", "test"]``."""
        return list(_SPLITS)

    def h5_file(self, root: Path, split: str) -> Path:
        """The h5 file of ``split`` for this variant (checked to exist)."""
        root = Path(root).expanduser()
        require_dir(root, "the ScanObjectNN h5_files folder", _DOWNLOAD)
        relative, _ = SCANOBJECTNN_VARIANTS[self.variant][split]
        path = root / relative
        if not path.is_file():
            hint = ""
            if (root / "h5_files").is_dir():
                hint = f" (found {root / 'h5_files'}: pass that folder as the root)"
            elif root.name in ("main_split", "main_split_nobg"):
                hint = f" (the root must be the folder that holds {root.name}/, i.e. {root.parent})"
            raise DatasetLayoutError(
                f"expected the ScanObjectNN {self.variant} {split} file at {path}, but it is missing{hint}. {_DOWNLOAD}"
            )
        return path

    def iter_items(self, root: Path, split: str) -> Iterator[SourceItem]:
        """One item per row of the variant's h5 file, in row order."""
        if split not in _SPLITS:
            raise ValueError(f"{self.name} has no split {split!r}; splits: {', '.join(_SPLITS)}")
        root = Path(root).expanduser()
        path = self.h5_file(root, split)
        classes = self.class_names(root)
        labels = read_h5_labels(path, len(classes), _DOWNLOAD)
        _, expected = SCANOBJECTNN_VARIANTS[self.variant][split]
        check_count(
            len(labels), expected, what=f"ScanObjectNN {self.variant} {split}", where=root, strict=self.strict_counts
        )
        views_dir = path.parent / f"{path.stem}image"
        given = str(views_dir) if self.use_given_views and views_dir.is_dir() else None
        source = relative_source(path, root)
        items = (
            SourceItem(
                uid=make_uid(f"{self.name}-{self.variant}-{split}-{row:05d}"),
                class_name=classes[label],
                split=split,
                source=f"{source}[{row}]",
                load=functools.partial(load_h5_item, str(path), row, given),
            )
            for row, label in enumerate(labels.tolist())
        )
        yield from unique_uids(items, root)
