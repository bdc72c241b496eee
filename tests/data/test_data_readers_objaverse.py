"""The objaverse and objaverse-lvis readers on a small cache in the objaverse package's layout, textures included."""

from __future__ import annotations

import gzip
import importlib.util
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from crossmost_data.datasets import DatasetLayoutError, LayoutWarning, get_reader
from crossmost_data.format import Manifest, decode_view, iter_shard
from crossmost_data.prepare import PrepareConfig, prepare_dataset

RED, BLUE = (220, 30, 30), (30, 30, 220)
TEXTURED = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
PLAIN = "1f2e3d4c5b6a79808172635445362718"
CORRUPT = "2b3c4d5e6f708192a3b4c5d6e7f80910"
MISSING = "3c4d5e6f708192a3b4c5d6e7f8091021"
UNLISTED = "4d5e6f708192a3b4c5d6e7f809102132"  # downloaded, in no LVIS category


def textured_box() -> trimesh.Trimesh:
    """A cube whose six faces each carry a texture that is red on its left half and blue on its right half."""
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=float)
    vertices, faces, uvs = [], [], []
    for axis in range(3):
        for sign in (-1.0, 1.0):
            others = [a for a in range(3) if a != axis]
            for u, v in corners:
                point = np.zeros(3)
                point[axis], point[others[0]], point[others[1]] = sign, u * sign, v
                vertices.append(point)
                uvs.append(((u + 1) / 2, (v + 1) / 2))
            base = len(vertices) - 4
            quad = [[base, base + 1, base + 2], [base, base + 2, base + 3]]
            faces += quad if sign > 0 else [face[::-1] for face in quad]
    texture = np.zeros((8, 8, 3), dtype=np.uint8)
    texture[:, :4], texture[:, 4:] = RED, BLUE
    material = trimesh.visual.material.PBRMaterial(
        baseColorTexture=Image.fromarray(texture), metallicFactor=0.0, roughnessFactor=1.0
    )
    visual = trimesh.visual.TextureVisuals(uv=np.asarray(uvs), material=material)
    return trimesh.Trimesh(np.asarray(vertices), np.asarray(faces), visual=visual, process=False)


def _glb(mesh: trimesh.Trimesh) -> bytes:
    data = trimesh.Scene(mesh).export(file_type="glb")
    assert isinstance(data, bytes)
    return data


def _gzip_json(path: Path, content: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as file:
        json.dump(content, file)


def build_cache(home: Path, *, duplicate: bool = False) -> Path:
    """``<home>/.objaverse/hf-objaverse-v1`` as the objaverse package writes it; returns ``<home>/.objaverse``."""
    base = home / ".objaverse" / "hf-objaverse-v1"
    places = {
        TEXTURED: "glbs/000-000/",
        PLAIN: "glbs/000-000/",
        CORRUPT: "glbs/000-001/",
        MISSING: "glbs/000-001/",
        UNLISTED: "glbs/000-001/",
    }
    paths = {uid: f"{folder}{uid}.glb" for uid, folder in places.items()}
    for uid in (TEXTURED, PLAIN, CORRUPT, UNLISTED):
        (base / paths[uid]).parent.mkdir(parents=True, exist_ok=True)
    (base / paths[TEXTURED]).write_bytes(_glb(textured_box()))
    plain = trimesh.creation.icosphere(subdivisions=1)
    plain.visual.face_colors = (40, 200, 40, 255)
    (base / paths[PLAIN]).write_bytes(_glb(plain))
    (base / paths[UNLISTED]).write_bytes(_glb(trimesh.creation.box()))
    (base / paths[CORRUPT]).write_bytes(b"glTF\x02\x00\x00\x00 truncated download")
    (base / "glbs" / "000-001" / f"{MISSING}.glb.tmp").write_bytes(b"partial")  # an unfinished download
    _gzip_json(base / "object-paths.json.gz", paths)
    lvis = {"apple": [TEXTURED, MISSING], "ball": [PLAIN, CORRUPT]}
    if duplicate:
        lvis["ball"].append(TEXTURED)
    _gzip_json(base / "lvis-annotations.json.gz", lvis)
    _gzip_json(base / "metadata" / "000-000.json.gz", {uid: {"name": uid[:6]} for uid in (TEXTURED, PLAIN)})
    return home / ".objaverse"


def test_lvis_classes_split_and_items(tmp_path: Path) -> None:
    root = build_cache(tmp_path)
    reader = get_reader("objaverse-lvis")
    assert reader.class_names(root) == ["apple", "ball"]
    assert reader.splits(root) == ["test"]
    items = list(reader.iter_items(root, "test"))
    assert [(item.uid, item.class_name, item.split) for item in items] == [
        (TEXTURED, "apple", "test"),
        (MISSING, "apple", "test"),
        (PLAIN, "ball", "test"),
        (CORRUPT, "ball", "test"),
    ]
    assert items[0].source == f"glbs/000-000/{TEXTURED}.glb"
    # the versioned folder itself is an accepted root and gives the same items
    same = list(reader.iter_items(root / "hf-objaverse-v1", "test"))
    assert [(i.uid, i.source) for i in same] == [(i.uid, i.source) for i in items]
    with pytest.raises(ValueError, match="no split 'train'"):
        list(reader.iter_items(root, "train"))


def test_lvis_finds_glbs_without_the_paths_file(tmp_path: Path) -> None:
    root = build_cache(tmp_path)
    (root / "hf-objaverse-v1" / "object-paths.json.gz").unlink()
    items = {item.uid: item.source for item in get_reader("objaverse-lvis").iter_items(root, "test")}
    assert items[CORRUPT] == f"glbs/000-001/{CORRUPT}.glb"
    assert items[PLAIN] == f"glbs/000-000/{PLAIN}.glb"


def test_lvis_object_in_two_categories_keeps_the_first_with_a_warning(tmp_path: Path) -> None:
    root = build_cache(tmp_path, duplicate=True)
    with pytest.warns(LayoutWarning, match=f"{TEXTURED} under 'apple' and 'ball'"):
        items = list(get_reader("objaverse-lvis").iter_items(root, "test"))
    assert [item.class_name for item in items if item.uid == TEXTURED] == ["apple"]


def test_objaverse_reads_every_downloaded_glb_unlabelled(tmp_path: Path) -> None:
    root = build_cache(tmp_path)
    reader = get_reader("objaverse")
    assert reader.labelled(root) is False
    assert reader.class_names(root) == ["apple", "ball"]
    assert get_reader("objaverse", classes="cup, lamp").class_names(root) == ["cup", "lamp"]
    items = list(reader.iter_items(root, "train"))
    # sorted by folder then name; the .tmp of an unfinished download is not an object
    assert [item.uid for item in items] == [TEXTURED, PLAIN, CORRUPT, UNLISTED]
    assert {item.class_name for item in items} == {""}
    loaded = items[0].load()
    assert loaded.mesh is not None
    assert loaded.mesh.visual.kind == "texture"


def test_layout_errors_name_the_place(tmp_path: Path) -> None:
    with pytest.raises(DatasetLayoutError, match=r"hf-objaverse-v1.*objaverse\.load_objects"):
        get_reader("objaverse-lvis").class_names(tmp_path)
    root = build_cache(tmp_path)
    (root / "hf-objaverse-v1" / "lvis-annotations.json.gz").unlink()
    with pytest.raises(DatasetLayoutError, match="needs a class list"):
        get_reader("objaverse").class_names(root)
    with pytest.raises(DatasetLayoutError, match=r"lvis-annotations\.json\.gz, but it is missing"):
        get_reader("objaverse-lvis").class_names(root)
    (root / "hf-objaverse-v1" / "lvis-annotations.json.gz").write_bytes(b"not gzip")
    with pytest.raises(DatasetLayoutError, match=r"cannot read .*lvis-annotations\.json\.gz as gzip-compressed JSON"):
        get_reader("objaverse-lvis").class_names(root)
    _gzip_json(root / "hf-objaverse-v1" / "lvis-annotations.json.gz", ["apple"])
    with pytest.raises(DatasetLayoutError, match="must map each LVIS category to a list of object uids"):
        get_reader("objaverse-lvis").class_names(root)


def _needs_gl() -> None:
    if importlib.util.find_spec("pyrender") is None:
        pytest.skip("pyrender (the `render` extra) is not installed")
    from crossmost_data.views import GLUnavailableError, PyOpenGLVersionError, RenderConfig, get_process_renderer

    try:
        get_process_renderer(RenderConfig(num_views=1, image_size=16))
    except (GLUnavailableError, PyOpenGLVersionError) as error:
        pytest.skip(f"headless OpenGL is not available here: {error}")


def test_prepare_lvis_renders_textures_and_lists_bad_objects(tmp_path: Path) -> None:
    _needs_gl()
    root = build_cache(tmp_path)
    config = PrepareConfig(
        points_per_sample=256,
        point_layout="xyzrgb",
        num_views=1,
        image_size=48,
        workers=0,
        progress=False,
        render_options={"elevation_deg": 0.0},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LayoutWarning)
        summary = prepare_dataset(get_reader("objaverse-lvis"), root, tmp_path / "out", config)
    assert summary.exit_code == 0
    assert summary.counts == {"test": {"apple": 1, "ball": 1}}
    reasons = {item.uid: item.reason for item in summary.skipped}
    assert set(reasons) == {CORRUPT, MISSING}
    assert reasons[MISSING] == f"not downloaded: 000-001/{MISSING}.glb is missing"
    assert reasons[CORRUPT].startswith("unreadable GLB file")
    manifest = Manifest.read(tmp_path / "out")
    assert manifest.class_names == ["apple", "ball"]
    assert {item.uid for item in manifest.skipped} == {CORRUPT, MISSING}
    samples = {s.uid: s for s in iter_shard(tmp_path / "out" / manifest.splits["test"][0].file)}
    textured = samples[TEXTURED]
    assert textured.meta["label"] == 0
    view = np.asarray(decode_view(textured.views[0]))
    pixels = view.reshape(-1, 3).astype(int)
    red = (pixels[:, 0] > pixels[:, 1] + 80) & (pixels[:, 0] > pixels[:, 2] + 80)
    blue = (pixels[:, 2] > pixels[:, 0] + 80) & (pixels[:, 2] > pixels[:, 1] + 80)
    # the front face fills the middle of the view: one half red, the other blue, as in the texture
    assert red.sum() > 0.1 * len(pixels)
    assert blue.sum() > 0.1 * len(pixels)
    columns = np.arange(view.shape[1])[None, :].repeat(view.shape[0], 0).reshape(-1)
    assert columns[red].mean() < view.shape[1] / 2 < columns[blue].mean()
    # the sampled points carry the texture's colours too
    colours = textured.points[:, 3:6]
    assert np.isclose(colours, np.asarray(RED) / 255, atol=0.05).all(axis=1).mean() > 0.3
    assert np.isclose(colours, np.asarray(BLUE) / 255, atol=0.05).all(axis=1).mean() > 0.3
    plain = np.asarray(decode_view(samples[PLAIN].views[0])).reshape(-1, 3).astype(int)
    assert ((plain[:, 1] > plain[:, 0] + 60) & (plain[:, 1] > plain[:, 2] + 60)).sum() > 0.05 * len(plain)
