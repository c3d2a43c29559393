"""The scheduler: a deterministic state machine, `handle(event, now) -> Decision`.

It never reads the clock, sleeps, touches disk or network, or draws unseeded randomness: `now` and the
seed are inputs, so any history can be replayed exactly. Invariants it keeps:
- every run is announced by `CreateRun` before its first `LaunchRun`;
- `(job, scheduled_for)` is never created twice;
- every due occurrence ends as a run with an outcome and a reason (run, missed or skipped);
- a `forbid` job never has two open runs; concurrency policy applies to every trigger;
- retries are attempts of the same run and never move the schedule; killed runs are not retried.
"""

from __future__ import annotations

import heapq
import random
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from horae.core._calendar import earlier, later
from horae.core._catchup import due_occurrences, judge
from horae.core._launch import build_launch
from horae.core._messages import (
    Command,
    CreateRun,
    Decision,
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
    StateRestored,
    TaskCompleted,
    TimerFired,
    UpdateJob,
    UpdateRun,
)
from horae.core._stats import EMPTY, Histogram, RunTimes
from horae.model import (
    BackoffKind,
    ConcurrencyPolicy,
    ExitKind,
    Job,
    Run,
    RunFinished,
    RunLost,
    RunStarted,
    RunState,
    Trigger,
)
from horae.schedule import InvalidSchedule, IsoSchedule, Schedule, parse_schedule

MS = timedelta(milliseconds=1)
MAX_QUEUED = 100  # concurrencyPolicy queue: beyond this many waiting runs a trigger is skipped
TIMEOUT_MARGIN = timedelta(seconds=30)
# The reason an open run carries while horae stops it (durable, so a restart reads its exit the same way).
STOPPING = "stopping: "
TIMING_OUT = "stopping: timed out"  # runtimes enforce timeouts; the scheduler steps in after this margin

_OCCURRENCE, _RETRY, _TIMEOUT = 0, 1, 2
_RETRYABLE = frozenset({RunState.FAILED, RunState.TIMED_OUT, RunState.OOM_KILLED, RunState.LOST})
_FAILURES = _RETRYABLE


def truncate_ms(t: datetime) -> datetime:
    return t.replace(microsecond=t.microsecond - t.microsecond % 1000)


def jitter_offset(job: Job) -> timedelta:
    """A deterministic spread in [0, jitter): the same for a job name on every host and every restart."""
    if not job.jitter:
        return timedelta(0)
    fraction = zlib.crc32(job.name.encode()) / 2**32
    return truncate_ms_delta(job.jitter * fraction)


def truncate_ms_delta(d: timedelta) -> timedelta:
    return d - timedelta(microseconds=d.microseconds % 1000)


class _JobState:
    __slots__ = (
        "active",
        "cursor",
        "gen",
        "job",
        "last_instant",
        "next_at",
        "offset",
        "parents_done",
        "queue",
        "schedule",
        "times",
    )

    def __init__(self, job: Job) -> None:
        self.job = job
        self.schedule: Schedule | None = None
        self.offset = timedelta(0)
        self.cursor: datetime | None = None  # every occurrence <= cursor is handled
        self.next_at: datetime | None = None  # the next occurrence after the cursor
        self.gen = 0  # bumps invalidate queued occurrence timers
        self.active: dict[str, None] = {}  # open runs holding a concurrency slot (insertion ordered)
        # Allocated on first use: most jobs never queue, and 100,000 idle jobs must stay small.
        self.queue: list[str] = []  # QUEUED runs, oldest first (at most MAX_QUEUED)
        self.parents_done: set[str] | None = None
        self.times: RunTimes | None = None
        self.last_instant: datetime | None = None


class _OpenRun:
    __slots__ = ("kill_reason", "run", "timing_out")

    def __init__(self, run: Run) -> None:
        self.run = run
        self.kill_reason: str | None = None
        self.timing_out = False


class Scheduler:
    """Owns the scheduling state of every job and decides what happens next."""

    def __init__(self, *, seed: int = 0) -> None:
        self._rng = random.Random(seed)
        self._jobs: dict[str, _JobState] = {}
        self._runs: dict[str, _OpenRun] = {}
        self._children: dict[str, set[str]] = {}  # parent name -> dependent jobs, whether or not it exists
        self._timers: list[tuple[datetime, int, int, str, int]] = []
        self._seq = 0
        self._out: list[Command] = []
        self._handlers: dict[type[Any], Callable[[Any, datetime], None]] = {
            StateRestored: self._on_restored,
            JobSaved: self._on_job_saved,
            JobDeleted: self._on_job_deleted,
            TimerFired: self._on_timer,
            ManualRunRequested: self._on_manual,
            RunMarkedSucceeded: self._on_marked_succeeded,
            KillRequested: self._on_kill_job,
            RunKillRequested: self._on_kill_run,
            TaskCompleted: self._on_task_completed,
            RunStarted: self._on_started,
            RunFinished: self._on_finished,
            RunLost: self._on_lost,
        }

    # ---- the one entry point -------------------------------------------------------------------------

    def handle(self, event: object, now: datetime) -> Decision:
        """Decide what `event` at `now` leads to. Every instant in the output has millisecond precision."""
        self._out = []
        self._handlers[type(event)](event, truncate_ms(now))
        return Decision(self._out, self.wake_at())

    def tick(self, now: datetime) -> Decision:
        return self.handle(TimerFired(), now)

    def wake_at(self) -> datetime | None:
        timers = self._timers
        while timers and not self._timer_live(timers[0]):
            heapq.heappop(timers)
        return timers[0][0] if timers else None

    # ---- read-only views (for the API) ---------------------------------------------------------------

    def job(self, name: str) -> Job | None:
        js = self._jobs.get(name)
        return js.job if js else None

    def jobs(self) -> Iterator[Job]:
        return (js.job for js in self._jobs.values())

    def open_runs(self, job: str | None = None) -> list[Run]:
        return [o.run for o in self._runs.values() if job is None or o.run.job == job]

    def open_run(self, run_id: str) -> Run | None:
        o = self._runs.get(run_id)
        return o.run if o else None

    def next_due(self, name: str) -> datetime | None:
        js = self._jobs.get(name)
        if js is None or js.next_at is None or js.job.disabled:
            return None
        return later(js.next_at, js.offset)

    def job_state(self, name: str) -> str:
        """Chronos's run state: `idle`, `queued` or `<n> running`."""
        js = self._jobs.get(name)
        if js is None:
            return "idle"
        running = sum(1 for r in js.active if self._runs[r].run.state is RunState.RUNNING)
        if running:
            return f"{running} running"
        return "queued" if js.active or js.queue else "idle"

    def histogram(self, name: str) -> Histogram:
        js = self._jobs.get(name)
        return js.times.histogram() if js and js.times else EMPTY

    def queue_depth(self) -> int:
        return sum(len(js.queue) for js in self._jobs.values())

    # ---- timers --------------------------------------------------------------------------------------

    def _push(self, when: datetime, kind: int, key: str, token: int) -> None:
        self._seq += 1
        heapq.heappush(self._timers, (when, self._seq, kind, key, token))

    def _timer_live(self, timer: tuple[datetime, int, int, str, int]) -> bool:
        _, _, kind, key, token = timer
        if kind == _OCCURRENCE:
            js = self._jobs.get(key)
            return js is not None and js.gen == token
        o = self._runs.get(key)
        if o is None or o.run.attempt != token:
            return False
        if kind == _RETRY:
            return o.run.state is RunState.RETRY_WAIT
        return o.run.state in (RunState.PENDING, RunState.RUNNING)

    def _on_timer(self, event: TimerFired, now: datetime) -> None:
        timers = self._timers
        while timers and timers[0][0] <= now:
            timer = heapq.heappop(timers)
            if not self._timer_live(timer):
                continue
            kind, key = timer[2], timer[3]
            if kind == _OCCURRENCE:
                self._fire_occurrences(self._jobs[key], now)
            elif kind == _RETRY:
                self._retry_due(self._runs[key], now)
            else:
                self._timeout_due(self._runs[key], now)

    def _arm(self, js: _JobState) -> None:
        """Set the timer of the next occurrence after the cursor (invalidating older ones)."""
        following = None
        if js.schedule is not None and js.cursor is not None and not js.job.disabled:
            following = js.schedule.next_after(js.cursor)
        self._arm_at(js, following)

    def _arm_at(self, js: _JobState, following: datetime | None) -> None:
        """Set the timer of `following`, already known to be the next occurrence after the cursor.
        One whose jitter pushes it beyond the calendar never fires: the schedule is over."""
        js.gen += 1
        fire_at = None if js.job.disabled or following is None else later(following, js.offset)
        js.next_at = following if fire_at is not None else None
        if fire_at is not None:
            self._push(fire_at, _OCCURRENCE, js.job.name, js.gen)

    # ---- job definitions -----------------------------------------------------------------------------

    def _on_restored(self, event: StateRestored, now: datetime) -> None:
        self._jobs.clear()
        self._runs.clear()
        self._timers.clear()
        self._children.clear()
        for job in event.jobs:
            js = _JobState(job)
            self._jobs[job.name] = js
            self._attach_schedule(js)
            if js.schedule is not None:
                cursors = [c for c in (job.scheduled_through, event.cursors.get(job.name)) if c is not None]
                if cursors:
                    js.cursor = max(cursors)
                else:
                    self._start_schedule(js, now)
        for js in self._jobs.values():
            self._link_parents(js.job.name, None, js.job.parents)
        for run in sorted(event.open_runs, key=lambda r: r.scheduled_for):
            self._restore_run(run, now)
        # Jobs that share a schedule have usually run the same occurrences, so they share a next one too.
        following: dict[tuple[int, datetime], datetime | None] = {}
        for js in self._jobs.values():
            if js.schedule is None or js.cursor is None or js.job.disabled:
                self._arm_at(js, None)
                continue
            key = (id(js.schedule), js.cursor)
            if key not in following:
                following[key] = js.schedule.next_after(js.cursor)
            self._arm_at(js, following[key])

    def _restore_run(self, run: Run, now: datetime) -> None:
        open_run = _OpenRun(run)
        self._runs[run.id] = open_run
        if run.reason == TIMING_OUT:
            open_run.timing_out = True
        elif run.reason.startswith(STOPPING):
            open_run.kill_reason = run.reason[len(STOPPING) :]
        js = self._jobs.get(run.job)
        if run.state is RunState.QUEUED:
            if js is None:
                self._finish_unlaunched(open_run, RunState.SKIPPED, "job deleted before it started", now)
            else:
                js.queue.append(run.id)
            return
        if js is not None:
            js.active[run.id] = None
        if run.state is RunState.RETRY_WAIT:
            self._push(run.due_at or now, _RETRY, run.id, run.attempt)
        elif run.state is RunState.RUNNING and js is not None and js.job.timeout is not None:
            self._push_deadline(run.started_at or now, js.job.timeout, run)

    def _attach_schedule(self, js: _JobState) -> None:
        job = js.job
        js.schedule = None
        js.offset = jitter_offset(job)
        if job.schedule is None or job.parents is not None:
            return
        try:
            js.schedule = parse_schedule(job.schedule, job.schedule_time_zone)
        except InvalidSchedule:
            js.schedule = None  # validated on the way in; a job stored by an older version just never fires

    def _start_schedule(self, js: _JobState, now: datetime) -> None:
        """A new or rescheduled job: occurrences from now on are due. An ISO schedule whose start is past
        runs its latest past occurrence at once, as Chronos does; older ones were never the job's. One the
        previous schedule already handled (at or before the old cursor) may have its run: it is not redone."""
        assert js.schedule is not None
        latest = None
        if isinstance(js.schedule, IsoSchedule):
            latest = js.schedule.last_at_or_before(earlier(now, js.offset))
            if latest is not None and js.cursor is not None and latest <= js.cursor:
                latest = None
        js.cursor = latest - timedelta(microseconds=1) if latest is not None else now
        self._remember_cursor(js)

    def _remember_cursor(self, js: _JobState) -> None:
        if js.job.scheduled_through != js.cursor:
            js.job = replace(js.job, scheduled_through=js.cursor)
            self._out.append(UpdateJob(js.job))

    def _on_job_saved(self, event: JobSaved, now: datetime) -> None:
        job = event.job
        js = self._jobs.get(job.name)
        old: Job | None = None
        if js is None:
            js = _JobState(job)
            self._jobs[job.name] = js
        else:
            old = js.job
            js.job = job
        self._link_parents(job.name, old.parents if old else None, job.parents)
        self._attach_schedule(js)
        schedule_changed = old is None or (
            (old.schedule, old.schedule_time_zone, old.parents)
            != (job.schedule, job.schedule_time_zone, job.parents)
            or old.jitter != job.jitter
        )
        resumed = old is not None and old.disabled and not job.disabled
        if js.schedule is None:
            js.cursor = None
        elif schedule_changed or js.cursor is None:
            self._start_schedule(js, now)
        elif resumed:
            self._resume(js, now)
        else:
            self._remember_cursor(js)  # a replacement from a Chronos client carries no cursor; keep ours
        self._arm(js)

    def _resume(self, js: _JobState, now: datetime) -> None:
        """Occurrences while a job was paused are not due: its schedule resumes from now."""
        js.cursor = now
        self._remember_cursor(js)

    def _link_parents(self, name: str, old: tuple[str, ...] | None, new: tuple[str, ...] | None) -> None:
        for parent in set(old or ()) - set(new or ()):
            self._children.get(parent, set()).discard(name)
        for parent in new or ():
            self._children.setdefault(parent, set()).add(name)
        if old != new and name in self._jobs:
            self._jobs[name].parents_done = None

    def _on_job_deleted(self, event: JobDeleted, now: datetime) -> None:
        js = self._jobs.pop(event.name, None)
        if js is None:
            return
        js.gen += 1
        self._link_parents(event.name, js.job.parents, None)
        self._stop_runs(js, "job deleted", now)
        for child_name in sorted(self._children.pop(event.name, ())):
            child = self._jobs.get(child_name)
            if child is not None:
                self._rewire_child(child, js.job, now)
        self._out.append(Notify(event.name, NoticeKind.DELETED, f"job '{event.name}' was deleted"))

    def _rewire_child(self, child: _JobState, deleted: Job, now: datetime) -> None:
        """Chronos's rule: a child of a dependent job inherits its grandparents; a child whose only parent
        was a scheduled job takes over that job's schedule. (Chronos also drops most of the child's other
        fields in that case; horae keeps them.)"""
        parents = tuple(p for p in child.job.parents or () if p != deleted.name)
        if deleted.parents is not None:
            parents += tuple(p for p in deleted.parents if p not in parents and p != child.job.name)
        if parents:
            job = replace(child.job, parents=parents)
        else:
            job = replace(
                child.job,
                parents=None,
                schedule=deleted.schedule,
                schedule_time_zone=deleted.schedule_time_zone,
                scheduled_through=None,
            )
        mark = len(self._out)
        self._on_job_saved(JobSaved(job), now)
        if not any(isinstance(c, UpdateJob) and c.job.name == job.name for c in self._out[mark:]):
            self._out.append(UpdateJob(job))

    # ---- triggers ------------------------------------------------------------------------------------

    def _fire_occurrences(self, js: _JobState, now: datetime) -> None:
        assert js.schedule is not None and js.cursor is not None
        first, offset = js.next_at, js.offset
        following = None
        on_time = first is not None and first + offset <= now
        if on_time:
            assert first is not None
            following = js.schedule.next_after(first)
            fire_at = None if following is None else later(following, offset)
            on_time = fire_at is None or fire_at > now
        if on_time:
            # The common case: exactly the expected occurrence is due, so nothing needs listing.
            assert first is not None
            verdicts, js.cursor = [judge(first, True, now, offset, js.job)], first
        else:
            verdicts, js.cursor = due_occurrences(js.schedule, js.cursor, now, js.job, offset)
        for verdict in verdicts:
            scheduled_for = truncate_ms(verdict.scheduled_for)
            if verdict.run:
                self._trigger(js, scheduled_for, Trigger.SCHEDULE, now)
            else:
                self._record_final(
                    Run(
                        js.job.name,
                        scheduled_for,
                        Trigger.SCHEDULE,
                        RunState.MISSED,
                        created_at=now,
                        finished_at=now,
                        reason=verdict.reason,
                    )
                )
        if on_time:
            self._arm_at(js, following)
        else:
            self._arm(js)

    def _unique_instant(self, js: _JobState, now: datetime) -> datetime | None:
        """Manual and dependent runs are named by their request instant, nudged forward by a millisecond
        while it collides with an earlier request or a scheduled occurrence of the job; None when the
        nudge would leave the calendar (the last millisecond of the year 9999), so no run can be named."""
        t: datetime | None = truncate_ms(now)
        if js.last_instant is not None and t is not None and t <= js.last_instant:
            t = later(js.last_instant, MS)
        while t is not None and js.schedule is not None and js.schedule.is_occurrence(t):
            t = later(t, MS)
        if t is not None:
            js.last_instant = t
        return t

    def _on_manual(self, event: ManualRunRequested, now: datetime) -> None:
        js = self._jobs.get(event.job)
        if js is None:
            return
        scheduled_for = self._unique_instant(js, now)
        if scheduled_for is not None:
            self._trigger(js, scheduled_for, Trigger.MANUAL, now, event.arguments, event.environment)

    def _trigger(
        self,
        js: _JobState,
        scheduled_for: datetime,
        trigger: Trigger,
        now: datetime,
        arguments: tuple[str, ...] | None = None,
        environment: tuple[tuple[str, str], ...] = (),
    ) -> None:
        job = js.job
        run = Run(
            job.name,
            scheduled_for,
            trigger,
            RunState.PENDING,
            due_at=now,
            created_at=now,
            arguments=arguments,
            environment=environment,
        )
        if job.disabled:
            self._record_final(
                replace(run, state=RunState.SKIPPED, finished_at=now, reason="skipped: job is disabled")
            )
            return
        policy = job.concurrency_policy
        if not js.active or policy is ConcurrencyPolicy.ALLOW:
            self._out.append(CreateRun(run))
            self._launch(js, _OpenRun(run), now)
            return
        holder = next(iter(js.active))
        if policy is ConcurrencyPolicy.FORBID:
            self._record_final(
                replace(
                    run,
                    state=RunState.SKIPPED,
                    finished_at=now,
                    reason=f"skipped: run {holder} is still open (concurrencyPolicy forbid)",
                )
            )
            return
        if policy is ConcurrencyPolicy.QUEUE and len(js.queue) >= MAX_QUEUED:
            self._record_final(
                replace(
                    run,
                    state=RunState.SKIPPED,
                    finished_at=now,
                    reason=f"skipped: {MAX_QUEUED} runs already queued (concurrencyPolicy queue)",
                )
            )
            return
        queued = replace(run, state=RunState.QUEUED)
        self._out.append(CreateRun(queued))
        self._runs[queued.id] = _OpenRun(queued)
        if policy is ConcurrencyPolicy.REPLACE:
            for older in js.queue:
                self._finish_unlaunched(
                    self._runs[older], RunState.SKIPPED, f"skipped: replaced by run {queued.id}", now
                )
            js.queue.clear()
        js.queue.append(queued.id)
        if policy is ConcurrencyPolicy.REPLACE:
            for active in list(js.active):  # the queued run starts once the last of them has ended
                self._stop_run(self._runs[active], f"killed: replaced by run {queued.id}", now)

    def _launch(self, js: _JobState, open_run: _OpenRun, now: datetime) -> None:
        """Launch a recorded run (its CreateRun or UpdateRun is already in the output)."""
        run = open_run.run
        self._runs[run.id] = open_run
        js.active[run.id] = None
        self._out.append(LaunchRun(run, build_launch(js.job, run)))
        if js.job.timeout is not None:
            self._push_deadline(now, js.job.timeout, run)

    def _push_deadline(self, started: datetime, timeout: timedelta, run: Run) -> None:
        """The run's timeout timer; none when its deadline falls beyond the calendar (it never comes)."""
        deadline = later(started, timeout + TIMEOUT_MARGIN)
        if deadline is not None:
            self._push(deadline, _TIMEOUT, run.id, run.attempt)

    def _release(self, js: _JobState, run_id: str, now: datetime) -> None:
        """A run gave back its concurrency slot: start the next queued run if the policy lets it."""
        js.active.pop(run_id, None)
        while js.queue and not js.active:
            open_run = self._runs[js.queue.pop(0)]
            if js.job.disabled:
                self._finish_unlaunched(open_run, RunState.SKIPPED, "skipped: job is disabled", now)
                continue
            open_run.run = replace(open_run.run, state=RunState.PENDING, due_at=now)
            self._out.append(UpdateRun(open_run.run))
            self._launch(js, open_run, now)

    # ---- run events ----------------------------------------------------------------------------------

    def _on_started(self, event: RunStarted, now: datetime) -> None:
        o = self._runs.get(event.run_id)
        if o is None or o.run.attempt != event.attempt or o.run.state is not RunState.PENDING:
            return  # duplicate, stale or out of order
        o.run = replace(o.run, state=RunState.RUNNING, started_at=truncate_ms(event.at))
        self._out.append(UpdateRun(o.run))

    def _on_finished(self, event: RunFinished, now: datetime) -> None:
        o = self._runs.get(event.run_id)
        if (
            o is None
            or o.run.attempt != event.attempt
            or o.run.state not in (RunState.PENDING, RunState.RUNNING)
        ):
            return
        kind = event.kind
        if kind is ExitKind.EXITED:
            state = RunState.SUCCEEDED if event.exit_code == 0 else RunState.FAILED
            reason = "" if event.exit_code == 0 else f"exit code {event.exit_code}"
        elif kind is ExitKind.SIGNALED:
            state, reason = RunState.FAILED, f"terminated by signal {event.signal}"
        elif kind is ExitKind.OOM_KILLED:
            state, reason = RunState.OOM_KILLED, "killed by the memory limit"
        elif kind is ExitKind.TIMED_OUT:
            state, reason = RunState.TIMED_OUT, f"timed out after {self._timeout_text(o.run.job)}"
        else:
            state, reason = RunState.KILLED, "killed"
        if state is not RunState.SUCCEEDED:
            # An exit after horae asked it to stop is that stop's outcome, whatever status the TERM produced;
            # a kill on request wins over a timeout, since a killed run must not be retried.
            if o.kill_reason is not None:
                state, reason = RunState.KILLED, o.kill_reason
            elif o.timing_out:
                state, reason = RunState.TIMED_OUT, f"timed out after {self._timeout_text(o.run.job)}"
        self._conclude(o, state, reason, now, event.exit_code, event.output_tail, event.at)

    def _on_lost(self, event: RunLost, now: datetime) -> None:
        o = self._runs.get(event.run_id)
        if (
            o is None
            or o.run.attempt != event.attempt
            or o.run.state not in (RunState.PENDING, RunState.RUNNING)
        ):
            return
        state = RunState.KILLED if o.kill_reason is not None else RunState.LOST
        self._conclude(o, state, o.kill_reason or f"lost: {event.reason}", now, None, "", event.at)

    def _on_task_completed(self, event: TaskCompleted, now: datetime) -> None:
        code = event.status_code
        self._on_finished(RunFinished(event.run_id, event.attempt, now, ExitKind.EXITED, exit_code=code), now)

    def _timeout_text(self, job_name: str) -> str:
        js = self._jobs.get(job_name)
        timeout = js.job.timeout if js else None
        return f"{timeout.total_seconds():g}s" if timeout else "its timeout"

    def _conclude(
        self,
        o: _OpenRun,
        state: RunState,
        reason: str,
        now: datetime,
        exit_code: int | None,
        output_tail: str,
        at: datetime,
    ) -> None:
        """An attempt ended: retry it, or record the run's final outcome and its consequences."""
        run = o.run
        js = self._jobs.get(run.job)
        retry_at = None
        if js is not None and state in _RETRYABLE and run.attempt < js.job.retries and not js.job.disabled:
            retry_at = self._retry_at(js.job, run.attempt + 1, now)
        if js is not None and retry_at is not None:
            o.run = replace(
                run,
                state=RunState.RETRY_WAIT,
                attempt=run.attempt + 1,
                due_at=truncate_ms(retry_at),
                exit_code=exit_code,
                output_tail=output_tail,
                started_at=None,
                reason=f"attempt {run.attempt} {state.value}: {reason or state.value}; "
                f"retry {run.attempt + 1} of {js.job.retries}",
            )
            o.timing_out = False
            self._out.append(UpdateRun(o.run))
            self._push(o.run.due_at or now, _RETRY, run.id, o.run.attempt)
            return
        final = replace(
            run,
            state=state,
            finished_at=truncate_ms(at),
            exit_code=exit_code,
            reason=reason,
            output_tail=output_tail,
        )
        del self._runs[run.id]
        self._out.append(UpdateRun(final))
        if js is None:
            return
        self._count_outcome(js, final, now)
        self._release(js, run.id, now)

    def _retry_at(self, job: Job, attempt: int, now: datetime) -> datetime | None:
        """When retry `attempt` is due; None when that falls beyond the calendar (the run is not retried)."""
        delay = backoff(job, attempt)
        if job.retry_backoff.jitter:
            try:
                delay += delay * (job.retry_backoff.jitter * self._rng.random())
            except OverflowError:
                return None
        return later(now, delay)

    def _count_outcome(self, js: _JobState, run: Run, now: datetime) -> None:
        """Counters, statistics, notifications and dependent jobs after a final outcome.

        The run's finish time, as its runtime reported it, dates the outcome: an exit read back after an
        outage happened when the process ended, not when horae heard of it."""
        job = js.job
        stamp = truncate_ms(run.finished_at or now)
        if run.state is RunState.SUCCEEDED:
            self._add_run_time(js, run, stamp)
            job = replace(
                job, success_count=job.success_count + 1, last_success=stamp, errors_since_last_success=0
            )
            exhausted = run.trigger is Trigger.SCHEDULE and js.schedule is not None and js.next_at is None
            if exhausted and not job.disabled and not js.active.keys() - {run.id} and not js.queue:
                job = replace(job, disabled=True)
                self._out.append(
                    Notify(
                        job.name,
                        NoticeKind.DISABLED,
                        f"job '{job.name}' disabled",
                        "it has run every occurrence of its schedule",
                    )
                )
            self._set_job(js, job)
            self._fire_children(js, now)
        elif run.state in _FAILURES:
            self._add_run_time(js, run, stamp)
            errors = job.errors_since_last_success + 1
            job = replace(
                job, error_count=job.error_count + 1, last_error=stamp, errors_since_last_success=errors
            )
            self._out.append(
                Notify(
                    job.name,
                    NoticeKind.RETRIES_EXHAUSTED,
                    f"job '{job.name}' failed",
                    f"run {run.id}: {run.reason}; retries attempted: {run.attempt}",
                )
            )
            if job.disable_after_failures and errors >= job.disable_after_failures and not job.disabled:
                job = replace(job, disabled=True)
                self._out.append(
                    Notify(
                        job.name,
                        NoticeKind.DISABLED,
                        f"job '{job.name}' disabled",
                        f"{errors} failures since the last success",
                    )
                )
            self._set_job(js, job)
            if job.soft_error:
                self._fire_children(js, now)

    @staticmethod
    def _add_run_time(js: _JobState, run: Run, finished: datetime) -> None:
        if js.times is None:
            js.times = RunTimes()
        js.times.add((finished - run.scheduled_for).total_seconds() * 1000)

    def _set_job(self, js: _JobState, job: Job) -> None:
        was_disabled = js.job.disabled
        js.job = job
        self._out.append(UpdateJob(job))
        if job.disabled and not was_disabled:
            self._arm(js)  # disarms

    def _fire_children(self, js: _JobState, now: datetime) -> None:
        for child_name in sorted(self._children.get(js.job.name, ())):
            child = self._jobs.get(child_name)
            if child is None or child.job.parents is None:
                continue
            done = child.parents_done = child.parents_done or set()
            done.add(js.job.name)
            if done.issuperset(child.job.parents):
                child.parents_done = None
                scheduled_for = self._unique_instant(child, now)
                if scheduled_for is not None:
                    self._trigger(child, scheduled_for, Trigger.DEPENDENCY, now)

    def _on_marked_succeeded(self, event: RunMarkedSucceeded, now: datetime) -> None:
        js = self._jobs.get(event.job)
        if js is None:
            return
        job = js.job
        self._set_job(
            js,
            replace(
                job,
                success_count=job.success_count + 1,
                last_success=truncate_ms(now),
                errors_since_last_success=0,
            ),
        )
        js.parents_done = None
        self._fire_children(js, now)

    def _retry_due(self, o: _OpenRun, now: datetime) -> None:
        js = self._jobs.get(o.run.job)
        if js is None:
            return
        if js.job.disabled:
            self._finish_unlaunched(o, RunState.SKIPPED, "skipped: job disabled before the retry", now)
            self._release(js, o.run.id, now)
            return
        o.run = replace(o.run, state=RunState.PENDING)
        self._out.append(UpdateRun(o.run))
        self._launch(js, o, now)

    def _timeout_due(self, o: _OpenRun, now: datetime) -> None:
        o.timing_out = True
        self._note_stop(o, TIMING_OUT)
        self._out.append(KillRun(o.run.id, "timed out"))

    def _note_stop(self, o: _OpenRun, note: str) -> None:
        """Record in the open run why horae is stopping it, so that after a restart its exit is still
        read as that stop (killed or timed out) and not as a failure to retry."""
        o.run = replace(o.run, reason=note)
        self._out.append(UpdateRun(o.run))

    # ---- kills ---------------------------------------------------------------------------------------

    def _on_kill_job(self, event: KillRequested, now: datetime) -> None:
        js = self._jobs.get(event.job)
        if js is not None:
            self._stop_runs(js, "killed on request", now)

    def _on_kill_run(self, event: RunKillRequested, now: datetime) -> None:
        o = self._runs.get(event.run_id)
        if o is None:
            return
        js = self._jobs.get(o.run.job)
        if o.run.state is RunState.QUEUED:
            if js is not None and o.run.id in js.queue:
                js.queue.remove(o.run.id)
            self._finish_unlaunched(o, RunState.KILLED, "killed on request before it started", now)
        else:
            self._stop_run(o, "killed on request", now)

    def _stop_runs(self, js: _JobState, reason: str, now: datetime) -> None:
        for run_id in list(js.queue):
            self._finish_unlaunched(self._runs[run_id], RunState.KILLED, f"{reason} before it started", now)
        js.queue.clear()
        for run_id in list(js.active):
            self._stop_run(self._runs[run_id], reason, now)

    def _stop_run(self, o: _OpenRun, reason: str, now: datetime) -> None:
        if o.run.state is RunState.RETRY_WAIT:
            js = self._jobs.get(o.run.job)
            self._finish_unlaunched(o, RunState.KILLED, f"{reason} while waiting to retry", now)
            if js is not None:
                self._release(js, o.run.id, now)
            return
        if o.kill_reason is None:
            o.kill_reason = reason
            self._note_stop(o, STOPPING + reason)
            self._out.append(KillRun(o.run.id, reason))

    # ---- helpers -------------------------------------------------------------------------------------

    def _finish_unlaunched(self, o: _OpenRun, state: RunState, reason: str, now: datetime) -> None:
        self._runs.pop(o.run.id, None)
        self._out.append(UpdateRun(replace(o.run, state=state, finished_at=now, reason=reason)))

    def _record_final(self, run: Run) -> None:
        self._out.append(CreateRun(run))


def backoff(job: Job, attempt: int) -> timedelta:
    """The delay before retry `attempt` (>= 1), before jitter: `first`, or `first * 2**(attempt-1)` capped
    at `cap`. The doubling stops once it reaches the cap, so no attempt number can overflow it."""
    policy = job.retry_backoff
    delay = policy.first
    if policy.kind is BackoffKind.EXPONENTIAL:
        for _ in range(min(attempt - 1, 70)):  # 2**67 microseconds is past any timedelta
            if delay >= policy.cap - delay:  # doubling would reach the cap
                return policy.cap
            delay *= 2
        delay = min(delay, policy.cap)
    return delay


def replay(scheduler: Scheduler, events: Iterable[tuple[object, datetime]]) -> list[Command]:
    """Feed events in order and collect every command (for tests and simulations)."""
    out: list[Command] = []
    for event, now in events:
        out.extend(scheduler.handle(event, now).commands)
    return out
