"""Cron schedules (5 fields, or 6 with seconds first) with Vixie/Debian cron's DST rule.

Matching wall times are searched field by field on bitmasks (jumping over whole months, days and
hours), one constant-offset segment of the zone at a time, so a wall time is only ever turned into
an instant at an offset known to hold there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo

from horae.schedule._base import Schedule
from horae.schedule._cron_fields import (
    DAY_OF_MONTH,
    DAY_OF_WEEK,
    HOUR,
    MACROS,
    MINUTE,
    MONTH,
    SECOND,
    parse_field,
)
from horae.schedule._errors import InvalidSchedule
from horae.schedule._instant import EPOCH_ORDINAL, from_seconds, require_aware, to_us
from horae.schedule._iso import days_in_month
from horae.schedule._zones import resolve_zone, segment_at

_MIN_SECOND = (date(1, 1, 2).toordinal() - EPOCH_ORDINAL) * 86_400
_MAX_SECOND = (date(9999, 12, 31).toordinal() - EPOCH_ORDINAL) * 86_400


def _low(mask: int) -> int:
    return (mask & -mask).bit_length() - 1


@dataclass(frozen=True, slots=True)
class CronSchedule(Schedule):
    """A cron expression in a time zone (UTC when `timezone` is empty).

    Bit v of a `*_mask` is set when value v is allowed (days of week: 0 = Sunday). When both the
    day of month and the day of week are restricted (neither starts with `*` or `?`), a day matches
    if either does; otherwise both must (Vixie cron).

    DST follows Vixie/Debian cron. A *fixed-time* job (neither minute nor hour starts with `*`)
    fires for each matching wall time once: a time skipped by a forward jump fires once at the first
    instant after the gap (several such times collapse into that one run), a repeated time fires
    the first time only. A *wildcard* job fires at every instant whose wall time matches, so it
    keeps its real interval: nothing inside a gap, both passes of a repeated hour.
    Occurrences are whole seconds and strictly increasing.
    """

    text: str
    timezone: str
    second_mask: int
    minute_mask: int
    hour_mask: int
    day_mask: int
    month_mask: int
    weekday_mask: int
    days_or: bool  # both day fields restricted: a day matches if either matches
    fixed_time: bool
    zone: tzinfo = field(repr=False)
    _by_first_weekday: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # bits 1..31 of the days whose weekday is allowed, for a month starting on each weekday
        table = tuple(
            sum(1 << d for d in range(1, 32) if self.weekday_mask >> ((first + d - 1) % 7) & 1)
            for first in range(7)
        )
        object.__setattr__(self, "_by_first_weekday", table)

    def next_after(self, instant: datetime) -> datetime | None:
        require_aware(instant)
        u = to_us(instant) // 1_000_000 + 1
        while u < _MAX_SECOND:
            seg = segment_at(self.zone, max(u, _MIN_SECOND))
            gap = self.fixed_time and seg.offset > seg.previous
            if gap and u == seg.start and self._next_wall(seg.start + seg.previous, seg.start + seg.offset):
                return from_seconds(u)
            first = u + seg.offset
            if self.fixed_time and seg.offset < seg.previous:
                first = max(first, seg.start + seg.previous)  # walls repeated here already fired
            wall = self._next_wall(first, seg.end + seg.offset)
            if wall is not None:
                return from_seconds(wall - seg.offset)
            u = seg.end
        return None

    def last_at_or_before(self, instant: datetime) -> datetime | None:
        require_aware(instant)
        u = to_us(instant) // 1_000_000
        while u >= _MIN_SECOND:
            seg = segment_at(self.zone, min(u, _MAX_SECOND))
            lowest = seg.start + seg.offset
            if self.fixed_time and seg.offset < seg.previous:
                lowest = seg.start + seg.previous
            wall = self._prev_wall(u + seg.offset, lowest)
            if wall is not None:
                return from_seconds(wall - seg.offset)
            gap = self.fixed_time and seg.offset > seg.previous
            if gap and self._next_wall(seg.start + seg.previous, seg.start + seg.offset):
                return from_seconds(seg.start)
            u = seg.start - 1
        return None

    def is_occurrence(self, instant: datetime) -> bool:
        require_aware(instant)
        return instant.microsecond == 0 and self.last_at_or_before(instant) == instant

    def _days_of(self, year: int, month: int) -> int:
        """Bits 1..31: the matching days of the month."""
        ordinal = date(year, month, 1).toordinal()
        valid = (2 << days_in_month(year, month)) - 2
        by_weekday = self._by_first_weekday[ordinal % 7]
        if self.days_or:
            return (self.day_mask | by_weekday) & valid
        return self.day_mask & by_weekday & valid

    def _next_wall(self, wall: int, limit: int) -> int | None:
        """The first matching wall time (local epoch seconds) in `[wall, limit)`, or None."""
        if wall >= limit:
            return None
        days, sod = divmod(wall, 86_400)
        d = date.fromordinal(days + EPOCH_ORDINAL)
        y, mo, dd = d.year, d.month, d.day
        h, rest = divmod(sod, 3600)
        mi, s = divmod(rest, 60)
        limit_days = (limit - 1) // 86_400 + EPOCH_ORDINAL  # last day that may hold a match
        months, hours, minutes, seconds = self.month_mask, self.hour_mask, self.minute_mask, self.second_mask
        while True:
            mm = months >> mo
            if not mm:
                y, mo, dd, h, mi, s = y + 1, _low(months), 1, 0, 0, 0
                if y > 9999:
                    return None
            elif not mm & 1:
                mo, dd, h, mi, s = mo + _low(mm), 1, 0, 0, 0
            if date(y, mo, 1).toordinal() > limit_days:
                return None
            dm = self._days_of(y, mo) >> dd
            if not dm:
                mo, dd, h, mi, s = mo + 1, 1, 0, 0, 0
                continue
            if not dm & 1:
                dd, h, mi, s = dd + _low(dm), 0, 0, 0
            ordinal = date(y, mo, dd).toordinal()
            if ordinal > limit_days:
                return None
            hm = hours >> h
            if not hm:
                dd, h, mi, s = dd + 1, 0, 0, 0
                continue
            if not hm & 1:
                h, mi, s = h + _low(hm), 0, 0
            mim = minutes >> mi
            if not mim:
                h, mi, s = h + 1, 0, 0
                continue
            if not mim & 1:
                mi, s = mi + _low(mim), 0
            sm = seconds >> s
            if not sm:
                mi, s = mi + 1, 0
                continue
            s += _low(sm)
            found = (ordinal - EPOCH_ORDINAL) * 86_400 + h * 3600 + mi * 60 + s
            return found if found < limit else None

    def _prev_wall(self, wall: int, lowest: int) -> int | None:
        """The last matching wall time (local epoch seconds) in `[lowest, wall]`, or None."""
        if wall < lowest:
            return None
        days, sod = divmod(wall, 86_400)
        d = date.fromordinal(days + EPOCH_ORDINAL)
        y, mo, dd = d.year, d.month, d.day
        h, rest = divmod(sod, 3600)
        mi, s = divmod(rest, 60)
        lowest_days = lowest // 86_400 + EPOCH_ORDINAL
        months, hours, minutes, seconds = self.month_mask, self.hour_mask, self.minute_mask, self.second_mask
        while True:
            mm = months & ((2 << mo) - 1)
            if not mm:
                y, mo, dd, h, mi, s = y - 1, months.bit_length() - 1, 31, 23, 59, 59
                if y < 1:
                    return None
            elif mm.bit_length() - 1 != mo:
                mo, dd, h, mi, s = mm.bit_length() - 1, 31, 23, 59, 59
            if date(y, mo, days_in_month(y, mo)).toordinal() < lowest_days:
                return None
            dm = self._days_of(y, mo) & ((2 << min(dd, 31)) - 1)
            if not dm:
                mo, dd, h, mi, s = mo - 1, 31, 23, 59, 59
                continue
            if dm.bit_length() - 1 != dd:
                dd, h, mi, s = dm.bit_length() - 1, 23, 59, 59
            ordinal = date(y, mo, dd).toordinal()
            if ordinal < lowest_days:
                return None
            hm = hours & ((2 << h) - 1)
            if not hm:
                dd, h, mi, s = dd - 1, 23, 59, 59
                continue
            if hm.bit_length() - 1 != h:
                h, mi, s = hm.bit_length() - 1, 59, 59
            mim = minutes & ((2 << mi) - 1)
            if not mim:
                if h == 0:
                    dd, h, mi, s = dd - 1, 23, 59, 59
                else:
                    h, mi, s = h - 1, 59, 59
                continue
            if mim.bit_length() - 1 != mi:
                mi, s = mim.bit_length() - 1, 59
            sm = seconds & ((2 << s) - 1)
            if not sm:
                if mi > 0:
                    mi, s = mi - 1, 59
                elif h > 0:
                    h, mi, s = h - 1, 59, 59
                else:
                    dd, h, mi, s = dd - 1, 23, 59, 59
                continue
            s = sm.bit_length() - 1
            found = (ordinal - EPOCH_ORDINAL) * 86_400 + h * 3600 + mi * 60 + s
            return found if found >= lowest else None


def parse_cron(text: str, timezone: str = "") -> CronSchedule:
    """Parse a cron expression; InvalidSchedule naming the field for anything cron would not accept."""
    expr = text.strip()
    if expr.startswith("@"):
        macro = MACROS.get(expr.lower())
        if macro is None:
            raise InvalidSchedule(
                "schedule", f"unknown cron macro '{expr}' (known: {', '.join(sorted(MACROS))})"
            )
        expr = macro
    fields = expr.split()
    if len(fields) == 5:
        fields.insert(0, "0")
    elif len(fields) != 6:
        raise InvalidSchedule(
            "schedule",
            f"'{text}' is neither an ISO 8601 repeating interval (R/start/period) nor a cron expression "
            f"with 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds first)",
        )
    sec, minute, hour, dom, month, dow = fields
    zone = resolve_zone(timezone) if timezone else UTC
    schedule = CronSchedule(
        text=text,
        timezone=timezone,
        second_mask=parse_field(sec, SECOND),
        minute_mask=parse_field(minute, MINUTE),
        hour_mask=parse_field(hour, HOUR),
        day_mask=parse_field(dom, DAY_OF_MONTH),
        month_mask=parse_field(month, MONTH),
        weekday_mask=parse_field(dow, DAY_OF_WEEK),
        days_or=dom[0] not in "*?" and dow[0] not in "*?",
        fixed_time=minute[0] not in "*?" and hour[0] not in "*?",
        zone=zone,
    )
    # a Gregorian calendar repeats every 400 years: no match in one cycle means none ever
    if schedule._next_wall(0, 146_097 * 86_400) is None:
        raise InvalidSchedule("schedule", f"cron expression '{text}' never matches a real date")
    return schedule
