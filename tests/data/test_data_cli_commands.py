"""The command line in-process: render with a registered reader, inspect (table + contact sheet), verify."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from crossmost_data.cli import main
from crossmost_data.datasets import register_reader
from crossmost_data.format.manifest import Manifest
from crossmost_data.inspect import LABEL_WIDTH, point_image, sheet_size
from crossmost_data.items import LoadedItem, SourceItem
from crossmost_data.verify import verify_dataset


class _CliReader:
    name = "cli-toy"
    view_source = "given"

    def __init__(self, per_class: int = 2) -> None:
        self.per_class = per_class

    def class_names(self, root: Path) -> list[str]:
        return ["cone", "box", "empty_class"]

    def splits(self, root: Path) -> list[str]:
        return ["train", "test"]

    def iter_items(self, root: Path, split: str) -> Iterator[SourceItem]:
        for c, name in enumerate(["cone", "box"]):
            for i in range(self.per_class):
                mesh = trimesh.creation.cone(0.5, 1.0) if name == "cone" else trimesh.creation.box()
                color = np.full((24, 24, 3), (200, 40 * i, 60 * c), dtype=np.uint8)
                load = functools.partial(LoadedItem, mesh=mesh, images=[color, 255 - color])
                yield SourceItem(f"{name}-{split}-{i}", name, split, f"{name}/{i}.off", load)


register_reader("cli-toy", _CliReader, replace=True)

SMALL = ["--points", "48", "--image-size", "16", "--samples-per-shard", "3", "--no-progress"]


def _render(tmp_path: Path, *extra: str) -> Path:
    out = tmp_path / "out"
    assert main(["render", "cli-toy", "--root", str(tmp_path), "--out", str(out), *SMALL, *extra]) == 0
    return out


def test_render_then_inspect_and_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = _render(tmp_path, "--option", "per_class=2")
    text = capsys.readouterr().out
    assert "cli-toy: 8 samples" in text
    manifest = Manifest.read(out)
    assert manifest.class_counts == {"train": {"cone": 2, "box": 2}, "test": {"cone": 2, "box": 2}}
    assert manifest.config["reader"]["options"] == {"per_class": 2}

    sheet = tmp_path / "sheet.png"
    assert main(["inspect", str(out), "--sheet", str(sheet), "--per-class", "3", "--tile", "32"]) == 0
    table = capsys.readouterr().out
    assert "    1  box" in table
    assert "empty_class" in table
    with Image.open(sheet) as image:
        assert image.size == sheet_size(3, 3, 32) == (LABEL_WIDTH + 3 * 2 * 32, 3 * 32)
        pixels = np.asarray(image.convert("RGB"))
    # First tile of the 'cone' row is the first given view (red-ish), resized.
    np.testing.assert_array_equal(pixels[16, LABEL_WIDTH + 16], [200, 0, 0])

    assert main(["verify", str(out)]) == 0
    assert "OK" in capsys.readouterr().out


def test_verify_detects_modified_and_truncated_shards(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = _render(tmp_path)
    capsys.readouterr()
    shard = out / "train-000000.tar"
    data = bytearray(shard.read_bytes())
    data[700] ^= 0xFF  # inside the first member's payload
    shard.write_bytes(bytes(data))
    assert main(["verify", str(out)]) == 1
    report = capsys.readouterr().out
    assert "train-000000.tar: sha256" in report
    assert "FAILED" in report
    other = out / "test-000001.tar"
    other.write_bytes(other.read_bytes()[:1500])
    problems = verify_dataset(out).problems
    assert any(p.startswith(f"{other}") and "truncated" in p for p in problems)
    assert any("test-000001.tar: 0 samples, the manifest says 1" in p for p in problems)


def test_verify_reports_count_mismatch_and_missing(tmp_path: Path) -> None:
    out = _render(tmp_path)
    manifest_path = out / "manifest.json"
    data = json.loads(manifest_path.read_text())
    data["splits"]["train"][0]["num_samples"] = 99
    manifest_path.write_text(json.dumps(data))
    (out / "test-000000.tar").unlink()
    problems = verify_dataset(out, decode_views=False).problems
    assert "train-000000.tar: 3 samples, the manifest says 99" in problems
    assert "test-000000.tar: missing" in problems


@pytest.mark.parametrize("edit", ["extra class", "class removed", "classes swapped"])
def test_verify_catches_a_class_list_edited_after_preparation(tmp_path: Path, edit: str) -> None:
    out = _render(tmp_path)
    assert verify_dataset(out).ok  # "empty_class" has no item: a reader's own class list may have such classes
    manifest_path = out / "manifest.json"
    data = json.loads(manifest_path.read_text())
    if edit == "extra class":
        data["class_names"].append("sphere")
    elif edit == "class removed":
        data["class_names"].remove("empty_class")
    else:
        data["class_names"][:2] = data["class_names"][1::-1]
    manifest_path.write_text(json.dumps(data))
    problems = verify_dataset(out, decode_views=False).problems
    count = len(data["class_names"])
    assert f"manifest.json: class_names ({count} classes) are not the list the shards were written with" in problems[0]


def test_unknown_dataset_and_missing_manifest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", "nope", "--root", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "unknown dataset 'nope'" in err
    assert "modelnet40" in err
    assert main(["inspect", str(tmp_path / "missing")]) == 2
    assert "manifest.json" in capsys.readouterr().err
    assert main(["verify", str(tmp_path / "missing")]) == 1


def test_strict_and_split_merge_via_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "o"
    base = ["render", "cli-toy", "--root", str(tmp_path), "--out", str(out), *SMALL]
    assert main([*base, "--shard-index", "0", "--num-shards", "2"]) == 0
    assert "manifest not written yet" in capsys.readouterr().out
    assert not (out / "manifest.json").exists()
    assert main([*base, "--merge"]) == 2
    assert main([*base, "--shard-index", "1", "--num-shards", "2"]) == 0
    assert (out / "manifest.json").exists()
    assert main([*base, "--strict"]) == 0


def test_point_image_projection() -> None:
    image = point_image(np.array([[1.0, 1.0, 0.0], [-1.0, -1.0, 0.0]]), 9)
    assert image.shape == (9, 9, 3)
    assert (image[0, 8] != 255).any()  # x = 1, y = 1 → top right
    assert (image[8, 0] != 255).any()  # bottom left
    assert (image[4, 4] == 255).all()


def test_synth_target_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("crossmost_data.datasets.synthetic")
    out = tmp_path / "synth"
    argv = ["synth", "--domain", "target", "--out", str(out), "--objects-per-class", "2", "--classes", "chair", "table"]
    assert main([*argv, "--views", "2", "--points", "128", "--image-size", "24", "--no-progress"]) == 0
    manifest = Manifest.read(out)
    assert manifest.dataset == "synthetic"
    assert manifest.class_names == ["chair", "table"]
    assert manifest.num_views == 2
    assert manifest.points_per_sample == 128
    assert manifest.config["reader"]["options"]["domain"] == "target"
    assert sum(manifest.num_samples(s) for s in manifest.splits) == 4
    assert verify_dataset(out).ok


def test_workers_default_to_the_available_cores_and_are_capped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from crossmost_data.prepare import config as prepare_config

    monkeypatch.setattr(prepare_config, "available_cores", lambda: 4)
    assert prepare_config.resolve_workers(None) == (4, None)
    assert prepare_config.resolve_workers(None, items=30) == (1, None)  # one worker per 64 items
    assert prepare_config.resolve_workers(None, items=200) == (4, None)
    assert prepare_config.resolve_workers(0, items=200) == (0, None)
    assert prepare_config.resolve_workers(3, items=2) == (2, None)  # never more workers than items
    message = "8 workers asked, but 4 CPU cores are available here: 4 workers are used"
    assert prepare_config.resolve_workers(8, items=1000) == (4, message)
    monkeypatch.setattr(prepare_config, "available_cores", lambda: 1)
    out = _render(tmp_path, "--workers", "8")
    captured = capsys.readouterr()
    assert "note: 8 workers asked, but 1 CPU cores are available here: 1 workers are used" in captured.err
    assert "note: 8 workers asked" in captured.out  # the summary repeats it
    assert "workers" not in Manifest.read(out).config["prepare"]  # how a run executes is not what it writes


@pytest.mark.parametrize(
    "argv", [["--help"], ["render"], ["render", "nope", "--root", ".", "--out", "x"]], ids=" ".join
)
def test_help_and_usage_errors_import_no_torch(argv: list[str]) -> None:
    import subprocess
    import sys

    code = (
        "import sys\nfrom crossmost_data.cli import main\n"
        f"try:\n    code = main({argv!r})\nexcept SystemExit as exit:\n    code = exit.code\n"
        "print(code, 'torch' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split()[-2:] == ["0" if argv == ["--help"] else "2", "False"]


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--image-size", "0", "argument --image-size: must be at least 8, got 0"),
        ("--points", "0", "argument --points: must be at least 1, got 0"),
        ("--views", "-2", "argument --views: must be at least 1, got -2"),
        ("--points", "many", "argument --points: expected an integer, got 'many'"),
    ],
)
def test_sample_sizes_are_checked_against_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, value: str, message: str
) -> None:
    out = tmp_path / "o"
    with pytest.raises(SystemExit) as stop:
        main(["synth", "--domain", "target", flag, value, "--out", str(out)])
    assert stop.value.code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()
