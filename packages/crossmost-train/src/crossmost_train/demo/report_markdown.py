"""The text of the demo's ``report.md``."""

from __future__ import annotations

from collections.abc import Sequence

from crossmost_train.demo.ablations import ABLATION_TITLES
from crossmost_train.demo.pipeline import METHODS, DemoResult
from crossmost_train.demo.scale import ema_warmup_steps
from crossmost_train.demo.table import Check, aggregate, markdown_table, per_variant_by_seed

__all__ = ["ablation_markdown", "per_class_markdown", "render_report"]


def ablation_markdown(result: DemoResult) -> list[str]:
    """One markdown table per ablation of ``result`` (empty when none ran)."""
    parts: list[str] = []
    for name, variants in result.ablations.items():
        table = aggregate(per_variant_by_seed(variants), list(variants))
        parts += [f"### {ABLATION_TITLES.get(name, name)}", "", markdown_table(table, first="variant"), ""]
    return parts


def _what_ran(result: DemoResult) -> list[str]:
    scale, recipe = result.scale, result.scale.recipe
    steps = scale.selftrain_steps
    towers = (
        f"made by this run from the recipe (`--from-scratch`): `crossmost-data synth` of the **corpus** "
        f"({recipe.corpus.objects_per_class} objects per class, each view in a random look) and the **source** "
        f"domain ({recipe.source.objects_per_class} clean coloured meshes per class), `pretrain --task clip` on the "
        f"corpus ({recipe.clip_epochs:g} epochs), `pretrain --task ulip` on the source ({recipe.ulip_epochs:g} "
        "epochs)"
        if result.from_scratch
        else f"the towers shipped with crossmost (`{result.towers}`), made by the same recipe "
        "(`crossmost-train demo --from-scratch` makes them again)"
    )
    return [
        f"1. Pre-trained towers: {towers}: tiny open_clip image and text towers that learned from a broad 2D corpus, "
        "and a tiny Point-BERT aligned to them on clean, complete source objects only.",
        f"2. `crossmost-data synth`: {scale.target.objects_per_class} objects per class of the "
        f"{len(recipe.classes)} classes in the **target** domain ("
        + ", ".join(f"{k}={v}" for k, v in sorted(scale.target.options.items()))
        + f"), {recipe.views} views of {recipe.image_size} px and {recipe.points} points per object.",
        "3. `evaluate`: the zero-shot model (text-initialised classifier) on the source and target test splits.",
        f"4. `selftrain`: baseline self-training (`demo-baseline`) and Cross-MoST (`demo`) on the unlabelled target "
        f"training split, {steps} optimiser steps each; the EMA momentum ramp is the paper's 400 of ~3.8k steps "
        f"scaled to {ema_warmup_steps(steps)} of {steps}. The target labels reach only the evaluation and the "
        "pseudo-label diagnostics, never a loss.",
    ]


_PAIR_NOTES = {
    "basketball": "same shape as soccer_ball",
    "soccer_ball": "same shape as basketball",
    "dice": "same shape as gift_box",
    "gift_box": "same shape as dice",
    "barrel": "same outline as crate, round",
    "crate": "same outline as barrel, square",
    "bucket": "same outline as bin, round",
    "bin": "same outline as bucket, square",
}


def per_class_markdown(result: DemoResult, classes: Sequence[str]) -> list[str]:
    """The per-class accuracy of each branch (image* and point) for the three methods, mean over seeds: where each
    branch is right, and what Cross-MoST's joint pseudo-labels moved from one branch to the other."""
    rows = ("zero-shot", "baseline self-training", "Cross-MoST")
    header = "| class | pair | " + " | ".join(f"{r} image* | {r} point" for r in rows) + " |"
    lines = [header, "|---|---|" + "---:|" * (2 * len(rows))]
    for index, name in enumerate(classes):
        cells = []
        for row in rows:
            for branch in ("image*", "point"):
                values = [
                    float(scores[row][f"per_class/{branch}"][index])
                    for scores in result.scores.values()
                    if row in scores and f"per_class/{branch}" in scores[row]
                ]
                cells.append(f"{sum(values) / len(values):.0f}" if values else "–")
        lines.append(f"| {name} | {_PAIR_NOTES.get(name, '')} | " + " | ".join(cells) + " |")
    return lines


def render_report(result: DemoResult, checks: Sequence[Check], figures: Sequence[str], table_md: str) -> str:
    """``report.md``: what ran, the Table-1-style table, the orderings, plots, stage times and the commands."""
    scale = result.scale
    seeds = len(result.seeds)
    teachers = aggregate(result.scores, [f"{m} (teacher)" for m in METHODS[2:]])
    parts = [
        "# Cross-MoST on the embedded synthetic benchmark",
        "",
        f"`crossmost-train demo` ({scale.name} scale, {seeds} seed(s); {result.total_seconds / 60:.1f} min). "
        "Everything was generated and trained here; nothing was downloaded.",
        "",
        "## What ran",
        "",
        *_what_ran(result),
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
        "## Per class: where each branch is right",
        "",
        "Accuracy (%) per class on the target test split"
        + (f", mean over {seeds} seeds" if seeds > 1 else "")
        + ". The pairs are made so that the branches err on different objects: the point branch cannot tell a "
        "basketball from a soccer ball or a dice from a gift box (one shape, two looks), and from a camera near the "
        "horizon the image branch hardly sees whether a barrel or a bucket is round or square. Cross-MoST's joint "
        "pseudo-labels carry each branch's knowledge to the other.",
        "",
        *per_class_markdown(result, scale.recipe.classes),
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
