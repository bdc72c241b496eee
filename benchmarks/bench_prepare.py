"""Peak memory of ``crossmost_data.prepare.prepare_dataset`` for 200 and 2000 objects: it must not grow with size.

Each size runs in a fresh subprocess, which reports its own peak RSS (``resource.getrusage``; worker processes,
if any, are reported separately). The objects come from a procedural reader built into this script (trimesh
primitives with random proportions; ``view_source="given"``: each object's views are orthographic point
silhouettes drawn with NumPy, so no OpenGL cost enters the measurement). ``--reader synthetic`` uses the
``crossmost_data.datasets.synthetic`` reader instead when it is installed (its source domain renders with OpenGL).

Default (quick, < 2 min on 2 cores): 2048 points, 4 views of 128 px. Full size:
    uv run --no-sync python benchmarks/bench_prepare.py --points 8192 --views 12 --image-size 224
The target is peak(2000) / peak(200) ≤ 1.3.
"""

from __future__ import annotations

import argparse
import functools
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

CLASSES = ["box", "cylinder", "cone", "sphere", "capsule", "torus"]


def load_object(class_name: str, seed: int, views: int, size: int) -> object:
    """Build one procedural object and its given views (module level: picklable for worker processes)."""
    import trimesh

    from crossmost_data.inspect import point_image
    from crossmost_data.items import LoadedItem
    from crossmost_data.points import normalize_to_unit_sphere, sample_surface

    rng = np.random.default_rng(seed)
    a, b, c = rng.uniform(0.4, 1.6, size=3)
    if class_name == "box":
        mesh = trimesh.creation.box(extents=(a, b, c))
    elif class_name == "cylinder":
        mesh = trimesh.creation.cylinder(radius=a / 2, height=b * 2, sections=32)
    elif class_name == "cone":
        mesh = trimesh.creation.cone(radius=a / 2, height=b * 2, sections=32)
    elif class_name == "sphere":
        mesh = trimesh.creation.icosphere(subdivisions=3, radius=a)
        mesh.apply_scale((1.0, b, c))
    elif class_name == "capsule":
        mesh = trimesh.creation.capsule(height=b * 2, radius=a / 3)
    else:
        mesh = trimesh.creation.torus(major_radius=a, minor_radius=a / 4)
    cloud = normalize_to_unit_sphere(sample_surface(mesh, 4096, rng))
    images = []
    for v in range(views):
        angle = 2 * np.pi * v / views
        rotation = np.array([[np.cos(angle), 0, np.sin(angle)], [0, 1, 0], [-np.sin(angle), 0, np.cos(angle)]])
        images.append(point_image(cloud @ rotation.T, size))
    return LoadedItem(mesh=mesh, images=images)


class ProceduralReader:
    """``count`` objects spread over six primitive classes, one split."""

    name = "bench-procedural"
    view_source = "given"

    def __init__(self, count: int, views: int, size: int) -> None:
        self.count, self.views, self.size = count, views, size

    def class_names(self, root: Path) -> list[str]:
        return list(CLASSES)

    def splits(self, root: Path) -> list[str]:
        return ["train"]

    def iter_items(self, root: Path, split: str) -> Iterator[object]:
        from crossmost_data.items import SourceItem

        for i in range(self.count):
            name = CLASSES[i % len(CLASSES)]
            load = functools.partial(load_object, name, i, self.views, self.size)
            yield SourceItem(f"{name}-{i:06d}", name, split, f"procedural/{name}/{i}", load)


def child(args: argparse.Namespace) -> None:
    """Prepare ``args.count`` objects into ``args.out`` and print peak RSS and time as JSON."""
    from crossmost_data.prepare import PrepareConfig, prepare_dataset

    if args.reader == "synthetic":
        from crossmost_data.datasets import get_reader

        reader = get_reader("synthetic", domain="source", objects_per_class=max(1, args.count // 10), seed=0)
    else:
        reader = ProceduralReader(args.count, args.views, args.image_size)
    config = PrepareConfig(
        points_per_sample=args.points,
        num_views=args.views,
        image_size=args.image_size,
        samples_per_shard=args.samples_per_shard,
        workers=args.workers,
        max_items=args.count,
        progress=False,
    )
    started = time.perf_counter()
    summary = prepare_dataset(reader, Path("."), Path(args.out), config)  # type: ignore[arg-type]
    seconds = time.perf_counter() - started
    result = {
        "samples": summary.num_samples,
        "seconds": seconds,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_worker_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }
    print(json.dumps(result))


def run_size(count: int, args: argparse.Namespace) -> dict[str, float]:
    """Run one size in a fresh interpreter and return its figures."""
    with tempfile.TemporaryDirectory(prefix="bench-prepare-") as out:
        command = [
            sys.executable, __file__, "--child", "--count", str(count), "--out", out,
            "--points", str(args.points), "--views", str(args.views), "--image-size", str(args.image_size),
            "--samples-per-shard", str(args.samples_per_shard), "--workers", str(args.workers),
            "--reader", args.reader,
        ]  # fmt: skip
        completed = subprocess.run(command, check=True, capture_output=True, text=True)
        size = sum(p.stat().st_size for p in Path(out).glob("*.tar"))
    result: dict[str, float] = json.loads(completed.stdout.strip().splitlines()[-1])
    result["shard_mib"] = size / 2**20
    return result


def main() -> None:
    """Parse flags and run both sizes (or one child run)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 2000])
    parser.add_argument("--points", type=int, default=2048)
    parser.add_argument("--views", type=int, default=4)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--samples-per-shard", type=int, default=500)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--reader", choices=["procedural", "synthetic"], default="procedural")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--out", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    print(
        f"reader={args.reader} points={args.points} views={args.views}×{args.image_size}px "
        f"samples_per_shard={args.samples_per_shard} workers={args.workers}"
    )
    header = ("objects", 8), ("samples", 8), ("seconds", 8), ("obj/s", 7), ("peak RSS MiB", 13), ("workers MiB", 12)
    print(" ".join(f"{name:>{width}}" for name, width in header), f"{'shards MiB':>11}")
    results = {}
    for count in args.sizes:
        r = run_size(count, args)
        results[count] = r
        print(
            f"{count:>8} {int(r['samples']):>8} {r['seconds']:>8.1f} {count / r['seconds']:>7.1f} "
            f"{r['peak_rss_mib']:>13.1f} {r['peak_worker_rss_mib']:>12.1f} {r['shard_mib']:>11.1f}"
        )
    if len(args.sizes) >= 2:
        small, large = results[args.sizes[0]], results[args.sizes[-1]]
        ratio = large["peak_rss_mib"] / small["peak_rss_mib"]
        print(f"peak RSS ratio {args.sizes[-1]}/{args.sizes[0]} objects: {ratio:.2f} (target ≤ 1.3)")


if __name__ == "__main__":
    main()
