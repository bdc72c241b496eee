"""The Ray executor: each unfinished shard of the plan is one Ray task that prepares its items and writes it.

Tasks run :func:`crossmost_data.prepare.shard_task.prepare_shard` on the cluster's workers, which write the shard
atomically (temporary name, sidecar record, rename) to the output folder: it must be on a filesystem every node
mounts at the same path. The driver submits at most as many shards as tasks may run at once (the cluster's CPUs,
or ``workers``), so its memory does not grow with the number of shards in flight; it gathers the progress and the
skipped items from the records the tasks return. A task that fails (an unexpected error, a lost worker) is retried
by Ray (``max_retries``); a shard that still fails is listed at the end, after every other shard is done. Finished
shards stay finished: a rerun of the same command (with either executor) prepares only the missing ones.

Every node needs ``crossmost-data`` (with the ``render`` extra for meshes) and the raw dataset at the same path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from crossmost_data.prepare.plan import PlannedShard, ShardRecord
from crossmost_data.prepare.shard_task import ShardContext, prepare_shard

__all__ = ["DEFAULT_MAX_RETRIES", "RayNotInstalledError", "RayOutcome", "ShardFailure", "import_ray", "run_on_ray"]

DEFAULT_MAX_RETRIES = 2
"""Times Ray reruns a failed shard task before the shard is listed as failed."""


class RayNotInstalledError(ImportError):
    """``ray`` is not installed; the message says how to install the extra."""


@dataclass(frozen=True)
class ShardFailure:
    """A shard whose task failed on every attempt."""

    file: str
    attempts: int
    reason: str


@dataclass
class RayOutcome:
    """What the tasks of one run returned.

    Attributes:
        records: The records of the shards written, in the order they finished.
        failures: The shards that failed on every attempt.
        notes: Remarks for the run's summary (the cluster used, the parallelism).
    """

    records: list[ShardRecord] = field(default_factory=list)
    failures: list[ShardFailure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def describe_failures(self) -> str:
        """One line per failed shard, for the error the run ends with."""
        lines = [f"{len(self.failures)} shard(s) failed on the Ray cluster after every retry:"]
        lines += [f"  {f.file} ({f.attempts} attempts): {f.reason}" for f in self.failures]
        return "\n".join(lines)


def import_ray() -> Any:
    """The ``ray`` module.

    Raises:
        RayNotInstalledError: It is not installed; the message gives the install command.
    """
    # Under `uv run`, Ray would start its workers through `uv run` too, which syncs the project's default
    # environment (without the extras, so without ray) first and leaves the run waiting on workers that cannot
    # start. The workers run this interpreter and its environment instead; a value the user set wins.
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    try:
        import ray
    except ImportError as error:
        raise RayNotInstalledError(
            'the Ray executor needs ray: pip install "crossmost-data[ray]" (on the driver and on every node)'
        ) from error
    return ray


def _prepare_shard_task(context: ShardContext, shard: PlannedShard) -> ShardRecord:
    # One task holds one CPU: Mesa's software rasteriser would otherwise start a thread per core in every worker
    # and the tasks would fight over the same cores (a value the user set, or a GPU driver, wins).
    os.environ.setdefault("LP_NUM_THREADS", "1")
    return prepare_shard(context, shard)


def _reason(ray: Any, error: BaseException) -> str:
    cause = getattr(error, "cause", None) if isinstance(error, ray.exceptions.RayTaskError) else None
    shown = cause if isinstance(cause, BaseException) else error
    text = str(shown).strip().splitlines()
    return f"{type(shown).__name__}: {text[0] if text else ''}".rstrip(": ")


def run_on_ray(
    context: ShardContext,
    shards: list[PlannedShard],
    *,
    address: str | None = None,
    max_retries: int = DEFAULT_MAX_RETRIES,
) -> RayOutcome:
    """Prepare ``shards`` as Ray tasks, one per shard, and wait for all of them.

    Args:
        context: The run's shared settings; ``context.config.workers`` (when ≥ 1) caps the tasks running at once,
            otherwise the cluster's CPU count does.
        shards: The shards to write (the unfinished part of the plan).
        address: The cluster (``ray.init(address=...)``); ignored when Ray is already initialised in this process.
            ``None`` joins ``RAY_ADDRESS`` when set, else starts a local cluster for the run.
        max_retries: Reruns of a failed task (Ray's ``max_retries``, application errors included).

    Returns:
        The records of the written shards and the shards that failed on every attempt.
    """
    from tqdm import tqdm

    ray = import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
    outcome = RayOutcome()
    try:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        parallel = context.config.workers if context.config.workers else cpus
        parallel = max(1, min(parallel, len(shards)))
        outcome.notes.append(f"Ray executor: {parallel} shard task(s) at a time on a cluster of {cpus} CPU(s)")
        task = ray.remote(num_cpus=1, max_retries=max_retries, retry_exceptions=True)(_prepare_shard_task)
        context_ref = ray.put(context)
        queue = list(reversed(shards))
        running: dict[Any, PlannedShard] = {}
        total = sum(len(shard.items) for shard in shards)
        quiet = not context.config.progress
        with tqdm(total=total, desc=f"{context.dataset} (ray)", unit="item", disable=quiet) as bar:
            while queue or running:
                while queue and len(running) < parallel:
                    shard = queue.pop()
                    running[task.remote(context_ref, shard)] = shard
                done, _ = ray.wait(list(running), num_returns=1)
                for ref in done:
                    shard = running.pop(ref)
                    bar.update(len(shard.items))
                    try:
                        record: ShardRecord = ray.get(ref)
                    except Exception as error:  # a RayTaskError, or a lost worker/node
                        outcome.failures.append(ShardFailure(shard.file, max_retries + 1, _reason(ray, error)))
                        bar.write(f"failed {shard.file}: {outcome.failures[-1].reason}")
                        continue
                    outcome.records.append(record)
                    for item in record.skipped:
                        bar.write(f"skipped [{item.split}] {item.uid} ({item.source}): {item.reason}")
    finally:
        if started_here:
            ray.shutdown()
    return outcome
