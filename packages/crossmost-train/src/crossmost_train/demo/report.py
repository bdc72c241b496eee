"""What the demo leaves behind: ``results.json`` (every number), ``report.md`` and PNG plots, and the summary
printed at the end."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from crossmost_train.demo.pipeline import METHODS, DemoResult
from crossmost_train.demo.report_markdown import render_report
from crossmost_train.demo.table import (
    BRANCHES,
    Check,
    aggregate,
    check_orderings,
    markdown_table,
    per_variant_by_seed,
    text_table,
)

__all__ = ["demo_results_dict", "format_summary", "plot_accuracy_bars", "plot_pseudo_labels", "write_outputs"]

_TRAINING_CURVES = (
    ("image_pseudo_label_accuracy", "pseudo-label accuracy (image)"),
    ("point_pseudo_label_accuracy", "pseudo-label accuracy (point)"),
    ("image_kept_ratio", "kept ratio (image)"),
    ("point_kept_ratio", "kept ratio (point)"),
)


def _scalars(scores: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in scores.items() if not k.startswith(("per_class/", "confusion/"))}


def demo_results_dict(result: DemoResult, checks: Sequence[Check]) -> dict[str, Any]:
    """Everything measured, JSON-ready: the table (mean/std/n per cell), per-seed scalar scores, the orderings,
    stage times, ablations and the commands that ran."""
    table = aggregate(result.scores, METHODS)
    teachers = [f"{m} (teacher)" for m in METHODS[2:]]
    content: dict[str, Any] = {
        "scale": asdict(result.scale),
        "seeds": result.seeds,
        "data": result.data,
        "table": {row: {b: cell.to_dict() for b, cell in cells.items()} for row, cells in table.items()},
        "table_markdown": markdown_table(table),
        "teacher_table": {
            row: {b: cell.to_dict() for b, cell in cells.items()}
            for row, cells in aggregate(result.scores, teachers).items()
        },
        "per_seed": {str(s): {m: _scalars(v) for m, v in scores.items()} for s, scores in result.scores.items()},
        "checks": [c.to_dict() for c in checks],
        "runs": {str(s): runs for s, runs in result.runs.items()},
        "stage_seconds": result.stage_seconds,
        "computed_seconds": result.computed_seconds,
        "total_seconds": result.total_seconds,
        "commands": result.commands,
    }
    if result.ablations:
        content["ablations"] = {
            name: {
                "table": {
                    row: {b: cell.to_dict() for b, cell in cells.items()}
                    for row, cells in aggregate(per_variant_by_seed(variants), list(variants)).items()
                },
                "per_seed": {v: {str(s): _scalars(sc) for s, sc in seeds.items()} for v, seeds in variants.items()},
            }
            for name, variants in result.ablations.items()
        }
    return content


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    os.replace(tmp, path)
    return path


def plot_accuracy_bars(result: DemoResult, path: Path) -> Path:
    """Grouped bars: one group per branch, one bar per method, error bars = std over seeds."""
    plt = _pyplot()
    table = aggregate(result.scores, METHODS)
    fig, ax = plt.subplots(figsize=(8, 3.6))
    width = 0.8 / len(METHODS)
    for k, method in enumerate(METHODS):
        means = [table[method][b].mean for b in BRANCHES]
        stds = [table[method][b].std if table[method][b].n > 1 else 0.0 for b in BRANCHES]
        xs = [i + (k - (len(METHODS) - 1) / 2) * width for i in range(len(BRANCHES))]
        ax.bar(xs, means, width, yerr=stds, capsize=2, label=method)
    ax.set_xticks(range(len(BRANCHES)), list(BRANCHES))
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(
        f"synthetic benchmark, target test split ({len(result.seeds)} seed(s); "
        "'zero-shot (source)': source test split)",
        fontsize=9,
    )
    ax.legend(fontsize=8, ncol=2)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def _read_series(run_dir: Path, key: str) -> tuple[list[int], list[float]]:
    steps: list[int] = []
    values: list[float] = []
    metrics = run_dir / "metrics.jsonl"
    if not metrics.is_file():
        return steps, values
    for line in metrics.read_text().splitlines():
        record = json.loads(line)
        value = record.get(key)
        if record.get("kind") == "train" and isinstance(value, (int, float)) and math.isfinite(value):
            steps.append(int(record["step"]))
            values.append(float(value))
    return steps, values


def plot_pseudo_labels(result: DemoResult, path: Path) -> Path:
    """Pseudo-label accuracy and kept ratio during self-training, baseline vs Cross-MoST (first seed). Labels of
    the target's training split are used here only as a diagnostic; no loss sees them."""
    plt = _pyplot()
    seed = result.seeds[0]
    fig, axes = plt.subplots(1, len(_TRAINING_CURVES), figsize=(4 * len(_TRAINING_CURVES), 3))
    for ax, (key, title) in zip(axes, _TRAINING_CURVES, strict=True):
        for method in ("baseline self-training", "Cross-MoST"):
            steps, values = _read_series(Path(result.runs[seed][method]), key)
            if steps:
                ax.plot(steps, values, label=method)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("step")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    return _save(fig, path)


def _stage_lines(result: DemoResult) -> list[str]:
    seeds = len(result.seeds)
    lines = [f"{'stage':<32} {'this run':>9}  {'computed in':>11}" + ("  per seed" if seeds > 1 else "")]
    for name, seconds in result.stage_seconds.items():
        computed = result.computed_seconds.get(name, seconds)
        line = f"{name:<32} {seconds:7.1f} s  {computed:9.1f} s"
        per_seed = seeds > 1 and not name.startswith("synth")  # the data is prepared once for every seed
        lines.append(line + (f"  {computed / seeds:7.1f} s" if per_seed else ""))
    lines.append(f"{'total':<32} {result.total_seconds:7.1f} s  {sum(result.computed_seconds.values()):9.1f} s")
    return lines


def format_summary(result: DemoResult, checks: Sequence[Check], report: Path, figures: Sequence[Path]) -> str:
    """The text printed when the demo ends: the table, the orderings, stage times and where the files are."""
    table = aggregate(result.scores, METHODS)
    seeds = len(result.seeds)
    spread = f"mean ± std over {seeds} seeds" if seeds > 1 else "one seed; --seeds 5 gives mean ± std"
    lines = [
        "",
        f"Top-1 accuracy (%) on the synthetic target test split ({spread}); 'zero-shot (source)' is the same "
        "zero-shot model on the source test split.",
        "",
        text_table(table),
        "",
        "What the demo shows:",
        *[
            f"  [{'x' if c.holds else ' '}] {c.claim}: {c.detail} (holds in {c.seeds_holding}/{c.seeds} seeds)"
            for c in checks
        ],
        "",
        "Stage times:",
        *[f"  {line}" for line in _stage_lines(result)],
        "",
        f"report: {report}",
        *[f"plot:   {p}" for p in figures],
        f"numbers: {report.parent / 'results.json'}",
    ]
    return "\n".join(lines)


def write_outputs(result: DemoResult, out: Path) -> tuple[Path, list[Path], list[Check]]:
    """Write ``results.json``, the plots and ``report.md`` into ``out``; returns (report, plots, checks)."""
    out.mkdir(parents=True, exist_ok=True)
    checks = check_orderings(result.scores)
    content = demo_results_dict(result, checks)
    tmp = out / ".results.json.tmp"
    tmp.write_text(json.dumps(content, indent=1))
    os.replace(tmp, out / "results.json")
    figures = [plot_accuracy_bars(result, out / "accuracy.png"), plot_pseudo_labels(result, out / "pseudo_labels.png")]
    text = render_report(result, checks, [f.name for f in figures], markdown_table(aggregate(result.scores, METHODS)))
    report = out / "report.md"
    tmp = out / ".report.md.tmp"
    tmp.write_text(text)
    os.replace(tmp, report)
    return report, figures, checks
