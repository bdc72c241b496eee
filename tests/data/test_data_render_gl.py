"""Mesh rendering: GL platform choice, the PyOpenGL version check, the renderer's pictures and the self-test."""

from __future__ import annotations

import importlib.util
import math
import sys

import numpy as np
import pytest
import trimesh

from crossmost_data.views import (
    GLUnavailableError,
    MeshRenderer,
    PyOpenGLVersionError,
    RenderConfig,
    check_pyopengl_version,
    get_process_renderer,
    gl_platform,
    run_selftest,
    select_gl_platform,
)
from crossmost_data.views.selftest import expected_sphere_fraction

BACKGROUND = (10, 200, 30)


def _foreground(image: np.ndarray, background: tuple[int, int, int] = BACKGROUND) -> np.ndarray:
    return np.any(np.abs(image.astype(int) - np.asarray(background)) > 8, axis=-1)


@pytest.fixture(scope="module")
def renderer() -> MeshRenderer:
    if importlib.util.find_spec("pyrender") is None:
        pytest.skip("pyrender (the `render` extra) is not installed")
    try:
        return get_process_renderer(RenderConfig(num_views=4, image_size=64, background=BACKGROUND))
    except (GLUnavailableError, PyOpenGLVersionError) as error:
        pytest.skip(f"headless OpenGL is not available here: {error}")


# --- platform choice and version check (no rendering) -------------------------------------------------------------


@pytest.mark.parametrize(("installed", "ok"), [("3.1.0", False), ("3.1.6", False), ("3.1.7", True), ("3.1.10", True)])
def test_pyopengl_version_check(monkeypatch: pytest.MonkeyPatch, installed: str, ok: bool) -> None:
    monkeypatch.setattr(gl_platform, "installed_pyopengl_version", lambda: installed)
    if ok:
        assert check_pyopengl_version() == installed
        return
    with pytest.raises(PyOpenGLVersionError) as error:
        check_pyopengl_version()
    message = str(error.value)
    assert f"PyOpenGL {installed} is installed" in message
    assert 'pip install -U "pyopengl>=3.1.7"' in message
    assert "uv sync" in message


def test_pyopengl_missing_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gl_platform, "installed_pyopengl_version", lambda: None)
    with pytest.raises(PyOpenGLVersionError, match=r"not installed.*pyopengl>=3\.1\.7"):
        check_pyopengl_version()


def test_user_platform_is_respected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYOPENGL_PLATFORM", "egl")
    monkeypatch.setattr(gl_platform, "_library_loadable", lambda name: True)
    choice = select_gl_platform("osmesa")
    assert (choice.platform, choice.reason) == ("egl", "environment")


@pytest.mark.parametrize(("platform", "packages"), [("egl", "libegl1 libgl1"), ("osmesa", "libosmesa6")])
def test_missing_library_names_debian_packages(monkeypatch: pytest.MonkeyPatch, platform: str, packages: str) -> None:
    monkeypatch.setenv("PYOPENGL_PLATFORM", platform)
    monkeypatch.setattr(gl_platform, "_library_loadable", lambda name: False)
    with pytest.raises(GLUnavailableError, match=packages):
        select_gl_platform()


def test_probe_order_egl_then_osmesa(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYOPENGL_PLATFORM", "")
    monkeypatch.delitem(sys.modules, "OpenGL", raising=False)
    monkeypatch.setattr(gl_platform, "_library_loadable", lambda name: name == "osmesa")
    choice = select_gl_platform()
    assert (choice.platform, choice.reason) == ("osmesa", "probe")
    monkeypatch.setattr(gl_platform, "_library_loadable", lambda name: True)
    monkeypatch.setenv("PYOPENGL_PLATFORM", "")
    assert select_gl_platform().platform == "egl"
    monkeypatch.setattr(gl_platform, "_library_loadable", lambda name: False)
    monkeypatch.setenv("PYOPENGL_PLATFORM", "")
    with pytest.raises(GLUnavailableError, match="libosmesa6"):
        select_gl_platform()


def test_unknown_platform_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYOPENGL_PLATFORM", "")
    with pytest.raises(ValueError, match="unknown GL platform"):
        select_gl_platform("glx")


def test_ring_poses_at_configured_elevation() -> None:
    config = RenderConfig(num_views=6, elevation_deg=25.0)
    poses = config.camera_poses()
    azimuths = []
    for pose in poses:
        eye = pose[:3, 3]
        assert np.linalg.norm(eye) == pytest.approx(config.camera_distance)
        assert math.degrees(math.asin(eye[1] / np.linalg.norm(eye))) == pytest.approx(25.0)
        # the camera looks along its −z axis, straight at the origin: +z points back at the camera position
        assert pose[:3, 2] @ (eye / np.linalg.norm(eye)) == pytest.approx(1.0)
        assert np.allclose(pose[:3, :3].T @ pose[:3, :3], np.eye(3))
        azimuths.append(math.degrees(math.atan2(eye[0], eye[2])) % 360.0)
    assert azimuths == pytest.approx([0.0, 60.0, 120.0, 180.0, 240.0, 300.0])


def test_sphere_layout_covers_both_hemispheres() -> None:
    directions = RenderConfig(num_views=20, layout="sphere").camera_directions()
    assert np.allclose(np.linalg.norm(directions, axis=1), 1.0)
    assert directions[:, 1].max() > 0.9
    assert directions[:, 1].min() < -0.9
    assert abs(directions.mean(axis=0)).max() < 0.1


def test_bad_config_rejected() -> None:
    with pytest.raises(ValueError, match="background"):
        RenderConfig(background=(0, 0, 300))
    with pytest.raises(ValueError, match="layout"):
        RenderConfig(layout="cube")  # type: ignore[arg-type]


# --- rendering --------------------------------------------------------------------------------------------------


def test_sphere_render_size_coverage_centring_background(renderer: MeshRenderer) -> None:
    views = renderer.render(trimesh.creation.icosphere(subdivisions=3))
    assert len(views.images) == len(views.camera_poses) == 4
    expected = expected_sphere_fraction(renderer.config)
    for image in views.images:
        assert image.shape == (64, 64, 3)
        assert image.dtype == np.uint8
        mask = _foreground(image)
        assert mask.mean() == pytest.approx(expected, rel=0.15)
        rows, cols = np.nonzero(mask)
        assert abs(rows.mean() - 31.5) < 2.0
        assert abs(cols.mean() - 31.5) < 2.0
        for corner in (image[0, 0], image[0, -1], image[-1, 0], image[-1, -1]):
            assert tuple(int(c) for c in corner) == BACKGROUND
    assert views.settings["platform"] in ("egl", "osmesa")
    assert views.settings["config"]["num_views"] == 4


def test_render_is_deterministic(renderer: MeshRenderer) -> None:
    mesh = trimesh.creation.box(extents=(1.0, 0.6, 0.4))
    first, second = renderer.render(mesh), renderer.render(mesh)
    assert all(np.array_equal(a, b) for a, b in zip(first.images, second.images, strict=True))


def test_image_right_is_world_plus_x_in_front_view(renderer: MeshRenderer) -> None:
    cube = trimesh.creation.box(extents=(0.3, 0.3, 0.3))
    cube.apply_translation((0.6, 0.0, 0.0))
    front = renderer.render(cube).images[0]  # azimuth 0: camera on +z
    cols = np.nonzero(_foreground(front))[1]
    assert cols.size > 0
    assert cols.min() > 32


def test_default_colour_and_own_colours() -> None:
    if importlib.util.find_spec("pyrender") is None:
        pytest.skip("pyrender is not installed")
    try:
        red = get_process_renderer(RenderConfig(num_views=1, image_size=48, default_color=(220, 20, 20)))
    except (GLUnavailableError, PyOpenGLVersionError) as error:
        pytest.skip(f"headless OpenGL is not available here: {error}")
    plain = trimesh.creation.icosphere(subdivisions=2)
    image = red.render(plain).images[0]
    assert image.shape == (48, 48, 3)
    pixels = image[_foreground(image, (255, 255, 255))].astype(int)
    assert (pixels[:, 0] - pixels[:, 1]).mean() > 60  # the default colour is red
    blue = trimesh.creation.icosphere(subdivisions=2)
    blue.visual.face_colors = (20, 20, 220, 255)
    pixels = red.render(blue).images[0]
    pixels = pixels[_foreground(pixels, (255, 255, 255))].astype(int)
    assert (pixels[:, 2] - pixels[:, 0]).mean() > 60  # the mesh's own colour wins


def test_process_renderer_is_cached(renderer: MeshRenderer) -> None:
    assert get_process_renderer(renderer.config) is renderer


def test_empty_mesh_rejected(renderer: MeshRenderer) -> None:
    with pytest.raises(ValueError, match="without faces"):
        renderer.render(trimesh.Trimesh())


def test_selftest_passes(renderer: MeshRenderer, tmp_path: object) -> None:
    report = run_selftest(output_dir=tmp_path)  # type: ignore[arg-type]
    assert report.ok, str(report)
    assert report.platform in ("egl", "osmesa")
    assert report.seconds > 0
    assert report.views_per_second > 0
    assert set(report.checks) == {"size", "coverage", "centred", "background", "shaded", "deterministic"}
    assert "self-test OK" in str(report)


def test_torch_compile_stack_loads_after_rendering_in_the_same_process(renderer: MeshRenderer) -> None:
    """Rendering, then importing torch's compiler stack (triton) in one process must not crash (a segfault before
    the renderer preloaded triton); run in a fresh interpreter so the import really happens after the context."""
    import subprocess
    import textwrap

    script = textwrap.dedent(
        """
        import trimesh
        from crossmost_data.views import MeshRenderer, RenderConfig
        views = MeshRenderer(RenderConfig(num_views=1, image_size=32)).render(trimesh.creation.icosphere())
        import torch._dynamo
        print("rendered", views.images[0].shape)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "rendered (32, 32, 3)" in result.stdout


def test_depth_maps_come_with_the_views_on_request(renderer: MeshRenderer) -> None:
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.8)
    plain = renderer.render(sphere)
    views = renderer.render(sphere, with_depth=True)
    assert plain.depths is None
    assert views.depths is not None
    assert len(views.depths) == 4
    distance = renderer.config.camera_distance
    for image, depth in zip(views.images, views.depths, strict=True):
        assert depth.shape == (64, 64)
        assert depth.dtype == np.float32
        # The depth mask is the object's silhouette (up to the blended pixels of its outline), and the nearest point
        # of the sphere is 0.8 in front of its centre.
        mask = depth > 0
        assert mask.mean() > 0.2
        assert np.mean(mask != _foreground(image)) < 0.02
        assert float(depth[depth > 0].min()) == pytest.approx(distance - 0.8, abs=0.02)
    assert all(np.array_equal(a, b) for a, b in zip(plain.images, views.images, strict=True))


def test_process_renderers_beyond_the_limit_close_least_recently_used_first(
    renderer: MeshRenderer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from crossmost_data.views import renderer as renderer_module

    monkeypatch.setattr(renderer_module, "_MAX_PROCESS_RENDERERS", 3)
    configs = [RenderConfig(num_views=1, image_size=16, ambient=a) for a in (0.11, 0.12, 0.13, 0.14)]
    first, second, third = (get_process_renderer(c) for c in configs[:3])
    assert get_process_renderer(configs[0]) is first  # now the most recently used
    fourth = get_process_renderer(configs[3])
    assert second._closed
    assert not first._closed
    assert not third._closed
    assert not fourth._closed
    assert get_process_renderer(configs[1]) is not second  # a closed renderer is replaced, never handed out
