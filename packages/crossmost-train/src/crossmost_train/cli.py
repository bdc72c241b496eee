"""``crossmost-train`` command line: ``main(argv)`` dispatches to the registered subcommands."""

from __future__ import annotations

import argparse
import importlib
import sys
from importlib.metadata import entry_points

from crossmost_train import __version__
from crossmost_train.commands import BUILTIN_MODULES, COMMANDS


def _load_commands() -> None:
    for module in BUILTIN_MODULES:
        importlib.import_module(module)
    for ep in entry_points(group="crossmost_train.commands"):
        importlib.import_module(ep.value.split(":")[0])


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one subparser per registered command."""
    _load_commands()
    parser = argparse.ArgumentParser(
        prog="crossmost-train",
        description="Label-free 3D classification by cross-modal self-training (Cross-MoST). "
        "Run under `accelerate launch -m crossmost_train ...` for several processes.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("presets", help="list the shipped config presets")
    for name in sorted(COMMANDS):
        command = COMMANDS[name]
        p = sub.add_parser(name, help=command.help, description=command.help)
        command.add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``crossmost-train`` with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "presets":
        from crossmost_train.config import list_presets

        print("\n".join(list_presets()))
        return 0
    return COMMANDS[args.command].run(args)
