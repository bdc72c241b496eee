"""What a preparation worker costs to start, and when more workers pay off.

Every worker of ``crossmost-data render --workers N`` is a spawned Python process that imports the readers and
builds its own renderer before it prepares an item. This script measures:

1. start-up: the wall time until N freshly spawned workers (``init_worker``, rendered views) have each answered
   once, for N = 1, 2, 4, 8;
2. whole runs: ``prepare_dataset`` of a small folder dataset (trimesh primitives, rendered views) with each worker
   count, and the ratio to one in-process worker.

Default (quick, about a minute on 2 cores)::

    PYOPENGL_PLATFORM=egl uv run --no-sync python benchmarks/bench_prepare_workers.py

Timings on a shared machine are noisy: the script prints the load average next to them, and the ratios within one
run are what to compare.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import tempfile
import time
from pathlib import Path

from crossmost_data.datasets import get_reader
from crossmost_data.prepare import PrepareConfig, prepare_dataset
from crossmost_data.prepare.config import available_cores
from crossmost_data.prepare.worker import init_worker


def start_up_seconds(workers: int, config: PrepareConfig) -> float:
    """Spawn ``workers`` processes with the preparation initialiser (renderer included) and wait for each."""
    started = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=init_worker, initargs=(config, "render")) as pool:
        # One short task per worker (a 0.1 s sleep keeps a ready worker from taking a second one).
        pool.map(time.sleep, [0.1] * workers, chunksize=1)
        return time.perf_counter() - started - 0.1


def write_meshes(raw: Path, per_class: int) -> None:
    import trimesh

    makers = {
        "box": lambda i: trimesh.creation.box(extents=(1.0, 1.0 + 0.1 * i, 0.5)),
        "cone": lambda i: trimesh.creation.cone(radius=0.5, height=1.0 + 0.1 * i),
        "ball": lambda i: trimesh.creation.icosphere(subdivisions=2, radius=0.5 + 0.05 * i),
    }
    for name, make in makers.items():
        (raw / name).mkdir(parents=True)
        for i in range(per_class):
            make(i).export(raw / name / f"{name}_{i:02d}.obj")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--per-class", type=int, default=8, help="meshes per class (3 classes)")
    parser.add_argument("--views", type=int, default=4)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--points", type=int, default=1024)
    args = parser.parse_args()
    config = PrepareConfig(
        points_per_sample=args.points, num_views=args.views, image_size=args.image_size, progress=False
    )
    print(f"cores available: {available_cores()}; load average before: {os.getloadavg()}")
    print("start-up of N spawned workers (import + renderer), seconds:")
    for workers in args.workers:
        print(f"  {workers} worker(s): {start_up_seconds(workers, config):.2f} s")
    work = Path(tempfile.mkdtemp(prefix="bench-workers-"))
    try:
        write_meshes(work / "raw", args.per_class)
        items = 3 * args.per_class
        print(f"prepare_dataset of {items} meshes ({args.views} rendered views of {args.image_size} px):")
        baseline = None
        for workers in [0, *args.workers]:
            out = work / f"out-{workers}"
            run = PrepareConfig(**{**config.__dict__, "workers": workers})
            started = time.perf_counter()
            summary = prepare_dataset(get_reader("folder"), work / "raw", out, run)
            seconds = time.perf_counter() - started
            baseline = baseline or seconds
            label = "in-process" if workers == 0 else f"{workers} worker(s)"
            print(
                f"  {label:>12}: {seconds:6.2f} s ({baseline / seconds:.2f}× in-process; {summary.num_samples} samples)"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
