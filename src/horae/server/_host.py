"""The host: the one asyncio loop where the clock, the store, the scheduler and the runtime meet.

Invariants it keeps:
- every event goes through `_submit`, which asks the scheduler on the loop thread with `clock()` as now;
- what the scheduler decides in one loop turn is written by ONE `Store.apply` (group commit), in one writer
  thread, and nothing is launched, killed or announced before that commit returned: a run record is
  durable before its launch;
- a run whose insert conflicted with an existing record is never launched;
- a failed commit is reported to the callers whose decisions it (or the batch gathered on top of it)
  held, and to nobody else: what arrives afterwards is decided on the state restored from the store.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from horae.api import JobAlreadyExists, JobNotFound, JobStatus, RunNotFound, RunPage, StoreUnavailable
from horae.core import (
    CreateRun,
    Decision,
    Event,
    Histogram,
    JobDeleted,
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
    TaskCompleted,
    TimerFired,
    UpdateJob,
    check_calendar,
    jitter_offset,
    later,
    validate_job,
)
from horae.core import UpdateRun as UpdateRunCommand
from horae.model import (
    InvalidJob,
    Job,
    Run,
    RunEvent,
    RunLost,
    RunState,
    Trigger,
    applied_over,
    parse_task_id,
    run_id,
)
from horae.runtime import LaunchFailed, Runtime
from horae.schedule import pin_start, preview
from horae.server._jobfiles import JobFileError, job_files, read_job_file
from horae.server._metrics import Metrics
from horae.server._settings import Settings
from horae.store import DeleteJob, InsertRun, PutJob, Store, UpdateRun, Write

log = logging.getLogger("horae.server")

T = TypeVar("T")

_TIMER_FIRED = TimerFired()
_NOTHING_DECIDED = Decision([], None)  # what `_submit` answers for an event it holds
PRUNE_EVERY = 2.0  # seconds between two pruning steps
PRUNE_JOBS_PER_STEP = 4  # jobs pruned per step, round robin: history never competes with the hot path
_WAITING_TO_START = (RunState.PENDING, RunState.RUNNING)


def utc_now() -> datetime:
    return datetime.now(UTC)


class Host:
    """Implements `horae.api.Service` on one asyncio loop. Build it from parts; `start()` then `stop()`."""

    def __init__(
        self,
        store: Store,
        runtime: Runtime,
        *,
        clock: Callable[[], datetime] = utc_now,
        settings: Settings | None = None,
        timers: bool = True,
    ) -> None:
        """`timers=False`: the scheduler's timers fire only when `tick()` is called (for a test whose
        clock stands still: a loop timer would fire in wall-clock time at whatever its clock says)."""
        self.store = store
        self.runtime = runtime
        self.settings = settings or Settings()
        self._clock = clock
        self._timers = timers
        self.scheduler = Scheduler(seed=time.time_ns())
        self.metrics = Metrics(
            queue_depth=lambda: self.scheduler.queue_depth(), jobs=lambda: len(self._names())
        )
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="horae-writer")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        # The batch being gathered: writes, then what to do once they are committed.
        self._writes: list[Write] = []
        self._actions: list[LaunchRun | KillRun | Notify] = []
        self._batch_done: asyncio.Future[None] | None = None
        self._inflight: asyncio.Future[None] | None = None  # the batch being committed
        # Set from a failed commit until the scheduler is restored from the store; events wait meanwhile.
        self._restoring: asyncio.Future[None] | None = None
        self._held: list[Event] = []  # run events and timer firings that came in while restoring
        self._committer: asyncio.Task[None] | None = None
        self._conflicted: set[str] = (
            set()
        )  # runs whose record belongs to someone else: never launch, never write
        self._tasks: set[asyncio.Task[Any]] = set()  # launches and kills under way
        self._pruner: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: datetime | None = None
        self._wake_at: datetime | None = None
        self._ready = False
        self._stopping = False
        self._sorted_names: list[str] | None = None
        self._prune_cursor = ""
        self._deleted: set[str] = set()  # deleted jobs whose history is still to be pruned
        self._swept = False  # the history of jobs deleted before this start is pruned at the first step
        self.commits = 0  # Store.apply calls made (for tests and benchmarks)
        self.apply_errors: list[str] = []  # job-file problems found at start-up, one line each

    # ---- life cycle ----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Restore the scheduler from the store, reconcile the runtime, apply job files; then run timers."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = _thread_id()
        self._batch_done = self._loop.create_future()
        jobs, open_runs, cursors = await self._in_writer(
            lambda: (self.store.load_jobs(), self.store.open_runs(), self.store.schedule_cursors())
        )
        self._submit(StateRestored(_runnable(jobs, self._clock()), open_runs, cursors))
        # Jobs deleted (before a restart) while runs of theirs were open: pruned once those runs end.
        self._deleted.update(r.job for r in open_runs if self.scheduler.job(r.job) is None)
        await self._durable()
        await self.runtime.start(self._on_run_event)
        await self.runtime.reconcile([(r.id, r.attempt) for r in open_runs if r.state in _WAITING_TO_START])
        await self._apply_files()
        self._ready = True
        self._arm_timer()
        self._pruner = self._loop.create_task(self._prune_forever())
        log.info("ready: %d jobs, %d open runs", len(self._names()), len(open_runs))

    async def stop(self) -> None:
        """Stop deciding and flush what was decided; runs keep going (the next start reconciles them)."""
        self._stopping = True
        self._ready = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._committer is not None:
            await asyncio.shield(self._committer)
        tasks = [*self._tasks, *([self._pruner] if self._pruner else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.runtime.close()
        self._writer.shutdown(wait=True)

    @property
    def ready(self) -> bool:
        return self._ready

    async def settle(self) -> None:
        """Wait until everything decided is committed and every launch and kill under way has returned
        (tests and benchmarks use it to observe a quiet state)."""
        while True:
            await self._durable()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
                continue
            await asyncio.sleep(0)
            if not (self._writes or self._actions or self._committer or self._tasks or self._restoring):
                return

    # ---- the one way in ------------------------------------------------------------------------------

    def _submit(self, event: Event) -> Decision:
        """Ask the scheduler about one event and queue what it decided into the current batch. While the
        scheduler is being restored after a failed commit, the event is held and decided once it is."""
        if self._restoring is not None:
            self._held.append(event)
            return _NOTHING_DECIDED
        try:
            decision = self.scheduler.handle(event, self._clock())
        except Exception:
            # What the scheduler decided before it failed is dropped; its timers still stand.
            self._wake_at = self.scheduler.wake_at()
            self._arm_timer()
            raise
        writes, actions = self._writes, self._actions
        for command in decision.commands:
            if isinstance(command, CreateRun):
                writes.append(InsertRun(command.run))
            elif isinstance(command, UpdateRunCommand):
                if command.run.id not in self._conflicted:
                    writes.append(UpdateRun(command.run))
            elif isinstance(command, UpdateJob):
                writes.append(PutJob(command.job))
            else:
                if isinstance(command, LaunchRun):
                    self._prepare(command)
                actions.append(command)
        self._wake_at = decision.wake_at
        self._arm_timer()
        self._commit_soon()
        return decision

    def _prepare(self, action: LaunchRun) -> None:
        """Let the runtime set the launch up while its record is being committed (a head start only:
        a failure here is the launch's to report)."""
        try:
            self.runtime.prepare(action.launch)
        except Exception:
            log.exception("preparing the launch of %s failed", action.run.id)

    def _on_run_event(self, event: RunEvent) -> None:
        """The runtime's sink. Runtimes call it on the loop thread; anything else is handed over to it."""
        if self._loop is not None and _thread_id() != self._loop_thread:
            self._loop.call_soon_threadsafe(self._on_run_event, event)
            return
        try:
            self._submit(event)
        except Exception:
            log.exception("the scheduler failed on %r; the event is dropped", event)

    # ---- group commit --------------------------------------------------------------------------------

    def _commit_soon(self) -> None:
        if self._committer is None and (self._writes or self._actions):
            assert self._loop is not None
            # Started as a task, it first runs on the next loop turn: this turn's decisions share its batch.
            self._committer = self._loop.create_task(self._commit_batches())

    async def _durable(self) -> None:
        """Return once everything decided so far is committed (raises if that commit failed), or, after
        a failed commit, once the scheduler is restored from the store."""
        if self._writes or self._actions:
            assert self._batch_done is not None
            await asyncio.shield(self._batch_done)
        elif self._inflight is not None:
            await asyncio.shield(self._inflight)
        elif self._restoring is not None:
            await asyncio.shield(self._restoring)

    async def _restored(self) -> None:
        """Before deciding anything for a caller: wait out a restore, so a failed commit that was already
        reported never fails a caller that arrives after it."""
        while self._restoring is not None:
            await asyncio.shield(self._restoring)

    async def _commit_batches(self) -> None:
        assert self._loop is not None
        try:
            while self._writes or self._actions:
                writes, actions, done = self._writes, self._actions, self._batch_done
                assert done is not None
                self._writes, self._actions, self._inflight = [], [], done
                self._batch_done = self._loop.create_future()
                conflicts: frozenset[str] = frozenset()
                if writes:
                    started = time.perf_counter()
                    writes = coalesce(writes)
                    try:
                        conflicts = await self._in_writer(lambda w=writes: self.store.apply(w))  # type: ignore[misc]
                    except Exception as e:
                        log.exception(
                            "store commit of %d writes failed; restoring from the store", len(writes)
                        )
                        self._fail_batches(done, e)
                        await self._resync()
                        continue
                    self.commits += 1
                    self.metrics.commit.observe(time.perf_counter() - started)
                    self.metrics.commit_writes.inc(len(writes))
                    self._count_final(writes, conflicts)
                done.set_result(None)
                self._carry_out(actions, conflicts)
        finally:
            self._committer = None
            self._inflight = None
        self._commit_soon()

    def _count_final(self, writes: Sequence[Write], conflicts: frozenset[str]) -> None:
        for write in writes:
            if not isinstance(write, InsertRun | UpdateRun) or not write.run.state.is_final:
                continue
            if not (isinstance(write, InsertRun) and write.run.id in conflicts):
                self.metrics.runs.labels(write.run.state.value).inc()

    def _fail_batches(self, done: asyncio.Future[None], error: Exception) -> None:
        """A commit failed: fail its batch and the one gathered on top of it (decided on state the store
        never got), all at once, and hold every later event until `_resync` has restored the scheduler."""
        assert self._loop is not None and self._batch_done is not None
        self._restoring = self._loop.create_future()
        abandoned, self._batch_done = self._batch_done, self._loop.create_future()
        self._writes, self._actions, self._inflight = [], [], None
        failed = StoreUnavailable(f"the store failed to commit: {error}")
        failed.__cause__ = error
        done.set_exception(failed)
        abandoned.set_exception(StoreUnavailable("not committed: the store failed; state restored from it"))
        for future in (done, abandoned):
            future.exception()  # retrieved: a caller may not be waiting

    async def _resync(self) -> None:
        """After a failed commit the scheduler is ahead of the store: start over from the store's truth,
        then decide the events held meanwhile."""
        restoring = self._restoring
        assert restoring is not None
        loaded: tuple[list[Job], list[Run], dict[str, datetime]] | None = None
        while loaded is None and not self._stopping:
            try:
                loaded = await self._in_writer(
                    lambda: (self.store.load_jobs(), self.store.open_runs(), self.store.schedule_cursors())
                )
            except Exception:
                log.exception("cannot read the store; trying again in 1 s")
                await asyncio.sleep(1)
        held, self._held = self._held, []
        if loaded is None:  # stopping with the store still failing: decide nothing more, ever
            log.error("stopping before the store could be read: %d held events dropped", len(held))
            restoring.set_exception(StoreUnavailable("the store failed and the server is stopping"))
            restoring.exception()
            return
        self._restoring = None
        jobs, open_runs, cursors = loaded
        self._submit(StateRestored(_runnable(jobs, self._clock()), open_runs, cursors))
        self._sorted_names = None
        for event in held:
            self._submit(event)
        restoring.set_result(None)
        # Runs a held event already ended are not asked about again.
        still_open = [self.scheduler.open_run(r.id) for r in open_runs]
        await self.runtime.reconcile(
            [(r.id, r.attempt) for r in still_open if r is not None and r.state in _WAITING_TO_START]
        )

    def _carry_out(self, actions: Sequence[LaunchRun | KillRun | Notify], conflicts: frozenset[str]) -> None:
        """Act on a committed batch: launches, kills, notices. Never launches a conflicted run."""
        for run_id_ in conflicts:
            open_run = self.scheduler.open_run(run_id_)
            log.error("run %s was already recorded; it is not launched again", run_id_)
            if open_run is not None:
                self._conflicted.add(run_id_)
                # Ends the scheduler's copy as killed (not counted, not retried); its writes are dropped.
                self._submit(RunKillRequested(run_id_))
        for action in actions:
            if isinstance(action, LaunchRun):
                if action.run.id not in self._conflicted:
                    self._spawn(self._launch(action))
            elif isinstance(action, KillRun):
                if action.run_id in self._conflicted:
                    # Never launched: the scheduler's copy ends here, and its final write is dropped.
                    open_run = self.scheduler.open_run(action.run_id)
                    if open_run is not None:
                        reason = "not launched: the run was already recorded"
                        self._submit(RunLost(action.run_id, open_run.attempt, self._clock(), reason))
                    continue
                self._spawn(self.runtime.kill(action.run_id, grace=self.settings.kill_grace))
            else:
                log.info(
                    "notice for job %s (%s): %s %s",
                    action.job,
                    action.kind.value,
                    action.subject,
                    action.message,
                )

    async def _launch(self, action: LaunchRun) -> None:
        run = action.run
        try:
            await self.runtime.launch(action.launch)
        except LaunchFailed as e:
            log.warning("launch of %s attempt %d failed: %s", run.id, run.attempt, e.reason)
            self._submit(RunLost(run.id, run.attempt, self._clock(), f"launch failed: {e.reason}"))
            return
        except Exception as e:
            log.exception("launch of %s attempt %d failed", run.id, run.attempt)
            self._submit(RunLost(run.id, run.attempt, self._clock(), f"launch failed: {e!r}"))
            return
        due = run.scheduled_for if run.attempt == 0 and run.trigger is Trigger.SCHEDULE else run.due_at
        if due is not None:
            self.metrics.lateness.observe(max(0.0, (self._clock() - due).total_seconds()))

    # ---- timer ---------------------------------------------------------------------------------------

    def _arm_timer(self) -> None:
        """One loop timer at the earliest wake-up the scheduler asked for."""
        wake = self._wake_at
        if not self._ready or not self._timers or wake is None or self._loop is None:
            return
        if self._timer is not None and self._timer_at is not None and self._timer_at <= wake:
            return
        if self._timer is not None:
            self._timer.cancel()
        delay = (wake - self._clock()).total_seconds()
        self._timer_at = wake
        self._timer = self._loop.call_at(self._loop.time() + max(0.0, delay), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        if self._ready:
            try:
                self.tick()
            except Exception:
                log.exception("the scheduler failed on a timer; the timers still due fire next")

    def tick(self) -> None:
        """The scheduler's timers due at `clock()` fire (tests call this after advancing their clock)."""
        self._submit(_TIMER_FIRED)

    # ---- helpers -------------------------------------------------------------------------------------

    async def _in_writer(self, fn: Callable[[], T]) -> T:
        assert self._loop is not None
        return await self._loop.run_in_executor(self._writer, fn)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        assert self._loop is not None
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _names(self) -> list[str]:
        if self._sorted_names is None:
            self._sorted_names = sorted(j.name for j in self.scheduler.jobs())
        return self._sorted_names

    def _require_job(self, name: str) -> Job:
        job = self.scheduler.job(name)
        if job is None:
            raise JobNotFound(name)
        return job

    # ---- retention -----------------------------------------------------------------------------------

    async def _prune_forever(self) -> None:
        while True:
            await asyncio.sleep(PRUNE_EVERY)
            await self.prune_step()

    async def prune_step(self, count: int = PRUNE_JOBS_PER_STEP) -> int:
        """Prune the history of the next `count` jobs (round robin by name), and that of deleted jobs when
        due, in the writer thread."""
        names = self._names()
        start = bisect.bisect_right(names, self._prune_cursor)
        chosen = (names[start:] + names[:start])[:count]
        if chosen:
            self._prune_cursor = chosen[-1]
        # A deleted job's history goes once its last open run has ended (unless the name was reused).
        ended = {name for name in self._deleted if not self.scheduler.open_runs(name)}
        self._deleted -= ended
        doomed = sorted(name for name in ended if self.scheduler.job(name) is None)
        sweep, self._swept = not self._swept, True
        keep, max_age, now = self.settings.history_keep, self.settings.history_max_age, self._clock()

        def prune() -> int:
            pruned = sum(self.store.prune(name, keep=keep, max_age=max_age, now=now) for name in chosen)
            pruned += sum(self.store.prune(name, keep=0, max_age=None, now=now) for name in doomed)
            return pruned + (self.store.prune_deleted() if sweep else 0)

        try:
            return await self._in_writer(prune)
        except Exception:
            log.exception("pruning the history of %s failed", ", ".join([*chosen, *doomed]) or "deleted jobs")
            self._deleted.update(doomed)
            self._swept = self._swept and not sweep
            return 0

    # ---- job files -----------------------------------------------------------------------------------

    async def _apply_files(self) -> None:
        for path in job_files(self.settings.apply):
            try:
                await self.apply_file(path)
            except JobFileError as e:
                self.apply_errors.append(str(e))
                log.error("job file not applied: %s", e)

    async def apply_file(self, path: Path) -> list[Job]:
        """Save every job of a job file, parents before their children; JobFileError names file and field."""
        waiting = read_job_file(path)
        saved: list[Job] = []
        while waiting:
            retry: list[Job] = []
            error: InvalidJob | None = None
            for job in waiting:
                stored = self.scheduler.job(job.name)
                if stored is not None:
                    job = applied_over(job, stored)
                    if job == stored:
                        saved.append(stored)  # unchanged since the last start: nothing to do
                        continue
                try:
                    saved.append(await self.save_job(job))
                except InvalidJob as e:
                    if e.field != "parents":
                        raise JobFileError(path, e.message, _field_of(job, e)) from None
                    retry.append(job)
                    error = e
            if len(retry) == len(waiting):
                assert error is not None
                raise JobFileError(path, error.message, _field_of(retry[0], error))
            waiting = retry
        return saved

    # ---- Service: jobs -------------------------------------------------------------------------------

    def get_job(self, name: str) -> Job | None:
        return self.scheduler.job(name)

    def list_jobs(self, *, name_contains: str = "", after: str = "", limit: int | None = None) -> list[Job]:
        names = self._names()
        needle = name_contains.lower()
        found: list[Job] = []
        for name in names[bisect.bisect_right(names, after) if after else 0 :]:
            if needle and needle not in name.lower():
                continue
            job = self.scheduler.job(name)
            if job is not None:
                found.append(job)
                if limit is not None and len(found) >= limit:
                    break
        return found

    async def save_job(self, job: Job, *, create_only: bool = False) -> Job:
        await self._restored()
        current = self.scheduler.job(job.name)
        if create_only and current is not None:
            raise JobAlreadyExists(job.name)
        now = self._clock()  # one instant pins the start and judges the calendar
        if job.schedule is not None:
            job = replace(job, schedule=pin_start(job.schedule, now))
        jobs = {j.name: j for j in self.scheduler.jobs()}
        validate_job(job, jobs, creating=current is None, now=now)
        if current is not None and job.scheduled_through is None:
            job = replace(job, scheduled_through=current.scheduled_through)
        # The definition goes first in the batch the scheduler's reaction joins: one transaction, and
        # nothing it decides is acted on before both are durable. It is queued once the scheduler has
        # taken the job: a job the scheduler fails on is never stored.
        mark = len(self._writes)
        self._submit(JobSaved(job))
        self._writes.insert(mark, PutJob(job))
        self._commit_soon()
        if current is None:
            self._sorted_names = None
        await self._durable()
        if job.disabled or job.container is None:
            await self.runtime.retire(job.name)  # a paused job, or one that left its container
        return self.scheduler.job(job.name) or job

    async def delete_job(self, name: str) -> None:
        await self._restored()
        self._require_job(name)
        mark = len(self._writes)
        self._submit(JobDeleted(name))
        self._writes.insert(mark, DeleteJob(name))
        self._commit_soon()
        self._sorted_names = None
        self._deleted.add(name)
        await self._durable()
        await self.runtime.retire(name)

    async def set_paused(self, name: str, paused: bool) -> Job:
        await self._restored()
        job = self._require_job(name)
        if job.disabled == paused:
            return job
        job = replace(job, disabled=paused)
        if not paused:
            check_calendar(job, self._clock())  # one loaded paused because of it stays paused
        mark = len(self._writes)
        self._submit(JobSaved(job))
        self._writes.insert(mark, PutJob(job))
        self._commit_soon()
        await self._durable()
        if paused:
            await self.runtime.retire(name)
        return self.scheduler.job(name) or job

    def job_status(self, name: str) -> JobStatus:
        job = self._require_job(name)
        return JobStatus(_last_outcome(job), self.scheduler.job_state(name), self.scheduler.next_due(name))

    def job_histogram(self, name: str) -> Histogram:
        self._require_job(name)
        return self.scheduler.histogram(name)

    def next_occurrences(self, name: str, count: int, after: datetime | None = None) -> list[datetime]:
        job = self._require_job(name)
        if job.schedule is None or job.parents is not None:
            return []
        # The instants the job fires at: its occurrences not yet handled, delayed by its jitter (none
        # past the calendar). An occurrence at or before the scheduler's cursor will not fire again.
        offset = jitter_offset(job)
        try:
            start = (after or self._clock()) - offset
        except OverflowError:
            return []
        if job.scheduled_through is not None:
            start = max(start, job.scheduled_through)
        times = []
        for occurrence in preview(job.schedule, job.schedule_time_zone, start, count):
            fires = later(occurrence, offset)
            if fires is None:
                break
            times.append(fires)
        return times

    # ---- Service: runs -------------------------------------------------------------------------------

    async def trigger(
        self,
        name: str,
        *,
        arguments: Sequence[str] | None = None,
        environment: Sequence[tuple[str, str]] = (),
    ) -> Run:
        await self._restored()
        self._require_job(name)
        event = ManualRunRequested(
            name, tuple(arguments) if arguments is not None else None, tuple((k, v) for k, v in environment)
        )
        decision = self._submit(event)
        created = next(c.run for c in decision.commands if isinstance(c, CreateRun) and c.run.job == name)
        await self._durable()
        return self.scheduler.open_run(created.id) or created

    async def kill_job(self, name: str) -> None:
        await self._restored()
        self._require_job(name)
        self._submit(KillRequested(name))
        await self._durable()

    async def kill_run(self, run_id: str) -> None:
        await self._restored()
        if self.scheduler.open_run(run_id) is None:
            if self.get_run(run_id) is None:
                raise RunNotFound(run_id)
            return  # already final
        self._submit(RunKillRequested(run_id))
        await self._durable()

    async def mark_success(self, name: str) -> bool:
        await self._restored()
        if self.scheduler.job(name) is None:
            return False
        self._submit(RunMarkedSucceeded(name))
        await self._durable()
        return True

    async def complete_task(self, task_id: str, status_code: int) -> None:
        await self._restored()
        task = parse_task_id(task_id)
        if task is None:
            raise RunNotFound(task_id)
        rid = run_id(task.job, task.due)
        if self.scheduler.open_run(rid) is None:
            raise RunNotFound(rid)
        self._submit(TaskCompleted(rid, task.attempt, status_code))
        await self._durable()

    def get_run(self, run_id: str) -> Run | None:
        return self.scheduler.open_run(run_id) or self.store.get_run(run_id)

    def list_runs(
        self, job: str, *, before: str | None = None, limit: int = 50, states: Sequence[RunState] = ()
    ) -> RunPage:
        runs, cursor = self.store.list_runs(job, before=before, limit=limit, states=states)
        fresh = [self.scheduler.open_run(r.id) or r if not r.state.is_final else r for r in runs]
        return RunPage([r for r in fresh if not states or r.state in states], cursor)

    def log_path(self, run_id: str) -> Path | None:
        run = self.get_run(run_id)
        if run is None:
            raise RunNotFound(run_id)
        return self.runtime.log_path(run_id, run.attempt)

    # ---- Service: the server -------------------------------------------------------------------------

    def leader(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    def metrics_text(self) -> bytes:
        return self.metrics.text()


def coalesce(writes: Sequence[Write]) -> list[Write]:
    """The same end state in fewer writes: one per job and one per run, the last value winning. A run
    first inserted in the batch stays an insert (with its latest value), so a conflicting insert still
    leaves the existing record untouched. Nothing links rows across keys, so order between keys is free."""
    jobs: dict[str, PutJob | DeleteJob] = {}
    inserts: dict[str, InsertRun] = {}
    updates: dict[str, UpdateRun] = {}
    for write in writes:
        if isinstance(write, PutJob):
            jobs[write.job.name] = write
        elif isinstance(write, DeleteJob):
            jobs[write.name] = write
        elif isinstance(write, InsertRun):
            inserts.setdefault(write.run.id, write)
        elif write.run.id in inserts:
            inserts[write.run.id] = InsertRun(write.run)
        else:
            updates[write.run.id] = write
    return [*jobs.values(), *inserts.values(), *updates.values()]


def _last_outcome(job: Job) -> str:
    """Chronos's rule: `fresh` before any outcome, else whichever of success and error is latest."""
    if job.last_success is None and job.last_error is None:
        return "fresh"
    if job.last_error is None or (job.last_success is not None and job.last_success >= job.last_error):
        return "success"
    return "failure"


def _runnable(jobs: list[Job], now: datetime) -> list[Job]:
    """Stored jobs as the scheduler is given them: one whose instants the core's `check_calendar` refuses
    at `now` (stored before saving refused it) is loaded paused, with an error logged, so it can be seen,
    fixed or deleted and the rest still runs; resuming it is refused the same way."""
    loaded = []
    for job in jobs:
        if not job.disabled:
            try:
                check_calendar(job, now)
            except InvalidJob as e:
                log.error("job %s is loaded paused: %s %s", job.name, e.field, e.message)
                job = replace(job, disabled=True)
        loaded.append(job)
    return loaded


def _field_of(job: Job, error: InvalidJob) -> str:
    return f"{job.name}.{error.field}" if job.name else error.field


def _thread_id() -> int:
    return threading.get_ident()


if TYPE_CHECKING:
    from horae.api import Service

    _: type[Service] = Host  # Host implements the protocol the HTTP layer calls
