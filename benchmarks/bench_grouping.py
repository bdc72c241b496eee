"""Point-BERT grouping speed: crossmost's batched torch ops against fpsample + scipy's cKDTree.

Both sides group the same clouds into ``--groups`` farthest-point centres with ``--group-size`` nearest neighbours
each, starting FPS at point 0. The reference loops over the batch (fpsample's Rust FPS, then a k-d tree per cloud
queried with ``--threads`` workers, as a NumPy pipeline would); ours runs the whole batch at once with ``--threads``
torch threads. Prints the median wall time of ``--repeats`` runs
of each, their ratio and the torch thread count, and checks that both found the same centres.

Default (the paper's training size, about 10 s on a 2-core CPU):

    uv run --no-sync python benchmarks/bench_grouping.py

Other sizes or a GPU: ``--batch 128 --device cuda``.

``--ball`` times the ball query of OpenShape's PointBERT instead (defaults: 8 clouds × 10000 points, 384 centres,
radius 0.2, 64 points per ball): crossmost's :func:`~crossmost_models.ops.ball_query` against the pure-torch
PointNet++ ``query_ball_point`` (a ``B×S×N`` distance matrix by the ``|c|² - 2c·p + |p|²`` expansion, then a full
sort of every row), and the share of balls on which both agree:

    uv run --no-sync python benchmarks/bench_grouping.py --ball
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from _timing import median_times_ms, synchronizer
from crossmost_models.ops import ball_query, farthest_point_sample, group_points, knn_group


def pointnet2_ball_query(points: torch.Tensor, centers: torch.Tensor, radius: float, k: int) -> torch.Tensor:
    """The pure-torch PointNet++ ball query (sort of the in-radius indices, padding with the first), for timing."""
    batch, num_points, _ = points.shape
    squared = (
        -2 * centers @ points.transpose(1, 2)
        + centers.square().sum(-1, keepdim=True)
        + points.square().sum(-1).unsqueeze(1)
    )
    index = torch.arange(num_points, device=points.device).view(1, 1, -1).repeat(batch, centers.shape[1], 1)
    index[squared > radius**2] = num_points
    index = index.sort(dim=-1).values[..., :k]
    first = index[..., :1].expand_as(index)
    return torch.where(index == num_points, first, index)


def bench_ball(args: argparse.Namespace) -> None:
    """Time crossmost's ball query against the PointNet++ reference and print the figures."""
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    generator = torch.Generator().manual_seed(args.seed)
    points = (torch.rand(args.batch, args.points, 3, generator=generator) * 2 - 1).to(device)
    points = points / points.norm(dim=-1).amax(dim=1).view(-1, 1, 1)  # unit sphere, as the towers see clouds
    starts = farthest_point_sample(points, args.groups)
    centers = points[torch.arange(args.batch, device=device).unsqueeze(1), starts]
    timings = median_times_ms(
        {
            "reference": lambda: pointnet2_ball_query(points, centers, args.radius, args.group_size),
            "ours": lambda: ball_query(points, centers, args.radius, args.group_size),
        },
        args.repeats,
        synchronizer(device),
    )
    ours = ball_query(points, centers, args.radius, args.group_size)[0]
    reference = pointnet2_ball_query(points, centers, args.radius, args.group_size)
    same = float((ours == reference).all(dim=-1).float().mean())
    print(
        f"ball query {args.batch} clouds × {args.points} points → {args.groups} balls of radius {args.radius} × "
        f"{args.group_size} (device {device}, torch threads {torch.get_num_threads()}, torch {torch.__version__})"
    )
    print(f"  PointNet++ query_ball_point (sort)  : {timings['reference']:8.1f} ms")
    print(
        f"  crossmost ball_query                : {timings['ours']:8.1f} ms   ratio ours/reference "
        f"{timings['ours'] / timings['reference']:.2f}"
    )
    print(f"  identical balls                     : {100 * same:.2f} % (the rest differ at the radius by rounding)")


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=32, help="clouds per batch (default 32)")
    parser.add_argument("--points", type=int, default=8192, help="points per cloud (default 8192)")
    parser.add_argument("--groups", type=int, default=64, help="FPS centres per cloud (default 64)")
    parser.add_argument("--group-size", type=int, default=32, help="neighbours per centre (default 32)")
    parser.add_argument("--repeats", type=int, default=15, help="timed repetitions; the median is shown")
    parser.add_argument("--device", default="cpu", help="device for the torch ops (default cpu)")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ball", action="store_true", help="time the ball query instead (see the module docs)")
    parser.add_argument("--radius", type=float, default=0.2, help="ball radius with --ball (default 0.2)")
    args = parser.parse_args(argv)
    if args.ball:
        defaults = {"batch": 32, "points": 8192, "groups": 64, "group_size": 32}
        ball = {"batch": 8, "points": 10000, "groups": 384, "group_size": 64}
        for key, value in ball.items():
            if getattr(args, key) == defaults[key]:
                setattr(args, key, value)
        bench_ball(args)
        return

    import fpsample
    from scipy.spatial import cKDTree

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    clouds = np.random.default_rng(args.seed).standard_normal((args.batch, args.points, 3)).astype(np.float32)
    points = torch.from_numpy(clouds).to(device)
    synchronize = synchronizer(device)

    def reference() -> list[tuple[np.ndarray, np.ndarray]]:
        result = []
        for cloud in clouds:
            centres = fpsample.fps_sampling(cloud, args.groups, start_idx=0)
            _, neighbours = cKDTree(cloud).query(cloud[centres], k=args.group_size, workers=args.threads)
            result.append((centres, neighbours))
        return result

    def ours() -> tuple[torch.Tensor, torch.Tensor]:
        return group_points(points, args.groups, args.group_size, start="fixed")

    def ours_separate() -> tuple[torch.Tensor, torch.Tensor]:
        centres = farthest_point_sample(points, args.groups, start="fixed")
        centers = points[torch.arange(args.batch, device=device).unsqueeze(1), centres]
        return knn_group(points, centers, args.group_size)

    reference_centres = np.stack([centres for centres, _ in reference()])
    our_centres = farthest_point_sample(points, args.groups).cpu().numpy()
    same = float((reference_centres == our_centres).mean())

    timings = median_times_ms(
        {
            "reference": reference,
            "ours": ours,
            "separate": ours_separate,
            "fps": lambda: farthest_point_sample(points, args.groups),
        },
        args.repeats,
        synchronize,
    )
    reference_ms, ours_ms, separate_ms, fps_ms = (timings[k] for k in ("reference", "ours", "separate", "fps"))

    print(
        f"grouping {args.batch} clouds × {args.points} points → {args.groups} groups × {args.group_size} "
        f"(device {device}, torch threads {torch.get_num_threads()}, torch {torch.__version__})"
    )
    print(f"  fpsample + cKDTree, loop over batch : {reference_ms:8.1f} ms   (cKDTree query workers {args.threads})")
    print(
        f"  crossmost group_points (fused)      : {ours_ms:8.1f} ms   ratio ours/reference {ours_ms / reference_ms:.2f}"
    )
    print(f"  crossmost FPS then knn_group        : {separate_ms:8.1f} ms   (of which FPS {fps_ms:.1f} ms)")
    print(f"  identical FPS centres               : {100 * same:.1f} %")


if __name__ == "__main__":
    main()
