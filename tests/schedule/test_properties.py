"""Properties: ordering, consistency of the three queries, no drift, and cron against a brute-force scan."""

from __future__ import annotations

import calendar
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from horae.model import Period, format_period
from horae.schedule import CronSchedule, InvalidSchedule, IsoSchedule, Schedule, parse_schedule, preview

US = timedelta(microseconds=1)
NAIVE_EPOCH = datetime(1970, 1, 1)

# ---------------------------------------------------------------- cron against a brute-force scan


@dataclass(frozen=True)
class Field:
    text: str
    values: frozenset[int]


def _field(lo: int, hi: int, names: tuple[str, ...] = ()) -> st.SearchStrategy[Field]:
    def item(draw: st.DrawFn) -> tuple[str, set[int]]:
        kind = draw(st.sampled_from(["value", "range", "step", "range-step", "start-step", "name"]))
        a, b = sorted((draw(st.integers(lo, hi)), draw(st.integers(lo, hi))))
        s = draw(st.integers(1, hi - lo + 1))
        if kind == "value":
            return str(a), {a}
        if kind == "range":
            return f"{a}-{b}", set(range(a, b + 1))
        if kind == "step":
            return f"*/{s}", set(range(lo, hi + 1, s))
        if kind == "range-step":
            return f"{a}-{b}/{s}", set(range(a, b + 1, s))
        if kind == "start-step":
            return f"{a}/{s}", set(range(a, hi + 1, s))
        if names and a - lo < len(names):
            return names[a - lo].lower() if draw(st.booleans()) else names[a - lo], {a}
        return str(a), {a}

    @st.composite
    def build(draw: st.DrawFn) -> Field:
        if draw(st.integers(0, 4)) == 0:
            return Field("*", frozenset(range(lo, hi + 1)))
        items = [item(draw) for _ in range(draw(st.integers(1, 3)))]
        values = set().union(*(v for _, v in items))
        return Field(",".join(t for t, _ in items), frozenset(values))

    return build()


_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


@dataclass(frozen=True)
class Expression:
    fields: tuple[Field, ...]  # second (or None-like "0"), minute, hour, dom, month, dow

    @property
    def text(self) -> str:
        return " ".join(f.text for f in self.fields)

    def matcher(self) -> Callable[[int], bool]:
        sec, minute, hour, dom, month, dow = (f.values for f in self.fields)
        weekdays = {v % 7 for v in dow}
        either = not self.fields[3].text.startswith("*") and not self.fields[5].text.startswith("*")

        def matches(wall: int) -> bool:
            t = NAIVE_EPOCH + timedelta(seconds=wall)
            if t.second not in sec or t.minute not in minute or t.hour not in hour or t.month not in month:
                return False
            by_dom, by_dow = t.day in dom, (t.weekday() + 1) % 7 in weekdays
            return (by_dom or by_dow) if either else (by_dom and by_dow)

        return matches

    @property
    def fixed_time(self) -> bool:
        return not self.fields[1].text.startswith("*") and not self.fields[2].text.startswith("*")


def _expressions(with_seconds: bool) -> st.SearchStrategy[Expression]:
    seconds = _field(0, 59) if with_seconds else st.just(Field("0", frozenset({0})))
    return st.builds(
        lambda *fields: Expression(tuple(fields)),
        seconds,
        _field(0, 59),
        _field(0, 23),
        _field(1, 31),
        _field(1, 12, _MONTH_NAMES),
        _field(0, 7, _DAY_NAMES),
    )


# (zone, an instant at or near an offset change)
TRANSITIONS = [
    ("Europe/Paris", datetime(2026, 3, 29, 1, tzinfo=UTC)),
    ("Europe/Paris", datetime(2026, 10, 25, 1, tzinfo=UTC)),
    ("America/New_York", datetime(2026, 3, 8, 7, tzinfo=UTC)),
    ("America/New_York", datetime(2026, 11, 1, 6, tzinfo=UTC)),
    ("Australia/Sydney", datetime(2026, 4, 4, 16, tzinfo=UTC)),
    ("Australia/Sydney", datetime(2026, 10, 3, 16, tzinfo=UTC)),
    ("Australia/Lord_Howe", datetime(2026, 4, 4, 15, tzinfo=UTC)),
    ("Australia/Lord_Howe", datetime(2026, 10, 3, 15, 30, tzinfo=UTC)),
    ("America/St_Johns", datetime(2026, 11, 1, 2, 30, tzinfo=UTC)),
    ("UTC", datetime(2026, 6, 15, tzinfo=UTC)),
]


def _seconds(t: datetime) -> int:
    return (t - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(seconds=1)


def _reference(expr: Expression, zone: str, start: int, end: int, step: int) -> list[int]:
    """Vixie/Debian semantics spelled out naively over UTC instants `start, start+step, … < end`."""
    tz = ZoneInfo(zone)
    matches = expr.matcher()
    found: list[int] = []
    previous: int | None = None
    highest: int | None = None
    for u in range(start, end, step):
        local = datetime.fromtimestamp(u, tz).replace(tzinfo=None)
        wall = (local - NAIVE_EPOCH) // timedelta(seconds=1)
        if expr.fixed_time:
            skipped = previous is not None and any(matches(w) for w in range(previous + step, wall, step))
            first_pass = highest is None or wall > highest
            hit = skipped or (first_pass and matches(wall))
            highest = wall if highest is None else max(highest, wall)
        else:
            hit = matches(wall)
        previous = wall
        if hit:
            found.append(u)
    return found


def _iterate(schedule: Schedule, start: int, end: int) -> list[int]:
    found: list[int] = []
    t: datetime | None = datetime.fromtimestamp(start - 1, UTC)
    while True:
        assert t is not None
        t = schedule.next_after(t)
        if t is None or _seconds(t) >= end:
            return found
        assert t.tzinfo is UTC
        found.append(_seconds(t))


def _parse_or_skip(text: str, zone: str) -> CronSchedule:
    try:
        schedule = parse_schedule(text, zone)
    except InvalidSchedule as e:
        assert "never matches" in e.message
        assume(False)
        raise
    assert isinstance(schedule, CronSchedule)
    return schedule


def _check_against_scan(expr: Expression, zone: str, start: int, end: int, step: int) -> None:
    schedule = _parse_or_skip(expr.text, zone)
    assert schedule.fixed_time is expr.fixed_time
    expected = _reference(expr, zone, start, end, step)
    assert _iterate(schedule, start, end) == expected
    for earlier, later in itertools.pairwise(expected):
        at = datetime.fromtimestamp(later, UTC)
        assert schedule.last_at_or_before(at) == at
        assert schedule.last_at_or_before(at - US) == datetime.fromtimestamp(earlier, UTC)
    for u in expected[:50]:
        assert schedule.is_occurrence(datetime.fromtimestamp(u, UTC))
        assert not schedule.is_occurrence(datetime.fromtimestamp(u, UTC) + US)


@settings(max_examples=80, deadline=None)
@given(_expressions(with_seconds=False), st.sampled_from(TRANSITIONS), st.integers(-6, 6))
def test_cron_matches_a_minute_by_minute_scan(
    expr: Expression, transition: tuple[str, datetime], shift_hours: int
) -> None:
    zone, at = transition
    middle = _seconds(at) + shift_hours * 3600
    _check_against_scan(expr, zone, middle - 36 * 3600, middle + 36 * 3600, 60)


@settings(max_examples=25, deadline=None)
@given(_expressions(with_seconds=True), st.sampled_from(TRANSITIONS))
def test_six_field_cron_matches_a_second_by_second_scan(
    expr: Expression, transition: tuple[str, datetime]
) -> None:
    zone, at = transition
    _check_against_scan(expr, zone, _seconds(at) - 2 * 3600, _seconds(at) + 2 * 3600, 1)


# ---------------------------------------------------------------- ISO 8601

ZONES = ["", "UTC", "Europe/Paris", "America/New_York", "Australia/Sydney", "Australia/Lord_Howe", "PST"]

_periods = st.builds(
    Period,
    years=st.sampled_from([0, 0, 0, 1, 2]),
    months=st.sampled_from([0, 0, 0, 1, 3, 13]),
    weeks=st.sampled_from([0, 0, 0, 1, 2]),
    days=st.sampled_from([0, 0, 1, 1, 7, 31]),
    hours=st.sampled_from([0, 0, 1, 24, 25]),
    minutes=st.sampled_from([0, 0, 1, 15, 90]),
    seconds=st.sampled_from([Decimal(0), Decimal(0), Decimal(1), Decimal("0.25"), Decimal("59.5")]),
)
_starts = st.datetimes(datetime(1971, 1, 1), datetime(2040, 1, 1)).map(
    lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000)
)


def _iso(start: datetime, period: Period, zone: str, count: str = "") -> IsoSchedule:
    text = f"R{count}/{start.isoformat(timespec='milliseconds')}/{format_period(period)}"
    schedule = parse_schedule(text, zone)
    assert isinstance(schedule, IsoSchedule)
    return schedule


def _expected_occurrence(start: datetime, period: Period, zone: str, k: int) -> datetime:
    """start + k × period, spelled out independently: years, months (clamped), days, then exact time."""
    wall = start
    year = wall.year + period.years * k
    day = min(wall.day, calendar.monthrange(year, wall.month)[1])
    months = year * 12 + wall.month - 1 + period.months * k
    year, month = months // 12, months % 12 + 1
    day = min(day, calendar.monthrange(year, month)[1])
    wall = wall.replace(year=year, month=month, day=day) + timedelta(
        days=(period.weeks * 7 + period.days) * k
    )
    tz = ZoneInfo({"": "UTC", "PST": "America/Los_Angeles"}.get(zone, zone))
    exact = timedelta(hours=period.hours, minutes=period.minutes, seconds=float(period.seconds))
    return wall.replace(tzinfo=tz, fold=0).astimezone(UTC) + exact * k


@settings(max_examples=150, deadline=None)
@given(_starts, _periods, st.sampled_from(ZONES), st.integers(0, 2000))
def test_iso_occurrences_are_anchored_and_consistent(
    start: datetime, period: Period, zone: str, far: int
) -> None:
    assume(not period.is_zero)
    schedule = _iso(start, period, zone)
    first = [schedule.occurrence(k) for k in range(12)]
    assert all(a < b for a, b in itertools.pairwise(first))
    stepped: list[datetime] = []
    t = first[0] - US
    for _ in range(12):
        found = schedule.next_after(t)
        assert found is not None
        stepped.append(found)
        t = found
    assert stepped == first  # iterating arrives exactly where the anchored formula does
    for k in (*range(12), far):
        occ = schedule.occurrence(k)
        assert occ == _expected_occurrence(start, period, zone, k)
        assert schedule.next_after(occ - US) == occ
        assert schedule.next_after(occ) == schedule.occurrence(k + 1)
        assert schedule.last_at_or_before(occ) == occ
        assert schedule.last_at_or_before(schedule.occurrence(k + 1) - US) == occ
        assert schedule.is_occurrence(occ)
        assert not schedule.is_occurrence(occ + US)


@settings(max_examples=150, deadline=None)
@given(_starts, _periods, st.sampled_from(ZONES), st.datetimes(datetime(1970, 6, 1), datetime(2200, 1, 1)))
def test_iso_next_and_last_bracket_any_instant(
    start: datetime, period: Period, zone: str, at: datetime
) -> None:
    schedule = _iso(start, period, zone)
    t = at.replace(tzinfo=UTC)
    after, before = schedule.next_after(t), schedule.last_at_or_before(t)
    assert after is None or after > t
    if before is None:
        assert after == schedule.start.astimezone(UTC)
    else:
        assert before <= t
        assert schedule.next_after(before) == after
        assert schedule.is_occurrence(before)
    if after is not None:
        assert schedule.last_at_or_before(after) == after
        assert schedule.last_at_or_before(after - US) == before


@settings(max_examples=100, deadline=None)
@given(_starts, _periods, st.sampled_from(ZONES), st.integers(0, 6))
def test_iso_counts_occurrences_in_total(start: datetime, period: Period, zone: str, n: int) -> None:
    schedule = _iso(start, period, zone, str(n))
    found = preview(schedule.text, zone, start.replace(tzinfo=UTC) - timedelta(days=2), 20)
    assert len(found) == (min(n, 1) if period.is_zero else n)
    if found:
        assert schedule.last_at_or_before(datetime(9000, 1, 1, tzinfo=UTC)) == found[-1]


# ---------------------------------------------------------------- preview


@settings(max_examples=60, deadline=None)
@given(
    st.one_of(
        _expressions(with_seconds=False).map(lambda e: e.text),
        _expressions(with_seconds=True).map(lambda e: e.text),
        st.tuples(_starts, _periods).map(
            lambda sp: f"R/{sp[0].isoformat(timespec='milliseconds')}/{format_period(sp[1])}"
        ),
    ),
    st.sampled_from(ZONES),
    st.datetimes(datetime(1990, 1, 1), datetime(2050, 1, 1)).map(lambda d: d.replace(tzinfo=UTC)),
    st.integers(0, 30),
)
def test_preview_is_next_after_iterated(text: str, zone: str, after: datetime, count: int) -> None:
    try:
        schedule = parse_schedule(text, zone)
    except InvalidSchedule as e:
        assert "never matches" in e.message
        return
    expected: list[datetime] = []
    t: datetime | None = after
    while len(expected) < count:
        assert t is not None
        t = schedule.next_after(t)
        if t is None:
            break
        expected.append(t)
    assert preview(text, zone, after, count) == expected
    assert all(a < b for a, b in itertools.pairwise(expected))
    assert all(d.tzinfo is UTC for d in expected)


def test_reference_scan_itself_knows_the_dst_rule() -> None:
    """Guard the oracle: fixed-time 02:30 in New York's spring gap fires once at 03:00 EDT."""
    fields = ("0", "30", "2", "*", "*", "*")
    expr = Expression(
        tuple(
            Field(t, frozenset({int(t)}) if t != "*" else frozenset(range(lo, hi + 1)))
            for t, (lo, hi) in zip(fields, [(0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (0, 7)], strict=True)
        )
    )
    start = _seconds(datetime(2026, 3, 8, tzinfo=UTC))
    assert _reference(expr, "America/New_York", start, start + 86_400, 60) == [
        _seconds(datetime(2026, 3, 8, 7, tzinfo=UTC))
    ]
    assert date(2026, 3, 8).weekday() == 6
