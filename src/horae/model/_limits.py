"""The range of every value a job carries, checked before the job is kept.

A value outside these ranges is refused with `InvalidJob` naming the JSON field, because it would otherwise
fail later and far from its cause: an integer that no database column holds, a NUL byte that no `execve`
passes, a variable name a shell cannot export, a duration whose deadline lies beyond the year 9999, or a
catch-up that starts thousands of runs at once after an outage.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import timedelta

from horae.model._errors import InvalidJob
from horae.model._job import Container, Job

MAX_RETRIES = 1000  # a run's attempts; more is a loop, not a retry policy
MAX_CATCH_UP = 100  # catchUp all: the most late occurrences one outage may start
MAX_CPUS = 10_000.0
MAX_MEGABYTES = 1e9  # mem and disk, in MB (a petabyte)
MAX_COUNT = 2**63 - 1  # success and error counters (a signed 64-bit column)
MAX_FAILURES = 2**31 - 1  # disableAfterFailures (a signed 32-bit column)
MAX_PORT = 65_535
# Every duration a job gives (timeout, jitter, backoff, deadline) fits in a century, so that any instant
# the scheduler derives from one stays inside the calendar for as long as horae may run.
MAX_DURATION = timedelta(days=36_500)
# Any name an environment can hold: every runtime passes names that are not shell names (Java-style
# `spring.profiles.active`, which Chronos accepts) through env(1), so only "=" and NUL are refused.
ENVIRONMENT_NAME = re.compile(r"[^=\0]+")


def check_limits(job: Job) -> None:
    """Raise InvalidJob, naming the field, for the first value of `job` outside its range."""
    _check_numbers(job)
    _check_durations(job)
    _check_launch_strings(job)


def _check_numbers(job: Job) -> None:
    _in_range("retries", job.retries, 0, MAX_RETRIES)
    for field, amount, most in (
        ("cpus", job.cpus, MAX_CPUS),
        ("mem", job.mem, MAX_MEGABYTES),
        ("disk", job.disk, MAX_MEGABYTES),
    ):
        if not (math.isfinite(amount) and amount > 0):
            raise InvalidJob(field, f"must be > 0, got {amount}")
        if amount > most:
            raise InvalidJob(field, f"must be at most {most:g}, got {amount}")
    for field, count in (
        ("successCount", job.success_count),
        ("errorCount", job.error_count),
        ("errorsSinceLastSuccess", job.errors_since_last_success),
    ):
        _in_range(field, count, 0, MAX_COUNT)
    _in_range("disableAfterFailures", job.disable_after_failures, 0, MAX_FAILURES)
    _in_range("catchUp.limit", job.catch_up.limit, 1, MAX_CATCH_UP)
    jitter = job.retry_backoff.jitter
    if not (math.isfinite(jitter) and 0 <= jitter <= 1):
        raise InvalidJob("retryBackoff.jitter", f"must be a fraction from 0 to 1, got {jitter}")
    if job.container is not None:
        _check_ports(job.container)


def check_container(container: Container) -> None:
    """The ranges `check_limits` gives a job's container, for a container that travels on its own."""
    _check_ports(container)
    _no_nul("container.image", container.image)


def _check_ports(container: Container) -> None:
    for i, info in enumerate(container.network_infos):
        for j, mapping in enumerate(info.port_mappings):
            where = f"container.networkInfos[{i}].portMappings[{j}]"
            _in_range(f"{where}.hostPort", mapping.host_port, 0, MAX_PORT)
            _in_range(f"{where}.containerPort", mapping.container_port, 0, MAX_PORT)


def _in_range(field: str, value: int, lowest: int, highest: int) -> None:
    if value < lowest:
        raise InvalidJob(field, f"must be >= {lowest}, got {_short(value)}")
    if value > highest:
        raise InvalidJob(field, f"must be at most {highest}, got {_short(value)}")


def _short(value: int) -> str:
    text = str(value)
    return text if len(text) <= 24 else f"{text[:10]}…({len(text)} digits)"


def _check_durations(job: Job) -> None:
    backoff = job.retry_backoff
    if backoff.first <= timedelta(0):
        raise InvalidJob("retryBackoff.first", f"must be > 0, got {backoff.first}")
    if backoff.cap < backoff.first:
        raise InvalidJob(
            "retryBackoff.cap", f"must be >= retryBackoff.first ({backoff.first}), got {backoff.cap}"
        )
    if job.jitter < timedelta(0):
        raise InvalidJob("jitter", f"must be >= 0, got {job.jitter}")
    if job.starting_deadline is not None and job.starting_deadline < timedelta(0):
        raise InvalidJob("startingDeadline", f"must be >= 0, got {job.starting_deadline}")
    if job.timeout is not None and job.timeout <= timedelta(0):
        raise InvalidJob("timeout", f"must be > 0 when set, got {job.timeout}")
    for field, length in (
        ("retryBackoff.first", backoff.first),
        ("retryBackoff.cap", backoff.cap),
        ("jitter", job.jitter),
        ("startingDeadline", job.starting_deadline),
        ("timeout", job.timeout),
    ):
        if length is not None and length > MAX_DURATION:
            raise InvalidJob(
                field,
                f"must be at most {MAX_DURATION.days} days (a century, so that the instants it sets fall "
                f"well before the year 9999), got {length}",
            )


def _check_launch_strings(job: Job) -> None:
    """The strings a launch passes to the operating system, which ends each at a NUL byte."""
    _no_nul("command", job.command)
    for i, argument in enumerate(job.arguments):
        _no_nul(f"arguments[{i}]", argument)
    check_environment(((v.name, v.value) for v in job.environment_variables), "environmentVariables")
    _no_nul("owner", job.owner)  # passed on as CHRONOS_JOB_OWNER
    _no_nul("runAsUser", job.run_as_user)
    if job.container is not None:
        _no_nul("container.image", job.container.image)


def check_environment(variables: Iterable[tuple[str, str]], field: str) -> None:
    """InvalidJob (`<field>[i].name` or `.value`) unless every (name, value) pair can be exported."""
    for i, (name, value) in enumerate(variables):
        if not ENVIRONMENT_NAME.fullmatch(name):
            raise InvalidJob(
                f"{field}[{i}].name",
                f"{name[:40]!r} is not a variable name: it must be non-empty, without '=' or NUL",
            )
        _no_nul(f"{field}[{i}].value", value)


def _no_nul(field: str, text: str) -> None:
    if "\0" in text:
        raise InvalidJob(field, "must not contain a NUL character")
