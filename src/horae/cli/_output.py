"""Printing: Rich tables and messages for people, plain JSON for scripts."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table


def _console(*, stderr: bool = False) -> Console:
    """A console for the current streams (made per call, so redirected or captured output is honoured).
    Output that is not a terminal gets wide lines, so tables piped into grep are not folded."""
    stream = sys.stderr if stderr else sys.stdout
    width = None
    if not (hasattr(stream, "isatty") and stream.isatty()):
        columns = os.environ.get("COLUMNS", "")
        width = int(columns) if columns.isdigit() else 200
    return Console(file=stream, width=width, highlight=False, soft_wrap=True)


_STATE_STYLES = {
    "succeeded": "green",
    "success": "green",
    "failed": "red",
    "failure": "red",
    "killed": "yellow",
    "timed_out": "red",
    "oom_killed": "red",
    "lost": "red",
    "skipped": "dim",
    "missed": "yellow",
    "running": "cyan",
    "pending": "cyan",
    "queued": "cyan",
    "retry_wait": "yellow",
}


def print_json(value: Any) -> None:
    """Machine-readable output: indented, keys as the server sent them, one document on stdout."""
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def error(message: str) -> None:
    _console(stderr=True).print(f"[bold red]error:[/] {_escape(message)}")


def info(message: str) -> None:
    """A line for people on stdout (markup allowed)."""
    _console().print(message)


def warn(message: str) -> None:
    _console(stderr=True).print(f"[yellow]warning:[/] {_escape(message)}")


def _escape(text: str) -> str:
    return text.replace("[", "\\[")


def escape(text: str) -> str:
    return _escape(text)


def styled_state(state: str | None) -> str:
    if not state:
        return ""
    style = _STATE_STYLES.get(state)
    return f"[{style}]{state}[/]" if style else _escape(state)


def when(value: str | None) -> str:
    """An instant from the API (ISO 8601) as `YYYY-MM-DD HH:MM:SS` UTC; "" for none."""
    if not value:
        return ""
    try:
        instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    t = Table(title=title, title_justify="left", header_style="bold", box=None, pad_edge=False)
    for column in columns:
        t.add_column(column, overflow="fold")
    for row in rows:
        t.add_row(*row)
    _console().print(t)
