"""Preparation on Ray against the local executor: items/s at 1 and 2 workers, Ray's overhead, driver memory, and an
estimate for Objaverse (800k objects × 12 views) on N nodes.

The objects are the procedural meshes of ``bench_prepare.py`` (trimesh primitives, a few hundred to a few thousand
faces), rendered with the pyrender stack (``view_source="render"``), so a run measures loading, point sampling,
rendering, encoding and writing as ``crossmost-data render`` does. Each executor prepares the same items into a
fresh folder; the Ray cluster is a local one (``ray.init(num_cpus=...)``) started once before the timed runs, and
its start-up is printed apart. Driver memory: each size runs in a fresh interpreter that starts its own local
cluster, and reports the driver's peak RSS (``resource.getrusage``); the Ray workers are other processes.

Default run (about 4 minutes on 2 cores)::

    uv run --no-sync python benchmarks/bench_prepare_ray.py

Ray's overhead is printed two ways at equal workers: the ratio of the two executors' times for ``--items`` objects
(Ray's workers are warm; each local run starts its renderer and process pool), and the ratio of their marginal
seconds per object, ``(t(2n) - t(n)) / n`` from a second run of twice as many objects, which leaves out what a run
pays once on either side. The marginal figure is the difference of two timings, so it is the noisier of the two:
use a large ``--items`` (400 takes about 3 minutes on 2 cores).

The estimate scales the measured seconds per object per worker at ``--estimate-views`` × ``--estimate-size`` px to
800k objects on ``--nodes`` nodes of ``--cores-per-node`` cores, with Ray's measured overhead; its assumptions are
printed with it.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench_prepare import CLASSES, load_object  # the scripts run from this folder

REPORTED_SECONDS = 14 * 24 * 3600
REPORTED = "about two weeks on 8 V100 GPUs (one Blender process per object)"


def load_mesh(class_name: str, seed: int) -> Any:
    """One procedural mesh without given views (module level: sent to the workers)."""
    return dataclasses.replace(load_object(class_name, seed, 0, 8), images=None)  # type: ignore[type-var]


class MeshReader:
    """``count`` procedural meshes over six classes, one split, rendered."""

    name = "bench-meshes"
    view_source = "render"

    def __init__(self, count: int) -> None:
        self.count = count

    def class_names(self, root: Path) -> list[str]:
        return list(CLASSES)

    def splits(self, root: Path) -> list[str]:
        return ["train"]

    def iter_items(self, root: Path, split: str) -> Iterator[Any]:
        from crossmost_data.items import SourceItem

        for i in range(self.count):
            name = CLASSES[i % len(CLASSES)]
            load = functools.partial(load_mesh, name, i)
            yield SourceItem(f"{name}-{i:06d}", name, split, f"procedural/{name}/{i}", load)


def _config(args: argparse.Namespace, workers: int, views: int, size: int) -> Any:
    from crossmost_data.prepare import PrepareConfig

    return PrepareConfig(
        points_per_sample=args.points,
        num_views=views,
        image_size=size,
        samples_per_shard=args.samples_per_shard,
        workers=workers,
        progress=False,
    )


def start_ray(cpus: int) -> float:
    """Start a local Ray cluster for this process; return the seconds it took."""
    from crossmost_data.prepare.ray_executor import import_ray

    ray = import_ray()  # with Ray's `uv run` hook off, as the executor runs it
    started = time.perf_counter()
    ray.init(
        num_cpus=cpus,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        _system_config={"worker_register_timeout_seconds": 600},
    )
    # the workers cannot import the benchmark scripts by name: this script (``__main__``) travels by value anyway
    ray.cloudpickle.register_pickle_by_value(sys.modules["bench_prepare"])
    return time.perf_counter() - started


def prepare(args: argparse.Namespace, executor: str, workers: int, count: int, views: int, size: int) -> float:
    """Seconds to prepare ``count`` objects into a fresh folder."""
    from crossmost_data.prepare import prepare_dataset

    with tempfile.TemporaryDirectory(prefix="bench-ray-") as out:
        started = time.perf_counter()
        summary = prepare_dataset(
            MeshReader(count), Path("."), Path(out), _config(args, workers, views, size), executor=executor
        )  # type: ignore[arg-type]
        seconds = time.perf_counter() - started
    if summary.num_samples != count:
        raise SystemExit(f"{executor}: {summary.num_samples} of {count} samples prepared")
    return seconds


def timed_pair(args: argparse.Namespace, executor: str, workers: int) -> tuple[float, float]:
    """Seconds for ``--items`` objects and the marginal seconds per object from a run of twice as many."""
    single = prepare(args, executor, workers, args.items, args.views, args.image_size)
    double = prepare(args, executor, workers, 2 * args.items, args.views, args.image_size)
    marginal = (double - single) / args.items
    print(
        f"{executor:>9} {workers:>8} {single:>8.1f} {args.items / single:>8.2f} {marginal:>14.3f}",
        flush=True,
    )
    return single, marginal


def child(args: argparse.Namespace) -> None:
    """One driver-memory run: a fresh cluster, ``args.count`` objects through Ray; print peak RSS and time."""
    start_ray(args.cpus)
    seconds = prepare(args, "ray", args.cpus, args.count, args.memory_views, args.memory_size)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_rss_mib": rss}))


def driver_memory(args: argparse.Namespace, count: int) -> dict[str, float]:
    command = [
        sys.executable, __file__, "--child", "--count", str(count), "--cpus", str(args.cpus),
        "--points", str(args.points), "--memory-views", str(args.memory_views),
        "--memory-size", str(args.memory_size), "--samples-per-shard", str(args.samples_per_shard),
    ]  # fmt: skip
    completed = subprocess.run(command, check=True, capture_output=True, text=True)
    result: dict[str, float] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def ray_figures(
    args: argparse.Namespace, timings: dict[tuple[str, int], tuple[float, float]]
) -> tuple[dict[int, float], float]:
    """Ray's rows, its overhead, its seconds per object at the estimate's settings and the driver's memory."""
    import ray

    prepare(args, "ray", 2, 2 * args.cpus, args.views, args.image_size)  # workers started and warm
    for workers in (1, 2):
        timings["ray", workers] = timed_pair(args, "ray", workers)
    overhead = {w: timings["ray", w][0] / timings["local", w][0] - 1 for w in (1, 2)}
    for workers, value in overhead.items():
        marginal = timings["ray", workers][1] / timings["local", workers][1] - 1
        print(
            f"Ray overhead at {workers} worker(s) (goal ≤ 10 %): {100 * value:+.1f} % of the local executor's time "
            f"for {args.items} objects, {100 * marginal:+.1f} % of its marginal time per object"
        )
    per_object = prepare(args, "ray", 1, args.estimate_items, args.estimate_views, args.estimate_size)
    per_object /= args.estimate_items
    ray.shutdown()
    print(
        f"one Ray worker, {args.estimate_views} views × {args.estimate_size} px, {args.points} points: "
        f"{per_object:.2f} s per object",
        flush=True,
    )
    for count in args.memory_sizes:
        r = driver_memory(args, count)
        print(
            f"driver peak RSS, {count} objects through Ray: {r['peak_rss_mib']:.0f} MiB ({r['seconds']:.0f} s)",
            flush=True,
        )
    return overhead, per_object


def main() -> None:
    """Parse flags, run the comparisons and print the figures and the estimate."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=400, help="objects per throughput run")
    parser.add_argument("--views", type=int, default=4)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--points", type=int, default=1024)
    parser.add_argument("--samples-per-shard", type=int, default=8)
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray cluster")
    parser.add_argument("--memory-sizes", type=int, nargs="*", default=[200, 2000])
    parser.add_argument("--memory-views", type=int, default=1)
    parser.add_argument("--memory-size", type=int, default=32)
    parser.add_argument("--estimate-items", type=int, default=6, help="objects timed at the estimate's view size")
    parser.add_argument("--estimate-views", type=int, default=12)
    parser.add_argument("--estimate-size", type=int, default=224)
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--cores-per-node", type=int, default=32)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("LP_NUM_THREADS", "1")  # one rasteriser thread per worker, as crossmost-data render does
    if args.child:
        child(args)
        return
    with open("/proc/loadavg") as file:
        load = file.read().split()[:3]
    print(f"load average before: {' '.join(load)} (figures on a shared, loaded machine)")
    print(
        f"throughput: {args.items} meshes, {args.views} views × {args.image_size} px, {args.points} points, "
        f"{args.samples_per_shard} per shard"
    )
    timings: dict[tuple[str, int], tuple[float, float]] = {}
    print(f"{'executor':>9} {'workers':>8} {'seconds':>8} {'items/s':>8} {'marginal s/item':>14}", flush=True)
    for workers in (1, 2):
        timings["local", workers] = timed_pair(args, "local", workers)
    try:
        startup = start_ray(args.cpus)
    except Exception as error:  # Ray gives its raylet a fixed 30 s to register: too little on a loaded machine
        print(f"Ray did not start, no Ray figures: {str(error).splitlines()[0]}")
        import ray

        ray.shutdown()
        overhead = {2: 0.0}
        per_object = prepare(args, "local", 1, args.estimate_items, args.estimate_views, args.estimate_size)
        per_object /= args.estimate_items
        print(f"one local worker, {args.estimate_views} views × {args.estimate_size} px: {per_object:.2f} s per object")
        print("the estimate below takes Ray's overhead as 0 (not measured); ray.init's processes may be left running")
    else:
        print(f"ray.init of a local {args.cpus}-CPU cluster: {startup:.1f} s (not counted)", flush=True)
        overhead, per_object = ray_figures(args, timings)
    print(f"estimate for 800,000 objects × {args.estimate_views} views (reported: {REPORTED}):")
    efficiency = 1 / (1 + max(overhead[2], 0.0))
    for nodes in args.nodes:
        workers = nodes * args.cores_per_node
        total = 800_000 * per_object / (workers * efficiency)
        print(
            f"  {nodes:>3} node(s) × {args.cores_per_node} cores: {total / 3600:8.1f} h "
            f"({total / REPORTED_SECONDS:.2f}× the reported time)"
        )
    print(
        "assumptions: one object per core at the time measured here (software OpenGL, this machine's cores, these "
        "procedural meshes of under 5k faces); real Objaverse objects (median tens of thousands of faces, textures, "
        "GLB parsing) cost more per object, so scale the days by their measured time per object; Ray's overhead as "
        "measured at 2 workers; perfect scaling across nodes (each shard is independent) and a shared filesystem "
        "that keeps up with the writes."
    )
    with open("/proc/loadavg") as file:
        print(f"load average after: {' '.join(file.read().split()[:3])}")


if __name__ == "__main__":
    main()
