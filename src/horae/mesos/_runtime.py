"""`MesosRuntime`: runs as tasks on a Mesos cluster, each on its job's long-lived executor.

A launch waits in a queue until an offer fits (resources, Chronos constraints, the agent already hosting
the job's executor); it is then ACCEPTed as a task carrying the job's deterministic ExecutorInfo, so
Mesos starts one executor per job per agent (which keeps the job's one warm container, for a job that
has one) and hands every later run to it. The launch
returns when the first status update shows the task reached its executor (`RunStarted`); a task Mesos
refuses or drops before that fails the launch. Every later update maps to the run's outcome through
`outcome()`, and every update with a uuid is acknowledged after it was acted on.

At every (re)subscription, before any offer is used: the framework id is saved, every task in flight is
reconciled explicitly and all tasks implicitly. The runtime SUPPRESSes offers while nothing is queued
and REVIVEs when a run is queued. An executor whose job changed (new executor id), was retired, or sat
idle past `idle_timeout` is shut down.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import httpx

from horae.mesos._calls import FrameworkConfig
from horae.mesos._clock import SYSTEM_CLOCK, Clock
from horae.mesos._events import (
    Disconnected,
    Error,
    Failure,
    Offer,
    Offers,
    SchedulerEvent,
    Subscribed,
    TaskStatus,
    Update,
)
from horae.mesos._offers import Constraint, ExecutorCost, Need, plan
from horae.mesos._scheduler_client import (
    Backoff,
    CallFailed,
    Detector,
    MesosSchedulerClient,
    NotSubscribed,
    SchedulerError,
)
from horae.mesos._state import FrameworkState, StateFile, StateKeeper, TaskRecord
from horae.mesos._task_states import outcome
from horae.mesos._tasks import ExecutorSpec, executor_info, task_info
from horae.mesos._zookeeper import ZooKeeperDetector
from horae.model import ExitKind, Launch, RunFinished, RunLost, RunStarted, RunState
from horae.runtime._abc import DEFAULT_GRACE, LaunchFailed, RunEventSink, Runtime

log = logging.getLogger(__name__)

# States in which the task reached its executor: the run started even if this is the first update seen.
_RAN = {"TASK_STARTING", "TASK_RUNNING", "TASK_KILLING", "TASK_FINISHED", "TASK_FAILED", "TASK_KILLED"}
_REFUSED = (CallFailed, NotSubscribed)  # the master did not take the call
_CALL_ERRORS = (*_REFUSED, httpx.HTTPError, OSError)  # … or we cannot know whether it did


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class _Queued:
    launch: Launch
    executor: dict[str, Any]
    since: float
    started: asyncio.Future[None]


@dataclass(slots=True)
class _InFlight:
    record: TaskRecord
    started: asyncio.Future[None] | None = None  # the launch waiting for its first update
    reported_start: bool = False
    timeout: timedelta | None = None  # the launch's, enforced from the start (not known after a restart)
    timer: asyncio.TimerHandle | None = None
    timed_out: bool = False
    watched: bool = True  # False for tasks loaded from the state file until `reconcile` adopts them


@dataclass(slots=True)
class _Executor:
    job: str
    agent_id: str
    tasks: set[str] = field(default_factory=set)
    idle_timer: asyncio.TimerHandle | None = None


@dataclass(frozen=True, slots=True)
class MesosOptions:
    """Policy knobs; the defaults suit a cron workload."""

    refuse_when_waiting: timedelta = timedelta(seconds=5)  # declined offers come back soon
    refuse_when_idle: timedelta = timedelta(minutes=5)
    leave_home_after: timedelta = timedelta(seconds=30)  # then a run may start a second executor elsewhere
    idle_timeout: timedelta | None = timedelta(hours=1)  # None: executors stay until retired
    timeout_grace: timedelta = DEFAULT_GRACE  # between TERM and KILL when a run times out


DEFAULT_EXECUTOR = ExecutorSpec()
DEFAULT_OPTIONS = MesosOptions()
DEFAULT_BACKOFF = Backoff()


class MesosRuntime(Runtime):
    name: ClassVar[str] = "mesos"

    def __init__(
        self,
        masters: Sequence[str],
        framework: FrameworkConfig,
        state: Path | StateKeeper,
        *,
        executor: ExecutorSpec = DEFAULT_EXECUTOR,
        constraints: Callable[[str], Sequence[Constraint]] = lambda job: (),
        options: MesosOptions = DEFAULT_OPTIONS,
        clock: Clock = SYSTEM_CLOCK,
        backoff: Backoff = DEFAULT_BACKOFF,
        now: Callable[[], datetime] = _utcnow,
        credentials: tuple[str, str] | None = None,
        detector: Detector | None = None,
    ) -> None:
        self._masters = list(masters)
        self._credentials = credentials
        self._detector = detector
        self._framework = framework
        self._keeper = StateFile(state) if isinstance(state, Path) else state
        self._state = FrameworkState()  # loaded by `start`, once the keeper's store is open
        self._spec = executor
        self._constraints = constraints
        self._options = options
        self._clock = clock
        self._backoff = backoff
        self._now = now
        self._sink: RunEventSink | None = None
        self._client: MesosSchedulerClient | None = None
        self._runner: asyncio.Task[None] | None = None
        self._queue: dict[str, _Queued] = {}  # task id → queued launch, in queue order
        self._tasks: dict[str, _InFlight] = {}
        # The latest offer from each agent: what UNIQUE/CLUSTER/GROUP_BY know of where runs in flight are.
        self._agent_offers: dict[str, Offer] = {}
        self._executors: dict[tuple[str, str], _Executor] = {}  # (executor id, agent id) → executor
        self._current: dict[str, str] = {}  # job → the executor id of its latest launch
        self._retiring: set[str] = set()  # jobs whose executors go once idle
        self._kills: dict[str, timedelta] = {}  # task id → grace, for KILLs not delivered yet
        self._background: set[asyncio.Task[None]] = set()
        self._suppressed = False
        self._offer_switch = asyncio.Lock()
        self._adopted = asyncio.Event()  # set once `reconcile` said which loaded tasks are still open
        self._failed: str | None = None  # why the framework can no longer launch anything

    # --- Runtime ---------------------------------------------------------------------------------------

    @property
    def framework_id(self) -> str | None:
        return self._state.framework_id

    @property
    def client(self) -> MesosSchedulerClient | None:
        return self._client

    async def start(self, sink: RunEventSink) -> None:
        self._restore(self._keeper.load())
        self._sink = sink
        self._client = MesosSchedulerClient(
            self._masters,
            self._framework,
            self._on_event,
            framework_id=self._state.framework_id,
            clock=self._clock,
            backoff=self._backoff,
            credentials=self._credentials,
            detector=self._detector,
        )
        self._runner = asyncio.create_task(self._run(self._client))
        for executor_id, agent_id in list(self._executors):
            self._arm_idle(executor_id, agent_id)

    async def _run(self, client: MesosSchedulerClient) -> None:
        try:
            await client.run()
        except SchedulerError as e:
            self._fail(f"Mesos ended the framework: {e}")

    async def launch(self, launch: Launch) -> None:
        self._adopted.set()  # a caller that launches without reconciling has nothing to pick up
        if self._failed is not None:
            raise LaunchFailed(self._failed)
        if launch.task_id in self._queue or launch.task_id in self._tasks:
            raise LaunchFailed(f"task {launch.task_id} was already launched")
        if any(t.record.run_id == launch.run_id for t in self._tasks.values() if t.watched):
            raise LaunchFailed(f"{launch.run_id} still has an attempt on Mesos")
        started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        info = executor_info(launch, self._spec)
        self._retiring.discard(launch.job)
        self._queue[launch.task_id] = _Queued(launch, info, self._clock.now(), started)
        await self._revive()
        try:
            await started
        finally:
            self._queue.pop(launch.task_id, None)

    async def kill(self, run_id: str, *, grace: timedelta = DEFAULT_GRACE) -> None:
        for queued in self._waiting():
            if queued.launch.run_id == run_id:
                queued.started.set_exception(LaunchFailed("killed while waiting for an offer"))
        for record in [t.record for t in self._tasks.values() if t.watched and t.record.run_id == run_id]:
            await self._kill(record, grace)

    async def _kill(self, record: TaskRecord, grace: timedelta) -> None:
        """Send KILL; while no subscription is live it is kept and sent at the next one."""
        self._kills[record.task_id] = grace
        if await self._call(lambda c: c.kill(record.task_id, record.agent_id, grace=grace), "KILL"):
            del self._kills[record.task_id]

    async def reconcile(self, open_runs: Sequence[tuple[str, int]]) -> None:
        """Adopt the saved tasks of open runs (their truth comes from Mesos's reconciliation answers);
        an open run with no saved task never reached Mesos and is lost. Saved tasks of runs the store
        no longer has open are forgotten."""
        wanted = set(open_runs)
        known = {(t.record.run_id, t.record.attempt) for t in self._tasks.values()}
        known |= {(q.launch.run_id, q.launch.attempt) for q in self._queue.values()}
        for task_id, task in list(self._tasks.items()):
            if not task.watched:
                if (task.record.run_id, task.record.attempt) in wanted:
                    task.watched = True
                else:
                    self._forget(task_id)
        self._save()
        self._adopted.set()
        for run_id, attempt in open_runs:
            if (run_id, attempt) not in known:
                self._emit(RunLost(run_id, attempt, self._now(), "never reached Mesos"))
        # The adopted tasks are reconciled at the subscription, which waits for this adoption.

    async def close(self) -> None:
        for queued in self._queue.values():
            if not queued.started.done():
                queued.started.set_exception(LaunchFailed("the Mesos runtime was closed"))
        for executor in self._executors.values():
            if executor.idle_timer is not None:
                executor.idle_timer.cancel()
        for task in self._tasks.values():
            if task.timer is not None:
                task.timer.cancel()
        if self._client is not None:
            await self._client.stop()
        if self._runner is not None:
            await asyncio.gather(self._runner, return_exceptions=True)
        if isinstance(self._detector, ZooKeeperDetector):
            await self._detector.close()
        self._sink = None

    def log_path(self, run_id: str, attempt: int) -> Path | None:
        return None  # the output stays in the task's sandbox on its agent

    async def retire(self, job: str) -> None:
        self._retiring.add(job)
        for (executor_id, agent_id), executor in list(self._executors.items()):
            if executor.job == job and not executor.tasks:
                await self._shutdown(executor_id, agent_id)

    # --- events ----------------------------------------------------------------------------------------

    async def _on_event(self, event: SchedulerEvent) -> None:
        if isinstance(event, Subscribed):
            await self._on_subscribed(event)
        elif isinstance(event, Offers):
            await self._on_offers(event.offers)
        elif isinstance(event, Update):
            await self._on_update(event.status)
        elif isinstance(event, Failure):
            self._on_failure(event)
        elif isinstance(event, Disconnected):
            log.warning("mesos: disconnected (%s); queued runs wait for the next subscription", event.reason)
        elif isinstance(event, Error):
            log.error("mesos: ERROR from the master: %s", event.message)

    async def _on_subscribed(self, event: Subscribed) -> None:
        if self._state.framework_id != event.framework_id:
            self._state.framework_id = event.framework_id
            self._save()  # before anything else: losing it would orphan every task
        log.info("mesos: subscribed to %s as %s", event.master, event.framework_id)
        self._suppressed = False
        await self._adopted.wait()
        await self._reconcile_all()
        for task_id, grace in list(self._kills.items()):
            task = self._tasks.get(task_id)
            if task is None:
                del self._kills[task_id]
            else:
                await self._kill(task.record, grace)
        if not self._waiting():
            await self._suppress()

    async def _reconcile_all(self) -> None:
        pairs = [(t.record.task_id, t.record.agent_id) for t in self._tasks.values()]
        if pairs:
            await self._call(lambda c: c.reconcile(pairs), "RECONCILE")
        await self._call(lambda c: c.reconcile(), "RECONCILE")

    async def _on_offers(self, offers: Sequence[Offer]) -> None:
        client = self._client
        if client is None:
            return
        now = self._clock.now()
        leave_after = self._options.leave_home_after.total_seconds()
        for offer in offers:
            self._agent_offers[offer.agent_id] = offer
        running: dict[str, list[Offer]] = {}
        for task in self._tasks.values():  # tasks on an agent that never offered are not counted
            seen = self._agent_offers.get(task.record.agent_id)
            if seen is not None:
                running.setdefault(task.record.job, []).append(seen)
        needs = [
            Need(
                key=q.launch.task_id,
                executor_id=q.executor["executor_id"]["value"],
                cpus=q.launch.cpus,
                mem=q.launch.mem,
                disk=q.launch.disk,
                constraints=tuple(self._constraints(q.launch.job)),
                home=self._state.homes.get(q.executor["executor_id"]["value"], ""),
                may_leave_home=now - q.since >= leave_after,
                job=q.launch.job,
            )
            for q in self._waiting()
        ]
        cost = ExecutorCost(self._spec.cpus, self._spec.mem, self._spec.disk)
        result = plan(offers, needs, cost, running)
        agents = {o.id: o.agent_id for o in offers}
        for offer_id, keys in result.placed.items():
            await self._accept(offer_id, agents[offer_id], [self._queue[k] for k in keys])
        if result.declined:
            refuse = self._options.refuse_when_waiting if result.waiting else self._options.refuse_when_idle
            await self._call(lambda c: c.decline(result.declined, refuse=refuse), "DECLINE")
        if not self._waiting():
            await self._suppress()

    async def _accept(self, offer_id: str, agent_id: str, queued: list[_Queued]) -> None:
        infos = [task_info(q.launch, agent_id, q.executor) for q in queued]
        for q in queued:
            record = TaskRecord(
                q.launch.task_id,
                q.launch.run_id,
                q.launch.attempt,
                q.launch.job,
                agent_id,
                q.executor["executor_id"]["value"],
            )
            self._tasks[record.task_id] = _InFlight(record, started=q.started, timeout=q.launch.timeout)
            executor = self._executor(record.executor_id, agent_id, record.job)
            executor.tasks.add(record.task_id)
        self._save()  # a task Mesos may start is on disk before the call
        try:
            await self._client_or_raise().accept([offer_id], infos, refuse=self._options.refuse_when_idle)
        except _REFUSED as e:
            log.warning("mesos: ACCEPT of %s refused (%s); the runs wait for another offer", offer_id, e)
            for q in queued:
                self._forget(q.launch.task_id)
            self._save()
            return
        except (httpx.HTTPError, OSError) as e:
            # The master may have taken it: the tasks stay in flight and reconciliation settles them (a
            # task it never saw is answered as gone, which fails its launch).
            log.warning("mesos: ACCEPT of %s unanswered (%s); reconciling its tasks", offer_id, e)
            pairs = [(q.launch.task_id, agent_id) for q in queued]
            await self._call(lambda c: c.reconcile(pairs), "RECONCILE")
        for q in queued:
            executor_id = q.executor["executor_id"]["value"]
            self._state.homes[executor_id] = agent_id
            self._current[q.launch.job] = executor_id
        self._save()
        await self._retire_drifted()

    async def _on_update(self, status: TaskStatus) -> None:
        task = self._tasks.get(status.task_id)
        if task is None or not task.watched:
            log.debug("mesos: update %s for %s, a task not in flight", status.state, status.task_id)
        else:
            self._apply(task, status)
        if status.uuid:
            await self._call(lambda c: c.acknowledge(status), "ACKNOWLEDGE")

    def _apply(self, task: _InFlight, status: TaskStatus) -> None:
        record = task.record
        result = outcome(status)
        at = datetime.fromtimestamp(status.timestamp, UTC) if status.timestamp else self._now()
        if not result.final:
            if status.state in _RAN:
                self._report_start(task, at, status)
            return
        if task.timer is not None:
            task.timer.cancel()
        state = result.state
        if task.timed_out and state in (RunState.KILLED, RunState.FAILED):
            state = RunState.TIMED_OUT
        if not task.reported_start and status.state not in _RAN:
            if task.started is not None and not task.started.done():
                task.started.set_exception(LaunchFailed(result.reason))
            else:
                self._emit(RunLost(record.run_id, record.attempt, at, result.reason))
        elif state is RunState.LOST:
            self._report_start(task, at, status)
            self._emit(RunLost(record.run_id, record.attempt, at, result.reason))
        else:
            self._report_start(task, at, status)
            self._emit(self._finished(record, at, state, status, result.reason))
        self._forget(record.task_id)
        self._save()
        self._arm_idle(record.executor_id, record.agent_id)

    def _report_start(self, task: _InFlight, at: datetime, status: TaskStatus) -> None:
        if task.reported_start:
            return
        task.reported_start = True
        detail = f"task {task.record.task_id} on agent {status.agent_id or task.record.agent_id}"
        self._emit(RunStarted(task.record.run_id, task.record.attempt, at, detail=detail))
        if task.started is not None and not task.started.done():
            task.started.set_result(None)
        if task.timeout is not None:
            task.timer = asyncio.get_running_loop().call_later(
                task.timeout.total_seconds(), lambda: self._spawn(self._time_out(task))
            )

    async def _time_out(self, task: _InFlight) -> None:
        """The run passed its timeout: kill the task; its KILLED update ends the run as TIMED_OUT."""
        if self._tasks.get(task.record.task_id) is task:
            task.timed_out = True
            await self._kill(task.record, self._options.timeout_grace)

    @staticmethod
    def _finished(
        record: TaskRecord, at: datetime, state: RunState, status: TaskStatus, reason: str
    ) -> RunFinished:
        exit_code, signal = _exit_of(status)
        kind = {
            RunState.KILLED: ExitKind.KILLED,
            RunState.OOM_KILLED: ExitKind.OOM_KILLED,
            RunState.TIMED_OUT: ExitKind.TIMED_OUT,
        }.get(state, ExitKind.SIGNALED if signal is not None else ExitKind.EXITED)
        if state is RunState.SUCCEEDED:
            exit_code = 0
        tail = "" if state is RunState.SUCCEEDED else reason
        return RunFinished(
            record.run_id, record.attempt, at, kind, exit_code=exit_code, signal=signal, output_tail=tail
        )

    def _on_failure(self, event: Failure) -> None:
        """An executor ended (its tasks get their own terminal updates) or an agent was removed: runs
        of those executors may start a new one elsewhere."""
        for key in list(self._executors):
            executor_id, agent_id = key
            if agent_id == event.agent_id and (not event.executor_id or event.executor_id == executor_id):
                self._drop_executor(executor_id, agent_id)
        self._save()

    # --- executors -------------------------------------------------------------------------------------

    def _executor(self, executor_id: str, agent_id: str, job: str) -> _Executor:
        executor = self._executors.get((executor_id, agent_id))
        if executor is None:
            executor = self._executors[(executor_id, agent_id)] = _Executor(job, agent_id)
        if executor.idle_timer is not None:
            executor.idle_timer.cancel()
            executor.idle_timer = None
        return executor

    def _drop_executor(self, executor_id: str, agent_id: str) -> None:
        executor = self._executors.pop((executor_id, agent_id), None)
        if executor is not None and executor.idle_timer is not None:
            executor.idle_timer.cancel()
        if self._state.homes.get(executor_id) == agent_id:
            del self._state.homes[executor_id]

    def _arm_idle(self, executor_id: str, agent_id: str) -> None:
        executor = self._executors.get((executor_id, agent_id))
        if executor is None or executor.tasks:
            return
        if executor.job in self._retiring or self._current.get(executor.job, executor_id) != executor_id:
            self._spawn(self._shutdown(executor_id, agent_id))
            return
        timeout = self._options.idle_timeout
        if timeout is not None and executor.idle_timer is None:
            loop = asyncio.get_running_loop()
            executor.idle_timer = loop.call_later(
                timeout.total_seconds(), lambda: self._spawn(self._shutdown(executor_id, agent_id))
            )

    async def _retire_drifted(self) -> None:
        """A job whose config changed runs on a new executor id: its old executors go once idle (now, or
        when their last task ends)."""
        for (executor_id, agent_id), executor in list(self._executors.items()):
            if self._current.get(executor.job, executor_id) != executor_id and not executor.tasks:
                await self._shutdown(executor_id, agent_id)

    async def _shutdown(self, executor_id: str, agent_id: str) -> None:
        executor = self._executors.get((executor_id, agent_id))
        if executor is None or executor.tasks:
            return
        self._drop_executor(executor_id, agent_id)
        self._save()
        await self._call(lambda c: c.shutdown(executor_id, agent_id), "SHUTDOWN")

    # --- helpers ---------------------------------------------------------------------------------------

    def _waiting(self) -> list[_Queued]:
        """Queued launches not yet accepted onto an offer, in queue order."""
        return [
            q for q in self._queue.values() if not q.started.done() and q.launch.task_id not in self._tasks
        ]

    def _forget(self, task_id: str) -> None:
        self._kills.pop(task_id, None)
        task = self._tasks.pop(task_id, None)
        if task is None:
            return
        key = (task.record.executor_id, task.record.agent_id)
        executor = self._executors.get(key)
        if executor is not None:
            executor.tasks.discard(task_id)
            if not executor.tasks and self._state.homes.get(key[0]) != key[1]:
                del self._executors[key]  # its executor never started there

    def _restore(self, state: FrameworkState) -> None:
        """Take up what an earlier horae saved: its framework id, its tasks (not watched until `reconcile`
        adopts them) and where each executor lives."""
        self._state = state
        self._tasks = {t.task_id: _InFlight(t, watched=False) for t in state.tasks.values()}
        for executor_id, agent_id in state.homes.items():
            self._executor(executor_id, agent_id, job_of(executor_id))
        for task in state.tasks.values():
            self._executor(task.executor_id, task.agent_id, task.job).tasks.add(task.task_id)

    def _save(self) -> None:
        self._state.tasks = {k: t.record for k, t in self._tasks.items()}
        self._keeper.save(self._state)

    def _emit(self, event: RunStarted | RunFinished | RunLost) -> None:
        if self._sink is not None:
            self._sink(event)

    def _fail(self, why: str) -> None:
        log.error("mesos: %s", why)
        self._failed = why
        for queued in self._queue.values():
            if not queued.started.done():
                queued.started.set_exception(LaunchFailed(why))

    def _client_or_raise(self) -> MesosSchedulerClient:
        if self._client is None:
            raise NotSubscribed("the Mesos runtime is not started")
        return self._client

    async def _call(self, send: Callable[[MesosSchedulerClient], Any], what: str) -> bool:
        """Send one call; a failure is logged (the next subscription reconciles and revives anyway)."""
        try:
            await send(self._client_or_raise())
        except _CALL_ERRORS as e:
            log.warning("mesos: %s failed: %s", what, e)
            return False
        return True

    async def _revive(self) -> None:
        """REVIVE when work waits and offers are suppressed. SUPPRESS and REVIVE go one at a time, so
        the master sees them in the order the queue changed."""
        async with self._offer_switch:
            client = self._client
            if self._suppressed and self._waiting() and client is not None and client.subscribed:
                self._suppressed = not await self._call(lambda c: c.revive(), "REVIVE")

    async def _suppress(self) -> None:
        async with self._offer_switch:
            client = self._client
            if not self._suppressed and not self._waiting() and client is not None and client.subscribed:
                self._suppressed = await self._call(lambda c: c.suppress(), "SUPPRESS")

    def _spawn(self, coroutine: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


def job_of(executor_id: str) -> str:
    """The job of an executor id `horae.<job>.<hash>`."""
    return executor_id.removeprefix("horae.").rpartition(".")[0]


def _exit_of(status: TaskStatus) -> tuple[int | None, int | None]:
    """The exit code or signal the executor put in the status `data` (`{"exit_code": n}`/`{"signal": n}`)."""
    if not status.data:
        return None, None
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        doc = json.loads(status.data)
        code, signal = doc.get("exit_code"), doc.get("signal")
        return (int(code) if code is not None else None, int(signal) if signal is not None else None)
    return None, None
