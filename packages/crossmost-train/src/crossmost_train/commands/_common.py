"""Helpers shared by the subcommands: config resolution and user-facing error reporting."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import yaml

from crossmost_train.checkpoint import CheckpointError
from crossmost_train.config import ConfigError, TrainConfig, config_to_dict, load_config
from crossmost_train.selftrain import NonFiniteLossError
from crossmost_train.wiring import DataError

USER_ERRORS = (ConfigError, DataError, CheckpointError, NonFiniteLossError, FileNotFoundError)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Defaults → presets (``-c``, else the command's default presets) → ``key=value`` overrides."""
    presets = args.config if args.config else args.default_presets
    return load_config(presets, args.overrides)


def run_with_config(args: argparse.Namespace, body: Callable[[TrainConfig], int]) -> int:
    """Resolve the config (or print it with ``--print-config``), run ``body``, and turn the errors a user can fix
    into one clear line on stderr and exit code 1 (an interrupt with Ctrl-C into one line and exit code 130)."""
    try:
        cfg = config_from_args(args)
        if args.print_config:
            print(yaml.safe_dump(config_to_dict(cfg), sort_keys=False), end="")
            return 0
        return body(cfg)
    except USER_ERRORS as err:
        print(f"crossmost-train {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        # Every file is written under a temporary name and renamed, so an interrupt leaves nothing half-written.
        hint = "; run the same command again to resume from the last checkpoint" if args.command == "selftrain" else ""
        print(f"crossmost-train {args.command}: interrupted (Ctrl-C){hint}", file=sys.stderr)
        return 130
