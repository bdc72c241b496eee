"""The commands written in docs/ name presets, readers, config keys and options that exist."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from crossmost_data.cli import build_parser as build_data_parser
from crossmost_data.datasets import list_readers
from crossmost_train.config import apply_override, list_presets
from crossmost_train.config.schema import TrainConfig

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = sorted(DOCS.glob("*.md"))


def code_blocks(text: str) -> list[str]:
    """The bash code blocks of a page, with backslash continuations joined."""
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    return [block.replace("\\\n", " ") for block in blocks]


def is_synopsis(words: list[str]) -> bool:
    """A usage line with placeholders (``DATASET``, ``[options]``, ``a|b``) or a bare ``--help``, not a command."""
    return not words or words[0].startswith("-") or any("[" in w or "|" in w or w.isupper() for w in words)


def commands(program: str) -> list[list[str]]:
    """The argument lists given to ``program`` in the docs' bash blocks (synopsis lines left out)."""
    found = []
    for page in PAGES:
        for block in code_blocks(page.read_text(encoding="utf-8")):
            for line in block.splitlines():
                line = line.split("  #")[0].strip()
                words = line.split()
                if program in words and not is_synopsis(args := words[words.index(program) + 1 :]):
                    found.append(args)
    return found


def test_docs_have_commands() -> None:
    assert len(commands("crossmost-train")) >= 10
    assert len(commands("crossmost-data")) >= 10


@pytest.mark.parametrize("words", commands("crossmost-train"), ids=" ".join)
def test_train_presets_and_keys_exist(words: list[str]) -> None:
    presets = set(list_presets())
    for flag, value in itertools.pairwise(words):
        if flag in ("-c", "--config"):
            assert value in presets, f"unknown preset {value!r}"
    config = TrainConfig()
    for word in words:
        key, sep, _ = word.partition("=")
        if sep and "." in key and not word.startswith("-"):
            apply_override(config, word)  # raises a ConfigError for an unknown key or a bad value


@pytest.mark.parametrize("words", commands("crossmost-data"), ids=" ".join)
def test_data_commands_parse(words: list[str]) -> None:
    args = build_data_parser().parse_args(words)
    if args.command == "render" and args.dataset:
        assert args.dataset in list_readers()
