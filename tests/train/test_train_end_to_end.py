"""End to end with the real packages: tiny shards made by crossmost_data (the synthetic target domain: scan-like
points, depth views, 4 classes), the `tiny` CrossModalModel with random CLIP towers, and the command line."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from crossmost_train.cli import main

from . import _train_fixtures as fx

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fx.prepare_synthetic_target(
        tmp_path_factory.mktemp("synthetic-target"), ["airplane", "bottle", "chair", "lamp"], objects_per_class=10,
        num_views=3, view_size=32, points=512, image_size=64, samples_per_shard=20, test_fraction=0.4,
    )  # fmt: skip


def test_cli_selftrain_evaluate_predict(dataset: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    common = [f"data.root={dataset}", f"run.output_dir={run}"]
    assert main(["selftrain", "-c", "tiny", *common, "schedule.epochs=1"]) == 0
    results = json.loads((run / "results.json").read_text())
    student = results["self-trained student (last step)"]
    assert student["num_samples"] == 16
    assert sorted(k for k in student if "/" not in k) == ["image", "image*", "joint", "num_samples", "point"]
    assert main(["evaluate", "--run", str(run), f"data.root={dataset}"]) == 0
    again = json.loads((run / "eval-test" / "results.json").read_text())
    assert again["self-trained student (last step)"]["point"] == pytest.approx(student["point"])
    points = tmp_path / "cloud.npy"
    torch.manual_seed(0)
    np.save(points, torch.randn(700, 3).numpy())
    assert main(["predict", str(points), "--run", str(run), "--out", str(tmp_path / "pred"), "--views", "3"]) == 0
    rows = json.loads((tmp_path / "pred" / "predictions.json").read_text())
    assert rows[0]["joint"]["class"] in ("airplane", "bottle", "chair", "lamp")
    assert sum(rows[0]["point"]["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)


def test_cli_selftrain_with_a_memory_plan_saves_a_plain_model(dataset: Path, tmp_path: Path) -> None:
    """LoRA, activation checkpointing and a sharing teacher through the command line; the saved model has the
    adapters folded in, loads with the public API and scores as the run reported."""
    from crossmost_models import from_pretrained

    run = tmp_path / "run"
    plan = ["memory.trainable=lora", "memory.lora_rank=2", "memory.activation_checkpointing=true",
            "memory.teacher_shares_frozen=true"]  # fmt: skip
    assert main(["selftrain", "-c", "tiny", f"data.root={dataset}", f"run.output_dir={run}", "schedule.epochs=1",
                 *plan]) == 0  # fmt: skip
    student = json.loads((run / "results.json").read_text())["self-trained student (last step)"]
    names = set(from_pretrained(run / "model").state_dict())
    assert not any("lora" in n or "parametrizations" in n for n in names)
    assert names == set(from_pretrained(run / "teacher").state_dict())
    assert main(["evaluate", "--run", str(run), f"data.root={dataset}"]) == 0
    again = json.loads((run / "eval-test" / "results.json").read_text())["self-trained student (last step)"]
    assert again["point"] == pytest.approx(student["point"])
    assert again["image"] == pytest.approx(student["image"])


def test_bad_inputs_give_clear_errors(dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    common = [f"data.root={dataset}", f"run.output_dir={tmp_path / 'r'}"]
    assert main(["selftrain", "-c", "tiny", *common, "model.classnames=[chair,table]"]) == 1
    assert "disagree with the dataset manifest" in capsys.readouterr().err
    assert main(["selftrain", "-c", "tiny", f"data.root={tmp_path / 'nowhere'}"]) == 2  # usage: a missing path
    assert "nowhere: no such folder" in capsys.readouterr().err
    assert main(["selftrain", "-c", "tiny", *common, "optim.lr=1"]) == 2  # usage: an unknown key
    assert "optim.base_lr" in capsys.readouterr().err
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in dataset.iterdir():
        if f.name != "train-000001.tar":
            (broken / f.name).write_bytes(f.read_bytes())
    assert main(["selftrain", "-c", "tiny", f"data.root={broken}", f"run.output_dir={tmp_path / 'b'}"]) == 1
    assert "train-000001.tar" in capsys.readouterr().err
    other = tmp_path / "other"
    assert main(["selftrain", "-c", "tiny", f"data.root={dataset}", f"run.output_dir={other}",
                 "run.stop_after_steps=1", "model.overrides={point: {trans_dim: 32, num_heads: 2}}"]) == 0  # fmt: skip
    assert main(["selftrain", "-c", "tiny", f"data.root={dataset}", f"run.output_dir={other}"]) == 1
    assert "another architecture" in capsys.readouterr().err


def test_ulip_point_branch_loads_strictly_into_a_model_for_other_classes(dataset: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    import crossmost_models as cm

    out = tmp_path / "ulip"
    args = [f"data.root={dataset}", f"run.output_dir={out}", "pretrain.epochs=1", "pretrain.batch_size_per_device=8"]
    assert main(["pretrain", "--task", "ulip", "-c", "tiny", *args]) == 0
    branch = out / "point_branch.safetensors"
    weights = load_file(str(branch))
    assert any(k.startswith("point_encoder.") for k in weights)
    model = cm.create_model("tiny", point_pretrained=str(branch), classnames=["cup", "vase", "desk"])
    state = model.state_dict()
    for key, value in weights.items():
        assert torch.equal(state[key], value), key


@pytest.fixture(scope="module")
def trained_run(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("run")
    assert (
        main(["selftrain", "-c", "tiny", f"data.root={dataset}", f"run.output_dir={run}", "schedule.max_steps=1"]) == 0
    )
    return run


def test_predict_skips_and_lists_bad_inputs(
    trained_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.npy"
    np.save(good, np.random.default_rng(0).normal(size=(600, 3)))
    (tmp_path / "broken.off").write_text("OFF\n3 1 0\nnot numbers at all\n")
    (tmp_path / "notes.doc").write_text("x")
    inputs = [str(tmp_path / "missing.obj"), str(tmp_path / "broken.off"), str(good), str(tmp_path / "notes.doc")]
    out = tmp_path / "pred"
    capsys.readouterr()
    assert main(["predict", *inputs, "--run", str(trained_run), "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert f"{good}: " in printed
    assert "skipped 3 of 4 inputs:" in printed
    assert f"{tmp_path / 'missing.obj'}: no such file or folder" in printed
    assert f"{tmp_path / 'broken.off'}: unreadable OFF file" in printed
    assert "unsupported file type '.doc'" in printed
    rows = json.loads((out / "predictions.json").read_text())
    assert [r["kind"] for r in rows] == ["points", "skipped", "skipped", "skipped"]
    assert rows[0]["point"]["class"] in ("airplane", "bottle", "chair", "lamp")
    csv_lines = (out / "predictions.csv").read_text().splitlines()
    assert csv_lines[0].endswith(",error")
    assert any(line.startswith(f"{tmp_path / 'broken.off'},skipped,") for line in csv_lines)


def test_predict_lists_what_a_folder_holds_but_cannot_be_read(
    trained_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "scans"
    folder.mkdir()
    np.save(folder / "cloud.npy", np.random.default_rng(3).normal(size=(600, 3)))
    (folder / "scene.dae").write_text("<COLLADA/>")
    (folder / "other.dae").write_text("<COLLADA/>")
    (folder / "README").write_text("x")
    (folder / "gone.npy").symlink_to(tmp_path / "nowhere.npy")
    out = tmp_path / "pred"
    capsys.readouterr()
    assert main(["predict", str(folder), "--run", str(trained_run), "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert f"{folder / 'cloud.npy'}: " in printed
    assert "skipped 3 of 4 inputs:" in printed
    assert f"{folder / 'gone.npy'}: broken symbolic link (to {tmp_path / 'nowhere.npy'})" in printed
    assert "2 files of unsupported type '.dae' not read" in printed
    assert f"{folder / '*'}: 1 file without a suffix not read" in printed
    rows = json.loads((out / "predictions.json").read_text())
    assert [r["kind"] for r in rows].count("skipped") == 3


def test_predict_with_only_bad_inputs_is_a_usage_error(trained_run: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    assert main(["predict", str(tmp_path / "nope.obj"), "--run", str(trained_run)]) == 2
    assert "nothing to predict: " in capsys.readouterr().err


def test_predict_prepares_inputs_like_the_training_data(trained_run: Path, dataset: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    cloud = tmp_path / "cloud.xyz"
    np.savetxt(cloud, np.random.default_rng(1).normal(size=(800, 3)))
    out = tmp_path / "pred"
    capsys.readouterr()
    assert main(["predict", str(cloud), "--run", str(trained_run), "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    manifest = json.loads((dataset / "manifest.json").read_text())
    assert f"inputs prepared as {dataset / 'manifest.json'}: y up, {manifest['points_per_sample']} points" in printed
    assert f"{manifest['num_views']} views of {manifest['image_size']} px (the data brought its own views" in printed
    (row,) = json.loads((out / "predictions.json").read_text())
    assert row["notes"] == ["views: depth projections of the points"]
    assert main(["predict", str(cloud), "--run", str(trained_run), "--out", str(out), "--no-progress", "--views", "2",
                 "--up-axis", "z", "--points", "256"]) == 0  # fmt: skip
    assert "z up, 256 points (random downsampling), 2 views of 64 px" in capsys.readouterr().out


def test_predict_classes_with_a_run_needs_the_text_tower(trained_run: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    from safetensors.torch import save_file

    from crossmost_models import create_clip

    cloud = tmp_path / "cloud.npy"
    np.save(cloud, np.random.default_rng(2).normal(size=(600, 3)))
    argv = ["predict", str(cloud), "--run", str(trained_run), "--out", str(tmp_path / "p"), "--no-progress",
            "--classes", "mug", "kettle", "teapot"]  # fmt: skip
    assert main(argv) == 2  # random towers record no text-tower weights: refused, not ignored
    assert "records no text-tower weights" in capsys.readouterr().err
    clip, _ = create_clip("crossmost-tiny-clip")
    weights = tmp_path / "tiny_clip.safetensors"
    save_file({k: v.contiguous() for k, v in clip.state_dict().items()}, str(weights))
    assert main([*argv, "--text-weights", str(weights)]) == 0
    printed = capsys.readouterr().out
    assert "classifier rebuilt from the text tower for 3 classes" in printed
    trained_for = json.loads((trained_run / "model" / "config.json").read_text())["classnames"]
    assert f"self-trained classifier is for {', '.join(trained_for[:5])}" in printed  # the run's, not the new ones
    (row,) = json.loads((tmp_path / "p" / "predictions.json").read_text())
    assert set(row["joint"]["probabilities"]) == {"mug", "kettle", "teapot"}


def test_evaluations_show_progress(dataset: Path, trained_run: Path, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    run = tmp_path / "run"
    argv = ["selftrain", "-c", "tiny", f"data.root={dataset}", f"run.output_dir={run}", "schedule.max_steps=1"]
    assert main([*argv, "run.progress_bar=true"]) == 0
    err = capsys.readouterr().err
    zero_shot = err.index("evaluate student (initial model (zero-shot))")
    assert zero_shot < err.index("selftrain")  # the zero-shot pass before training has its own bar
    assert "evaluate teacher (final model (last step))" in err
    assert main(["evaluate", "--run", str(trained_run), f"data.root={dataset}", "run.progress_bar=true"]) == 0
    assert "evaluate self-trained student (last step)" in capsys.readouterr().err
    assert (
        main(["evaluate", "--run", str(trained_run), f"data.root={dataset}", "run.progress_bar=true", "--no-progress"])
        == 0
    )
    assert "evaluate self-trained" not in capsys.readouterr().err
