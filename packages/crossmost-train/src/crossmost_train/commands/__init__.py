"""Subcommands of ``crossmost-train``: each is registered with :func:`register_command`.

A command is a name, a help line, a function adding its arguments to an ``argparse`` parser, and the function that
runs it (returning an exit code), given directly or as ``"module:function"``, which is imported only when the
command runs: building the parser (``--help``, usage errors) imports neither torch nor any model code. The built-in
commands are declared in :mod:`crossmost_train.commands.builtin`; other packages can add commands through the
``crossmost_train.commands`` entry-point group (each entry point names a module that calls
:func:`register_command` on import).
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from dataclasses import dataclass

RunFunction = Callable[[argparse.Namespace], int]


@dataclass(frozen=True)
class Command:
    """A registered subcommand."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: RunFunction | str

    def load(self) -> RunFunction:
        """The run function (imported now when it was registered as ``"module:function"``)."""
        if callable(self.run):
            return self.run
        module, _, function = self.run.partition(":")
        loaded: RunFunction = getattr(importlib.import_module(module), function)
        return loaded


COMMANDS: dict[str, Command] = {}

BUILTIN_MODULES: list[str] = [
    "crossmost_train.commands.builtin",
    "crossmost_train.demo.command",
]


def register_command(
    name: str,
    help: str,
    add_arguments: Callable[[argparse.ArgumentParser], None],
    run: RunFunction | str,
) -> None:
    """Make ``crossmost-train <name>`` available (a later registration of the same name replaces the earlier).

    Args:
        name: The subcommand.
        help: One line for ``crossmost-train --help`` (also the subcommand's description).
        add_arguments: Adds the subcommand's arguments to its parser.
        run: ``args → exit code``, or ``"module:function"`` naming it (imported when the command runs, so that
            ``--help`` stays fast).
    """
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
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="config overrides with dotted keys, anywhere on the line, e.g. optim.base_lr=1e-4 schedule.epochs=3",
    )
    parser.add_argument("--print-config", action="store_true", help="print the resolved config as YAML and exit")
    parser.set_defaults(default_presets=list(default_presets))
