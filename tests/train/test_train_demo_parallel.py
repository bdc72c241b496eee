"""Calls in worker processes (the demo's parallel self-training): results in call order, each reported as it
finishes, the first error raised with its message, the progress callback polled."""

import operator

import pytest

from crossmost_train.demo.parallel import run_in_processes
from crossmost_train.demo.stages import StageRunner


def test_results_come_back_in_call_order_and_each_is_reported_once() -> None:
    finished: list[tuple[int, int]] = []
    polls: list[int] = []
    calls = [(operator.mul, (index, index)) for index in range(5)]
    results = run_in_processes(
        calls, jobs=2, on_done=lambda i, r: finished.append((i, r)), poll=lambda: polls.append(1), poll_seconds=0.01
    )
    assert results == [0, 1, 4, 9, 16]
    assert sorted(finished) == [(i, i * i) for i in range(5)]
    assert polls  # polled at least once per round of finished calls


def test_the_error_of_a_call_is_raised_here_with_its_message() -> None:
    with pytest.raises(ZeroDivisionError, match="division by zero"):
        run_in_processes([(operator.truediv, (1, 2)), (operator.truediv, (1, 0))], jobs=2)


def test_no_calls_no_processes_and_jobs_must_be_positive() -> None:
    assert run_in_processes([], jobs=2) == []
    with pytest.raises(ValueError, match="jobs must be at least 1, not 0"):
        run_in_processes([(operator.neg, (1,))], jobs=0)
    with pytest.raises(ValueError, match="jobs must be at least 1, not 0"):
        StageRunner(jobs=0)
