"""Streaming loader throughput: training samples per second of the streaming loader against the map-style loader
over the same shards, read from a local folder and over HTTP (a local server in a thread), by number of workers.

Builds its own shards in a temporary folder (render-like views, a random cloud per sample; ``bench_loader``'s
writer), then times the training loader of a run (``PreparedData(...).dataset(mode="train")`` through
``build_train_loader``, full augmentation) for ``streaming`` off and on. The clock starts after the first batch, so
worker start-up (and the streaming loader's first fill of its shuffle buffer) is excluded. The HTTP figures are of a
loopback server: they show the cost of the fsspec/aiohttp path, not of a network.

Default (a few minutes on 2 cores): uv run --no-sync python benchmarks/bench_stream.py
"""

from __future__ import annotations

import argparse
import functools
import http.server
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from bench_loader import write_shards
from crossmost_data.loader import AugmentConfig, LoaderConfig, MaskConfig, PreparedData, build_train_loader


@contextmanager
def http_server(folder: Path) -> Iterator[str]:
    """Serve ``folder`` over HTTP on a free loopback port, in a thread; yields its URL."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join()


def measure(root: str, *, streaming: bool, workers: int, batch_size: int, max_samples: int, buffer: int) -> float:
    """Steady-state training samples per second over at most ``max_samples`` samples."""
    augment = AugmentConfig(mask=MaskConfig(mask_patch_size=32, model_patch_size=16))
    config = LoaderConfig(root, seed=0, num_workers=workers, streaming=streaming, shuffle_buffer=buffer)
    dataset = PreparedData(config).dataset("train", mode="train", augment=augment)
    loader, sampler = build_train_loader(dataset, config, batch_size=batch_size)
    sampler.set_epoch(0)
    dataset.set_epoch(0)
    iterator = iter(loader)
    next(iterator)
    count, start = 0, time.perf_counter()
    for batch in iterator:
        count += len(batch["index"])
        if count >= max_samples:
            break
    elapsed = time.perf_counter() - start
    del iterator
    return count / elapsed if elapsed > 0 else float("nan")


def main(argv: list[str] | None = None) -> None:
    """Build shards once and print samples/s for each loader, source and worker count."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=320, help="samples written")
    parser.add_argument("--views", type=int, default=12, help="views per sample")
    parser.add_argument("--image-size", type=int, default=224, help="view and output size")
    parser.add_argument("--points", type=int, default=1024, help="points per cloud")
    parser.add_argument("--per-shard", type=int, default=40, help="samples per shard")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2], help="loader worker counts")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--measure", type=int, default=160, help="samples timed per run (after the first batch)")
    parser.add_argument("--shuffle-buffer", type=int, default=64)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"cpu cores available: {cores}; load average at start: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="bench_stream_") as folder:
        root = Path(folder)
        write_shards(
            root,
            samples=args.samples,
            views=args.views,
            image_size=args.image_size,
            points=args.points,
            per_shard=args.per_shard,
        )
        print(f"{args.samples} samples × {args.views} views of {args.image_size} px, {args.points} points, "
              f"{args.samples // args.per_shard} shards")  # fmt: skip
        print(f"{'loader':>10} {'source':>7} {'workers':>8} {'samples/s':>10}")
        with http_server(root) as url:
            for workers in args.workers:
                rows = [("map-style", "local", str(root), False), ("streaming", "local", str(root), True),
                        ("streaming", "http", url, True)]  # fmt: skip
                for name, source, location, streaming in rows:
                    rate = measure(
                        location,
                        streaming=streaming,
                        workers=workers,
                        batch_size=args.batch_size,
                        max_samples=min(args.measure, args.samples - 2 * args.batch_size),
                        buffer=args.shuffle_buffer,
                    )
                    print(f"{name:>10} {source:>7} {workers:>8} {rate:>10.1f}")
    print(f"load average at end: {os.getloadavg()[0]:.2f} (figures are noisy when other work shares the cores)")


if __name__ == "__main__":
    main()
