"""What a renderer is asked to do (:class:`RenderConfig`) and what it gives back (:class:`RenderedViews`)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from crossmost_data.views.cameras import camera_pose, fibonacci_directions, ring_directions

__all__ = ["RenderConfig", "RenderedViews"]


def _check_rgb(name: str, value: tuple[int, ...]) -> None:
    if len(value) != 3 or any(not 0 <= int(c) <= 255 for c in value):
        raise ValueError(f"RenderConfig.{name} must be three integers in 0..255, got {value!r}")


@dataclass(frozen=True)
class RenderConfig:
    """How meshes are turned into views.

    The object is expected centred at the origin, inside the unit sphere, y up. Every camera looks at the origin
    from a distance at which the unit sphere just fits the field of view (times ``margin``).

    Attributes:
        num_views: Number of views per mesh (12 is the MVCNN/ModelNet40 setting).
        layout: ``"ring"``: cameras evenly spaced in azimuth at ``elevation_deg``; ``"sphere"``: a Fibonacci lattice
            over the whole sphere.
        elevation_deg: Camera elevation of the ring layout, in degrees above the horizon.
        azimuth_offset_deg: Azimuth of the first ring camera (0 = in front, on +z).
        image_size: Width and height of each view in pixels.
        background: Background colour, RGB 0..255.
        fov_deg: Vertical field of view of the perspective camera.
        margin: Free border around the unit sphere; 1.0 makes the sphere touch the image edges.
        lights: ``"directional"``: one directional light from the camera (a headlight) plus ambient light;
            ``"raymond"``: three directional lights 30° above the view at 120° azimuth steps, moving with the
            camera (the pyrender viewer's default lighting), plus ambient light.
        light_intensity: Intensity of each directional light.
        light_color: RGB colour of the directional lights, 0..1.
        ambient: Grey level of the ambient light, 0..1.
        shading: ``"flat"`` (one normal per face: crisp CAD edges) or ``"smooth"`` (interpolated vertex normals).
        default_color: Colour, RGB 0..255, of meshes that carry no colour or texture of their own.
        cull_back_faces: Skip triangles facing away from the camera. About twice as fast with software OpenGL, but
            meshes whose faces are not consistently oriented (common in ModelNet/ShapeNet) then show holes; off by
            default.
        platform: ``"egl"`` or ``"osmesa"`` to force an OpenGL platform; ``None`` respects ``PYOPENGL_PLATFORM`` and
            otherwise tries egl, then osmesa.
    """

    num_views: int = 12
    layout: Literal["ring", "sphere"] = "ring"
    elevation_deg: float = 30.0
    azimuth_offset_deg: float = 0.0
    image_size: int = 224
    background: tuple[int, int, int] = (255, 255, 255)
    fov_deg: float = 40.0
    margin: float = 1.05
    lights: Literal["directional", "raymond"] = "directional"
    light_intensity: float = 3.0
    light_color: tuple[float, float, float] = (1.0, 1.0, 1.0)
    ambient: float = 0.3
    shading: Literal["flat", "smooth"] = "flat"
    default_color: tuple[int, int, int] = (170, 170, 170)
    cull_back_faces: bool = False
    platform: str | None = None

    def __post_init__(self) -> None:
        if self.num_views < 1:
            raise ValueError(f"RenderConfig.num_views must be at least 1, got {self.num_views}")
        if self.layout not in ("ring", "sphere"):
            raise ValueError(f"RenderConfig.layout must be 'ring' or 'sphere', got {self.layout!r}")
        if self.image_size < 8:
            raise ValueError(f"RenderConfig.image_size must be at least 8 pixels, got {self.image_size}")
        if not 1.0 <= self.fov_deg <= 150.0:
            raise ValueError(f"RenderConfig.fov_deg must be in [1, 150], got {self.fov_deg}")
        if self.margin < 1.0:
            raise ValueError(f"RenderConfig.margin must be >= 1 so that the object fits, got {self.margin}")
        if self.lights not in ("directional", "raymond"):
            raise ValueError(f"RenderConfig.lights must be 'directional' or 'raymond', got {self.lights!r}")
        if self.shading not in ("flat", "smooth"):
            raise ValueError(f"RenderConfig.shading must be 'flat' or 'smooth', got {self.shading!r}")
        if self.light_intensity < 0 or not 0.0 <= self.ambient <= 1.0:
            raise ValueError("RenderConfig.light_intensity must be >= 0 and ambient in [0, 1]")
        _check_rgb("background", self.background)
        _check_rgb("default_color", self.default_color)

    @property
    def camera_distance(self) -> float:
        """Distance from the origin at which the unit sphere fits the field of view with ``margin`` to spare."""
        return self.margin / math.sin(math.radians(self.fov_deg) / 2.0)

    def camera_directions(self) -> np.ndarray:
        """Unit vectors from the origin to each camera, shape (num_views, 3)."""
        if self.layout == "ring":
            return ring_directions(self.num_views, self.elevation_deg, self.azimuth_offset_deg)
        return fibonacci_directions(self.num_views)

    def camera_poses(self) -> list[np.ndarray]:
        """Camera-to-world 4×4 pose of every view, in view order."""
        return [camera_pose(d, self.camera_distance) for d in self.camera_directions()]

    def to_dict(self) -> dict[str, Any]:
        """The configuration as JSON-ready values (tuples become lists)."""
        return {
            key: list(value) if isinstance(value, tuple) else value for key, value in dataclasses.asdict(self).items()
        }


@dataclass(frozen=True)
class RenderedViews:
    """The views of one object and how they were made.

    Attributes:
        images: One H×W×3 uint8 RGB array per view.
        camera_poses: Camera-to-world 4×4 pose per view, as nested lists (JSON-ready).
        settings: Renderer name and version, platform and the configuration, for the sample's json.
        depths: When asked for, one H×W float32 array per view: the distance along the viewing axis of the surface
            seen at each pixel, 0 where the background shows (so ``depth > 0`` is the object's mask).
    """

    images: list[np.ndarray]
    camera_poses: list[list[list[float]]]
    settings: dict[str, Any] = field(default_factory=dict)
    depths: list[np.ndarray] | None = None

    def __post_init__(self) -> None:
        if len(self.images) != len(self.camera_poses):
            raise ValueError(f"{len(self.images)} images but {len(self.camera_poses)} camera poses")
        if self.depths is not None and len(self.depths) != len(self.images):
            raise ValueError(f"{len(self.images)} images but {len(self.depths)} depth maps")
