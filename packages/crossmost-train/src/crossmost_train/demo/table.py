"""Aggregation over seeds, the Table-1-style table, and the orderings the demo is meant to show.

Accuracies from :func:`crossmost_train.evaluation.score_predictions` are percentages; the table shows mean ± std
(sample standard deviation) over seeds, or the single value with one seed.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BRANCHES",
    "Check",
    "MeanStd",
    "aggregate",
    "check_orderings",
    "format_cell",
    "markdown_table",
    "per_variant_by_seed",
    "text_table",
]

BRANCHES = ("image", "image*", "point", "joint")


@dataclass(frozen=True)
class MeanStd:
    """Mean and sample standard deviation of one cell over seeds (std is 0 for one seed)."""

    mean: float
    std: float
    n: int

    def to_dict(self) -> dict[str, float | int]:
        """JSON-ready form."""
        return {"mean": self.mean, "std": self.std, "n": self.n}


def _mean_std(values: Sequence[float]) -> MeanStd:
    finite = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    if not finite:
        return MeanStd(math.nan, math.nan, 0)
    std = statistics.stdev(finite) if len(finite) > 1 else 0.0
    return MeanStd(statistics.fmean(finite), std, len(finite))


def aggregate(
    per_seed: Mapping[int, Mapping[str, Mapping[str, Any]]], rows: Sequence[str], branches: Sequence[str] = BRANCHES
) -> dict[str, dict[str, MeanStd]]:
    """row → branch → :class:`MeanStd` over the seeds of ``per_seed`` (seed → row → scores)."""
    table: dict[str, dict[str, MeanStd]] = {}
    for row in rows:
        table[row] = {
            b: _mean_std([float(scores[row][b]) for scores in per_seed.values() if row in scores]) for b in branches
        }
    return table


def format_cell(cell: MeanStd) -> str:
    """``71.3 ± 2.1`` (or ``71.3`` for one seed, ``–`` when missing)."""
    if cell.n == 0 or not math.isfinite(cell.mean):
        return "–"
    return f"{cell.mean:.1f} ± {cell.std:.1f}" if cell.n > 1 else f"{cell.mean:.1f}"


def markdown_table(table: Mapping[str, Mapping[str, MeanStd]], *, first: str = "method") -> str:
    """A markdown table with one row per method and one column per branch."""
    branches = list(next(iter(table.values())).keys()) if table else list(BRANCHES)
    lines = [f"| {first} | " + " | ".join(branches) + " |", "|---|" + "---:|" * len(branches)]
    for row, cells in table.items():
        lines.append(f"| {row} | " + " | ".join(format_cell(cells[b]) for b in branches) + " |")
    return "\n".join(lines)


def text_table(table: Mapping[str, Mapping[str, MeanStd]], *, first: str = "method") -> str:
    """The same table aligned for a terminal."""
    branches = list(next(iter(table.values())).keys()) if table else list(BRANCHES)
    rows = [[first, *branches]] + [[row, *(format_cell(cells[b]) for b in branches)] for row, cells in table.items()]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for k, r in enumerate(rows):
        lines.append("  ".join([r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)]))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


@dataclass(frozen=True)
class Check:
    """One ordering the demo is meant to show, and whether the mean over seeds shows it.

    Attributes:
        claim: What is claimed, in words.
        holds: Whether the means satisfy it.
        detail: The numbers behind it.
        seeds_holding: In how many seeds it holds, of ``seeds``.
        seeds: Number of seeds.
    """

    claim: str
    holds: bool
    detail: str
    seeds_holding: int
    seeds: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "claim": self.claim,
            "holds": self.holds,
            "detail": self.detail,
            "seeds_holding": self.seeds_holding,
            "seeds": self.seeds,
        }


def _per_seed(per_seed: Mapping[int, Mapping[str, Mapping[str, Any]]], row: str, branch: str) -> list[float]:
    return [float(scores[row][branch]) for scores in per_seed.values() if row in scores]


def check_orderings(
    per_seed: Mapping[int, Mapping[str, Mapping[str, Any]]], *, min_gain: float = 10.0, min_other_gain: float = 5.0
) -> list[Check]:
    """The demo's claims, each judged on the means over seeds and counted per seed:

    * the target is shifted: zero-shot on the target below zero-shot on the source (image* and point);
    * baseline self-training beats zero-shot (image* and point);
    * Cross-MoST beats baseline self-training on image, image*, point and joint;
    * Cross-MoST gains at least ``min_gain`` points over zero-shot on one branch and at least ``min_other_gain`` on
      the other (the image branch scored by image*, the point branch by point).
    """
    seeds = len(per_seed)

    def mean(row: str, branch: str) -> float:
        values = _per_seed(per_seed, row, branch)
        return statistics.fmean(values) if values else math.nan

    def count(pred: Any, *rows_branches: tuple[str, str]) -> int:
        columns = [_per_seed(per_seed, r, b) for r, b in rows_branches]
        return sum(1 for values in zip(*columns, strict=True) if pred(*values))

    checks: list[Check] = []

    def less(claim: str, low: tuple[str, str], high: tuple[str, str]) -> None:
        a, b = mean(*low), mean(*high)
        checks.append(
            Check(
                claim, a < b, f"{a:.1f} {'<' if a < b else '≥'} {b:.1f}", count(lambda x, y: x < y, low, high), seeds
            ),
        )

    for branch in ("image*", "point"):
        less(f"the target is shifted: zero-shot {branch} on target < on source",
             ("zero-shot", branch), ("zero-shot (source)", branch))  # fmt: skip
    for branch in ("image*", "point"):
        less(f"baseline self-training > zero-shot ({branch})",
             ("zero-shot", branch), ("baseline self-training", branch))  # fmt: skip
    for branch in BRANCHES:
        less(f"Cross-MoST > baseline self-training ({branch})",
             ("baseline self-training", branch), ("Cross-MoST", branch))  # fmt: skip

    def gains(scores: Mapping[str, Mapping[str, Any]]) -> tuple[float, float]:
        image, point = (float(scores["Cross-MoST"][b]) - float(scores["zero-shot"][b]) for b in ("image*", "point"))
        return image, point

    def enough(image: float, point: float) -> bool:
        return max(image, point) >= min_gain and min(image, point) >= min_other_gain

    image_gain = mean("Cross-MoST", "image*") - mean("zero-shot", "image*")
    point_gain = mean("Cross-MoST", "point") - mean("zero-shot", "point")
    checks.append(
        Check(
            f"Cross-MoST gains ≥ {min_gain:g} points over zero-shot on one branch, ≥ {min_other_gain:g} on the other",
            enough(image_gain, point_gain),
            f"image* {image_gain:+.1f}, point {point_gain:+.1f}",
            sum(1 for scores in per_seed.values() if enough(*gains(scores))),
            seeds,
        )
    )
    return checks


def per_variant_by_seed(variants: Mapping[str, Mapping[int, Mapping[str, Any]]]) -> dict[int, dict[str, Any]]:
    """variant → seed → scores, turned into seed → variant → scores (the layout :func:`aggregate` reads)."""
    out: dict[int, dict[str, Any]] = {}
    for variant, seeds in variants.items():
        for seed, scores in seeds.items():
            out.setdefault(int(seed), {})[variant] = scores
    return out
