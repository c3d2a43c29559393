"""Runs as the store holds them: checked and normalised once, so every backend returns the same values."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from horae.model import Run, RunState, Trigger, epoch_ms
from horae.store._checks import check_job_name

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INSTANTS = ("scheduled_for", "due_at", "created_at", "started_at", "finished_at")
# PostgreSQL text cannot hold NUL; an output tail is for people to read, the full output is in the log file.
_NUL_STANDIN = "\ufffd"


def normalize_run(run: Run) -> Run:
    """The run as a store returns it: instants in UTC, NUL in `reason`/`output_tail` stored as U+FFFD.

    ValueError (before anything is written) for a naive instant, an instant finer than a millisecond, or an
    empty job name.
    """
    check_job_name(run.job)
    changes: dict[str, Any] = {}
    for name in _INSTANTS:
        value: datetime | None = getattr(run, name)
        if value is None:
            continue
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"run {run.job}: {name} is a naive datetime ({value})")
        if value.microsecond % 1000:
            raise ValueError(f"run {run.job}: {name} is finer than a millisecond ({value})")
        if value.tzinfo is not UTC:
            changes[name] = value.astimezone(UTC)
    for name in ("reason", "output_tail"):
        text: str = getattr(run, name)
        if "\x00" in text:
            changes[name] = text.replace("\x00", _NUL_STANDIN)
    return dataclasses.replace(run, **changes) if changes else run


def to_ms(instant: datetime | None) -> int | None:
    return None if instant is None else epoch_ms(instant)


def from_ms(ms: int | None) -> datetime | None:
    return None if ms is None else _EPOCH + timedelta(milliseconds=ms)  # exact, unlike fromtimestamp


def run_to_row(run: Run) -> dict[str, Any]:
    """The columns of a normalised run."""
    return {
        "id": run.id,
        "job": run.job,
        "scheduled_for": epoch_ms(run.scheduled_for),
        "trigger": run.trigger.value,
        "state": run.state.value,
        "attempt": run.attempt,
        "due_at": to_ms(run.due_at),
        "created_at": to_ms(run.created_at),
        "started_at": to_ms(run.started_at),
        "finished_at": to_ms(run.finished_at),
        "exit_code": run.exit_code,
        "reason": run.reason,
        "arguments": None if run.arguments is None else json.dumps(list(run.arguments)),
        "environment": json.dumps([list(pair) for pair in run.environment]),
        "output_tail": run.output_tail,
    }


def row_to_run(row: Any) -> Run:
    scheduled_for = from_ms(row.scheduled_for)
    assert scheduled_for is not None
    return Run(
        job=row.job,
        scheduled_for=scheduled_for,
        trigger=Trigger(row.trigger),
        state=RunState(row.state),
        attempt=row.attempt,
        due_at=from_ms(row.due_at),
        created_at=from_ms(row.created_at),
        started_at=from_ms(row.started_at),
        finished_at=from_ms(row.finished_at),
        exit_code=row.exit_code,
        reason=row.reason,
        arguments=None if row.arguments is None else tuple(json.loads(row.arguments)),
        environment=tuple((name, value) for name, value in json.loads(row.environment)),
        output_tail=row.output_tail,
    )


def page_cursor(run: Run) -> str:
    """The opaque `list_runs` cursor after `run` (runs of one job are unique by `scheduled_for`)."""
    return str(epoch_ms(run.scheduled_for))


_CURSOR = re.compile(r"-?[0-9]{1,16}")
_CURSOR_RANGE = (epoch_ms(datetime.min.replace(tzinfo=UTC)), epoch_ms(datetime.max.replace(tzinfo=UTC)))


def parse_cursor(cursor: str) -> int:
    """The epoch ms a `page_cursor` wrote. ValueError for anything else, so that no text reaches a query as a
    number its column cannot hold (`int()` would also take `+5`, `1_000`, spaces and non-ASCII digits)."""
    if _CURSOR.fullmatch(cursor) is None or not _CURSOR_RANGE[0] <= int(cursor) <= _CURSOR_RANGE[1]:
        shown = cursor if len(cursor) <= 40 else cursor[:40] + "…"
        raise ValueError(f"not a list_runs cursor: {shown!r}")
    return int(cursor)


def ceil_ms(instant: datetime) -> int:
    """The first whole millisecond at or after `instant`: `ms < ceil_ms(t)` iff the ms instant is before t."""
    return epoch_ms(instant) + (1 if instant.microsecond % 1000 else 0)
