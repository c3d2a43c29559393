"""Parsing and iterating schedules: Chronos ISO 8601 repeating intervals and cron, with time zones and DST.

Imports only the standard library and `horae.model`; never reads the clock (`now` is an argument).
"""

from horae.schedule._base import Schedule
from horae.schedule._cron import CronSchedule
from horae.schedule._errors import InvalidSchedule
from horae.schedule._instant import format_instant
from horae.schedule._iso import IsoSchedule
from horae.schedule._parse import parse_schedule, pin_start, preview
from horae.schedule._zones import resolve_zone

__all__ = [
    "CronSchedule",
    "InvalidSchedule",
    "IsoSchedule",
    "Schedule",
    "format_instant",
    "parse_schedule",
    "pin_start",
    "preview",
    "resolve_zone",
]
