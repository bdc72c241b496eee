"""Self-training the ULIP-2, OpenShape and Uni3D towers through the command line, at tiny width on CPU: tiny shards
made by crossmost_data (xyz clouds, y up), each family's tiny model with random towers, then evaluate and predict from
the run; the model brings the clouds into its tower's conventions (z up, grey colour, unit sphere) by itself."""

import json
from pathlib import Path

import numpy as np
import pytest

from crossmost_train.cli import main

from . import _train_fixtures as fx

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:the image tower of:UserWarning")]

CLASSES = ["airplane", "bottle", "chair", "lamp"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fx.prepare_synthetic_target(
        tmp_path_factory.mktemp("synthetic-target"), CLASSES, objects_per_class=6, num_views=2, view_size=32,
        points=512, image_size=64, samples_per_shard=20, test_fraction=0.34,
    )  # fmt: skip


@pytest.mark.parametrize("model", ["ulip2-tiny", "openshape-tiny", "uni3d-tiny"])
def test_selftrain_evaluate_and_predict_each_family(model: str, dataset: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    common = [f"data.root={dataset}", f"run.output_dir={run}", f"model.name={model}"]
    assert main(["selftrain", "-c", "tiny", *common, "schedule.epochs=1", "run.stop_after_steps=2"]) == 0
    results = json.loads((run / "results.json").read_text())
    student = results["self-trained student (last step)"]
    assert student["num_samples"] == 8
    assert all(0.0 <= student[branch] <= 100.0 for branch in ("image", "point", "joint"))
    saved = json.loads((run / "model" / "config.json").read_text())["model_config"]
    family = {"ulip2-tiny": "pointbert", "openshape-tiny": "ppat", "uni3d-tiny": "uni3d"}[model]
    assert saved["point"]["family"] == family
    assert saved["point_inputs"] == {"missing_color": 0.4, "up_axis": "z", "normalize": "unit_sphere"}
    assert main(["evaluate", "--run", str(run), f"data.root={dataset}"]) == 0
    again = json.loads((run / "eval-test" / "results.json").read_text())
    assert again["self-trained student (last step)"]["point"] == pytest.approx(student["point"])
    cloud = tmp_path / "cloud.npy"
    np.save(cloud, np.random.default_rng(0).standard_normal((700, 3)))
    assert main(["predict", str(cloud), "--run", str(run), "--out", str(tmp_path / "pred"), "--views", "2"]) == 0
    rows = json.loads((tmp_path / "pred" / "predictions.json").read_text())
    assert rows[0]["point"]["class"] in CLASSES
    assert sum(rows[0]["point"]["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
