"""What every schedule answers: its occurrences, as aware UTC instants, around a given instant."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime


class Schedule(ABC):
    """An immutable, hashable set of occurrences (aware UTC datetimes), strictly increasing in time.

    `text` is the schedule as written, `timezone` the scheduleTimeZone as given ("" = none).
    No method reads the clock: every "now" is an argument.
    """

    __slots__ = ()

    text: str
    timezone: str

    @abstractmethod
    def next_after(self, instant: datetime) -> datetime | None:
        """The first occurrence strictly after the aware `instant` (UTC), or None when exhausted."""

    @abstractmethod
    def last_at_or_before(self, instant: datetime) -> datetime | None:
        """The latest occurrence at or before the aware `instant` (UTC), or None if there is none."""

    def is_occurrence(self, instant: datetime) -> bool:
        """True exactly when `instant` is one of the occurrences."""
        return self.last_at_or_before(instant) == instant
