"""Cron: parsing (valid and invalid), the dom/dow rule, seconds, macros, and Vixie/Debian DST semantics."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from horae.schedule import CronSchedule, InvalidSchedule, parse_schedule, preview


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def cron(text: str, timezone: str = "") -> CronSchedule:
    schedule = parse_schedule(text, timezone)
    assert isinstance(schedule, CronSchedule)
    return schedule


def bits(mask: int) -> set[int]:
    return {v for v in range(64) if mask >> v & 1}


ALL_MINUTES = set(range(60))


@pytest.mark.parametrize(
    ("text", "field", "values"),
    [
        ("* * * * *", "minute_mask", ALL_MINUTES),
        ("* * * * *", "second_mask", {0}),
        ("*/15 * * * *", "minute_mask", {0, 15, 30, 45}),
        ("10-50/5 * * * *", "minute_mask", set(range(10, 51, 5))),
        ("5/10 * * * *", "minute_mask", {5, 15, 25, 35, 45, 55}),
        ("1,2,3-5,40-59/10 * * * *", "minute_mask", {1, 2, 3, 4, 5, 40, 50}),
        ("0 9-17 * * *", "hour_mask", set(range(9, 18))),
        ("0 0 1,15 * *", "day_mask", {1, 15}),
        ("0 0 ? * *", "day_mask", set(range(1, 32))),
        ("0 0 * JAN,jul *", "month_mask", {1, 7}),
        ("0 0 * Feb-Apr *", "month_mask", {2, 3, 4}),
        ("0 0 * */3 *", "month_mask", {1, 4, 7, 10}),
        ("0 0 * * MON-FRI", "weekday_mask", {1, 2, 3, 4, 5}),
        ("0 0 * * 7", "weekday_mask", {0}),
        ("0 0 * * 0", "weekday_mask", {0}),
        ("0 0 * * 5-7", "weekday_mask", {5, 6, 0}),
        ("0 0 * * sun-sat", "weekday_mask", set(range(7))),
        ("0 0 * * *", "weekday_mask", set(range(7))),
        ("0 0 * * ?", "weekday_mask", set(range(7))),
        ("*/20 * * * * *", "second_mask", {0, 20, 40}),
        ("7 * * * * *", "minute_mask", ALL_MINUTES),
        ("  0   12 * * *  ", "hour_mask", {12}),
    ],
)
def test_parse_fields(text: str, field: str, values: set[int]) -> None:
    assert bits(getattr(cron(text), field)) == values


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("60 * * * *", "cron field 'minute' value 60 is out of range 0-59"),
        ("* 25 * * *", "cron field 'hour' value 25 is out of range 0-23"),
        ("* * 0 * *", "cron field 'day of month' value 0 is out of range 1-31"),
        ("* * 32 * *", "cron field 'day of month' value 32 is out of range 1-31"),
        ("* * * 13 *", "cron field 'month' value 13 is out of range 1-12"),
        ("* * * 0 *", "cron field 'month' value 0 is out of range 1-12"),
        ("* * * * 8", "cron field 'day of week' value 8 is out of range 0-7"),
        ("61 * * * * *", "cron field 'second' value 61 is out of range 0-59"),
        ("* * * FOO *", "cron field 'month' has an invalid value 'FOO'"),
        ("MON * * * *", "cron field 'minute' has an invalid value 'MON'"),
        ("* * * * MONDAY", "cron field 'day of week' has an invalid value 'MONDAY'"),
        ("*/0 * * * *", "cron field 'minute' step '0' must be a positive integer"),
        ("*/x * * * *", "cron field 'minute' step 'x' must be a positive integer"),
        ("5-2 * * * *", "cron field 'minute' range 5-2 ends before it starts"),
        ("* * * * FRI-MON", "cron field 'day of week' range FRI-MON ends before it starts"),
        ("1,,2 * * * *", "cron field 'minute' has an invalid item ''"),
        ("1-2-3 * * * *", "cron field 'minute' has an invalid item '1-2-3'"),
        ("* L * * *", "cron field 'hour' has an invalid value 'L'"),
        ("* * * *", "5 fields"),
        ("* * * * * * *", "5 fields"),
        ("", "5 fields"),
        ("R5/2012", "5 fields"),
        ("@reboot", "unknown cron macro '@reboot'"),
        ("@every 5m", "unknown cron macro"),
        ("0 0 30 2 *", "never matches"),
        ("0 0 31 4,6,9,11 *", "never matches"),
    ],
)
def test_invalid_cron(text: str, message: str) -> None:
    with pytest.raises(InvalidSchedule) as e:
        parse_schedule(text)
    assert e.value.field == "schedule"
    assert message in e.value.message


def test_unknown_cron_zone() -> None:
    with pytest.raises(InvalidSchedule) as e:
        parse_schedule("* * * * *", "Atlantis/Capital")
    assert e.value.field == "scheduleTimeZone"


def test_leap_day_only_is_valid() -> None:
    assert preview("0 0 29 2 *", "", utc(2026, 1, 1), 2) == [utc(2028, 2, 29), utc(2032, 2, 29)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # both restricted: either matches (Fridays or the 13th)
        ("0 0 13 * 5", [utc(2026, 1, 2), utc(2026, 1, 9), utc(2026, 1, 13), utc(2026, 1, 16)]),
        ("0 0 13 * FRI", [utc(2026, 1, 2), utc(2026, 1, 9), utc(2026, 1, 13), utc(2026, 1, 16)]),
        # a field starting with * counts as unrestricted in Vixie cron: then both must match
        ("0 0 */2 * 5", [utc(2026, 1, 9), utc(2026, 1, 23), utc(2026, 2, 13), utc(2026, 2, 27)]),
        ("0 0 13 * *", [utc(2026, 1, 13), utc(2026, 2, 13), utc(2026, 3, 13), utc(2026, 4, 13)]),
        ("0 0 13 * ?", [utc(2026, 1, 13), utc(2026, 2, 13), utc(2026, 3, 13), utc(2026, 4, 13)]),
        ("0 0 * * 5", [utc(2026, 1, 2), utc(2026, 1, 9), utc(2026, 1, 16), utc(2026, 1, 23)]),
        ("0 0 ? * 5", [utc(2026, 1, 2), utc(2026, 1, 9), utc(2026, 1, 16), utc(2026, 1, 23)]),
    ],
)
def test_day_of_month_or_day_of_week(text: str, expected: list[datetime]) -> None:
    assert preview(text, "", utc(2026, 1, 1), 4) == expected


@pytest.mark.parametrize(
    ("macro", "first", "fixed"),
    [
        ("@yearly", utc(2027, 1, 1), True),
        ("@annually", utc(2027, 1, 1), True),
        ("@monthly", utc(2026, 7, 1), True),
        ("@weekly", utc(2026, 6, 7), True),  # 2026-06-01 is a Monday
        ("@daily", utc(2026, 6, 2), True),
        ("@midnight", utc(2026, 6, 2), True),
        ("@hourly", utc(2026, 6, 1, 1), False),
        ("@DAILY", utc(2026, 6, 2), True),
    ],
)
def test_macros(macro: str, first: datetime, fixed: bool) -> None:
    schedule = cron(macro)
    assert schedule.text == macro
    assert schedule.fixed_time is fixed
    assert schedule.next_after(utc(2026, 6, 1)) == first


def test_six_fields_put_seconds_first() -> None:
    assert preview("*/20 * * * * *", "", utc(2026, 1, 1), 4) == [
        utc(2026, 1, 1, 0, 0, 20),
        utc(2026, 1, 1, 0, 0, 40),
        utc(2026, 1, 1, 0, 1, 0),
        utc(2026, 1, 1, 0, 1, 20),
    ]
    assert preview("30 15 10 * * *", "", utc(2026, 1, 1), 2) == [
        utc(2026, 1, 1, 10, 15, 30),
        utc(2026, 1, 2, 10, 15, 30),
    ]


@pytest.mark.parametrize(
    ("text", "fixed"),
    [
        ("30 2 * * *", True),
        ("0,30 1-3 * * *", True),
        ("*/15 * * * *", False),
        ("*/30 2 * * *", False),
        ("0 * * * *", False),
        ("0 */2 * * *", False),
        ("0 ? * * *", False),
        ("* 30 2 * * *", True),  # seconds do not count
        ("0 30 * * * *", False),
    ],
)
def test_fixed_time_or_wildcard(text: str, fixed: bool) -> None:
    assert cron(text).fixed_time is fixed


def test_strictly_after_and_at_or_before() -> None:
    schedule = cron("*/15 * * * *")
    assert schedule.next_after(utc(2026, 1, 1, 0, 15)) == utc(2026, 1, 1, 0, 30)
    assert schedule.next_after(datetime(2026, 1, 1, 0, 14, 59, 999_999, tzinfo=UTC)) == utc(2026, 1, 1, 0, 15)
    assert schedule.last_at_or_before(utc(2026, 1, 1, 0, 15)) == utc(2026, 1, 1, 0, 15)
    assert schedule.last_at_or_before(datetime(2026, 1, 1, 0, 15, 0, 1, tzinfo=UTC)) == utc(2026, 1, 1, 0, 15)
    assert schedule.is_occurrence(utc(2026, 1, 1, 0, 15))
    assert not schedule.is_occurrence(datetime(2026, 1, 1, 0, 15, 0, 1, tzinfo=UTC))
    assert not schedule.is_occurrence(utc(2026, 1, 1, 0, 16))


def test_results_are_utc_whatever_the_input_zone() -> None:
    schedule = cron("0 12 * * *", "Europe/Paris")
    after = datetime(2026, 1, 1, 12, tzinfo=UTC).astimezone(ZoneInfo("Asia/Tokyo"))
    found = schedule.next_after(after)
    assert found == utc(2026, 1, 2, 11)
    assert found is not None and found.tzinfo is UTC


def test_time_zone_moves_the_wall_clock() -> None:
    assert cron("0 9 * * *", "Europe/Paris").next_after(utc(2026, 1, 1)) == utc(2026, 1, 1, 8)
    assert cron("0 9 * * *", "Asia/Kolkata").next_after(utc(2026, 1, 1)) == utc(2026, 1, 1, 3, 30)
    assert cron("0 9 * * *", "+02:00").next_after(utc(2026, 1, 1)) == utc(2026, 1, 1, 7)
    assert cron("0 9 * * *").next_after(utc(2026, 1, 1)) == utc(2026, 1, 1, 9)


# DST: (zone, expression, after, expected occurrences)
DST_CASES = [
    # New York, forward 2026-03-08 at 07:00Z: 02:00..02:59 do not exist
    (
        "America/New_York",
        "30 2 * * *",
        utc(2026, 3, 7),
        [utc(2026, 3, 7, 7, 30), utc(2026, 3, 8, 7), utc(2026, 3, 9, 6, 30)],
    ),
    (
        "America/New_York",
        "0,30 2 * * *",
        utc(2026, 3, 8),
        [utc(2026, 3, 8, 7), utc(2026, 3, 9, 6), utc(2026, 3, 9, 6, 30)],
    ),
    (
        "America/New_York",
        "0,30 2,3 * * *",
        utc(2026, 3, 8),
        [utc(2026, 3, 8, 7), utc(2026, 3, 8, 7, 30), utc(2026, 3, 9, 6)],
    ),
    ("America/New_York", "0 3 * * *", utc(2026, 3, 8), [utc(2026, 3, 8, 7), utc(2026, 3, 9, 7)]),
    (
        "America/New_York",
        "15,45 30 2 * * *",
        utc(2026, 3, 8),
        [utc(2026, 3, 8, 7), utc(2026, 3, 9, 6, 30, 15)],
    ),
    (
        "America/New_York",
        "*/30 * * * *",
        utc(2026, 3, 8, 5, 45),
        [utc(2026, 3, 8, 6), utc(2026, 3, 8, 6, 30), utc(2026, 3, 8, 7), utc(2026, 3, 8, 7, 30)],
    ),
    (
        "America/New_York",
        "*/15 2 * * *",
        utc(2026, 3, 7, 7, 45),
        [utc(2026, 3, 9, 6), utc(2026, 3, 9, 6, 15)],
    ),
    # New York, back 2026-11-01 at 06:00Z: 01:00..01:59 happen twice
    ("America/New_York", "30 1 * * *", utc(2026, 11, 1), [utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30)]),
    (
        "America/New_York",
        "0 1,2 * * *",
        utc(2026, 11, 1),
        [utc(2026, 11, 1, 5), utc(2026, 11, 1, 7), utc(2026, 11, 2, 6)],
    ),
    (
        "America/New_York",
        "*/30 1 * * *",
        utc(2026, 11, 1),
        [
            utc(2026, 11, 1, 5),
            utc(2026, 11, 1, 5, 30),
            utc(2026, 11, 1, 6),
            utc(2026, 11, 1, 6, 30),
            utc(2026, 11, 2, 6),
        ],
    ),
    (
        "America/New_York",
        "0 * * * *",
        utc(2026, 11, 1, 4, 30),
        [utc(2026, 11, 1, 5), utc(2026, 11, 1, 6), utc(2026, 11, 1, 7)],
    ),
    (
        "America/New_York",
        "*/15 * * * *",
        utc(2026, 11, 1, 5, 50),
        [utc(2026, 11, 1, 6), utc(2026, 11, 1, 6, 15), utc(2026, 11, 1, 6, 30)],
    ),
    # Paris, forward 2026-03-29 at 01:00Z (02:00 → 03:00)
    (
        "Europe/Paris",
        "30 2 * * *",
        utc(2026, 3, 28),
        [utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1), utc(2026, 3, 30, 0, 30)],
    ),
    (
        "Europe/Paris",
        "*/20 * * * *",
        utc(2026, 3, 29, 0, 10),
        [utc(2026, 3, 29, 0, 20), utc(2026, 3, 29, 0, 40), utc(2026, 3, 29, 1), utc(2026, 3, 29, 1, 20)],
    ),
    ("Europe/Paris", "*/20 2 * * *", utc(2026, 3, 28, 2), [utc(2026, 3, 30, 0), utc(2026, 3, 30, 0, 20)]),
    # Paris, back 2026-10-25 at 01:00Z (03:00 → 02:00)
    ("Europe/Paris", "30 2 * * *", utc(2026, 10, 25), [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]),
    (
        "Europe/Paris",
        "*/30 2 * * *",
        utc(2026, 10, 24, 23),
        [utc(2026, 10, 25, 0), utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1), utc(2026, 10, 25, 1, 30)],
    ),
    # Sydney, forward 2026-10-04 at 16:00Z the day before (02:00 → 03:00)
    (
        "Australia/Sydney",
        "30 2 * * *",
        utc(2026, 10, 2),
        [utc(2026, 10, 2, 16, 30), utc(2026, 10, 3, 16), utc(2026, 10, 4, 15, 30)],
    ),
    (
        "Australia/Sydney",
        "*/30 * * * *",
        utc(2026, 10, 3, 15, 15),
        [utc(2026, 10, 3, 15, 30), utc(2026, 10, 3, 16), utc(2026, 10, 3, 16, 30)],
    ),
    # Sydney, back 2026-04-05 at 16:00Z the day before (03:00 → 02:00)
    ("Australia/Sydney", "30 2 * * *", utc(2026, 4, 4), [utc(2026, 4, 4, 15, 30), utc(2026, 4, 5, 16, 30)]),
    (
        "Australia/Sydney",
        "*/30 2 * * *",
        utc(2026, 4, 4, 14),
        [utc(2026, 4, 4, 15), utc(2026, 4, 4, 15, 30), utc(2026, 4, 4, 16), utc(2026, 4, 4, 16, 30)],
    ),
    # Lord Howe moves by 30 minutes; St John's sits at -03:30 / -02:30
    (
        "Australia/Lord_Howe",
        "15 2 * * *",
        utc(2026, 10, 3),
        [utc(2026, 10, 3, 15, 30), utc(2026, 10, 4, 15, 15)],
    ),
    (
        "America/St_Johns",
        "30 2 * * *",
        utc(2026, 3, 7),
        [utc(2026, 3, 7, 6), utc(2026, 3, 8, 5, 30), utc(2026, 3, 9, 5)],
    ),
]


@pytest.mark.parametrize(("zone", "text", "after", "expected"), DST_CASES)
def test_dst(zone: str, text: str, after: datetime, expected: list[datetime]) -> None:
    assert preview(text, zone, after, len(expected)) == expected
    schedule = cron(text, zone)
    for earlier, later in itertools.pairwise(expected):
        assert schedule.last_at_or_before(later - timedelta(microseconds=1)) == earlier
        assert schedule.last_at_or_before(later) == later
        assert schedule.is_occurrence(later)


def test_a_skipped_day_runs_a_fixed_job_once_at_its_end() -> None:
    # Samoa (Joda's MIT) skipped 30 Dec 2011: local time jumped at 10:00Z from the 29th to the 31st
    assert preview("0 12 * * *", "MIT", utc(2011, 12, 29), 3) == [
        utc(2011, 12, 29, 22),
        utc(2011, 12, 30, 10),
        utc(2011, 12, 30, 22),
    ]
    assert preview("0 */6 * * *", "MIT", utc(2011, 12, 30, 3), 2) == [
        utc(2011, 12, 30, 4),
        utc(2011, 12, 30, 10),
    ]


def test_repeated_hour_runs_a_fixed_job_once() -> None:
    schedule = cron("30 1 * * *", "America/New_York")
    assert schedule.last_at_or_before(utc(2026, 11, 1, 7)) == utc(2026, 11, 1, 5, 30)
    assert not schedule.is_occurrence(utc(2026, 11, 1, 6, 30))


def test_skipped_hour_runs_a_fixed_job_at_the_end_of_the_gap() -> None:
    schedule = cron("30 2 * * *", "America/New_York")
    assert schedule.last_at_or_before(utc(2026, 3, 8, 12)) == utc(2026, 3, 8, 7)
    assert schedule.last_at_or_before(utc(2026, 3, 8, 6, 59, 59)) == utc(2026, 3, 7, 7, 30)


def test_far_future_and_far_past() -> None:
    assert cron("0 0 1 1 *", "Europe/Paris").next_after(utc(9999, 6, 1)) is None
    assert cron("0 0 2 1 *").last_at_or_before(datetime(1, 1, 1, 12, tzinfo=UTC)) is None
    assert cron("0 0 1 1 *").last_at_or_before(datetime(1, 6, 1, tzinfo=UTC)) == datetime(1, 1, 1, tzinfo=UTC)
    assert cron("0 0 1 1 *", "America/New_York").next_after(utc(2999, 6, 1)) == utc(3000, 1, 1, 5)
