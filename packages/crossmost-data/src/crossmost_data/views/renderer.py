"""Offscreen mesh rendering with pyrender: one OpenGL context per process, created once and reused.

pyrender is fragile headless: the platform must be chosen before it is imported, a context cannot move between
threads or survive a fork, and creating and deleting renderers repeatedly fails on some drivers. So this module
keeps exactly one ``pyrender.OffscreenRenderer`` per process (created lazily, deleted at exit), and a
:class:`MeshRenderer` is a light object (a scene with camera and lights) that draws through it. In a process pool,
call :func:`get_process_renderer` inside the worker: each worker then opens its own context once and reuses it for
every mesh it renders.
"""

from __future__ import annotations

import atexit
import math
import os
import threading
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

import numpy as np

from crossmost_data.views.config import RenderConfig, RenderedViews
from crossmost_data.views.gl_platform import (
    GLPlatformChoice,
    GLUnavailableError,
    check_pyopengl_version,
    select_gl_platform,
)

if TYPE_CHECKING:
    import trimesh

__all__ = ["MeshRenderer", "close_process_renderers", "get_process_renderer"]


class _ProcessContext:
    """The process's single offscreen renderer, shared by every MeshRenderer of that process."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pid: int | None = None
        self.renderer: Any = None
        self.choice: GLPlatformChoice | None = None
        self.users = 0

    def acquire(self, config: RenderConfig) -> tuple[Any, GLPlatformChoice]:
        with self.lock:
            if self.pid != os.getpid():
                # A context inherited through fork belongs to the parent; never touch or delete it here.
                self.pid, self.renderer, self.users = os.getpid(), None, 0
            if self.choice is not None and config.platform is not None and config.platform != self.choice.platform:
                raise GLUnavailableError(
                    f"this process already renders with PYOPENGL_PLATFORM={self.choice.platform}; a process cannot "
                    f"switch to {config.platform!r}. Use one platform per process."
                )
            if self.renderer is None:
                self.choice = select_gl_platform(config.platform)
                check_pyopengl_version()
                pyrender = _import_pyrender(self.choice)
                _preload_triton()
                try:
                    self.renderer = pyrender.OffscreenRenderer(config.image_size, config.image_size)
                except Exception as error:
                    raise GLUnavailableError(_context_failure_message(self.choice, error)) from error
            self.users += 1
            assert self.choice is not None
            return self.renderer, self.choice

    def release(self) -> None:
        with self.lock:
            if self.pid != os.getpid() or self.renderer is None:
                return
            self.users -= 1
            if self.users <= 0:
                self.renderer.delete()
                self.renderer, self.users = None, 0


def _preload_triton() -> None:
    """Import triton (if installed) before the GL context exists.

    triton ships its own LLVM. When it is first imported after Mesa's llvmpipe has initialised its LLVM in this
    process (which happens when torch compiles anything, and when open_clip imports torchvision), the process dies
    with a segmentation fault. Loading triton first avoids the clash, so rendering and training can share a process.
    """
    import importlib
    import importlib.util

    if importlib.util.find_spec("triton") is not None:
        importlib.import_module("triton")


_CONTEXT = _ProcessContext()
_PROCESS_RENDERERS: dict[tuple[int, RenderConfig], MeshRenderer] = {}
_MAX_PROCESS_RENDERERS = 32
"""Renderers kept per process; the least recently used one is closed beyond that (a reader that varies its render
settings per item must not keep a scene per setting forever)."""


def _import_pyrender(choice: GLPlatformChoice) -> Any:
    try:
        import pyrender
    except ImportError as error:
        raise GLUnavailableError(
            f"pyrender could not be imported with PYOPENGL_PLATFORM={choice.platform} ({error}). Install the "
            '`render` extra (`pip install "crossmost-data[render]"` and then `pip install -U "pyopengl>=3.1.7"`).'
        ) from error
    return pyrender


def _context_failure_message(choice: GLPlatformChoice, error: Exception) -> str:
    hints = {
        "egl": (
            "On a machine without a GPU, Mesa's EGL (Debian: `apt-get install libegl1 libgl1 libegl-mesa0`) renders "
            "in software. With several GPUs, pick one with EGL_DEVICE_ID. If EGL still fails (e.g. 'Invalid device "
            "ID' in a container), install libosmesa6 and export PYOPENGL_PLATFORM=osmesa."
        ),
        "osmesa": "Install Debian's libosmesa6 (`apt-get install libosmesa6`) or use EGL (PYOPENGL_PLATFORM=egl).",
    }
    return (
        f"could not create an offscreen OpenGL context with PYOPENGL_PLATFORM={choice.platform} "
        f"(chosen by {choice.reason}): {type(error).__name__}: {error}. "
        f"{hints.get(choice.platform, 'Use PYOPENGL_PLATFORM=egl or osmesa for headless rendering.')}"
    )


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


def _raymond_offsets() -> list[np.ndarray]:
    # Three lights 30° off the viewing axis at 120° steps around it, expressed in the camera frame.
    offsets = []
    for phi in (0.0, 2.0 * math.pi / 3.0, 4.0 * math.pi / 3.0):
        theta = math.pi / 6.0
        backward = np.array([math.sin(theta) * math.cos(phi), math.sin(theta) * math.sin(phi), math.cos(theta)])
        right = np.array([-backward[1], backward[0], 0.0])
        right /= np.linalg.norm(right)
        up = np.cross(backward, right)
        offset = np.eye(4)
        offset[:3, 0], offset[:3, 1], offset[:3, 2] = right, up, backward
        offsets.append(offset)
    return offsets


class MeshRenderer:
    """Renders meshes into the views described by a :class:`RenderConfig`.

    Creating one opens (or reuses) the process's OpenGL context. Reuse one renderer for many meshes; the mesh is
    added to the scene for one :meth:`render` call and removed afterwards.

    Args:
        config: Views, image size, lights, background and shading.

    Raises:
        GLUnavailableError: No headless OpenGL platform works; the message says what to install or set.
        PyOpenGLVersionError: PyOpenGL is older than 3.1.7.

    Example:
        >>> renderer = get_process_renderer(RenderConfig(num_views=12, image_size=224))  # doctest: +SKIP
        >>> views = renderer.render(mesh)  # doctest: +SKIP
    """

    def __init__(self, config: RenderConfig | None = None) -> None:
        self.config = config if config is not None else RenderConfig()
        self._renderer, self._choice = _CONTEXT.acquire(self.config)
        self._closed = False
        import pyrender

        self._pyrender = pyrender
        cfg = self.config
        self._scene = pyrender.Scene(
            bg_color=[c / 255.0 for c in cfg.background] + [1.0], ambient_light=[cfg.ambient] * 3
        )
        distance = cfg.camera_distance
        camera = pyrender.PerspectiveCamera(
            yfov=math.radians(cfg.fov_deg), znear=max(distance - 1.5, 0.05), zfar=distance + 1.5, aspectRatio=1.0
        )
        self._poses = cfg.camera_poses()
        self._camera_node = self._scene.add(camera, pose=self._poses[0])
        offsets = [np.eye(4)] if cfg.lights == "directional" else _raymond_offsets()
        self._light_nodes = []
        for offset in offsets:
            light = pyrender.DirectionalLight(color=np.asarray(cfg.light_color), intensity=cfg.light_intensity)
            self._light_nodes.append((self._scene.add(light, pose=self._poses[0] @ offset), offset))
        self._default_material = pyrender.MetallicRoughnessMaterial(
            baseColorFactor=[c / 255.0 for c in cfg.default_color] + [1.0], metallicFactor=0.0, roughnessFactor=0.7
        )

    @property
    def platform(self) -> str:
        """The ``PYOPENGL_PLATFORM`` this process renders with."""
        return self._choice.platform

    @property
    def settings(self) -> dict[str, Any]:
        """Renderer name, versions, platform and configuration, as recorded in each sample's json."""
        return {
            "renderer": "pyrender",
            "renderer_version": _package_version("pyrender"),
            "pyopengl_version": _package_version("PyOpenGL"),
            "platform": self._choice.platform,
            "config": self.config.to_dict(),
        }

    def _to_pyrender_mesh(self, mesh: trimesh.Trimesh) -> Any:
        smooth = self.config.shading == "smooth"
        has_own_look = getattr(mesh.visual, "kind", None) is not None
        material = None if has_own_look else self._default_material
        return self._pyrender.Mesh.from_trimesh(mesh, smooth=smooth, material=material)

    def render(self, mesh: trimesh.Trimesh, *, with_depth: bool = False) -> RenderedViews:
        """Render every configured view of ``mesh``.

        Args:
            mesh: A triangle mesh centred at the origin inside the unit sphere, y up. Its vertex/face colours or
                texture are used when present, otherwise ``config.default_color``.
            with_depth: Also return each view's depth map (``RenderedViews.depths``).

        Returns:
            The views (``num_views`` arrays of image_size×image_size×3 uint8), their camera poses and settings.

        Raises:
            ValueError: The mesh has no faces.
            RuntimeError: The renderer was closed.
        """
        if self._closed:
            raise RuntimeError("MeshRenderer.render called after close()")
        if len(mesh.faces) == 0:
            raise ValueError("cannot render a mesh without faces")
        renderer = self._renderer
        size = self.config.image_size
        if renderer.viewport_width != size or renderer.viewport_height != size:
            renderer.viewport_width, renderer.viewport_height = size, size
        node = self._scene.add(self._to_pyrender_mesh(mesh))
        flags = (
            self._pyrender.RenderFlags.NONE
            if self.config.cull_back_faces
            else self._pyrender.RenderFlags.SKIP_CULL_FACES
        )
        images: list[np.ndarray] = []
        depths: list[np.ndarray] = []
        try:
            for pose in self._poses:
                self._scene.set_pose(self._camera_node, pose)
                for light_node, offset in self._light_nodes:
                    self._scene.set_pose(light_node, pose @ offset)
                color, depth = renderer.render(self._scene, flags=flags)
                images.append(np.ascontiguousarray(color[..., :3], dtype=np.uint8))
                if with_depth:
                    depths.append(np.asarray(depth, dtype=np.float32).copy())
        finally:
            self._scene.remove_node(node)
        return RenderedViews(
            images=images,
            camera_poses=[pose.tolist() for pose in self._poses],
            settings=self.settings,
            depths=depths if with_depth else None,
        )

    def close(self) -> None:
        """Release this renderer; the process's GL context is deleted when its last user closes."""
        if not self._closed:
            self._closed = True
            _CONTEXT.release()

    def __enter__(self) -> MeshRenderer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def get_process_renderer(config: RenderConfig | None = None) -> MeshRenderer:
    """The renderer for ``config`` in this process, created on first use and reused afterwards.

    Pool workers call this for every item; the OpenGL context is opened once per worker process.

    Args:
        config: The render configuration; equal configurations share one renderer.

    Returns:
        A cached :class:`MeshRenderer`, closed automatically when the process exits or when it becomes the least
        recently used of more than 32 renderers of the process.
    """
    config = config if config is not None else RenderConfig()
    key = (os.getpid(), config)
    renderer = _PROCESS_RENDERERS.pop(key, None)
    if renderer is None or renderer._closed:
        renderer = MeshRenderer(config)
    _PROCESS_RENDERERS[key] = renderer  # (re)inserted last: the dict's order is the order of last use
    pid = os.getpid()
    own = [k for k in _PROCESS_RENDERERS if k[0] == pid]
    for stale in own[: max(0, len(own) - _MAX_PROCESS_RENDERERS)]:
        _PROCESS_RENDERERS.pop(stale).close()
    return renderer


def close_process_renderers() -> None:
    """Close every cached renderer of this process (registered with :mod:`atexit`)."""
    pid = os.getpid()
    for key in [key for key in _PROCESS_RENDERERS if key[0] == pid]:
        _PROCESS_RENDERERS.pop(key).close()


atexit.register(close_process_renderers)
