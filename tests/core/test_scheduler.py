"""Table-style tests of the scheduler's decisions, one behaviour each."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from horae.core import (
    MAX_LISTED,
    TIMEOUT_MARGIN,
    Command,
    CreateRun,
    JobDeleted,
    JobSaved,
    KillRequested,
    KillRun,
    LaunchRun,
    ManualRunRequested,
    NoticeKind,
    Notify,
    RunKillRequested,
    RunMarkedSucceeded,
    Scheduler,
    StateRestored,
    TaskCompleted,
    TimerFired,
    UpdateJob,
    UpdateRun,
)
from horae.model import (
    BackoffKind,
    CatchUp,
    CatchUpMode,
    ConcurrencyPolicy,
    EnvironmentVariable,
    ExitKind,
    Job,
    RetryBackoff,
    Run,
    RunFinished,
    RunLost,
    RunStarted,
    RunState,
    Trigger,
    epoch_ms,
)

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class Harness:
    """A scheduler plus a record of every command, driven like the shell drives it."""

    def __init__(self, *jobs: Job, now: datetime = T0) -> None:
        self.scheduler = Scheduler(seed=7)
        self.now = now
        self.commands: list[Command] = []
        self.runs: dict[str, Run] = {}  # the store's view
        self.jobs: dict[str, Job] = {}
        for job in jobs:
            self.save(job)

    def send(self, event: object) -> list[Command]:
        decision = self.scheduler.handle(event, self.now)
        for c in decision.commands:
            if isinstance(c, CreateRun):
                assert c.run.id not in self.runs, f"run {c.run.id} created twice"
                self.runs[c.run.id] = c.run
            elif isinstance(c, UpdateRun):
                assert c.run.id in self.runs, f"run {c.run.id} updated before it was created"
                self.runs[c.run.id] = c.run
            elif isinstance(c, LaunchRun):
                assert c.run.id in self.runs, f"run {c.run.id} launched before it was created"
            elif isinstance(c, UpdateJob):
                self.jobs[c.job.name] = c.job
        self.commands.extend(decision.commands)
        self.wake_at = decision.wake_at
        return decision.commands

    def save(self, job: Job) -> list[Command]:
        self.jobs[job.name] = job
        return self.send(JobSaved(job))

    def advance(self, to: datetime) -> list[Command]:
        """Move the clock to `to`, firing every wake-up on the way exactly when it was asked for."""
        out: list[Command] = []
        while self.wake_at is not None and self.wake_at <= to:
            self.now = max(self.now, self.wake_at)
            out += self.send(TimerFired())
        self.now = to
        return out

    def launches(self, commands: list[Command] | None = None) -> list[LaunchRun]:
        return [c for c in (self.commands if commands is None else commands) if isinstance(c, LaunchRun)]

    def finish(self, launch: LaunchRun, code: int = 0, kind: ExitKind = ExitKind.EXITED) -> list[Command]:
        self.send(RunStarted(launch.run.id, launch.run.attempt, self.now))
        return self.send(RunFinished(launch.run.id, launch.run.attempt, self.now, kind, exit_code=code))

    def state(self, run_id: str) -> RunState:
        return self.runs[run_id].state


def cron(name: str, expr: str = "* * * * * *", **kw: object) -> Job:
    return Job(name=name, command="true", schedule=expr, **kw)  # type: ignore[arg-type]


def dependent(name: str, *parents: str, **kw: object) -> Job:
    return Job(name=name, command="true", parents=parents, **kw)  # type: ignore[arg-type]


# --- firing -------------------------------------------------------------------------------------------


def test_a_cron_job_fires_at_each_occurrence_create_before_launch() -> None:
    h = Harness(cron("tick", "*/10 * * * * *"))
    assert h.wake_at == at(10)
    out = h.advance(at(10))
    assert [type(c) for c in out] == [CreateRun, LaunchRun]
    run = out[0].run  # type: ignore[union-attr]
    assert (run.job, run.scheduled_for, run.trigger, run.state) == (
        "tick",
        at(10),
        Trigger.SCHEDULE,
        RunState.PENDING,
    )
    assert h.wake_at == at(20)


def test_a_new_job_gets_a_durable_cursor() -> None:
    h = Harness(cron("tick", "0 * * * *"))
    assert h.jobs["tick"].scheduled_through == T0


def test_iso_schedule_with_past_start_runs_its_latest_occurrence_at_once() -> None:
    job = Job(name="iso", command="true", schedule="R/2029-12-31T00:00:00Z/PT1H")
    h = Harness(job, now=at(30 * 60))
    h.advance(at(30 * 60))
    created = [c.run for c in h.commands if isinstance(c, CreateRun)]
    assert [r.scheduled_for for r in created] == [T0]  # only the latest past one, none of the older
    assert created[0].state is RunState.PENDING
    assert h.wake_at == at(3600)


def test_rn_counts_scheduled_occurrences_only() -> None:
    job = Job(
        name="thrice",
        command="true",
        schedule="R3/2030-01-01T00:00:10Z/PT10S",
        concurrency_policy=ConcurrencyPolicy.ALLOW,
    )
    h = Harness(job)
    h.send(ManualRunRequested("thrice"))
    h.advance(at(100))
    scheduled = [c.run for c in h.commands if isinstance(c, CreateRun) and c.run.trigger is Trigger.SCHEDULE]
    assert [r.scheduled_for for r in scheduled] == [at(10), at(20), at(30)]
    assert h.wake_at is None


def test_r0_never_runs() -> None:
    h = Harness(Job(name="none", command="true", schedule="R0/2030-01-01T00:00:10Z/PT10S"))
    h.advance(at(100))
    assert h.launches() == [] and h.wake_at is None


def test_disabled_jobs_never_launch_and_resume_without_catch_up() -> None:
    h = Harness(cron("p", "*/10 * * * * *", disabled=True))
    h.advance(at(35))
    assert h.launches() == []
    h.send(ManualRunRequested("p"))
    skipped = [c.run for c in h.commands if isinstance(c, CreateRun)]
    assert [r.state for r in skipped] == [RunState.SKIPPED] and "disabled" in skipped[0].reason
    h.save(replace(h.jobs["p"], disabled=False))
    assert h.wake_at == at(40)  # nothing from the paused time


# --- catch-up and deadlines ---------------------------------------------------------------------------


def restored(job: Job, cursor: datetime, now: datetime) -> Harness:
    h = Harness(now=now)
    h.jobs[job.name] = job
    h.send(StateRestored([job], [], {job.name: cursor}))
    h.advance(now)
    return h


def test_catch_up_latest_runs_one_and_records_the_rest_missed() -> None:
    h = restored(cron("c", "*/10 * * * * *"), T0, at(55))
    created = sorted((c.run for c in h.commands if isinstance(c, CreateRun)), key=lambda r: r.scheduled_for)
    assert [r.scheduled_for for r in created] == [at(10), at(20), at(30), at(40), at(50)]
    assert [r.state for r in created] == [RunState.MISSED] * 4 + [RunState.PENDING]
    assert all("later occurrence" in r.reason for r in created[:4])
    assert len(h.launches()) == 1


def test_catch_up_all_runs_up_to_the_limit() -> None:
    job = cron(
        "c",
        "*/10 * * * * *",
        catch_up=CatchUp(CatchUpMode.ALL, 3),
        concurrency_policy=ConcurrencyPolicy.ALLOW,
    )
    h = restored(job, T0, at(55))
    states = [c.run.state for c in h.commands if isinstance(c, CreateRun)]
    assert states == [RunState.MISSED] * 2 + [RunState.PENDING] * 3


def test_catch_up_none_runs_nothing_late() -> None:
    h = restored(cron("c", "0 * * * *", catch_up=CatchUp(CatchUpMode.NONE)), T0, at(2 * 3600 + 120))
    states = [c.run.state for c in h.commands if isinstance(c, CreateRun)]
    assert states == [RunState.MISSED, RunState.MISSED]
    assert h.launches() == []


def test_starting_deadline_turns_a_late_occurrence_into_missed() -> None:
    job = cron("d", "0 * * * *", starting_deadline=timedelta(seconds=30))
    h = restored(job, T0, at(3600 + 31))
    (run,) = [c.run for c in h.commands if isinstance(c, CreateRun)]
    assert run.state is RunState.MISSED and "starting deadline" in run.reason
    h2 = restored(job, T0, at(3600 + 29))
    assert len(h2.launches()) == 1


def test_a_long_outage_is_bounded_and_never_wedges_the_job() -> None:
    h = restored(cron("s", "* * * * * *"), T0, at(86_400))
    created = [c.run for c in h.commands if isinstance(c, CreateRun)]
    assert len(created) <= MAX_LISTED + 2
    assert created[-1].state is RunState.PENDING and created[-1].scheduled_for == at(86_400)
    aggregated = [r for r in created if "not listed one by one" in r.reason]
    assert len(aggregated) == 1 and aggregated[0].scheduled_for == at(86_399)
    assert h.wake_at == at(86_401)  # back on schedule


def test_restart_resumes_from_the_cursor_without_duplicates() -> None:
    job = cron("r", "*/10 * * * * *")
    h = Harness(job)
    h.advance(at(20))
    first = {c.run.id for c in h.commands if isinstance(c, CreateRun)}
    cursor = max(r.scheduled_for for r in h.runs.values())
    h2 = Harness(now=at(20))
    h2.runs = dict(h.runs)
    h2.send(StateRestored([h.jobs["r"]], [r for r in h.runs.values() if not r.state.is_final], {"r": cursor}))
    h2.advance(at(30))
    second = [c.run for c in h2.commands if isinstance(c, CreateRun)]
    assert [r.scheduled_for for r in second] == [at(30)]
    assert not first & {r.id for r in second}


# --- concurrency ----------------------------------------------------------------------------------------


def test_forbid_skips_with_a_reason() -> None:
    h = Harness(cron("f", "*/10 * * * * *"))
    h.advance(at(20))
    runs = [c.run for c in h.commands if isinstance(c, CreateRun)]
    assert [r.state for r in runs] == [RunState.PENDING, RunState.SKIPPED]
    assert "still open" in runs[1].reason and "forbid" in runs[1].reason


def test_allow_runs_alongside() -> None:
    h = Harness(cron("a", "*/10 * * * * *", concurrency_policy=ConcurrencyPolicy.ALLOW))
    h.advance(at(20))
    assert len(h.launches()) == 2


def test_queue_starts_the_next_run_when_the_active_one_ends() -> None:
    h = Harness(cron("q", "*/10 * * * * *", concurrency_policy=ConcurrencyPolicy.QUEUE))
    h.advance(at(20))
    (first,) = h.launches()
    queued = [c.run for c in h.commands if isinstance(c, CreateRun)][1]
    assert queued.state is RunState.QUEUED
    out = h.finish(first)
    launched = h.launches(out)
    assert [launch.run.id for launch in launched] == [queued.id]


def test_replace_kills_the_active_run_then_starts_the_new_one() -> None:
    h = Harness(cron("x", "*/10 * * * * *", concurrency_policy=ConcurrencyPolicy.REPLACE))
    h.advance(at(10))
    (first,) = h.launches()
    h.send(RunStarted(first.run.id, 0, h.now))
    out = h.advance(at(20))
    kills = [c for c in out if isinstance(c, KillRun)]
    assert [k.run_id for k in kills] == [first.run.id] and "replaced" in kills[0].reason
    assert h.launches(out) == []
    out = h.send(RunFinished(first.run.id, 0, h.now, ExitKind.KILLED))
    assert h.state(first.run.id) is RunState.KILLED
    assert len(h.launches(out)) == 1


def test_concurrency_policy_applies_to_manual_runs() -> None:
    h = Harness(cron("m", "0 0 1 1 *"))
    h.send(ManualRunRequested("m"))
    h.send(ManualRunRequested("m"))
    runs = [c.run for c in h.commands if isinstance(c, CreateRun)]
    assert [r.state for r in runs] == [RunState.PENDING, RunState.SKIPPED]
    assert runs[0].scheduled_for != runs[1].scheduled_for  # each manual run has its own instant


# --- outcomes, retries, counters ------------------------------------------------------------------------


def test_success_updates_counters_and_run() -> None:
    h = Harness(cron("s", "*/10 * * * * *"))
    h.advance(at(10))
    h.now = at(11)
    h.finish(h.launches()[0])
    run = h.runs[h.launches()[0].run.id]
    assert run.state is RunState.SUCCEEDED and run.started_at == at(11)
    job = h.jobs["s"]
    assert (job.success_count, job.last_success, job.errors_since_last_success) == (1, at(11), 0)
    assert h.scheduler.histogram("s").count == 1
    assert h.scheduler.histogram("s").median == pytest.approx(1000.0)


def test_retries_are_attempts_of_the_same_run_with_backoff() -> None:
    job = cron(
        "r", "0 0 1 1 *", retries=2, retry_backoff=RetryBackoff(BackoffKind.EXPONENTIAL, timedelta(seconds=5))
    )
    h = Harness(job)
    h.send(ManualRunRequested("r"))
    (launch,) = h.launches()
    h.finish(launch, code=1)
    run = h.runs[launch.run.id]
    assert run.state is RunState.RETRY_WAIT and run.attempt == 1 and run.due_at == at(5)
    out = h.advance(at(5))
    (retry,) = h.launches(out)
    assert retry.run.id == launch.run.id and retry.run.attempt == 1
    assert retry.launch.task_id == f"ct:{epoch_ms(launch.run.scheduled_for)}:1:r:"
    h.finish(retry, code=1)
    assert h.runs[launch.run.id].due_at == at(5 + 10)  # exponential: 5 s, then 10 s
    h.advance(at(15))
    h.finish(h.launches()[-1], code=1)
    final = h.runs[launch.run.id]
    assert final.state is RunState.FAILED and final.attempt == 2 and final.reason == "exit code 1"
    assert len(h.launches()) == 3  # attempts never exceed retries + 1
    assert h.jobs["r"].error_count == 1 and h.jobs["r"].errors_since_last_success == 1
    assert any(isinstance(c, Notify) and c.kind is NoticeKind.RETRIES_EXHAUSTED for c in h.commands)


def test_killed_runs_are_not_retried() -> None:
    h = Harness(cron("k", "0 0 1 1 *", retries=3))
    h.send(ManualRunRequested("k"))
    (launch,) = h.launches()
    h.send(RunStarted(launch.run.id, 0, h.now))
    out = h.send(KillRequested("k"))
    assert [c.run_id for c in out if isinstance(c, KillRun)] == [launch.run.id]
    h.send(RunFinished(launch.run.id, 0, h.now, ExitKind.EXITED, exit_code=143))
    run = h.runs[launch.run.id]
    assert run.state is RunState.KILLED and run.reason == "killed on request"
    assert h.jobs["k"].error_count == 0


def test_lost_runs_are_retried_then_count_as_failures() -> None:
    h = Harness(cron("l", "0 0 1 1 *", retries=0))
    h.send(ManualRunRequested("l"))
    (launch,) = h.launches()
    h.send(RunLost(launch.run.id, 0, h.now, "container vanished"))
    run = h.runs[launch.run.id]
    assert run.state is RunState.LOST and "container vanished" in run.reason
    assert h.jobs["l"].error_count == 1


def test_timeout_backstop_kills_and_records_timed_out() -> None:
    h = Harness(cron("t", "0 0 1 1 *", timeout=timedelta(seconds=5), retries=0))
    h.send(ManualRunRequested("t"))
    (launch,) = h.launches()
    assert launch.launch.timeout == timedelta(seconds=5)
    h.send(RunStarted(launch.run.id, 0, h.now))
    out = h.advance(at(5) + TIMEOUT_MARGIN)
    assert [c.run_id for c in out if isinstance(c, KillRun)] == [launch.run.id]
    h.send(RunFinished(launch.run.id, 0, h.now, ExitKind.KILLED))
    assert h.state(launch.run.id) is RunState.TIMED_OUT


def test_stale_and_duplicate_events_are_ignored() -> None:
    h = Harness(cron("d", "0 0 1 1 *", retries=1))
    h.send(ManualRunRequested("d"))
    (launch,) = h.launches()
    h.finish(launch, code=0)
    before = list(h.commands)
    h.send(RunFinished(launch.run.id, 0, h.now, ExitKind.EXITED, exit_code=1))
    h.send(RunStarted(launch.run.id, 0, h.now))
    h.send(RunFinished("nope:1", 0, h.now, ExitKind.EXITED, exit_code=0))
    assert h.commands == before


def test_disable_after_failures_disables_and_notifies() -> None:
    h = Harness(cron("n", "0 0 1 1 *", retries=0, disable_after_failures=2))
    for _ in range(2):
        h.send(ManualRunRequested("n"))
        h.finish(h.launches()[-1], code=2)
    assert h.jobs["n"].disabled
    assert any(isinstance(c, Notify) and c.kind is NoticeKind.DISABLED for c in h.commands)
    h.send(ManualRunRequested("n"))
    assert h.commands[-1].run.state is RunState.SKIPPED  # type: ignore[union-attr]


def test_async_task_completion_reports_the_outcome() -> None:
    h = Harness(cron("a", "0 0 1 1 *", retries=0))
    h.send(ManualRunRequested("a"))
    (launch,) = h.launches()
    h.send(RunStarted(launch.run.id, 0, h.now))
    h.send(TaskCompleted(launch.run.id, 0, 3))
    assert h.state(launch.run.id) is RunState.FAILED


def test_kill_of_a_single_queued_run() -> None:
    h = Harness(cron("q", "*/10 * * * * *", concurrency_policy=ConcurrencyPolicy.QUEUE))
    h.advance(at(20))
    queued = [c.run for c in h.commands if isinstance(c, CreateRun)][1]
    h.send(RunKillRequested(queued.id))
    assert h.state(queued.id) is RunState.KILLED


# --- dependencies -------------------------------------------------------------------------------------


def graph() -> Harness:
    # Chronos's worked example: A→B, A→C, B→D, B→E, C→E
    return Harness(
        cron("A", "0 0 1 1 *"),
        dependent("B", "A"),
        dependent("C", "A"),
        dependent("D", "B"),
        dependent("E", "B", "C"),
    )


def succeed(h: Harness, name: str) -> set[str]:
    """Run `name` to success; return the names of the jobs it triggered."""
    open_runs = [r for r in h.scheduler.open_runs(name) if r.state is RunState.PENDING]
    if not open_runs:
        h.send(ManualRunRequested(name))
        open_runs = [r for r in h.scheduler.open_runs(name) if r.state is RunState.PENDING]
    (run,) = open_runs
    h.send(RunStarted(run.id, run.attempt, h.now))
    out = h.send(RunFinished(run.id, run.attempt, h.now, ExitKind.EXITED, exit_code=0))
    h.now += timedelta(seconds=1)
    return {c.run.job for c in out if isinstance(c, LaunchRun)}


def test_dependencies_follow_chronos_worked_example() -> None:
    h = graph()
    assert succeed(h, "A") == {"B", "C"}
    assert succeed(h, "B") == {"D"}
    assert succeed(h, "C") == {"E"}
    succeed(h, "D")
    succeed(h, "E")
    assert succeed(h, "A") == {"B", "C"}
    assert succeed(h, "C") == set()
    assert succeed(h, "B") == {"D", "E"}


def test_dependency_runs_are_named_by_trigger_and_marked() -> None:
    h = graph()
    succeed(h, "A")
    child = next(c.run for c in h.commands if isinstance(c, CreateRun) and c.run.job == "B")
    assert child.trigger is Trigger.DEPENDENCY


def test_failure_does_not_fire_children_unless_soft_error() -> None:
    h = Harness(cron("P", "0 0 1 1 *", retries=0), dependent("K", "P"))
    h.send(ManualRunRequested("P"))
    out = h.finish(h.launches()[-1], code=1)
    assert h.launches(out) == []
    h.save(replace(h.jobs["P"], soft_error=True))
    h.send(ManualRunRequested("P"))
    out = h.finish(h.launches()[-1], code=1)
    assert [launch.run.job for launch in h.launches(out)] == ["K"]


def test_mark_success_counts_and_fires_children() -> None:
    h = graph()
    out = h.send(RunMarkedSucceeded("A"))
    assert {c.run.job for c in out if isinstance(c, LaunchRun)} == {"B", "C"}
    assert h.jobs["A"].success_count == 1


def test_deleting_a_dependent_parent_rewires_to_grandparents() -> None:
    h = graph()
    out = h.send(JobDeleted("B"))
    updated = {c.job.name: c.job for c in out if isinstance(c, UpdateJob)}
    assert updated["D"].parents == ("A",)
    assert set(updated["E"].parents or ()) == {"C", "A"}
    assert any(isinstance(c, Notify) and c.kind is NoticeKind.DELETED for c in out)


def test_deleting_a_scheduled_only_parent_gives_its_schedule_to_the_child() -> None:
    h = Harness(cron("S", "*/5 * * * *", schedule_time_zone="Europe/Paris"), dependent("C", "S"))
    out = h.send(JobDeleted("S"))
    (child,) = [c.job for c in out if isinstance(c, UpdateJob) and c.job.name == "C" and c.job.schedule]
    assert (child.schedule, child.schedule_time_zone, child.parents) == ("*/5 * * * *", "Europe/Paris", None)
    h.advance(at(300))
    assert [launch.run.job for launch in h.launches()] == ["C"]


def test_deleting_a_job_stops_its_runs_and_records_them() -> None:
    h = Harness(cron("z", "0 0 1 1 *", retries=2))
    h.send(ManualRunRequested("z"))
    (launch,) = h.launches()
    out = h.send(JobDeleted("z"))
    assert [c.run_id for c in out if isinstance(c, KillRun)] == [launch.run.id]
    h.send(RunFinished(launch.run.id, 0, h.now, ExitKind.KILLED))
    assert h.state(launch.run.id) is RunState.KILLED


# --- launches -------------------------------------------------------------------------------------------


def test_launch_environment_and_argv_follow_chronos() -> None:
    job = cron(
        "e",
        "0 0 1 1 *",
        arguments=("-v", "x;y"),
        environment_variables=(
            EnvironmentVariable("CHRONOS_JOB_NAME", "evil"),
            EnvironmentVariable("MINE", "1"),
        ),
        owner="ops@example.com",
    )
    h = Harness(job)
    h.send(ManualRunRequested("e", environment=(("EXTRA", "2"),)))
    (launch,) = h.launches()
    env = dict(launch.launch.environment)
    assert env["CHRONOS_JOB_NAME"] == "e"  # user variables never override the built-in ones
    assert env["MINE"] == "1" and env["EXTRA"] == "2"
    assert env["CHRONOS_RESOURCE_MEM"] == "128.0" and env["CHRONOS_RESOURCE_CPU"] == "0.1"
    assert env["HORAE_RUN_ID"] == launch.run.id and env["HORAE_ATTEMPT"] == "0"
    assert env["mesos_task_id"] == env["MESOS_TASK_ID"] == launch.launch.task_id
    assert launch.launch.task_id == f"ct:{epoch_ms(launch.run.scheduled_for)}:0:e:-v xy"
    assert launch.launch.argv == ("/bin/sh", "-c", "true -v x;y")
    no_shell = replace(job, shell=False, command="/bin/echo")
    h2 = Harness(no_shell)
    h2.send(ManualRunRequested("e", arguments=("a b",)))
    assert h2.launches()[0].launch.argv == ("/bin/echo", "a b")


def test_manual_run_does_not_collide_with_a_scheduled_occurrence() -> None:
    h = Harness(cron("c", "* * * * * *", concurrency_policy=ConcurrencyPolicy.ALLOW))
    h.advance(at(1))
    h.send(ManualRunRequested("c"))
    ids = [c.run.id for c in h.commands if isinstance(c, CreateRun)]
    assert len(ids) == len(set(ids)) == 2


def test_jitter_delays_firing_deterministically_but_keeps_the_occurrence() -> None:
    job = cron("j", "0 * * * *", jitter=timedelta(minutes=10))
    h1, h2 = Harness(job), Harness(job)
    assert h1.wake_at == h2.wake_at
    assert at(3600) < h1.wake_at < at(3600 + 600)  # type: ignore[operator]
    h1.advance(at(3600 + 600))
    assert h1.launches()[0].run.scheduled_for == at(3600)


def test_same_events_give_the_same_commands() -> None:
    def scenario() -> list[Command]:
        job = cron("r", "*/10 * * * * *", retries=3, retry_backoff=RetryBackoff(jitter=0.5))
        h = Harness(job)
        h.advance(at(10))
        h.finish(h.launches()[0], code=1)
        h.advance(at(200))
        return h.commands

    assert scenario() == scenario()
