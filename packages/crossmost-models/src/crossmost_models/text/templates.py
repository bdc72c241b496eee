"""Named prompt-template sets for the text-initialised classifier."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from importlib import resources
from pathlib import Path

__all__ = ["list_template_sets", "load_templates", "resolve_templates"]

_DATA_FILE = "prompt_templates.json"


@cache
def _shipped() -> dict[str, tuple[str, ...]]:
    text = resources.files(__package__).joinpath(_DATA_FILE).read_text(encoding="utf-8")
    data = json.loads(text)
    return {name: tuple(items) for name, items in data["templates"].items()}


def list_template_sets() -> list[str]:
    """Names of the shipped template sets: ``modelnet40_64`` (the 64 ULIP prompts the official code uses),
    ``shapenet_64``, ``paper`` (the paper's two prompts) and ``photo`` (``"a photo of a {}."``)."""
    return sorted(_shipped())


def _validate(templates: Sequence[str], origin: str) -> tuple[str, ...]:
    if isinstance(templates, str) or len(templates) == 0:
        raise ValueError(f"{origin}: expected a non-empty list of templates, got {templates!r}")
    for template in templates:
        if not isinstance(template, str) or template.count("{}") != 1:
            raise ValueError(f"{origin}: every template must be a string with exactly one '{{}}', got {template!r}")
    return tuple(templates)


def load_templates(name: str) -> tuple[str, ...]:
    """Load a named template set, or a JSON file (a list of templates, or ``{"templates": [...]}``).

    Args:
        name: a shipped set name (see :func:`list_template_sets`) or the path of a ``.json`` file.

    Returns:
        The templates, each with exactly one ``{}`` placeholder for the class name.

    Raises:
        KeyError: an unknown set name (the message lists the known ones).
        ValueError: a malformed template.
    """
    sets = _shipped()
    if name in sets:
        return sets[name]
    path = Path(name)
    if path.suffix == ".json" and path.is_file():
        data = json.loads(path.read_text(encoding="utf-8"))
        items = data.get("templates", data) if isinstance(data, dict) else data
        return _validate(items, str(path))
    raise KeyError(f"unknown template set {name!r}; known sets: {', '.join(sorted(sets))} (or a path to a .json file)")


def resolve_templates(templates: str | Sequence[str]) -> tuple[str, ...]:
    """A set name/JSON path through :func:`load_templates`, or an explicit list of templates, validated."""
    if isinstance(templates, str):
        return load_templates(templates)
    return _validate(templates, "templates")
