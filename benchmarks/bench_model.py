"""Forward/backward time and peak memory of CrossModalModel (student and teacher passes).

Default run (short, CPU): the tiny model at batch 8 and the paper model (vit-b16-pointbert, 8192 points) at batch 2.
With CUDA, the same models also run on the GPU in bf16 autocast at larger batches.

    uv run --no-sync python benchmarks/bench_model.py
    uv run --no-sync python benchmarks/bench_model.py --cpu-batch 8 --gpu-batch 64 --repeats 5
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import time
from collections.abc import Callable, Iterator

import torch

from crossmost_models import CrossModalModel, create_model


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


@contextlib.contextmanager
def _autocast(device: str) -> Iterator[None]:
    if device == "cuda":
        with torch.autocast("cuda", dtype=torch.bfloat16):
            yield
    else:
        yield


def _inputs(model: CrossModalModel, batch: int, device: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    h, w = model.image_size
    images = torch.randn(batch, 3, h, w, device=device)
    points = torch.nn.functional.normalize(torch.randn(batch, model.config.num_points, 3, device=device), dim=-1)
    mask = torch.rand(batch, *model.patch_grid, device=device) < 0.3
    return images, points, mask


def _measure(step: Callable[[], None], device: str, repeats: int) -> tuple[float, float]:
    rss_before = _peak_rss_mib()
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    step()  # warm-up (counted in the memory figure, not in the time)
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
        memory = torch.cuda.max_memory_allocated() / 2**20
    else:
        memory = _peak_rss_mib() - rss_before  # growth of the process peak RSS (0 if an earlier run peaked higher)
    return (time.perf_counter() - start) / repeats * 1000.0, memory


def bench(name: str, batch: int, device: str, repeats: int) -> list[str]:
    torch.manual_seed(0)
    model = create_model(name, classnames=["a", "b", "c"], templates="photo", device=device)
    images, points, mask = _inputs(model, batch, device)

    def student() -> None:
        model.train()
        model.zero_grad(set_to_none=True)
        with _autocast(device):
            out = model(images, points, image_mask=mask, mask_points=True)
            parts = (
                out.image_logits,
                out.point_logits,
                out.image_reconstruction,
                out.point_token_prediction,
                out.image_local_embedding,
                out.point_local_embedding,
            )
            loss = sum(p.float().mean() for p in parts if p is not None)
        assert isinstance(loss, torch.Tensor)
        loss.backward()

    def teacher() -> None:
        model.eval()
        with torch.no_grad(), _autocast(device):
            model(images, points)

    rows = []
    for label, step in (("student fwd+bwd", student), ("teacher fwd", teacher)):
        ms, mib = _measure(step, device, repeats)
        precision = "bf16" if device == "cuda" else "fp32"
        mem_label = "peak alloc" if device == "cuda" else "peak RSS growth"
        rows.append(
            f"| {name} | {device} {precision} | {batch} | {label} | {ms:9.1f} ms | {mib:8.1f} MiB ({mem_label}) |"
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["tiny", "vit-b16-pointbert"])
    parser.add_argument("--cpu-batch", type=int, default=None, help="batch on CPU (default: tiny 8, others 2)")
    parser.add_argument("--gpu-batch", type=int, default=None, help="batch on GPU (default: tiny 128, others 32)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--no-cpu", action="store_true", help="skip the CPU runs")
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    print("| model | device | batch | pass | time/iter | memory |")
    print("|---|---|---|---|---|---|")
    for name in args.models:
        if not args.no_cpu:
            batch = args.cpu_batch or (8 if name == "tiny" else 2)
            for row in bench(name, batch, "cpu", args.repeats):
                print(row, flush=True)
        if torch.cuda.is_available():
            batch = args.gpu_batch or (128 if name == "tiny" else 32)
            for row in bench(name, batch, "cuda", args.repeats):
                print(row, flush=True)


if __name__ == "__main__":
    main()
