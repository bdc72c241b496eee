"""Presets, YAML overlays and ``key=value`` overrides onto the typed :class:`TrainConfig`.

A preset is a YAML file whose keys mirror the dataclass tree; ``base: <preset>`` (a name or a list of names) makes
it an overlay on other presets. Values are coerced to the declared field types, and an unknown key is an error that
lists the closest valid keys.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import types
import typing
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar, get_args, get_origin

import yaml

from crossmost_train.config.bounds import check_bounds
from crossmost_train.config.errors import ConfigError
from crossmost_train.config.schema import TrainConfig
from crossmost_train.config.yaml_text import parse_yaml

_Section = TypeVar("_Section")


def list_presets() -> list[str]:
    """Names of the presets shipped in ``crossmost_train/configs``."""
    folder = resources.files("crossmost_train") / "configs"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def preset_path(name: str) -> Path:
    """The YAML file of a preset name, or ``name`` itself when it is a path to a YAML file."""
    if name.endswith((".yaml", ".yml")) or os.sep in name:
        path = Path(name)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        return path
    path = Path(str(resources.files("crossmost_train") / "configs" / f"{name}.yaml"))
    if not path.is_file():
        close = difflib.get_close_matches(name, list_presets(), n=4)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; presets: {', '.join(list_presets())}"
        raise ConfigError(f"unknown preset {name!r}{hint}")
    return path


def _read_preset(name: str, seen: tuple[str, ...] = ()) -> dict[str, Any]:
    path = preset_path(name)
    key = str(path.resolve())
    if key in seen:
        raise ConfigError(f"preset {name!r} includes itself through 'base'")
    data = _read_yaml(path) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a preset must be a mapping, got {type(data).__name__}")
    bases = data.pop("base", [])
    merged: dict[str, Any] = {}
    for base in [bases] if isinstance(bases, str) else list(bases):
        _deep_update(merged, _read_preset(base, (*seen, key)))
    _deep_update(merged, data)
    return merged


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read config file {path}: {error}") from None
    return parse_yaml(text, source=str(path))


def _deep_update(target: dict[str, Any], update: Mapping[str, Any]) -> None:
    for k, v in update.items():
        if isinstance(v, Mapping) and isinstance(target.get(k), dict):
            _deep_update(target[k], v)
        else:
            target[k] = v


def _field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _all_keys(cls: type, prefix: str = "") -> list[str]:
    keys = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            keys.extend(_all_keys(tp, f"{prefix}{f.name}."))  # type: ignore[arg-type]
        else:
            keys.append(f"{prefix}{f.name}")
    return keys


def config_keys() -> list[str]:
    """Every dotted key of :class:`TrainConfig` that takes a value (``schedule.epochs``, ``model.name``, …)."""
    return _all_keys(TrainConfig)


def _unknown_key(key: str, section: type = TrainConfig, prefix: str = "") -> ConfigError:
    close = difflib.get_close_matches(key, _all_keys(section, prefix), n=4, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return ConfigError(f"unknown config key {key!r}{hint}")


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def coerce(value: Any, tp: Any, key: str) -> Any:
    """Convert ``value`` (from YAML or the command line) to the annotated type ``tp`` of field ``key``."""
    origin = get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        options = get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return coerce(value, option, key)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError("; ".join(errors))
    if origin is typing.Literal:
        choices = get_args(tp)
        if value not in choices:
            raise ConfigError(f"{key}: {value!r} is not one of {', '.join(map(repr, choices))}")
        return value
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, (str, int)) and str(value).lower() in _TRUE | _FALSE:
            return str(value).lower() in _TRUE
        raise ConfigError(f"{key}: expected a boolean, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected an integer, got {value!r}") from None
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected a number, got {value!r}") from None
        if not math.isfinite(number):
            raise ConfigError(f"{key}: expected a finite number, got {value!r}")
        return number
    if tp is str:
        if isinstance(value, (dict, list)):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return "" if value is None else str(value)
    if origin in (list, tuple):
        items = value
        if isinstance(value, str):
            items = [v.strip() for v in value.split(",") if v.strip()] if value.strip() else []
        if not isinstance(items, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        args = get_args(tp)
        if origin is tuple:
            if len(args) == 2 and args[1] is Ellipsis:
                return tuple(coerce(v, args[0], key) for v in items)
            if len(items) != len(args):
                raise ConfigError(f"{key}: expected {len(args)} values, got {value!r}")
            return tuple(coerce(v, a, key) for v, a in zip(items, args, strict=True))
        return [coerce(v, args[0], key) for v in items]
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    raise ConfigError(f"{key}: unsupported field type {tp!r}")


def _coerce_field(obj: Any, name: str, value: Any, key: str) -> Any:
    """``value`` coerced to the type of field ``name`` of ``obj`` and checked against its declared bounds."""
    tp = typing.get_type_hints(type(obj))[name]
    coerced = coerce(value, tp, key)
    problem = check_bounds(_field(obj, name).metadata, coerced, key)
    if problem:
        raise ConfigError(problem)
    return coerced


def _field(obj: Any, name: str) -> dataclasses.Field[Any]:
    return next(f for f in dataclasses.fields(obj) if f.name == name)


def _updated(obj: Any, changes: Mapping[str, Any], where: str) -> Any:
    """``obj`` with ``changes`` set: in place, or, for a frozen section, a validated replacement of it."""
    if not type(obj).__dataclass_params__.frozen:
        for name, value in changes.items():
            setattr(obj, name, value)
        return obj
    try:
        return dataclasses.replace(obj, **changes)
    except ValueError as err:
        raise ConfigError(f"{where}: {err}") from None


def _apply_mapping(obj: Any, data: Mapping[str, Any], prefix: str = "") -> Any:
    """``obj`` with the nested ``data`` applied (the same object, unless it is a frozen section)."""
    hints = typing.get_type_hints(type(obj))
    names = _field_names(type(obj))
    changes: dict[str, Any] = {}
    for k, v in data.items():
        key = f"{prefix}{k}"
        if k not in names:
            raise _unknown_key(key, type(obj), prefix)
        tp = hints[k]
        if dataclasses.is_dataclass(tp):
            if not isinstance(v, Mapping):
                raise ConfigError(f"{key}: expected a mapping of {', '.join(_field_names(tp))}")  # type: ignore[arg-type]
            changes[k] = _apply_mapping(getattr(obj, k), v, f"{key}.")
        else:
            changes[k] = _coerce_field(obj, k, v, key)
    return _updated(obj, changes, prefix.rstrip(".") or "config")


def apply_section(section: _Section, values: Mapping[str, Any], where: str) -> _Section:
    """``section`` (a config dataclass, such as ``crossmost_data.loader.ImageAugmentConfig``) with the nested
    ``values`` applied as a preset's would be: coerced to the field types (lists to tuples), validated, and a
    :class:`ConfigError` naming ``where.<field>`` for an unknown field or a bad value."""
    updated: _Section = _apply_mapping(section, values, f"{where}.")
    return updated


def _parse_value(raw: str, tp: Any) -> Any:
    """A command-line value: strings stay verbatim, everything else is read as YAML (``[a, b]``, ``1e-4``)."""
    if tp is str:
        return raw
    try:
        value = parse_yaml(raw, source=f"override value {raw!r}") if raw.strip() else ""
    except ConfigError:
        return raw
    if get_origin(tp) is typing.Literal and value not in get_args(tp):
        return raw
    return value


def apply_override(config: TrainConfig, assignment: str) -> None:
    """Apply one ``dotted.key=value`` assignment (the value is parsed as YAML, then coerced)."""
    if "=" not in assignment:
        raise ConfigError(f"override {assignment!r} is not of the form key=value")
    key, raw = assignment.split("=", 1)
    key = key.strip()
    _override(config, key.split("."), raw, key)


def _override(obj: Any, parts: list[str], raw: str, key: str) -> Any:
    """``obj`` with the field at the dotted path ``parts`` set from ``raw`` (frozen sections are replaced)."""
    part = parts[0]
    if not dataclasses.is_dataclass(obj) or part not in _field_names(type(obj)):
        raise _unknown_key(key)
    if len(parts) > 1:
        value = _override(getattr(obj, part), parts[1:], raw, key)
    else:
        tp = typing.get_type_hints(type(obj))[part]
        if dataclasses.is_dataclass(tp):
            raise ConfigError(f"{key} is a section; set one of its fields, e.g. {key}.{_field_names(tp)[0]}")  # type: ignore[arg-type]
        value = _coerce_field(obj, part, _parse_value(raw, tp), key)
    return _updated(obj, {part: value}, key)


def load_config(presets: Iterable[str] = (), overrides: Iterable[str] = ()) -> TrainConfig:
    """Build a :class:`TrainConfig` from defaults, then each preset in order, then each ``key=value`` override."""
    config = TrainConfig()
    for name in presets:
        _apply_mapping(config, _read_preset(name))
    for assignment in overrides:
        apply_override(config, assignment)
    return config


def config_to_dict(config: Any) -> dict[str, Any]:
    """Plain nested dict of a config dataclass (tuples become lists, ready for YAML)."""

    def convert(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: convert(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, (list, tuple)):
            return [convert(v) for v in value]
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        return value

    return typing.cast(dict[str, Any], convert(config))


def config_from_dict(data: Mapping[str, Any]) -> TrainConfig:
    """Inverse of :func:`config_to_dict` (validating every key and value)."""
    config = TrainConfig()
    _apply_mapping(config, data)
    return config


def save_config(config: TrainConfig, path: str | os.PathLike[str]) -> None:
    """Write the resolved config as YAML, atomically (with the permissions a plain ``open`` gives)."""
    from crossmost_data.format.manifest import write_text_atomic  # imported here: reading a config loads no numpy

    write_text_atomic(path, yaml.safe_dump(config_to_dict(config), sort_keys=False))


def read_config(path: str | os.PathLike[str]) -> TrainConfig:
    """Read a ``config.yaml`` written by :func:`save_config`."""
    data = _read_yaml(Path(path)) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config must be a mapping, got {type(data).__name__}")
    return config_from_dict(data)
