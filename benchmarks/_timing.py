"""Timing helpers shared by the benchmark scripts (imported as ``_timing``: the scripts run from this folder).

torch is imported only inside :func:`synchronizer`, so scripts whose worker processes must not load torch (the
render benchmark) can use the rest.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


def _no_sync() -> None:
    return None


def synchronizer(device: Any) -> Callable[[], None]:
    """A call that waits for the queued work of ``device`` (CUDA), or does nothing (CPU)."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return _no_sync


def timed(fn: Callable[[], object], synchronize: Callable[[], None] = _no_sync) -> float:
    """Wall seconds of one call of ``fn``, work queued before it excluded and its own queued work included."""
    synchronize()
    start = time.perf_counter()
    fn()
    synchronize()
    return time.perf_counter() - start


def mean_seconds(
    fn: Callable[[], object], repeats: int, synchronize: Callable[[], None] = _no_sync, *, warmup: int = 1
) -> float:
    """Mean wall seconds per call over ``repeats`` calls, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    return timed(lambda: [fn() for _ in range(repeats)], synchronize) / repeats


def median_times_ms(
    runs: dict[str, Callable[[], object]], repeats: int, synchronize: Callable[[], None] = _no_sync
) -> dict[str, float]:
    """Median wall time (ms) of each run after one warm-up call each; the runs alternate within every round so
    that load from other processes on a shared machine affects all of them alike."""
    for run in runs.values():  # warm-up: allocator, thread pool, CUDA context
        run()
    synchronize()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            times[name].append(timed(run, synchronize))
    return {name: 1000.0 * statistics.median(values) for name, values in times.items()}
