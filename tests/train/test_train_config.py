"""Presets, YAML overlays, typed key=value overrides, unknown keys and the config round trip."""

import os
from pathlib import Path

import pytest

from crossmost_train.config import (
    ConfigError,
    TrainConfig,
    config_to_dict,
    list_presets,
    load_config,
    read_config,
    save_config,
)


def test_every_preset_loads_and_has_expected_values() -> None:
    names = list_presets()
    for required in ("crossmost", "baseline", "zeroshot", "tiny", "ablation-no-align", "modelnet40-crossmost"):
        assert required in names
    for name in names:
        load_config([name])
    base = load_config(["baseline"]).objective
    assert base.strategy == "independent"
    assert base.alignment_weight == 0.0
    assert base.mim_weight == 1.0
    assert base.fairness_image_weight == 1.0
    cm = load_config(["crossmost"])
    assert (cm.optim.global_batch_size, cm.optim.base_lr, cm.objective.threshold) == (512, 2e-5, 0.84)
    scan = load_config(["scanobjectnn-crossmost"]).objective
    assert (scan.threshold, scan.point_confidence_scale) == (0.82, 1.0)
    assert load_config(["redwood-baseline"]).optim.global_batch_size == 256
    assert load_config(["ablation-views-4"]).data.views_per_object == 4
    assert load_config(["tiny-baseline"]).model.name == "tiny"


def test_overrides_coerce_to_field_types() -> None:
    cfg = load_config(
        ["tiny"],
        [
            "optim.base_lr=3e-4",
            "optim.global_batch_size=16",
            "run.progress_bar=no",
            "optim.betas=[0.8, 0.9]",
            "model.classnames=chair,table",
            "model.name=001",
            "schedule.epochs=3",
            "model.overrides={num_group: 8}",
        ],
    )
    assert cfg.optim.base_lr == 3e-4
    assert isinstance(cfg.optim.base_lr, float)
    assert cfg.optim.global_batch_size == 16
    assert cfg.run.progress_bar is False
    assert cfg.optim.betas == (0.8, 0.9)
    assert cfg.model.classnames == ["chair", "table"]
    assert cfg.model.name == "001"
    assert cfg.schedule.epochs == 3.0
    assert cfg.model.overrides == {"num_group": 8}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optim.base_l=1", "did you mean optim.base_lr"),
        ("optimm.base_lr=1", "unknown config key"),
        ("optim.global_batch_size=1.5", "expected an integer"),
        ("run.progress_bar=maybe", "expected a boolean"),
        ("objective.strategy=best", "is not one of"),
        ("optim.betas=[1]", "expected 2 values"),
        ("optim=3", "is a section"),
        ("no_equals_sign", "key=value"),
    ],
)
def test_bad_overrides_raise_clear_errors(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config([], [override])


def test_unknown_preset_and_yaml_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="did you mean"):
        load_config(["crossmots"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim:\n  lr: 1.0\n")
    with pytest.raises(ConfigError, match=r"optim\.lr"):
        load_config([str(bad)])
    loop = tmp_path / "loop.yaml"
    loop.write_text(f"base: {loop}\n")
    with pytest.raises(ConfigError, match="includes itself"):
        load_config([str(loop)])


def test_yaml_overlay_and_round_trip(tmp_path: Path) -> None:
    mine = tmp_path / "mine.yaml"
    mine.write_text("base: tiny\nobjective:\n  threshold: 0.5\n")
    cfg = load_config([str(mine)], ["ema.buffers=copy"])
    assert cfg.model.name == "tiny"
    assert cfg.objective.threshold == 0.5
    assert cfg.ema.buffers == "copy"
    save_config(cfg, tmp_path / "run" / "config.yaml")
    again = read_config(tmp_path / "run" / "config.yaml")
    assert config_to_dict(again) == config_to_dict(cfg)
    assert config_to_dict(TrainConfig()) != config_to_dict(cfg)


def test_objective_section_carries_every_loss_field_and_builds_the_loss_config() -> None:
    import dataclasses

    from crossmost_losses import ObjectiveConfig as LossObjectiveConfig

    section = TrainConfig().objective
    loss_defaults = LossObjectiveConfig()
    training_defaults = {"image_threshold": 0.80, "point_threshold": 0.82}
    training_defaults |= {"gather_alignment": True, "check_finite": False}
    for f in dataclasses.fields(LossObjectiveConfig):
        expected = training_defaults.get(f.name, getattr(loss_defaults, f.name))
        assert getattr(section, f.name) == expected, f.name
    cfg = load_config(["tiny"], ["objective.agreement_floor=0.3", "objective.masked_modeling=false"])
    assert cfg.objective.agreement_floor == 0.3
    built = cfg.objective.loss_config()
    assert type(built) is LossObjectiveConfig
    assert built.agreement_floor == 0.3
    assert (built.mim_weight, built.mpm_weight, built.global_local_image_weight) == (0.0, 0.0, 0.0)
    assert built.alignment_weight == cfg.objective.alignment_weight == 1.0
    assert cfg.objective.mim_weight == 1.0  # the switch acts on the built loss config only
    dropped = load_config([], ["objective.masked_modeling=false", "objective.masked_modeling_off_drops_alignment=true"])
    assert dropped.objective.loss_config().alignment_weight == 0.0


def test_the_objective_section_says_which_parts_are_masked_and_which_heads_are_off() -> None:
    def switches(*overrides: str) -> tuple[bool, bool, bool]:
        o = load_config([], list(overrides)).objective
        return o.masks_images(), o.masks_points(), o.drops_a_head()

    assert switches() == (True, True, False)
    assert switches("objective.masked_modeling=false") == (False, False, True)
    assert switches("objective.mim_weight=0") == (True, True, True)  # the image global-local term still masks
    assert switches("objective.mim_weight=0", "objective.global_local_image_weight=0") == (False, True, True)
    assert switches("objective.mpm_weight=0", "objective.global_local_point_weight=0") == (True, False, True)
    assert switches("objective.alignment_weight=0") == (True, True, True)
    assert switches("objective.fairness_image_weight=0") == (True, True, False)


def test_objective_values_are_checked_when_set(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"objective\.mim_weight: ObjectiveConfig\.mim_weight must be a finite"):
        load_config([], ["objective.mim_weight=-1"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("objective:\n  temperature: 0\n")
    with pytest.raises(ConfigError, match=r"objective: ObjectiveConfig\.temperature must be positive"):
        load_config([str(bad)])


def test_augment_fields_reach_the_loader_typed_and_bad_ones_are_named() -> None:
    from crossmost_data.loader import ImageAugmentConfig, PointAugmentConfig
    from crossmost_train.run_builder import DataShape, train_augment

    shape = DataShape(image_size=64, patch_size=8, num_points=512)
    official = train_augment(load_config(["crossmost"]), shape)
    assert (official.image, official.points) == (ImageAugmentConfig(), PointAugmentConfig())
    assert (official.mask.mask_patch_size, official.mask.model_patch_size) == (16, 8)  # 2 × 2 patches

    demo = train_augment(load_config(["demo"]), shape)
    assert demo.image == ImageAugmentConfig(strong_scale=(0.8, 1.0), rand_augment=None)
    assert demo.points == PointAugmentConfig(strong_scale=(0.8, 1.25), translate=0.1, dropout_max=0.3)
    assert isinstance(demo.image.strong_scale, tuple)  # a YAML list becomes the field's tuple

    unknown = load_config(["demo"], ["data.image_augment={strong_scal: [0.5, 1.0]}"])
    with pytest.raises(ConfigError, match=r"'data\.image_augment\.strong_scal'.*did you mean data\.image_augment\."):
        train_augment(unknown, shape)
    reversed_range = load_config(["demo"], ["data.point_augment={strong_scale: [2.0, 0.5]}"])
    with pytest.raises(ConfigError, match=r"data\.point_augment: strong_scale must be a \(min, max\) pair"):
        train_augment(reversed_range, shape)


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600)])
def test_saved_config_gets_the_permissions_of_a_plain_open(tmp_path: Path, umask: int, mode: int) -> None:
    old = os.umask(umask)
    try:
        save_config(load_config(["tiny"]), tmp_path / "config.yaml")
    finally:
        os.umask(old)
    assert ((tmp_path / "config.yaml").stat().st_mode & 0o777) == mode
    assert [p.name for p in tmp_path.iterdir()] == ["config.yaml"]
