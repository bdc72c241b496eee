"""The paper's ablations (Tables 2–5) on the synthetic benchmark, and the control of what the method needs.

Each ablation variant is the demo's Cross-MoST run with one of the shipped ``ablation-*`` overlays stacked on the
``demo`` preset, from the same pre-trained towers; the full Cross-MoST run of the main table is reused as the "all
components", "joint" and "all views" rows.

The control ("modalities") reruns zero-shot, baseline self-training and Cross-MoST on a target whose views are depth
projections of the scans themselves: both branches then see the same partial, noisy geometry and err on the same
objects, so cross-modal pseudo-labels have little to exchange.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from crossmost_train.demo.scale import DemoScale
from crossmost_train.demo.selftraining import selftrain_seeds
from crossmost_train.demo.stages import StageRunner

__all__ = ["ABLATION_TITLES", "ablation_variants", "run_ablations", "write_ablations_doc"]

ABLATION_TITLES = {
    "modalities": "Control: the two modalities carry different information (the demo) or the same (views are depth "
    "projections of the scans)",
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


CONTROL_ROWS = ("zero-shot", "baseline self-training", "Cross-MoST")


def run_control(
    runner: StageRunner, scale: DemoScale, out: Path, seeds: Sequence[int], towers: Path, *, workers: int | None
) -> dict[int, dict[str, dict[str, Any]]]:
    """Zero-shot, baseline self-training and Cross-MoST on the control target (seed → row → scores)."""
    recipe = scale.recipe
    control = runner.synth(
        recipe, scale.control, out / "data" / f"control-{recipe.data_key(scale.control)}", workers=workers,
        name="synth control",
    )  # fmt: skip
    zero_shot = runner.evaluate(
        "zero-shot control", ["demo"], [f"data.root={control}", f"model.pretrained={towers}",
                                        f"run.output_dir={out / 'zeroshot-control'}"],
    )  # fmt: skip
    trained = selftrain_seeds(
        runner, scale, control, towers, {seed: out / f"seed-{seed}" / "control" for seed in seeds},
        [("baseline self-training", ["demo-baseline"], []), ("Cross-MoST", ["demo"], [])],
    )  # fmt: skip
    return {
        seed: {"zero-shot": zero_shot, **{name: final["student"] for name, final in trained[seed].items()}}
        for seed in seeds
    }


def run_ablations(
    runner: StageRunner,
    scale: DemoScale,
    target: Path,
    out: Path,
    main_scores: Mapping[int, Mapping[str, dict[str, Any]]],
    towers: Path,
    *,
    workers: int | None,
) -> dict[str, dict[str, dict[int, dict[str, Any]]]]:
    """Run the control and every ablation row for every seed of ``main_scores`` (the demo table's scores, seed →
    method → scores); the main runs come from the stage cache.

    Returns:
        ablation → row label → seed → scores of the last student (``modalities``: the demo's rows and the control's,
        each row labelled with the information its modalities carry).
    """
    seeds = list(main_scores)
    results: dict[str, dict[str, dict[int, dict[str, Any]]]] = {}
    control = run_control(runner, scale, out, seeds, towers, workers=workers)
    modalities = results.setdefault("modalities", {})
    for row in CONTROL_ROWS:
        modalities[f"{row}: different information (the demo)"] = {s: dict(main_scores[s][row]) for s in seeds}
    for row in CONTROL_ROWS:
        modalities[f"{row}: same information (depth views of the scans)"] = {s: control[s][row] for s in seeds}
    # The main row of each table runs as "Cross-MoST" (same folder and config as the demo table's run, so it is
    # reused); every other row is one run, all of them for every seed one batch of the runner's jobs.
    tables = ablation_variants(scale.recipe.views)
    runs = {label: f"ablation {overlays[-1].removeprefix('ablation-')}" if overlays else FULL
            for rows in tables.values() for label, overlays in rows}  # fmt: skip
    variants = {runs[label]: ["demo", *overlays] for rows in tables.values() for label, overlays in rows}
    trained = selftrain_seeds(
        runner, scale, target, towers, {seed: out / f"seed-{seed}" for seed in seeds},
        [(name, presets, []) for name, presets in variants.items()],
    )  # fmt: skip
    for ablation, rows in tables.items():
        for label, _ in rows:
            results.setdefault(ablation, {})[label] = {seed: trained[seed][runs[label]]["student"] for seed in seeds}
    return results


def write_ablations_doc(path: Path, markdown_tables: Sequence[str], header: str) -> Path:
    """Write ``docs/ablations.md``: ``header`` then the tables (atomically)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(header + "\n\n" + "\n".join(markdown_tables) + "\n")
    os.replace(tmp, path)
    return path
