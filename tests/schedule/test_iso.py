"""ISO 8601 repeating intervals: Chronos's examples (reference §3), counting, calendar arithmetic, DST."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from horae.schedule import InvalidSchedule, IsoSchedule, format_instant, parse_schedule, pin_start, preview


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def iso(text: str, timezone: str = "", now: datetime | None = None) -> IsoSchedule:
    schedule = parse_schedule(text, timezone, now=now)
    assert isinstance(schedule, IsoSchedule)
    return schedule


def occurrences(text: str, timezone: str = "", count: int = 4) -> list[datetime]:
    schedule = iso(text, timezone)
    return [schedule.occurrence(k) for k in range(count)]


def test_chronos_skip_forward_example() -> None:
    # reference §3.3: launched at 2024-06-15T10:00:30Z → R/2024-06-15T10:01:01.000Z/PT1M
    schedule = iso("R/2012-01-01T00:00:01.000Z/PT1M")
    assert schedule.next_after(utc(2024, 6, 15, 10, 0, 30)) == utc(2024, 6, 15, 10, 1, 1)
    assert schedule.last_at_or_before(utc(2024, 6, 15, 10, 0, 30)) == utc(2024, 6, 15, 10, 0, 1)


def test_chronos_example_job_start() -> None:
    schedule = iso("R/2030-01-01T00:00:00Z/PT1H")
    assert schedule.start == utc(2030, 1, 1)
    assert schedule.repetitions is None
    assert str(schedule.period) == "PT1H"
    assert schedule.next_after(utc(2029, 12, 31)) == utc(2030, 1, 1)


def test_schedule_time_zone_keeps_wall_clock_edt_vs_pst() -> None:
    written = "R/2012-06-01T12:00:00.000-04:00/P1D"  # EDT in the text
    assert iso(written).start == utc(2012, 6, 1, 16)
    in_pst = iso(written, "PST")  # the zone wins; 12:00 stays 12:00, now Pacific daylight time
    assert in_pst.start == utc(2012, 6, 1, 19)
    assert format_instant(in_pst.start) == "2012-06-01T12:00:00.000-07:00"
    assert in_pst.occurrence(1) == utc(2012, 6, 2, 19)


def test_bst_means_dhaka() -> None:
    schedule = iso("R/2012-06-01T12:00:00Z/P1D", "BST")
    assert schedule.start == utc(2012, 6, 1, 6)
    assert format_instant(schedule.start) == "2012-06-01T12:00:00.000+06:00"


def test_without_zone_the_start_keeps_its_written_offset() -> None:
    schedule = iso("R/2012-03-01T13:00:00.000+01:00/P1D")
    assert schedule.start.utcoffset() == timedelta(hours=1)
    assert format_instant(schedule.start) == "2012-03-01T13:00:00.000+01:00"
    assert schedule.occurrence(1) == utc(2012, 3, 2, 12)


@pytest.mark.parametrize(
    ("period", "first"),
    [
        ("P1Y", utc(2013, 1, 31, 10)),
        ("P1M", utc(2012, 2, 29, 10)),
        ("P1W", utc(2012, 2, 7, 10)),
        ("P1D", utc(2012, 2, 1, 10)),
        ("PT1H", utc(2012, 1, 31, 11)),
        ("PT1M", utc(2012, 1, 31, 10, 1)),
        ("PT1S", utc(2012, 1, 31, 10, 0, 1)),
        ("PT0.5S", datetime(2012, 1, 31, 10, 0, 0, 500_000, tzinfo=UTC)),
        ("PT90M", utc(2012, 1, 31, 11, 30)),
        ("P1Y2M3W4DT5H6M7.5S", datetime(2013, 4, 25, 15, 6, 7, 500_000, tzinfo=UTC)),
    ],
)
def test_every_period_unit(period: str, first: datetime) -> None:
    schedule = iso(f"R/2012-01-31T10:00:00Z/{period}")
    assert schedule.occurrence(1) == first
    assert schedule.next_after(schedule.start) == first


def test_month_end_clamps_but_never_drifts() -> None:
    assert occurrences("R/2013-01-31T00:00:00Z/P1M", count=5) == [
        utc(2013, 1, 31),
        utc(2013, 2, 28),
        utc(2013, 3, 31),  # Jan 31 + 2×P1M, not Feb 28 + P1M
        utc(2013, 4, 30),
        utc(2013, 5, 31),
    ]
    assert occurrences("R/2012-01-31T00:00:00Z/P1M", count=2)[1] == utc(2012, 2, 29)


def test_leap_day_plus_a_year() -> None:
    assert occurrences("R/2012-02-29T00:00:00Z/P1Y", count=5) == [
        utc(2012, 2, 29),
        utc(2013, 2, 28),
        utc(2014, 2, 28),
        utc(2015, 2, 28),
        utc(2016, 2, 29),
    ]


def test_years_then_months_as_joda_adds_them() -> None:
    # +1Y clamps Feb 29 to Feb 28, then +1M gives Mar 28 (not Mar 29)
    assert occurrences("R/2020-02-29T00:00:00Z/P1Y1M", count=2)[1] == utc(2021, 3, 28)


def test_fractional_seconds() -> None:
    assert occurrences("R/2012-01-01T00:00:00.250Z/PT0.5S", count=3) == [
        datetime(2012, 1, 1, 0, 0, 0, 250_000, tzinfo=UTC),
        datetime(2012, 1, 1, 0, 0, 0, 750_000, tzinfo=UTC),
        datetime(2012, 1, 1, 0, 0, 1, 250_000, tzinfo=UTC),
    ]


def test_r0_is_exhausted() -> None:
    schedule = iso("R0/2012-01-01T00:00:00Z/PT1H")
    assert schedule.repetitions == 0
    assert schedule.next_after(utc(2000, 1, 1)) is None
    assert schedule.last_at_or_before(utc(2030, 1, 1)) is None
    assert not schedule.is_occurrence(utc(2012, 1, 1))
    with pytest.raises(IndexError):
        schedule.occurrence(0)


def test_r1_is_the_start_only() -> None:
    schedule = iso("R1/2012-01-01T00:00:00Z/PT1H")
    assert schedule.next_after(utc(2011, 1, 1)) == utc(2012, 1, 1)
    assert schedule.next_after(utc(2012, 1, 1)) is None
    assert schedule.last_at_or_before(utc(2030, 1, 1)) == utc(2012, 1, 1)
    with pytest.raises(IndexError):
        schedule.occurrence(1)


def test_rn_counts_occurrences_in_total() -> None:
    assert preview("R3/2012-01-01T00:00:00Z/PT1H", "", utc(2000, 1, 1), 10) == [
        utc(2012, 1, 1, 0),
        utc(2012, 1, 1, 1),
        utc(2012, 1, 1, 2),
    ]
    schedule = iso("R3/2012-01-01T00:00:00Z/PT1H")
    assert schedule.last_at_or_before(utc(2030, 1, 1)) == utc(2012, 1, 1, 2)
    assert schedule.next_after(utc(2012, 1, 1, 2)) is None


def test_infinite_repetitions() -> None:
    schedule = iso("R/2012-01-01T00:00:00Z/P1D")
    assert schedule.next_after(utc(2999, 1, 1, 12)) == utc(2999, 1, 2)


@pytest.mark.parametrize(
    "text", ["R5/2012-01-01T00:00:00Z/PT0S", "R/2012-01-01T00:00:00Z/P", "R/2012-01-01T00:00Z/P0D"]
)
def test_zero_period_has_one_occurrence(text: str) -> None:
    schedule = iso(text)
    assert schedule.next_after(utc(2011, 1, 1)) == utc(2012, 1, 1)
    assert schedule.next_after(utc(2012, 1, 1)) is None
    assert schedule.last_at_or_before(utc(2030, 1, 1)) == utc(2012, 1, 1)
    assert preview(text, "", utc(2000, 1, 1), 5) == [utc(2012, 1, 1)]


def test_empty_start_is_now() -> None:
    now = datetime(2026, 5, 4, 3, 2, 1, 987_654, tzinfo=UTC)
    schedule = iso("R5//PT1H", now=now)
    assert schedule.start == datetime(2026, 5, 4, 3, 2, 1, 987_000, tzinfo=UTC)  # Joda keeps ms
    assert schedule.text == "R5//PT1H"
    assert schedule.repetitions == 5
    assert pin_start("R5//PT1H", now) == "R5/2026-05-04T03:02:01.987Z/PT1H"
    assert iso(pin_start("R5//PT1H", now)).start == schedule.start


def test_empty_start_with_a_zone_keeps_the_utc_wall_clock_like_a_pinned_start() -> None:
    now = utc(2026, 1, 10, 12)
    schedule = iso("R//P1D", "Europe/Paris", now=now)
    assert schedule.start == utc(2026, 1, 10, 11)
    assert schedule.start == iso(pin_start("R//P1D", now), "Europe/Paris").start


def test_empty_start_without_now_is_an_error() -> None:
    with pytest.raises(InvalidSchedule, match="empty start"):
        parse_schedule("R//PT1H")


@pytest.mark.parametrize(
    ("text", "now"),
    [("R/2012-01-01T00:00:00Z/PT1H", utc(2026, 1, 1)), ("*/5 * * * *", utc(2026, 1, 1))],
)
def test_pin_start_leaves_other_schedules_alone(text: str, now: datetime) -> None:
    assert pin_start(text, now) == text


@pytest.mark.parametrize(
    ("text", "timezone"),
    [
        ("R/1969-12-31T23:59:59Z/PT1S", ""),
        ("R/1970-01-01T00:00:00Z/PT1S", ""),
        ("R/1970-01-01T01:00:00+01:00/P1D", ""),
        ("R/1970-01-01T00:00:30Z/P1D", "Europe/Paris"),
        ("R/1900-01-01/P1D", ""),
    ],
)
def test_before_1970_is_rejected(text: str, timezone: str) -> None:
    with pytest.raises(InvalidSchedule, match="before 1970") as e:
        parse_schedule(text, timezone)
    assert e.value.field == "schedule"


def test_first_second_of_1970_is_accepted() -> None:
    assert iso("R/1970-01-01T00:00:01Z/PT1S").start == utc(1970, 1, 1, 0, 0, 1)


def test_unknown_zone_is_rejected() -> None:
    with pytest.raises(InvalidSchedule) as e:
        parse_schedule("R/2012-01-01T00:00:00Z/P1D", "Nowhere/Land")
    assert e.value.field == "scheduleTimeZone"
    assert "Nowhere/Land" in e.value.message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("R/2012-01-01T00:00:00Z/P1X", "ISO 8601 period"),
        ("R/2012-01-01T00:00:00Z/PT", "ISO 8601 period"),
        ("R/2012-02-30T00:00:00Z/P1D", "not a valid date-time"),
        ("R/tomorrow/P1D", "not an ISO 8601 date-time"),
        ("R/2012-01-01/PT1H/extra", "ISO 8601 period"),
    ],
)
def test_invalid_iso(text: str, message: str) -> None:
    with pytest.raises(InvalidSchedule, match=message) as e:
        parse_schedule(text)
    assert e.value.field == "schedule"


# DST: a calendar period keeps the local time, an exact one keeps the real interval.
@pytest.mark.parametrize(
    ("zone", "start", "p1d", "pt24h"),
    [
        (
            "Europe/Paris",  # forward 2026-03-29
            "2026-03-27T13:00:00",
            [utc(2026, 3, 27, 12), utc(2026, 3, 28, 12), utc(2026, 3, 29, 11), utc(2026, 3, 30, 11)],
            [utc(2026, 3, 27, 12), utc(2026, 3, 28, 12), utc(2026, 3, 29, 12), utc(2026, 3, 30, 12)],
        ),
        (
            "Europe/Paris",  # back 2026-10-25
            "2026-10-23T13:00:00",
            [utc(2026, 10, 23, 11), utc(2026, 10, 24, 11), utc(2026, 10, 25, 12), utc(2026, 10, 26, 12)],
            [utc(2026, 10, 23, 11), utc(2026, 10, 24, 11), utc(2026, 10, 25, 11), utc(2026, 10, 26, 11)],
        ),
        (
            "America/New_York",  # forward 2026-03-08
            "2026-03-06T13:00:00",
            [utc(2026, 3, 6, 18), utc(2026, 3, 7, 18), utc(2026, 3, 8, 17), utc(2026, 3, 9, 17)],
            [utc(2026, 3, 6, 18), utc(2026, 3, 7, 18), utc(2026, 3, 8, 18), utc(2026, 3, 9, 18)],
        ),
        (
            "America/New_York",  # back 2026-11-01
            "2026-10-30T13:00:00",
            [utc(2026, 10, 30, 17), utc(2026, 10, 31, 17), utc(2026, 11, 1, 18), utc(2026, 11, 2, 18)],
            [utc(2026, 10, 30, 17), utc(2026, 10, 31, 17), utc(2026, 11, 1, 17), utc(2026, 11, 2, 17)],
        ),
        (
            "Australia/Sydney",  # back 2026-04-05
            "2026-04-03T13:00:00",
            [utc(2026, 4, 3, 2), utc(2026, 4, 4, 2), utc(2026, 4, 5, 3), utc(2026, 4, 6, 3)],
            [utc(2026, 4, 3, 2), utc(2026, 4, 4, 2), utc(2026, 4, 5, 2), utc(2026, 4, 6, 2)],
        ),
        (
            "Australia/Sydney",  # forward 2026-10-04
            "2026-10-02T13:00:00",
            [utc(2026, 10, 2, 3), utc(2026, 10, 3, 3), utc(2026, 10, 4, 2), utc(2026, 10, 5, 2)],
            [utc(2026, 10, 2, 3), utc(2026, 10, 3, 3), utc(2026, 10, 4, 3), utc(2026, 10, 5, 3)],
        ),
    ],
)
def test_dst_calendar_day_vs_24_hours(
    zone: str, start: str, p1d: list[datetime], pt24h: list[datetime]
) -> None:
    assert occurrences(f"R/{start}/P1D", zone) == p1d
    assert occurrences(f"R/{start}/PT24H", zone) == pt24h
    assert preview(f"R/{start}/P1D", zone, p1d[0] - timedelta(seconds=1), 4) == p1d


def test_start_in_a_gap_moves_forward_by_the_gap() -> None:
    schedule = iso("R/2026-03-08T02:30:00/P1D", "America/New_York")
    assert schedule.start == utc(2026, 3, 8, 7, 30)
    assert format_instant(schedule.start) == "2026-03-08T03:30:00.000-04:00"
    assert schedule.occurrence(1) == utc(2026, 3, 9, 7, 30)  # 03:30 local, as Joda's start became


def test_occurrence_falling_in_a_gap_moves_forward_then_returns() -> None:
    assert occurrences("R/2026-03-07T02:30:00/P1D", "America/New_York", 3) == [
        utc(2026, 3, 7, 7, 30),  # 02:30 EST
        utc(2026, 3, 8, 7, 30),  # 02:30 does not exist: 03:30 EDT
        utc(2026, 3, 9, 6, 30),  # 02:30 EDT
    ]


def test_ambiguous_wall_time_takes_the_first_instant() -> None:
    assert occurrences("R/2026-10-31T01:30:00/P1D", "America/New_York", 3) == [
        utc(2026, 10, 31, 5, 30),
        utc(2026, 11, 1, 5, 30),  # 01:30 EDT, the first of the two
        utc(2026, 11, 2, 6, 30),
    ]
    assert occurrences("R/2026-11-01T01:30:00/PT1H", "America/New_York", 3) == [
        utc(2026, 11, 1, 5, 30),
        utc(2026, 11, 1, 6, 30),
        utc(2026, 11, 1, 7, 30),
    ]


def test_dst_month_period_keeps_local_time() -> None:
    assert occurrences("R/2026-02-15T09:00:00/P1M", "Europe/Paris", 3) == [
        utc(2026, 2, 15, 8),
        utc(2026, 3, 15, 8),
        utc(2026, 4, 15, 7),
    ]


def test_index_is_found_arithmetically() -> None:
    every_second = iso("R/2012-01-01T00:00:01.000Z/PT1S")
    monthly = iso("R/2012-01-31T00:00:00Z/P1M", "Europe/Paris")
    t = datetime(2026, 6, 15, 10, 0, 30, 5, tzinfo=UTC)
    began = time.perf_counter()
    for _ in range(100):
        assert every_second.next_after(t) == utc(2026, 6, 15, 10, 0, 31)
        assert monthly.next_after(t) == utc(2026, 6, 29, 22)
    assert (time.perf_counter() - began) / 100 < 0.001


def test_occurrence_beyond_year_9999_ends_the_schedule() -> None:
    schedule = iso("R/2012-01-01T00:00:00Z/P5000Y")
    assert schedule.next_after(utc(2012, 1, 1)) == utc(7012, 1, 1)
    assert schedule.next_after(utc(7012, 1, 1)) is None
    with pytest.raises(IndexError):
        schedule.occurrence(2)


def test_naive_instants_are_refused() -> None:
    schedule = iso("R/2012-01-01T00:00:00Z/P1D")
    with pytest.raises(ValueError, match="naive"):
        schedule.next_after(datetime(2012, 1, 1))


def test_parsing_is_cached_and_schedules_are_values() -> None:
    a = parse_schedule("R/2012-01-01T00:00:00Z/P1D", "Europe/Paris")
    assert parse_schedule("R/2012-01-01T00:00:00Z/P1D", "Europe/Paris") is a
    assert len({a, iso("R/2012-01-01T00:00:00Z/P1D", "Europe/Paris")}) == 1
    assert a != iso("R/2012-01-01T00:00:00Z/P1D", "Europe/Berlin")
    with pytest.raises(AttributeError):
        a.text = "changed"  # type: ignore[misc]


def test_a_skipped_day_makes_two_indices_share_an_instant() -> None:
    # Samoa (Joda's MIT) went from 29 Dec 2011 23:59:59 -10:00 to 31 Dec 00:00 +14:00
    schedule = iso("R/2011-12-29T12:00:00/P1D", "MIT")
    assert schedule.occurrence(1) == schedule.occurrence(2) == utc(2011, 12, 30, 22)
    assert preview(schedule.text, "MIT", utc(2011, 12, 29), 3) == [
        utc(2011, 12, 29, 22),
        utc(2011, 12, 30, 22),
        utc(2011, 12, 31, 22),
    ]
