"""A small JSON codec for the frozen model dataclasses, driven by their type hints.

The store owns this format (the document column of the jobs table), so it must stay readable across
releases: fields missing from a document take their defaults and unknown fields are ignored, which lets a
newer or older horae read what the other wrote.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
import types
import typing
from datetime import datetime, timedelta
from typing import Any, TypeVar

from horae.model import Job
from horae.store._checks import check_job_name

T = TypeVar("T")
_MICROSECOND = timedelta(microseconds=1)


def encode_job(job: Job) -> str:
    """The job as a JSON document; ValueError for an empty name or values JSON cannot hold (NaN, infinities)."""
    check_job_name(job.name)
    return json.dumps(_encode(job), allow_nan=False, separators=(",", ":"), sort_keys=True)


def decode_job(document: str) -> Job:
    return _decode_dataclass(Job, json.loads(document))


def _encode(value: object) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if value is None or isinstance(value, str | int | float):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value} (instants are aware)")
        return value.isoformat()
    if isinstance(value, timedelta):
        return value // _MICROSECOND  # exact, unlike a float of seconds
    if isinstance(value, tuple):
        return [_encode(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    raise TypeError(f"cannot encode {type(value).__name__}")


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _decode_dataclass(cls: type[T], data: Any) -> T:
    if not isinstance(data, dict):
        raise ValueError(f"{cls.__name__}: expected an object, got {type(data).__name__}")
    hints = _hints(typing.cast(type, cls))
    kwargs = {
        f.name: _decode(hints[f.name], data[f.name])
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        if f.name in data
    }
    return cls(**kwargs)


def _decode(tp: Any, data: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        if data is None and len(options) < len(typing.get_args(tp)):
            return None
        if len(options) != 1:
            raise TypeError(f"unsupported union {tp}")
        return _decode(options[0], data)
    if origin is tuple:
        args = typing.get_args(tp)
        _expect(list, data)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(args[0], item) for item in data)
        return tuple(_decode(a, item) for a, item in zip(args, data, strict=True))
    if isinstance(tp, type):
        if issubclass(tp, enum.Enum):
            return tp(data)
        if tp is datetime:
            return datetime.fromisoformat(_expect(str, data))
        if tp is timedelta:
            return timedelta(microseconds=_expect(int, data))
        if dataclasses.is_dataclass(tp):
            return _decode_dataclass(tp, data)
        if tp is float:
            return float(_expect((int, float), data))
        if tp in (str, int, bool):
            return _expect(tp, data)
    raise TypeError(f"cannot decode {tp}")


def _expect(tp: type | tuple[type, ...], data: Any) -> Any:
    # bool is an int in Python but never a valid count, nor an int a valid flag
    if not isinstance(data, tp) or (isinstance(data, bool) and tp is not bool):
        raise ValueError(f"expected {tp}, got {data!r}")
    return data
