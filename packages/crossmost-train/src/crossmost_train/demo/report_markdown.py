"""The text of the demo's ``report.md``."""

from __future__ import annotations

from collections.abc import Sequence

from crossmost_train.demo.pipeline import METHODS, DemoResult
from crossmost_train.demo.scale import ema_warmup_steps
from crossmost_train.demo.table import Check, aggregate, markdown_table

__all__ = ["ablation_markdown", "render_report"]


def ablation_markdown(result: DemoResult) -> list[str]:
    """One markdown table per ablation of ``result`` (empty when none ran)."""
    from crossmost_train.demo.ablations import ABLATION_TITLES
    from crossmost_train.demo.report import per_variant_by_seed

    parts: list[str] = []
    for name, variants in result.ablations.items():
        table = aggregate(per_variant_by_seed(variants), list(variants))
        parts += [f"### {ABLATION_TITLES.get(name, name)}", "", markdown_table(table, first="variant"), ""]
    return parts


def render_report(result: DemoResult, checks: Sequence[Check], figures: Sequence[str], table_md: str) -> str:
    """``report.md``: what ran, the Table-1-style table, the orderings, plots, stage times and the commands."""
    scale = result.scale
    seeds = len(result.seeds)
    steps = scale.selftrain_steps
    teachers = aggregate(result.scores, [f"{m} (teacher)" for m in METHODS[2:]])
    parts = [
        "# Cross-MoST on the embedded synthetic benchmark",
        "",
        f"`crossmost-train demo` ({scale.name} scale, {seeds} seed(s); {result.total_seconds / 60:.1f} min). "
        "Everything was generated and trained here; nothing was downloaded.",
        "",
        "## What ran",
        "",
        f"1. `crossmost-data synth`: {scale.source.objects_per_class} objects per class of the twelve procedural "
        f"classes in the **source** domain (clean coloured meshes, rendered views, surface points) and "
        f"{scale.target.objects_per_class} per class in the **target** domain (scans: "
        + ", ".join(f"{k}={v}" for k, v in sorted(scale.target.options.items()))
        + f"), {scale.views} views of {scale.image_size} px and {scale.points} points per object.",
        f"2. `pretrain --task clip`: tiny open_clip image and text towers trained contrastively on the source renders "
        f"and template captions ({scale.clip_epochs:g} epochs).",
        "3. `pretrain --task ulip`: a tiny Point-BERT aligned to the frozen towers on the source "
        f"({scale.ulip_epochs:g} epochs).",
        "4. `evaluate`: the zero-shot model (text-initialised classifier) on the source and target test splits.",
        f"5. `selftrain`: baseline self-training (`demo-baseline`) and Cross-MoST (`demo`) on the unlabelled target "
        f"training split, {steps} optimiser steps each; the EMA momentum ramp is the paper's 400 of ~3.8k steps "
        f"scaled to {ema_warmup_steps(steps)} of {steps}. The target labels reach only the evaluation and the "
        "pseudo-label diagnostics, never a loss.",
        "",
        "## Accuracy on the target test split (Table 1 of the paper, synthetic edition)",
        "",
        f"Top-1 accuracy (%), {'mean ± std over ' + str(seeds) + ' seeds' if seeds > 1 else 'one seed'}. "
        "`image`: one fixed view; `image*`: mean embedding of all views; `point`: point branch; `joint`: image* "
        "and point combined. The reported model is the last student; nothing is selected on test labels. "
        "`zero-shot (source)` is the same zero-shot model on the source test split, for the size of the shift.",
        "",
        table_md,
        "",
        "The EMA teachers at the last step:",
        "",
        markdown_table(teachers),
        "",
        "## What it shows",
        "",
        *[
            f"- {'✅' if c.holds else '❌'} {c.claim}: {c.detail} (holds in {c.seeds_holding}/{c.seeds} seeds)"
            for c in checks
        ],
        "",
    ]
    if figures:
        parts += ["## Plots", "", *[f"![{name}]({name})" for name in figures], ""]
    if result.ablations:
        parts += ["## Ablations (the paper's Tables 2–5)", "", *ablation_markdown(result)]
    parts += [
        "## Stage times",
        "",
        f"Wall seconds over {seeds} seed(s): in this run (0 for a stage reused from an earlier run) and in the run "
        "that computed it.",
        "",
        "| stage | this run | computed in |",
        "|---|---:|---:|",
    ]
    parts += [
        f"| {name} | {seconds:.1f} | {result.computed_seconds.get(name, seconds):.1f} |"
        for name, seconds in result.stage_seconds.items()
    ]
    parts += [f"| total | {result.total_seconds:.1f} | {sum(result.computed_seconds.values()):.1f} |", ""]
    parts += ["## Commands", "", "Each stage is one of these commands (rerun any of them to reproduce it):", "", "```"]
    parts += [*result.commands, "```", ""]
    return "\n".join(parts)
