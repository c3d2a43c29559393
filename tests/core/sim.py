"""A deterministic simulation of horae's scheduler: a durable store, a runtime, downtime, and invariants.

Everything here is driven by one seeded `random.Random` and a simulated clock, so a seed names a history.
The parts model what the server does around `horae.core`:

- `SimStore` applies `CreateRun` / `UpdateRun` / `UpdateJob` as a real store would (a run's identity
  `(job, scheduled_for)` is unique; a final run never changes) and answers `StateRestored` after a crash;
- `SimRuntime` answers `LaunchRun` with `RunStarted` and later `RunFinished` / `RunLost`, and `KillRun`
  with `RunFinished(kind=KILLED)`; after a restart it reports runs it does not know as lost, as the
  server's reconciliation would;
- `Simulation` drives the clock: it ticks at every `wake_at`, delivers runtime events, and injects
  manual runs, kills, mark-success, pauses, reschedules, new jobs and downtime (a crash may cut a
  decision's commands after any prefix, as a real crash between two writes would).

Invariants are checked as each command is applied (`Invariants`), and at the end (`check_coverage`,
`check_settled`). A failure raises `Violation` naming the step.
"""

from __future__ import annotations

import heapq
import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from horae.core import (
    NONE_GRACE,
    Command,
    CreateRun,
    JobSaved,
    KillRequested,
    KillRun,
    LaunchRun,
    ManualRunRequested,
    Notify,
    RunKillRequested,
    RunMarkedSucceeded,
    Scheduler,
    StateRestored,
    TimerFired,
    UpdateJob,
    UpdateRun,
)
from horae.model import (
    BackoffKind,
    CatchUp,
    CatchUpMode,
    ConcurrencyPolicy,
    ExitKind,
    Job,
    RetryBackoff,
    Run,
    RunFinished,
    RunLost,
    RunStarted,
    RunState,
    Trigger,
    run_id,
)
from horae.schedule import IsoSchedule, Schedule, parse_schedule

MS = timedelta(milliseconds=1)
US = timedelta(microseconds=1)
_FAILURES = frozenset({RunState.FAILED, RunState.TIMED_OUT, RunState.OOM_KILLED, RunState.LOST})
_TIMEOUT_KILL = "timed out"  # the reason the scheduler gives a KillRun for a timeout


class Violation(AssertionError):
    """An invariant of the scheduler did not hold."""


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def truncate_ms(t: datetime) -> datetime:
    return t.replace(microsecond=t.microsecond - t.microsecond % 1000)


# ---- the job mix -----------------------------------------------------------------------------------

ZONES = ("Europe/Paris", "America/New_York", "Australia/Sydney", "UTC", "")

# (cron text, per-day weight). Fixed times inside the DST gaps (02:30) and overlaps (02:30 Sydney in
# April, 01:30 New York in November) exercise the Vixie rule; wildcard hours keep their real interval.
CRONS = (
    ("30 2 * * *", 6),
    ("0 3 * * *", 4),
    ("45 1 * * *", 4),
    ("0 0 * * *", 4),
    ("@daily", 3),
    ("0 9 * * 1-5", 3),
    ("5 4 * * 0", 2),
    ("0 0,12 * * *", 4),
    ("15 */6 * * *", 4),
    ("0 */2 * * *", 3),
    ("@hourly", 3),
    ("17 * * * *", 2),
    ("*/20 1-3 * * *", 2),
    ("*/15 * * * *", 1),
    # 6 fields, seconds first
    ("30 15 2 * * *", 3),
    ("0 */30 * * * *", 2),
    ("45 59 1 * * *", 3),
    ("10 5 */4 * * *", 3),
    ("*/30 * 2 * * *", 1),
)
# (ISO text with {start}, per-day weight)
ISOS = (
    ("R/{start}/P1D", 8),
    ("R/{start}/PT1H", 3),
    ("R/{start}/PT6H", 3),
    ("R5/{start}/PT6H", 3),
    ("R3/{start}/PT2H", 2),
    ("R/{start}/PT45M", 1),
    ("R/{start}/PT10M", 1),
    ("R/{start}/P1W", 1),
)
FAST = ("*/30 * * * * *", "R/{start}/PT30S")  # two jobs per simulation: long outages are aggregated


@dataclass(frozen=True, slots=True)
class Profile:
    """How a job's runs behave in the simulated runtime."""

    duration_s: float  # typical duration
    spread: float  # log-normal sigma
    fail: float
    lost: float
    oom: float
    signaled: float
    lost_before_start: float
    enforce_timeout: float  # chance the runtime itself stops a run at its timeout


@dataclass(frozen=True, slots=True)
class Window:
    name: str
    start: datetime
    end: datetime


# Short windows around each DST change that matters here (2030): New York springs forward on 10 March,
# Paris on 31 March, Sydney falls back on 7 April (02:00-03:00 local repeats) and Paris on 27 October.
WINDOWS = (
    Window("us-spring", utc("2030-03-09T12:00:00+00:00"), utc("2030-03-11T12:00:00+00:00")),
    Window("eu-spring", utc("2030-03-30T12:00:00+00:00"), utc("2030-04-01T12:00:00+00:00")),
    Window("sydney-autumn", utc("2030-04-05T18:00:00+00:00"), utc("2030-04-07T18:00:00+00:00")),
    Window("eu-autumn", utc("2030-10-26T12:00:00+00:00"), utc("2030-10-28T12:00:00+00:00")),
)
WEEK = Window("us-spring-week", utc("2030-03-08T00:00:00+00:00"), utc("2030-03-15T00:00:00+00:00"))


def _period_of(schedule: Schedule, around: datetime) -> timedelta:
    first = schedule.next_after(around)
    second = schedule.next_after(first) if first is not None else None
    if first is None or second is None:
        return timedelta(hours=6)
    return second - first


def _iso_start(rng: random.Random, window: Window) -> str:
    if rng.random() < 0.75:  # started in the past: the latest past occurrence runs at once
        start = window.start - timedelta(seconds=rng.randrange(0, 10 * 86_400))
    else:
        start = window.start + timedelta(
            seconds=rng.randrange(0, int((window.end - window.start).total_seconds()))
        )
    start = start.replace(second=0, microsecond=0)
    if rng.random() < 0.3:  # a wall clock in a zone's gap or overlap, when the job has a zone
        start = start.replace(hour=2, minute=30)
    return start.strftime("%Y-%m-%dT%H:%M:%S") + ("" if rng.random() < 0.5 else "Z")


def _pick(rng: random.Random, table: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([t for t, _ in table], weights=[w for _, w in table])[0]


@dataclass
class JobPlan:
    job: Job
    profile: Profile
    created_at: datetime | None = None  # None: part of the initial state
    quiet: bool = False  # never paused or rescheduled (jitter makes window accounting inexact)


def make_jobs(rng: random.Random, count: int, window: Window) -> list[JobPlan]:
    """A realistic mix: mostly daily and a few-hourly jobs, some frequent, ~10% dependent."""
    plans: list[JobPlan] = []
    for i in range(count):
        name = f"job-{i:05d}"
        tz = rng.choice(ZONES)
        parents: tuple[str, ...] | None = None
        schedule: str | None
        if i < len(FAST):
            schedule, tz = FAST[i].format(start=_iso_start(rng, window)), "UTC"
        elif i > 20 and rng.random() < 0.1:
            schedule = None
            pool = plans[-min(len(plans), 200) :]
            parents = tuple(sorted({rng.choice(pool).job.name for _ in range(rng.choice((1, 1, 2, 3)))}))
        elif rng.random() < 0.35:
            schedule = _pick(rng, ISOS).format(start=_iso_start(rng, window))
        else:
            schedule = _pick(rng, CRONS)
        policy = rng.choice(list(ConcurrencyPolicy))
        mode = rng.choice((CatchUpMode.LATEST, CatchUpMode.LATEST, CatchUpMode.ALL, CatchUpMode.NONE))
        deadline = rng.choice(
            (None, None, None, timedelta(seconds=30), timedelta(minutes=5), timedelta(hours=2))
        )
        quiet = i < len(FAST) or rng.random() < 0.2
        jitter = timedelta(seconds=rng.choice((0, 5, 60, 300))) if quiet and schedule else timedelta(0)
        if jitter:
            deadline, mode = None, rng.choice((CatchUpMode.LATEST, CatchUpMode.ALL))
        backoff = RetryBackoff(
            kind=rng.choice(list(BackoffKind)),
            first=timedelta(seconds=rng.choice((1, 10, 30, 60))),
            cap=timedelta(minutes=rng.choice((2, 10))),
            jitter=rng.choice((0.0, 0.0, 0.2)),
        )
        sched = parse_schedule(schedule, tz) if schedule else None
        period = _period_of(sched, window.start) if sched else timedelta(hours=1)
        typical = rng.choice((2.0, 20.0, 120.0, period.total_seconds() * rng.choice((0.3, 0.9, 1.6))))
        job = Job(
            name=name,
            command=f"run {name}",
            schedule=schedule,
            schedule_time_zone=tz if schedule else "",
            parents=parents,
            retries=rng.choice((0, 0, 1, 2, 3)),
            soft_error=rng.random() < 0.2,
            concurrency_policy=policy,
            starting_deadline=deadline,
            catch_up=CatchUp(mode, rng.choice((1, 2, 5))),
            retry_backoff=backoff,
            timeout=rng.choice(
                (None, None, timedelta(seconds=max(5.0, typical * 1.5)), timedelta(minutes=20))
            ),
            disable_after_failures=0 if i < len(FAST) else rng.choice((0, 0, 0, 3, 5)),
            jitter=jitter,
        )
        profile = Profile(
            duration_s=max(0.5, typical),
            spread=rng.choice((0.2, 0.6)),
            fail=rng.choice((0.0, 0.05, 0.2, 0.5)),
            lost=0.01,
            oom=0.005,
            signaled=0.005,
            lost_before_start=0.003,
            enforce_timeout=0.7,
        )
        created = None
        if i > 20 and rng.random() < 0.03:
            created = window.start + (window.end - window.start) * rng.random() * 0.8
        plans.append(JobPlan(job, profile, created, quiet))
    return plans


# ---- the durable store ---------------------------------------------------------------------------


class SimStore:
    """Applies the scheduler's writes exactly as a real store would, and refuses what a real one refuses."""

    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}
        self.runs: dict[str, Run] = {}
        self.open: dict[str, set[str]] = defaultdict(set)  # job -> open run ids
        self.cursors: dict[str, datetime] = {}  # job -> latest scheduled occurrence with a run record

    def create_run(self, run: Run) -> None:
        if run.id in self.runs:
            raise Violation(f"CreateRun of {run.id} ({run.state}), which exists as {self.runs[run.id].state}")
        self.runs[run.id] = run
        if not run.state.is_final:
            self.open[run.job].add(run.id)
        if run.trigger is Trigger.SCHEDULE:
            cursor = self.cursors.get(run.job)
            if cursor is None or run.scheduled_for > cursor:
                self.cursors[run.job] = run.scheduled_for

    def update_run(self, run: Run) -> Run:
        old = self.runs.get(run.id)
        if old is None:
            raise Violation(f"UpdateRun of {run.id}, which was never created")
        if old.state.is_final:
            raise Violation(f"UpdateRun of {run.id} to {run.state}: it already ended as {old.state}")
        if old.trigger is not run.trigger:
            raise Violation(f"UpdateRun of {run.id} changes its trigger {old.trigger} -> {run.trigger}")
        self.runs[run.id] = run
        if run.state.is_final:
            self.open[run.job].discard(run.id)
        return old

    def open_runs(self) -> list[Run]:
        return [self.runs[r] for ids in self.open.values() for r in sorted(ids)]

    def restored(self) -> StateRestored:
        return StateRestored(
            jobs=list(self.jobs.values()), open_runs=self.open_runs(), cursors=dict(self.cursors)
        )


# ---- the runtime ---------------------------------------------------------------------------------


class SimRuntime:
    """Executes launches on simulated time. Its view of what is executing is the ground truth."""

    def __init__(self, rng: random.Random, profiles: dict[str, Profile]) -> None:
        self.rng = rng
        self.profiles = profiles
        self.live: dict[str, int] = {}  # run id -> attempt executing
        self.live_by_job: dict[str, int] = defaultdict(int)
        self.killing: set[str] = set()
        self.gen: dict[str, int] = defaultdict(int)  # bumps cancel events already planned for a run
        self.events: list[tuple[datetime, int, str, int, RunStarted | RunFinished | RunLost]] = []
        self.seq = 0

    def _plan(self, at: datetime, event: RunStarted | RunFinished | RunLost) -> None:
        self.seq += 1
        heapq.heappush(self.events, (at, self.seq, event.run_id, self.gen[event.run_id], event))

    def peek(self) -> datetime | None:
        while self.events and self.events[0][3] != self.gen[self.events[0][2]]:
            heapq.heappop(self.events)
        return self.events[0][0] if self.events else None

    def pop(self) -> RunStarted | RunFinished | RunLost:
        _, _, rid, _, event = heapq.heappop(self.events)
        if not isinstance(event, RunStarted):
            self._ended(rid, event.attempt)
        return event

    def redeliver(self, event: object) -> None:
        """Run events are delivered at least once: one whose decision was lost with a crash comes again."""
        assert isinstance(event, RunStarted | RunFinished | RunLost)
        self._plan(event.at, event)

    def _ended(self, rid: str, attempt: int) -> None:
        if self.live.get(rid) == attempt:
            del self.live[rid]
            self.live_by_job[rid.rsplit(":", 1)[0]] -= 1
            self.killing.discard(rid)
            self.gen[rid] += 1

    def launch(self, cmd: LaunchRun, now: datetime, policy: ConcurrencyPolicy) -> None:
        rid, attempt, job = cmd.run.id, cmd.launch.attempt, cmd.run.job
        if rid in self.live:
            raise Violation(
                f"LaunchRun of {rid} attempt {attempt} while attempt {self.live[rid]} still executes"
            )
        if policy is not ConcurrencyPolicy.ALLOW and self.live_by_job[job]:
            running = sorted(r for r in self.live if r.rsplit(":", 1)[0] == job)
            raise Violation(f"LaunchRun of {rid} ({policy} job) while {running} execute")
        self.live[rid] = attempt
        self.live_by_job[job] += 1
        self.gen[rid] += 1
        p, rng = self.profiles[job], self.rng
        start = now + MS * rng.randrange(0, 2000)
        if rng.random() < p.lost_before_start:
            self._plan(start, RunLost(rid, attempt, start, "the container vanished before the run started"))
            return
        self._plan(start, RunStarted(rid, attempt, start, detail=f"pid {self.seq}"))
        duration = timedelta(milliseconds=int(1000 * rng.lognormvariate(0, p.spread) * p.duration_s))
        timeout = cmd.launch.timeout
        end = start + duration
        r = rng.random()
        event: RunFinished | RunLost
        if timeout is not None and duration > timeout and rng.random() < p.enforce_timeout:
            end = start + timeout
            event = RunFinished(rid, attempt, end, ExitKind.TIMED_OUT)
        elif r < p.lost:
            event = RunLost(rid, attempt, end, "the agent stopped answering")
        elif r < p.lost + p.oom:
            event = RunFinished(rid, attempt, end, ExitKind.OOM_KILLED, exit_code=137)
        elif r < p.lost + p.oom + p.signaled:
            event = RunFinished(rid, attempt, end, ExitKind.SIGNALED, signal=11)
        elif r < p.lost + p.oom + p.signaled + p.fail:
            event = RunFinished(rid, attempt, end, ExitKind.EXITED, exit_code=rng.choice((1, 2, 127)))
        else:
            event = RunFinished(rid, attempt, end, ExitKind.EXITED, exit_code=0, output_tail="ok\n")
        self._plan(end, event)

    def kill(self, cmd: KillRun, now: datetime) -> None:
        attempt = self.live.get(cmd.run_id)
        if attempt is None or cmd.run_id in self.killing:
            return  # already ended (its event is on its way) or already being stopped
        self.killing.add(cmd.run_id)
        self.gen[cmd.run_id] += 1
        at = now + MS * self.rng.randrange(0, 1500)
        self._plan(at, RunFinished(cmd.run_id, attempt, at, ExitKind.KILLED, signal=15))

    def reboot(self) -> None:
        """The host went down with horae: every process is gone, nothing is reported."""
        for rid in list(self.live):
            self._ended(rid, self.live[rid])

    def reconcile(self, store: SimStore, now: datetime) -> None:
        """After a restart, report as lost every launched run the store holds that nothing executes."""
        for run in store.open_runs():
            if run.state in (RunState.PENDING, RunState.RUNNING) and self.live.get(run.id) != run.attempt:
                self._plan(now, RunLost(run.id, run.attempt, now, "unknown to the runtime after a restart"))


# ---- invariants ----------------------------------------------------------------------------------


@dataclass
class DueSpan:
    """A stretch of time, in occurrence time, over which a job's schedule is due."""

    schedule: Schedule
    lo: datetime  # exclusive, occurrence time
    hi: datetime | None = None  # inclusive


class Invariants:
    """Checks every command as it is applied, with what a real store and runtime would see."""

    def __init__(self, store: SimStore) -> None:
        self.store = store
        self.kills: dict[tuple[str, int], str] = {}  # (run id, attempt) -> reason of a KillRun for it
        self.done_parents: dict[str, set[str]] = defaultdict(set)  # child -> parents complete since trigger
        self.children: dict[str, set[str]] = defaultdict(set)
        self.touched: set[str] = set()
        self.catchup_at: dict[str, set[datetime]] = defaultdict(
            set
        )  # job -> instants late runs may be decided
        self.restores: set[datetime] = set()
        self.kept: dict[tuple[str, datetime], int] = defaultdict(int)
        self.aggregated: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
        self.windows: dict[str, list[DueSpan]] = defaultdict(list)
        self.jitter_seen: dict[str, timedelta] = {}
        self.counts: dict[str, int] = defaultdict(int)

    # job definitions: which occurrences are due, independently of the scheduler's own bookkeeping

    def link(self, job: Job) -> None:
        for parent in job.parents or ():
            self.children[parent].add(job.name)

    def job_changed(self, old: Job | None, new: Job, now: datetime) -> None:
        if old is None:
            self.link(new)
        key_old = (old.schedule, old.schedule_time_zone, old.parents, old.jitter) if old else None
        key_new = (new.schedule, new.schedule_time_zone, new.parents, new.jitter)
        windows = self.windows[new.name]
        is_open = bool(windows) and windows[-1].hi is None
        if key_old != key_new:
            if is_open:
                windows[-1].hi = now
            if new.schedule is not None and new.parents is None and not new.disabled:
                schedule = parse_schedule(new.schedule, new.schedule_time_zone)
                lo = now
                if isinstance(
                    schedule, IsoSchedule
                ):  # a start in the past: its latest occurrence runs at once,
                    latest = schedule.last_at_or_before(
                        now
                    )  # unless the previous schedule handled that instant
                    if latest is not None and (not is_open or latest > self._handled(windows[-1])):
                        lo = latest - US
                        self.catchup_at[new.name].add(now)
                windows.append(DueSpan(schedule, lo))
        elif old is not None and old.disabled != new.disabled and new.schedule is not None:
            if new.disabled and is_open:
                windows[-1].hi = now
            elif not new.disabled and not is_open:
                windows.append(DueSpan(parse_schedule(new.schedule, new.schedule_time_zone), now))

    @staticmethod
    def _handled(span: DueSpan) -> datetime:
        """How far a closed span's schedule was handled: its last occurrence, or where it began."""
        assert span.hi is not None
        last = span.schedule.last_at_or_before(span.hi)
        return last if last is not None and last > span.lo else span.lo

    def restored(self, now: datetime) -> None:
        self.restores.add(now)
        self.done_parents.clear()  # the scheduler keeps parents' completions in memory only

    def marked_succeeded(self, job: str) -> None:
        if job in self.store.jobs:
            self.done_parents.pop(job, None)
            self._parent_done(job)

    def _parent_done(self, parent: str) -> None:
        for child in self.children.get(parent, ()):
            self.done_parents[child].add(parent)
            self.touched.add(child)

    # commands

    def _check_run(self, run: Run, what: str) -> None:
        job = self.store.jobs[run.job]
        if run.attempt > job.retries:
            raise Violation(f"{what} {run.id}: attempt {run.attempt} exceeds retries {job.retries}")
        if run.state.is_final and run.state is not RunState.SUCCEEDED and not run.reason:
            raise Violation(f"{what} {run.id}: final state {run.state} without a reason")

    def created(self, run: Run, now: datetime) -> None:
        self._check_run(run, "CreateRun")
        job = self.store.jobs[run.job]
        self.counts[run.state] += 1
        if run.trigger is Trigger.DEPENDENCY:
            missing = set(job.parents or ()) - self.done_parents[run.job]
            if missing:
                raise Violation(f"dependent run {run.id} before parents {sorted(missing)} completed")
            self.done_parents[run.job].clear()
        if run.state is RunState.SKIPPED and "forbid" in run.reason and not self.store.open[run.job]:
            raise Violation(f"{run.id} skipped for concurrencyPolicy forbid, but no run of the job is open")
        if run.trigger is not Trigger.SCHEDULE:
            return
        late = now - run.scheduled_for
        catchup = now in self.restores or now in self.catchup_at[run.job]
        if run.state is RunState.MISSED:
            if not catchup:
                raise Violation(
                    f"{run.id} recorded missed at {now}, which is neither a restart nor a job start"
                )
            if "not listed one by one" in run.reason:
                since = datetime.fromisoformat(run.reason.split("after ", 1)[1].split(" through", 1)[0])
                self.aggregated[run.job].append((since, run.scheduled_for))
            return
        if catchup:
            keep = job.catch_up.limit if job.catch_up.mode is CatchUpMode.ALL else 1
            self.kept[run.job, now] += 1
            if self.kept[run.job, now] > keep:
                raise Violation(
                    f"{self.kept[run.job, now]} late occurrences of {run.job} run at {now}; keeps {keep}"
                )
        if job.jitter:
            if catchup:
                late = max(timedelta(0), late - job.jitter)  # the job's offset is unknown here: be lenient
            else:
                offset = self.jitter_seen.setdefault(run.job, late)
                if late != offset or not timedelta(0) <= late < job.jitter:
                    raise Violation(
                        f"{run.id} created {late} after its occurrence; jitter {job.jitter}, seen {offset}"
                    )
                late = timedelta(0)
        if late and not catchup:
            raise Violation(f"{run.id} triggered {late} late at {now} without an outage")
        deadline = job.starting_deadline
        if deadline is None and job.catch_up.mode is CatchUpMode.NONE:
            deadline = NONE_GRACE
        if deadline is not None and late > deadline:
            raise Violation(f"{run.id} ({run.state}) started {late} late, past its deadline {deadline}")

    def updated(self, old: Run, run: Run) -> None:
        self._check_run(run, "UpdateRun")
        if run.state is RunState.RETRY_WAIT:
            reason = self.kills.get((run.id, old.attempt))
            if reason is not None and reason != _TIMEOUT_KILL:
                raise Violation(f"{run.id} attempt {old.attempt} was killed ({reason}) and is retried")
            if run.attempt != old.attempt + 1:
                raise Violation(f"{run.id} retry moves attempt {old.attempt} -> {run.attempt}")
        if run.state.is_final:
            self.counts[run.state] += 1
            job = self.store.jobs[run.job]
            if run.state is RunState.SUCCEEDED or (job.soft_error and run.state in _FAILURES):
                self._parent_done(run.job)

    def launched(self, cmd: LaunchRun) -> None:
        stored = self.store.runs.get(cmd.run.id)
        if stored is None:
            raise Violation(f"LaunchRun of {cmd.run.id} before any CreateRun")
        if stored.state is not RunState.PENDING or stored.attempt != cmd.launch.attempt:
            raise Violation(
                f"LaunchRun of {cmd.run.id} attempt {cmd.launch.attempt}, stored as {stored.state} "
                f"attempt {stored.attempt}: the launch is not durable"
            )

    def killed(self, cmd: KillRun) -> None:
        stored = self.store.runs.get(cmd.run_id)
        if stored is None or stored.state.is_final:
            raise Violation(f"KillRun of {cmd.run_id}, which is not open")
        key = (cmd.run_id, stored.attempt)
        if cmd.reason != _TIMEOUT_KILL or key not in self.kills:  # remember a kill on request over a timeout
            self.kills[key] = cmd.reason

    def after_step(self, what: str) -> None:
        """Dependent jobs fire in the same decision as the completion that makes their parents whole."""
        for child in self.touched:
            job = self.store.jobs.get(child)
            if job is not None and job.parents and self.done_parents[child].issuperset(job.parents):
                raise Violation(f"after {what}: every parent of {child} completed, but it was not triggered")
        self.touched.clear()


# ---- the driver ----------------------------------------------------------------------------------


@dataclass(order=True)
class Outside:
    """Something from outside the scheduler at a given instant: an API call or an outage."""

    at: datetime
    seq: int
    kind: str = field(compare=False)
    job: str = field(compare=False, default="")
    arg: object = field(compare=False, default=None)


@dataclass
class SimConfig:
    jobs: int
    window: Window
    seed: int = 1
    outages: tuple[tuple[timedelta, str], ...] = (
        (timedelta(seconds=45), "clean"),
        (timedelta(minutes=20), "reboot"),
        (timedelta(hours=3), "cut"),
        (timedelta(hours=10), "cut"),
    )
    api_calls_per_hour: float = 12.0
    record: bool = False  # keep every command (for the replay test)


class Simulation:
    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.plans = make_jobs(self.rng, config.jobs, config.window)
        self.profiles = {p.job.name: p.profile for p in self.plans}
        self.store = SimStore()
        self.runtime = SimRuntime(random.Random(config.seed + 1), self.profiles)
        self.check = Invariants(self.store)
        self.scheduler: Scheduler | None = None
        self.restarts = 0
        self.cut_next = False
        self.now = config.window.start
        self.steps = 0
        self.commands: list[Command] = []
        self.notices = 0
        self.outside: list[Outside] = []
        self._plan_outside()

    # the plan of what happens from outside

    def _add(self, at: datetime, kind: str, job: str = "", arg: object = None) -> None:
        heapq.heappush(self.outside, Outside(truncate_ms(at), len(self.outside) + 1, kind, job, arg))

    def _plan_outside(self) -> None:
        rng, w = self.rng, self.config.window
        span = (w.end - w.start).total_seconds()
        names = [p.job.name for p in self.plans]
        movable = [p.job.name for p in self.plans if not p.quiet]
        for plan in self.plans:
            if plan.created_at is not None:
                self._add(plan.created_at, "create", plan.job.name)
        # outages in disjoint slots, each ending before the window does
        slots = len(self.config.outages)
        for k, (length, how) in enumerate(self.config.outages):
            lo = w.start + (w.end - w.start) * (k / slots)
            room = max(0.0, span / slots - length.total_seconds() - 60)
            at = lo + timedelta(seconds=30 + rng.random() * room)
            self._add(at, "crash", arg=how)
            self._add(at + length, "restore")
        kinds = ("manual", "manual", "kill_job", "kill_run", "kill_run", "mark", "pause", "reschedule")
        for _ in range(int(span / 3600 * self.config.api_calls_per_hour)):
            at = w.start + timedelta(seconds=rng.random() * span)
            kind = rng.choice(kinds)
            job = rng.choice(movable if kind in ("pause", "reschedule") else names)
            if kind == "pause":
                self._add(at, "pause", job)
                self._add(at + timedelta(minutes=rng.choice((5, 90, 600))), "resume", job)
            elif kind == "reschedule":
                iso = _pick(rng, ISOS).format(start=_iso_start(rng, w))
                text = iso if rng.random() < 0.5 else _pick(rng, CRONS)
                self._add(at, "reschedule", job, (text, rng.choice(ZONES)))
            else:
                self._add(at, kind, job)

    # running

    def run(self) -> Simulation:
        end = self.config.window.end
        initial = [p.job for p in self.plans if p.created_at is None]
        for job in initial:
            self.store.jobs[job.name] = job
            self.check.job_changed(None, job, self.now)
        self._boot()
        while True:
            up = self.scheduler is not None
            wake = self.scheduler.wake_at() if self.scheduler is not None else None
            ran = self.runtime.peek() if up else None
            ext = self.outside[0].at if self.outside else None
            t = min((x for x in (wake, ran, ext) if x is not None), default=None)
            if t is None or t > end:
                break
            self.now = max(self.now, t)
            if wake is not None and wake <= self.now:
                self._step(TimerFired())
            elif ran is not None and ran <= self.now:
                self._step(self.runtime.pop())
            else:
                self._outside(heapq.heappop(self.outside))
        return self

    def _boot(self) -> None:
        self.cut_next = False
        self.scheduler = Scheduler(seed=self.config.seed * 1000 + self.restarts)
        self.check.restored(self.now)
        self._step(self.store.restored())

    def _step(self, event: object) -> None:
        assert self.scheduler is not None
        now = self.now
        decision = self.scheduler.handle(event, now)
        self.steps += 1
        commands = decision.commands
        if self.config.record:
            self.commands.extend(commands)
        if decision.wake_at is not None and decision.wake_at.tzinfo is None:
            raise Violation(f"naive wake_at {decision.wake_at}")
        cut = self.cut_next and isinstance(event, TimerFired | RunStarted | RunFinished | RunLost)
        if cut:  # the process dies part-way through carrying the decision out
            commands = commands[: self.rng.randrange(0, len(commands) + 1)]
            self.cut_next = False
            self.scheduler = None
        what = f"step {self.steps} ({type(event).__name__} at {now.isoformat()})"
        for cmd in commands:
            try:
                self._apply(cmd, now)
            except Violation as e:
                raise Violation(f"{what}: {e}") from None
        if cut:
            self.check.touched.clear()  # the rest of the decision is lost with the process
            if not isinstance(event, TimerFired):  # never acknowledged: the runtime reports it again
                self.runtime.redeliver(event)
        else:
            self.check.after_step(what)

    def _apply(self, cmd: Command, now: datetime) -> None:
        store, check = self.store, self.check
        if isinstance(cmd, CreateRun):
            store.create_run(cmd.run)
            check.created(cmd.run, now)
        elif isinstance(cmd, UpdateRun):
            old = store.update_run(cmd.run)
            check.updated(old, cmd.run)
        elif isinstance(cmd, LaunchRun):
            check.launched(cmd)
            self.runtime.launch(cmd, now, store.jobs[cmd.run.job].concurrency_policy)
        elif isinstance(cmd, KillRun):
            check.killed(cmd)
            self.runtime.kill(cmd, now)
        elif isinstance(cmd, UpdateJob):
            old_job = store.jobs.get(cmd.job.name)
            store.jobs[cmd.job.name] = cmd.job
            check.job_changed(old_job, cmd.job, now)
        elif isinstance(cmd, Notify):
            self.notices += 1
        else:  # pragma: no cover
            raise Violation(f"unknown command {cmd!r}")

    def _save(self, job: Job) -> None:
        """An API write: durable first, then the scheduler hears of it."""
        old = self.store.jobs.get(job.name)
        self.store.jobs[job.name] = job
        self.check.job_changed(old, job, self.now)
        self._step(JobSaved(job))

    def _outside(self, ext: Outside) -> None:
        if ext.kind == "restore":
            self.restarts += 1
            self.runtime.reconcile(self.store, self.now)
            self._boot()
            return
        if self.scheduler is None:
            if ext.kind == "create":  # an API write while horae is down lands when it is back
                self._add(self.now + timedelta(minutes=1), ext.kind, ext.job, ext.arg)
            return  # the API is down with the scheduler
        if ext.kind == "crash":
            if ext.arg == "cut":
                self.cut_next = True
                return
            self.scheduler = None
            if ext.arg == "reboot":
                self.runtime.reboot()
            return
        job = self.store.jobs.get(ext.job)
        if ext.kind == "create":
            plan = next(p for p in self.plans if p.job.name == ext.job)
            self._save(plan.job)
        elif job is None:
            return
        elif ext.kind == "manual":
            self._step(
                ManualRunRequested(ext.job, arguments=("--manual",) if self.rng.random() < 0.5 else None)
            )
        elif ext.kind == "kill_job":
            self._step(KillRequested(ext.job))
        elif ext.kind == "kill_run":
            candidates = sorted(r for ids in self.store.open.values() for r in ids)
            if candidates:
                self._step(RunKillRequested(self.rng.choice(candidates)))
        elif ext.kind == "mark":
            self.check.marked_succeeded(ext.job)
            self._step(RunMarkedSucceeded(ext.job))
        elif ext.kind == "pause":
            self._save(replace(job, disabled=True))
        elif ext.kind == "resume":
            self._save(replace(job, disabled=False))
        elif ext.kind == "reschedule" and job.schedule is not None and not job.disabled:
            assert isinstance(ext.arg, tuple)
            text, tz = ext.arg
            self._save(replace(job, schedule=text, schedule_time_zone=tz))

    # ---- end-of-run checks -----------------------------------------------------------------------

    def occurrences(self, name: str) -> Iterator[tuple[datetime, datetime]]:
        """Every occurrence that fell due for a job over the simulation, by an independent enumeration,
        with the end of the stretch it belongs to."""
        for window in self.check.windows[name]:
            hi = window.hi or self.config.window.end
            t = window.schedule.next_after(window.lo)
            while t is not None and t <= hi:
                yield t, hi
                t = window.schedule.next_after(t)

    def check_coverage(self) -> int:
        """Every due occurrence up to the last tick is a run record or inside an aggregated missed record;
        every scheduled run record is such an occurrence. Returns how many occurrences were checked."""
        store = self.store
        checked = 0
        scheduled: dict[str, set[datetime]] = defaultdict(set)
        for run in store.runs.values():
            if run.trigger is Trigger.SCHEDULE:
                scheduled[run.job].add(run.scheduled_for)
        for name, job in store.jobs.items():
            slack = job.jitter
            gaps = self.check.aggregated.get(name, [])
            seen: set[datetime] = set()
            for occ, hi in self.occurrences(name):
                at = truncate_ms(occ)
                seen.add(at)
                checked += 1
                if at in scheduled[name] or occ + slack > hi:  # a jittered one may fall due after the stretch
                    continue
                if not any(since < occ <= until for since, until in gaps):
                    raise Violation(
                        f"occurrence {occ.isoformat()} of {name} ({job.schedule}) has no run record"
                    )
            extra = {t for t in scheduled[name] - seen if not self._within_jitter(name, t, slack)}
            if extra:
                first = min(extra)
                raise Violation(
                    f"{name} ({job.schedule}) has {len(extra)} scheduled runs that are not due occurrences, "
                    f"e.g. {store.runs[run_id(name, first)]}"
                )
        return checked

    def _within_jitter(self, name: str, t: datetime, jitter: timedelta) -> bool:
        """A jittered job whose ISO start is past runs its latest occurrence at or before `now - offset`,
        which may be an occurrence before the start of the span."""
        for span in self.check.windows[name] if jitter else ():
            first = span.schedule.last_at_or_before(span.lo + US - jitter)
            if first is not None and first <= t <= span.lo + US:
                return True
        return False

    def check_settled(self) -> None:
        """Nothing is stuck: every open run is executing, waiting for a due retry, or queued behind one."""
        for run in self.store.open_runs():
            if run.state in (RunState.PENDING, RunState.RUNNING):
                if self.runtime.live.get(run.id) != run.attempt:
                    raise Violation(f"{run.id} is {run.state} but the runtime does not execute it")
            elif run.state is RunState.RETRY_WAIT:
                overdue = run.due_at is None or run.due_at < self.config.window.end - timedelta(seconds=1)
                if overdue and self.scheduler is not None:
                    raise Violation(f"{run.id} waits for a retry due at {run.due_at}, which has passed")
            elif run.state is RunState.QUEUED:
                ahead = [
                    r for r in self.store.open[run.job] if self.store.runs[r].state is not RunState.QUEUED
                ]
                if not ahead:
                    raise Violation(f"{run.id} is queued behind nothing")
