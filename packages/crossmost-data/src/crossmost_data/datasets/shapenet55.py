"""ShapeNet-55 from ULIP's ``shapenet-55`` bundle (used for pre-training the point branch).

Layout (``<root>`` = the bundle folder):

- ``train.txt`` / ``test.txt``: lines ``<taxonomyId>-<modelId>.npy``;
- ``taxonomy.json``: a list of ``{"synsetId": ..., "name": "airplane,aeroplane,plane", ...}``;
- ``shape_names.txt`` (optional): the 55 class names, one a line, in label order;
- points ``<pc_root>/<taxonomyId>-<modelId>.npy`` (8192×3, y-up), ``pc_root`` defaulting to ``<root>/shapenet_pc``;
- views ``<image_root>/<tax>-<model>/<tax>-<model>_r_<DDD>.png`` for DDD = 000, 012, …, 348 (30 rotations; the
  depth maps add ``_depth0001``), ``image_root`` defaulting to ``<root>/rendered_images``.

Class names follow ULIP: the first synonym of the synset's taxonomy name, with display→monitor, vessel→ship and
ashcan→trashcan. Without ``shape_names.txt`` the classes are ordered by synset id. The renders are optional (the
full bundle is hundreds of GB): without ``image_root`` the views are depth projections of the points.
"""

from __future__ import annotations

import functools
import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from crossmost_data.datasets._images import read_rgb_list
from crossmost_data.datasets._layout import (
    LayoutWarning,
    check_bool,
    check_count,
    check_positive_int,
    read_lines,
    relative_source,
    require_dir,
    require_file,
    unique_uids,
)
from crossmost_data.datasets.class_lists import SHAPENET55_NAME_FIXES
from crossmost_data.datasets.point_files import read_point_file
from crossmost_data.datasets.registry import DatasetLayoutError, ViewSource
from crossmost_data.items import LoadedItem, SourceItem, make_uid

__all__ = ["ShapeNet55Reader", "ulip_class_name"]

_SPLITS = ("train", "test")
_NUM_ROTATIONS = 30
_DOWNLOAD = (
    "It is the 'shapenet-55' folder of ULIP's data release (see github.com/salesforce/ULIP, 'Pre-train on "
    "ShapeNet'); the point clouds alone are enough, the renders are optional."
)
_EXPECTED_COUNTS = {"train": 41952, "test": 10518}
ImageKind = Literal["rgb", "depth", "none"]


def ulip_class_name(taxonomy_name: str) -> str:
    """ULIP's class name for a taxonomy entry: the first synonym, with display/vessel/ashcan renamed."""
    first = taxonomy_name.split(",")[0].strip()
    return SHAPENET55_NAME_FIXES.get(first, first)


def rotation_views(count: int) -> list[int]:
    """Which of the 30 render rotations to use: ``count`` of them, equally spaced around the object."""
    count = min(count, _NUM_ROTATIONS)
    return [index * _NUM_ROTATIONS // count for index in range(count)]


def load_shapenet_item(points_path: str, view_paths: tuple[str, ...] | None) -> LoadedItem:
    """Load one ShapeNet-55 cloud (y-up as stored) and its chosen renders."""
    points = read_point_file(points_path)
    images = read_rgb_list([Path(path) for path in view_paths]) if view_paths is not None else None
    return LoadedItem(points=points, images=images)


class ShapeNet55Reader:
    """The ``shapenet55`` reader.

    Args:
        pc_root: Folder of the ``.npy`` clouds (default ``<root>/shapenet_pc``).
        image_root: Folder of the renders (default ``<root>/rendered_images``; views are projected from the
            points when it does not exist).
        image_kind: ``"rgb"`` renders, ``"depth"`` renders (``_depth0001``) or ``"none"`` (always project).
        num_views: How many of the 30 rotations to keep, equally spaced (10 = every 36°).
        strict_counts: Fail when a list file does not have the official number of models (warn with ``False``).
    """

    name = "shapenet55"

    def __init__(
        self,
        *,
        pc_root: str | Path | None = None,
        image_root: str | Path | None = None,
        image_kind: ImageKind = "rgb",
        num_views: int = 10,
        strict_counts: bool = True,
    ) -> None:
        if image_kind not in ("rgb", "depth", "none"):
            raise ValueError(f"image_kind must be 'rgb', 'depth' or 'none', got {image_kind!r}")
        self.pc_root = Path(pc_root).expanduser() if pc_root not in (None, "") else None
        self.image_root = Path(image_root).expanduser() if image_root not in (None, "") else None
        self.image_kind: ImageKind = image_kind
        self.num_views = check_positive_int(num_views, "num_views")
        self.strict_counts = check_bool(strict_counts, "strict_counts")
        # Items whose renders exist bring them in LoadedItem.images; the rest are projected from the points.
        self.view_source: ViewSource = "depth"

    def __repr__(self) -> str:
        return (
            f"ShapeNet55Reader(pc_root={self.pc_root!r}, image_root={self.image_root!r}, "
            f"image_kind={self.image_kind!r}, num_views={self.num_views})"
        )

    def splits(self, root: Path) -> list[str]:
        """``["train", "test"]`` (ULIP pre-trains on both)."""
        return list(_SPLITS)

    def synset_names(self, root: Path) -> dict[str, str]:
        """Synset id → ULIP class name, from ``taxonomy.json``."""
        root = Path(root).expanduser()
        path = require_file(root / "taxonomy.json", "ShapeNet's taxonomy.json (synsetId → name)", _DOWNLOAD)
        try:
            entries = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise DatasetLayoutError(f"cannot read {path}: {error}") from error
        if isinstance(entries, dict):  # also accept a plain {synsetId: name} mapping
            return {str(key): ulip_class_name(str(value)) for key, value in entries.items()}
        if not isinstance(entries, list) or not all(
            isinstance(entry, dict) and "synsetId" in entry and "name" in entry for entry in entries
        ):
            raise DatasetLayoutError(f"{path} must be a list of objects with 'synsetId' and 'name'")
        return {str(entry["synsetId"]): ulip_class_name(str(entry["name"])) for entry in entries}

    def class_names(self, root: Path) -> list[str]:
        """The 55 names: ``shape_names.txt`` order when it lists exactly the synsets' names, else by synset id."""
        root = Path(root).expanduser()
        synsets = sorted({synset for split in _SPLITS for synset, _ in self._entries(root, split)})
        names_by_synset = self.synset_names(root)
        unknown = [synset for synset in synsets if synset not in names_by_synset]
        if unknown:
            raise DatasetLayoutError(
                f"{root / 'taxonomy.json'} has no entry for synset(s) {', '.join(unknown[:5])} used in the lists"
            )
        derived = list(dict.fromkeys(names_by_synset[synset] for synset in synsets))
        shape_names = root / "shape_names.txt"
        if shape_names.is_file():
            listed = read_lines(shape_names)
            if sorted(listed) == sorted(derived) and len(set(listed)) == len(listed):
                return listed
            warnings.warn(
                f"{shape_names} does not list the names derived from taxonomy.json (ULIP's first-synonym rule); "
                "using the derived names ordered by synset id",
                LayoutWarning,
                stacklevel=2,
            )
        return derived

    def iter_items(self, root: Path, split: str) -> Iterator[SourceItem]:
        """The models of ``split`` in list-file order."""
        if split not in _SPLITS:
            raise ValueError(f"{self.name} has no split {split!r}; splits: {', '.join(_SPLITS)}")
        root = Path(root).expanduser()
        entries = self._entries(root, split)
        check_count(
            len(entries), _EXPECTED_COUNTS[split], what=f"{self.name} {split}", where=root, strict=self.strict_counts
        )
        names_by_synset = self.synset_names(root)
        classes = set(self.class_names(root))
        pc_root = require_dir(
            self.pc_root or root / "shapenet_pc", "the ShapeNet-55 point clouds (<tax>-<model>.npy)", _DOWNLOAD
        )
        image_root = self._image_root(root)
        suffix = "_depth0001" if self.image_kind == "depth" else ""
        rotations = rotation_views(self.num_views)
        items = []
        for synset, stem in entries:
            class_name = names_by_synset.get(synset)
            if class_name is None or class_name not in classes:
                raise DatasetLayoutError(f"{root / 'taxonomy.json'} has no class for synset {synset} ({stem})")
            view_paths = None
            if image_root is not None:
                view_paths = tuple(
                    str(image_root / stem / f"{stem}_r_{12 * rotation:03d}{suffix}.png") for rotation in rotations
                )
            points_path = pc_root / f"{stem}.npy"
            items.append(
                SourceItem(
                    uid=make_uid(f"{self.name}-{split}-{stem}"),
                    class_name=class_name,
                    split=split,
                    source=relative_source(points_path, root),
                    load=functools.partial(load_shapenet_item, str(points_path), view_paths),
                )
            )
        yield from unique_uids(items, root)

    def _image_root(self, root: Path) -> Path | None:
        if self.image_kind == "none":
            return None
        if self.image_root is not None:
            return require_dir(
                self.image_root, "the ShapeNet-55 renders (<tax>-<model>/<tax>-<model>_r_000.png)", _DOWNLOAD
            )
        default = root / "rendered_images"
        if default.is_dir():
            return default
        warnings.warn(
            f"no ShapeNet-55 renders at {default}: the views will be depth projections of the points "
            "(pass image_root=... to use renders kept elsewhere, or image_kind='none' to silence this)",
            LayoutWarning,
            stacklevel=3,
        )
        return None

    def _entries(self, root: Path, split: str) -> list[tuple[str, str]]:
        """``(synset id, '<tax>-<model>')`` for each line of ``<split>.txt``."""
        require_dir(root, "the ULIP shapenet-55 folder", _DOWNLOAD)
        list_file = require_file(root / f"{split}.txt", f"the ShapeNet-55 {split} list", _DOWNLOAD)
        entries = []
        for line in read_lines(list_file):
            stem = line[: -len(".npy")] if line.endswith(".npy") else line
            synset, separator, model = stem.partition("-")
            if not separator or not synset or not model:
                raise DatasetLayoutError(f"{list_file}: line {line!r} is not of the form <taxonomyId>-<modelId>.npy")
            entries.append((synset, stem))
        return entries
