"""The command line itself: help and usage errors stay light, overrides go anywhere, unknown options get the
override that sets them, and every path is checked before any heavy work."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from crossmost_train.cli import main, suggest_override

LIGHT_RUN = """
import sys
from crossmost_train.cli import main
try:
    code = main({argv!r})
except SystemExit as exit:
    code = exit.code
heavy = sorted(m for m in ("torch", "numpy", "open_clip", "crossmost_models", "crossmost_data") if m in sys.modules)
print(code, ",".join(heavy) or "-")
"""


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["selftrain", "--help"],
        ["predict", "--help"],
        ["demo", "--help"],
        ["selftrain", "--epochs", "3"],
        ["selftrain", "-c", "tiny", "optim.lr=1"],
        ["selftrain", "-c", "no-such-preset"],
        ["evaluate", "--run", "runs/nope"],
        ["selftrain", "-c", "tiny", "data.root=/no/such/folder"],
        ["selftrain", "-c", "crossmost", "model.point_pretrained=/no/ulip.pt"],
        ["predict", "shoe.obj"],
        ["predict", "missing.obj", "--classes", "a", "b", "model.require_pretrained=false"],
    ],
    ids=" ".join,
)
def test_help_and_usage_errors_import_no_torch(argv: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-c", LIGHT_RUN.format(argv=argv)], capture_output=True, text=True, check=True
    )
    code, heavy = result.stdout.split()[-2:]
    assert (code, heavy) == ("0" if argv[-1] == "--help" else "2", "-"), result.stderr


def print_config(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict:
    assert main(argv) == 0
    return yaml.safe_load(capsys.readouterr().out)


def test_overrides_may_follow_options(capsys: pytest.CaptureFixture[str]) -> None:
    cfg = print_config(
        capsys, ["selftrain", "data.root=/x", "-c", "tiny", "schedule.epochs=3", "--print-config", "run.seed=4"]
    )
    assert (cfg["data"]["root"], cfg["model"]["name"], cfg["schedule"]["epochs"], cfg["run"]["seed"]) == (
        "/x", "tiny", 3.0, 4,
    )  # fmt: skip


def test_later_overrides_win_in_command_line_order(capsys: pytest.CaptureFixture[str]) -> None:
    cfg = print_config(capsys, ["evaluate", "run.seed=1", "-c", "tiny", "run.seed=2", "--print-config"])
    assert cfg["run"]["seed"] == 2


def test_predict_takes_overrides_among_its_inputs(capsys: pytest.CaptureFixture[str]) -> None:
    cfg = print_config(capsys, ["predict", "shoe.obj", "model.name=tiny", "--classes", "a", "b", "--print-config"])
    assert cfg["model"]["name"] == "tiny"


def test_unknown_option_suggests_the_override(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["selftrain", "-c", "tiny", "--epochs", "3"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "usage: crossmost-train selftrain" in err  # the subcommand's usage, not the top-level one
    assert "unrecognized option --epochs; config values are set as key=value: schedule.epochs=3" in err


def test_suggestions() -> None:
    assert suggest_override("--epochs", "3", "selftrain") == "schedule.epochs=3"
    assert suggest_override("--epochs", "3", "pretrain") == "schedule.epochs=3 or pretrain.epochs=3"
    assert suggest_override("--lr", "1e-3") == "optim.base_lr=1e-3 or optim.min_lr=1e-3"
    assert suggest_override("--threshold", None) == "objective.threshold=..."
    assert suggest_override("--frobnicate", "1") is None


def test_config_errors_exit_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["selftrain", "-c", "tiny", "optim.lr=1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert err.startswith("crossmost-train selftrain: error: unknown config key 'optim.lr'")


def test_missing_paths_are_named_before_anything_is_built(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "manifest.json").write_text("{}")
    argv = ["selftrain", "-c", "tiny", f"data.root={tmp_path}", "model.point_pretrained=ckpt/ulip_pointbert.pt",
            "model.pretrained=clip/weights.safetensors", "model.templates=mine.json"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    for named in ("model.point_pretrained=ckpt/ulip_pointbert.pt", "model.pretrained=clip/weights.safetensors",
                  "model.templates=mine.json"):  # fmt: skip
        assert f"{named}: no such file or folder" in err


def test_evaluate_names_a_missing_run_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--run", str(tmp_path / "nope")]) == 2
    assert f"--run {tmp_path / 'nope'}: no such folder" in capsys.readouterr().err
    assert main(["evaluate", "--run", str(tmp_path)]) == 2
    assert "no model/ or teacher/ folder" in capsys.readouterr().err


@pytest.mark.parametrize(("command", "preset"), [("evaluate", "zeroshot"), ("selftrain", "crossmost")])
def test_presets_that_expect_weights_refuse_random_towers(
    command: str, preset: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "manifest.json").write_text("{}")
    assert main([command, "-c", preset, f"data.root={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert "would score and train random towers: set model.pretrained" in err
    assert "model.point_pretrained" in err
    assert "model.require_pretrained=false" in err


def test_a_saved_model_needs_no_point_weights(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    saved = tmp_path / "model"
    saved.mkdir()
    (saved / "config.json").write_text("{}")
    from crossmost_train.config import load_config
    from crossmost_train.preflight import check_config

    check_config(load_config(["zeroshot"], [f"model.pretrained={saved}"]), data=False, weights_required=True)


def test_the_demo_clip_stage_does_not_warn_about_random_towers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import crossmost_train.pretrain
    from crossmost_models import create_clip
    from crossmost_train.demo.stages import StageRunner

    def building_only(cfg: object) -> Path:  # the stage's model-building call, without the training
        create_clip("crossmost-tiny-clip")
        return tmp_path / "open_clip_model.safetensors"

    monkeypatch.setattr(crossmost_train.pretrain, "pretrain_clip", building_only)
    with caplog.at_level("WARNING"):
        StageRunner(progress=False, echo=lambda line: None).pretrain_clip(
            ["demo-pretrain-clip"], [f"run.output_dir={tmp_path / 'clip'}", f"data.root={tmp_path}"]
        )
    assert not any("No pretrained weights loaded" in r.getMessage() for r in caplog.records)


def test_commands_leave_the_loaded_config_unchanged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse
    import copy

    import crossmost_train.commands.evaluate
    import crossmost_train.pretrain
    from crossmost_train.commands import evaluate, pretrain
    from crossmost_train.config import TrainConfig, load_config

    seen: list[TrainConfig] = []
    monkeypatch.setattr(crossmost_train.pretrain, "pretrain_clip", lambda cfg: seen.append(cfg))
    monkeypatch.setattr(crossmost_train.commands.evaluate, "run_evaluate", lambda cfg, run: seen.append(cfg))
    cfg = load_config(["tiny"], [f"data.root={tmp_path}", "pretrain.task=ulip"])
    before = copy.deepcopy(cfg)
    assert pretrain.run_command(argparse.Namespace(task="clip"), cfg) == 0
    assert evaluate.run_command(argparse.Namespace(no_progress=True, run=None), cfg) == 0
    assert cfg == before
    assert (seen[0].pretrain.task, seen[1].run.progress_bar) == ("clip", False)
