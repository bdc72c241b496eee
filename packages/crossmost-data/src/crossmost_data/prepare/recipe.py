"""How the items of a prepared dataset were made, read back from its manifest, so that new files (the inputs of
``crossmost-train predict``) are prepared exactly as the training data was: the same up axis, point count and
resampling, point layout, view source, number and size of views, and renderer or depth-projection settings.

A :class:`Recipe` plus :func:`prepare_file` is the same code path as ``crossmost-data render``
(:func:`crossmost_data.prepare.worker.make_item`); only the loading of a loose file is added.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crossmost_data.datasets import get_reader
from crossmost_data.datasets.folder import load_folder_item
from crossmost_data.format.manifest import Manifest
from crossmost_data.items import BadItemError, make_uid
from crossmost_data.mesh import UpAxis
from crossmost_data.prepare.config import RUN_ONLY_FIELDS, PrepareConfig
from crossmost_data.prepare.worker import PreparedItem, ViewSource, item_rng, make_item

__all__ = ["Recipe", "default_recipe", "prepare_file", "recipe_from_manifest"]

_AXES: dict[str, UpAxis] = {"x": "x", "y": "y", "z": "z"}


@dataclass(frozen=True)
class Recipe:
    """The settings that prepare one item.

    Attributes:
        prepare: Points, layout, resampling, views, image size, render and depth options.
        view_source: ``"render"`` (meshes rendered), ``"depth"`` (projections of the points) or ``"given"``
            (the dataset brought its own images: a loose mesh is then rendered, a loose cloud projected).
        up_axis: The axis that points up in the raw files; it is rotated to y.
        origin: Where the settings come from (for messages): a manifest path, or ``"defaults"``.
    """

    prepare: PrepareConfig
    view_source: ViewSource
    up_axis: UpAxis = "y"
    origin: str = "defaults"

    def replace(
        self,
        *,
        up_axis: UpAxis | None = None,
        points: int | None = None,
        views: int | None = None,
        view_source: ViewSource | None = None,
    ) -> Recipe:
        """This recipe with the given settings changed (``None`` keeps one)."""
        prepare = self.prepare
        if points is not None:
            prepare = dataclasses.replace(prepare, points_per_sample=points, min_points=1)
        if views is not None:
            prepare = dataclasses.replace(prepare, num_views=views)
        return dataclasses.replace(
            self, prepare=prepare, up_axis=up_axis or self.up_axis, view_source=view_source or self.view_source
        )

    def describe(self) -> str:
        """One line: ``z up, 1024 points (random downsampling), 10 views of 64 px (depth projections)``."""
        p = self.prepare
        how = {
            "render": "meshes rendered, point clouds depth-projected",
            "depth": "depth projections",
            "given": "the data brought its own views: meshes rendered, point clouds depth-projected",
        }[self.view_source]
        count = p.num_views if p.num_views is not None else "the default number of"
        points = f"{p.points_per_sample} points ({p.downsample} downsampling)"
        return f"{self.up_axis} up, {points}, {count} views of {p.image_size} px ({how})"


def default_recipe(
    *, points: int, views: int = 10, image_size: int = 224, view_source: ViewSource = "render"
) -> Recipe:
    """The recipe when no training data says how: y up, ``points`` random surface or cloud samples, rendered views."""
    prepare = PrepareConfig(points_per_sample=points, min_points=1, num_views=views, image_size=image_size)
    return Recipe(prepare, view_source)


def _reader_up_axis(reader: dict[str, Any]) -> UpAxis:
    """The up axis of a reader's raw files: its ``up_axis`` option, else the reader's own convention."""
    options = dict(reader.get("options") or {})
    axis = options.get("up_axis")
    if axis is None:
        try:
            axis = getattr(get_reader(str(reader.get("name", "")), **options), "up_axis", "y")
        except (KeyError, ValueError, TypeError):
            axis = "y"
    return _AXES.get(str(axis), "y")


def recipe_from_manifest(manifest: Manifest, where: str | os.PathLike[str] = "the manifest") -> Recipe:
    """The recipe a prepared dataset was made with (``manifest.config``).

    Given points smaller than the stored count are upsampled rather than refused (``min_points`` 1): a loose file
    is one object the user wants classified.
    """
    config = dict(manifest.config.get("prepare") or {})
    reader = dict(manifest.config.get("reader") or {})
    known = {f.name for f in dataclasses.fields(PrepareConfig)} - RUN_ONLY_FIELDS
    values = {k: v for k, v in config.items() if k in known and k not in ("splits", "max_items")}
    values.update(points_per_sample=manifest.points_per_sample, image_size=manifest.image_size, min_points=1)
    values["num_views"] = manifest.num_views or values.get("num_views")
    view_source = reader.get("view_source", "render")
    return Recipe(
        PrepareConfig(**values),
        view_source if view_source in ("render", "depth", "given") else "render",
        _reader_up_axis(reader),
        str(where),
    )


def prepare_file(
    path: str | os.PathLike[str], recipe: Recipe, *, seed: int = 0, uid: str | None = None
) -> PreparedItem:
    """Load a mesh or point-cloud file and prepare it with ``recipe``.

    The randomness is that of an item ``uid`` (default: made from the file name) of a dataset prepared with
    ``seed``: the same file, uid and seed give the bytes ``crossmost-data render`` stored.

    Point clouds cannot be rendered, and a dataset with given views has no rule for a loose file: meshes are then
    rendered and clouds depth-projected (``view_meta["view_source"]`` says which).

    Raises:
        BadItemError: The file cannot be read or used (the reason says why).
    """
    file = Path(path)
    try:
        loaded = load_folder_item(str(file), recipe.up_axis, None, "auto")
    except BadItemError:
        raise
    except Exception as error:  # a mesh or point parser may raise anything on a damaged file
        raise BadItemError(f"cannot load: {type(error).__name__}: {error}") from error
    source: ViewSource = recipe.view_source
    if source == "given" or (source == "render" and loaded.mesh is None):
        source = "render" if loaded.mesh is not None else "depth"
    return make_item(loaded, recipe.prepare, source, item_rng(seed, uid or make_uid(file.name)))
