"""Cron fields as bitmasks: lists, ranges, steps, names, `*` and `?`, validated with clear messages."""

from __future__ import annotations

import re
from dataclasses import dataclass

from horae.schedule._errors import InvalidSchedule

MACROS: dict[str, str] = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_ITEM = re.compile(
    r"(?:(?P<star>[*?])|(?P<lo>[0-9]+|[A-Za-z]+)(?:-(?P<hi>[0-9]+|[A-Za-z]+))?)(?:/(?P<step>.*))?"
)


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()  # names[i] means low + i

    def value(self, token: str) -> int:
        if token.isdigit():
            v = int(token)
        elif token.upper() in self.names:
            v = self.names.index(token.upper()) + self.low
        else:
            hint = f" (names: {self.names[0]}-{self.names[-1]})" if self.names else ""
            raise InvalidSchedule(
                "schedule", f"cron field '{self.name}' has an invalid value '{token}'{hint}"
            )
        if not self.low <= v <= self.high:
            raise InvalidSchedule(
                "schedule", f"cron field '{self.name}' value {v} is out of range {self.low}-{self.high}"
            )
        return v


SECOND = FieldSpec("second", 0, 59)
MINUTE = FieldSpec("minute", 0, 59)
HOUR = FieldSpec("hour", 0, 23)
DAY_OF_MONTH = FieldSpec("day of month", 1, 31)
MONTH = FieldSpec("month", 1, 12, _MONTHS)
# 7 is Sunday as well as 0; names map SUN..SAT to 0..6
DAY_OF_WEEK = FieldSpec("day of week", 0, 7, _DAYS)


def parse_field(text: str, spec: FieldSpec) -> int:
    """The set of values `text` allows, as a bitmask (bit v set = value v allowed)."""
    mask = 0
    for item in text.split(","):
        m = _ITEM.fullmatch(item)
        if m is None:
            raise InvalidSchedule("schedule", f"cron field '{spec.name}' has an invalid item '{item}'")
        lo, hi = spec.low, spec.high
        if m["lo"] is not None:
            lo = spec.value(m["lo"])
            # `5/10` means 5 to the end, stepping by 10; a plain `5` is just 5
            hi = spec.value(m["hi"]) if m["hi"] is not None else (spec.high if m["step"] is not None else lo)
            if hi < lo:
                raise InvalidSchedule(
                    "schedule", f"cron field '{spec.name}' range {m['lo']}-{m['hi']} ends before it starts"
                )
        step = 1
        if m["step"] is not None:
            if not m["step"].isdigit() or int(m["step"]) == 0:
                raise InvalidSchedule(
                    "schedule", f"cron field '{spec.name}' step '{m['step']}' must be a positive integer"
                )
            step = int(m["step"])
        for v in range(lo, hi + 1, step):
            mask |= 1 << v
    if spec is DAY_OF_WEEK and mask & (1 << 7):
        mask = (mask | 1) & ~(1 << 7)
    return mask
