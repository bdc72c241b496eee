"""Bad configuration stops where it is read, with one line naming the file, the line or the field: YAML that would
build Python objects, syntax errors, repeated keys, numbers out of range, a global batch larger than the dataset,
damaged weight files, and Ctrl-C."""

from pathlib import Path

import pytest
import torch

from crossmost_train.cli import main
from crossmost_train.commands.selftrain import run_selftrain
from crossmost_train.config import ConfigError, load_config, read_config

from . import _train_fixtures as fx


def test_yaml_python_tags_are_refused_with_file_and_line(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    bad = tmp_path / "evil.yaml"
    bad.write_text(f"run:\n  seed: 1\n  output_dir: !!python/object/apply:os.system ['touch {marker}']\n")
    for load in (lambda: load_config([str(bad)]), lambda: read_config(bad)):
        with pytest.raises(ConfigError) as info:
            load()
        message = str(info.value)
        assert f"{bad}, line 3" in message
        assert "python/object/apply:os.system" in message
    assert not marker.exists()


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("optim:\n  base_lr: 1e-4\n  betas: [0.9, 0.99\nrun:\n  seed: 3\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml, line \d+: "):
        load_config([str(bad)])


def test_duplicate_yaml_keys_are_an_error(tmp_path: Path) -> None:
    bad = tmp_path / "twice.yaml"
    bad.write_text("optim:\n  base_lr: 1.0e-4\n  weight_decay: 0.1\n  base_lr: 3.0e-4\n")
    with pytest.raises(ConfigError, match=r"twice\.yaml, line 4: key 'base_lr' appears twice \(lines 2 and 4\)"):
        load_config([str(bad)])
    nested = tmp_path / "sections.yaml"
    nested.write_text("optim:\n  base_lr: 1.0e-4\nrun:\n  seed: 1\noptim:\n  min_lr: 0\n")
    with pytest.raises(ConfigError, match=r"key 'optim' appears twice \(lines 1 and 5\)"):
        load_config([str(nested)])


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("optim.global_batch_size=0", "optim.global_batch_size: 0 is out of range; expected a number >= 1"),
        ("optim.global_batch_size=-8", "optim.global_batch_size: -8 is out of range"),
        ("optim.base_lr=.nan", "optim.base_lr: expected a finite number"),
        ("optim.base_lr=1e300", "optim.base_lr: 1e+300 is out of range; expected a number in [0, 1]"),
        ("schedule.epochs=-1", "schedule.epochs: -1.0 is out of range; expected a number > 0"),
        ("schedule.epochs=0", "schedule.epochs: 0.0 is out of range"),
        ("optim.betas=[0.9, 1.5]", "optim.betas: 1.5 is out of range"),
        ("ema.momentum_end=inf", "ema.momentum_end: expected a finite number"),
        ("run.keep_last=0", "run.keep_last: 0 is out of range"),
        ("eval.batch_size=-1", "eval.batch_size: -1 is out of range"),
        ("data.image_mask_ratio=2", "data.image_mask_ratio: 2.0 is out of range"),
        ("objective.threshold=1.2", "objective.threshold: ObjectiveConfig.threshold is a confidence and must be in"),
        ("objective.threshold=.nan", "objective.threshold: expected a finite number"),
    ],
)
def test_numeric_fields_are_validated_with_their_name(override: str, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(["tiny"], [override])
    assert field in str(info.value)


def test_numbers_from_a_yaml_file_are_validated_too(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim:\n  base_lr: .nan\n")
    with pytest.raises(ConfigError, match=r"optim\.base_lr: expected a finite number"):
        load_config(["tiny", str(bad)])


def test_cli_reports_a_bad_number_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A config error is a usage error: exit code 2, one line.
    assert main(["selftrain", "-c", "tiny", f"run.output_dir={tmp_path}", "optim.global_batch_size=0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    expected = "crossmost-train selftrain: error: optim.global_batch_size: 0 is out of range; expected a number >= 1"
    assert err == [expected]


def test_global_batch_larger_than_the_dataset_is_a_config_error(tmp_path: Path) -> None:
    cfg = load_config(["tiny"], [f"run.output_dir={tmp_path}", "optim.global_batch_size=64"])
    with pytest.raises(ConfigError, match=r"32 samples, fewer than one global batch of 64 \(optim\.global_batch_"):
        run_selftrain(cfg, fx.fake_components(train_size=32))


def test_truncated_pretrained_weights_name_the_file(tmp_path: Path) -> None:
    import crossmost_models as cm
    from crossmost_train.run_builder import build_model

    saved = tmp_path / "saved"
    cm.create_model("tiny", classnames=["a", "b"]).save_pretrained(saved)
    weights = saved / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    clip_file = tmp_path / "clip.pt"
    torch.save(cm.create_clip("crossmost-tiny-clip")[0].state_dict(), clip_file)
    clip_file.write_bytes(clip_file.read_bytes()[:5000])
    point_file = tmp_path / "point.safetensors"
    point_file.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{}")
    cases = (
        (f"model.pretrained={saved}", f"{weights} is damaged or truncated"),
        (f"model.pretrained={clip_file}", f"{clip_file} cannot be read"),
        (f"model.point_pretrained={point_file}", f"{point_file} is damaged or truncated"),
    )
    for override, message in cases:
        with pytest.raises(ConfigError) as info:
            build_model(load_config(["tiny"], [override]), ["a", "b"])
        assert message in str(info.value)


def test_ctrl_c_gives_one_line_and_exit_130(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import crossmost_train.commands.selftrain as command

    def interrupted(cfg: object) -> dict:
        raise KeyboardInterrupt

    monkeypatch.setattr(command, "run_selftrain", interrupted)
    (tmp_path / "manifest.json").write_text("{}")  # data.root passes the path checks made before the run
    assert main(["selftrain", "-c", "tiny", f"data.root={tmp_path}"]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("crossmost-train selftrain: interrupted (Ctrl-C)")
