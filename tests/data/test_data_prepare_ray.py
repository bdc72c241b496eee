"""The Ray executor on a local two-CPU Ray cluster: the same shards as the local executor, retries, the final
failure list and a rerun that resumes."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import trimesh

from crossmost_data.cli import main
from crossmost_data.format import file_sha256
from crossmost_data.format.manifest import Manifest
from crossmost_data.items import LoadedItem, SourceItem
from crossmost_data.prepare import ItemProcessingError, PrepareConfig, prepare_dataset
from crossmost_data.prepare.ray_executor import RayNotInstalledError, import_ray

try:
    ray = import_ray()
except RayNotInstalledError:
    pytest.skip(
        "the Ray executor needs ray: the crossmost-data[ray] extra (uv sync --all-packages installs it)",
        allow_module_level=True,
    )

CLASSES = ["box", "ball"]


def _load(class_name: str, seed: int, uid: str, faults: str | None) -> LoadedItem:
    """A good item, unless ``faults`` holds ``<uid>.crash-once`` (the worker process dies, once) or
    ``<uid>.broken`` (an unexpected error on every attempt)."""
    if faults is not None:
        crash = Path(faults) / f"{uid}.crash-once"
        if crash.exists():
            crash.unlink()
            os._exit(1)
        if (Path(faults) / f"{uid}.broken").exists():
            return "not a LoadedItem"  # type: ignore[return-value]
    mesh = trimesh.creation.box(extents=(1, 2, 3)) if class_name == "box" else trimesh.creation.icosphere(1)
    rng = np.random.default_rng(seed)
    views = [rng.integers(0, 256, size=(20, 24, 3), dtype=np.uint8) for _ in range(2)]
    return LoadedItem(mesh=mesh, images=views)


@dataclass
class ToyReader:
    """Six items per split and class, given views (no OpenGL); ``faults`` is the folder of fault markers."""

    faults: Path | None = None
    name: str = "toy"
    view_source: str = "given"

    def class_names(self, root: Path) -> list[str]:
        return list(CLASSES)

    def splits(self, root: Path) -> list[str]:
        return ["train", "test"]

    def iter_items(self, root: Path, split: str) -> Iterator[SourceItem]:
        faults = None if self.faults is None else str(self.faults)
        for c, class_name in enumerate(CLASSES):
            for i in range(3):
                uid = f"{class_name}_{split}_{i:03d}"
                load = functools.partial(_load, class_name, 10 * c + i, uid, faults)
                yield SourceItem(uid, class_name, split, f"{class_name}/{uid}.off", load)


def _config(**overrides: object) -> PrepareConfig:
    base: dict[str, object] = {"points_per_sample": 64, "image_size": 16, "samples_per_shard": 2, "progress": False}
    base.update(overrides)
    return PrepareConfig(**base)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    # The executor's import of ray (above) turned off Ray's `uv run` hook before the cluster starts, as in a user's
    # run: the workers run the test's own interpreter and environment.
    from ray._private import ray_constants

    assert ray_constants.RAY_ENABLE_UV_RUN_RUNTIME_ENV is False
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        # a worker starts slowly on a loaded machine; Ray's default gives it 60 s
        _system_config={"worker_register_timeout_seconds": 600},
    )
    # The item loaders live in this test module, which the workers cannot import by name: send them by value.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield
    ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    ray.shutdown()


def _outputs(folder: Path) -> dict[str, bytes]:
    """Every shard and sidecar of a prepared folder (the manifest is compared apart: it holds its write time)."""
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir()) if path.name != "manifest.json"}


def _manifest(folder: Path) -> dict[str, object]:
    data = json.loads((folder / "manifest.json").read_text())
    data.pop("created")
    return data


@pytest.fixture(scope="module")
def local_reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("local")
    summary = prepare_dataset(ToyReader(), out, out, _config(workers=0))
    assert summary.exit_code == 0
    return out


@pytest.mark.usefixtures("cluster")
def test_ray_writes_the_local_executors_bytes(tmp_path: Path, local_reference: Path) -> None:
    summary = prepare_dataset(ToyReader(), tmp_path, tmp_path / "ray", _config(workers=2), executor="ray")
    assert summary.exit_code == 0
    assert summary.shards_written == 6
    assert any("2 shard task(s) at a time on a cluster of 2 CPU(s)" in note for note in summary.notes)
    ours, reference = _outputs(tmp_path / "ray"), _outputs(local_reference)
    assert sorted(ours) == sorted(reference)
    assert len([name for name in ours if name.endswith(".tar")]) == 6
    for name, data in reference.items():
        assert ours[name] == data, name
    assert _manifest(tmp_path / "ray") == _manifest(local_reference)
    manifest = Manifest.read(tmp_path / "ray")
    for entry in manifest.splits["train"]:
        assert file_sha256(tmp_path / "ray" / entry.file) == entry.sha256
    assert not list((tmp_path / "ray").glob("*.tmp"))


@pytest.mark.usefixtures("cluster")
def test_failed_tasks_are_retried_listed_and_a_rerun_resumes(tmp_path: Path, local_reference: Path) -> None:
    faults, out = tmp_path / "faults", tmp_path / "ray"
    faults.mkdir()
    # shards hold two items in uid order: ball_*_000/001, ball_*_002 + box_*_000, box_*_001/002
    (faults / "box_train_001.crash-once").touch()  # train-000002: its worker dies once, the retry writes it
    (faults / "ball_test_002.broken").touch()  # test-000001: fails on every attempt
    reader = ToyReader(faults=faults)
    with pytest.raises(ItemProcessingError) as failure:
        prepare_dataset(reader, tmp_path, out, _config(workers=2), executor="ray")
    message = str(failure.value)
    assert message.startswith("1 shard(s) failed on the Ray cluster after every retry:")
    assert "test-000001.tar (3 attempts): ItemProcessingError: preparing 'ball_test_002'" in message
    assert not (faults / "box_train_001.crash-once").exists()  # the crash happened, and the retry wrote the shard
    finished = sorted(path.name for path in out.glob("*.tar"))
    assert finished == [f"{s}-{i:06d}.tar" for s in ("test", "train") for i in range(3) if (s, i) != ("test", 1)]
    assert not list(out.glob("*.tmp"))
    assert not (out / "manifest.json").exists()

    (faults / "ball_test_002.broken").unlink()
    stamps = {path.name: path.stat().st_mtime_ns for path in out.glob("*.tar")}
    summary = prepare_dataset(reader, tmp_path, out, _config(workers=2), executor="ray")
    assert (summary.shards_resumed, summary.shards_written) == (5, 1)
    assert all(out.joinpath(name).stat().st_mtime_ns == stamp for name, stamp in stamps.items())
    assert _outputs(out) == _outputs(local_reference)
    assert _manifest(out) == _manifest(local_reference)


@pytest.mark.usefixtures("cluster")
def test_command_line_ray_executor(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = tmp_path / "raw" / "cube"
    raw.mkdir(parents=True)
    for i in range(3):
        trimesh.creation.box(extents=(1 + i, 1, 1)).export(raw / f"c{i}.off")
    common = ["render", "folder", "--root", str(tmp_path / "raw"), "--views", "2", "--image-size", "16"]
    common += ["--points", "32", "--samples-per-shard", "2", "--no-progress", "--option", "view_source=depth"]
    assert main([*common, "--out", str(tmp_path / "local"), "--workers", "0"]) == 0
    assert main([*common, "--out", str(tmp_path / "ray"), "--executor", "ray"]) == 0
    assert "Ray executor: 2 shard task(s) at a time" in capsys.readouterr().out
    assert _outputs(tmp_path / "ray") == _outputs(tmp_path / "local")


def test_address_without_the_ray_executor_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["synth", "--domain", "source", "--out", str(tmp_path), "--address", "auto", "--no-progress"])
    assert code == 2
    assert "--address names a Ray cluster: use it with --executor ray" in capsys.readouterr().err
