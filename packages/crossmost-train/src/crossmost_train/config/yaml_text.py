"""Reading config YAML strictly: plain YAML types only, a key given twice is an error, and every problem becomes one
:class:`ConfigError` line naming the file (or override) and the line.

``yaml.safe_load`` already refuses ``!!python/...`` tags, but with a traceback, and it lets a repeated key silently
win over the first one, which hides typos in long presets.
"""

from __future__ import annotations

from typing import Any

import yaml

from crossmost_train.config.errors import ConfigError

__all__ = ["parse_yaml"]


class _StrictLoader(yaml.SafeLoader):
    """``SafeLoader`` that refuses duplicate mapping keys."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        line = key_node.start_mark.line + 1
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} appears twice (lines {seen[key]} and {line})", key_node.start_mark
            )
        seen[key] = line
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_yaml(text: str, *, source: str) -> Any:
    """The YAML document in ``text`` (``None`` when empty).

    Args:
        text: the YAML text.
        source: what it came from (a file path, an override), for the message.

    Raises:
        ConfigError: a syntax error, a tag outside plain YAML (such as ``!!python/object``), or a repeated key; the
            message names ``source`` and the line.
    """
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{source}, line {mark.line + 1}" if mark is not None else source
        problem = error.problem or error.context or "invalid YAML"
        if "could not determine a constructor" in problem:
            problem += " (only plain YAML values are allowed: nothing in a config may create Python objects)"
        raise ConfigError(f"{where}: {problem}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{source}: not valid YAML ({error})") from None
