"""The dataset-reader protocol and the registry that maps reader names to factories.

Readers are registered explicitly (``register_reader``); the built-in readers, the synthetic one among them, are
registered when ``crossmost_data.datasets`` is imported, so ``get_reader(name)`` never depends on which module
happened to be imported before.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from crossmost_data.items import SourceItem

__all__ = [
    "DatasetLayoutError",
    "DatasetReader",
    "ViewSource",
    "get_reader",
    "list_readers",
    "register_reader",
]

ViewSource = Literal["render", "depth", "given"]
"""How views are made for an item whose ``LoadedItem.images`` is ``None``: mesh rendering, depth projection of the
points, or nothing to make (the dataset brings its own images)."""


class DatasetLayoutError(ValueError):
    """The raw dataset folder does not have the expected layout; the message names the path and the download."""


@runtime_checkable
class DatasetReader(Protocol):
    """Reads one raw dataset layout into ``SourceItem`` objects.

    Attributes:
        name: The registry name, e.g. ``"modelnet40"``.
        view_source: How views are made when an item's ``LoadedItem.images`` is ``None``.

    A reader of data without labels also has ``labelled(root) -> bool`` returning ``False``; its items carry the
    class name ``""`` and are prepared with the label -1 (see ``crossmost_data.prepare.pipeline.reader_is_labelled``).
    """

    name: str
    view_source: ViewSource

    def class_names(self, root: Path) -> list[str]:
        """The ordered class list; the index of a name is its label."""
        ...

    def splits(self, root: Path) -> list[str]:
        """The split names this dataset provides, e.g. ``["train", "test"]``."""
        ...

    def iter_items(self, root: Path, split: str) -> Iterator[SourceItem]:
        """The items of ``split`` in a deterministic order; geometry is read lazily by ``SourceItem.load``."""
        ...


ReaderFactory = Callable[..., DatasetReader]

_FACTORIES: dict[str, ReaderFactory] = {}
# Readers that live in modules which register themselves on import; imported on first use of the name.
_LAZY_PROVIDERS: dict[str, str] = {"synthetic": "crossmost_data.datasets.synthetic"}


def register_reader(name: str, factory: ReaderFactory, *, replace: bool = False) -> None:
    """Register a reader factory under ``name``.

    Args:
        name: The name users pass to ``get_reader`` and ``crossmost-data prepare``.
        factory: Called with the reader options as keyword arguments; returns a ``DatasetReader``.
        replace: Allow replacing a different factory already registered under ``name``.

    Raises:
        ValueError: ``name`` is empty or already taken by another factory and ``replace`` is false.
    """
    if not name or name != name.strip():
        raise ValueError(f"reader name must be a non-empty string without surrounding spaces, got {name!r}")
    existing = _FACTORIES.get(name)
    if existing is not None and existing is not factory and not replace:
        raise ValueError(
            f"a reader named {name!r} is already registered ({existing!r}); pass replace=True to replace it"
        )
    _FACTORIES[name] = factory


def list_readers() -> list[str]:
    """The names of all registered readers, sorted."""
    return sorted(_FACTORIES)


def get_reader(name: str, **options: Any) -> DatasetReader:
    """Build the reader registered as ``name`` with the given options.

    Option names may be spelled with hyphens (``views-root``) as on the command line; they are matched against the
    factory's keyword arguments (``views_root``), and an unknown option is an error that lists the accepted ones.

    Args:
        name: A registered reader name (see ``list_readers``).
        **options: Reader options, e.g. ``variant="hardest"`` for ``scanobjectnn``.

    Returns:
        The configured reader.

    Raises:
        KeyError: No reader is registered under ``name``.
        ValueError: An option is unknown or has an invalid value.
    """
    factory = _FACTORIES.get(name)
    if factory is None:
        raise KeyError(f"unknown dataset reader {name!r}; registered readers: {', '.join(list_readers())}")
    normalised = {key.replace("-", "_"): value for key, value in options.items()}
    _check_options(name, factory, normalised)
    return factory(**normalised)


def _check_options(name: str, factory: ReaderFactory, options: dict[str, Any]) -> None:
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # builtins or C callables: let the call itself complain
        return
    parameters = signature.parameters.values()
    if any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters):
        return
    accepted = [
        parameter.name
        for parameter in parameters
        if parameter.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        listing = ", ".join(accepted) if accepted else "none"
        raise ValueError(f"reader {name!r} has no option(s) {', '.join(unknown)}; accepted options: {listing}")
