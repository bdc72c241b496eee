"""Running a configured command: resolve the config, check every path it names, then run the command's body.

Everything before the body is light (no torch), so a usage or config error is reported in a fraction of a second.
Exit codes: 0 success; 2 bad usage (a config key or value, a path named in the config or the arguments that does
not exist, a preset expecting weights that gets none); 1 the run failed (damaged data, a checkpoint that does not
fit, a non-finite loss); 130 interrupted with Ctrl-C (one line; a selftrain run resumes from its last
checkpoint when started again).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable

import yaml

from crossmost_train.config import ConfigError, TrainConfig, config_to_dict, load_config

Body = Callable[[argparse.Namespace, TrainConfig], int]


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Defaults → presets (``-c``, else the command's default presets) → ``key=value`` overrides."""
    presets = args.config if args.config else args.default_presets
    return load_config(presets, args.overrides)


def fail(args: argparse.Namespace, error: BaseException, code: int) -> int:
    """Print ``crossmost-train <command>: error: <error>`` on stderr and return ``code``."""
    print(f"crossmost-train {args.command}: error: {error}", file=sys.stderr)
    return code


def interrupted(args: argparse.Namespace) -> int:
    """Report an interrupt (Ctrl-C) in one line on stderr and return 130."""
    # Every file is written under a temporary name and renamed, so an interrupt leaves nothing half-written.
    hint = "; run the same command again to resume from the last checkpoint" if args.command == "selftrain" else ""
    print(f"crossmost-train {args.command}: interrupted (Ctrl-C){hint}", file=sys.stderr)
    return 130


def _load_body(target: str) -> Body:
    module, _, function = target.partition(":")
    body: Body = getattr(importlib.import_module(module), function)
    return body


def run_with_config(
    args: argparse.Namespace, target: str, check: Callable[[argparse.Namespace, TrainConfig], None] | None = None
) -> int:
    """Resolve the config (or print it with ``--print-config``), run ``check`` on it, then the body ``target``
    (``"module:function"`` taking ``(args, config)``, imported only now); errors a user can fix become one line on
    stderr and the exit codes of the module docstring (an interrupt with Ctrl-C one line and exit code 130)."""
    try:
        cfg = config_from_args(args)
        if args.print_config:
            print(yaml.safe_dump(config_to_dict(cfg), sort_keys=False), end="")
            return 0
        if check is not None:
            check(args, cfg)
    except ConfigError as err:
        return fail(args, err, 2)
    except KeyboardInterrupt:
        return interrupted(args)
    try:
        body = _load_body(target)
        from crossmost_train.checkpoint import CheckpointError
        from crossmost_train.engine import NonFiniteLossError
        from crossmost_train.run_builder import DataError
    except KeyboardInterrupt:
        return interrupted(args)

    try:
        return body(args, cfg)
    except ConfigError as err:
        return fail(args, err, 2)
    except (DataError, CheckpointError, NonFiniteLossError, FileNotFoundError) as err:
        return fail(args, err, 1)
    except KeyboardInterrupt:
        return interrupted(args)
