"""Class-name cleaning for prompts: dataset keys such as ``night_stand`` or ``flowerPot`` become plain words."""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["clean_class_name", "clean_class_names"]

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SEPARATORS = re.compile(r"[_\-]+")
_SPACES = re.compile(r"\s+")


def clean_class_name(name: str) -> str:
    """Turn a dataset class key into the words used in a prompt.

    Underscores and hyphens become spaces, camelCase is split, runs of whitespace collapse, and the result is lower
    case unless a word is an acronym (all capitals, e.g. ``TV``): ``night_stand`` → ``night stand``,
    ``flowerPot`` → ``flower pot``, ``  tv_stand `` → ``tv stand``, ``TVStand`` → ``TV stand``.

    Raises:
        ValueError: the name is empty after cleaning.
    """
    text = _SEPARATORS.sub(" ", name)
    text = _CAMEL_BOUNDARY.sub(" ", text)
    words = [word if (len(word) > 1 and word.isupper()) else word.lower() for word in _SPACES.split(text.strip())]
    cleaned = " ".join(word for word in words if word)
    if not cleaned:
        raise ValueError(f"class name {name!r} is empty after cleaning")
    return cleaned


def clean_class_names(names: Sequence[str], *, verbatim: bool = False) -> list[str]:
    """Clean every class name (or, with ``verbatim=True``, keep them exactly, as the official code does).

    Raises:
        ValueError: an empty name, or two classes that become the same words (the classifier could not tell them
            apart).
    """
    if isinstance(names, str):
        raise ValueError("class names must be a list of strings, not one string")
    if len(names) == 0:
        raise ValueError("at least one class name is needed")
    result = [name if verbatim else clean_class_name(name) for name in names]
    seen: dict[str, str] = {}
    for original, cleaned in zip(names, result, strict=True):
        if not cleaned.strip():
            raise ValueError(f"class name {original!r} is empty")
        if cleaned in seen:
            raise ValueError(f"class names {seen[cleaned]!r} and {original!r} both become {cleaned!r} in prompts")
        seen[cleaned] = original
    return result
