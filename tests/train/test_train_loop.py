"""The self-training loop on contract-shaped stand-ins: exact resume, frozen parts, EMA per optimiser step,
run-folder contents, empty selections and NaN losses."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from crossmost_train.checkpoint import list_checkpoints
from crossmost_train.commands.selftrain import run_selftrain
from crossmost_train.config import load_config
from crossmost_train.selftrain import NonFiniteLossError

_spec = importlib.util.spec_from_file_location("_train_fixtures", Path(__file__).parent / "_train_fixtures.py")
fx = importlib.util.module_from_spec(_spec)
sys.modules["_train_fixtures"] = fx
_spec.loader.exec_module(fx)


def _cfg(run_dir: Path, *extra: str):
    return load_config(
        ["tiny"],
        [
            f"run.output_dir={run_dir}",
            "schedule.epochs=3",
            "optim.global_batch_size=8",
            "optim.base_lr=5e-3",
            "ema.warmup_steps=4",
            *extra,
        ],
    )


def _weights(run_dir: Path, name: str) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / name / "weights.pt", weights_only=True)


@pytest.mark.parametrize("objective", [[], ["objective.align_class_prior=true"]], ids=["plain", "class-prior"])
def test_resume_is_bit_exact_for_student_and_teacher(tmp_path: Path, objective: list[str]) -> None:
    parts = fx.fake_components()
    full = tmp_path / "full"
    run_selftrain(_cfg(full, *objective), parts)
    split = tmp_path / "split"
    assert run_selftrain(_cfg(split, "run.stop_after_steps=5", "run.keep_last=1", *objective), parts) == {}
    assert [p.name for p in list_checkpoints(split)] == ["step-00000005"]
    saved = sorted(p.name for p in (split / "checkpoints" / "step-00000005").iterdir())
    assert ("objective.safetensors" in saved) == bool(objective)  # the running priors, when there are any
    run_selftrain(_cfg(split, *objective), parts)
    for name in ("model", "teacher"):
        a, b = _weights(full, name), _weights(split, name)
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), f"{name}.{k} differs after resume"
    records = [json.loads(line) for line in (split / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in records if r["kind"] == "train"]
    assert steps == list(range(1, 13))  # 32 samples / 8 = 4 steps per epoch, 3 epochs; no duplicates after resume


def test_a_fresh_run_in_a_used_folder_logs_only_its_own_steps(tmp_path: Path) -> None:
    run = tmp_path / "run"
    parts = fx.fake_components()
    run_selftrain(_cfg(run, "run.resume=never"), parts)
    run_selftrain(_cfg(run, "run.resume=never", "schedule.epochs=2"), parts)  # again, from the start, shorter
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["kind"] == "train"] == list(range(1, 9))


def test_frozen_tokenizer_unchanged_and_run_folder_complete(tmp_path: Path) -> None:
    run = tmp_path / "run"
    parts = fx.fake_components()
    build, initial = parts.model, {}

    def recording(cfg, classnames):
        model = build(cfg, classnames)
        initial.update({k: v.clone() for k, v in model.state_dict().items()})
        return model

    parts.model = recording
    results = run_selftrain(_cfg(run, "optim.grad_accum_steps=2"), parts)
    student = _weights(run, "model")
    frozen = ("point_encoder.encoder.0.weight", "point_encoder.encoder.1.running_mean", "point_encoder.encoder.1.bias")
    for k in frozen:
        assert torch.equal(student[k], initial[k]), k
    assert not torch.equal(student["classifier"], initial["classifier"])
    for f in ("config.yaml", "metrics.jsonl", "report.md", "results.json", "accuracy.png", "label_share.png",
              "entropy_biasedness.png", "confusion_joint.png"):  # fmt: skip
        assert (run / f).is_file(), f
    report = (run / "report.md").read_text()
    assert "| model | image | image* | point | joint |" in report
    assert "zero-shot" in report
    assert results["student"]["num_samples"] == 13
    train = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if '"train"' in x]
    assert len(train) == 12  # accumulation of 2 micro-batches of 4 still makes 4 optimiser steps per epoch
    expected_mu = [0.99 + (0.9998 - 0.99) * min(1, s / 4) for s in range(12)]
    assert [r["ema_momentum"] for r in train] == pytest.approx(expected_mu)


def test_no_confident_sample_is_logged_and_training_continues(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run_selftrain(_cfg(run, "objective.threshold=1.0", "schedule.epochs=1"), fx.fake_components())  # strict >
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    events = [r for r in records if r["kind"] == "event"]
    assert len(events) == 4
    assert all(r["event"] == "no_confident_sample" for r in events)
    train = [r for r in records if r["kind"] == "train"]
    assert len(train) == 4
    assert all(r["cls_image"] == 0.0 for r in train)


class PoisonedSecondEpoch(fx.SeparableTrainSet):
    """From the second epoch on, the student's (strong) point clouds hold NaN; the teacher's stay finite."""

    def __getitem__(self, index: int) -> dict:
        sample = super().__getitem__(index)
        if self.epoch >= 1:
            sample["points_strong"] = sample["points_strong"] * float("nan")
        return sample


def test_nan_loss_stops_with_checkpoint_and_names_the_term(tmp_path: Path) -> None:
    parts = fx.fake_components()
    parts.train_dataset = lambda cfg, model: PoisonedSecondEpoch(32, 4)
    run = tmp_path / "run"
    with pytest.raises(NonFiniteLossError, match=r"optimiser step 4 \(epoch 1, micro-batch 0\).*cls_point"):
        run_selftrain(_cfg(run), parts)
    assert [p.name for p in list_checkpoints(run)] == ["step-00000004"]


def _prototype_classifier_components(noise: float):
    """The easy case: 4 separable classes; the classifier starts from the model's embeddings of the (centred)
    class prototypes plus noise, standing in for a text-initialised classifier of pre-trained towers. Zero-shot is
    then well above chance but imperfect (the point branch especially), and self-training must raise it."""
    parts = fx.fake_components(num_classes=4, train_size=64, eval_size=40)

    def model(cfg, names):
        m = fx.FakeCrossModalModel(len(names))
        images, points = fx._prototypes(len(names))
        with torch.no_grad():
            emb = F.normalize(m.encode_image(images) + m.encode_points(points), dim=-1)
            emb = F.normalize(emb - emb.mean(dim=0, keepdim=True), dim=-1)
            g = torch.Generator().manual_seed(3)
            m.classifier.copy_(F.normalize(emb + noise * torch.randn(emb.shape, generator=g) / 4, dim=-1).T)
        return m

    parts.model = model
    return parts


@pytest.mark.slow
def test_selftraining_raises_accuracy_above_zero_shot(tmp_path: Path) -> None:
    cfg = _cfg(
        tmp_path / "run", "schedule.epochs=6", "optim.base_lr=0.2", "objective.threshold=0.6",
        "objective.point_confidence_scale=1.0", "eval.evaluate_teacher=false",
    )  # fmt: skip
    final = run_selftrain(cfg, _prototype_classifier_components(2.5))["student"]
    zero = json.loads((tmp_path / "run" / "zero_shot.json").read_text())
    assert 30.0 < zero["point"] < 60.0  # the case is neither trivial nor hopeless
    assert final["point"] >= zero["point"] + 10.0
    assert final["joint"] > zero["joint"]
    assert final["image*"] >= zero["image*"]


class PartlyUnreadable(fx.SeparableTrainSet):
    """Samples whose index is in ``unreadable`` come back as read in place of an unreadable sample."""

    def __init__(self, num_samples: int, num_classes: int, unreadable: set[int], seed: int = 0) -> None:
        super().__init__(num_samples, num_classes, seed=seed)
        self.unreadable = unreadable

    def __getitem__(self, index: int) -> dict:
        sample = super().__getitem__(index)
        sample["replaces"] = f"data/train-000000.tar: sample 'obj{index}': damaged" if index in self.unreadable else ""
        return sample


def test_unreadable_samples_are_listed_and_a_mostly_unreadable_split_stops(tmp_path: Path) -> None:
    from crossmost_train.run_builder import DataError

    parts = fx.fake_components()
    parts.train_dataset = lambda cfg, model: PartlyUnreadable(32, 4, set(range(4, 32)), seed=cfg.data.seed)
    with pytest.raises(DataError, match=r"could not be read so far, more than data\.max_unreadable=0\.5"):
        run_selftrain(_cfg(tmp_path / "stopped", "schedule.epochs=1"), parts)  # 28 of 32 unreadable
    parts.train_dataset = lambda cfg, model: PartlyUnreadable(32, 4, {3, 11, 19, 27}, seed=cfg.data.seed)
    run = tmp_path / "listed"
    run_selftrain(_cfg(run, "schedule.epochs=1"), parts)
    report = (run / "report.md").read_text()
    expected = sorted(f"data/train-000000.tar: sample 'obj{i}': damaged" for i in (3, 11, 19, 27))
    assert "## Unreadable samples" in report
    assert sorted(line for line in report.splitlines() if line.startswith("- train: ")) == [
        f"- train: {line}" for line in expected
    ]
    events = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert sorted(e["sample"] for e in events if e.get("event") == "unreadable_sample") == expected
