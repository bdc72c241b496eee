"""The self-training runs of one demo seed: the overrides every run shares (data, initial towers, length, EMA ramp,
seed) and one :class:`~crossmost_train.demo.stages.StageRunner` run per variant."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from crossmost_train.demo.scale import DemoScale, ema_warmup_steps
from crossmost_train.demo.stages import StageRunner

__all__ = ["seed_overrides", "selftrain_overrides", "selftrain_runs"]


def seed_overrides(seed: int) -> list[str]:
    """The seed of a training stage: weights, sampling and augmentations."""
    return [f"run.seed={seed}", f"data.seed={seed}"]


def selftrain_overrides(scale: DemoScale, target: Path, model: Path, seed: int, steps: int | None = None) -> list[str]:
    """Overrides shared by every self-training run of a seed (data, initial model, length, EMA ramp)."""
    total = steps or scale.selftrain_steps
    return [
        f"data.root={target}",
        f"model.pretrained={model}",
        f"schedule.max_steps={total}",
        f"ema.warmup_steps={ema_warmup_steps(total)}",
        *seed_overrides(seed),
    ]


def selftrain_runs(
    runner: StageRunner,
    scale: DemoScale,
    target: Path,
    towers: Path,
    folder: Path,
    seed: int,
    variants: Sequence[tuple[str, Sequence[str], Sequence[str]]],
) -> dict[str, dict[str, Any]]:
    """Self-train one run per ``(name, presets, extra overrides)``; returns name → ``{"student", "teacher"}``."""
    common = selftrain_overrides(scale, target, towers, seed)
    results = {}
    for name, presets, extra in variants:
        slug = name.lower().replace(" ", "-").replace("/", "-")
        overrides = [*common, f"run.output_dir={folder / slug}", *extra]
        results[name] = runner.selftrain(f"selftrain {name}", presets, overrides)
    return results
