"""The public surface others code against."""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path

import pytest

import horae.schedule
from horae.schedule import CronSchedule, InvalidSchedule, IsoSchedule, Schedule, parse_schedule

PUBLIC = {
    "CronSchedule",
    "InvalidSchedule",
    "IsoSchedule",
    "Schedule",
    "format_instant",
    "parse_schedule",
    "pin_start",
    "preview",
    "resolve_zone",
}


def test_all_matches_the_public_names() -> None:
    assert set(horae.schedule.__all__) == PUBLIC
    assert sorted(horae.schedule.__all__) == horae.schedule.__all__
    assert {name for name in dir(horae.schedule) if not name.startswith("_")} == PUBLIC


def test_imports_only_the_stdlib_and_the_model() -> None:
    package = Path(horae.schedule.__file__).parent
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("horae"):
                assert node.module == "horae.model" or node.module.startswith("horae.schedule"), path
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                assert node.func.attr not in {"now", "utcnow", "today", "time"}, f"{path} reads the clock"


def test_invalid_schedule_is_a_value_error_with_field_and_message() -> None:
    with pytest.raises(ValueError, match="hour") as e:
        parse_schedule("0 25 * * *")
    assert isinstance(e.value, InvalidSchedule)
    assert e.value.field == "schedule"
    assert e.value.message == "cron field 'hour' value 25 is out of range 0-23"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("R/2012-01-01T00:00:00Z/PT1H", IsoSchedule),
        ("R10/2012-01-01T00:00:00Z/P1D", IsoSchedule),
        ("*/5 * * * *", CronSchedule),
        ("@daily", CronSchedule),
        ("0 0 * * * *", CronSchedule),
    ],
)
def test_iso_or_cron_by_full_regex_match(text: str, kind: type[Schedule]) -> None:
    schedule = parse_schedule(text)
    assert isinstance(schedule, kind)
    assert isinstance(schedule, Schedule)
    assert schedule.text == text
    assert schedule.timezone == ""
    hash(schedule)


@pytest.mark.parametrize(
    "text", ["R/2012-01-01T00:00:00Z/1D", "XR/2012/P1D", "R/2012-01-01T00:00:00Z", "r/2012/P1D"]
)
def test_text_that_is_not_a_full_iso_match_is_read_as_cron(text: str) -> None:
    with pytest.raises(InvalidSchedule, match="neither an ISO 8601 repeating interval"):
        parse_schedule(text)


def test_cron_schedules_are_cached_values() -> None:
    a = parse_schedule("0 9 * * MON-FRI", "Europe/Paris")
    assert parse_schedule("0 9 * * MON-FRI", "Europe/Paris") is a
    assert parse_schedule("0 9 * * MON-FRI", "ECT") != a  # same zone, but written differently


def test_now_is_ignored_when_the_start_is_written() -> None:
    text = "R/2012-01-01T00:00:00Z/PT1H"
    assert parse_schedule(text, now=datetime(2030, 1, 1, tzinfo=UTC)) is parse_schedule(text)
