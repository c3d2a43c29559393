"""The one error this package raises: it names the job field at fault and says what is wrong."""

from __future__ import annotations


class InvalidSchedule(ValueError):
    """A schedule or time zone cannot be used; `field` is `schedule` or `scheduleTimeZone`."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
