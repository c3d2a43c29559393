"""Zone names, start instants as Joda reads them, and instants as Joda writes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from horae.schedule import InvalidSchedule, format_instant, resolve_zone
from horae.schedule._instant import parse_start
from horae.schedule._zones import LEGACY_ALIASES, segment_at

ALIASES = {
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


@pytest.mark.parametrize(("alias", "iana"), sorted(ALIASES.items()))
def test_joda_legacy_aliases(alias: str, iana: str) -> None:
    zone = resolve_zone(alias)
    assert isinstance(zone, ZoneInfo)
    assert zone.key == iana


def test_alias_table_is_exactly_the_documented_one() -> None:
    assert LEGACY_ALIASES == ALIASES


def test_bst_is_dhaka_not_british_summer_time() -> None:
    assert datetime(2012, 7, 1, tzinfo=resolve_zone("BST")).utcoffset() == timedelta(hours=6)


@pytest.mark.parametrize("name", ["UTC", "GMT", "Z", "Etc/UTC"])
def test_utc_names(name: str) -> None:
    assert resolve_zone(name) is UTC


@pytest.mark.parametrize(
    ("name", "offset"),
    [
        ("+02:00", timedelta(hours=2)),
        ("-05:30", timedelta(hours=-5, minutes=-30)),
        ("+0100", timedelta(hours=1)),
        ("GMT+2", timedelta(hours=2)),
        ("UTC-03:00", timedelta(hours=-3)),
    ],
)
def test_fixed_offsets(name: str, offset: timedelta) -> None:
    assert resolve_zone(name) == timezone(offset)


@pytest.mark.parametrize("name", ["Europe/Paris", "America/New_York", "Australia/Sydney", "Asia/Kathmandu"])
def test_iana_names(name: str) -> None:
    zone = resolve_zone(name)
    assert isinstance(zone, ZoneInfo)
    assert zone.key == name


@pytest.mark.parametrize(
    "name", ["", "Mars/Olympus", "europe/paris ", "localtime", "../etc/passwd", "+25:00", "+02:99", "PDT"]
)
def test_unknown_zones_are_rejected(name: str) -> None:
    with pytest.raises(InvalidSchedule) as e:
        resolve_zone(name)
    assert e.value.field == "scheduleTimeZone"
    assert repr(name.strip()) in e.value.message or name in e.value.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2008-03-01", datetime(2008, 3, 1, tzinfo=UTC)),
        ("2008-03", datetime(2008, 3, 1, tzinfo=UTC)),
        ("2008", datetime(2008, 1, 1, tzinfo=UTC)),
        ("2008-03-01T13", datetime(2008, 3, 1, 13, tzinfo=UTC)),
        ("2008-03-01T13:00Z", datetime(2008, 3, 1, 13, tzinfo=UTC)),
        ("2008-03-01T13:00:00.000+01:00", datetime(2008, 3, 1, 12, tzinfo=UTC)),
        ("2008-03-01T13:00:00+0100", datetime(2008, 3, 1, 12, tzinfo=UTC)),
        ("2008-03-01T13:00:00-05", datetime(2008, 3, 1, 18, tzinfo=UTC)),
        ("2008-03-01T13:00:00.5Z", datetime(2008, 3, 1, 13, 0, 0, 500_000, tzinfo=UTC)),
        ("2008-03-01T13:00:00,25Z", datetime(2008, 3, 1, 13, 0, 0, 250_000, tzinfo=UTC)),
        ("2008-03-01T13:00:00.123456789Z", datetime(2008, 3, 1, 13, 0, 0, 123_000, tzinfo=UTC)),  # Joda: ms
        ("2008-03-01T13:30.5Z", datetime(2008, 3, 1, 13, 30, 30, tzinfo=UTC)),
        ("2008-03-01T13.25Z", datetime(2008, 3, 1, 13, 15, tzinfo=UTC)),
        ("2008-061", datetime(2008, 3, 1, tzinfo=UTC)),
        ("2008-W09-6", datetime(2008, 3, 1, tzinfo=UTC)),
        ("2008-03-01t13:00z", datetime(2008, 3, 1, 13, tzinfo=UTC)),
    ],
)
def test_parse_start_joda_forms(text: str, expected: datetime) -> None:
    parsed = parse_start(text)
    assert parsed == expected
    assert parsed.utcoffset() is not None


def test_parse_start_keeps_the_written_offset() -> None:
    assert parse_start("2008-03-01T13:00+01:00").utcoffset() == timedelta(hours=1)
    assert parse_start("2008-03-01T13:00").tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    [
        "2008-13-01",
        "2008-02-30",
        "2008-03-01T24:00",
        "2008-03-01T12:60",
        "2008-03-01T12:00:60",
        "2008-03-01 12:00",
        "2008-367",
        "2008-000",
        "2008-W54",
        "yesterday",
        "2008-03-01T12:00+24:00",
        "2008-03-01T12:00+01:75",
        "08-03-01",
    ],
)
def test_parse_start_rejects(text: str) -> None:
    with pytest.raises(InvalidSchedule) as e:
        parse_start(text)
    assert e.value.field == "schedule"
    assert text in e.value.message


@pytest.mark.parametrize(
    ("instant", "text"),
    [
        (datetime(2030, 1, 1, tzinfo=UTC), "2030-01-01T00:00:00.000Z"),
        (datetime(2030, 1, 1, 1, 2, 3, 456_789, tzinfo=UTC), "2030-01-01T01:02:03.456Z"),
        (datetime(2012, 6, 1, 12, tzinfo=ZoneInfo("America/Los_Angeles")), "2012-06-01T12:00:00.000-07:00"),
        (
            datetime(2012, 6, 1, 12, tzinfo=timezone(timedelta(hours=5, minutes=30))),
            "2012-06-01T12:00:00.000+05:30",
        ),
        (datetime(2012, 1, 1, tzinfo=ZoneInfo("Europe/London")), "2012-01-01T00:00:00.000Z"),
    ],
)
def test_format_instant(instant: datetime, text: str) -> None:
    assert format_instant(instant) == text


def test_format_instant_refuses_naive() -> None:
    with pytest.raises(ValueError, match="naive"):
        format_instant(datetime(2030, 1, 1))


@pytest.mark.parametrize(
    ("zone", "transition", "before", "after"),
    [
        ("Europe/Paris", datetime(2026, 3, 29, 1, tzinfo=UTC), 3600, 7200),
        ("Europe/Paris", datetime(2026, 10, 25, 1, tzinfo=UTC), 7200, 3600),
        ("America/New_York", datetime(2026, 3, 8, 7, tzinfo=UTC), -18000, -14400),
        ("America/New_York", datetime(2026, 11, 1, 6, tzinfo=UTC), -14400, -18000),
        ("Australia/Sydney", datetime(2026, 4, 4, 16, tzinfo=UTC), 39600, 36000),
        ("Australia/Sydney", datetime(2026, 10, 3, 16, tzinfo=UTC), 36000, 39600),
        ("Australia/Lord_Howe", datetime(2026, 10, 3, 15, 30, tzinfo=UTC), 37800, 39600),
    ],
)
def test_segments_are_cut_exactly_at_transitions(
    zone: str, transition: datetime, before: int, after: int
) -> None:
    t = int(transition.timestamp())
    seg = segment_at(resolve_zone(zone), t)
    assert (seg.start, seg.offset, seg.previous) == (t, after, before)
    earlier = segment_at(resolve_zone(zone), t - 1)
    assert (earlier.end, earlier.offset) == (t, before)


def test_segments_of_a_zone_without_dst_are_whole_years() -> None:
    t = int(datetime(2026, 6, 1, tzinfo=UTC).timestamp())
    seg = segment_at(resolve_zone("Asia/Tokyo"), t)
    assert seg.offset == seg.previous == 9 * 3600
    assert seg.start == int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
    assert seg.end == int(datetime(2027, 1, 1, tzinfo=UTC).timestamp())
