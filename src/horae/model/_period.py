"""ISO 8601 periods (`PnYnMnWnDTnHnMnS`), as Joda's standard period format reads them.

Years, months, weeks and days are calendar fields (added to the wall clock of a time zone); hours,
minutes and seconds are exact. Only seconds may be fractional. `P` alone is the zero period.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from functools import lru_cache

_PERIOD = re.compile(
    r"P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?"
    r"(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:[.,]\d{1,9})?)S)?)?",
    re.ASCII,
)


@dataclass(frozen=True, slots=True)
class Period:
    years: int = 0
    months: int = 0
    weeks: int = 0
    days: int = 0
    hours: int = 0
    minutes: int = 0
    seconds: Decimal = Decimal(0)
    text: str = ""  # as written (Chronos keeps periods un-normalized: PT60M stays PT60M)

    @property
    def is_zero(self) -> bool:
        return not (self.years or self.months or self.weeks or self.days or self.hours or self.minutes) and (
            self.seconds == 0
        )

    @property
    def has_calendar_fields(self) -> bool:
        """True when it moves the wall clock (Y/M/W/D) rather than an exact duration."""
        return bool(self.years or self.months or self.weeks or self.days)

    @property
    def exact(self) -> timedelta:
        """The hours/minutes/seconds part as an exact duration."""
        return timedelta(hours=self.hours, minutes=self.minutes, microseconds=int(self.seconds * 1_000_000))

    def as_timedelta(self) -> timedelta:
        """The period as a fixed duration, counting a day as 24 h and a week as 7 days.

        Raises ValueError for years and months, which have no fixed length.
        """
        if self.years or self.months:
            raise ValueError(f"'{self.text}' has years or months, which have no fixed length")
        return timedelta(weeks=self.weeks, days=self.days) + self.exact

    def __str__(self) -> str:
        return self.text or format_period(self)


@lru_cache(maxsize=4096)  # periods are few and Period is frozen: schedules with many starts share them
def parse_period(text: str) -> Period:
    """Parse an ISO 8601 period; ValueError with the reason when it is not one."""
    m = _PERIOD.fullmatch(text)
    if m is None or text.endswith("T"):
        raise ValueError(f"'{text}' is not an ISO 8601 period such as P1D, PT1H or PT0.5S")
    y, mo, w, d, h, mi, s = m.groups()
    period = Period(
        years=int(y or 0),
        months=int(mo or 0),
        weeks=int(w or 0),
        days=int(d or 0),
        hours=int(h or 0),
        minutes=int(mi or 0),
        seconds=Decimal((s or "0").replace(",", ".")),
        text=text,
    )
    try:
        _ = timedelta(weeks=period.weeks, days=period.days) + period.exact
    except OverflowError:
        # timedelta's limit (~2.7 million years); callers expect ValueError, not OverflowError
        raise ValueError(f"'{text}' is too long to be a period") from None
    return period


def format_period(p: Period) -> str:
    dated = ((p.years, "Y"), (p.months, "M"), (p.weeks, "W"), (p.days, "D"))
    date = "".join(f"{v}{u}" for v, u in dated if v)
    secs = format(p.seconds.normalize(), "f") if p.seconds else ""
    timed = "".join(f"{v}{u}" for v, u in ((p.hours, "H"), (p.minutes, "M")) if v)
    time = timed + (f"{secs}S" if secs else "")
    return "P" + date + ("T" + time if time else "") if (date or time) else "PT0S"


def parse_duration(text: str) -> timedelta:
    """Parse an ISO 8601 duration without years or months (e.g. `PT30S`, `P1D`, `PT1H30M`)."""
    return parse_period(text).as_timedelta()


def format_duration(value: timedelta) -> str:
    """Format a duration as `P[nD]T[nH][nM][nS]`, e.g. `PT90S` → `PT1M30S`."""
    if value < timedelta(0):
        raise ValueError("negative durations have no ISO 8601 form here")
    days, rest = value.days, value.seconds
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    secs = Decimal(seconds) + Decimal(value.microseconds) / Decimal(1_000_000)
    return format_period(Period(days=days, hours=hours, minutes=minutes, seconds=secs))
