"""``report.md`` of a run: a Table-1-style accuracy table, subsets, per-class accuracies, training health.

An evaluation split without labels gets no accuracy: the report says so and shows how many objects each class was
predicted for instead.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from crossmost_train.evaluation.runner import BRANCHES


def _fmt(value: Any) -> str:
    if isinstance(value, (int, float)) and math.isfinite(value):
        return f"{value:.2f}"
    return "–"


def num_labelled(scores: Mapping[str, Any]) -> int:
    """Evaluated samples with a known label (scores written before labels were counted: all of them)."""
    return int(scores.get("counts/labelled", scores.get("num_samples", 0)))


def has_labels(scores: Mapping[str, Any]) -> bool:
    """Whether the scores include an accuracy (the evaluation split had at least one labelled sample)."""
    return num_labelled(scores) > 0


def score_line(scores: Mapping[str, Any], classnames: Sequence[str]) -> str:
    """One console line: the accuracy of each branch, or without labels the most predicted classes (joint), and
    how many unreadable samples were left out."""
    left_out = int(scores.get("counts/unreadable", 0))
    note = f" ({left_out} unreadable sample{'s' if left_out != 1 else ''} left out)" if left_out else ""
    if has_labels(scores):
        return ", ".join(f"{b} {scores[b]:.2f}" for b in BRANCHES) + note
    counts = scores.get("counts/predicted/joint", [])
    top = sorted(range(len(counts)), key=lambda c: (-counts[c], c))[:5]
    shown = ", ".join(f"{classnames[c]} {counts[c]}" for c in top if counts[c])
    return (
        f"no labels, no accuracy; joint predictions over {scores.get('num_samples', 0)} objects: {shown or 'none'}"
        + note
    )


def predicted_counts_table(scores: Mapping[str, Any], classnames: Sequence[str]) -> str:
    """Markdown table: how many evaluation objects each branch predicted for each class."""
    lines = ["| class | " + " | ".join(BRANCHES) + " |", "|---|" + "---:|" * len(BRANCHES)]
    for i, name in enumerate(classnames):
        row = [str(scores.get(f"counts/predicted/{b}", [0] * len(classnames))[i]) for b in BRANCHES]
        lines.append(f"| {name} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def accuracy_table(results: Mapping[str, Mapping[str, Any]]) -> str:
    """Markdown table: one row per evaluated model, columns image, image*, point, joint (percent)."""
    lines = ["| model | " + " | ".join(BRANCHES) + " |", "|---|" + "---:|" * len(BRANCHES)]
    for name, scores in results.items():
        lines.append(f"| {name} | " + " | ".join(_fmt(scores.get(b)) for b in BRANCHES) + " |")
    return "\n".join(lines)


def subset_table(results: Mapping[str, Mapping[str, Any]]) -> str:
    """Markdown table of the class-subset accuracies (empty string when no subset was scored)."""
    subsets = sorted({k.split("/")[0] for s in results.values() for k in s if k.startswith(("medium/", "hard/"))})
    if not subsets:
        return ""
    cols = [f"{s}/{b}" for s in subsets for b in BRANCHES]
    lines = ["| model | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    for name, scores in results.items():
        lines.append(f"| {name} | " + " | ".join(_fmt(scores.get(c)) for c in cols) + " |")
    return "\n".join(lines)


def per_class_table(scores: Mapping[str, Any], classnames: Sequence[str]) -> str:
    """Markdown table of per-class accuracies of one model."""
    lines = ["| class | " + " | ".join(BRANCHES) + " |", "|---|" + "---:|" * len(BRANCHES)]
    for i, name in enumerate(classnames):
        row = [_fmt(scores.get(f"per_class/{b}", [math.nan] * len(classnames))[i]) for b in BRANCHES]
        lines.append(f"| {name} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def write_report(
    run_dir: str | os.PathLike[str],
    *,
    title: str,
    results: Mapping[str, Mapping[str, Any]],
    classnames: Sequence[str],
    summary: Mapping[str, Any] | None = None,
    notes: Sequence[str] = (),
    figures: Sequence[str] = (),
    per_class_of: str | None = None,
    unreadable: Sequence[str] = (),
) -> Path:
    """Write ``<run>/report.md`` atomically and return its path.

    Args:
        run_dir: the run folder.
        title: first heading.
        results: model label → scores from ``score_predictions`` (rows of the accuracy table, in order).
        classnames: class names, for the per-class table.
        summary: key → value lines of the training summary.
        notes: extra paragraphs (protocol notes).
        figures: PNG file names in the run folder to embed.
        per_class_of: which entry of ``results`` gets the per-class table (default: the last one).
        unreadable: the samples that could not be read (split, shard, key and reason), listed in their own
            section.
    """
    parts = [f"# {title}", ""]
    labelled = bool(results) and any(has_labels(scores) for scores in results.values())
    key = (per_class_of or list(results)[-1]) if results else ""
    if results and not labelled:
        first = next(iter(results.values()))
        parts += [
            f"The {first.get('num_samples', '?')} evaluation objects have no labels, so no accuracy is reported. "
            f"Objects predicted per class ({key}); `image*`: mean of the normalised embeddings of all views; "
            "`joint`: image* and point combined.",
            "",
            predicted_counts_table(results[key], classnames),
            "",
        ]
    elif results:
        first = next(iter(results.values()))
        count = f"{first.get('num_samples', '?')}"
        if num_labelled(first) != first.get("num_samples", 0):
            count = f"the {num_labelled(first)} labelled of {count}"
        parts += [
            f"Top-1 accuracy (%) on {count} evaluation objects. `image`: one fixed view; "
            "`image*`: mean of the normalised embeddings of all views; `point`: the point branch; `joint`: image* "
            "and point combined. The reported model is the last one: nothing is selected on test labels.",
            "",
            accuracy_table(results),
            "",
        ]
        subsets = subset_table(results)
        if subsets:
            parts += ["## ModelNet40 class subsets", "", subsets, ""]
    if summary:
        parts += ["## Training", ""] + [f"- {k}: {v}" for k, v in summary.items()] + [""]
    if unreadable:
        parts += [
            "## Unreadable samples",
            "",
            f"{len(unreadable)} entries: samples left out when the shards were indexed, or met while reading and "
            "replaced by the next readable sample (training) or left out of the scores (evaluation).",
            "",
            *[f"- {line}" for line in unreadable],
            "",
        ]
    for note in notes:
        parts += [note, ""]
    if figures:
        parts += ["## Figures", ""] + [f"![{Path(f).stem}]({f})" for f in figures] + [""]
    if labelled:
        parts += [f"## Per-class accuracy ({key})", "", per_class_table(results[key], classnames), ""]
    path = Path(run_dir) / "report.md"
    tmp = path.with_name(".report.md.tmp")
    tmp.write_text("\n".join(parts))
    os.replace(tmp, path)
    return path
