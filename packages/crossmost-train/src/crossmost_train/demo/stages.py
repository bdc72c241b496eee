"""The stages of the demo, each a call of the real crossmost command it stands for.

Every stage is the function behind a command line (``crossmost-data synth``, ``crossmost-train pretrain --task
clip|ulip``, ``evaluate``, ``selftrain``) called with a preset and ``key=value`` overrides, so the demo trains and
prepares data exactly as a user would; :attr:`Stage.command` is that command line, written into the report. A
finished stage leaves ``stage.json`` (the resolved config's hash and its result) in its folder, and a rerun with the
same config reuses it instead of training again.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shlex
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from crossmost_train.config import TrainConfig, config_to_dict, load_config
from crossmost_train.demo.scale import DomainSpec, PretrainRecipe

__all__ = ["SelftrainRun", "Stage", "StageError", "StageRunner", "synth_arguments"]

STAGE_FILE = "stage.json"


@dataclass(frozen=True)
class SelftrainRun:
    """One ``crossmost-train selftrain`` of the demo: stage name (``selftrain <name>``), presets, overrides."""

    name: str
    presets: tuple[str, ...]
    overrides: tuple[str, ...]


class StageError(RuntimeError):
    """A stage failed; the message names the stage and the command that reproduces it."""


@dataclass
class Stage:
    """A finished (or reused) stage.

    Attributes:
        name: Short name (``synth source``, ``pretrain clip``, ``selftrain crossmost`` …).
        command: The equivalent command line.
        folder: Where its output lives.
        seconds: Wall time of this run (0 when reused from the cache).
        cached: Whether the result came from an earlier run.
        result: What the stage returned (scores, paths).
        computed_seconds: Wall time of the run that computed it (this run's, or the earlier one's when reused).
    """

    name: str
    command: str
    folder: Path
    seconds: float
    cached: bool
    result: dict[str, Any] = field(default_factory=dict)
    computed_seconds: float = 0.0


def _hash(content: Any) -> str:
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _write_json(path: Path, content: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(content, indent=1, default=str))
    os.replace(tmp, path)


def synth_arguments(
    recipe: PretrainRecipe, domain: DomainSpec, out: Path, *, workers: int | None, progress: bool
) -> list[str]:
    """The ``crossmost-data synth`` arguments that prepare ``domain`` of the benchmark of ``recipe`` into ``out``."""
    argv = [
        "synth",
        "--domain", domain.domain,
        "--objects-per-class", str(domain.objects_per_class),
        "--classes", *recipe.classes,
        "--views", str(recipe.views),
        "--image-size", str(recipe.image_size),
        "--points", str(recipe.points),
        "--seed", str(recipe.data_seed if domain.seed is None else domain.seed),
        "--out", str(out),
    ]  # fmt: skip
    if workers is not None:
        argv += ["--workers", str(workers)]
    for key, value in sorted(domain.options.items()):
        argv += ["--option", f"{key}={value}"]
    if not progress:
        argv.append("--no-progress")
    return argv


class StageRunner:
    """Runs stages in order, times them, reuses finished ones, and keeps the log of what ran.

    Args:
        progress: Show the progress bars of the commands.
        quiet: Silence the commands' own output (their progress bars stay, on stderr).
        echo: Where stage headers and timings go (default ``print``).
        jobs: Self-training runs at once (:meth:`selftrain_all`), each in a worker process; 1 runs them here, one
            after the other.
        threads: torch threads of each worker process (0: the usable cores shared among the ``jobs``).
    """

    def __init__(
        self,
        *,
        progress: bool = True,
        quiet: bool = True,
        echo: Callable[[str], None] = print,
        jobs: int = 1,
        threads: int = 0,
    ) -> None:
        if jobs < 1:
            raise ValueError(f"jobs must be at least 1, not {jobs}")
        self.progress = progress
        self.quiet = quiet
        self.echo = echo
        self.jobs = jobs
        self.threads = threads
        self.stages: list[Stage] = []
        self._digests: dict[Path, str] = {}

    def _upstream(self, values: Sequence[str]) -> dict[str, str]:
        """Digests of the earlier stages whose output ``values`` (override values, paths) point into, so that a
        stage reruns when what it was built from changed, not only when its own config did."""
        found: dict[str, str] = {}
        for value in values:
            path = Path(value.partition("=")[2] or value)
            for folder in (path, *path.parents):
                digest = self._digests.get(folder)
                if digest is None and (folder / STAGE_FILE).is_file():
                    digest = json.loads((folder / STAGE_FILE).read_text()).get("key")
                if digest is not None:
                    found[str(folder)] = digest
                    break
        return found

    @contextlib.contextmanager
    def _captured(self, log: Path) -> Iterator[None]:
        if not self.quiet:
            yield
            return
        buffer = io.StringIO()
        try:
            with contextlib.redirect_stdout(buffer):
                yield
        finally:
            log.parent.mkdir(parents=True, exist_ok=True)
            with log.open("a") as f:
                f.write(buffer.getvalue())

    def _reuse(self, name: str, command: str, folder: Path, key: Any) -> dict[str, Any] | None:
        """The result of the finished stage in ``folder`` when it was computed with ``key`` (recorded as reused);
        ``None`` when the stage has to run."""
        record = folder / STAGE_FILE
        digest = _hash(key)
        self._digests[folder] = digest
        if record.is_file():
            saved = json.loads(record.read_text())
            if saved.get("key") == digest:
                recorded = float(saved.get("seconds", 0.0))
                self.stages.append(Stage(name, command, folder, 0.0, True, saved["result"], recorded))
                self.echo(f"[demo] {name}: reused {folder}")
                return dict(saved["result"])
        return None

    def _run(
        self, name: str, command: str, folder: Path, key: Any, body: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        reused = self._reuse(name, command, folder, key)
        return reused if reused is not None else self._compute(name, command, folder, body)

    def _compute(self, name: str, command: str, folder: Path, body: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Run a stage :meth:`_reuse` found no result for, and record it under the key it was looked up with."""
        self.echo(f"[demo] {name} ...")
        started = time.perf_counter()
        try:
            with self._captured(folder / "output.log"):
                result = body()
        except Exception as error:
            raise StageError(f"{name} failed: {error}\n  reproduce with: {command}") from error
        seconds = time.perf_counter() - started
        folder.mkdir(parents=True, exist_ok=True)
        record = {"key": self._digests[folder], "command": command, "seconds": seconds, "result": result}
        _write_json(folder / STAGE_FILE, record)
        self.stages.append(Stage(name, command, folder, seconds, False, result, seconds))
        self.echo(f"[demo] {name}: {seconds:.1f} s")
        return result

    # ------------------------------------------------------------------------------------------------ data
    def synth(
        self, recipe: PretrainRecipe, domain: DomainSpec, out: Path, *, workers: int | None, name: str | None = None
    ) -> Path:
        """``crossmost-data synth`` of one domain (skipped when ``out`` already holds it); ``name`` names the stage
        (default ``synth <domain>``)."""
        from crossmost_data.cli import main as data_main

        argv = synth_arguments(recipe, domain, out, workers=workers, progress=self.progress)
        command = "crossmost-data " + shlex.join(argv)

        def body() -> dict[str, Any]:
            code = data_main(argv)
            if code != 0 or not (out / "manifest.json").is_file():
                raise StageError(f"crossmost-data synth exited with {code}")
            return {"root": str(out)}

        self._run(name or f"synth {domain.domain}", command, out, {"data": recipe.data_key(domain)}, body)
        return out

    # -------------------------------------------------------------------------------------------- training
    def config(self, presets: Sequence[str], overrides: Sequence[str]) -> TrainConfig:
        """A resolved config (progress bars as the runner's)."""
        return load_config(presets, [*overrides, f"run.progress_bar={str(self.progress).lower()}"])

    def train_stage(
        self,
        name: str,
        command: str,
        presets: Sequence[str],
        overrides: Sequence[str],
        body: Callable[[TrainConfig], dict[str, Any]],
    ) -> dict[str, Any]:
        """Run ``body`` on the resolved config; the config (minus the progress bar) is the cache key."""
        cfg, line, key = self._train_spec(command, presets, overrides)
        return self._run(name, line, Path(cfg.run.output_dir), key, lambda: body(cfg))

    def _train_spec(
        self, command: str, presets: Sequence[str], overrides: Sequence[str]
    ) -> tuple[TrainConfig, str, dict[str, Any]]:
        """The resolved config of a training stage, its command line and its cache key."""
        cfg = self.config(presets, overrides)
        config = config_to_dict(cfg)
        config["run"].pop("progress_bar", None)
        inputs = [o for o in overrides if not o.startswith("run.output_dir=")]
        line = f"crossmost-train {command} " + shlex.join([a for p in presets for a in ("-c", p)] + list(overrides))
        return cfg, line, {"command": command, "config": config, "inputs": self._upstream(inputs)}

    def pretrain_clip(self, presets: Sequence[str], overrides: Sequence[str]) -> Path:
        """``crossmost-train pretrain --task clip``; returns the open_clip state-dict file."""
        from crossmost_models.clip import random_towers_expected
        from crossmost_train.pretrain import pretrain_clip

        def body(cfg: TrainConfig) -> dict[str, Any]:
            with random_towers_expected():  # the demo trains these towers from scratch: random is intended
                return {"path": str(pretrain_clip(cfg))}

        result = self.train_stage("pretrain clip", "pretrain --task clip", presets, overrides, body)
        return Path(result["path"])

    def pretrain_ulip(self, presets: Sequence[str], overrides: Sequence[str]) -> Path:
        """``crossmost-train pretrain --task ulip``; returns the saved model folder."""
        from crossmost_train.pretrain import pretrain_ulip

        result = self.train_stage(
            "pretrain ulip", "pretrain --task ulip", presets, overrides, lambda cfg: {"path": str(pretrain_ulip(cfg))}
        )
        return Path(result["path"])

    def evaluate(self, name: str, presets: Sequence[str], overrides: Sequence[str]) -> dict[str, Any]:
        """``crossmost-train evaluate`` of the configured model; returns its scores."""
        from crossmost_train.commands.evaluate import run_evaluate

        def body(cfg: TrainConfig) -> dict[str, Any]:
            results = run_evaluate(cfg)
            return dict(next(iter(results.values())))

        return self.train_stage(name, "evaluate", presets, overrides, body)

    def selftrain(self, name: str, presets: Sequence[str], overrides: Sequence[str]) -> dict[str, Any]:
        """``crossmost-train selftrain``; returns ``{"student": scores, "teacher": scores}`` of the last step."""
        return self.train_stage(name, "selftrain", presets, overrides, _selftrain_result)

    def selftrain_all(self, runs: Sequence[SelftrainRun]) -> list[dict[str, Any]]:
        """:meth:`selftrain` of every run; returns their results in order.

        With ``jobs`` > 1, the runs that are not in the cache run ``jobs`` at a time, each in a worker process with
        ``threads`` torch threads (default: the usable cores shared among them); their own progress bars are off and
        one bar counts the optimiser steps of them all. The runs must not depend on each other.
        """
        results: dict[int, dict[str, Any]] = {}
        pending: dict[int, tuple[SelftrainRun, TrainConfig, str]] = {}
        for index, run in enumerate(runs):
            cfg, line, key = self._train_spec("selftrain", run.presets, run.overrides)
            reused = self._reuse(f"selftrain {run.name}", line, Path(cfg.run.output_dir), key)
            if reused is not None:
                results[index] = reused
            else:
                pending[index] = (run, cfg, line)
        if self.jobs == 1 or len(pending) == 1:
            for index, (run, cfg, line) in pending.items():
                folder = Path(cfg.run.output_dir)
                results[index] = self._compute(f"selftrain {run.name}", line, folder, partial(_selftrain_result, cfg))
        elif pending:
            results.update(self._selftrain_in_workers(pending))
        return [results[index] for index in range(len(runs))]

    def _selftrain_in_workers(
        self, pending: dict[int, tuple[SelftrainRun, TrainConfig, str]]
    ) -> dict[int, dict[str, Any]]:
        from tqdm.auto import tqdm

        from crossmost_data.prepare.config import available_cores
        from crossmost_train.demo.parallel import run_in_processes

        jobs = min(self.jobs, len(pending))
        threads = self.threads if self.threads > 0 else max(1, available_cores() // jobs)
        order = list(pending)
        folders = [Path(pending[index][1].run.output_dir) for index in order]
        steps = [int(pending[index][1].schedule.max_steps) for index in order]
        self.echo(
            f"[demo] {len(order)} self-training runs, {jobs} at a time ({threads} torch thread"
            f"{'s' if threads > 1 else ''} each); each run's output is in its folder"
        )
        for position in range(jobs):
            self.echo(f"[demo] selftrain {pending[order[position]][0].name} ... ({folders[position]})")
        bar = tqdm(total=sum(steps), desc="selftrain", unit="step", disable=not self.progress)
        done: set[int] = set()

        def show_progress() -> None:
            started = jobs + len(done)  # a worker takes the next run as soon as it is free
            position = sum(
                total if i in done else min(total, _last_step(folder)) if i < started else 0
                for i, (folder, total) in enumerate(zip(folders, steps, strict=True))
            )
            bar.update(position - bar.n)

        def finished(position: int, stage: Stage) -> None:
            done.add(position)
            self.echo(f"[demo] {stage.name}: {stage.seconds:.1f} s ({stage.folder})")
            started = jobs + len(done) - 1
            if started < len(order):
                self.echo(f"[demo] selftrain {pending[order[started]][0].name} ... ({folders[started]})")
            show_progress()

        calls = [(_selftrain_in_worker, (pending[index][0], threads)) for index in order]
        try:
            stages = run_in_processes(calls, jobs=jobs, on_done=finished, poll=show_progress)
        finally:
            bar.close()
        self.stages.extend(stages)  # in the order of the runs, whichever finished first
        return {index: dict(stage.result) for index, stage in zip(order, stages, strict=True)}


def _selftrain_result(cfg: TrainConfig) -> dict[str, Any]:
    """``crossmost-train selftrain`` of a resolved config: ``{"student": scores, "teacher": scores}``."""
    from crossmost_train.commands.selftrain import run_selftrain

    return dict(run_selftrain(cfg))


def _last_step(run_dir: Path) -> int:
    """The optimiser steps a running self-training has logged (0 before its first log line)."""
    from crossmost_train.logging_utils import METRICS_FILE

    try:
        lines = (run_dir / METRICS_FILE).read_text().splitlines()
    except OSError:
        return 0
    for line in reversed(lines):
        try:
            return int(json.loads(line)["step"])
        except (ValueError, KeyError, TypeError):
            continue  # a line being written
    return 0


def _selftrain_in_worker(run: SelftrainRun, threads: int) -> Stage:
    """Worker-process side of :meth:`StageRunner.selftrain_all`: one self-training stage, its record returned."""
    import torch

    torch.set_num_threads(threads)
    runner = StageRunner(progress=False, echo=lambda _line: None)
    runner.selftrain(f"selftrain {run.name}", run.presets, run.overrides)
    return runner.stages[-1]
