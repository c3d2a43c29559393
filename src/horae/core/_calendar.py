"""Arithmetic that stays on the calendar: a datetime ends at the year 9999 and begins at the year 1.

An instant past the end (an occurrence delayed by jitter, a retry, a deadline) is treated as never, so
nothing that schedules fails on a job near the end of time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

BEGINNING = datetime.min.replace(tzinfo=UTC)


def later(t: datetime, delta: timedelta) -> datetime | None:
    """`t + delta`, or None when that falls beyond the calendar."""
    try:
        return t + delta
    except OverflowError:
        return None


def earlier(t: datetime, delta: timedelta) -> datetime:
    """`t - delta`, or the calendar's beginning when that falls before it."""
    try:
        return t - delta
    except OverflowError:
        return BEGINNING
