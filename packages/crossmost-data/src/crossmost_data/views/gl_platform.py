"""Choosing the headless OpenGL platform and checking the OpenGL stack before pyrender is imported.

PyOpenGL binds its platform (GLX, EGL, OSMesa) the first time ``OpenGL`` is imported, from the environment variable
``PYOPENGL_PLATFORM``. pyrender's offscreen renderer reads the same variable. So the choice has to be made before
anything imports ``pyrender`` or ``OpenGL``, and it cannot be changed afterwards inside the same process.

Order of preference: a value the user exported in ``PYOPENGL_PLATFORM`` (always respected), then the platform asked
for in :class:`~crossmost_data.views.RenderConfig`, then ``egl`` if ``libEGL`` can be loaded, then ``osmesa`` if
``libOSMesa`` can be loaded. EGL uses the GPU when there is one (``EGL_DEVICE_ID`` picks it) and Mesa's llvmpipe
software rasteriser otherwise; OSMesa is always software.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

__all__ = [
    "GLPlatformChoice",
    "GLUnavailableError",
    "PyOpenGLVersionError",
    "check_pyopengl_version",
    "installed_pyopengl_version",
    "select_gl_platform",
]

MIN_PYOPENGL = (3, 1, 7)
SUPPORTED_PLATFORMS = ("egl", "osmesa")

# Debian/Ubuntu packages that provide each platform's shared library.
_DEBIAN_PACKAGES = {"egl": "libegl1 libgl1 libegl-mesa0", "osmesa": "libosmesa6"}
_LIBRARY_NAMES = {"egl": ("libEGL.so.1", "libEGL.so"), "osmesa": ("libOSMesa.so.8", "libOSMesa.so.6", "libOSMesa.so")}
_FIND_LIBRARY_NAMES = {"egl": "EGL", "osmesa": "OSMesa"}


class GLUnavailableError(RuntimeError):
    """No headless OpenGL platform can be used in this process; the message says what to install or set."""


class PyOpenGLVersionError(RuntimeError):
    """The installed PyOpenGL is too old for headless rendering; the message says how to upgrade it."""


@dataclass(frozen=True)
class GLPlatformChoice:
    """Which platform was chosen and why.

    Attributes:
        platform: The value of ``PYOPENGL_PLATFORM`` in effect (``"egl"`` or ``"osmesa"``, or a user's own value).
        reason: ``"environment"`` (the user exported it), ``"config"`` (asked for in the render config) or ``"probe"``
            (the first loadable library in the order egl, osmesa).
    """

    platform: str
    reason: str


def installed_pyopengl_version() -> str | None:
    """The installed PyOpenGL distribution's version string, or None when PyOpenGL is not installed."""
    try:
        return version("PyOpenGL")
    except PackageNotFoundError:
        return None


def _version_tuple(text: str) -> tuple[int, ...]:
    parts: list[int] = []
    for piece in text.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
        if len(digits) != len(piece):  # "7rc1", "0b2": stop at the first pre-release marker
            break
    return tuple(parts)


def check_pyopengl_version() -> str:
    """Check that PyOpenGL is installed and at least 3.1.7.

    pyrender 0.1.45 pins ``PyOpenGL==3.1.0``, whose EGL and OSMesa bindings are broken for headless rendering
    (``cannot import name 'OSMesaCreateContextAttribs'``, EGL device enumeration failures). A plain
    ``pip install pyrender`` therefore installs a version that cannot render without a display.

    Returns:
        The installed version string.

    Raises:
        PyOpenGLVersionError: PyOpenGL is missing or older than 3.1.7; the message gives the exact fix.
    """
    installed = installed_pyopengl_version()
    fix = (
        'Fix it with `pip install -U "pyopengl>=3.1.7"` (pip warns that pyrender pins 3.1.0; that warning is '
        "expected and harmless), or inside the crossmost workspace with `uv sync`, whose root pyproject overrides "
        "pyrender's pin."
    )
    if installed is None:
        raise PyOpenGLVersionError(f"PyOpenGL is not installed, so nothing can be rendered. {fix}")
    if _version_tuple(installed) < MIN_PYOPENGL:
        raise PyOpenGLVersionError(
            f"PyOpenGL {installed} is installed, but headless rendering needs PyOpenGL >= 3.1.7 "
            f"(pyrender pins 3.1.0, whose EGL/OSMesa bindings are broken). {fix}"
        )
    return installed


def _library_loadable(platform: str) -> bool:
    names = list(_LIBRARY_NAMES.get(platform, ()))
    found = ctypes.util.find_library(_FIND_LIBRARY_NAMES.get(platform, platform))
    if found:
        names.insert(0, found)
    for name in names:
        try:
            ctypes.CDLL(name)
        except OSError:
            continue
        return True
    return False


def _missing_library_message(platform: str) -> str:
    if platform == "egl":
        return (
            "PYOPENGL_PLATFORM=egl was chosen but libEGL cannot be loaded. On Debian/Ubuntu install it with "
            f"`apt-get install {_DEBIAN_PACKAGES['egl']}` (with an NVIDIA GPU the driver provides libEGL_nvidia), "
            "or use OSMesa instead: `apt-get install libosmesa6` and `export PYOPENGL_PLATFORM=osmesa`."
        )
    return (
        "PYOPENGL_PLATFORM=osmesa was chosen but libOSMesa cannot be loaded. On Debian/Ubuntu install it with "
        f"`apt-get install {_DEBIAN_PACKAGES['osmesa']}`, or use EGL instead: `apt-get install "
        f"{_DEBIAN_PACKAGES['egl']}` and `export PYOPENGL_PLATFORM=egl`."
    )


def select_gl_platform(requested: str | None = None) -> GLPlatformChoice:
    """Choose ``PYOPENGL_PLATFORM`` for this process and export it, before pyrender or OpenGL is imported.

    Args:
        requested: A platform asked for by the caller (``"egl"`` or ``"osmesa"``); ignored when the user already
            exported ``PYOPENGL_PLATFORM``. ``None`` probes egl, then osmesa.

    Returns:
        The choice, also written to ``os.environ["PYOPENGL_PLATFORM"]``.

    Raises:
        GLUnavailableError: The requested platform's library is missing, neither library can be loaded, or OpenGL
            was imported earlier in this process without a headless platform.
        ValueError: ``requested`` is not a supported platform name.
    """
    if requested is not None and requested not in SUPPORTED_PLATFORMS:
        raise ValueError(f"unknown GL platform {requested!r}; expected one of {', '.join(SUPPORTED_PLATFORMS)}")
    from_env = os.environ.get("PYOPENGL_PLATFORM", "").strip()
    if from_env:
        choice = GLPlatformChoice(platform=from_env, reason="environment")
    elif "OpenGL" in sys.modules:
        raise GLUnavailableError(
            "OpenGL was imported before crossmost_data.views could choose a headless platform, and "
            "PYOPENGL_PLATFORM is not set, so PyOpenGL is bound to a windowing platform that cannot render "
            "offscreen. Start Python with `PYOPENGL_PLATFORM=egl` (or `osmesa`) exported, or create the renderer "
            "before anything imports pyrender/OpenGL."
        )
    elif requested is not None:
        choice = GLPlatformChoice(platform=requested, reason="config")
    else:
        for candidate in SUPPORTED_PLATFORMS:
            if _library_loadable(candidate):
                choice = GLPlatformChoice(platform=candidate, reason="probe")
                break
        else:
            raise GLUnavailableError(
                "No headless OpenGL library was found: neither libEGL nor libOSMesa can be loaded. On Debian/Ubuntu "
                f"install EGL with `apt-get install {_DEBIAN_PACKAGES['egl']}` or OSMesa with `apt-get install "
                f"{_DEBIAN_PACKAGES['osmesa']}`. Point clouds can still be turned into views without OpenGL with "
                "crossmost_data.views.depth.project_depth_views."
            )
    if choice.platform in SUPPORTED_PLATFORMS and not _library_loadable(choice.platform):
        raise GLUnavailableError(_missing_library_message(choice.platform))
    os.environ["PYOPENGL_PLATFORM"] = choice.platform
    return choice
