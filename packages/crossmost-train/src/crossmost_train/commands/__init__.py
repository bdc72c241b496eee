"""Subcommands of ``crossmost-train``: each module registers itself with :func:`register_command`.

A command is a name, a help line, a function adding its arguments to an ``argparse`` parser, and a function running
it (returning an exit code). Built-in commands live in this package and are listed in :data:`BUILTIN_MODULES`;
other packages can add commands through the ``crossmost_train.commands`` entry-point group (each entry point names
a module that calls :func:`register_command` on import).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    """A registered subcommand."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


COMMANDS: dict[str, Command] = {}

BUILTIN_MODULES: list[str] = [
    "crossmost_train.commands.selftrain",
    "crossmost_train.commands.pretrain",
    "crossmost_train.commands.evaluate",
    "crossmost_train.commands.predict",
    "crossmost_train.demo.command",
]


def register_command(
    name: str,
    help: str,
    add_arguments: Callable[[argparse.ArgumentParser], None],
    run: Callable[[argparse.Namespace], int],
) -> None:
    """Make ``crossmost-train <name>`` available (a later registration of the same name replaces the earlier)."""
    COMMANDS[name] = Command(name=name, help=help, add_arguments=add_arguments, run=run)


def add_config_arguments(parser: argparse.ArgumentParser, default_presets: tuple[str, ...] = ()) -> None:
    """``-c/--config`` presets (repeatable, applied in order), ``key=value`` overrides and ``--print-config``."""
    parser.add_argument(
        "-c",
        "--config",
        action="append",
        default=None,
        metavar="PRESET",
        help="preset name (see `crossmost-train presets`) or path to a YAML file; repeatable, later ones win"
        + (f" (default: {', '.join(default_presets)})" if default_presets else ""),
    )
    parser.add_argument(
        "overrides", nargs="*", metavar="KEY=VALUE", help="config overrides with dotted keys, e.g. optim.base_lr=1e-4"
    )
    parser.add_argument("--print-config", action="store_true", help="print the resolved config as YAML and exit")
    parser.set_defaults(default_presets=list(default_presets))
