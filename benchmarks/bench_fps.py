"""Farthest point sampling in data preparation: ``crossmost-data render --downsample fps`` (``resample_points``).

Times the preparation code path for a given cloud of N points brought down to 8192 (10k and 50k by default), next
to a plain NumPy FPS (the textbook O(N·k) loop, which preparation used before ``fpsample``) and random
downsampling as the floor, so the speed-up is a ratio within one run; the load average is printed because shared
machines are noisy.

    uv run --no-sync python benchmarks/bench_fps.py
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from _timing import mean_seconds
from crossmost_data.points import resample_points


def numpy_fps(xyz: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """The reference: farthest point sampling from a random start, one distance update per chosen point."""
    chosen = np.empty(count, dtype=np.int64)
    chosen[0] = rng.integers(len(xyz))
    distance = np.full(len(xyz), np.inf)
    for i in range(1, count):
        distance = np.minimum(distance, ((xyz - xyz[chosen[i - 1]]) ** 2).sum(axis=1))
        chosen[i] = int(distance.argmax())
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000], help="points of the given clouds")
    parser.add_argument("--count", type=int, default=8192, help="points kept")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}")
    for size in args.sizes:
        cloud = np.random.default_rng(size).normal(size=(size, 3)).astype(np.float32)
        runs = {
            "numpy FPS (reference)": lambda c=cloud: numpy_fps(
                c.astype(np.float64), args.count, np.random.default_rng(0)
            ),
            "resample_points fps": lambda c=cloud: resample_points(
                c, args.count, np.random.default_rng(0), downsample="fps"
            ),
            "resample_points random": lambda c=cloud: resample_points(
                c, args.count, np.random.default_rng(0), downsample="random"
            ),
        }
        seconds = {name: mean_seconds(run, args.repeats) for name, run in runs.items()}
        reference = seconds["numpy FPS (reference)"]
        print(f"{size:>7} → {args.count} points:")
        for name, value in seconds.items():
            print(f"  {name:<24} {value:8.4f} s  ({reference / value:7.1f}× the NumPy reference)")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
