"""The ``crossmost-data`` command line: ``render``, ``synth``, ``inspect`` and ``verify``.

Exit codes: 0 success; 1 the run failed (items skipped with ``--strict``, nothing could be prepared, verification
mismatches, a broken render stack); 2 bad usage or input (unknown dataset, bad raw layout, bad manifest).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from crossmost_data import __version__

__all__ = ["build_parser", "main"]


def _rgb(text: str) -> tuple[int, int, int]:
    parts = [int(p) for p in text.replace(" ", "").split(",")]
    if len(parts) != 3 or not all(0 <= p <= 255 for p in parts):
        raise argparse.ArgumentTypeError(f"expected R,G,B with values in 0..255, got {text!r}")
    return parts[0], parts[1], parts[2]


def _key_value(text: str) -> tuple[str, Any]:
    """``KEY=VALUE``; VALUE is read as JSON when it parses (``2``, ``true``, ``[1, 2]``), else kept as text."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer of at least ``minimum`` (the message names the bound)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def _add_prepare_options(parser: argparse.ArgumentParser, *, points: int, image_size: int) -> None:
    group = parser.add_argument_group("samples")
    group.add_argument(
        "--views", type=_int_at_least(1), default=None, help="views per sample (default: the view maker's)"
    )
    group.add_argument(
        "--image-size", type=_int_at_least(8), default=image_size, help=f"view size in pixels (default {image_size})"
    )
    group.add_argument("--points", type=_int_at_least(1), default=points, help=f"points per sample (default {points})")
    group.add_argument("--point-layout", choices=["xyz", "xyzrgb"], default="xyz")
    group.add_argument(
        "--min-points",
        type=int,
        default=None,
        help="given clouds with fewer points are skipped (default: --points); between this and --points they "
        "are upsampled",
    )
    group.add_argument("--downsample", choices=["random", "fps"], default="random")
    group.add_argument("--upsample", choices=["repeat", "jitter"], default="repeat")
    group.add_argument("--image-format", choices=["png", "jpg"], default="png")
    group.add_argument("--seed", type=int, default=0)
    run = parser.add_argument_group("run")
    run.add_argument("--out", type=Path, help="output folder (shards + manifest.json)")
    run.add_argument("--splits", nargs="+", default=None, help="splits to prepare (default: all)")
    run.add_argument("--samples-per-shard", type=int, default=500)
    run.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes (default: one per 64 items, up to the CPU cores available; a request above the "
        "cores is capped with a message)",
    )
    run.add_argument(
        "--executor",
        choices=["local", "ray"],
        default="local",
        help="local: a process pool on this machine; ray: one task per shard on a Ray cluster, which writes to "
        "--out (a folder every node shares); needs crossmost-data[ray]",
    )
    run.add_argument(
        "--address",
        default=None,
        help="the Ray cluster for --executor ray (e.g. ray://head:10001 or auto; default: RAY_ADDRESS, else a "
        "local cluster)",
    )
    run.add_argument("--shard-index", type=int, default=0, help="this machine's index when splitting the work")
    run.add_argument("--num-shards", type=int, default=1, help="number of machines sharing the work")
    run.add_argument("--merge", action="store_true", help="only write manifest.json from finished shards")
    run.add_argument("--overwrite", action="store_true", help="redo shards written with another configuration")
    run.add_argument("--max-items", type=int, default=None, help="at most N items per split (quick runs)")
    run.add_argument("--strict", action="store_true", help="exit 1 if any item was skipped")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``crossmost-data``."""
    parser = argparse.ArgumentParser(
        prog="crossmost-data",
        description="Prepare 3D datasets into image+point WebDataset shards, inspect and verify them.",
    )
    parser.add_argument("--version", action="version", version=f"crossmost-data {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    render = commands.add_parser(
        "render",
        help="prepare a raw dataset: sample points, render/project/collect views, write shards",
        description="Prepare a raw dataset into shards. DATASET is a reader name (see the error message or "
        "`crossmost-data render --list`). Resumable: rerun the same command to finish an interrupted run.",
    )
    render.add_argument("dataset", nargs="?", help="reader name, e.g. modelnet40, scanobjectnn, folder")
    render.add_argument("--root", type=Path, help="raw dataset folder")
    render.add_argument("--variant", default=None, help="reader variant (e.g. hardest for scanobjectnn)")
    render.add_argument(
        "--option", type=_key_value, action="append", default=[], metavar="KEY=VALUE", help="other reader option"
    )
    render.add_argument("--list", action="store_true", help="list the dataset readers and exit")
    render.add_argument("--selftest", action="store_true", help="check the headless render stack and exit")
    views = render.add_argument_group("views")
    views.add_argument("--layout", choices=["ring", "sphere", "pointclip"], default=None, help="camera layout")
    views.add_argument("--elevation", type=float, default=None, help="camera elevation in degrees (ring layout)")
    views.add_argument("--background", type=_rgb, default=None, metavar="R,G,B", help="background colour")
    views.add_argument("--light-intensity", type=float, default=None, help="light intensity of the renderer")
    views.add_argument("--platform", choices=["egl", "osmesa"], default=None, help="OpenGL platform (default auto)")
    _add_prepare_options(render, points=8192, image_size=224)

    synth = commands.add_parser(
        "synth",
        help="generate the procedural source/target benchmark and write it as shards",
        description="Generate the built-in procedural dataset (no download) and prepare it like any other.",
    )
    synth.add_argument(
        "--domain",
        choices=["source", "target", "corpus"],
        required=True,
        help="source: clean meshes (rendered views); target: scans with their own views; corpus: the broad 2D "
        "corpus of the image-text pre-training (every view in a random look)",
    )
    synth.add_argument("--objects-per-class", type=int, default=None)
    synth.add_argument("--classes", nargs="+", default=None, help="class names (default: all procedural classes)")
    synth.add_argument(
        "--option",
        type=_key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="other reader option (partiality, noise, clutter, target_views, test_fraction)",
    )
    _add_prepare_options(synth, points=1024, image_size=64)

    inspect = commands.add_parser("inspect", help="print counts per split and class; optionally a contact sheet")
    inspect.add_argument("dir", type=Path, help="prepared dataset folder")
    inspect.add_argument("--sheet", type=Path, default=None, help="write a contact-sheet PNG here")
    inspect.add_argument("--split", default=None, help="split shown on the sheet (default: the first)")
    inspect.add_argument("--per-class", type=int, default=4, help="samples per class on the sheet")
    inspect.add_argument("--tile", type=int, default=96, help="tile size of the sheet in pixels")

    verify = commands.add_parser("verify", help="re-hash and decode every shard; exit 1 on any mismatch")
    verify.add_argument("dir", type=Path, help="prepared dataset folder")
    verify.add_argument("--skip-views", action="store_true", help="do not decode the view images")
    return parser


def _prepare_config(args: argparse.Namespace, view_source: str) -> Any:
    from crossmost_data.prepare.config import PrepareConfig

    view_options: dict[str, Any] = {}
    for key, attr in (("layout", "layout"), ("elevation_deg", "elevation"), ("background", "background")):
        value = getattr(args, attr, None)
        if value is not None:
            view_options[key] = list(value) if isinstance(value, tuple) else value
    render_options = dict(view_options)
    for key, attr in (("light_intensity", "light_intensity"), ("platform", "platform")):
        value = getattr(args, attr, None)
        if value is not None:
            render_options[key] = value
    return PrepareConfig(
        splits=tuple(args.splits) if args.splits else None,
        points_per_sample=args.points,
        point_layout=args.point_layout,
        min_points=args.min_points,
        downsample=args.downsample,
        upsample=args.upsample,
        num_views=args.views,
        image_size=args.image_size,
        image_format=args.image_format,
        render_options=render_options if view_source == "render" else {},
        depth_options=view_options if view_source == "depth" else {},
        samples_per_shard=args.samples_per_shard,
        max_items=args.max_items,
        seed=args.seed,
        workers=args.workers,
        shard_index=args.shard_index,
        num_shards=args.num_shards,
        strict=args.strict,
        progress=not args.no_progress,
        merge_only=args.merge,
        overwrite=args.overwrite,
    )


def _run_prepare(reader: Any, root: Path, args: argparse.Namespace, reader_options: dict[str, Any]) -> int:
    from crossmost_data.prepare import prepare_dataset

    config = _prepare_config(args, str(reader.view_source))
    if args.address is not None and args.executor != "ray":
        raise ValueError("--address names a Ray cluster: use it with --executor ray")
    summary = prepare_dataset(
        reader,
        root,
        args.out,
        config,
        reader_options=reader_options,
        executor=args.executor,
        ray_address=args.address,
    )
    print(summary.format())
    return summary.exit_code


def _render(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.selftest:
        from crossmost_data.views import RenderConfig, run_selftest

        config = RenderConfig(platform=args.platform) if args.platform else None
        report = run_selftest(config, output_dir=args.out)
        print(report)
        return 0 if report.ok else 1
    from crossmost_data.datasets import get_reader, list_readers

    if args.list:
        print("\n".join(list_readers()))
        return 0
    if not args.dataset:
        parser.error(f"render: DATASET is required; available: {', '.join(list_readers())}")
    if args.root is None or args.out is None:
        parser.error("render: --root RAW and --out DIR are required")
    options: dict[str, Any] = dict(args.option)
    if args.variant is not None:
        options["variant"] = args.variant
    if args.dataset not in list_readers():
        print(f"error: unknown dataset {args.dataset!r}; available: {', '.join(list_readers())}", file=sys.stderr)
        return 2
    reader = get_reader(args.dataset, **options)
    return _run_prepare(reader, args.root, args, options)


def _synth(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from crossmost_data.datasets import get_reader

    if args.out is None:
        parser.error("synth: --out DIR is required")
    # The target domain makes its own scans and views: ask for them at the stored size and point count.
    options: dict[str, Any] = {"domain": args.domain, "seed": args.seed, **dict(args.option)}
    if args.objects_per_class is not None:
        options["objects_per_class"] = args.objects_per_class
    if args.classes:
        options["classes"] = list(args.classes)
    if args.domain in ("target", "corpus"):
        options.setdefault("scan_points", args.points)
        options.setdefault("view_size", args.image_size)
        if args.views is not None:
            options.setdefault("num_views", args.views)
    reader = get_reader("synthetic", **options)
    return _run_prepare(reader, Path("."), args, options)


def _inspect(args: argparse.Namespace) -> int:
    from crossmost_data.format.manifest import Manifest
    from crossmost_data.inspect import contact_sheet, format_counts

    print(format_counts(Manifest.read(args.dir)))
    if args.sheet is not None:
        path = contact_sheet(args.dir, args.sheet, split=args.split, per_class=args.per_class, tile=args.tile)
        print(f"contact sheet: {path}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from crossmost_data.verify import verify_dataset

    report = verify_dataset(args.dir, decode_views=not args.skip_views)
    print(report.format())
    return 0 if report.ok else 1


def main(argv: list[str] | None = None) -> int:
    """Run ``crossmost-data`` with ``argv`` (default ``sys.argv[1:]``) and return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from crossmost_data.format.manifest import ManifestError
    from crossmost_data.prepare import PrepareError
    from crossmost_data.prepare.ray_executor import RayNotInstalledError
    from crossmost_data.prepare.worker import ItemProcessingError

    usage_errors: tuple[type[BaseException], ...] = (
        ManifestError,
        PrepareError,
        KeyError,
        ValueError,
        RayNotInstalledError,
    )
    try:
        if args.command == "render":
            return _render(args, parser)
        if args.command == "synth":
            return _synth(args, parser)
        if args.command == "inspect":
            return _inspect(args)
        return _verify(args)
    except usage_errors as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"error: {message}", file=sys.stderr)
        return 2
    except ItemProcessingError as error:
        print(f"error: {error}\nfinished shards are kept; fix the cause and rerun to resume", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; finished shards are kept, rerun the same command to resume", file=sys.stderr)
        return 130
