"""Forward/backward time and peak memory of CrossModalModel (student and teacher passes).

Default run (short, CPU): the tiny model at batch 8 and the paper model (vit-b16-pointbert, 8192 points) at batch 2.
With CUDA, the same models also run on the GPU in bf16 autocast at larger batches.

Every (model, device, pass) row is measured in a fresh Python process, so no row inherits the memory peak of an
earlier one. On CPU the memory columns are the process's peak resident set during the pass (the kernel's high-water
mark, reset just before the pass through /proc/self/clear_refs) and its growth over the resident model and inputs;
on CUDA, the peak allocated by torch during the pass and its growth over the allocation before it.

    uv run --no-sync python benchmarks/bench_model.py
    uv run --no-sync python benchmarks/bench_model.py --cpu-batch 8 --gpu-batch 64 --repeats 5

``--families`` prints instead one row per point-tower family (Cross-MoST's Point-BERT, ULIP-2, OpenShape's PPAT,
Uni3D ti to g): the parameters of the full-size point tower with its projection and of its image tower, their
forward GMACs per object / per view (torch's FlopCounterMode on the meta device: matrix products and convolutions,
nothing is computed), and the CPU time of one eval forward (both towers) of the family's tiny-width model:

    uv run --no-sync python benchmarks/bench_model.py --families
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import resource
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from _timing import mean_seconds, synchronizer
from crossmost_models import CrossModalConfig, CrossModalModel, create_model, get_model_config
from crossmost_models.clip import import_open_clip
from crossmost_models.point import build_point_encoder

PASSES = ("student fwd+bwd", "teacher fwd")
_RESULT_PREFIX = "bench_model result: "


def _status_mib(field: str) -> float | None:
    """A ``/proc/self/status`` figure (``VmRSS``, ``VmHWM``) in MiB; ``None`` off Linux."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark of this process (Linux ≥ 4.0); False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


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


def _measure(step: Callable[[], None], device: str, repeats: int) -> tuple[float, float, float]:
    """Time per iteration (ms), peak memory during the pass and its growth over the memory before it (MiB)."""
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated() / 2**20
    else:
        before = _status_mib("VmRSS") or 0.0
        if not _reset_peak_rss():  # without a reset the process peak may predate the pass (model building)
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    seconds = mean_seconds(step, repeats, synchronizer(device))  # the warm-up call counts in the memory figure
    if device == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = _status_mib("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return seconds * 1000.0, peak, peak - before


def measure_pass(name: str, batch: int, device: str, pass_name: str, repeats: int) -> dict[str, float]:
    """Build the model and inputs, then time one pass and its memory (call in a fresh process)."""
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

    step = {"student fwd+bwd": student, "teacher fwd": teacher}[pass_name]
    ms, peak, growth = _measure(step, device, repeats)
    return {"ms": ms, "peak_mib": peak, "growth_mib": growth}


def _in_fresh_process(name: str, batch: int, device: str, pass_name: str, repeats: int) -> dict[str, float]:
    spec = json.dumps({"name": name, "batch": batch, "device": device, "pass_name": pass_name, "repeats": repeats})
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--measure-one", spec],
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith(_RESULT_PREFIX)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"measuring {name} {device} {pass_name} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(lines[-1][len(_RESULT_PREFIX) :]))


def bench(name: str, batch: int, device: str, repeats: int) -> list[str]:
    """The table rows of one model on one device, each pass measured in its own process."""
    rows = []
    precision = "bf16" if device == "cuda" else "fp32"
    memory = "alloc" if device == "cuda" else "RSS"
    for pass_name in PASSES:
        result = _in_fresh_process(name, batch, device, pass_name, repeats)
        rows.append(
            f"| {name} | {device} {precision} | {batch} | {pass_name} | {result['ms']:9.1f} ms "
            f"| {result['peak_mib']:8.1f} MiB peak {memory} | {result['growth_mib']:+8.1f} MiB |"
        )
    return rows


FAMILIES = (
    ("Point-BERT (Cross-MoST)", "vit-b16-pointbert", "tiny"),
    ("ULIP-2", "ulip2-pointbert-vitg14", "ulip2-tiny"),
    ("OpenShape PPAT", "openshape-pointbert-vitg14", "openshape-tiny"),
    ("OpenShape PPAT", "openshape-pointbert-vitl14", "openshape-tiny"),
    ("OpenShape PPAT", "openshape-pointbert-vitb32", "openshape-tiny"),
    ("Uni3D", "uni3d-ti", "uni3d-tiny"),
    ("Uni3D", "uni3d-s", "uni3d-tiny"),
    ("Uni3D", "uni3d-b", "uni3d-tiny"),
    ("Uni3D", "uni3d-l", "uni3d-tiny"),
    ("Uni3D", "uni3d-g", "uni3d-tiny"),
)


def point_tower_cost(name: str) -> tuple[float, float]:
    """(parameters in millions with the projection, forward GMACs per object) of model ``name``'s point tower."""
    config = CrossModalConfig.from_dict(get_model_config(name))
    embed_dim = int(import_open_clip().get_model_config(config.clip)["embed_dim"])
    with torch.device("meta"):
        encoder = build_point_encoder(dataclasses.replace(config.point, validate_inputs=False)).eval()
        projection = torch.nn.Linear(encoder.feature_dim, embed_dim, bias=config.point.projection_bias)
        points = torch.empty(1, config.num_points, config.point.in_channels)
        with FlopCounterMode(display=False) as counter:
            projection(encoder(points).global_feature)
    parameters = sum(p.numel() for n, p in encoder.named_parameters() if n != "mask_token")
    parameters += sum(p.numel() for p in projection.parameters())
    return parameters / 1e6, counter.get_total_flops() / 2e9


def image_tower_cost(clip: str) -> tuple[float, float]:
    """(parameters in millions, forward GMACs per view) of open_clip ``clip``'s image tower, on the meta device."""
    from open_clip.model import _build_vision_tower

    config = import_open_clip().get_model_config(clip)
    with torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tower = _build_vision_tower(config["embed_dim"], config["vision_cfg"], quick_gelu=False).eval()
        size = config["vision_cfg"]["image_size"]
        with FlopCounterMode(display=False) as counter:
            tower(torch.empty(1, 3, size, size))
    return sum(p.numel() for p in tower.parameters()) / 1e6, counter.get_total_flops() / 2e9


def tiny_forward_ms(name: str, batch: int, repeats: int) -> float:
    """Mean time of one eval forward (image and point towers) of model ``name`` on CPU, in ms."""
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = create_model(name, classnames=["a", "b", "c"], templates="photo").eval()
    images, points, _ = _inputs(model, batch, "cpu")
    with torch.no_grad():
        seconds = mean_seconds(lambda: model(images, points), repeats, synchronizer("cpu"))
    return seconds * 1000.0


def families_table(batch: int, repeats: int) -> None:
    """Print the per-family table (see the module docs)."""
    print(f"CPU timings: torch {torch.__version__}, {torch.get_num_threads()} threads, tiny models at batch {batch}")
    print(
        "| family | model | point params (M) | point GMACs/object | image tower | image params (M) "
        "| image GMACs/view | tiny model | CPU fwd (ms/batch) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    tiny_ms: dict[str, float] = {}
    for family, name, tiny in FAMILIES:
        clip = str(get_model_config(name)["clip"])
        point_params, point_gmacs = point_tower_cost(name)
        image_params, image_gmacs = image_tower_cost(clip)
        if tiny not in tiny_ms:
            tiny_ms[tiny] = tiny_forward_ms(tiny, batch, repeats)
        print(
            f"| {family} | {name} | {point_params:.2f} | {point_gmacs:.1f} | {clip} | {image_params:.1f} "
            f"| {image_gmacs:.1f} | {tiny} | {tiny_ms[tiny]:.1f} |",
            flush=True,
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["tiny", "vit-b16-pointbert"])
    parser.add_argument("--cpu-batch", type=int, default=None, help="batch on CPU (default: tiny 8, others 2)")
    parser.add_argument("--gpu-batch", type=int, default=None, help="batch on GPU (default: tiny 128, others 32)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--no-cpu", action="store_true", help="skip the CPU runs")
    parser.add_argument("--families", action="store_true", help="the per-family table (see the module docs)")
    parser.add_argument("--measure-one", help=argparse.SUPPRESS)  # JSON spec of one row, run in a fresh process
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    if args.measure_one:
        result = measure_pass(**json.loads(args.measure_one))
        print(_RESULT_PREFIX + json.dumps(result), flush=True)
        return
    if args.families:
        families_table(args.cpu_batch or 8, max(args.repeats, 3))
        return
    print("| model | device | batch | pass | time/iter | peak memory during the pass | growth during the pass |")
    print("|---|---|---|---|---|---|---|")
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
