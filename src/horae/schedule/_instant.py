"""Instants as Joda writes and reads them, and exact integer conversions to epoch units."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone

from horae.schedule._errors import InvalidSchedule

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
US_PER_SECOND = 1_000_000

# Joda ISODateTimeFormat.dateTimeParser (date-opt-time): calendar, ordinal or week date, optional
# time whose last element may carry a fraction, optional offset.
_START = re.compile(
    r"(?P<year>\d{4})"
    r"(?:-(?:(?P<ordinal>\d{3})|W(?P<week>\d{2})(?:-(?P<wday>\d))?|(?P<month>\d{2})(?:-(?P<day>\d{2}))?))?"
    r"(?:[Tt](?P<hour>\d{2})(?::(?P<minute>\d{2})(?::(?P<second>\d{2}))?)?(?:[.,](?P<fraction>\d+))?"
    r"(?P<offset>[Zz]|[+-]\d{2}(?::?\d{2})?)?)?",
    re.ASCII,
)


def require_aware(instant: datetime) -> None:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{instant!r} is naive; schedules answer only for aware instants")


def to_us(instant: datetime) -> int:
    """Microseconds since the epoch, exactly (no float rounding)."""
    d = instant - EPOCH
    return (d.days * 86_400 + d.seconds) * US_PER_SECOND + d.microseconds


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def from_seconds(seconds: int) -> datetime:
    return EPOCH + timedelta(seconds=seconds)


def format_instant(dt: datetime) -> str:
    """Joda `ISODateTimeFormat.dateTime()`: `yyyy-MM-ddTHH:mm:ss.SSS` then `Z` (UTC) or `±hh:mm`.

    Sub-millisecond digits are dropped (Joda keeps milliseconds), never rounded up.
    """
    require_aware(dt)
    offset = dt.utcoffset() or timedelta(0)
    base = f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}"
    millis = f".{dt.microsecond // 1000:03d}"
    if not offset:
        return base + millis + "Z"
    sign = "-" if offset < timedelta(0) else "+"
    total = abs(int(offset.total_seconds()))
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    suffix = f"{sign}{hours:02d}:{minutes:02d}" + (f":{seconds:02d}" if seconds else "")
    return base + millis + suffix


def parse_start(text: str) -> datetime:
    """Parse a start the way Joda's `DateTime.parse` does; no offset means UTC.

    The result is aware with the written fixed offset. Precision is milliseconds, as in Joda:
    further fraction digits are truncated.
    """
    m = _START.fullmatch(text)
    if m is None:
        raise InvalidSchedule(
            "schedule", f"start '{text}' is not an ISO 8601 date-time such as 2030-01-01T00:00Z"
        )
    g = m.groupdict()
    try:
        year = int(g["year"])
        if g["ordinal"] is not None:
            day = date(year, 1, 1) + timedelta(days=int(g["ordinal"]) - 1)
            if day.year != year or int(g["ordinal"]) == 0:
                raise ValueError(f"day of year {g['ordinal']} does not exist in {year}")
        elif g["week"] is not None:
            day = date.fromisocalendar(year, int(g["week"]), int(g["wday"] or 1))
        else:
            day = date(year, int(g["month"] or 1), int(g["day"] or 1))
        hour, minute, second = (int(g[k] or 0) for k in ("hour", "minute", "second"))
        if hour > 23 or minute > 59 or second > 59:
            raise ValueError("time of day out of range")
        wall = datetime(day.year, day.month, day.day, hour, minute, second)
    except ValueError as e:
        raise InvalidSchedule("schedule", f"start '{text}' is not a valid date-time ({e})") from None
    if g["fraction"] is not None:
        # the fraction belongs to the last written time element (hour, minute or second)
        unit = 1 if g["second"] is not None else 60 if g["minute"] is not None else 3600
        frac = g["fraction"]
        millis = int(frac) * unit * 1000 // 10 ** len(frac)
        wall += timedelta(milliseconds=millis)
    return wall.replace(tzinfo=_offset(g["offset"], text))


def _offset(text: str | None, start: str) -> timezone:
    if text is None or text in ("Z", "z"):
        return UTC
    digits = text[1:].replace(":", "")
    if int(digits[:2]) > 23 or int(digits[2:] or 0) > 59:
        raise InvalidSchedule("schedule", f"start '{start}' has an out-of-range offset")
    minutes = int(digits[:2]) * 60 + int(digits[2:] or 0)
    if minutes == 0:
        return UTC
    return timezone(timedelta(minutes=-minutes if text[0] == "-" else minutes))
