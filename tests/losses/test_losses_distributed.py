"""all_gather_with_grad across two gloo processes on the CPU, checked against one process on the whole batch."""

import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from crossmost_losses import (
    all_gather_with_grad,
    cross_modal_infonce,
    fairness_loss,
    gather_batch_sizes,
    is_distributed,
    rank,
    world_size,
)

WORLD = 2
FAIRNESS_SIZES = (3, 2)  # uneven on purpose: a short last batch
ALIGNMENT_SIZE = 2  # per process


def _full_batch() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(11)
    return {
        "logits": torch.randn(sum(FAIRNESS_SIZES), 4, dtype=torch.float64, generator=g),
        "images": F.normalize(torch.randn(WORLD * ALIGNMENT_SIZE, 3, dtype=torch.float64, generator=g), dim=1),
        "points": F.normalize(torch.randn(WORLD * ALIGNMENT_SIZE, 3, dtype=torch.float64, generator=g), dim=1),
    }


def _worker(process_rank: int, port: int, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=process_rank, world_size=WORLD)
    try:
        full = _full_batch()
        start = sum(FAIRNESS_SIZES[:process_rank])
        logits = full["logits"][start : start + FAIRNESS_SIZES[process_rank]].clone().requires_grad_(True)
        gathered = all_gather_with_grad(logits)
        fairness = fairness_loss(logits, gather=True)
        fairness.backward()

        rows = slice(process_rank * ALIGNMENT_SIZE, (process_rank + 1) * ALIGNMENT_SIZE)
        images = full["images"][rows].clone().requires_grad_(True)
        points = full["points"][rows].clone().requires_grad_(True)
        alignment = cross_modal_infonce(images, points, temperature=0.5, point_to_image_weight=0.5, gather=True)
        alignment.backward()
        torch.save(
            {
                "rank": rank(),
                "world_size": world_size(),
                "is_distributed": is_distributed(),
                "sizes": gather_batch_sizes(logits.shape[0]),
                "gathered": gathered.detach(),
                "fairness": fairness.detach(),
                "logits_grad": logits.grad,
                "alignment": alignment.detach(),
                "images_grad": images.grad,
                "points_grad": points.grad,
            },
            Path(out_dir) / f"rank{process_rank}.pt",
        )
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow  # two spawned interpreters importing torch: several seconds on a busy 2-core machine
@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="torch.distributed with gloo")
def test_two_processes_match_the_single_process_global_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Spawned children import this module by its name; make the folder that resolves that name importable.
    package_depth = len(__name__.split(".")) - 1
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[package_depth]))
    mp.spawn(_worker, args=(_free_port(), str(tmp_path)), nprocs=WORLD, join=True)
    results = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]

    full = _full_batch()
    logits = full["logits"].clone().requires_grad_(True)
    reference_fairness = fairness_loss(logits)
    reference_fairness.backward()
    images = full["images"].clone().requires_grad_(True)
    points = full["points"].clone().requires_grad_(True)
    reference_alignment = cross_modal_infonce(images, points, temperature=0.5, point_to_image_weight=0.5)
    reference_alignment.backward()
    assert logits.grad is not None
    assert images.grad is not None
    assert points.grad is not None

    for process_rank, result in enumerate(results):
        assert (result["rank"], result["world_size"], result["is_distributed"]) == (process_rank, WORLD, True)
        assert result["sizes"] == list(FAIRNESS_SIZES)
        # The gather is the whole batch in rank order, on every process.
        torch.testing.assert_close(result["gathered"], full["logits"], rtol=0, atol=0)
        # Fairness on the gathered batch is the single-process global value on every process, and each process's
        # gradient is world_size × the global gradient at its rows (DDP's mean over processes restores it).
        torch.testing.assert_close(result["fairness"], reference_fairness.detach())
        start = sum(FAIRNESS_SIZES[:process_rank])
        own = slice(start, start + FAIRNESS_SIZES[process_rank])
        torch.testing.assert_close(result["logits_grad"], WORLD * logits.grad[own])
        # InfoNCE with gathered negatives: the mean of the per-process losses is the global loss, and gradients
        # follow the same world_size × rule.
        rows = slice(process_rank * ALIGNMENT_SIZE, (process_rank + 1) * ALIGNMENT_SIZE)
        torch.testing.assert_close(result["images_grad"], WORLD * images.grad[rows])
        torch.testing.assert_close(result["points_grad"], WORLD * points.grad[rows])
    mean_alignment = sum(result["alignment"] for result in results) / WORLD
    torch.testing.assert_close(mean_alignment, reference_alignment.detach())
    # Without gathering, a process's loss sees only its own negatives and differs from the global one.
    local_only = cross_modal_infonce(
        full["images"][:ALIGNMENT_SIZE], full["points"][:ALIGNMENT_SIZE], temperature=0.5, point_to_image_weight=0.5
    )
    assert not torch.allclose(local_only, results[0]["alignment"])


def test_single_process_helpers_are_identities() -> None:
    tensor = torch.randn(3, 2, requires_grad=True)
    assert all_gather_with_grad(tensor) is tensor
    assert (world_size(), rank(), is_distributed()) == (1, 0, False)
    assert gather_batch_sizes(5) == [5]
    with pytest.raises(ValueError, match="scalar"):
        all_gather_with_grad(torch.tensor(1.0))
