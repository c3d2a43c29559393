"""Deterministic simulations of the scheduler: thousands of jobs over DST changes, with outages.

`HORAE_SIM_JOBS` sets how many jobs each simulated window holds (CI default below); `HORAE_SIM_WEEK=1`
adds a continuous simulated week (8–15 March 2030, across New York's change). The harness is `sim.py`.
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from horae.core import (
    TIMEOUT_MARGIN,
    Command,
    CreateRun,
    JobSaved,
    KillRequested,
    KillRun,
    LaunchRun,
    ManualRunRequested,
    Scheduler,
    StateRestored,
    UpdateRun,
)
from horae.model import ConcurrencyPolicy, ExitKind, Job, RunFinished, RunStarted, RunState, Trigger
from horae.schedule import IsoSchedule, parse_schedule, preview
from tests.core.sim import WEEK, WINDOWS, SimConfig, Simulation, Violation, Window

JOBS = int(os.environ.get("HORAE_SIM_JOBS", "2000"))
T0 = datetime(2030, 3, 9, 12, tzinfo=UTC)


def _simulate(config: SimConfig) -> Simulation:
    sim = Simulation(config).run()
    checked = sim.check_coverage()
    sim.check_settled()
    # the simulation really exercised what it claims to
    counts = sim.check.counts
    assert sim.restarts == len(config.outages)
    assert checked > config.jobs
    for state in (RunState.SUCCEEDED, RunState.FAILED, RunState.MISSED, RunState.SKIPPED, RunState.KILLED):
        assert counts[state] > 0, f"no run ended {state}: {dict(counts)}"
    assert any(sim.check.aggregated.values()), "no long outage was aggregated into one missed record"
    return sim


@pytest.mark.parametrize("window", WINDOWS, ids=[w.name for w in WINDOWS])
def test_simulated_days_across_a_dst_change_keep_every_invariant(window: Window) -> None:
    _simulate(SimConfig(jobs=JOBS, window=window, seed=7))


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("HORAE_SIM_WEEK"), reason="set HORAE_SIM_WEEK=1 for the simulated week"
)
def test_simulated_week() -> None:
    _simulate(SimConfig(jobs=JOBS, window=WEEK, seed=11))


def test_replay_gives_the_same_command_stream() -> None:
    w = WINDOWS[0]
    window = Window("replay", w.start, w.start + timedelta(hours=12))
    outages = (
        (timedelta(seconds=45), "clean"),
        (timedelta(minutes=20), "reboot"),
        (timedelta(hours=1), "cut"),
    )

    def stream(seed: int) -> list[Command]:
        config = SimConfig(jobs=300, window=window, seed=seed, outages=outages, record=True)
        return Simulation(config).run().commands

    first = stream(5)
    assert len(first) > 10_000
    assert stream(5) == first
    assert stream(6) != first  # the comparison can tell histories apart


def test_the_harness_catches_a_duplicate_create() -> None:
    sim = Simulation(SimConfig(jobs=30, window=WINDOWS[0], seed=1))
    sim.run()
    run = next(r for r in sim.store.runs.values() if r.trigger is Trigger.SCHEDULE)
    with pytest.raises(Violation, match="exists"):
        sim.store.create_run(run)


# ---- the scheduler's own firing times are the schedule's -----------------------------------------

_CRON_FIELD = st.one_of(
    st.just("*"),
    st.integers(0, 59).map(str),
    st.tuples(st.integers(0, 29), st.integers(1, 30)).map(lambda t: f"{t[0]}-{t[0] + t[1]}"),
    st.integers(2, 30).map(lambda n: f"*/{n}"),
)
_HOUR = st.one_of(st.just("*"), st.integers(0, 23).map(str), st.sampled_from(["1-3", "*/5", "2", "0,12"]))
_CRONS = st.builds(
    lambda s, m, h, dom, dow, seconds: " ".join(([s] if seconds else []) + [m, h, dom, "*", dow]),
    _CRON_FIELD,
    _CRON_FIELD,
    _HOUR,
    st.sampled_from(["*", "1", "1-15", "*/3", "31"]),
    st.sampled_from(["*", "0", "1-5", "6"]),
    st.booleans(),
)
_ISOS = st.builds(
    lambda count, start, period: f"R{count}/{start:%Y-%m-%dT%H:%M:%S}Z/{period}",
    st.sampled_from(["", "3", "40"]),
    st.datetimes(datetime(2030, 3, 1), datetime(2030, 4, 10)).map(lambda d: d.replace(microsecond=0)),
    st.sampled_from(["PT1M", "PT17M", "PT1H", "PT2H30M", "P1D", "P1DT1H", "PT45S", "P1W"]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=st.one_of(_CRONS, _ISOS, st.sampled_from(["@hourly", "@daily", "@weekly"])),
    tz=st.sampled_from(["Europe/Paris", "America/New_York", "Australia/Sydney", "UTC", ""]),
    start=st.datetimes(datetime(2030, 3, 8), datetime(2030, 4, 8)).map(lambda d: d.replace(tzinfo=UTC)),
)
def test_firing_times_are_the_schedules_preview(text: str, tz: str, start: datetime) -> None:
    start = start.replace(microsecond=start.microsecond - start.microsecond % 1000)
    job = Job(
        name="p",
        command="true",
        schedule=text,
        schedule_time_zone=tz,
        concurrency_policy=ConcurrencyPolicy.ALLOW,
    )
    scheduler = Scheduler(seed=0)
    decision = scheduler.handle(JobSaved(job), start)
    expected = preview(text, tz, start, 30)
    schedule = parse_schedule(text, tz)
    if isinstance(schedule, IsoSchedule):  # Chronos runs an ISO schedule's latest past occurrence at once
        latest = schedule.last_at_or_before(start)
        expected = ([latest] if latest is not None else []) + expected
    fired: list[datetime] = []
    woke: list[datetime] = []
    for _ in range(40):
        fired += [c.run.scheduled_for for c in decision.commands if isinstance(c, CreateRun)]
        if decision.wake_at is None or len(fired) >= 30:
            break
        woke.append(max(decision.wake_at, start))
        decision = scheduler.tick(woke[-1])
    assert fired[:30] == expected[:30]
    # each occurrence fired when it fell due, not before or after
    assert woke[: len(fired)] == [max(t, start) for t in fired][: len(woke)]


# ---- regressions found by the simulation ---------------------------------------------------------


def test_a_run_killed_on_request_while_timing_out_is_not_retried() -> None:
    """A kill on request is final, even when the run was also being stopped for its timeout."""
    job = Job(name="slow", command="sleep 1000", timeout=timedelta(seconds=10), retries=2)
    scheduler = Scheduler(seed=0)
    scheduler.handle(JobSaved(job), T0)
    launch = next(
        c for c in scheduler.handle(ManualRunRequested("slow"), T0).commands if isinstance(c, LaunchRun)
    )
    rid = launch.run.id
    scheduler.handle(RunStarted(rid, 0, T0), T0)
    timeout_at = T0 + timedelta(seconds=10) + TIMEOUT_MARGIN
    assert [c for c in scheduler.tick(timeout_at).commands if isinstance(c, KillRun)] == [
        KillRun(rid, "timed out")
    ]
    assert any(isinstance(c, KillRun) for c in scheduler.handle(KillRequested("slow"), timeout_at).commands)
    done = scheduler.handle(RunFinished(rid, 0, timeout_at, ExitKind.KILLED, signal=15), timeout_at)
    updates = [c.run for c in done.commands if isinstance(c, UpdateRun)]
    assert [(r.state, r.attempt) for r in updates] == [(RunState.KILLED, 0)]
    assert scheduler.open_runs() == []


def test_rescheduling_to_an_iso_schedule_does_not_recreate_a_handled_occurrence() -> None:
    """`(job, scheduled_for)` is unique: the new schedule's latest past occurrence already ran under the old one."""
    job = Job(name="hourly", command="true", schedule="R/2030-03-09T00:00:00Z/PT1H")
    scheduler = Scheduler(seed=0)
    scheduler.handle(JobSaved(job), T0)
    assert [c.run.scheduled_for for c in scheduler.tick(T0).commands if isinstance(c, CreateRun)] == [T0]
    later = T0 + timedelta(minutes=30)
    decision = scheduler.handle(JobSaved(replace(job, schedule="R/2030-03-09T00:00:00Z/PT2H")), later)
    created = [c.run for c in decision.commands if isinstance(c, CreateRun)]
    if decision.wake_at is not None and decision.wake_at <= later:
        created += [c.run for c in scheduler.tick(later).commands if isinstance(c, CreateRun)]
    assert created == []
    assert scheduler.next_due("hourly") == T0 + timedelta(hours=2)


def test_a_kill_on_request_is_remembered_across_a_restart() -> None:
    """Found by the simulation: kill, crash before the outcome is recorded, restart; the killed process's
    exit must still read as the kill, not as a failure to retry. The open run's reason carries it."""
    job = Job(name="slow", command="sleep 1000", retries=2)
    scheduler = Scheduler(seed=0)
    scheduler.handle(JobSaved(job), T0)
    launch = next(
        c for c in scheduler.handle(ManualRunRequested("slow"), T0).commands if isinstance(c, LaunchRun)
    )
    scheduler.handle(RunStarted(launch.run.id, 0, T0), T0)
    kill = scheduler.handle(KillRequested("slow"), T0).commands
    assert any(isinstance(c, KillRun) for c in kill)
    (stopping,) = [c.run for c in kill if isinstance(c, UpdateRun)]
    assert stopping.state is RunState.RUNNING and stopping.reason == "stopping: killed on request"
    later = T0 + timedelta(seconds=5)
    restarted = Scheduler(seed=1)
    restarted.handle(StateRestored(jobs=[job], open_runs=[stopping]), later)
    sigterm = RunFinished(launch.run.id, 0, T0, ExitKind.EXITED, exit_code=143)
    updates = [c.run for c in restarted.handle(sigterm, later).commands if isinstance(c, UpdateRun)]
    assert [r.state for r in updates] == [RunState.KILLED]


def test_the_coverage_check_notices_a_missing_record() -> None:
    sim = Simulation(SimConfig(jobs=30, window=WINDOWS[0], seed=1)).run()
    sim.check_coverage()
    run = next(
        r for r in sim.store.runs.values() if r.trigger is Trigger.SCHEDULE and r.state is not RunState.MISSED
    )
    del sim.store.runs[run.id]
    with pytest.raises(Violation, match="has no run record"):
        sim.check_coverage()
