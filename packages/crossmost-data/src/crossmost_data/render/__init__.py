"""Rendering meshes into views: headless OpenGL platform choice, cameras, the pyrender renderer and its self-test.

Importing this package does not import pyrender or OpenGL; the OpenGL platform is chosen (``PYOPENGL_PLATFORM``) and
pyrender imported when the first :class:`MeshRenderer` is created. Point clouds can be turned into views without
OpenGL with :mod:`crossmost_data.depth`.
"""

from crossmost_data.render.cameras import camera_pose as camera_pose
from crossmost_data.render.cameras import fibonacci_directions as fibonacci_directions
from crossmost_data.render.cameras import look_at as look_at
from crossmost_data.render.cameras import pointclip_directions as pointclip_directions
from crossmost_data.render.cameras import ring_directions as ring_directions
from crossmost_data.render.config import RenderConfig as RenderConfig
from crossmost_data.render.config import RenderedViews as RenderedViews
from crossmost_data.render.platform import GLPlatformChoice as GLPlatformChoice
from crossmost_data.render.platform import GLUnavailableError as GLUnavailableError
from crossmost_data.render.platform import PyOpenGLVersionError as PyOpenGLVersionError
from crossmost_data.render.platform import check_pyopengl_version as check_pyopengl_version
from crossmost_data.render.platform import select_gl_platform as select_gl_platform
from crossmost_data.render.renderer import MeshRenderer as MeshRenderer
from crossmost_data.render.renderer import close_process_renderers as close_process_renderers
from crossmost_data.render.renderer import get_process_renderer as get_process_renderer
from crossmost_data.render.selftest import SelftestReport as SelftestReport
from crossmost_data.render.selftest import run_selftest as run_selftest

__all__ = [
    "GLPlatformChoice",
    "GLUnavailableError",
    "MeshRenderer",
    "PyOpenGLVersionError",
    "RenderConfig",
    "RenderedViews",
    "SelftestReport",
    "camera_pose",
    "check_pyopengl_version",
    "close_process_renderers",
    "fibonacci_directions",
    "get_process_renderer",
    "look_at",
    "pointclip_directions",
    "ring_directions",
    "run_selftest",
    "select_gl_platform",
]
