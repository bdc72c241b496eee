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
from pathlib import Path
from typing import Any

from crossmost_train.config import TrainConfig, config_to_dict, load_config
from crossmost_train.demo.scale import DomainSpec, PretrainRecipe

__all__ = ["Stage", "StageError", "StageRunner", "synth_arguments"]

STAGE_FILE = "stage.json"


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
    recipe: PretrainRecipe, domain: DomainSpec, out: Path, *, workers: int, progress: bool
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
        "--workers", str(workers),
        "--out", str(out),
    ]  # fmt: skip
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
    """

    def __init__(self, *, progress: bool = True, quiet: bool = True, echo: Callable[[str], None] = print) -> None:
        self.progress = progress
        self.quiet = quiet
        self.echo = echo
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

    def _run(
        self, name: str, command: str, folder: Path, key: Any, body: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
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
        self.echo(f"[demo] {name} ...")
        started = time.perf_counter()
        try:
            with self._captured(folder / "output.log"):
                result = body()
        except Exception as error:
            raise StageError(f"{name} failed: {error}\n  reproduce with: {command}") from error
        seconds = time.perf_counter() - started
        folder.mkdir(parents=True, exist_ok=True)
        _write_json(record, {"key": digest, "command": command, "seconds": seconds, "result": result})
        self.stages.append(Stage(name, command, folder, seconds, False, result, seconds))
        self.echo(f"[demo] {name}: {seconds:.1f} s")
        return result

    # ------------------------------------------------------------------------------------------------ data
    def synth(
        self, recipe: PretrainRecipe, domain: DomainSpec, out: Path, *, workers: int, name: str | None = None
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
        cfg = self.config(presets, overrides)
        key = config_to_dict(cfg)
        key["run"].pop("progress_bar", None)
        folder = Path(cfg.run.output_dir)
        inputs = [o for o in overrides if not o.startswith("run.output_dir=")]
        line = f"crossmost-train {command} " + shlex.join([a for p in presets for a in ("-c", p)] + list(overrides))
        full_key = {"command": command, "config": key, "inputs": self._upstream(inputs)}
        return self._run(name, line, folder, full_key, lambda: body(cfg))

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
        from crossmost_train.commands.selftrain import run_selftrain

        return self.train_stage(name, "selftrain", presets, overrides, lambda cfg: dict(run_selftrain(cfg)))
