"""Samples the loaders could not read, as a run reports them.

The datasets find the damage (:class:`crossmost_data.loader.ShardDataset`: at indexing, samples left out and listed
in ``skipped``; at reading, a sample replaced by the next readable one and named in the ``replaces`` field of the
batch). A run lists each unreadable sample once on the console and in ``metrics.jsonl`` as it meets it, lists them
all in ``report.md``, and stops with one message when the samples it cannot read exceed ``data.max_unreadable`` of
the training split.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

from crossmost_train.run_builder import DataError

if TYPE_CHECKING:
    from accelerate import Accelerator

    from crossmost_train.logging_utils import MetricsLog

__all__ = ["UnreadableSamples", "announce_left_out", "skipped_at_indexing"]


def skipped_at_indexing(*datasets: object) -> list[str]:
    """What each dataset left out when it indexed its shards (``ShardDataset.skipped``), one line per shard."""
    lines: list[str] = []
    for dataset in datasets:
        split = getattr(dataset, "split", "")
        lines += [f"{split}: {entry}" if split else str(entry) for entry in getattr(dataset, "skipped", [])]
    return list(dict.fromkeys(lines))


def announce_left_out(lines: Iterable[str], announced: set[str]) -> None:
    """Print, once each, the samples an evaluation left out of its scores (``announced`` remembers them)."""
    for line in lines:
        if line not in announced:
            announced.add(line)
            print(f"[crossmost] unreadable sample left out of the scores: {line}", file=sys.stderr)


class UnreadableSamples:
    """The unreadable samples one process meets while training.

    Args:
        accelerator: the run's ``Accelerator``.
        log: the run's ``MetricsLog`` (events go to ``metrics.jsonl``).
        split_size: samples of the training split.
        max_fraction: the share of the split that may be unreadable before the run stops (``data.max_unreadable``).
    """

    def __init__(self, accelerator: Accelerator, log: MetricsLog, *, split_size: int, max_fraction: float) -> None:
        self.accelerator = accelerator
        self.log = log
        self.limit = max_fraction * split_size / accelerator.num_processes
        self.split_size = split_size
        self.max_fraction = max_fraction
        self._seen: dict[str, None] = {}

    def add(self, replaces: Iterable[str], step: int) -> None:
        """Note the ``replaces`` entries of a batch (``""`` for a sample that was read).

        Raises:
            DataError: more than ``max_fraction`` of this process's share of the split is unreadable.
        """
        for text in replaces:
            if not text or text in self._seen:
                continue
            self._seen[text] = None
            rank = f" (process {self.accelerator.process_index})" if self.accelerator.num_processes > 1 else ""
            print(f"[crossmost] unreadable sample skipped, the next readable one used instead{rank}: {text}",
                  file=sys.stderr)  # fmt: skip
            self.log.write("event", step, {"event": "unreadable_sample", "sample": text}, track=False)
        if len(self._seen) > self.limit:
            raise DataError(
                f"{len(self._seen)} samples of the training split could not be read so far, more than "
                f"data.max_unreadable={self.max_fraction:g} of the {self.split_size} samples allows: the data is "
                f"broken rather than damaged (first: {next(iter(self._seen))}); check it with `crossmost-data verify`"
            )

    def gather(self) -> list[str]:
        """Every process's unreadable samples (call on every process)."""
        found = list(self._seen)
        if self.accelerator.num_processes > 1:
            from accelerate.utils import gather_object

            found = list(gather_object(found))
        return list(dict.fromkeys(found))
