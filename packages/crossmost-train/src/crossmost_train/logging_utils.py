"""Run-folder logging: ``metrics.jsonl`` (one JSON object per line) plus the Accelerate trackers."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from accelerate import Accelerator

METRICS_FILE = "metrics.jsonl"


def _clean(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class MetricsLog:
    """Appends records to ``<run>/metrics.jsonl`` on the main process and mirrors scalars to the trackers.

    Each record has ``kind`` (``train``, ``eval`` or ``event``) and ``step`` (optimiser steps done). Non-finite
    floats are written as ``null`` so the file stays strict JSON.
    """

    def __init__(self, run_dir: str | os.PathLike[str], accelerator: Accelerator | None = None) -> None:
        self.path = Path(run_dir) / METRICS_FILE
        self.accelerator = accelerator
        self.enabled = accelerator is None or accelerator.is_main_process

    def truncate_after(self, step: int) -> None:
        """Drop records past ``step`` (a resumed run rewrites the steps after its checkpoint; -1 drops them all)."""
        if not self.enabled or not self.path.is_file():
            return
        kept = [line for line in self.path.read_text().splitlines() if line and json.loads(line)["step"] <= step]
        tmp = self.path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(line + "\n" for line in kept))
        os.replace(tmp, self.path)

    def write(self, kind: str, step: int, values: Mapping[str, object], *, track: bool = True) -> None:
        """Append one record; scalar values also go to the trackers under ``<kind>/<key>``."""
        if self.enabled:
            record = {"kind": kind, "step": step, **{k: _clean(v) for k, v in values.items()}}
            with self.path.open("a") as f:
                f.write(json.dumps(record) + "\n")
        if track and self.accelerator is not None and self.accelerator.trackers:
            scalars = {
                f"{kind}/{k}": v
                for k, v in values.items()
                if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            }
            if scalars:
                self.accelerator.log(scalars, step=step)


def read_metrics(run_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """All records of ``<run>/metrics.jsonl`` (empty if the file does not exist)."""
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
