"""A backend's user options (NAME:KEY=VALUE): one frozen dataclass per backend, built here from the
parsed KEY=VALUE dict. An unknown key is an error listing the valid ones (a misspelt option must
not silently run the default), and each value is checked against its field's type."""
from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, Mapping, Union

from edgebench.errors import InvalidConfigError


@dataclasses.dataclass(frozen=True)
class BackendOptions:
    """The options of a backend that has none; each backend's options class derives from it.
    A field's type says what it accepts (bool, int, str, a Literal of choices, or a union of
    these with None), `field(metadata={"min": N})` bounds an int from below; every field has a
    default, the backend's own."""


def build_options(backend: str, options_class: type[BackendOptions], values: Any = None) -> BackendOptions:
    """`values` (a KEY=VALUE dict, an `options_class` object, or None for the defaults) as an
    `options_class` object. Raises InvalidConfigError for an unknown key or a value its field
    does not accept."""
    if values is None:
        return options_class()
    if isinstance(values, options_class):
        return values
    if isinstance(values, BackendOptions):
        raise InvalidConfigError(f"backend {backend} takes {options_class.__name__}, not {type(values).__name__}; "
                                 "pass its options as a KEY=VALUE dict or that class")
    fields = {f.name: f for f in dataclasses.fields(options_class)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        valid = ", ".join(fields) or "none"
        raise InvalidConfigError(f"backend {backend} has no option {', '.join(map(repr, unknown))}; its options: {valid}")
    hints = typing.get_type_hints(options_class)
    return options_class(**{key: _coerce(backend, key, value, hints[key], fields[key].metadata)
                            for key, value in dict(values).items()})


class _Rejected(Exception):
    pass


def _coerce(backend: str, key: str, value: Any, tp: Any, meta: Mapping) -> Any:
    try:
        return _accept(value, tp, meta)
    except _Rejected:
        example = _example(tp, meta)
        hint = f"; e.g. {backend}:{key}={example}" if example is not None else ""
        raise InvalidConfigError(f"backend {backend} option {key} must be {_describe(key, tp, meta)}, not {value!r}{hint}") from None


def _members(tp: Any) -> tuple[Any, ...]:
    """The types a union admits (the type itself when it is no union), None's type left out."""
    if typing.get_origin(tp) in (Union, types.UnionType):
        return tuple(a for a in typing.get_args(tp) if a is not type(None))
    return (tp,)


def _accept(value: Any, tp: Any, meta: Mapping) -> Any:
    if value is None and typing.get_origin(tp) in (Union, types.UnionType) and type(None) in typing.get_args(tp):
        return None
    for member in _members(tp):
        if typing.get_origin(member) is Literal:
            if any(type(value) is type(choice) and value == choice for choice in typing.get_args(member)):
                return value
        elif member is bool:
            if isinstance(value, bool):
                return value
            if type(value) is int and value in (0, 1):  # the spec parser gives KEY=1 as an int
                return bool(value)
        elif member is int:
            if type(value) is int and ("min" not in meta or value >= meta["min"]):
                return value
        elif member is str:
            if isinstance(value, str):
                return value
        else:
            raise TypeError(f"options field type {member!r} is not supported")  # a bug in an options class
    raise _Rejected


def _describe(key: str, tp: Any, meta: Mapping) -> str:
    parts = []
    for member in _members(tp):
        if typing.get_origin(member) is Literal:
            parts.append("one of " + ", ".join(f"{key}={c}" for c in typing.get_args(member)))
        elif member is bool:
            parts.append("a boolean (1/0, true/false)")
        elif member is int:
            parts.append(f"an integer >= {meta['min']}" if "min" in meta else "an integer")
        elif member is str:
            parts.append("text")
    return " or ".join(parts)


def _example(tp: Any, meta: Mapping) -> Any:
    first = _members(tp)[0]
    if typing.get_origin(first) is Literal:
        return None  # the choices are listed already
    if first is bool:
        return 1
    if first is int:
        return max(meta.get("min", 1), 1)
    return None
