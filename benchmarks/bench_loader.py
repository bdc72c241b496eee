"""Training-loader throughput: samples per second with the full augmentation, by number of loader workers.

Builds its own shards in a temporary folder (render-like views, a random cloud per sample), then times the loader
of a training run (``PreparedData(...).dataset(mode="train")`` through ``build_train_loader``, global batches):
one view decoded per sample, weak + strong image (RandomResizedCrop, flip, RandAugment rand-m9-mstd0.5-inc1),
block mask, weak + strong points (crop, dropout, upsampling back to the cloud size). The figure is steady-state:
the clock starts after the first batch, so worker start-up is excluded.

Default (about a minute on 2 cores): uv run --no-sync python benchmarks/bench_loader.py
Paper-size points: uv run --no-sync python benchmarks/bench_loader.py --points 8192 --image-sizes 224
Cost of the read-time CRC-32 checks (the same shards with and without recorded checksums, measured alternately in
one process, 0 workers): uv run --no-sync python benchmarks/bench_loader.py --checksum-overhead --points 8192
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from crossmost_data.format import CHECKSUM_KEY, AtomicTarWriter, encode_sample, shard_name
from crossmost_data.format.manifest import Manifest, ShardEntry
from crossmost_data.loader import AugmentConfig, LoaderConfig, MaskConfig, PreparedData, build_train_loader


def render_like_view(size: int, index: int, view: int) -> np.ndarray:
    """A white image with a shaded ellipse whose position and colour depend on the sample and view."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    cx, cy = 0.5 + 0.2 * np.cos(view + index), 0.5 + 0.15 * np.sin(2 * view + index)
    inside = ((xx - cx) / 0.3) ** 2 + ((yy - cy) / 0.22) ** 2 < 1.0
    image = np.full((size, size, 3), 255, dtype=np.uint8)
    shade = (120 + 100 * (xx - yy))[inside]
    colour = np.array([(index * 37) % 255, (view * 53) % 255, 180], dtype=np.float32) / 255
    image[inside] = np.clip(shade[:, None] * colour + 40, 0, 255).astype(np.uint8)
    return image


def write_shards(
    root: Path, *, samples: int, views: int, image_size: int, points: int, per_shard: int, checksums: bool = True
) -> None:
    """Write ``samples`` training samples in the on-disk format and their manifest (``checksums=False``: without
    the members' CRC-32 in the json, as samples written before checksums were recorded, which are not checked)."""
    rng = np.random.default_rng(0)
    entries = []
    for start in range(0, samples, per_shard):
        with AtomicTarWriter(root / shard_name("train", start // per_shard)) as writer:
            for index in range(start, min(samples, start + per_shard)):
                uid = f"bench{index:05d}"
                cloud = rng.normal(size=(points, 3)).astype(np.float32)
                cloud /= np.linalg.norm(cloud, axis=1).max()
                images = [render_like_view(image_size, index, v) for v in range(views)]
                meta = {"class_name": f"class{index % 10}", "source": uid}
                files = encode_sample(uid, cloud, images, meta)
                if not checksums:
                    record = json.loads(files["json"])
                    del record[CHECKSUM_KEY]
                    files["json"] = json.dumps(record, sort_keys=True, separators=(",", ":")).encode("utf-8")
                writer.write(uid, files)
        assert writer.info is not None
        entries.append(ShardEntry(writer.info.path.name, writer.info.num_samples, writer.info.sha256))
    Manifest(
        dataset="bench",
        class_names=[f"class{c}" for c in range(10)],
        splits={"train": entries},
        num_views=views,
        image_size=image_size,
        points_per_sample=points,
    ).write(root)


def measure(
    root: Path | str,
    *,
    workers: int,
    batch_size: int,
    max_samples: int,
    mask_patch: int,
    model_patch: int,
    streaming: bool = False,
    shuffle_buffer: int = 128,
) -> float:
    """Steady-state training samples per second over at most ``max_samples`` samples (``streaming``: of the
    streaming loader, ``root`` then a folder or a URL)."""
    augment = AugmentConfig(mask=MaskConfig(mask_patch_size=mask_patch, model_patch_size=model_patch))
    config = LoaderConfig(str(root), seed=0, num_workers=workers, streaming=streaming, shuffle_buffer=shuffle_buffer)
    dataset = PreparedData(config).dataset("train", mode="train", augment=augment)
    loader, sampler = build_train_loader(dataset, config, batch_size=batch_size)
    sampler.set_epoch(0)
    dataset.set_epoch(0)
    iterator = iter(loader)
    next(iterator)  # worker start-up and the first batch are not timed
    count, start = 0, time.perf_counter()
    for batch in iterator:
        count += len(batch["index"])
        if count >= max_samples:
            break
    elapsed = time.perf_counter() - start
    del iterator
    return count / elapsed if elapsed > 0 else float("nan")


def crc_seconds_per_sample(root: Path, views: int) -> float:
    """Seconds of the CRC-32 a training read adds to one sample: its cloud and one view, summed over the split."""
    import zlib

    from crossmost_data.format.reader import read_span, scan_shard

    total, count = 0.0, 0
    for path in sorted(root.glob("train-*.tar")):
        with open(path, "rb") as handle:
            for sample in scan_shard(path, views).samples:
                members = [read_span(handle.fileno(), sample.points), read_span(handle.fileno(), sample.views[0])]
                start = time.perf_counter()
                for data in members:
                    zlib.crc32(data)
                total += time.perf_counter() - start
                count += 1
    return total / max(1, count)


def checksum_overhead(args: argparse.Namespace) -> None:
    """Samples/s of the same shards with and without recorded checksums, measured alternately, their ratio, and
    the time of the checks themselves against the time of a whole sample."""
    image_size = args.image_sizes[0]
    mask_patch, model_patch = (32, 16) if image_size % 32 == 0 else (16, 8)
    with tempfile.TemporaryDirectory(prefix="bench_loader_crc_") as folder:
        roots = {"checked": Path(folder) / "checked", "unchecked": Path(folder) / "unchecked"}
        for name, root in roots.items():
            root.mkdir()
            write_shards(
                root,
                samples=args.samples,
                views=args.views,
                image_size=image_size,
                points=args.points[0],
                per_shard=args.per_shard,
                checksums=name == "checked",
            )
        rates: dict[str, list[float]] = {name: [] for name in roots}
        timed = min(args.measure, args.samples - args.batch_size)
        for _ in range(args.repeats):
            for name, root in roots.items():
                rate = measure(
                    root,
                    workers=0,
                    batch_size=args.batch_size,
                    max_samples=timed,
                    mask_patch=mask_patch,
                    model_patch=model_patch,
                )
                rates[name].append(rate)
        crc = crc_seconds_per_sample(roots["checked"], args.views)
    print(f"image {image_size}, points {args.points[0]}, {args.repeats} alternating runs, 0 workers")
    for name, values in rates.items():
        runs = ", ".join(f"{v:.1f}" for v in values)
        print(f"{name:>10}: median {statistics.median(values):7.1f} samples/s  ({runs})")
    ratio = statistics.median(rates["unchecked"]) / statistics.median(rates["checked"])
    print(f"time per sample with checks / without (medians): {ratio:.3f} ({100 * (ratio - 1):+.1f} %)")
    per_sample = 1.0 / statistics.median(rates["checked"])
    print(
        f"CRC-32 of the bytes one sample reads (cloud + one view): {1e6 * crc:.1f} µs = "
        f"{100 * crc / per_sample:.2f} % of the {1e3 * per_sample:.1f} ms a sample takes"
    )


def main(argv: list[str] | None = None) -> None:
    """Build shards for each image size and print training samples/s for each worker count."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=400, help="samples written per configuration")
    parser.add_argument("--views", type=int, default=12, help="views per sample")
    parser.add_argument("--image-sizes", type=int, nargs="+", default=[224, 64], help="view and output sizes")
    parser.add_argument("--points", type=int, nargs="+", default=[1024], help="points per cloud (paper: 8192)")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2], help="loader worker counts")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--measure", type=int, default=160, help="samples timed per run (after the first batch)")
    parser.add_argument("--per-shard", type=int, default=100, help="samples per shard")
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=1,
        help="intra-op threads of this process (workers always use 1); with 0 workers on a busy machine, idle "
        "OpenMP threads spinning after each collate compete with the loading thread",
    )
    parser.add_argument(
        "--checksum-overhead",
        action="store_true",
        help="compare the same shards with and without recorded member checksums (first image size and points)",
    )
    parser.add_argument("--repeats", type=int, default=5, help="alternating runs of --checksum-overhead")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.torch_threads)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"cpu cores available: {cores}; torch intra-op threads in the main process: {torch.get_num_threads()}")
    print(f"load average at start: {os.getloadavg()[0]:.1f} (figures are noisy when other work shares the cores)")
    if args.checksum_overhead:
        checksum_overhead(args)
        return
    print(f"{'image':>6} {'points':>7} {'workers':>8} {'samples/s':>10}")
    for image_size in args.image_sizes:
        # the official 32-pixel blocks on 16-pixel patches where they fit, else 16 on 8 (tiny demo images)
        mask_patch, model_patch = (32, 16) if image_size % 32 == 0 else (16, 8)
        for points in args.points:
            with tempfile.TemporaryDirectory(prefix="bench_loader_") as folder:
                root = Path(folder)
                start = time.perf_counter()
                write_shards(
                    root,
                    samples=args.samples,
                    views=args.views,
                    image_size=image_size,
                    points=points,
                    per_shard=args.per_shard,
                )
                print(f"# wrote {args.samples} samples × {args.views} views in {time.perf_counter() - start:.1f} s")
                # warm-up: lazy imports and first-touch costs of this process are not part of any figure
                measure(
                    root,
                    workers=0,
                    batch_size=args.batch_size,
                    max_samples=2 * args.batch_size,
                    mask_patch=mask_patch,
                    model_patch=model_patch,
                )
                for workers in args.workers:
                    rate = measure(
                        root,
                        workers=workers,
                        batch_size=args.batch_size,
                        max_samples=min(args.measure, args.samples - args.batch_size),
                        mask_patch=mask_patch,
                        model_patch=model_patch,
                    )
                    print(f"{image_size:>6} {points:>7} {workers:>8} {rate:>10.1f}", flush=True)


if __name__ == "__main__":
    main()
