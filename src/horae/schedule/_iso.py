"""ISO 8601 repeating intervals (`R[n]/<start>/<period>`), exactly as Chronos reads and advances them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo

from horae.model import Period, parse_period
from horae.schedule._base import Schedule
from horae.schedule._errors import InvalidSchedule
from horae.schedule._instant import format_instant, from_us, parse_start, require_aware, to_us
from horae.schedule._zones import resolve_zone, utc_of_wall

ISO_SCHEDULE = re.compile(r"R([0-9]*)/(.*)/(P.*)")
_EARLIEST = datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)
_DAY_US = 86_400_000_000
# mean Gregorian lengths, only to estimate an index that is then corrected exactly
_YEAR_US = 31_556_952_000_000
_MONTH_US = _YEAR_US // 12
_DAYS_IN_MONTH = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_NEVER = to_us(datetime.max.replace(tzinfo=UTC)) + 1  # past anything a datetime can hold


def days_in_month(year: int, month: int) -> int:
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        return 29
    return _DAYS_IN_MONTH[month]


@dataclass(frozen=True, slots=True)
class IsoSchedule(Schedule):
    """`R[n]/<start>/<period>`: occurrence k (0-based) is `start + k × period`, for k < n (all k for `R`).

    Occurrences are anchored: each is computed from the start, never by stepping from the previous
    one, so nothing drifts. The calendar part of `k × period` (years, then months, then weeks and
    days, each multiplied by k) moves the wall clock in the schedule's zone, clamping the day to the
    month's end; the wall time is then placed in the zone (a time in a DST gap moves forward by the
    gap, an ambiguous one takes its first instant) and the exact part (hours, minutes, seconds × k)
    is added as a real duration.

    `repetitions` counts occurrences in total (None = infinite, 0 = exhausted). A zero period (`P`,
    `PT0S`) has exactly one occurrence, the start, whatever the count: the schedule cannot advance.
    `start` is aware, in the schedule's zone (the scheduleTimeZone, else the start's written offset).

    Occurrences strictly increase, except where a gap longer than the period swallows one (Samoa
    skipped 30 December 2011): then two indices share an instant, which `next_after` reports once.
    """

    text: str
    timezone: str
    repetitions: int | None
    start: datetime
    period: Period
    _start_us: int = field(init=False, repr=False, compare=False)
    _wall: datetime = field(init=False, repr=False, compare=False)
    _zone: tzinfo = field(init=False, repr=False, compare=False)
    _exact_us: int = field(init=False, repr=False, compare=False)
    _days: int = field(init=False, repr=False, compare=False)
    _approx_us: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        require_aware(self.start)
        p = self.period
        exact = p.exact
        exact_us = (exact.days * 86_400 + exact.seconds) * 1_000_000 + exact.microseconds
        days = p.weeks * 7 + p.days
        approx = p.years * _YEAR_US + p.months * _MONTH_US + days * _DAY_US + exact_us
        zone = self.start.tzinfo
        assert zone is not None
        for name, value in (
            ("_start_us", to_us(self.start)),
            ("_wall", self.start.replace(tzinfo=None)),
            ("_zone", zone),
            ("_exact_us", exact_us),
            ("_days", days),
            ("_approx_us", approx),
        ):
            object.__setattr__(self, name, value)

    @property
    def is_zero_period(self) -> bool:
        return self._approx_us == 0

    @property
    def _count(self) -> int | None:
        """How many occurrences there are (None = infinitely many)."""
        if self.repetitions == 0:
            return 0
        return 1 if self.is_zero_period else self.repetitions

    def occurrence(self, k: int) -> datetime:
        """The k-th occurrence (k = 0 is the start), in UTC; IndexError outside the schedule's count."""
        count = self._count
        if k < 0 or (count is not None and k >= count):
            raise IndexError(f"occurrence {k} is outside {self.text!r} ({count} occurrences)")
        us = self._occurrence_us(k)
        if us >= _NEVER:
            raise IndexError(f"occurrence {k} of {self.text!r} is beyond the year 9999")
        return from_us(us)

    def next_after(self, instant: datetime) -> datetime | None:
        require_aware(instant)
        count = self._count
        if count == 0:
            return None
        t = to_us(instant)
        k, us = (0, self._start_us) if t < self._start_us else self._first_after(t)
        if (count is not None and k >= count) or us >= _NEVER:
            return None
        return from_us(us)

    def last_at_or_before(self, instant: datetime) -> datetime | None:
        require_aware(instant)
        count = self._count
        t = to_us(instant)
        if count == 0 or t < self._start_us:
            return None
        k = self._first_after(t)[0] - 1
        if count is not None:
            k = min(k, count - 1)
        return from_us(self._occurrence_us(k))

    def _first_after(self, t: int) -> tuple[int, int]:
        """(k, occurrence k in µs) for the smallest k whose occurrence is after t (t >= start; count ignored).

        k is estimated from the elapsed time and corrected by single steps, never found by iterating
        from the start.
        """
        if self._approx_us == 0:
            return 1, _NEVER
        elapsed = t - self._start_us
        if not (self.period.years or self.period.months or self._days):
            k = elapsed // self._exact_us + 1
            return k, self._occurrence_us(k)
        k = elapsed // self._approx_us
        while k > 0 and self._occurrence_us(k) > t:
            k -= 1
        following = self._occurrence_us(k + 1)
        while following <= t:
            k += 1
            following = self._occurrence_us(k + 1)
        return k + 1, following

    def _occurrence_us(self, k: int) -> int:
        """Occurrence k in epoch microseconds; `_NEVER` when it falls outside datetime's range."""
        if k == 0:
            return self._start_us
        p = self.period
        try:
            if p.years or p.months or self._days:
                wall = _add_calendar(self._wall, p.years * k, p.months * k, self._days * k)
                base = to_us(utc_of_wall(wall, self._zone))
            else:
                base = self._start_us
        except (OverflowError, ValueError):
            return _NEVER
        us = base + self._exact_us * k
        return us if us < _NEVER else _NEVER


def _add_calendar(wall: datetime, years: int, months: int, days: int) -> datetime:
    """Joda's order: years, then months (each clamping the day to the month's end), then days."""
    year = wall.year + years
    day = min(wall.day, days_in_month(year, wall.month)) if 1 <= year <= 9999 else wall.day
    index = year * 12 + wall.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    if not 1 <= year <= 9999:
        raise OverflowError("beyond datetime's range")
    day = min(day, days_in_month(year, month))
    return wall.replace(year=year, month=month, day=day) + timedelta(days=days)


def parse_iso(text: str, timezone: str, now: datetime | None) -> IsoSchedule:
    """Parse `R[n]/<start>/<period>`; an empty start is `now` written in as Joda would print it."""
    m = ISO_SCHEDULE.fullmatch(text)
    if m is None:
        raise InvalidSchedule("schedule", f"'{text}' is not an ISO 8601 repeating interval R[n]/start/period")
    count_text, start_text, period_text = m.groups()
    try:
        period = parse_period(period_text)
    except ValueError as e:
        raise InvalidSchedule("schedule", str(e)) from None
    if not start_text:
        if now is None:
            raise InvalidSchedule("schedule", f"'{text}' has an empty start, which needs the current time")
        require_aware(now)
        start_text = format_instant(now.astimezone(UTC))
    start = parse_start(start_text)
    if timezone:
        zone = resolve_zone(timezone)
        # Chronos's withZoneRetainFields: the written wall clock is kept, the written offset ignored
        start = utc_of_wall(start.replace(tzinfo=None), zone).astimezone(zone)
    if start < _EARLIEST:
        raise InvalidSchedule("schedule", f"start {format_instant(start)} is before 1970-01-01T00:00:01Z")
    return IsoSchedule(
        text=text,
        timezone=timezone,
        repetitions=int(count_text) if count_text else None,
        start=start,
        period=period,
    )
