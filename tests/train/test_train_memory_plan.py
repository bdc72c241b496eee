"""The run's memory plan: the config section, an EMA teacher that shares the frozen parameters, bf16 autocast on CPU,
and the former wiring functions."""

from __future__ import annotations

import copy
import importlib.util
import json
import math
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from crossmost_models import CrossModalModel, TrainablePlan, create_model, point_tokenizer
from crossmost_train import wiring
from crossmost_train.commands.selftrain import run_selftrain
from crossmost_train.config import ConfigError, load_config
from crossmost_train.ema import EmaTeacher, extra_storage_bytes
from crossmost_train.memory import prepare_student, trainable_plan
from crossmost_train.run_state import load_state_file, save_state_file

_spec = importlib.util.spec_from_file_location("_train_fixtures", Path(__file__).parent / "_train_fixtures.py")
assert _spec is not None
assert _spec.loader is not None
fx = importlib.util.module_from_spec(_spec)
sys.modules["_train_fixtures"] = fx
_spec.loader.exec_module(fx)

CLASSES = ["chair", "table", "lamp"]


def _model(seed: int = 0) -> CrossModalModel:
    torch.manual_seed(seed)
    return create_model("tiny", classnames=CLASSES, templates="photo")


def _inputs(batch: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    return torch.randn(batch, 3, 64, 64, generator=g), F.normalize(torch.randn(batch, 512, 3, generator=g), dim=-1)


def test_config_section_and_plan() -> None:
    cfg = load_config(["tiny"], [])
    assert trainable_plan(cfg) == TrainablePlan()  # the default: today's behaviour
    cfg = load_config(
        ["tiny"],
        [
            "memory.trainable=lora",
            "memory.lora_rank=4",
            "memory.lora_alpha=8",
            "model.freeze_tokenizer_batchnorm=false",
        ],
    )
    assert trainable_plan(cfg) == TrainablePlan(
        mode="lora", lora_rank=4, lora_alpha=8.0, freeze_tokenizer_batchnorm=False
    )
    with pytest.raises(ConfigError, match=r"memory\.trainable"):
        load_config(["tiny"], ["memory.trainable=half"])
    with pytest.raises(ConfigError, match=r"memory\.last_blocks"):
        load_config(["tiny"], ["memory.last_blocks=0"])


def test_default_plan_freezes_what_the_former_function_froze() -> None:
    cfg = load_config(["tiny"], [])
    model = _model()
    report = prepare_student(model, cfg)
    assert {n for n, p in model.named_parameters() if not p.requires_grad} == {
        n for n, _ in model.named_parameters() if n.startswith("point_encoder.encoder.")
    }
    assert report.adapters == 0
    assert "forward" not in vars(model.image_tower.visual.transformer.resblocks[0])  # no checkpointing by default


def test_plan_that_does_not_fit_the_model_is_a_config_error() -> None:
    cfg = load_config(["tiny"], ["memory.trainable=last_blocks"])
    with pytest.raises(ConfigError, match="does not fit the model"):
        prepare_student(fx.FakeCrossModalModel(3), cfg)


def _train_a_little(student: CrossModalModel, teachers: list[EmaTeacher], steps: int) -> None:
    g = torch.Generator().manual_seed(7)
    for step in range(steps):
        with torch.no_grad():
            for p in student.parameters():
                if p.requires_grad:
                    p.add_(0.01 * torch.randn(p.shape, generator=g))
        for teacher in teachers:
            teacher.update(student, step)


@pytest.mark.parametrize("mode", ["lora", "last_blocks"])
def test_shared_teacher_saves_the_frozen_size_and_equals_the_full_copy(mode: str) -> None:
    student = _model()
    report = prepare_student(student, load_config(["tiny"], [f"memory.trainable={mode}", "memory.last_blocks=1"]))
    full = EmaTeacher(student, momentum_start=0.9, momentum_end=0.99, warmup_steps=3)
    shared = EmaTeacher(
        student,
        momentum_start=0.9,
        momentum_end=0.99,
        warmup_steps=3,
        share_frozen=True,
        constant_buffers=report.constant_buffers,
    )
    buffers = dict(student.named_buffers())
    constant_bytes = sum(buffers[n].untyped_storage().nbytes() for n in report.constant_buffers)
    assert extra_storage_bytes(full.module, student) - extra_storage_bytes(shared.module, student) == (
        report.frozen_bytes + constant_bytes
    )
    assert extra_storage_bytes(shared.module, student) == report.trainable_bytes + sum(
        b.untyped_storage().nbytes() for n, b in buffers.items() if n not in report.constant_buffers
    )
    _train_a_little(student, [full, shared], steps=5)
    own = dict(shared.module.named_parameters())
    for name, param in full.module.named_parameters():
        if name not in shared.shared_names:
            assert torch.equal(own[name], param), name  # the same averages, bit for bit
        else:  # the full copy averages a constant with itself: equal up to rounding
            torch.testing.assert_close(own[name], param, rtol=1e-6, atol=1e-7)
    images, points = _inputs()
    with torch.no_grad():
        a, b = full.module(images, points), shared.module(images, points)
    torch.testing.assert_close(b.image_logits, a.image_logits, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(b.point_logits, a.point_logits, rtol=1e-5, atol=1e-5)
    assert not torch.equal(b.image_logits, student(images, points).image_logits)  # type: ignore[arg-type]


def test_shared_teacher_state_round_trips_through_a_state_file(tmp_path: Path) -> None:
    cfg = load_config(["tiny"], ["memory.trainable=lora", "memory.teacher_shares_frozen=true"])

    def build() -> tuple[CrossModalModel, EmaTeacher]:
        student = _model()
        report = prepare_student(student, cfg)
        teacher = EmaTeacher(student, share_frozen=True, constant_buffers=report.constant_buffers)
        return student, teacher

    student, teacher = build()
    _train_a_little(student, [teacher], steps=3)
    state = teacher.state_dict()
    assert set(state["shared"]) == teacher.shared_names
    assert not set(state["module"]) & teacher.shared_names  # the shared tensors are the student's to save
    save_state_file(tmp_path / "teacher.safetensors", state)
    other_student, other = build()
    other_student.load_state_dict(student.state_dict())
    other.load_state_dict(load_state_file(tmp_path / "teacher.safetensors"))
    assert other.num_updates == 3
    mine, theirs = teacher.module.state_dict(), other.module.state_dict()
    assert mine.keys() == theirs.keys()
    for key in mine:
        assert torch.equal(mine[key], theirs[key]), key
    full = EmaTeacher(other_student)
    with pytest.raises(ValueError, match=r"memory\.teacher_shares_frozen"):
        full.load_state_dict(state)


@pytest.fixture
def fresh_accelerator_state() -> Iterator[None]:
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)
    yield
    AcceleratorState._reset_state(reset_partial_state=True)


def test_bf16_step_on_cpu_runs_in_autocast_with_finite_losses(tmp_path: Path, fresh_accelerator_state: None) -> None:
    dtypes: list[torch.dtype] = []
    parts = fx.fake_components()
    build = parts.model

    def model_with_probe(cfg: object, classnames: list[str]) -> torch.nn.Module:
        model = build(cfg, classnames)
        model.image_tower.proj.register_forward_hook(lambda _m, _i, out: dtypes.append(out.dtype))
        return model

    parts.model = model_with_probe
    cfg = load_config(
        ["tiny"],
        [f"run.output_dir={tmp_path}", "run.mixed_precision=bf16", "schedule.epochs=1", "optim.global_batch_size=8",
         "memory.teacher_shares_frozen=true"],
    )  # fmt: skip
    run_selftrain(cfg, parts)
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in records if r["kind"] == "train"]
    assert len(losses) == 4
    assert all(math.isfinite(v) for v in losses)
    assert dtypes
    assert all(d == torch.bfloat16 for d in dtypes)  # teacher, student and evaluation forwards all in autocast


def test_former_wiring_functions_warn_and_agree() -> None:
    cfg = load_config(["tiny"], [])
    model, reference = _model(), _model()
    prepare_student(reference, cfg)
    with pytest.warns(DeprecationWarning, match="crossmost_train.memory.prepare_student"):
        wiring.freeze_frozen_parts(model, cfg)
    assert [p.requires_grad for p in model.parameters()] == [p.requires_grad for p in reference.parameters()]
    with pytest.warns(
        DeprecationWarning, match=r"wiring\.point_tokenizer is deprecated.*import it from crossmost_models$"
    ):
        assert wiring.point_tokenizer(model) is point_tokenizer(model)
    with pytest.warns(DeprecationWarning, match="train_mode"):
        wiring.set_train_mode(model, cfg)
    assert not point_tokenizer(model).training
    with pytest.warns(
        DeprecationWarning, match=r"wiring\.image_num_layers is deprecated.*import it from crossmost_models$"
    ):
        assert wiring.image_num_layers(model) == 2
    with pytest.warns(DeprecationWarning, match=r"wiring\.layer_id_fn is deprecated.*import it from crossmost_models$"):
        layer_id = wiring.layer_id_fn(model)
    assert layer_id("image_tower.visual.transformer.resblocks.1.ln_1.weight", 2) == 2
    assert layer_id("classifier.weight", 2) == 3
    assert copy.deepcopy(model) is not model
