"""The training sampler: global batches independent of world size and accumulation, resume offset."""

import pytest

from crossmost_data.loader import GlobalBatchSampler


def _global_batches(world: int, accum: int, global_batch: int, n: int, epoch: int) -> list[set[int]]:
    per = global_batch // (world * accum)
    samplers = [
        GlobalBatchSampler(n, batch_size=per, grad_accum_steps=accum, num_replicas=world, rank=r, seed=3)
        for r in range(world)
    ]
    for s in samplers:
        s.set_epoch(epoch)
    lists = [list(s) for s in samplers]
    steps = samplers[0].steps_per_epoch
    chunk = per * accum
    return [set().union(*(set(lst[k * chunk : (k + 1) * chunk]) for lst in lists)) for k in range(steps)]


def test_global_batches_do_not_depend_on_world_size_or_accumulation() -> None:
    reference = _global_batches(1, 1, 8, 37, epoch=2)
    assert len(reference) == 4
    assert all(len(b) == 8 for b in reference)
    assert _global_batches(2, 1, 8, 37, epoch=2) == reference
    assert _global_batches(2, 2, 8, 37, epoch=2) == reference
    assert _global_batches(4, 2, 8, 37, epoch=2) == reference
    assert _global_batches(1, 1, 8, 37, epoch=3) != reference


def test_resume_offset_skips_consumed_batches() -> None:
    s = GlobalBatchSampler(30, batch_size=3, grad_accum_steps=2, num_replicas=2, rank=1, seed=0)
    s.set_epoch(1)
    full = list(s)
    s.set_epoch(1, start_batch=2)
    assert list(s) == full[6:]
    assert len(s) == len(full) - 6
    with pytest.raises(ValueError, match="fewer than one global batch"):
        GlobalBatchSampler(5, batch_size=3, num_replicas=2)
