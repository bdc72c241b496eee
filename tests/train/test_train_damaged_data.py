"""Damaged prepared data in real runs: selftrain and evaluate skip the unreadable samples, list them by shard and
key on the console and in report.md, and a dataset that is mostly unreadable stops with one clear line."""

import json
import shutil
from pathlib import Path

import pytest

from crossmost_data.format.manifest import Manifest
from crossmost_data.format.reader import scan_shard
from crossmost_train.cli import main

from . import _train_fixtures as fx

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fx.prepare_synthetic_target(
        tmp_path_factory.mktemp("synthetic"), ["airplane", "bottle", "chair", "lamp"], objects_per_class=8,
        num_views=2, view_size=32, points=512, image_size=32, samples_per_shard=12, test_fraction=0.25,
    )  # fmt: skip


def _copy(prepared: Path, folder: Path) -> Path:
    shutil.copytree(prepared, folder)
    return folder


def _flip_member(shard: Path, sample: int, member: str) -> str:
    """Flip 8 bytes in the middle of one member of one sample; returns the sample's key."""
    indexed = scan_shard(shard, 2).samples[sample]
    offset, size = indexed.points if member == "points" else indexed.views[int(member)]
    data = bytearray(shard.read_bytes())
    for i in range(offset + size // 2, offset + size // 2 + 8):
        data[i] ^= 0xA5
    shard.write_bytes(bytes(data))
    return indexed.key


def test_selftrain_and_evaluate_skip_and_list_damaged_samples(
    prepared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _copy(prepared, tmp_path / "data")
    manifest = Manifest.read(root)
    train_shard = root / manifest.shards("train")[0].file
    test_shard = root / manifest.shards("test")[0].file
    bad_points = _flip_member(train_shard, 3, "points")
    bad_views = _flip_member(train_shard, 5, "0")
    assert _flip_member(train_shard, 5, "1") == bad_views  # every view: any random choice meets the damage
    bad_test = _flip_member(test_shard, 0, "points")
    run = tmp_path / "run"
    argv = ["selftrain", "-c", "tiny", f"data.root={root}", f"run.output_dir={run}", "schedule.epochs=1"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    for key, shard in ((bad_points, train_shard), (bad_views, train_shard), (bad_test, test_shard)):
        assert f"{shard.name}: sample {key!r}" in err, key
    report = (run / "report.md").read_text()
    assert "## Unreadable samples" in report
    assert f"train: data/{train_shard.name}: sample {bad_points!r}: member 'points.npy' is damaged" in report
    assert f"train: data/{train_shard.name}: sample {bad_views!r}: member 'view0" in report
    assert f"test: data/{test_shard.name}: sample {bad_test!r}: member 'points.npy' is damaged" in report
    results = json.loads((run / "results.json").read_text())
    student = results["self-trained student (last step)"]
    assert student["counts/unreadable"] == 1
    assert student["num_samples"] == manifest.num_samples("test") - 1
    events = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert {e["sample"].split(": member")[0] for e in events if e.get("event") == "unreadable_sample"} == {
        f"data/{train_shard.name}: sample {bad_points!r}",
        f"data/{train_shard.name}: sample {bad_views!r}",
    }
    assert main(["evaluate", "--run", str(run), f"data.root={root}"]) == 0
    assert f"sample {bad_test!r}" in capsys.readouterr().out + (run / "eval-test" / "report.md").read_text()


def test_a_manifest_with_reordered_classes_stops_with_one_line(
    prepared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _copy(prepared, tmp_path / "data")
    manifest = Manifest.read(root)
    manifest.class_names = list(reversed(manifest.class_names))
    manifest.write(root)
    argv = ["selftrain", "-c", "tiny", f"data.root={root}", f"run.output_dir={tmp_path / 'run'}"]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "class_names (4 classes) are not the list the shards were written with" in err[0]


def test_a_truncated_shard_lists_the_samples_it_lost(
    prepared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _copy(prepared, tmp_path / "data")
    manifest = Manifest.read(root)
    shard = root / manifest.shards("train")[0].file
    samples = scan_shard(shard, 2).samples
    cut = samples[-3].points[0] - 1024  # inside the fourth sample from the end
    shard.write_bytes(shard.read_bytes()[:cut])
    lost = [s.key for s in samples if s.json[0] + s.json[1] > cut]
    assert len(lost) == 4
    run = tmp_path / "run"
    argv = ["selftrain", "-c", "tiny", f"data.root={root}", f"run.output_dir={run}", "schedule.epochs=1"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    report = (run / "report.md").read_text()
    line = f"train: {shard.name}: 4 sample(s) skipped"
    assert line in err
    assert line in report
    assert f"[{', '.join(lost)}]" in report
