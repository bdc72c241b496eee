"""Inputs to ``render`` that are easy to get wrong: OFF headers as trimesh reads them, broken links, complex
arrays, coordinates outside float32, objects too thin to render, and files of types the reader does not read:
each is read right or refused with the reason that really applies, and nothing is dropped without a word."""

from __future__ import annotations

import importlib.util
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import trimesh

from crossmost_data.datasets import LayoutWarning, get_reader
from crossmost_data.datasets.point_files import read_point_file
from crossmost_data.items import BadItemError
from crossmost_data.mesh import load_mesh, repair_off_header, validate_mesh
from crossmost_data.prepare import prepare_dataset
from crossmost_data.prepare.config import PrepareConfig

TETRA = "0 0 0\n1 0 0\n0 1 0\n0 0 1\n3 0 1 2\n3 0 1 3\n3 0 2 3\n3 1 2 3\n"
# trimesh's own models/whitespace.off: indented, counts glued to the keyword, a comment, quads with colours.
WHITESPACE_OFF = (
    "\t"
    + " " * 40
    + "OFF8 6 12 # or nah\n"
    + "".join(
        f"  {x:.6f}  {y:.6f}  {z:.6f}\n"
        for z in (1.154701, -1.154701)
        for x, y in ((1.632993, 0), (0, 1.632993), (-1.632993, 0), (0, -1.632993))
    )
    + "".join(
        f"  4  {a} {b} {c} {d}  0.5 0.5 0.5 0.75\n"
        for a, b, c, d in ((0, 1, 2, 3), (7, 4, 0, 3), (4, 5, 1, 0), (5, 6, 2, 1), (3, 2, 6, 7), (6, 5, 4, 7))
    )
)


@pytest.mark.parametrize(
    ("name", "text", "vertices", "faces"),
    [
        ("glued.off", "OFF4 4 0\n" + TETRA, 4, 4),
        ("glued_comment.off", "OFF4 4 0 # comment\n" + TETRA, 4, 4),
        ("whitespace.off", WHITESPACE_OFF, 8, 12),
        ("plain.off", "OFF\n4 4 0\n" + TETRA, 4, 4),
    ],
)
def test_off_files_are_read_as_trimesh_reads_them(
    tmp_path: Path, name: str, text: str, vertices: int, faces: int
) -> None:
    path = tmp_path / name
    path.write_text(text)
    expected = trimesh.load(str(path), process=False)
    mesh = load_mesh(path)
    assert (len(mesh.vertices), len(mesh.faces)) == (vertices, faces) == (len(expected.vertices), len(expected.faces))
    np.testing.assert_array_equal(mesh.faces, expected.faces)


def test_the_header_repair_drops_a_comment_after_the_counts() -> None:
    assert repair_off_header(b"OFF4 4 0 # comment\n0 0 0") == b"OFF\n4 4 0\n0 0 0"
    assert repair_off_header(b"OFF490 488 0\n1 2 3") == b"OFF\n490 488 0\n1 2 3"


def test_complex_points_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "complex.npy"
    rng = np.random.default_rng(0)
    np.save(path, rng.normal(size=(10, 3)) + 1j * rng.normal(size=(10, 3)))
    with pytest.raises(BadItemError, match=r"points must be real numbers, got complex values \(dtype complex128\)"):
        read_point_file(path)


@pytest.mark.parametrize("scale", [1e38, 3e38, 1e100])
def test_clouds_beyond_float32_say_so(tmp_path: Path, scale: float) -> None:
    path = tmp_path / "huge.npy"
    np.save(path, np.random.default_rng(0).normal(size=(50, 3)) * scale)
    with pytest.raises(BadItemError, match=r"coordinates too large to process \(largest \|coordinate\| [0-9.e+]+;"):
        read_point_file(path)


@pytest.mark.parametrize("scale", [1e160, 1e300])
def test_meshes_beyond_float32_say_so(scale: float) -> None:
    mesh = trimesh.creation.icosphere(subdivisions=1)
    mesh.vertices = mesh.vertices * scale
    with pytest.raises(BadItemError, match=r"coordinates too large to process"):
        validate_mesh(mesh)


@pytest.mark.parametrize("scale", [1e-150, 1e-20, 1.0, 1e20])
def test_valid_meshes_of_any_scale_have_a_surface(scale: float) -> None:
    mesh = trimesh.creation.icosphere(subdivisions=1)
    mesh.vertices = mesh.vertices * scale
    assert validate_mesh(mesh) is mesh  # no "zero surface area" from an under- or overflow


def _config(**changes: object) -> PrepareConfig:
    return PrepareConfig(points_per_sample=64, image_size=32, num_views=2, progress=False, **changes)


def test_a_broken_symbolic_link_is_a_listed_bad_item(tmp_path: Path) -> None:
    raw = tmp_path / "raw" / "thing"
    raw.mkdir(parents=True)
    np.save(raw / "good.npy", np.random.default_rng(0).normal(size=(80, 3)))
    os.symlink(tmp_path / "nowhere.npy", raw / "gone.npy")
    summary = prepare_dataset(get_reader("folder", view_source="depth"), raw.parent, tmp_path / "out", _config())
    assert summary.counts == {"train": {"thing": 1}}
    (skipped,) = summary.skipped
    assert skipped.source == "thing/gone.npy"
    assert f"broken symbolic link: {raw / 'gone.npy'} points to {tmp_path / 'nowhere.npy'}" in skipped.reason


def test_files_of_unread_types_are_counted_by_kind(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    (raw / "thing").mkdir(parents=True)
    np.save(raw / "thing" / "good.npy", np.random.default_rng(0).normal(size=(80, 3)))
    for name in ("a.dae", "b.dae", "c.3ds", "notes", "d.obj.bak"):
        (raw / "thing" / name).write_text("x")
    (raw / "thing" / "good.mtl").write_text("newmtl x\n")  # companion: read with its .obj, not counted
    os.symlink(tmp_path / "nowhere.dae", raw / "thing" / "e.dae")
    reader = get_reader("folder", view_source="depth")
    with pytest.warns(LayoutWarning) as caught:
        items = list(reader.iter_items(raw, "train"))
    assert [item.source for item in items] == ["thing/good.npy"]
    message = str(caught[0].message)
    assert f"6 files under {raw} are of types the folder reader does not read" in message
    assert ".dae ×3, (no suffix) ×1, .3ds ×1, .bak ×1, 1 of them broken symbolic links" in message


def test_an_object_too_thin_to_render_is_skipped_with_the_reason(tmp_path: Path) -> None:
    if importlib.util.find_spec("pyrender") is None:
        pytest.skip("pyrender (the `render` extra) is not installed")
    from crossmost_data.views import GLUnavailableError, PyOpenGLVersionError, RenderConfig, get_process_renderer

    try:
        get_process_renderer(RenderConfig(num_views=2, image_size=32))
    except (GLUnavailableError, PyOpenGLVersionError) as error:
        pytest.skip(f"headless OpenGL is not available here: {error}")
    raw = tmp_path / "raw" / "thing"
    raw.mkdir(parents=True)
    trimesh.creation.cylinder(radius=1e-4, height=2.0).export(raw / "needle.obj")
    trimesh.creation.cylinder(radius=0.3, height=2.0).export(raw / "rod.obj")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LayoutWarning)
        summary = prepare_dataset(get_reader("folder"), raw.parent, tmp_path / "out", _config(workers=1))
    assert summary.counts == {"train": {"thing": 1}}
    (skipped,) = summary.skipped
    assert skipped.source == "thing/needle.obj"
    assert skipped.reason.startswith("every view is blank: the object is too thin to cover a pixel at 32 px")
