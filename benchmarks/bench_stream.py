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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from bench_loader import measure, write_shards


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files without a console line per request."""

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def http_server(folder: Path) -> Iterator[str]:
    """Serve ``folder`` over HTTP on a free loopback port, in a thread; yields its URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join()


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
                        mask_patch=32,
                        model_patch=16,
                        shuffle_buffer=args.shuffle_buffer,
                    )
                    print(f"{name:>10} {source:>7} {workers:>8} {rate:>10.1f}")
    print(f"load average at end: {os.getloadavg()[0]:.2f} (figures are noisy when other work shares the cores)")


if __name__ == "__main__":
    main()
