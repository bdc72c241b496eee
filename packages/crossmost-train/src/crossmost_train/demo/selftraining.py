"""The self-training runs of the demo: the overrides every run shares (data, initial towers, length, EMA ramp,
seed) and one :class:`~crossmost_train.demo.stages.StageRunner` run per variant and seed, all of them one batch of
the runner's parallel jobs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from crossmost_train.demo.scale import DemoScale, ema_warmup_steps
from crossmost_train.demo.stages import SelftrainRun, StageRunner

__all__ = ["seed_overrides", "selftrain_overrides", "selftrain_seeds"]


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


def selftrain_seeds(
    runner: StageRunner,
    scale: DemoScale,
    target: Path,
    towers: Path,
    folders: Mapping[int, Path],
    variants: Sequence[tuple[str, Sequence[str], Sequence[str]]],
) -> dict[int, dict[str, dict[str, Any]]]:
    """Every variant for every seed (seed → its folder), as one batch of the runner's jobs; returns seed → name →
    ``{"student", "teacher"}``."""
    runs: list[tuple[int, str, SelftrainRun]] = []
    for seed, folder in folders.items():
        common = selftrain_overrides(scale, target, towers, seed)
        for name, presets, extra in variants:
            slug = name.lower().replace(" ", "-").replace("/", "-")
            overrides = (*common, f"run.output_dir={folder / slug}", *extra)
            runs.append((seed, name, SelftrainRun(name, tuple(presets), overrides)))
    finals = runner.selftrain_all([run for _, _, run in runs])
    results: dict[int, dict[str, dict[str, Any]]] = {seed: {} for seed in folders}
    for (seed, name, _), final in zip(runs, finals, strict=True):
        results[seed][name] = final
    return results
