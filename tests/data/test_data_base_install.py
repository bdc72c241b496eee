"""The base install prepares data without torch: declared dependencies, and a run that never imports torch."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import textwrap
from importlib.metadata import requires
from pathlib import Path

import pytest

HEAVY = ("torch", "timm", "scipy", "h5py", "ray")
"""Distributions the base install and the ``render`` extra must not pull: they belong to other extras (the local
executor never imports ray)."""


def _requirements() -> dict[str | None, set[str]]:
    """Declared requirements of crossmost-data by extra (``None``: the base install), as distribution names."""
    found: dict[str | None, set[str]] = {}
    for requirement in requires("crossmost-data") or []:
        name = re.match(r"[A-Za-z0-9_.-]+", requirement)
        assert name is not None, requirement
        extra = re.search(r"""extra\s*==\s*['"]([^'"]+)['"]""", requirement)
        found.setdefault(extra.group(1) if extra else None, set()).add(name.group(0).lower())
    return found


def test_declared_dependencies_keep_torch_out_of_the_base_install() -> None:
    declared = _requirements()
    assert declared[None] == {"numpy", "trimesh", "pillow", "tqdm", "fpsample"}
    assert declared["render"] == {"pyrender"}
    assert declared["torch"] == {"torch", "timm", "scipy", "fsspec"}  # fsspec: the streaming loader's files
    assert declared["stream"] == {"fsspec"}  # with its http extra (aiohttp)
    assert declared["h5"] == {"h5py"}
    assert declared["ray"] == {"ray"}


# Runs `crossmost-data render` on a folder of meshes with the heavy modules made unimportable (as in an install
# without them), then reports what was imported.
_SCRIPT = """
import importlib.abc, json, sys

HEAVY = {heavy!r}


class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HEAVY:
            raise ModuleNotFoundError(f"No module named {{name!r}} (refused by the test)", name=name)
        return None


sys.meta_path.insert(0, Refuse())
from crossmost_data.cli import main

code = main(["render", "folder", "--root", sys.argv[1], "--out", sys.argv[2], "--views", "2", "--image-size", "32",
             "--points", "64", "--workers", "0", "--no-progress"])
print(json.dumps({{"code": code, "imported": sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)}}))
"""


def _mesh_folder(root: Path) -> None:
    import trimesh

    for name, make in (("box", lambda: trimesh.creation.box()), ("ball", lambda: trimesh.creation.icosphere(1))):
        (root / name).mkdir(parents=True)
        for i in range(2):
            make().export(root / name / f"{name}_{i}.off")


def test_render_prepares_a_mesh_folder_without_importing_torch(tmp_path: Path) -> None:
    if importlib.util.find_spec("pyrender") is None:  # not imported here: the renderer chooses the GL platform first
        pytest.skip("pyrender (the `render` extra) is not installed")
    from crossmost_data.views import GLUnavailableError, PyOpenGLVersionError, RenderConfig, get_process_renderer

    try:
        get_process_renderer(RenderConfig(num_views=1, image_size=8))
    except (GLUnavailableError, PyOpenGLVersionError) as error:
        pytest.skip(f"headless OpenGL is not available here: {error}")
    raw, out = tmp_path / "raw", tmp_path / "out"
    _mesh_folder(raw)
    script = tmp_path / "prepare.py"
    script.write_text(textwrap.dedent(_SCRIPT.format(heavy=HEAVY)))
    env = {**os.environ, "PYOPENGL_PLATFORM": os.environ.get("PYOPENGL_PLATFORM", "egl")}
    result = subprocess.run(
        [sys.executable, str(script), str(raw), str(out)], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"code": 0, "imported": []}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["class_names"] == ["ball", "box"]
    assert manifest["num_views"] == 2
    assert sum(entry["num_samples"] for entries in manifest["splits"].values() for entry in entries) == 4


_IMPORT_WITHOUT = """
import importlib, importlib.abc, sys


class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == sys.argv[1]:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, Refuse())
try:
    importlib.import_module(sys.argv[2])
except ImportError as error:
    print(error)
"""


@pytest.mark.parametrize(
    ("missing", "module", "extra"),
    [
        ("torch", "crossmost_data.loader", "torch"),
        ("timm", "crossmost_data.loader", "torch"),
        ("torch", "crossmost_data.views.depth", "torch"),
    ],
)
def test_a_missing_extra_is_named(missing: str, module: str, extra: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_WITHOUT, missing, module], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert f"the `{extra}` extra is missing for" in result.stdout
    assert f'pip install "crossmost-data[{extra}]"' in result.stdout


def test_the_h5_readers_name_their_extra(tmp_path: Path) -> None:
    script = _IMPORT_WITHOUT.replace(
        "    importlib.import_module(sys.argv[2])",
        "    from pathlib import Path\n"
        "    from crossmost_data.datasets._h5 import read_h5_labels\n"
        "    read_h5_labels(Path(sys.argv[2]), 40, 'download it')",
    )
    (tmp_path / "a.h5").write_bytes(b"")
    result = subprocess.run(
        [sys.executable, "-c", script, "h5py", str(tmp_path / "a.h5")], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert 'pip install "crossmost-data[h5]"' in result.stdout
