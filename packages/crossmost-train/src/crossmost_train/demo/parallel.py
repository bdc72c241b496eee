"""Independent calls in worker processes, a few at a time.

The demo's self-training runs are independent once the data and the towers exist, and each one is a small model that
a single core serves best; on a machine with several cores they run side by side, one process each. Workers are
started with ``spawn`` (a forked copy of a process that already runs torch's thread pools can hang), so every call and
its arguments must be picklable: a function defined at the top level of a module, with plain arguments.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, TypeVar

__all__ = ["run_in_processes"]

Result = TypeVar("Result")


def run_in_processes(
    calls: Sequence[tuple[Callable[..., Result], tuple[Any, ...]]],
    *,
    jobs: int,
    on_done: Callable[[int, Result], None] | None = None,
    poll: Callable[[], None] | None = None,
    poll_seconds: float = 2.0,
) -> list[Result]:
    """Call each ``(function, arguments)`` in a worker process, at most ``jobs`` at once; results in call order.

    Args:
        calls: The calls; functions must be importable by name (top level of a module).
        jobs: Worker processes (at least 1; never more than there are calls).
        on_done: Called in this process with ``(index, result)`` as each call finishes, in the order they finish.
        poll: Called in this process every ``poll_seconds`` while calls run (a progress display, say).
        poll_seconds: Seconds between ``poll`` calls.

    Raises:
        The first error a call raised, as raised in the worker; the calls not yet started are cancelled, those
        running are left to finish (what they write is complete or not written at all, as for any stage).
    """
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, not {jobs}")
    results: dict[int, Result] = {}
    if not calls:
        return []
    pool = ProcessPoolExecutor(max_workers=min(jobs, len(calls)), mp_context=multiprocessing.get_context("spawn"))
    futures: dict[Future[Result], int] = {}
    try:
        futures = {pool.submit(function, *arguments): index for index, (function, arguments) in enumerate(calls)}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=poll_seconds, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=futures.__getitem__):
                index = futures[future]
                results[index] = future.result()
                if on_done is not None:
                    on_done(index, results[index])
            if poll is not None:
                poll()
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return [results[index] for index in range(len(calls))]
