"""The ``synthetic`` dataset reader: procedural objects of both domains, generated on demand, no files needed."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from crossmost_data.datasets.synthetic.scan import make_scan
from crossmost_data.datasets.synthetic.shapes import SYNTHETIC_CLASSES, generate_shape
from crossmost_data.items import LoadedItem, SourceItem

if TYPE_CHECKING:
    import trimesh

__all__ = ["SyntheticItemSpec", "SyntheticReader", "load_synthetic_item"]

Domain = Literal["source", "target", "corpus"]
_DOMAIN_IDS = {"source": 1, "target": 2, "corpus": 3}
_SPLITS = ("train", "test")


@dataclass(frozen=True)
class SyntheticItemSpec:
    """Everything needed to rebuild one synthetic object (picklable; the item's ``load`` is a partial of it)."""

    domain: Domain
    class_name: str
    index: int
    seed: int
    partiality: float
    noise: float
    clutter: float
    scan_points: int
    num_views: int
    view_size: int
    target_views: Literal["depth", "render"]
    view_shift: float = 1.0
    view_shift_min: float | None = None
    occlusion: float = 0.0

    def rng(self) -> np.random.Generator:
        """The object's generator: a function of (seed, domain, class, index) only."""
        class_id = SYNTHETIC_CLASSES.index(self.class_name)
        return np.random.default_rng([self.seed, _DOMAIN_IDS[self.domain], class_id, self.index])


def _target_views(points: np.ndarray, spec: SyntheticItemSpec) -> list[np.ndarray]:
    from crossmost_data.views.depth import DepthConfig, project_depth_views

    grid = min(spec.view_size, 112)  # one cell per pixel up to PointCLIP V2's grid; larger views are upsampled
    config = DepthConfig(
        num_views=spec.num_views,
        layout="ring",
        elevation_deg=20.0,
        grid_size=grid,
        image_size=spec.view_size,
        object_ratio=0.95,
        densify_kernel=3 if grid <= 40 else 5,
    )
    return project_depth_views(points, config).images


_DARK_DESATURATION = 0.65
"""Share of each colour replaced by its grey at ``view_shift`` 1."""
_DARK_LOOK: dict[str, Any] = {
    "elevation_deg": 3.0,
    "background": (60, 60, 70),
    "lights": "raymond",
    "light_intensity": 1.2,
    "ambient": 0.15,
}
"""The render settings of the target's look at ``view_shift`` 1 (the source renders' are ``RenderConfig()``)."""


def _target_renders(mesh: trimesh.Trimesh, spec: SyntheticItemSpec, rng: np.random.Generator) -> list[np.ndarray]:
    import trimesh

    from crossmost_data.views import RenderConfig, get_process_renderer

    # Another look than the source renders, ``view_shift`` of the way from the source look (on a turned object) to
    # the dark look: washed-out colours, dim light from many sides, a dark background, a lower camera.
    low = spec.view_shift if spec.view_shift_min is None else spec.view_shift_min
    shift = float(rng.uniform(low, spec.view_shift)) if low < spec.view_shift else spec.view_shift
    source = RenderConfig()

    def toward_dark(name: str) -> Any:
        start = np.asarray(getattr(source, name), dtype=np.float64)
        return start + (np.asarray(_DARK_LOOK[name], dtype=np.float64) - start) * shift

    visual: Any = mesh.visual
    colours = np.asarray(visual.face_colors, dtype=np.float64)
    grey = colours[:, :3].mean(axis=1, keepdims=True)
    colours[:, :3] = (1.0 - _DARK_DESATURATION * shift) * colours[:, :3] + _DARK_DESATURATION * shift * grey
    visual.face_colors = np.clip(colours, 0, 255).astype(np.uint8)
    mesh.apply_transform(trimesh.transformations.rotation_matrix(rng.uniform(0.0, 2.0 * np.pi), [0.0, 1.0, 0.0]))
    red, green, blue = (int(v) for v in np.rint(toward_dark("background")))
    config = RenderConfig(
        num_views=spec.num_views,
        layout="ring",
        azimuth_offset_deg=15.0,
        image_size=spec.view_size,
        lights=_DARK_LOOK["lights"] if shift > 0 else source.lights,
        background=(red, green, blue),
        elevation_deg=float(toward_dark("elevation_deg")),
        light_intensity=float(toward_dark("light_intensity")),
        ambient=float(toward_dark("ambient")),
    )
    rendered = get_process_renderer(config).render(mesh, with_depth=spec.occlusion > 0)
    if rendered.depths is None:
        return rendered.images
    from crossmost_data.datasets.synthetic.looks import occlude

    return [
        occlude(image, depth, rng) if rng.random() < spec.occlusion else image
        for image, depth in zip(rendered.images, rendered.depths, strict=True)
    ]


_CORPUS_LIGHTING = (
    ("directional", 3.0, 0.3),
    ("directional", 1.6, 0.12),
    ("raymond", 1.2, 0.2),
    ("raymond", 2.2, 0.45),
)
"""(lights, intensity, ambient) of the corpus renders, one drawn per view; the look is varied further in image space."""


def _corpus_views(mesh: trimesh.Trimesh, spec: SyntheticItemSpec, rng: np.random.Generator) -> list[np.ndarray]:
    import trimesh

    from crossmost_data.datasets.synthetic.looks import random_look
    from crossmost_data.views import RenderConfig, get_process_renderer

    views = []
    for _ in range(spec.num_views):
        lights, intensity, ambient = _CORPUS_LIGHTING[int(rng.integers(len(_CORPUS_LIGHTING)))]
        config = RenderConfig(
            num_views=1,
            image_size=spec.view_size,
            elevation_deg=0.0,
            lights=lights,  # type: ignore[arg-type]
            light_intensity=intensity,
            ambient=ambient,
        )
        posed = mesh.copy()
        # Seen from anywhere between slightly below the horizon and steeply above, from any side.
        posed.apply_transform(trimesh.transformations.rotation_matrix(rng.uniform(0.0, 2.0 * np.pi), [0.0, 1.0, 0.0]))
        tilt = np.radians(rng.uniform(-10.0, 65.0))
        posed.apply_transform(trimesh.transformations.rotation_matrix(tilt, [1.0, 0.0, 0.0]))
        rendered = get_process_renderer(config).render(posed, with_depth=True)
        assert rendered.depths is not None
        views.append(random_look(rendered.images[0], rendered.depths[0], rng))
    return views


def load_synthetic_item(spec: SyntheticItemSpec) -> LoadedItem:
    """Build the object described by ``spec``: a clean coloured mesh (source) or a scan with its views (target)."""
    shape_rng, scan_rng, view_rng = spec.rng().spawn(3)
    mesh = generate_shape(spec.class_name, shape_rng)
    if spec.domain == "source":
        return LoadedItem(mesh=mesh)
    if spec.domain == "corpus":
        return LoadedItem(mesh=mesh, images=_corpus_views(mesh, spec, view_rng))
    points = make_scan(
        mesh,
        scan_rng,
        num_points=spec.scan_points,
        partiality=spec.partiality,
        noise=spec.noise,
        clutter=spec.clutter,
    )
    if spec.target_views == "render":
        images = _target_renders(mesh.copy(), spec, view_rng)
    else:
        images = _target_views(points, spec)
    return LoadedItem(points=points, images=images)


class SyntheticReader:
    """Procedural objects of twelve classes in two domains (see :mod:`crossmost_data.datasets.synthetic`).

    Args:
        domain: ``"source"``: clean coloured meshes (views rendered by the pipeline, points sampled on the surface);
            ``"target"``: scan-like point clouds with their own views.
        objects_per_class: Objects per class, over both splits.
        classes: A subset of :data:`SYNTHETIC_CLASSES` (label order follows this list); default all.
        seed: Changes every object; the same seed always gives the same dataset.
        test_fraction: Share of each class in the ``test`` split (the last objects of each class).
        partiality: Target only; see :func:`~crossmost_data.datasets.synthetic.make_scan`.
        noise: Target only; jitter relative to the unit sphere.
        clutter: Target only; fraction of scan points on the floor, a wall and distractors.
        scan_points: Target only; points per scan.
        num_views: Target only; views per object (the prepare step's ``num_views`` must not exceed it).
        view_size: Target only; size of the target views in pixels (resized to the prepare image size).
        target_views: ``"depth"``: depth projections of the scan (no OpenGL needed); ``"render"``: renders of the
            object with washed-out colours, dim light and a dark background (needs OpenGL).
        view_shift: Target renders only; how far their look is from the source renders, 0 (the source look, only
            the object turned) to 1 (the full washed-out, dim, dark-background look seen from near the horizon).
        view_shift_min: Target renders only; when given, each object's look is drawn uniformly between it and
            ``view_shift``, so that the quality of the views varies from object to object.
        occlusion: Target renders only; the probability that a view has something standing in front of the object
            (:func:`~crossmost_data.datasets.synthetic.looks.occlude`), drawn per view.

    Raises:
        ValueError: An option is out of range, or an unknown class is named.
    """

    name = "synthetic"

    def __init__(
        self,
        domain: Domain = "source",
        objects_per_class: int = 40,
        classes: Sequence[str] | None = None,
        seed: int = 0,
        test_fraction: float = 0.2,
        partiality: float = 0.6,
        noise: float = 0.01,
        clutter: float = 0.15,
        scan_points: int = 2048,
        num_views: int = 12,
        view_size: int = 64,
        target_views: Literal["depth", "render"] = "depth",
        view_shift: float = 1.0,
        view_shift_min: float | None = None,
        occlusion: float = 0.0,
    ) -> None:
        if domain not in _DOMAIN_IDS:
            raise ValueError(f"synthetic domain must be one of {', '.join(_DOMAIN_IDS)}, got {domain!r}")
        if objects_per_class < 1:
            raise ValueError(f"objects_per_class must be >= 1, got {objects_per_class}")
        if not 0.0 <= test_fraction < 1.0:
            raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
        if target_views not in ("depth", "render"):
            raise ValueError(f"target_views must be 'depth' or 'render', got {target_views!r}")
        if num_views < 1 or view_size < 8 or scan_points < 1:
            raise ValueError("num_views and scan_points must be >= 1 and view_size >= 8")
        for knob, value in (("partiality", partiality), ("clutter", clutter)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{knob} must be in [0, 1], got {value}")
        if not 0.0 <= view_shift <= 1.0:
            raise ValueError(f"view_shift must be in [0, 1], got {view_shift}")
        if not 0.0 <= occlusion <= 1.0:
            raise ValueError(f"occlusion must be in [0, 1], got {occlusion}")
        if view_shift_min is not None and not 0.0 <= view_shift_min <= view_shift:
            raise ValueError(f"view_shift_min must be in [0, view_shift={view_shift}], got {view_shift_min}")
        if noise < 0:
            raise ValueError(f"noise must be >= 0, got {noise}")
        selected = list(SYNTHETIC_CLASSES) if classes is None else [str(c) for c in classes]
        unknown = [c for c in selected if c not in SYNTHETIC_CLASSES]
        if unknown or not selected or len(set(selected)) != len(selected):
            raise ValueError(
                f"classes must be distinct names from {', '.join(SYNTHETIC_CLASSES)}; got {selected!r}"
                + (f" (unknown: {', '.join(unknown)})" if unknown else "")
            )
        self.domain: Domain = domain
        self.view_source: Literal["render", "depth", "given"] = "render" if domain == "source" else "given"
        self.objects_per_class = objects_per_class
        self.classes = selected
        self.seed = seed
        self.test_fraction = test_fraction
        self.partiality, self.noise, self.clutter = partiality, noise, clutter
        self.scan_points, self.num_views, self.view_size = scan_points, num_views, view_size
        self.target_views: Literal["depth", "render"] = target_views
        self.view_shift = float(view_shift)
        self.view_shift_min = None if view_shift_min is None else float(view_shift_min)
        self.occlusion = float(occlusion)

    @property
    def test_count(self) -> int:
        """Objects per class in the test split (at least one when the fraction is positive and there are two)."""
        count = round(self.objects_per_class * self.test_fraction)
        if self.test_fraction > 0 and self.objects_per_class >= 2:
            count = max(count, 1)
        return min(count, self.objects_per_class - 1) if self.objects_per_class > 1 else 0

    def class_names(self, root: Path | None = None) -> list[str]:
        """The selected class names in label order (``root`` is ignored)."""
        return list(self.classes)

    def splits(self, root: Path | None = None) -> list[str]:
        """``["train", "test"]`` (``root`` is ignored)."""
        return list(_SPLITS)

    def iter_items(self, root: Path | None, split: str) -> Iterator[SourceItem]:
        """The items of ``split``, class by class (``root`` is ignored: objects are generated when loaded).

        Raises:
            ValueError: Unknown split.
        """
        if split not in _SPLITS:
            raise ValueError(f"the synthetic dataset has splits {', '.join(_SPLITS)}; got {split!r}")
        first_test = self.objects_per_class - self.test_count
        indices = range(first_test) if split == "train" else range(first_test, self.objects_per_class)
        for class_name in self.classes:
            for index in indices:
                spec = SyntheticItemSpec(
                    domain=self.domain,
                    class_name=class_name,
                    index=index,
                    seed=self.seed,
                    partiality=self.partiality,
                    noise=self.noise,
                    clutter=self.clutter,
                    scan_points=self.scan_points,
                    num_views=self.num_views,
                    view_size=self.view_size,
                    target_views=self.target_views,
                    view_shift=self.view_shift,
                    view_shift_min=self.view_shift_min,
                    occlusion=self.occlusion,
                )
                yield SourceItem(
                    uid=f"{self.domain}-{class_name}-{index:05d}",
                    class_name=class_name,
                    split=split,
                    source=f"synthetic/{self.domain}/seed{self.seed}/{class_name}/{index}",
                    load=functools.partial(load_synthetic_item, spec),
                )
