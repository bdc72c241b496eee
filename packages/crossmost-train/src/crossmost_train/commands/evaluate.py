"""``crossmost-train evaluate``: score a model (the initial one, a trained run, or a saved model) on a split."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

from torch import nn

from crossmost_train.accelerator_setup import build_accelerator
from crossmost_train.config import ConfigError, TrainConfig, save_config
from crossmost_train.evaluation import evaluate_model
from crossmost_train.plots import plot_confusion
from crossmost_train.report import has_labels, score_line, write_report
from crossmost_train.run_builder import Components, RunBuilder, data_shape
from crossmost_train.unreadable import announce_left_out, skipped_at_indexing


def models_to_evaluate(
    cfg: TrainConfig, run: str | None, builder: RunBuilder, classnames: list[str]
) -> dict[str, nn.Module]:
    """Label → model: ``--run DIR`` gives its last student (``DIR/model``) and teacher; otherwise the model the
    config builds (``model.pretrained`` may name a ``save_pretrained`` folder; without it, the zero-shot model)."""
    if run is None:
        label = "zero-shot (initial model)" if not cfg.model.pretrained else f"model {cfg.model.pretrained}"
        return {label: builder.model(classnames)}
    from crossmost_models import from_pretrained

    folder = Path(run)
    found: dict[str, nn.Module] = {}
    for sub, label in (("model", "self-trained student (last step)"), ("teacher", "EMA teacher (last step)")):
        if (folder / sub / "config.json").is_file():
            found[label] = from_pretrained(folder / sub)
    if not found:
        raise ConfigError(f"--run {run}: no model/ or teacher/ folder (is it a finished selftrain run folder?)")
    return found


def run_evaluate(cfg: TrainConfig, *, run: str | None = None, components: Components | None = None) -> dict[str, Any]:
    """Evaluate; write ``results.json``, ``report.md`` and confusion matrices into ``<run.output_dir>/eval-<split>``."""
    from accelerate.utils import set_seed

    builder = RunBuilder(cfg, components)
    out = Path(cfg.run.output_dir) / f"eval-{cfg.data.eval_split}"
    accelerator = build_accelerator(cfg, out)
    set_seed(cfg.run.seed)
    classnames = builder.classnames()
    models = models_to_evaluate(cfg, run, builder, classnames)
    results: dict[str, dict[str, Any]] = {}
    announced: set[str] = set()
    dataset = None
    for label, model in models.items():
        if list(getattr(model, "classnames", classnames)) != classnames:
            raise ConfigError(f"{label}: its classifier's classes differ from the dataset's {classnames}")
        model.to(accelerator.device).eval()
        dataset = dataset or builder.eval_dataset(data_shape(cfg, model))
        scores, _ = evaluate_model(
            model,
            builder.eval_loader(dataset, accelerator),
            accelerator,
            classnames,
            num_samples=len(dataset),  # type: ignore[arg-type]
            eval_view=cfg.data.eval_view,
            joint_rule=cfg.eval.joint_rule,
            subsets=cfg.eval.subsets,
            subset_protocol=cfg.eval.subset_protocol,
            progress=f"evaluate {label}" if cfg.run.progress_bar else None,
        )
        results[label] = scores
        accelerator.print(f"[crossmost] {label}: {score_line(scores, classnames)}")
        if accelerator.is_main_process:
            announce_left_out(scores["unreadable/samples"], announced)
    if accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        save_config(cfg, out / "config.yaml")
        (out / "results.json").write_text(json.dumps(results, indent=1))
        figures = []
        if cfg.eval.confusion_matrix and has_labels(next(iter(results.values()))):
            first = next(iter(results))
            for branch in ("image*", "point", "joint"):
                name = f"confusion_{branch.replace('*', '_star')}.png"
                plot_confusion(results[first][f"confusion/{branch}"], classnames, out / name, f"{first}, {branch}")
                figures.append(name)
        write_report(
            out,
            title=f"Evaluation on {Path(cfg.data.root).name} ({cfg.data.eval_split})",
            results=results,
            classnames=classnames,
            figures=figures,
            per_class_of=next(iter(results)),
            unreadable=[
                *skipped_at_indexing(dataset),
                *dict.fromkeys(
                    f"{cfg.data.eval_split}: {line}"
                    for scores in results.values()
                    for line in scores["unreadable/samples"]
                ),
            ],
        )
    accelerator.wait_for_everyone()
    return results


def run_command(args: argparse.Namespace, cfg: TrainConfig) -> int:
    """``crossmost-train evaluate`` on a resolved and checked config."""
    if args.no_progress:
        cfg = dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, progress_bar=False))
    run_evaluate(cfg, run=args.run)
    return 0
