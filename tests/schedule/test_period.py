"""horae.model's ISO 8601 periods, as the schedule package relies on them."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from horae.model import Period, format_period, parse_duration, parse_period


@pytest.mark.parametrize(
    ("text", "fields", "exact"),
    [
        ("P", {}, timedelta(0)),
        ("PT0S", {}, timedelta(0)),
        ("P1Y", {"years": 1}, timedelta(0)),
        ("P2M", {"months": 2}, timedelta(0)),
        ("P3W", {"weeks": 3}, timedelta(0)),
        ("P4D", {"days": 4}, timedelta(0)),
        ("PT5H", {"hours": 5}, timedelta(hours=5)),
        ("PT6M", {"minutes": 6}, timedelta(minutes=6)),
        ("PT7S", {"seconds": Decimal(7)}, timedelta(seconds=7)),
        ("PT0.5S", {"seconds": Decimal("0.5")}, timedelta(milliseconds=500)),
        ("PT0,25S", {"seconds": Decimal("0.25")}, timedelta(milliseconds=250)),
        ("PT60M", {"minutes": 60}, timedelta(hours=1)),
        ("PT36H", {"hours": 36}, timedelta(hours=36)),
        (
            "P1Y2M3W4DT5H6M7.5S",
            {
                "years": 1,
                "months": 2,
                "weeks": 3,
                "days": 4,
                "hours": 5,
                "minutes": 6,
                "seconds": Decimal("7.5"),
            },
            timedelta(hours=5, minutes=6, seconds=7.5),
        ),
    ],
)
def test_parses_every_unit(text: str, fields: dict[str, object], exact: timedelta) -> None:
    period = parse_period(text)
    assert period == Period(**fields, text=text)  # type: ignore[arg-type]
    assert period.exact == exact
    assert str(period) == text  # kept as written: PT60M stays PT60M


@pytest.mark.parametrize(
    ("text", "zero", "calendar"),
    [
        ("P", True, False),
        ("PT0S", True, False),
        ("P0D", True, False),
        ("P1D", False, True),
        ("PT1S", False, False),
    ],
)
def test_zero_and_calendar_flags(text: str, zero: bool, calendar: bool) -> None:
    assert parse_period(text).is_zero is zero
    assert parse_period(text).has_calendar_fields is calendar


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1D",
        "PT",
        "P1DT",
        "P1.5D",
        "PT1.5M",
        "P-1D",
        "p1d",
        "PT1S2M",
        "P1D1Y",
        "PXD",
        "P 1D",
        "PT1H ",
        "P1DT1",
    ],
)
def test_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="ISO 8601 period"):
        parse_period(text)


@pytest.mark.parametrize("text", ["PT99999999999999H", "P9999999999999D", "P999999999999W"])
def test_too_long_is_a_value_error_not_an_overflow(text: str) -> None:
    with pytest.raises(ValueError, match="too long"):
        parse_period(text)


def test_years_are_unbounded_integers() -> None:
    assert parse_period("P99999999999Y").years == 99_999_999_999


def test_as_timedelta_refuses_months() -> None:
    with pytest.raises(ValueError, match="no fixed length"):
        parse_period("P1M").as_timedelta()
    assert parse_period("P1W1DT1H").as_timedelta() == timedelta(days=8, hours=1)
    assert parse_duration("PT1H30M") == timedelta(minutes=90)


@pytest.mark.parametrize(
    ("period", "text"),
    [
        (Period(), "PT0S"),
        (Period(seconds=Decimal("100")), "PT100S"),
        (Period(seconds=Decimal("0.50")), "PT0.5S"),
        (Period(days=1, hours=2), "P1DT2H"),
        (Period(years=1, minutes=3), "P1YT3M"),
    ],
)
def test_format(period: Period, text: str) -> None:
    assert format_period(period) == text


_periods = st.builds(
    Period,
    years=st.integers(0, 50),
    months=st.integers(0, 50),
    weeks=st.integers(0, 50),
    days=st.integers(0, 400),
    hours=st.integers(0, 100),
    minutes=st.integers(0, 100),
    seconds=st.decimals(0, 1000, places=3),
)


@given(_periods)
def test_format_then_parse_round_trips(period: Period) -> None:
    again = parse_period(format_period(period))
    assert (again.years, again.months, again.weeks, again.days, again.hours, again.minutes) == (
        period.years,
        period.months,
        period.weeks,
        period.days,
        period.hours,
        period.minutes,
    )
    assert again.seconds == period.seconds
