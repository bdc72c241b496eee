"""The paper's ablations (Tables 2–5) on the synthetic benchmark: each variant is the demo's Cross-MoST run with
one of the shipped ``ablation-*`` overlays stacked on the ``demo`` preset, from the same pre-trained models.

The full Cross-MoST run of the main table is reused as the "all components", "joint" and "all views" rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from crossmost_train.demo.scale import DemoScale
from crossmost_train.demo.stages import StageRunner

__all__ = ["ABLATION_TITLES", "ablation_variants", "run_ablations", "write_ablations_doc"]

ABLATION_TITLES = {
    "objectives": "Table 2: cross-modal alignment and masked modelling",
    "initialisation": "Table 3 (Init.): point tower from ULIP pre-training or from scratch",
    "pseudo-labels": "Table 4: how the pseudo-labels are chosen",
    "views": "Table 5: rendered views per object used in training",
}

FULL = "Cross-MoST"


def ablation_variants(views: int) -> dict[str, list[tuple[str, list[str]]]]:
    """Ablation → rows ``(label, overlay presets)``; an empty overlay list is the main Cross-MoST run."""
    view_rows = [(f"{k} view{'s' if k > 1 else ''}", [f"ablation-views-{k}"]) for k in (1, 2, 4, 8) if k < views]
    return {
        "objectives": [
            (f"{FULL} (all components)", []),
            ("without L-align", ["ablation-no-align"]),
            ("with MM (MIM, MPM), which the demo leaves out", ["ablation-with-mm"]),
        ],
        "initialisation": [
            ("ULIP-initialised point tower", []),
            ("point tower from scratch", ["ablation-no-init"]),
        ],
        "pseudo-labels": [
            ("no comb. (each branch its own)", ["ablation-no-joint"]),
            ("image only", ["ablation-image-labels"]),
            ("point cloud only", ["ablation-point-labels"]),
            ("random modality", ["ablation-random"]),
            ("joint (Cross-MoST)", []),
        ],
        "views": [*view_rows, (f"{views} views (all)", [])],
    }


def run_ablations(
    runner: StageRunner, scale: DemoScale, target: Path, out: Path, seeds: Sequence[int], source: Path
) -> dict[str, dict[str, dict[int, dict[str, Any]]]]:
    """Run every ablation row for every seed (pre-trained models and the main runs come from the stage cache).

    Returns:
        ablation → row label → seed → scores of the last student.
    """
    from crossmost_train.demo.pipeline import pretrain_seed, selftrain_runs

    results: dict[str, dict[str, dict[int, dict[str, Any]]]] = {}
    for seed in seeds:
        folder = out / f"seed-{seed}"
        models = pretrain_seed(runner, scale, source, folder, seed)
        for ablation, rows in ablation_variants(scale.views).items():
            # The main row runs as "Cross-MoST" (same folder and config as the demo table's run, so it is reused).
            runs = {label: f"ablation {overlays[-1].removeprefix('ablation-')}" if overlays else FULL
                    for label, overlays in rows}  # fmt: skip
            trained = selftrain_runs(
                runner, scale, target, models, folder, seed,
                [(runs[label], ["demo", *overlays], []) for label, overlays in rows],
            )  # fmt: skip
            for label, _ in rows:
                results.setdefault(ablation, {}).setdefault(label, {})[seed] = trained[runs[label]]["student"]
    return results


def write_ablations_doc(path: Path, markdown_tables: Sequence[str], header: str) -> Path:
    """Write ``docs/ablations.md``: ``header`` then the tables (atomically)."""
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(header + "\n\n" + "\n".join(markdown_tables) + "\n")
    os.replace(tmp, path)
    return path
