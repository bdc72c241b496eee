"""``crossmost-train`` command line: ``main(argv)`` dispatches to the registered subcommands.

``key=value`` overrides may stand anywhere on the line (before or after options); an unknown option that names a
config field (``--epochs 3``) gets the override that sets it (``schedule.epochs=3``) as a suggestion. Building the
parser, ``--help`` and every usage error import neither torch nor any model code.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import re
import sys
from importlib.metadata import entry_points

from crossmost_train import __version__
from crossmost_train.commands import BUILTIN_MODULES, COMMANDS

_OVERRIDE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+=")
"""A ``section.key=value`` token (a dotted key, so that a file name with ``=`` is not mistaken for one)."""


def _load_commands() -> None:
    for module in BUILTIN_MODULES:
        importlib.import_module(module)
    for ep in entry_points(group="crossmost_train.commands"):
        importlib.import_module(ep.value.split(":")[0])


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one subparser per registered command (``parser.subcommands`` maps their names to
    their parsers)."""
    _load_commands()
    parser = argparse.ArgumentParser(
        prog="crossmost-train",
        description="Label-free 3D classification by cross-modal self-training (Cross-MoST). "
        "Run under `accelerate launch -m crossmost_train ...` for several processes.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    subcommands = {"presets": sub.add_parser("presets", help="list the shipped config presets")}
    for name in sorted(COMMANDS):
        command = COMMANDS[name]
        subcommands[name] = sub.add_parser(name, help=command.help, description=command.help)
        command.add_arguments(subcommands[name])
    parser.set_defaults(subcommands=subcommands)
    return parser


def suggest_override(option: str, value: str | None, command: str = "") -> str | None:
    """The ``key=value`` override(s) an unknown option probably meant (``--epochs 3`` → ``schedule.epochs=3``).

    A config key whose last part is the option's name wins; else keys with it as a word of their last part
    (``--lr`` → ``optim.base_lr``, ``optim.min_lr``); else the closest spelling. ``pretrain.*`` keys are offered
    only to ``pretrain`` unless nothing else fits.
    """
    from crossmost_train.config import config_keys

    name = option.lstrip("-").replace("-", "_")
    keys = config_keys()
    leaf = {key: key.rsplit(".", 1)[-1] for key in keys}
    found = [k for k in keys if leaf[k] == name or k.replace(".", "_") == name]
    found = found or [k for k in keys if name in leaf[k].split("_")]
    found = found or difflib.get_close_matches(name, keys, n=2, cutoff=0.75)
    found = found or [k for k in keys if leaf[k] in difflib.get_close_matches(name, list(leaf.values()), 1, 0.75)]
    if command != "pretrain" and any(not k.startswith("pretrain.") for k in found):
        found = [k for k in found if not k.startswith("pretrain.")]
    if not found:
        return None
    return " or ".join(f"{key}={value if value is not None else '...'}" for key in found[:3])


def _unknown_option(parser: argparse.ArgumentParser, args: argparse.Namespace, option: str, argv: list[str]) -> None:
    name, _, attached = option.partition("=")
    value: str | None = attached or None
    if value is None and option in argv:
        # argparse took the option's value for a positional argument: give it back to the suggestion.
        position = argv.index(option) + 1
        if position < len(argv) and not argv[position].startswith("-"):
            value = argv[position]
            for positional in (getattr(args, "overrides", None), getattr(args, "inputs", None)):
                if isinstance(positional, list) and value in positional:
                    positional.remove(value)
    suggestion = suggest_override(name, value, args.command)
    hint = f"; config values are set as key=value: {suggestion}" if suggestion else ""
    parser.error(f"unrecognized option {name}{hint}")


def _place_extras(
    args: argparse.Namespace, extras: list[str], parser: argparse.ArgumentParser, argv: list[str]
) -> None:
    """Give the tokens argparse left over to the command: overrides after an option, more inputs; anything else is
    a usage error naming the token."""
    takes_overrides = isinstance(getattr(args, "overrides", None), list)
    inputs = getattr(args, "inputs", None)
    for token in extras:
        if token.startswith("-") and len(token) > 1:
            _unknown_option(parser, args, token, argv)
        if takes_overrides and ("=" in token and (inputs is None or _OVERRIDE.match(token))):
            args.overrides.append(token)
        elif isinstance(inputs, list):
            inputs.append(token)
        else:
            hint = "; config values are set as key=value" if takes_overrides else ""
            parser.error(f"unexpected argument {token!r}{hint}")
    if isinstance(inputs, list) and takes_overrides:
        # `predict shoe.obj model.name=tiny`: dotted key=value tokens among the inputs are overrides.
        args.overrides.extend(t for t in inputs if _OVERRIDE.match(t))
        inputs[:] = [t for t in inputs if not _OVERRIDE.match(t)]
        if not inputs:
            parser.error("the following arguments are required: inputs")


def main(argv: list[str] | None = None) -> int:
    """Run ``crossmost-train`` with ``argv`` (default: ``sys.argv[1:]``) and return the exit code.

    Exit codes: 0 success, 1 the run failed, 2 bad usage (arguments, config keys or values, missing paths).
    """
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args, extras = parser.parse_known_args(argv)
    if args.command is None:
        if extras:
            parser.error(f"unrecognized arguments: {' '.join(extras)}")
        parser.print_help()
        return 2
    _place_extras(args, extras, args.subcommands[args.command], argv)
    if args.command == "presets":
        from crossmost_train.config import list_presets

        print("\n".join(list_presets()))
        return 0
    return COMMANDS[args.command].load()(args)
