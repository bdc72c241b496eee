"""One item → one encoded sample: load, sample or resample points, normalise, make views, encode.

This module runs inside the preparation worker processes. :func:`init_worker` builds the per-process renderer
once (only when views are rendered); :func:`process_item` never raises for a bad item: it returns an
:class:`ItemResult` carrying the skip reason. Unexpected errors (a broken renderer, a bug) are raised as
:class:`ItemProcessingError` naming the item, and stop the run.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from crossmost_data.datasets.registry import ViewSource
from crossmost_data.format import encode_sample
from crossmost_data.items import BadItemError, LoadedItem
from crossmost_data.mesh import validate_mesh
from crossmost_data.points import (
    normalize_to_unit_sphere,
    resample_points,
    sample_surface,
    unit_sphere_transform,
    with_layout,
)
from crossmost_data.prepare.config import PrepareConfig

if TYPE_CHECKING:
    import trimesh

__all__ = [
    "ItemProcessingError",
    "ItemResult",
    "ItemTask",
    "PreparedItem",
    "ViewSource",
    "fit_image",
    "init_worker",
    "item_rng",
    "make_item",
    "process_item",
]


class ItemProcessingError(RuntimeError):
    """An unexpected failure while preparing an item (not a bad item); the message names the item."""


@dataclass(frozen=True)
class ItemTask:
    """What a worker needs to prepare one item (picklable).

    ``label`` is -1 for an item without a class (``class_name`` ``""``), which is prepared only when
    ``unlabelled_allowed`` (the dataset declares itself unlabelled); any other label outside the class list is a
    bad item.
    """

    uid: str
    class_name: str
    label: int
    split: str
    source: str
    load: Callable[[], LoadedItem]
    dataset: str
    view_source: ViewSource
    unlabelled_allowed: bool = False


@dataclass(frozen=True)
class ItemResult:
    """The encoded sample, or the reason it was skipped."""

    uid: str
    class_name: str
    files: dict[str, bytes] | None = None
    num_views: int = 0
    reason: str | None = None


@dataclass(frozen=True)
class PreparedItem:
    """One item's stored content before encoding: the points (unit sphere, y up, the config's layout), the views
    (uint8 ``H×W×3``) and the view metadata (view source, camera poses, renderer settings)."""

    points: np.ndarray
    views: list[np.ndarray]
    view_meta: dict[str, Any]


_CONFIG: PrepareConfig | None = None
_VIEW_SOURCE: ViewSource = "given"


def init_worker(config: PrepareConfig, view_source: ViewSource) -> None:
    """Process initialiser: remember the config and create the renderer once if views are rendered."""
    global _CONFIG, _VIEW_SOURCE
    _CONFIG = config
    _VIEW_SOURCE = view_source
    if view_source == "render":
        if (config.workers or 0) > 1:
            # Mesa's software rasteriser starts one thread per core in every context; with one context per worker
            # those threads fight over the same cores and two workers render no faster than one. One rasteriser
            # thread per worker scales with the worker count (benchmarks/bench_render.py). A value the user set
            # (or a GPU driver, which ignores it) wins.
            os.environ.setdefault("LP_NUM_THREADS", "1")
        _renderer(config)


def _renderer(config: PrepareConfig) -> Any:
    from crossmost_data.views import RenderConfig, get_process_renderer

    return get_process_renderer(RenderConfig(**_view_kwargs(config, config.render_options)))


def _view_kwargs(config: PrepareConfig, options: dict[str, Any]) -> dict[str, Any]:
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
    kwargs["image_size"] = config.image_size
    if config.num_views is not None:
        kwargs["num_views"] = config.num_views
    return kwargs


def item_rng(seed: int, uid: str) -> np.random.Generator:
    """The item's random generator, a function of ``(seed, uid)`` only (independent of worker scheduling)."""
    digest = int.from_bytes(hashlib.sha256(uid.encode("utf-8")).digest()[:8], "little")
    return np.random.default_rng([seed, digest])


def fit_image(image: np.ndarray, size: int) -> np.ndarray:
    """A given view as ``size``×``size`` uint8 RGB: shorter side resized (bicubic), then centre-cropped.

    Grey images are replicated to RGB, alpha is dropped, float images in [0, 1] are scaled to [0, 255].

    Raises:
        BadItemError: The array is not an image.
    """
    from PIL import Image

    array = np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (3, 4) or min(array.shape[:2]) < 1:
        raise BadItemError(f"a given view is not an H×W×3 image (shape {array.shape})")
    array = array[:, :, :3]
    if array.dtype != np.uint8:
        if not np.isfinite(array).all():
            raise BadItemError("a given view contains NaN or infinite values")
        scale = 255.0 if np.issubdtype(array.dtype, np.floating) and array.max() <= 1.0 else 1.0
        array = np.clip(np.rint(array * scale), 0, 255).astype(np.uint8)
    height, width = array.shape[:2]
    if height == size and width == size:
        return np.ascontiguousarray(array)
    ratio = size / min(height, width)
    new_w, new_h = max(size, round(width * ratio)), max(size, round(height * ratio))
    resized = Image.fromarray(array).resize((new_w, new_h), Image.Resampling.BICUBIC)
    left, top = (new_w - size) // 2, (new_h - size) // 2
    return np.asarray(resized.crop((left, top, left + size, top + size)))


def _make_points(loaded: LoadedItem, config: PrepareConfig, rng: np.random.Generator) -> np.ndarray:
    if loaded.points is not None:
        raw = resample_points(
            loaded.points,
            config.points_per_sample,
            rng,
            min_points=config.min_points,
            downsample=config.downsample,
            upsample=config.upsample,
        )
    elif loaded.mesh is not None:
        raw = sample_surface(loaded.mesh, config.points_per_sample, rng, color=config.point_layout == "xyzrgb")
    else:
        raise BadItemError("the item has neither a mesh nor points")
    return raw


def _make_views(
    loaded: LoadedItem, points: np.ndarray, mesh: trimesh.Trimesh | None, config: PrepareConfig, view_source: str
) -> tuple[list[np.ndarray], dict[str, Any]]:
    """Views and their json metadata (view source, camera poses, renderer settings)."""
    if loaded.images is not None:
        images = list(loaded.images)
        if config.num_views is not None:
            if len(images) < config.num_views:
                raise BadItemError(f"only {len(images)} given views, {config.num_views} requested")
            images = images[: config.num_views]
        if not images:
            raise BadItemError("the item has an empty list of given views")
        return [fit_image(image, config.image_size) for image in images], {"view_source": "given"}
    if view_source == "render":
        if mesh is None:
            raise BadItemError("no mesh to render (the item has only points and no given views)")
        rendered = _renderer(config).render(mesh)
    elif view_source == "depth":
        from crossmost_data.views.depth import DepthConfig, project_depth_views

        depth_config = DepthConfig(**_view_kwargs(config, config.depth_options))
        rendered = project_depth_views(np.ascontiguousarray(points[:, :3]), depth_config)
    else:
        raise BadItemError(f"the item has no given views and the reader's view source is {view_source!r}")
    _check_not_blank(rendered.images, points, config.image_size)
    meta = {
        "view_source": view_source,
        "camera_poses": rendered.camera_poses,
        "renderer": rendered.settings,
    }
    return list(rendered.images), meta


def make_item(
    loaded: LoadedItem, config: PrepareConfig, view_source: ViewSource, rng: np.random.Generator
) -> PreparedItem:
    """Points and views of one loaded item, exactly as ``crossmost-data render`` stores them.

    This is the one code path that prepares an item: the preparation workers call it for every item of a dataset,
    and ``crossmost-train predict`` for every input file, with the settings read back from the training data's
    manifest (:mod:`crossmost_data.prepare.recipe`), so the two cannot drift apart.

    Args:
        loaded: The item's mesh or points (y up), and its given views if any.
        config: The preparation settings (points, layout, resampling, views, image size, render/depth options).
        view_source: How views are made when the item brings none: ``"render"``, ``"depth"`` or ``"given"``.
        rng: The item's random generator (see :func:`item_rng`).

    Raises:
        BadItemError: The item cannot be used (the reason says why).
    """
    if loaded.mesh is not None:
        validate_mesh(loaded.mesh)
    raw = _make_points(loaded, config, rng)
    centre, radius = unit_sphere_transform(raw[:, :3])
    points = with_layout(normalize_to_unit_sphere(raw), config.point_layout)
    mesh = None
    if loaded.mesh is not None and loaded.images is None and view_source == "render":
        # The renderer receives the mesh in the frame of the stored points: same centre and scale.
        mesh = loaded.mesh.copy()
        mesh.apply_translation(-centre)
        mesh.apply_scale(1.0 / radius)
    views, view_meta = _make_views(loaded, points, mesh, config, view_source)
    return PreparedItem(points, views, view_meta)


def _check_not_blank(images: Sequence[np.ndarray], points: np.ndarray, size: int) -> None:
    """Refuse an object whose every rendered or projected view is one flat colour: it shows nothing (a needle or a
    sheet thinner than a pixel), and views that show nothing would teach the image branch nothing."""
    if any(np.any(image != image[:1, :1]) for image in images):
        return
    extents = np.ptp(points[:, :3], axis=0)
    raise BadItemError(
        f"every view is blank: the object is too thin to cover a pixel at {size} px (its extents are "
        f"{' × '.join(f'{e:.2g}' for e in extents)} after scaling to the unit sphere)"
    )


def process_item(task: ItemTask) -> ItemResult:
    """Prepare one item in the current (worker) process; see the module docstring for the error policy."""
    config = _CONFIG if _CONFIG is not None else PrepareConfig()
    try:
        return _process(task, config)
    except BadItemError as error:
        return ItemResult(task.uid, task.class_name, reason=str(error) or type(error).__name__)
    except Exception as error:
        raise ItemProcessingError(
            f"preparing {task.uid!r} ({task.source}) failed: {type(error).__name__}: {error}"
        ) from error


def _process(task: ItemTask, config: PrepareConfig) -> ItemResult:
    if task.label < 0 and not (task.unlabelled_allowed and task.class_name == ""):
        if task.class_name == "":
            raise BadItemError("the item has no class and the dataset does not declare itself unlabelled")
        raise BadItemError(f"class {task.class_name!r} is not in the dataset's class list")
    try:
        loaded = task.load()
    except BadItemError:
        raise
    except Exception as error:  # a reader's parser may raise anything on a damaged file
        raise BadItemError(f"cannot load: {type(error).__name__}: {error}") from error
    if not isinstance(loaded, LoadedItem):
        raise TypeError(f"load() must return a LoadedItem, got {type(loaded).__name__}")
    item = make_item(loaded, config, _VIEW_SOURCE, item_rng(config.seed, task.uid))
    points, views, view_meta = item.points, item.views, item.view_meta
    meta = {
        "class_name": task.class_name or None,
        "label": task.label,
        "split": task.split,
        "source": task.source,
        "dataset": task.dataset,
        "num_points": int(points.shape[0]),
        "point_layout": config.point_layout,
        **view_meta,
    }
    files = encode_sample(task.uid, points, views, meta, config.image_format, jpeg_quality=config.jpeg_quality)
    return ItemResult(task.uid, task.class_name, files=files, num_views=len(views))
