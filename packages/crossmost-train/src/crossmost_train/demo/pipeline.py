"""The demo end to end: pre-trained towers (shipped, or made again by ``--from-scratch``) → zero-shot, baseline
self-training and Cross-MoST on the unlabelled synthetic target → evaluation → table, plots, ``report.md``,
``results.json``.

Nothing here trains or prepares data itself: every step is a :class:`~crossmost_train.demo.stages.StageRunner`
call of the real command. The towers are made once (by the recipe's seed); each demo seed repeats both
self-training runs, so the spread over seeds is the spread of self-training from one set of released weights.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crossmost_train.demo.ablations import run_ablations
from crossmost_train.demo.pretrained import export_towers, shipped_towers
from crossmost_train.demo.scale import DEFAULT_SCALE, QUICK_SCALE, DemoScale, PretrainRecipe
from crossmost_train.demo.selftraining import seed_overrides, selftrain_seeds
from crossmost_train.demo.stages import Stage, StageRunner

__all__ = ["METHODS", "DemoOptions", "DemoResult", "make_towers", "run_demo"]

METHODS = ("zero-shot (source)", "zero-shot", "baseline self-training", "Cross-MoST")
"""Rows of the demo table: the zero-shot model on the source test split (how good pre-training is before the
shift), then the three methods of the paper's Table 1 on the target test split."""


@dataclass
class DemoOptions:
    """What ``crossmost-train demo`` was asked to do.

    Attributes:
        out: Output folder (data cache, one folder per seed, the report).
        seeds: Number of seeds (0, 1, …) of the training stages.
        quick: The small variant (:data:`~crossmost_train.demo.scale.QUICK_SCALE`).
        ablations: Also run the paper's Tables 2–5 on the benchmark.
        workers: Worker processes of the data preparation (``None``: one per 64 objects, up to the usable cores).
        progress: Show progress bars.
        threads: torch intra-op threads of this process and of each self-training worker (0: torch's default here,
            the usable cores shared among the workers there).
        jobs: Self-training runs at once, each in a worker process (1: one after the other, in this process).
        from_scratch: Make the pre-trained towers from the recipe (2D corpus, CLIP and ULIP pre-training) instead of
            starting from the shipped ones.
        export_towers: With ``from_scratch``, also write the towers made, in the shipped layout, to this folder.
        scale: Overrides the scale chosen by ``quick`` (tests, benchmarks).
    """

    out: Path = Path("runs/demo")
    seeds: int = 1
    quick: bool = False
    ablations: bool = False
    workers: int | None = None
    progress: bool = True
    threads: int = 0
    jobs: int = 1
    from_scratch: bool = False
    export_towers: Path | None = None
    scale: DemoScale | None = None

    def resolved_scale(self) -> DemoScale:
        """The scale of this run."""
        return self.scale or (QUICK_SCALE if self.quick else DEFAULT_SCALE)


@dataclass
class DemoResult:
    """Everything the demo measured.

    Attributes:
        scale: The scale that ran.
        towers: The pre-trained towers every run started from.
        from_scratch: Whether the towers were made by this run (else: the shipped ones).
        seeds: The seeds.
        scores: seed → method → scores (``score_predictions`` output; Cross-MoST and the baseline also carry their
            EMA teacher under ``"<method> (teacher)"``).
        runs: seed → method → run folder.
        data: ``{"source": folder, "target": folder}``.
        stage_seconds: stage name → wall seconds of this run summed over seeds (0 for reused stages).
        computed_seconds: stage name → wall seconds of the runs that computed the results, summed over seeds.
        total_seconds: Wall time of the whole demo.
        ablations: Ablation table name → variant → seed → scores (empty without ``--ablations``).
        commands: The command lines of every stage, in order.
    """

    scale: DemoScale
    towers: str
    from_scratch: bool
    seeds: list[int]
    scores: dict[int, dict[str, dict[str, Any]]] = field(default_factory=dict)
    runs: dict[int, dict[str, str]] = field(default_factory=dict)
    data: dict[str, str] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    computed_seconds: dict[str, float] = field(default_factory=dict)
    total_seconds: float = 0.0
    ablations: dict[str, dict[str, dict[int, dict[str, Any]]]] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)


def learned_logit_scale(clip_file: Path) -> float:
    """The logit scale (inverse temperature) the CLIP towers learned, rounded to 3 significant digits.

    The tiny towers learn a temperature far from CLIP ViT-B/16's 100 (they start at 1/0.07 ≈ 14.3 and move little in
    a few hundred steps). Image–text cosines are calibrated at that scale only, so the demo aligns the point tower
    at the same scale (``pretrain.logit_scale``) and gives the shared classifier that scale: at 100 the image
    branch's softmax saturates (median confidence 0.999 on the target) and its cross-entropy, ~50 at the first
    step, swamps the point branch.
    """
    from safetensors import safe_open

    with safe_open(str(clip_file), framework="pt") as f:
        if "logit_scale" not in set(f.keys()):  # safe_open has no __contains__
            raise ValueError(f"{clip_file} has no 'logit_scale': not the state dict of open_clip towers")
        value = float(f.get_tensor("logit_scale").exp())
    return float(f"{value:.3g}")


def make_towers(runner: StageRunner, recipe: PretrainRecipe, data: Path, out: Path, *, workers: int | None) -> Path:
    """The recipe's towers: the 2D corpus and the source domain, CLIP towers on the corpus, then the point tower
    aligned to them on the source (ULIP) at the temperature the CLIP towers learned; returns the saved model."""
    corpus = runner.synth(recipe, recipe.corpus, data / f"corpus-{recipe.data_key(recipe.corpus)}", workers=workers)
    source = runner.synth(recipe, recipe.source, data / f"source-{recipe.data_key(recipe.source)}", workers=workers)
    clip = runner.pretrain_clip(
        ["demo-pretrain-clip"],
        [
            f"data.root={corpus}",
            f"run.output_dir={out / 'pretrain-clip'}",
            f"pretrain.epochs={recipe.clip_epochs}",
            *seed_overrides(recipe.seed),
        ],
    )
    scale_value = learned_logit_scale(clip)
    return runner.pretrain_ulip(
        ["demo-pretrain-ulip"],
        [
            f"data.root={source}",
            f"model.pretrained={clip}",
            f"pretrain.logit_scale={scale_value}",
            f"model.overrides={{classifier: {{scale: {scale_value}}}}}",
            f"run.output_dir={out / 'pretrain-ulip'}",
            f"pretrain.epochs={recipe.ulip_epochs}",
            *seed_overrides(recipe.seed),
        ],
    )


def stage_times(stages: Sequence[Stage]) -> tuple[dict[str, float], dict[str, float]]:
    """Wall seconds per stage name, summed over seeds: spent in this run, and spent by the runs that computed them.

    A stage folder reused several times within one run (the ablations reuse the pre-trained models and the full
    Cross-MoST run) counts once towards the computed time.
    """
    spent: dict[str, float] = {}
    computed: dict[str, float] = {}
    counted: set[Path] = set()
    for stage in stages:
        spent[stage.name] = spent.get(stage.name, 0.0) + stage.seconds
        if stage.folder not in counted:
            counted.add(stage.folder)
            computed[stage.name] = computed.get(stage.name, 0.0) + stage.computed_seconds
    return spent, computed


def _zero_shot(runner: StageRunner, root: Path, model: Path, folder: Path, name: str) -> dict[str, Any]:
    overrides = [f"data.root={root}", f"model.pretrained={model}", f"run.output_dir={folder}"]
    return runner.evaluate(f"zero-shot {name}", ["demo"], overrides)


def towers_for(options: DemoOptions, runner: StageRunner, scale: DemoScale, data: Path) -> Path:
    """The towers the run starts from: made from the recipe (``from_scratch``, exported when asked) or shipped."""
    recipe = scale.recipe
    if not options.from_scratch:
        return shipped_towers(recipe)
    model = make_towers(runner, recipe, data, Path(options.out) / "pretrained", workers=options.workers)
    if options.export_towers is not None:
        commands = [stage.command for stage in runner.stages]
        runner.echo(f"[demo] towers exported to {export_towers(model, options.export_towers, recipe, commands)}")
    return model


def zero_shot_scores(runner: StageRunner, towers: Path, source: Path, target: Path, out: Path) -> dict[str, Any]:
    """The zero-shot model on the source and the target test splits (the first two rows of the table)."""
    return {
        "zero-shot (source)": _zero_shot(runner, source, towers, out / "zeroshot-source", "source"),
        "zero-shot": _zero_shot(runner, target, towers, out / "zeroshot-target", "target"),
    }


def run_demo(options: DemoOptions, *, echo: Callable[[str], None] = print) -> DemoResult:
    """Run the demo as ``options`` say and return every number (see :class:`DemoResult`).

    Raises:
        crossmost_train.demo.stages.StageError: a stage failed (the message has the command reproducing it).
        crossmost_train.demo.pretrained.PretrainedTowersError: the shipped towers are damaged or do not match.
    """
    import torch

    if options.threads > 0:
        torch.set_num_threads(options.threads)
    started = time.perf_counter()
    scale = options.resolved_scale()
    recipe = scale.recipe
    out = Path(options.out)
    runner = StageRunner(progress=options.progress, echo=echo, jobs=options.jobs, threads=options.threads)
    data = out / "data"
    towers = towers_for(options, runner, scale, data)
    source = runner.synth(
        recipe, scale.source_eval, data / f"source-{recipe.data_key(scale.source_eval)}", workers=options.workers
    )
    target = runner.synth(
        recipe, scale.target, data / f"target-{recipe.data_key(scale.target)}", workers=options.workers
    )
    result = DemoResult(
        scale,
        str(towers),
        options.from_scratch,
        list(range(options.seeds)),
        data={"source": str(source), "target": str(target)},
    )
    zero_shot = zero_shot_scores(runner, towers, source, target, out)
    trained = selftrain_seeds(
        runner,
        scale,
        target,
        towers,
        {seed: out / f"seed-{seed}" for seed in result.seeds},
        [("baseline self-training", ["demo-baseline"], []), ("Cross-MoST", ["demo"], [])],
    )
    for seed in result.seeds:
        folder = out / f"seed-{seed}"
        scores = dict(zero_shot)
        for name, final in trained[seed].items():
            scores[name] = final["student"]
            if "teacher" in final:
                scores[f"{name} (teacher)"] = final["teacher"]
        result.scores[seed] = scores
        result.runs[seed] = {
            "zero-shot (source)": str(out / "zeroshot-source"),
            "zero-shot": str(out / "zeroshot-target"),
            "baseline self-training": str(folder / "baseline-self-training"),
            "Cross-MoST": str(folder / "cross-most"),
        }
    if options.ablations:
        result.ablations = run_ablations(runner, scale, target, out, result.scores, towers, workers=options.workers)
    result.stage_seconds, result.computed_seconds = stage_times(runner.stages)
    result.commands = [stage.command for stage in runner.stages]
    result.total_seconds = time.perf_counter() - started
    return result
