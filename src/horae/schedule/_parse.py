"""Entry points: text to Schedule (cached), pinning an empty start, previews."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

from horae.schedule._base import Schedule
from horae.schedule._cron import parse_cron
from horae.schedule._instant import format_instant, require_aware
from horae.schedule._iso import ISO_SCHEDULE, parse_iso


def parse_schedule(text: str, timezone: str = "", *, now: datetime | None = None) -> Schedule:
    """Parse a Chronos schedule: `R[n]/start/period` (ISO 8601, full match) or else cron.

    `now` is used only for an ISO schedule with an empty start (which then starts at `now`, written
    in as `pin_start` would). Parsing is cached on (text, timezone) whenever the result does not
    depend on `now`. Raises InvalidSchedule.
    """
    if text.startswith("R"):  # only an ISO schedule can have an empty start; a cron text never starts so
        m = ISO_SCHEDULE.fullmatch(text)
        if m is not None and not m.group(2):
            return parse_iso(text, timezone, now)
    return _parse_cached(text, timezone)


@lru_cache(maxsize=1 << 17)
def _parse_cached(text: str, timezone: str) -> Schedule:
    if ISO_SCHEDULE.fullmatch(text) is not None:
        return parse_iso(text, timezone, None)
    return parse_cron(text, timezone)


def pin_start(text: str, now: datetime) -> str:
    """Write `now` (UTC, Joda format) into an ISO schedule with an empty start; anything else unchanged.

    Applied before a job is stored, so that a restart does not see a fresh "now" and run it again.
    """
    m = ISO_SCHEDULE.fullmatch(text)
    if m is None or m.group(2):
        return text
    require_aware(now)
    return f"R{m.group(1)}/{format_instant(now.astimezone(UTC))}/{m.group(3)}"


def preview(text: str, timezone: str, after: datetime, count: int) -> list[datetime]:
    """The next `count` occurrences strictly after `after` (UTC); fewer when the schedule runs out."""
    schedule = parse_schedule(text, timezone, now=after)
    found: list[datetime] = []
    instant: datetime | None = after
    while len(found) < count and instant is not None:
        instant = schedule.next_after(instant)
        if instant is not None:
            found.append(instant)
    return found
