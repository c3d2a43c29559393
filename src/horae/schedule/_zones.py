"""Time zones by name (IANA ids and the Joda/Java legacy aliases) and their constant-offset segments.

A segment is a span of UTC seconds `[start, end)` during which a zone's offset does not change.
Cron iteration walks segments so that it only ever maps wall times to instants at a known offset.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from horae.schedule._errors import InvalidSchedule
from horae.schedule._instant import EPOCH, EPOCH_ORDINAL

# Joda DateTimeZone.getConvertedId: what Chronos (via java.util.TimeZone) means by these ids.
LEGACY_ALIASES: dict[str, str] = {
    "PST": "America/Los_Angeles",
    "EST": "America/New_York",
    "MST": "America/Denver",
    "HST": "Pacific/Honolulu",
    "CST": "America/Chicago",
    "BST": "Asia/Dhaka",
    "IST": "Asia/Kolkata",
    "ECT": "Europe/Paris",
    "JST": "Asia/Tokyo",
    "CTT": "Asia/Shanghai",
    "AET": "Australia/Sydney",
    "ACT": "Australia/Darwin",
    "AGT": "America/Argentina/Buenos_Aires",
    "BET": "America/Sao_Paulo",
    "ART": "Africa/Cairo",
    "CAT": "Africa/Harare",
    "EAT": "Africa/Addis_Ababa",
    "NET": "Asia/Yerevan",
    "PLT": "Asia/Karachi",
    "VST": "Asia/Ho_Chi_Minh",
    "SST": "Pacific/Guadalcanal",
    "NST": "Pacific/Auckland",
    "MIT": "Pacific/Apia",
    "AST": "America/Anchorage",
    "PNT": "America/Phoenix",
    "PRT": "America/Puerto_Rico",
    "CNT": "America/St_Johns",
    "IET": "America/Indiana/Indianapolis",
}
_UTC_NAMES = frozenset({"UTC", "Z", "GMT", "UT", "Etc/UTC", "Etc/GMT", "Etc/UCT", "UCT", "Zulu", "Etc/Zulu"})
# `+02:00`, `-0530`, `+02` (Joda forID) and `GMT+2`, `UTC-05:30` (java.util.TimeZone custom ids)
_FIXED = re.compile(r"(?:GMT|UTC)?([+-])(\d{1,2})(?::?(\d{2}))?", re.ASCII)
# host-dependent names: a job must mean the same thing on every machine
_REJECTED = frozenset({"localtime", "posixrules", "Factory"})


@lru_cache(maxsize=1024)
def resolve_zone(name: str) -> tzinfo:
    """The zone a `scheduleTimeZone` names; InvalidSchedule(field="scheduleTimeZone") if unknown.

    Deliberately stricter than Chronos, which silently falls back to UTC for names it does not know.
    """
    if name in _UTC_NAMES:
        return UTC
    fixed = _FIXED.fullmatch(name)
    if fixed is not None:
        sign, hours, minutes = fixed.groups()
        if int(hours) > 23 or int(minutes or 0) > 59:
            raise InvalidSchedule("scheduleTimeZone", f"offset '{name}' is out of range")
        delta = timedelta(hours=int(hours), minutes=int(minutes or 0))
        return timezone(-delta if sign == "-" else delta) if delta else UTC
    key = LEGACY_ALIASES.get(name, name)
    if not key or key in _REJECTED:
        raise InvalidSchedule("scheduleTimeZone", f"unknown time zone '{name}'")
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidSchedule(
            "scheduleTimeZone", f"unknown time zone '{name}' (use an IANA name such as Europe/Paris)"
        ) from None


class Segment(NamedTuple):
    """UTC seconds `[start, end)` at `offset`; `previous` is the offset just before `start`."""

    start: int
    end: int
    offset: int
    previous: int


_FAR_PAST = -(10**13)
_FAR_FUTURE = 10**13
# datetime cannot hold instants whose local time falls outside years 1..9999
_SAFE_LOW = (date(1, 1, 3).toordinal() - EPOCH_ORDINAL) * 86_400
_SAFE_HIGH = (date(9999, 12, 29).toordinal() - EPOCH_ORDINAL) * 86_400
# a change undone within one step would be missed; real zones keep an offset for weeks at least
_SAMPLE = 6 * 3600


def segment_at(zone: tzinfo, second: int) -> Segment:
    """The constant-offset segment of `zone` that contains the UTC instant `second`.

    Segments are cut at every offset change and also at each 1 January UTC (where the offset may
    not change: then `previous == offset`), so that transitions are cached per (zone, year).
    """
    if isinstance(zone, timezone):
        off = _offset_at(zone, 0)
        return Segment(_FAR_PAST, _FAR_FUTURE, off, off)
    second = min(max(second, _SAFE_LOW), _SAFE_HIGH)
    year = date.fromordinal(second // 86_400 + EPOCH_ORDINAL).year
    before, instants, offsets = _transitions(zone, year)
    i = bisect_right(instants, second)
    end = instants[i] if i < len(instants) else _year_start(year + 1)
    if i == 0:
        return Segment(_year_start(year), end, before, before)
    return Segment(instants[i - 1], end, offsets[i - 1], offsets[i - 2] if i >= 2 else before)


def _year_start(year: int) -> int:
    """UTC second of 1 January 00:00 of `year`, for any year (date() stops at 9999)."""
    y = year - 1
    return (y * 365 + y // 4 - y // 100 + y // 400 + 1 - EPOCH_ORDINAL) * 86_400


def _offset_at(zone: tzinfo, second: int) -> int:
    second = min(max(second, _SAFE_LOW), _SAFE_HIGH)
    offset = (EPOCH + timedelta(seconds=second)).astimezone(zone).utcoffset()
    assert offset is not None
    return offset.days * 86_400 + offset.seconds


@lru_cache(maxsize=8192)
def _transitions(zone: tzinfo, year: int) -> tuple[int, tuple[int, ...], tuple[int, ...]]:
    """(offset just before the year, instants of offset changes in the year, offset after each)."""
    if year < 1 or year > 9999:
        return _offset_at(zone, 0), (), ()
    lo, hi = _year_start(year), _year_start(year + 1)
    first = _offset_at(zone, lo - 1) if year > 1 else _offset_at(zone, lo)
    instants: list[int] = []
    offsets: list[int] = []
    prev_t, prev_off = lo - 1, first
    t = lo
    while True:
        t = min(t, hi - 1)
        off = _offset_at(zone, t)
        if off != prev_off:
            a, b = prev_t, t  # offset(a) == prev_off, offset(b) != prev_off
            while b - a > 1:
                mid = (a + b) // 2
                if _offset_at(zone, mid) == prev_off:
                    a = mid
                else:
                    b = mid
            instants.append(b)
            offsets.append(_offset_at(zone, b))
            prev_t, prev_off = b, offsets[-1]
            if off != prev_off:  # two changes inside one sample step
                continue
        prev_t, prev_off = t, off
        if t >= hi - 1:
            break
        t += _SAMPLE
    return first, tuple(instants), tuple(offsets)


def utc_of_wall(wall: datetime, zone: tzinfo) -> datetime:
    """The instant of a naive wall time in `zone`: a time in a gap moves forward by the gap,
    an ambiguous time takes its first (earlier) instant."""
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
