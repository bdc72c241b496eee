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


def _reproduction_rows() -> dict[int, list[str]]:
    """Row number → cells of the tables in docs/reproduction.md §5 (where crossmost differs from the authors)."""
    text = (DOCS / "reproduction.md").read_text(encoding="utf-8")
    section = text[text.index("## 5. Where crossmost differs") :]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and cells[0].isdigit():
            rows[int(cells[0])] = cells[1:]
    return rows


def test_reproduction_differences_name_overrides_that_work() -> None:
    rows = _reproduction_rows()
    assert sorted(rows) == list(range(1, len(rows) + 1))
    text = (DOCS / "reproduction.md").read_text(encoding="utf-8")
    listed = text[text.index("### Differences with no config field") :].split("\n\n")[1]
    no_field = {int(n) for n in re.findall(r"\b(\d+)\s\(", listed)}
    for number, (_, _, restore) in rows.items():
        overrides = re.findall(r"`([a-z_]+\.[a-z_.]+=[^`]+)`", restore)
        for override in overrides:
            apply_override(TrainConfig(), override)  # a ConfigError names a key or value that does not exist
        if restore.startswith("none") and not restore.startswith("none needed"):
            assert number in no_field, f"row {number} has no override but is not listed as such"
        if number in no_field:
            assert not overrides or "none" in restore, f"row {number} is listed as having no config field"
    # The student-only crop and upsampling are reachable from a training config, and so is the FPS start.
    by_topic = {topic: next(n for n, cells in rows.items() if topic in cells[0]) for topic in ("crop", "upsampled")}
    assert "data.point_augment={crop_mode: official}" in rows[by_topic["crop"]][2]
    assert "data.point_augment={upsample_to: 8192}" in rows[by_topic["upsampled"]][2]
    fps = [cells for cells in rows.values() if "farthest-point sampling" in cells[0]]
    assert fps, "the authors' random FPS start (teacher and test included) is not listed"
    assert "model.overrides={point: {fps_start: random}}" in fps[0][2]
    assert "leftover debug values" in text  # why modelnet40-crossmost runs 200 epochs at batch 512
