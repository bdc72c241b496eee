"""Making views: meshes rendered with OpenGL, point clouds projected to depth images, on the same cameras.

- :mod:`~crossmost_data.views.cameras`: camera directions and poses shared by both;
- :mod:`~crossmost_data.views.config`: :class:`RenderConfig` and :class:`RenderedViews`, the result of either;
- :mod:`~crossmost_data.views.gl_platform`, :mod:`~crossmost_data.views.renderer`,
  :mod:`~crossmost_data.views.selftest`: headless OpenGL platform choice, the pyrender renderer (the ``render``
  extra) and its self-test;
- :mod:`~crossmost_data.views.depth`: depth projection of point clouds (the ``torch`` extra; not imported here).

Importing this package does not import pyrender, OpenGL or torch; the OpenGL platform is chosen
(``PYOPENGL_PLATFORM``) and pyrender imported when the first :class:`MeshRenderer` is created.
"""

from crossmost_data.views.cameras import camera_pose as camera_pose
from crossmost_data.views.cameras import fibonacci_directions as fibonacci_directions
from crossmost_data.views.cameras import look_at as look_at
from crossmost_data.views.cameras import pointclip_directions as pointclip_directions
from crossmost_data.views.cameras import ring_directions as ring_directions
from crossmost_data.views.config import RenderConfig as RenderConfig
from crossmost_data.views.config import RenderedViews as RenderedViews
from crossmost_data.views.gl_platform import GLPlatformChoice as GLPlatformChoice
from crossmost_data.views.gl_platform import GLUnavailableError as GLUnavailableError
from crossmost_data.views.gl_platform import PyOpenGLVersionError as PyOpenGLVersionError
from crossmost_data.views.gl_platform import check_pyopengl_version as check_pyopengl_version
from crossmost_data.views.gl_platform import select_gl_platform as select_gl_platform
from crossmost_data.views.renderer import MeshRenderer as MeshRenderer
from crossmost_data.views.renderer import close_process_renderers as close_process_renderers
from crossmost_data.views.renderer import get_process_renderer as get_process_renderer
from crossmost_data.views.selftest import SelftestReport as SelftestReport
from crossmost_data.views.selftest import run_selftest as run_selftest

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
