"""Rendering and depth-projection throughput.

Mesh rendering: views per second for ~5k-face meshes rendered by 1, 2, ... worker processes, each of which opens
its OpenGL context once (``get_process_renderer``) and renders many meshes, as the preparation pipeline does; the
speed-up from one worker to the largest count is printed. Depth projection: point clouds per second through
``project_depth_views_batch``.

Default run (short, for a 2-core machine)::

    uv run --no-sync python benchmarks/bench_render.py

Full-size run::

    uv run --no-sync python benchmarks/bench_render.py --meshes 64 --workers 1 2 4 --depth-batch 128 --depth-points 8192

With Mesa's software rasteriser (llvmpipe), each GL context starts one rendering thread per core, so several
workers compete for the same cores; ``--lp-threads 1`` (the default, as in ``crossmost-data render --workers N``)
gives each worker a single rasteriser thread (it sets
``LP_NUM_THREADS`` in the workers), which is what scales across processes. The CPU share printed for each row says
how much of a core each worker actually got: on a machine busy with other work the wall-clock speed-up is capped by
the free cores, while "views per worker CPU-second" shows whether the work itself scales (it should stay constant).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time

import numpy as np

from _timing import mean_seconds


def _mesh(seed: int, subdivisions: int) -> object:
    import trimesh

    # An icosphere with a bumpy surface: every mesh differs, so each one is uploaded to the GL context afresh.
    sphere = trimesh.creation.icosphere(subdivisions=subdivisions)
    rng = np.random.default_rng(seed)
    bumps = 1.0 + 0.15 * np.sin(sphere.vertices @ rng.normal(size=(3, 4)) * 3.0).sum(axis=1) / 4.0
    vertices = sphere.vertices * bumps[:, None]
    vertices /= np.linalg.norm(vertices, axis=1).max()
    return trimesh.Trimesh(vertices=vertices, faces=sphere.faces, process=False)


def _config(views: int, size: int, cull: bool) -> object:
    from crossmost_data.views import RenderConfig

    return RenderConfig(num_views=views, image_size=size, cull_back_faces=cull)


def _init_worker(views: int, size: int, cull: bool, lp_threads: int | None) -> None:
    if lp_threads:
        os.environ["LP_NUM_THREADS"] = str(lp_threads)
    from crossmost_data.views import get_process_renderer

    renderer = get_process_renderer(_config(views, size, cull))  # type: ignore[arg-type]
    renderer.render(_mesh(0, 2))  # type: ignore[arg-type]  # compile shaders before the clock starts


def _render_meshes(task: tuple[list[int], int, int, bool, int]) -> tuple[int, float]:
    from crossmost_data.views import get_process_renderer

    seeds, views, size, cull, subdivisions = task
    renderer = get_process_renderer(_config(views, size, cull))  # type: ignore[arg-type]
    cpu_start = time.process_time()  # all threads of this worker, the rasteriser's included
    rendered = 0
    for seed in seeds:
        rendered += len(renderer.render(_mesh(seed, subdivisions)).images)  # type: ignore[arg-type]
    return rendered, time.process_time() - cpu_start


def bench_workers(workers: int, args: argparse.Namespace) -> tuple[float, float]:
    """Views per second with ``workers`` processes sharing ``args.meshes`` meshes, and the CPU time the workers
    got as a share of ``workers`` × wall time (below 1 when other load on the machine takes cores away)."""
    context = multiprocessing.get_context("spawn")  # a fresh process per worker: no inherited GL state
    seeds = list(range(1, args.meshes + 1))
    chunks = [seeds[i::workers] for i in range(workers)]
    initargs = (args.views, args.size, args.cull_back_faces, args.lp_threads)
    with context.Pool(workers, initializer=_init_worker, initargs=initargs) as pool:
        warm = ([0], args.views, args.size, args.cull_back_faces, 2)
        pool.map(_render_meshes, [warm] * workers)  # every worker is up and warm
        start = time.perf_counter()
        tasks = [(chunk, args.views, args.size, args.cull_back_faces, args.subdivisions) for chunk in chunks]
        results = pool.map(_render_meshes, tasks)
        seconds = time.perf_counter() - start
    total = sum(views for views, _ in results)
    cpu = sum(cpu for _, cpu in results)
    return total / seconds, cpu / (seconds * workers)


def bench_depth(args: argparse.Namespace) -> float:
    """Point clouds per second through the batched depth projection."""
    import torch

    from crossmost_data.views.depth import DepthConfig, project_depth_views_batch

    config = DepthConfig(num_views=args.depth_views, image_size=args.depth_size)
    clouds = torch.from_numpy(
        np.random.default_rng(0).normal(size=(args.depth_batch, args.depth_points, 3)).astype(np.float32)
    )
    project_depth_views_batch(clouds[:2], config)  # warm-up
    seconds = mean_seconds(lambda: project_depth_views_batch(clouds, config), args.depth_repeats, warmup=0)
    return args.depth_batch / seconds


def main(argv: list[str] | None = None) -> None:
    """Parse the flags, run both benchmarks and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--views", type=int, default=12, help="views per mesh")
    parser.add_argument("--size", type=int, default=224, help="image size in pixels")
    parser.add_argument("--meshes", type=int, default=16, help="meshes rendered per measurement (all workers)")
    parser.add_argument("--subdivisions", type=int, default=4, help="icosphere subdivisions (4 = 5120 faces)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts to measure")
    parser.add_argument("--cull-back-faces", action="store_true", help="RenderConfig.cull_back_faces=True")
    parser.add_argument(
        "--lp-threads",
        type=int,
        default=1,
        help="LP_NUM_THREADS for llvmpipe in the workers (1, as the preparation pipeline sets; 0: Mesa's default)",
    )
    parser.add_argument("--depth-batch", type=int, default=32, help="clouds per depth-projection batch")
    parser.add_argument("--depth-points", type=int, default=2048, help="points per cloud")
    parser.add_argument("--depth-views", type=int, default=10, help="depth views per cloud")
    parser.add_argument("--depth-size", type=int, default=224, help="depth image size")
    parser.add_argument("--depth-repeats", type=int, default=3, help="timed batches")
    parser.add_argument("--skip-render", action="store_true", help="only the depth projection (no OpenGL needed)")
    args = parser.parse_args(argv)

    faces = 20 * 4**args.subdivisions
    print(f"cpu cores: {os.cpu_count()}, PYOPENGL_PLATFORM={os.environ.get('PYOPENGL_PLATFORM', '(auto)')}")
    if not args.skip_render:
        print(
            f"mesh rendering: {args.meshes} meshes × {args.views} views at {args.size}px, {faces} faces each, "
            f"cull_back_faces={args.cull_back_faces}, "
            f"LP_NUM_THREADS={args.lp_threads or '(Mesa default)'}"
        )
        rates = {}
        for workers in args.workers:
            rates[workers], cpu_share = bench_workers(workers, args)
            per_cpu_second = rates[workers] / max(cpu_share * workers, 1e-9)
            print(
                f"  {workers} worker(s): {rates[workers]:8.1f} views/s   (CPU per worker: {cpu_share:.0%} of a core; "
                f"{per_cpu_second:.1f} views per worker CPU-second)"
            )
        if len(rates) > 1:
            low, high = min(rates), max(rates)
            print(f"  speed-up {low} → {high} workers: {rates[high] / rates[low]:.2f}×")
    rate = bench_depth(args)
    print(
        f"depth projection: batch {args.depth_batch} × {args.depth_points} points → {args.depth_views} views at "
        f"{args.depth_size}px: {rate:8.1f} clouds/s ({rate * args.depth_views:.0f} views/s)"
    )


if __name__ == "__main__":
    main()
