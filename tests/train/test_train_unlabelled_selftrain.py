"""Self-training on truly unlabelled data: a folder of objects + a class list → depth-view shards → `selftrain`, whose
evaluation of the unlabelled test split reports predictions per class and no accuracy."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import trimesh

from crossmost_train.cli import main
from crossmost_train.evaluation import Predictions, score_predictions
from crossmost_train.report import score_line, write_report

pytestmark = pytest.mark.slow

CLASSES = ["chair", "table", "lamp"]


def _write_objects(folder: Path, count: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    for i in range(count):
        if i % 2:
            np.save(folder / f"cloud{i}.npy", (rng.normal(size=(600, 3)) * rng.uniform(0.3, 1.0, 3)).astype("float32"))
        else:
            trimesh.creation.box(extents=rng.uniform(0.2, 1.0, 3)).export(folder / f"box{i}.off")


@pytest.fixture(scope="module")
def unlabelled_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from crossmost_data.datasets import get_reader
    from crossmost_data.format.manifest import Manifest
    from crossmost_data.prepare import prepare_dataset
    from crossmost_data.prepare.config import PrepareConfig

    raw = tmp_path_factory.mktemp("raw")
    _write_objects(raw / "train", 8, seed=0)
    _write_objects(raw / "test", 4, seed=1)
    out = tmp_path_factory.mktemp("prepared")
    reader = get_reader("folder", view_source="depth", classes=",".join(CLASSES))
    config = PrepareConfig(points_per_sample=512, image_size=64, num_views=3, samples_per_shard=8, progress=False)
    assert prepare_dataset(reader, raw, out, config).exit_code == 0
    manifest = Manifest.read(out)
    assert manifest.unlabelled_counts == {"train": 8, "test": 4}
    return out


def test_selftrain_on_unlabelled_data_reports_no_accuracy(unlabelled_dataset: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    common = [f"data.root={unlabelled_dataset}", f"run.output_dir={run}"]
    assert main(["selftrain", "-c", "tiny", *common, "schedule.max_steps=2"]) == 0
    results = json.loads((run / "results.json").read_text())
    for scores in results.values():
        assert scores["num_samples"] == 4
        assert scores["counts/labelled"] == 0
        assert all(math.isnan(scores[branch]) for branch in ("image", "image*", "point", "joint"))
        assert all(sum(scores[f"counts/predicted/{b}"]) == 4 for b in ("image", "image*", "point", "joint"))
        assert all(len(scores[f"counts/predicted/{b}"]) == len(CLASSES) for b in ("image", "point"))
    report = (run / "report.md").read_text()
    assert "4 evaluation objects have no labels, so no accuracy is reported" in report
    assert "Top-1 accuracy" not in report
    assert "Per-class accuracy" not in report
    assert not list(run.glob("confusion_*.png"))
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train_rows = [row for row in rows if row.get("kind") == "train"]
    assert train_rows, "the loop logged no training step"
    assert not any(
        isinstance(v, float) and math.isfinite(v) for row in train_rows for k, v in row.items() if "accuracy" in k
    )
    assert main(["evaluate", "--run", str(run), f"data.root={unlabelled_dataset}"]) == 0
    again = json.loads((run / "eval-test" / "results.json").read_text())
    student = again["self-trained student (last step)"]
    assert student["counts/labelled"] == 0
    assert student["counts/predicted/point"] == results["self-trained student (last step)"]["counts/predicted/point"]


def test_scores_and_report_of_partly_labelled_and_unlabelled_predictions(tmp_path: Path) -> None:
    import torch

    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 1.0]])
    unlabelled = Predictions(
        indices=torch.arange(4),
        labels=torch.full((4,), -1),
        logits=dict.fromkeys(("image", "image*", "point", "joint"), logits),
    )
    scores = score_predictions(unlabelled, CLASSES)
    assert scores["counts/labelled"] == 0
    assert scores["counts/predicted/joint"] == [1, 2, 1]
    assert math.isnan(scores["joint"])
    assert (
        score_line(scores, CLASSES)
        == "no labels, no accuracy; joint predictions over 4 objects: table 2, chair 1, lamp 1"
    )
    partly = Predictions(indices=unlabelled.indices, labels=torch.tensor([0, 2, -1, -1]), logits=unlabelled.logits)
    half = score_predictions(partly, CLASSES)
    assert half["counts/labelled"] == 2
    assert half["joint"] == pytest.approx(50.0)
    write_report(tmp_path, title="t", results={"model": half}, classnames=CLASSES)
    assert "Top-1 accuracy (%) on the 2 labelled of 4 evaluation objects" in (tmp_path / "report.md").read_text()
    write_report(tmp_path, title="t", results={"model": scores}, classnames=CLASSES)
    text = (tmp_path / "report.md").read_text()
    assert "| table | 2 | 2 | 2 | 2 |" in text
    assert "accuracy" not in text.lower().replace("no accuracy is reported", "")
