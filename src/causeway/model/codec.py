"""One codec for every typed value that crosses the wire: parameters, results, their parts.

A value is a frozen dataclass whose fields are built from ``None``, ``bool``, ``int``, ``float``,
``str``, enums, ``Literal``, tuples, lists, ``dict[str, …]``, unions and other such dataclasses.
:func:`dump` turns one into JSON (with its wire ``version``), :func:`load` checks JSON against the
type and builds it back, naming the field of any mismatch. Nothing is written field by field.

Conventions: a non-finite float travels as the string ``"NaN"``, ``"Infinity"`` or ``"-Infinity"``
(as protobuf's JSON mapping does, since JSON has no such numbers); a dataclass with a ``kind``
class variable carries it, so that a union of results can be told apart; a field whose metadata
says ``wire=False`` does not travel (a result's disclosure report travels beside it). A class's
``version`` class variable (default 1) is written by :func:`dump`; :func:`load` refuses a newer
one with a message that says so, and reads an absent one as the current version.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import threading
import types
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from causeway.model.errors import InvalidRequest

__all__ = ["WireError", "decode", "dump", "encode", "load", "memoized", "wire_fields"]

T = TypeVar("T")
Json = Any
_SPECIAL = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
MEMO_SIZE = 16
_MEMOS: dict[type[Any], OrderedDict[str, Any]] = {}
_MEMO_LOCK = threading.Lock()


def memoized(cls: type[T]) -> type[T]:
    """Decode values of this frozen dataclass once per distinct JSON form (the last
    :data:`MEMO_SIZE` forms are kept, for the whole process): for a value that arrives again and
    again and is large (a project's terms, with a line for every site, in every assignment)."""
    _MEMOS[cls] = OrderedDict()
    return cls


class WireError(InvalidRequest):
    """JSON that does not match the type it should hold; ``path`` names the field."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}" if path else problem)
        self.path = path
        self.problem = problem


def wire_fields(cls: type[Any]) -> tuple[tuple[dataclasses.Field[Any], Any], ...]:
    """The fields of a dataclass that travel, with their resolved types."""
    return _fields(cls)


_FIELDS: dict[type[Any], tuple[tuple[dataclasses.Field[Any], Any], ...]] = {}


def _fields(cls: type[Any]) -> tuple[tuple[dataclasses.Field[Any], Any], ...]:
    found = _FIELDS.get(cls)
    if found is None:
        hints = get_type_hints(cls)
        found = tuple(
            (f, hints[f.name])
            for f in dataclasses.fields(cls)
            if f.init and f.metadata.get("wire", True)
        )
        _FIELDS[cls] = found
    return found


def dump(value: Any) -> dict[str, Json]:
    """A dataclass's wire form, with its version."""
    out = encode(value)
    if not isinstance(out, dict):
        raise TypeError(f"dump takes a dataclass, not {type(value).__name__}")
    return {**out, "version": getattr(type(value), "version", 1)}


def load(tp: Any, data: Json, *, what: str = "") -> Any:
    """Check ``data`` against ``tp`` (a dataclass or a union of them) and build the value."""
    if not isinstance(data, Mapping):
        raise WireError(what, f"expected an object, got {_name(data)}")
    body = dict(data)
    version = body.pop("version", None)
    classes = [c for c in _members(tp) if dataclasses.is_dataclass(c)]
    known = max((getattr(c, "version", 1) for c in classes), default=1)
    if version is not None and (
        isinstance(version, bool) or not isinstance(version, int) or version > known
    ):
        raise WireError(
            what,
            f"wire version {version!r} is newer than this Causeway understands (up to "
            f"{known}); upgrade it",
        )
    return decode(tp, body, path=what)


def encode(value: Any) -> Json:
    """The JSON form of a value built from the types this codec knows."""
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, enum.Enum):
        return encode(value.value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {f.name: encode(getattr(value, f.name)) for f, _ in _fields(type(value))}
        kind = getattr(type(value), "kind", None)
        return out if kind is None else {"kind": kind, **out}
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): encode(v) for k, v in value.items()}
    if hasattr(value, "item"):  # a numpy scalar
        return encode(value.item())
    raise TypeError(f"cannot encode {type(value).__name__}")


def decode(tp: Any, data: Json, *, path: str = "") -> Any:
    """Build a value of type ``tp`` from its JSON form, or raise :class:`WireError`."""
    if tp is Any:
        return data
    origin = get_origin(tp)
    if tp is type(None):
        return _expect(data is None, data, path, "null", None)
    if origin in (Union, types.UnionType):
        return _union(tp, data, path)
    if origin is Literal:
        choices = get_args(tp)
        if data in choices and not (isinstance(data, bool) and True in choices and 1 in choices):
            return data
        raise WireError(
            path, f"unknown value {data!r}; choose one of {', '.join(map(repr, choices))}"
        )
    if origin in (tuple, list):
        if not isinstance(data, list | tuple):
            raise WireError(path, f"expected a list, got {_name(data)}")
        args = get_args(tp)
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            if len(data) != len(args):
                raise WireError(path, f"expected {len(args)} values, got {len(data)}")
            return tuple(
                decode(a, v, path=f"{path}[{i}]")
                for i, (a, v) in enumerate(zip(args, data, strict=True))
            )
        item = args[0] if args else Any
        values = [decode(item, v, path=f"{path}[{i}]") for i, v in enumerate(data)]
        return tuple(values) if origin is tuple else values
    if origin in (dict, Mapping) or tp is dict:
        if not isinstance(data, Mapping):
            raise WireError(path, f"expected an object, got {_name(data)}")
        item = get_args(tp)[1] if get_args(tp) else Any
        return {str(k): decode(item, v, path=f"{path}.{k}") for k, v in data.items()}
    if isinstance(tp, type):
        return _scalar_or_class(tp, data, path)
    raise TypeError(f"the codec does not know the type {tp!r}")


def _scalar_or_class(tp: type[Any], data: Json, path: str) -> Any:
    if tp is bool:
        return _expect(isinstance(data, bool), data, path, "true or false", data)
    if tp is int:
        ok = isinstance(data, int) and not isinstance(data, bool)
        return _expect(ok, data, path, "a whole number", data)
    if tp is float:
        if isinstance(data, str) and data in _SPECIAL:
            return _SPECIAL[data]
        ok = isinstance(data, int | float) and not isinstance(data, bool)
        return _expect(ok, data, path, "a number", float(data) if ok else None)
    if tp is str:
        return _expect(isinstance(data, str), data, path, "a string", data)
    if issubclass(tp, enum.Enum):
        try:
            return tp(data)
        except ValueError:
            choices = ", ".join(repr(m.value) for m in tp)
            raise WireError(path, f"unknown value {data!r}; choose one of {choices}") from None
    if dataclasses.is_dataclass(tp):
        return _dataclass(tp, data, path)
    raise TypeError(f"the codec does not know the type {tp.__name__}")


def _dataclass(cls: type[T], data: Json, path: str) -> T:
    memo = _MEMOS.get(cls)
    if memo is None or not isinstance(data, Mapping):
        return _build(cls, data, path)
    try:
        key = json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        return _build(cls, data, path)
    with _MEMO_LOCK:
        found: T | None = memo.get(key)
        if found is not None:
            memo.move_to_end(key)
            return found
    value = _build(cls, data, path)  # (a form that does not decode is never kept)
    with _MEMO_LOCK:
        memo[key] = value
        while len(memo) > MEMO_SIZE:
            memo.popitem(last=False)
    return value


def _build(cls: type[T], data: Json, path: str) -> T:
    if not isinstance(data, Mapping):
        raise WireError(path, f"expected an object, got {_name(data)}")
    fields = _fields(cls)
    names = {f.name for f, _ in fields}
    kind = getattr(cls, "kind", None)
    extra = set(data) - names - ({"kind"} if kind is not None else set())
    if extra:
        valid = ", ".join(sorted(names)) or "none"
        raise WireError(
            path, f"does not take {', '.join(sorted(map(str, extra)))}; valid fields: {valid}"
        )
    if kind is not None and data.get("kind", kind) != kind:
        raise WireError(path, f"expected kind {kind!r}, got {data.get('kind')!r}")
    values: dict[str, Any] = {}
    for f, hint in fields:
        where = f"{path}.{f.name}" if path else f.name
        if f.name in data:
            values[f.name] = decode(hint, data[f.name], path=where)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise WireError(where, "is required")
    return cls(**values)


def _union(tp: Any, data: Json, path: str) -> Any:
    members = get_args(tp)
    if data is None:
        if type(None) in members:
            return None
        raise WireError(path, "must not be null")
    kinds = {getattr(m, "kind", None): m for m in members if dataclasses.is_dataclass(m)}
    if isinstance(data, Mapping) and None not in kinds and kinds:
        chosen = kinds.get(data.get("kind"))
        if chosen is None:
            raise WireError(path, f"kind must be one of {', '.join(map(repr, kinds))}")
        return decode(chosen, data, path=path)
    problems = []
    for member in members:
        if member is type(None):
            continue
        try:
            return decode(member, data, path=path)
        except WireError as exc:
            problems.append(exc.problem)
    raise WireError(path, " or ".join(dict.fromkeys(problems)))


def _members(tp: Any) -> tuple[Any, ...]:
    return get_args(tp) if get_origin(tp) in (Union, types.UnionType) else (tp,)


def _expect(ok: bool, data: Json, path: str, wanted: str, value: Any) -> Any:
    if not ok:
        raise WireError(path, f"expected {wanted}, got {_name(data)}")
    return value


def _name(data: Json) -> str:
    if data is None:
        return "null"
    if isinstance(data, bool):
        return "a boolean"
    if isinstance(data, int | float):
        return f"the number {data!r}"
    if isinstance(data, str):
        shown = data if len(data) <= 40 else data[:37] + "..."
        return f"the string {shown!r}"
    if isinstance(data, list | tuple):
        return "a list"
    if isinstance(data, Mapping):
        return "an object"
    return type(data).__name__
