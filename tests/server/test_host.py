"""The host with a MemoryStore, a FakeRuntime and a clock the test moves."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from horae.api import JobAlreadyExists, JobNotFound, RunNotFound, StoreUnavailable
from horae.core import jitter_offset
from horae.model import (
    ConcurrencyPolicy,
    Container,
    InvalidJob,
    Job,
    Launch,
    RetryBackoff,
    Run,
    RunLost,
    RunState,
    Trigger,
)
from horae.runtime import FakeRuntime, LaunchFailed
from horae.server import Host, Settings
from horae.store import InsertRun, MemoryStore, PutJob, Write

T0 = datetime(2030, 1, 1, tzinfo=UTC)
EVERY_SECOND = "* * * * * *"


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class CountingStore(MemoryStore):
    """Records every batch given to `apply`."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[Write]] = []

    def apply(self, writes: Sequence[Write]) -> frozenset[str]:
        self.batches.append(list(writes))
        return super().apply(writes)


class CheckingRuntime(FakeRuntime):
    """Fails the test if asked to launch a run the store does not hold yet."""

    def __init__(self, store: CountingStore, clock: Clock) -> None:
        super().__init__(clock=clock)
        self.store = store
        self.fail_with: str | None = None
        self.retired: list[str] = []
        self.slow_kills = False  # a killed run goes on until the test finishes it
        self.prepared: list[tuple[str, bool]] = []  # (run id, whether the store held it yet)

    def prepare(self, launch: Launch) -> None:
        self.prepared.append((launch.run_id, self.store.get_run(launch.run_id) is not None))

    async def launch(self, launch: Launch) -> None:
        stored = self.store.get_run(launch.run_id)
        assert stored is not None, f"{launch.run_id} launched before it was stored"
        assert stored.attempt == launch.attempt
        if self.fail_with is not None:
            raise LaunchFailed(self.fail_with)
        await super().launch(launch)

    async def kill(self, run_id: str, *, grace: timedelta = timedelta(seconds=10)) -> None:
        if self.slow_kills:
            self.kills.append(run_id)
        else:
            await super().kill(run_id, grace=grace)

    async def retire(self, job: str) -> None:
        self.retired.append(job)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store() -> CountingStore:
    return CountingStore()


@pytest.fixture
def runtime(store: CountingStore, clock: Clock) -> CheckingRuntime:
    return CheckingRuntime(store, clock)


@pytest.fixture
async def host(
    store: CountingStore, runtime: CheckingRuntime, clock: Clock, tmp_path: Path
) -> AsyncIterator[Host]:
    h = Host(store, runtime, clock=clock, settings=Settings(data_dir=tmp_path))
    await h.start()
    yield h
    await h.stop()


async def advance(host: Host, clock: Clock, seconds: float) -> None:
    clock.advance(seconds)
    host.tick()
    await host.settle()


def job(name: str, **fields: object) -> Job:
    values: dict[str, object] = {"command": "true", "schedule": EVERY_SECOND, "retries": 0}
    values.update(fields)
    return Job(name, **values)  # type: ignore[arg-type]


async def test_a_scheduled_run_is_stored_then_launched_then_recorded(
    host: Host, store: CountingStore, runtime: CheckingRuntime, clock: Clock
) -> None:
    await host.save_job(job("tick"))
    assert store.get_job("tick") is not None
    assert runtime.launches == []

    await advance(host, clock, 1)
    assert [launch.run_id for launch in runtime.launches] == [f"tick:{int((T0.timestamp() + 1) * 1000)}"]
    run_id = runtime.launches[0].run_id
    stored = store.get_run(run_id)
    assert stored is not None and stored.state is RunState.RUNNING
    assert stored.scheduled_for == T0 + timedelta(seconds=1)

    clock.advance(0.25)
    runtime.finish(run_id, 0)
    await host.settle()
    final = store.get_run(run_id)
    assert final is not None and final.state is RunState.SUCCEEDED and final.exit_code == 0
    stored_job = store.get_job("tick")
    assert stored_job is not None
    assert (stored_job.success_count, stored_job.error_count) == (1, 0)
    assert stored_job.last_success == T0 + timedelta(seconds=1.25)
    assert host.job_status("tick").last == "success"
    assert b'horae_runs_total{state="succeeded"} 1.0' in host.metrics_text()


async def test_a_launch_is_prepared_while_its_record_commits_and_launched_after(
    host: Host, runtime: CheckingRuntime
) -> None:
    await host.save_job(job("manual", schedule="R/2099-01-01T00:00:00Z/P1D"))
    run = await host.trigger("manual")
    await host.settle()
    assert runtime.prepared == [(run.id, False)]  # told before the commit, so set-up overlaps it
    assert [launch.run_id for launch in runtime.launches] == [run.id]  # launched once it was stored


async def test_a_failure_is_counted_and_reported_as_the_last_outcome(
    host: Host, store: CountingStore, runtime: CheckingRuntime, clock: Clock
) -> None:
    await host.save_job(job("flaky"))
    assert host.job_status("flaky").last == "fresh"
    await advance(host, clock, 1)
    runtime.finish(runtime.launches[0].run_id, 3)
    await host.settle()
    run = store.get_run(runtime.launches[0].run_id)
    assert run is not None and run.state is RunState.FAILED and run.reason == "exit code 3"
    stored_job = store.get_job("flaky")
    assert stored_job is not None and stored_job.error_count == 1
    assert host.job_status("flaky").last == "failure"


async def test_one_store_apply_per_loop_turn(
    host: Host, store: CountingStore, runtime: CheckingRuntime, clock: Clock
) -> None:
    for i in range(5):
        await host.save_job(job(f"j{i}"))
    before = len(store.batches)
    clock.advance(1)
    host.tick()
    await host.settle()
    batches = store.batches[before:]
    # The tick's five records in one transaction, then the five RunStarted updates in one more.
    assert [sum(isinstance(w, InsertRun) for w in b) for b in batches] == [5, 0]
    assert len(batches) == 2 and len(batches[1]) == 5
    assert len(runtime.launches) == 5


async def test_a_manual_run_is_durable_when_trigger_returns(
    host: Host, store: CountingStore, runtime: CheckingRuntime, clock: Clock
) -> None:
    await host.save_job(job("manual", schedule="R/2040-01-01T00:00:00Z/P1D"))
    run = await host.trigger("manual", arguments=["--fast"], environment=[("MODE", "x")])
    assert run.trigger is Trigger.MANUAL
    assert store.get_run(run.id) is not None
    await host.settle()
    assert runtime.launches[-1].run_id == run.id
    assert runtime.launches[-1].argv == ("/bin/sh", "-c", "true --fast")
    assert ("MODE", "x") in runtime.launches[-1].environment
    with pytest.raises(JobNotFound):
        await host.trigger("nope")


async def test_kill_run_and_kill_job(
    host: Host, store: CountingStore, runtime: CheckingRuntime, clock: Clock
) -> None:
    await host.save_job(
        job("long", schedule="R/2040-01-01T00:00:00Z/P1D", concurrency_policy=ConcurrencyPolicy.ALLOW)
    )
    first = await host.trigger("long")
    clock.advance(0.01)
    second = await host.trigger("long")
    await host.settle()
    assert {launch.run_id for launch in runtime.launches} == {first.id, second.id}

    await host.kill_run(first.id)
    await host.settle()
    killed = store.get_run(first.id)
    assert killed is not None and killed.state is RunState.KILLED and killed.reason == "killed on request"
    assert host.scheduler.open_run(second.id) is not None

    await host.kill_job("long")
    await host.settle()
    assert runtime.kills == [first.id, second.id]
    other = store.get_run(second.id)
    assert other is not None and other.state is RunState.KILLED
    await host.kill_run(first.id)  # already final: nothing to do
    with pytest.raises(RunNotFound):
        await host.kill_run("long:1")


async def test_delete_stops_the_schedule_and_kills_open_runs(
    host: Host, store: CountingStore, runtime: CheckingRuntime, clock: Clock
) -> None:
    await host.save_job(job("doomed"))
    await advance(host, clock, 1)
    run_id = runtime.launches[0].run_id
    await host.delete_job("doomed")
    await host.settle()
    assert store.get_job("doomed") is None and host.get_job("doomed") is None
    assert runtime.kills == [run_id]
    run = store.get_run(run_id)
    assert run is not None and run.state is RunState.KILLED
    await advance(host, clock, 5)
    assert len(runtime.launches) == 1
    with pytest.raises(JobNotFound):
        await host.delete_job("doomed")


async def test_a_run_whose_insert_conflicts_is_never_launched(
    host: Host, store: CountingStore, runtime: CheckingRuntime, clock: Clock
) -> None:
    await host.save_job(job("dup"))
    due = T0 + timedelta(seconds=1)
    # A record of the same occurrence written by someone else (e.g. another server): it wins.
    theirs = Run(
        "dup", due, Trigger.SCHEDULE, RunState.SUCCEEDED, created_at=T0, finished_at=due, reason="theirs"
    )
    store.apply([InsertRun(theirs)])
    await advance(host, clock, 1)
    assert runtime.launches == []
    assert store.get_run(theirs.id) == theirs
    assert host.scheduler.open_runs("dup") == []
    stored_job = store.get_job("dup")
    assert stored_job is not None and (stored_job.success_count, stored_job.error_count) == (0, 0)
    await advance(host, clock, 1)  # the next occurrence is ours and runs
    assert [launch.run_id for launch in runtime.launches] == [f"dup:{int((T0.timestamp() + 2) * 1000)}"]


async def test_a_failed_launch_becomes_a_lost_run(
    host: Host, store: CountingStore, runtime: CheckingRuntime, clock: Clock
) -> None:
    runtime.fail_with = "no such image"
    await host.save_job(job("broken"))
    await advance(host, clock, 1)
    runs = host.list_runs("broken").runs
    assert len(runs) == 1
    assert runs[0].state is RunState.LOST and runs[0].reason == "lost: launch failed: no such image"


async def test_save_job_validates_pins_and_keeps_the_cursor(host: Host, store: CountingStore) -> None:
    with pytest.raises(InvalidJob) as e:
        await host.save_job(job("child", schedule=None, parents=("missing",)))
    assert e.value.field == "parents"
    saved = await host.save_job(job("iso", schedule="R//PT1H"))
    assert saved.schedule == "R/2030-01-01T00:00:00.000Z/PT1H"
    assert saved.scheduled_through is not None
    # A client's replacement carries no cursor: the one the scheduler keeps stays, and is stored.
    again = await host.save_job(job("iso", schedule="R/2030-01-01T00:00:00.000Z/PT1H", description="new"))
    assert again.description == "new"
    assert again.scheduled_through is not None and again.scheduled_through >= saved.scheduled_through
    assert store.get_job("iso") == again
    with pytest.raises(JobAlreadyExists):
        await host.save_job(job("iso"), create_only=True)


async def test_pause_mark_success_and_complete_task(
    host: Host, store: CountingStore, runtime: CheckingRuntime, clock: Clock
) -> None:
    await host.save_job(job("parent"))
    await host.save_job(job("child", schedule=None, parents=("parent",)))
    paused = await host.set_paused("parent", True)
    assert paused.disabled and store.get_job("parent") == paused
    await advance(host, clock, 1)
    assert runtime.launches == []
    assert host.next_occurrences("parent", 2) == [T0 + timedelta(seconds=2), T0 + timedelta(seconds=3)]

    assert await host.mark_success("parent") is True
    assert await host.mark_success("nope") is False
    await host.settle()
    assert [launch.job for launch in runtime.launches] == ["child"]
    launch = runtime.launches[0]
    await host.complete_task(launch.task_id, 0)
    await host.settle()
    run = store.get_run(launch.run_id)
    assert run is not None and run.state is RunState.SUCCEEDED and run.trigger is Trigger.DEPENDENCY
    with pytest.raises(RunNotFound):
        await host.complete_task("ct:1:0:child:", 0)
    with pytest.raises(RunNotFound):
        await host.complete_task("not a task", 0)


async def test_list_jobs_pages_by_name(host: Host) -> None:
    for name in ["b", "a", "c-x", "d"]:
        await host.save_job(job(name))
    assert [j.name for j in host.list_jobs()] == ["a", "b", "c-x", "d"]
    assert [j.name for j in host.list_jobs(after="b", limit=1)] == ["c-x"]
    assert [j.name for j in host.list_jobs(name_contains="X")] == ["c-x"]
    assert host.leader() == "127.0.0.1:4400"


async def test_restart_restores_from_the_store(
    store: CountingStore, runtime: CheckingRuntime, clock: Clock, tmp_path: Path
) -> None:
    first = Host(store, runtime, clock=clock, settings=Settings(data_dir=tmp_path))
    await first.start()
    await first.save_job(job("keep"))
    await advance(first, clock, 1)
    run_id = runtime.launches[0].run_id
    await first.stop()

    # The fake's run is forgotten by the new runtime: reconcile reports it lost.
    fresh = CheckingRuntime(store, clock)
    second = Host(store, fresh, clock=clock, settings=Settings(data_dir=tmp_path))
    await second.start()
    await second.settle()
    assert second.get_job("keep") is not None
    lost = store.get_run(run_id)
    assert lost is not None and lost.state is RunState.LOST
    await advance(second, clock, 1)
    assert len(fresh.launches) == 1 and fresh.launches[0].run_id != run_id
    await second.stop()


async def test_history_is_pruned_round_robin(
    store: CountingStore, runtime: CheckingRuntime, clock: Clock, tmp_path: Path
) -> None:
    host = Host(store, runtime, clock=clock, settings=Settings(data_dir=tmp_path, history_keep=2))
    await host.start()
    await host.save_job(job("p"))
    for _ in range(5):
        await advance(host, clock, 1)
        runtime.finish(runtime.launches[-1].run_id, 0)
        await host.settle()
    assert len(host.list_runs("p").runs) == 5
    assert await host.prune_step() == 3
    assert len(host.list_runs("p").runs) == 2
    await host.stop()


async def test_a_deleted_jobs_history_is_pruned_once_its_runs_have_ended(
    store: CountingStore, runtime: CheckingRuntime, clock: Clock, tmp_path: Path
) -> None:
    # Runs of a job deleted before this start: swept at the first pruning step.
    ghost = Run("ghost", T0 - timedelta(days=1), Trigger.MANUAL, state=RunState.SUCCEEDED)
    store.apply([InsertRun(ghost)])
    host = Host(store, runtime, clock=clock, settings=Settings(data_dir=tmp_path))
    await host.start()
    await host.save_job(job("gone"))
    await advance(host, clock, 1)
    runtime.finish(runtime.launches[-1].run_id, 0)
    await advance(host, clock, 1)  # the second run is still open when the job is deleted
    assert await host.prune_step() == 1
    assert store.get_run(ghost.id) is None
    runtime.slow_kills = True
    await host.delete_job("gone")
    await host.settle()
    assert await host.prune_step() == 0  # its killed run has not ended yet
    runtime.finish(runtime.launches[-1].run_id, 143)
    await host.settle()
    assert len(store.list_runs("gone")[0]) == 2
    assert await host.prune_step() == 2
    assert store.list_runs("gone") == ([], None)
    await host.stop()


async def test_the_runtime_is_told_when_a_job_no_longer_needs_what_it_keeps(
    host: Host, runtime: CheckingRuntime
) -> None:
    boxed = job("boxed", container=Container(image="busybox"))
    await host.save_job(boxed)
    assert runtime.retired == []
    await host.set_paused("boxed", True)
    assert runtime.retired == ["boxed"]
    await host.set_paused("boxed", False)
    await host.save_job(replace(boxed, container=None))  # it left its container
    await host.delete_job("boxed")
    assert runtime.retired == ["boxed", "boxed", "boxed"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"schedule": "R/9999-12-30T00:00:00Z/PT1H", "jitter": timedelta(days=30)}, "jitter"),
        ({"jitter": timedelta(days=3_000_000)}, "jitter"),
        ({"timeout": timedelta(days=999_999_999)}, "timeout"),
        ({"retry_backoff": RetryBackoff(cap=timedelta(days=999_999_999))}, "retryBackoff.cap"),
    ],
)
async def test_a_job_whose_instants_pass_the_year_9999_is_refused_and_nothing_is_stored(
    host: Host, store: CountingStore, clock: Clock, changes: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidJob) as e:
        await host.save_job(job("far", **changes))
    assert e.value.field == field and "9999" in e.value.message
    await host.save_job(job("near"))  # the next batch holds nothing of the refused job
    await advance(host, clock, 1)
    assert host.get_job("far") is None and store.get_job("far") is None
    assert not any(isinstance(w, PutJob) and w.job.name == "far" for b in store.batches for w in b)
    assert host.get_job("near") is not None


async def test_a_stored_job_whose_instants_the_core_refuses_is_loaded_paused_and_the_rest_runs(
    store: CountingStore, runtime: CheckingRuntime, clock: Clock, tmp_path: Path
) -> None:
    store.put_job(job("far", schedule="R/9999-12-30T00:00:00Z/PT1H", jitter=timedelta(days=30)))
    store.put_job(job("near"))
    host = Host(store, runtime, clock=clock, settings=Settings(data_dir=tmp_path))
    await host.start()
    far = host.get_job("far")
    assert far is not None and far.disabled
    await advance(host, clock, 1)
    assert [launch.job for launch in runtime.launches] == ["near"]
    with pytest.raises(InvalidJob):
        await host.set_paused("far", False)
    await host.delete_job("far")
    assert store.get_job("far") is None
    await host.stop()


async def test_a_scheduler_failure_on_an_event_or_a_timer_leaves_the_timers_running(
    host: Host, runtime: CheckingRuntime, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await host.save_job(job("steady"))
    handle = host.scheduler.handle
    failures = 2

    def failing(event: object, now: datetime) -> object:
        nonlocal failures
        if failures:
            failures -= 1
            raise OverflowError("date value out of range")
        return handle(event, now)

    monkeypatch.setattr(host.scheduler, "handle", failing)
    host._on_run_event(RunLost("steady:0", 0, clock(), "test"))  # logged, not raised into the runtime
    clock.advance(1)
    host._on_timer()  # logged, not raised into the loop
    await advance(host, clock, 1)
    assert [launch.job for launch in runtime.launches] == ["steady"]


class FailingOnceStore(CountingStore):
    def __init__(self) -> None:
        super().__init__()
        self.fail_next = False

    def apply(self, writes: Sequence[Write]) -> frozenset[str]:
        if self.fail_next:
            self.fail_next = False
            raise OSError("disk full")
        return super().apply(writes)


async def test_a_failed_commit_launches_nothing_and_restores_from_the_store(
    clock: Clock, tmp_path: Path
) -> None:
    store = FailingOnceStore()
    runtime = CheckingRuntime(store, clock)
    host = Host(store, runtime, clock=clock, settings=Settings(data_dir=tmp_path), timers=False)
    await host.start()
    await host.save_job(job("fragile"))
    store.fail_next = True
    clock.advance(1)
    host.tick()
    with pytest.raises(StoreUnavailable, match="disk full"):  # a 503 for an API caller
        await host.settle()
    await host.settle()
    assert runtime.launches == []
    assert len(runtime.prepared) == 1  # prepared, never launched: a runtime must cope with that
    assert host.list_runs("fragile").runs == []
    await advance(host, clock, 1)  # the next occurrence runs as usual
    assert len(runtime.launches) == 1
    await host.stop()


class GatedStore(FailingOnceStore):
    """Lets a test hold the failing commit and the restore's read of the store in the writer thread, so
    it can act on the loop at exactly those moments."""

    def __init__(self) -> None:
        super().__init__()
        self.apply_entered, self.apply_gate = threading.Event(), threading.Event()
        self.load_entered, self.load_gate = threading.Event(), threading.Event()
        self.gate_load = False

    def apply(self, writes: Sequence[Write]) -> frozenset[str]:
        if self.fail_next:
            self.apply_entered.set()
            assert self.apply_gate.wait(10)
        return super().apply(writes)

    def load_jobs(self) -> list[Job]:
        if self.gate_load:
            self.load_entered.set()
            assert self.load_gate.wait(10)
        return super().load_jobs()


async def _reached(event: threading.Event) -> None:
    assert await asyncio.to_thread(event.wait, 10)


async def test_a_failed_commit_fails_its_own_waiters_only_and_later_arrivals_wait_for_the_restore(
    clock: Clock, tmp_path: Path
) -> None:
    store = GatedStore()
    runtime = CheckingRuntime(store, clock)
    host = Host(store, runtime, clock=clock, settings=Settings(data_dir=tmp_path), timers=False)
    await host.start()
    yearly = "0 0 0 1 1 *"
    await host.save_job(job("fragile"))
    await host.save_job(job("busy", schedule=yearly))
    await host.save_job(job("manual", schedule=yearly))
    busy = await host.trigger("busy")
    await host.settle()
    assert busy.id in runtime.running

    store.fail_next, store.gate_load = True, True
    clock.advance(1)
    host.tick()  # the batch that will fail
    first = asyncio.create_task(host.settle())
    await _reached(store.apply_entered)
    second = asyncio.create_task(host.settle())  # arrives while that batch is being committed
    store.apply_gate.set()
    for waiter in (first, second):
        with pytest.raises(StoreUnavailable, match="disk full"):
            await waiter

    # The failure is reported; the host is reading the store to restore from it. Whatever arrives now
    # is decided on the restored state: it neither fails with the old error nor returns early.
    await _reached(store.load_entered)
    runtime.finish(busy.id, 0)
    later_settle = asyncio.create_task(host.settle())
    later_trigger = asyncio.create_task(host.trigger("manual"))
    for _ in range(20):
        await asyncio.sleep(0)
    assert not later_settle.done() and not later_trigger.done()
    store.load_gate.set()
    await later_settle
    manual = await later_trigger
    await host.settle()

    assert store.get_run(manual.id) is not None
    assert manual.id in [launch.run_id for launch in runtime.launches]
    finished = host.get_run(busy.id)
    assert finished is not None and finished.state is RunState.SUCCEEDED  # not lost in the restore
    await host.settle()  # nothing stale is left to re-raise
    await host.stop()


async def test_next_times_are_the_instants_the_job_fires_at_its_jitter_included(
    host: Host, runtime: CheckingRuntime, clock: Clock
) -> None:
    spread = job("spread", schedule="0 0 * * * *", jitter=timedelta(minutes=10))
    await host.save_job(spread)
    offset = jitter_offset(spread)
    assert timedelta(0) < offset < timedelta(minutes=10)
    times = host.next_occurrences("spread", 3)
    assert times == [T0 + timedelta(hours=h) + offset for h in (1, 2, 3)]
    assert host.next_occurrences("spread", 1, after=times[0] - timedelta(milliseconds=1)) == times[:1]

    await advance(host, clock, (times[0] - T0).total_seconds() - 0.001)
    assert runtime.launches == []
    await advance(host, clock, 0.001)  # it fires at the first listed time, not before
    assert len(runtime.launches) == 1


class PatientRuntime(CheckingRuntime):
    """Leaves the runs it is asked about open: an outcome comes later, as from a slow runtime."""

    async def reconcile(self, open_runs: Sequence[tuple[str, int]]) -> None:
        self.asked = list(open_runs)

    async def answer(self) -> None:
        await super().reconcile(self.asked)  # runs it does not know of are lost


async def test_runs_of_a_job_deleted_before_a_restart_are_pruned_once_they_end(
    store: CountingStore, clock: Clock, tmp_path: Path
) -> None:
    orphan = Run("orphan", T0 - timedelta(minutes=1), Trigger.MANUAL, state=RunState.RUNNING)
    store.apply([InsertRun(orphan)])
    runtime = PatientRuntime(store, clock)
    host = Host(store, runtime, clock=clock, settings=Settings(data_dir=tmp_path), timers=False)
    await host.start()
    assert runtime.asked == [(orphan.id, orphan.attempt)]
    assert await host.prune_step() == 0  # the start-up sweep leaves an open run alone
    await runtime.answer()
    await host.settle()
    ended = store.get_run(orphan.id)
    assert ended is not None and ended.state.is_final
    assert await host.prune_step() == 1  # not left until the next restart
    assert store.get_run(orphan.id) is None
    await host.stop()
