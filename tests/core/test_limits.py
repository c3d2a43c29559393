"""The scheduler near the end of the calendar (year 9999), with huge retry counts, and its statistics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from horae.core import (
    CreateRun,
    JobSaved,
    KillRun,
    LaunchRun,
    ManualRunRequested,
    Scheduler,
    StateRestored,
    TimerFired,
    UpdateRun,
)
from horae.core._scheduler import backoff
from horae.model import (
    BackoffKind,
    ExitKind,
    Job,
    RetryBackoff,
    Run,
    RunFinished,
    RunStarted,
    RunState,
    Trigger,
)

END = datetime.max.replace(tzinfo=UTC)
LATE = datetime(9999, 12, 31, 23, 0, tzinfo=UTC)
T0 = datetime(2030, 1, 1, tzinfo=UTC)


def fire(s: Scheduler, now: datetime) -> list[object]:
    return list(s.handle(TimerFired(), now).commands)


@pytest.mark.parametrize(
    ("schedule", "zone", "jitter"),
    [
        ("R/9999-12-31T23:59:59Z/P1D", "", timedelta(0)),  # the next occurrence would be in the year 10000
        ("R/9999-12-31T23:30:00Z/PT1M", "", timedelta(hours=1)),  # jitter pushes every occurrence past it
        ("0 0 31 12 *", "", timedelta(days=2)),
        ("0 23 31 12 *", "Pacific/Pago_Pago", timedelta(hours=20)),
    ],
)
def test_an_occurrence_beyond_the_calendar_is_no_occurrence(
    schedule: str, zone: str, jitter: timedelta
) -> None:
    job = Job(name="end", command="true", schedule=schedule, schedule_time_zone=zone, jitter=jitter)
    s = Scheduler()
    decision = s.handle(StateRestored([job], [], {"end": datetime(9999, 12, 30, tzinfo=UTC)}), LATE)
    for now in (LATE, END):  # catch-up after an outage, then the very last instant
        fire(s, now)
        decision = s.handle(ManualRunRequested("end"), now)
    assert decision.wake_at is None
    assert s.next_due("end") is None
    saved = Scheduler()
    saved.handle(JobSaved(job), LATE)
    fire(saved, END)
    assert saved.handle(ManualRunRequested("end"), END).commands  # it still runs on request


def test_the_last_representable_occurrence_runs_then_the_schedule_is_over() -> None:
    job = Job(name="last", command="true", schedule="R/9999-12-31T23:59:59Z/P1D")
    s = Scheduler()
    assert s.handle(StateRestored([job], [], {"last": LATE}), LATE).wake_at == datetime(
        9999, 12, 31, 23, 59, 59, tzinfo=UTC
    )
    out = fire(s, END)
    launch = next(c for c in out if isinstance(c, LaunchRun))
    assert launch.run.scheduled_for == datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    decision = s.handle(RunFinished(launch.run.id, 0, END, ExitKind.EXITED, exit_code=0), END)
    assert decision.wake_at is None
    assert s.job("last").disabled  # type: ignore[union-attr]  # every occurrence has run


def test_a_jitter_longer_than_the_calendar_so_far_fires_nothing() -> None:
    job = Job(name="j", command="true", schedule="* * * * *", jitter=timedelta(days=999_999_999))
    s = Scheduler()
    s.handle(StateRestored([job], [], {"j": T0}), T0 + timedelta(hours=1))
    assert fire(s, T0 + timedelta(hours=2)) == []


def test_a_retry_beyond_the_calendar_ends_the_run_instead() -> None:
    job = Job(
        name="r",
        command="false",
        schedule="* * * * *",
        retries=3,
        retry_backoff=RetryBackoff(first=timedelta(days=2)),
    )
    s = Scheduler()
    now = LATE - timedelta(days=1)  # cron stops a day short of the end: its wall clock may be ahead of UTC
    s.handle(StateRestored([job], [], {"r": now - timedelta(minutes=1)}), now)
    launch = next(c for c in fire(s, now) if isinstance(c, LaunchRun))
    out = s.handle(RunFinished(launch.run.id, 0, now, ExitKind.EXITED, exit_code=1), now).commands
    final = [c.run for c in out if isinstance(c, UpdateRun)]
    assert [r.state for r in final] == [RunState.FAILED]


def test_deadlines_beyond_the_calendar_never_fire() -> None:
    job = Job(name="t", command="true", schedule="* * * * *", timeout=timedelta(days=3))
    running = Run("t", LATE, Trigger.SCHEDULE, RunState.RUNNING, started_at=LATE)
    s = Scheduler()
    decision = s.handle(StateRestored([job], [running], {"t": LATE}), LATE)
    assert decision.wake_at is None  # no timer for the deadline (and cron ends a day short of the calendar)
    s.handle(ManualRunRequested("t"), LATE)
    out = fire(s, END)
    assert not any(isinstance(c, KillRun) for c in out)  # a timeout acts by killing the run
    assert not any(isinstance(c, UpdateRun) and c.run.state is RunState.TIMED_OUT for c in out)


def test_a_manual_run_at_the_last_millisecond_cannot_be_named_twice() -> None:
    s = Scheduler()
    s.handle(StateRestored([Job(name="m", command="true", schedule="* * * * *")], [], {"m": END}), END)
    first = s.handle(ManualRunRequested("m"), END).commands
    second = s.handle(ManualRunRequested("m"), END).commands
    assert [type(c) for c in first] == [CreateRun, LaunchRun]
    assert second == []  # no later millisecond exists to name it by


@pytest.mark.parametrize("attempt", [1, 2, 30, 64, 68, 71, 1000, 10**9])
def test_exponential_backoff_never_overflows(attempt: int) -> None:
    for first, cap in (
        (timedelta(seconds=10), timedelta(hours=1)),
        (timedelta(days=36_500), timedelta(days=36_500)),
        (timedelta.max / 3, timedelta.max),
        (timedelta(microseconds=1), timedelta.max),
    ):
        job = Job(name="b", retry_backoff=RetryBackoff(BackoffKind.EXPONENTIAL, first, cap))
        us = timedelta(microseconds=1)
        expected = timedelta(microseconds=min(first // us << min(attempt - 1, 100), cap // us))
        assert backoff(job, attempt) == expected


def test_a_huge_retry_backoff_with_jitter_gives_up_instead_of_failing() -> None:
    policy = RetryBackoff(BackoffKind.EXPONENTIAL, timedelta.max / 2, timedelta.max, jitter=1.0)
    job = Job(name="h", command="false", schedule="* * * * *", retries=10**6, retry_backoff=policy)
    s = Scheduler()
    s.handle(StateRestored([job], [], {"h": T0}), T0)
    launch = next(c for c in fire(s, T0 + timedelta(minutes=1)) if isinstance(c, LaunchRun))
    now = T0 + timedelta(minutes=2)
    out = s.handle(RunFinished(launch.run.id, 0, now, ExitKind.EXITED, exit_code=1), now).commands
    assert [c.run.state for c in out if isinstance(c, UpdateRun)] == [RunState.FAILED]


def test_statistics_date_a_run_by_its_reported_finish() -> None:
    job = Job(name="s", command="true", schedule="R/2030-01-01T00:01:00Z/PT1H", retries=0)
    s = Scheduler()
    s.handle(StateRestored([job], [], {"s": T0}), T0)
    occurrence = T0 + timedelta(minutes=1)
    launch = next(c for c in fire(s, occurrence) if isinstance(c, LaunchRun))
    s.handle(RunStarted(launch.run.id, 0, occurrence), occurrence)
    finished = occurrence + timedelta(seconds=5)
    heard = occurrence + timedelta(minutes=10)  # e.g. read back after an outage
    s.handle(RunFinished(launch.run.id, 0, finished, ExitKind.EXITED, exit_code=0), heard)
    assert s.job("s").last_success == finished  # type: ignore[union-attr]
    assert s.histogram("s").median == 5000.0
    launch = next(c for c in fire(s, occurrence + timedelta(hours=1)) if isinstance(c, LaunchRun))
    failed = occurrence + timedelta(hours=1, seconds=2)
    s.handle(RunFinished(launch.run.id, 0, failed, ExitKind.EXITED, exit_code=1), failed + timedelta(hours=1))
    assert s.job("s").last_error == failed  # type: ignore[union-attr]
    assert (s.histogram("s").count, s.histogram("s").p99) == (2, 5000.0)  # 2 s and 5 s
