"""`MesosRuntime` against the loopback test master (a double, see fake_master.py) over real HTTP.

The master double validates every call against the v1 protos and the stateful rules (one ExecutorInfo
per executor id, offers used once, task agent = offer agent); `master.rejected` must stay empty. Status
updates are sent by the test, as an agent would.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from horae.mesos._calls import FrameworkConfig
from horae.mesos._runtime import MesosOptions, MesosRuntime
from horae.mesos._scheduler_client import Backoff
from horae.mesos._tasks import ExecutorSpec
from horae.model import (
    Container,
    ExitKind,
    Launch,
    RunEvent,
    RunFinished,
    RunLost,
    RunStarted,
)
from horae.model._run import format_task_id, from_epoch_ms
from horae.runtime import LaunchFailed
from tests.mesos.clock import FakeClock
from tests.mesos.fake_master import FakeMaster, ReceivedCall

pytestmark = pytest.mark.usefixtures("mesos_protos")

FRAMEWORK = FrameworkConfig(user="cron", name="horae-test", roles=("cron",))
SPEC = ExecutorSpec(command=("python3", "horae.pyz", "executor"), uris=("http://files/horae.pyz",))


def make_launch(job: str = "backup", at_ms: int = 1_700_000_000_000, attempt: int = 0, **kw: Any) -> Launch:
    return Launch(
        run_id=f"{job}:{at_ms}",
        job=job,
        attempt=attempt,
        task_id=format_task_id(from_epoch_ms(at_ms), attempt, job, ""),
        argv=("/bin/sh", "-c", "echo hi"),
        environment=(("A", "1"),),
        cpus=kw.pop("cpus", 0.5),
        mem=kw.pop("mem", 128.0),
        disk=kw.pop("disk", 0.0),
        **kw,
    )


class Events:
    def __init__(self) -> None:
        self.items: list[RunEvent] = []
        self._changed = asyncio.Event()

    def __call__(self, event: RunEvent) -> None:
        self.items.append(event)
        self._changed.set()

    def of(self, run_id: str) -> list[RunEvent]:
        return [e for e in self.items if e.run_id == run_id]

    async def wait(self, predicate: Callable[[], bool], within: float = 5.0) -> None:
        async with asyncio.timeout(within):
            while not predicate():
                self._changed.clear()
                try:
                    async with asyncio.timeout(0.05):
                        await self._changed.wait()
                except TimeoutError:
                    pass


class Harness:
    def __init__(self, master: FakeMaster, tmp: Path, clock: FakeClock) -> None:
        self.master = master
        self.state = tmp / "mesos-state.json"
        self.clock = clock
        self.constraints: dict[str, Sequence[tuple[str, str, str]]] = {}
        self.events = Events()
        self.runtime: MesosRuntime | None = None

    async def start(self, open_runs: Sequence[tuple[str, int]] = (), **options: Any) -> MesosRuntime:
        runtime = MesosRuntime(
            [self.master.url],
            FRAMEWORK,
            self.state,
            executor=SPEC,
            constraints=lambda job: self.constraints.get(job, ()),
            options=MesosOptions(**options),
            clock=self.clock,
            backoff=Backoff(0.01, 0.05),
        )
        self.runtime = runtime
        subscriptions = len(self.master.of_type("SUBSCRIBE"))
        await runtime.start(self.events)
        await runtime.reconcile(open_runs)
        await self.master.wait_for(lambda: len(self.master.of_type("SUBSCRIBE")) > subscriptions)
        return runtime

    def launched(self) -> list[dict[str, Any]]:
        return [
            t
            for c in self.master.of_type("ACCEPT")
            for op in c.body["accept"]["operations"]
            for t in op["launch"]["task_infos"]
        ]

    async def wait_call(self, kind: str, count: int = 1) -> list[ReceivedCall]:
        await self.master.wait_for(lambda: len(self.master.of_type(kind)) >= count)
        return self.master.of_type(kind)


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    master = FakeMaster("m1")
    await master.start()
    h = Harness(master, tmp_path, FakeClock())
    yield h
    if h.runtime is not None:
        await h.runtime.close()
    await master.stop()
    assert master.rejected == [], "a call the real master would refuse"


async def launched_and_running(h: Harness, launch: Launch, **offer: Any) -> asyncio.Task[None]:
    """Launch, offer, wait for the ACCEPT, report TASK_RUNNING; returns the finished launch call."""
    runtime = h.runtime
    assert runtime is not None
    accepted = len(h.master.of_type("ACCEPT"))
    call = asyncio.create_task(runtime.launch(launch))
    await h.master.wait_for(lambda: runtime._waiting() != [])
    h.master.offer(**offer)
    await h.wait_call("ACCEPT", accepted + 1)
    h.master.update(launch.task_id, "TASK_RUNNING")
    await asyncio.wait_for(call, 5)
    return call


async def test_a_run_waits_for_an_offer_then_runs_on_the_jobs_executor(harness: Harness) -> None:
    h = harness
    runtime = await h.start()
    await h.wait_call("SUPPRESS")  # nothing queued at subscription
    launch = make_launch()
    call = asyncio.create_task(runtime.launch(launch))
    await h.wait_call("REVIVE")
    assert not call.done()
    offer_id = h.master.offer("S1", cpus=4.0)
    (accept,) = await h.wait_call("ACCEPT")
    assert accept.body["accept"]["offer_ids"] == [{"value": offer_id}]
    (task,) = h.launched()
    assert task["task_id"] == {"value": launch.task_id}
    assert task["agent_id"] == {"value": "S1"}
    assert task["executor"]["executor_id"]["value"].startswith("horae.backup.")
    assert task["executor"]["command"]["arguments"] == ["python3", "horae.pyz", "executor"]
    assert json.loads(base64.b64decode(task["data"])) == {
        "run_id": launch.run_id,
        "attempt": 0,
        "argv": ["/bin/sh", "-c", "echo hi"],
        "environment": [["A", "1"]],
    }
    assert not call.done(), "a launch returns once the task reached its executor"
    running = h.master.update(launch.task_id, "TASK_RUNNING")
    await asyncio.wait_for(call, 5)
    (started,) = h.events.of(launch.run_id)
    assert isinstance(started, RunStarted) and "S1" in started.detail
    finished = h.master.update(launch.task_id, "TASK_FINISHED")
    await h.events.wait(lambda: len(h.events.of(launch.run_id)) == 2)
    end = h.events.of(launch.run_id)[1]
    assert isinstance(end, RunFinished) and end.kind is ExitKind.EXITED and end.exit_code == 0
    await h.master.wait_for(lambda: {running, finished} <= set(h.master.acked))
    await h.wait_call("SUPPRESS", 2)


async def test_runs_reuse_the_executor_on_its_agent_and_offers_elsewhere_are_declined(
    harness: Harness,
) -> None:
    h = harness
    runtime = await h.start()
    first = make_launch(at_ms=1_000)
    await launched_and_running(h, first, agent_id="S1")
    h.master.update(first.task_id, "TASK_FINISHED")
    executor_id = h.launched()[0]["executor"]["executor_id"]["value"]
    second = make_launch(at_ms=2_000)
    call = asyncio.create_task(runtime.launch(second))
    await h.master.wait_for(lambda: runtime._waiting() != [])
    away = h.master.offer("S2", hostname="agent2")
    await h.wait_call("DECLINE")
    assert h.master.of_type("DECLINE")[-1].body["decline"]["offer_ids"] == [{"value": away}]
    assert h.master.of_type("DECLINE")[-1].body["decline"]["filters"]["refuse_seconds"] == 5.0
    h.master.offer("S1", executor_ids=(executor_id,))
    await h.wait_call("ACCEPT", 2)
    first_task, second_task = h.launched()
    assert second_task["agent_id"] == {"value": "S1"}
    assert second_task["executor"] == first_task["executor"], "byte-identical ExecutorInfo"
    h.master.update(second.task_id, "TASK_RUNNING")
    await asyncio.wait_for(call, 5)


async def test_a_run_leaves_a_silent_home_agent_after_the_configured_wait(harness: Harness) -> None:
    h = harness
    runtime = await h.start(leave_home_after=timedelta(seconds=30))
    first = make_launch(at_ms=1_000)
    await launched_and_running(h, first, agent_id="S1")
    h.master.update(first.task_id, "TASK_FINISHED")
    second = make_launch(at_ms=2_000)
    call = asyncio.create_task(runtime.launch(second))
    await h.master.wait_for(lambda: runtime._waiting() != [])
    h.master.offer("S2")
    await h.wait_call("DECLINE")
    h.clock.advance(31)
    h.master.offer("S2")
    await h.wait_call("ACCEPT", 2)
    assert h.launched()[1]["agent_id"] == {"value": "S2"}
    h.master.update(second.task_id, "TASK_RUNNING")
    await asyncio.wait_for(call, 5)


async def test_constraints_choose_the_agent(harness: Harness) -> None:
    h = harness
    h.constraints["backup"] = [("rack", "EQUALS", "r2")]
    runtime = await h.start()
    launch = make_launch()
    call = asyncio.create_task(runtime.launch(launch))
    await h.master.wait_for(lambda: runtime._waiting() != [])
    h.master.offer("S1", attributes={"rack": "r1"})
    await h.wait_call("DECLINE")
    h.master.offer("S2", attributes={"rack": "r2"})
    await h.wait_call("ACCEPT")
    assert h.launched()[0]["agent_id"] == {"value": "S2"}
    h.master.update(launch.task_id, "TASK_RUNNING")
    await asyncio.wait_for(call, 5)


async def test_unique_keeps_a_second_run_off_the_agent_of_one_in_flight(harness: Harness) -> None:
    """Runs in flight count across offer rounds: the matcher learns their agents from earlier offers."""
    h = harness
    h.constraints["backup"] = [("hostname", "UNIQUE", "")]
    runtime = await h.start()
    first = make_launch(at_ms=1_000)
    await launched_and_running(h, first, agent_id="S1", hostname="agent1")
    executor_id = h.launched()[0]["executor"]["executor_id"]["value"]
    second = make_launch(at_ms=2_000)
    call = asyncio.create_task(runtime.launch(second))
    await h.master.wait_for(lambda: runtime._waiting() != [])
    home = h.master.offer("S1", hostname="agent1", executor_ids=(executor_id,))
    await h.wait_call("DECLINE")
    assert h.master.of_type("DECLINE")[-1].body["decline"]["offer_ids"] == [{"value": home}]
    h.master.offer("S2", hostname="agent2")
    await h.wait_call("ACCEPT", 2)
    assert h.launched()[1]["agent_id"] == {"value": "S2"}
    h.master.update(second.task_id, "TASK_RUNNING")
    await asyncio.wait_for(call, 5)


async def test_a_task_mesos_refuses_fails_the_launch(harness: Harness) -> None:
    h = harness
    runtime = await h.start()
    launch = make_launch()
    call = asyncio.create_task(runtime.launch(launch))
    await h.master.wait_for(lambda: runtime._waiting() != [])
    h.master.offer()
    await h.wait_call("ACCEPT")
    h.master.update(launch.task_id, "TASK_ERROR", message="Task uses no resources")
    with pytest.raises(LaunchFailed, match="Task uses no resources"):
        await asyncio.wait_for(call, 5)
    assert h.events.of(launch.run_id) == []


@pytest.mark.parametrize(
    ("state", "reason", "data", "expected"),
    [
        ("TASK_FAILED", "", b'{"exit_code": 3}', (ExitKind.EXITED, 3, None)),
        ("TASK_FAILED", "", b'{"signal": 9}', (ExitKind.SIGNALED, None, 9)),
        ("TASK_FAILED", "REASON_CONTAINER_LIMITATION_MEMORY", b"", (ExitKind.OOM_KILLED, None, None)),
        ("TASK_KILLED", "", b"", (ExitKind.KILLED, None, None)),
    ],
)
async def test_terminal_states_become_outcomes(
    harness: Harness, state: str, reason: str, data: bytes, expected: tuple[ExitKind, int | None, int | None]
) -> None:
    h = harness
    await h.start()
    launch = make_launch()
    await launched_and_running(h, launch)
    h.master.update(launch.task_id, state, reason=reason, data=data)
    await h.events.wait(lambda: len(h.events.of(launch.run_id)) == 2)
    end = h.events.of(launch.run_id)[1]
    assert isinstance(end, RunFinished)
    assert (end.kind, end.exit_code, end.signal) == expected
    assert state in end.output_tail


@pytest.mark.parametrize("state", ["TASK_LOST", "TASK_GONE", "TASK_DROPPED", "TASK_GONE_BY_OPERATOR"])
async def test_a_running_task_mesos_loses_is_a_lost_run(harness: Harness, state: str) -> None:
    h = harness
    await h.start()
    launch = make_launch()
    await launched_and_running(h, launch)
    h.master.update(launch.task_id, "TASK_UNREACHABLE")  # stays open
    h.master.update(launch.task_id, state)
    await h.events.wait(lambda: len(h.events.of(launch.run_id)) == 2)
    lost = h.events.of(launch.run_id)[1]
    assert isinstance(lost, RunLost) and state in lost.reason


async def test_duplicate_and_late_updates_report_once_and_are_all_acknowledged(harness: Harness) -> None:
    h = harness
    await h.start()
    launch = make_launch()
    await launched_and_running(h, launch)
    done = h.master.update(launch.task_id, "TASK_FINISHED")
    again = h.master.update(launch.task_id, "TASK_FINISHED", resend=done)
    late = h.master.update(launch.task_id, "TASK_RUNNING")
    await h.master.wait_for(lambda: {done, again, late} <= set(h.master.acked))
    kinds = [type(e) for e in h.events.of(launch.run_id)]
    assert kinds == [RunStarted, RunFinished]


async def test_kill_a_queued_run_and_a_running_one(harness: Harness) -> None:
    h = harness
    runtime = await h.start()
    queued = make_launch(at_ms=1_000)
    call = asyncio.create_task(runtime.launch(queued))
    await h.master.wait_for(lambda: runtime._waiting() != [])
    await runtime.kill(queued.run_id)
    with pytest.raises(LaunchFailed, match="waiting for an offer"):
        await asyncio.wait_for(call, 5)
    running = make_launch(at_ms=2_000)
    await launched_and_running(h, running)
    await runtime.kill(running.run_id, grace=timedelta(seconds=3))
    (kill,) = await h.wait_call("KILL")
    assert kill.body["kill"]["task_id"] == {"value": running.task_id}
    assert kill.body["kill"]["agent_id"] == {"value": "S1"}
    assert kill.body["kill"]["kill_policy"]["grace_period"]["nanoseconds"] == 3_000_000_000
    h.master.update(running.task_id, "TASK_KILLED")
    await h.events.wait(lambda: len(h.events.of(running.run_id)) == 2)
    end = h.events.of(running.run_id)[1]
    assert isinstance(end, RunFinished) and end.kind is ExitKind.KILLED
    await runtime.kill("nobody:1")  # unknown: no-op
    assert len(h.master.of_type("KILL")) == 1


async def test_a_restarted_horae_resubscribes_as_the_same_framework_and_reconciles(
    harness: Harness,
) -> None:
    h = harness
    runtime = await h.start()
    framework_id = h.master.framework_id
    launch = make_launch()
    await launched_and_running(h, launch)
    await runtime.close()
    h.events.items.clear()

    restarted = await h.start(open_runs=[(launch.run_id, 0), ("other:5", 1)])
    assert restarted.framework_id == framework_id
    subscribe = h.master.of_type("SUBSCRIBE")[-1].body
    assert subscribe["framework_id"] == {"value": framework_id}
    reconciles = await h.wait_call("RECONCILE", 3)  # implicit at the first subscription, then both
    explicit, implicit = (c.body["reconcile"] for c in reconciles[-2:])
    assert explicit["tasks"] == [{"task_id": {"value": launch.task_id}, "agent_id": {"value": "S1"}}]
    assert implicit == {}
    await h.events.wait(lambda: len(h.events.items) == 2)
    lost = h.events.of("other:5")
    assert len(lost) == 1 and isinstance(lost[0], RunLost) and "never reached Mesos" in lost[0].reason
    (started,) = h.events.of(launch.run_id)  # the reconciliation answer: still running
    assert isinstance(started, RunStarted)
    h.master.update(launch.task_id, "TASK_FINISHED")
    await h.events.wait(lambda: len(h.events.of(launch.run_id)) == 2)
    assert isinstance(h.events.of(launch.run_id)[1], RunFinished)


async def test_a_task_that_ended_while_horae_was_down_is_settled_by_reconciliation(
    harness: Harness,
) -> None:
    h = harness
    runtime = await h.start()
    launch = make_launch()
    await launched_and_running(h, launch)
    await runtime.close()
    h.master.tasks[launch.task_id] = ("S1", "TASK_FINISHED")  # the master knows it finished
    h.events.items.clear()
    await h.start(open_runs=[(launch.run_id, 0)])
    await h.events.wait(lambda: len(h.events.items) == 2)
    started, finished = h.events.of(launch.run_id)
    assert isinstance(started, RunStarted) and isinstance(finished, RunFinished)
    assert finished.exit_code == 0


async def test_saved_tasks_of_runs_no_longer_open_are_forgotten(harness: Harness) -> None:
    h = harness
    runtime = await h.start()
    await launched_and_running(h, make_launch())
    await runtime.close()
    await h.start(open_runs=[])
    assert json.loads(h.state.read_text())["tasks"] == []


async def test_reconnecting_reconciles_what_is_in_flight(harness: Harness) -> None:
    h = harness
    await h.start()
    launch = make_launch()
    await launched_and_running(h, launch)
    await h.wait_call("ACKNOWLEDGE")
    before = len(h.master.of_type("RECONCILE"))
    h.master.drop_stream()
    async with asyncio.timeout(5):
        while len(h.master.of_type("SUBSCRIBE")) < 2:
            h.clock.advance(0.05)  # the re-subscription backoff runs on the fake clock
            await asyncio.sleep(0.01)
    reconciles = await h.wait_call("RECONCILE", before + 2)
    assert reconciles[before].body["reconcile"]["tasks"][0]["task_id"] == {"value": launch.task_id}


async def test_a_changed_job_gets_a_new_executor_and_the_old_one_is_shut_down(harness: Harness) -> None:
    h = harness
    await h.start()
    first = make_launch(at_ms=1_000)
    await launched_and_running(h, first)
    h.master.update(first.task_id, "TASK_FINISHED")
    old = h.launched()[0]["executor"]["executor_id"]["value"]
    changed = make_launch(at_ms=2_000, container=Container(image="busybox:1.36"))
    await launched_and_running(h, changed, agent_id="S1", executor_ids=(old,), cpus=1.0)
    new = h.launched()[1]["executor"]
    assert new["executor_id"]["value"] != old
    (label,) = new["labels"]["labels"]
    assert json.loads(label["value"])["image"] == "busybox:1.36"
    (shutdown,) = await h.wait_call("SHUTDOWN")
    assert shutdown.body["shutdown"] == {"executor_id": {"value": old}, "agent_id": {"value": "S1"}}


async def test_retiring_a_job_shuts_its_executor_down_once_idle(harness: Harness) -> None:
    h = harness
    runtime = await h.start()
    launch = make_launch()
    await launched_and_running(h, launch)
    await runtime.retire("backup")
    assert h.master.of_type("SHUTDOWN") == []  # a run is still going
    h.master.update(launch.task_id, "TASK_FINISHED")
    (shutdown,) = await h.wait_call("SHUTDOWN")
    assert shutdown.body["shutdown"]["executor_id"] == h.launched()[0]["executor"]["executor_id"]


async def test_an_idle_executor_is_shut_down_after_the_idle_timeout(harness: Harness) -> None:
    h = harness
    await h.start(idle_timeout=timedelta(seconds=0.2))
    launch = make_launch()
    await launched_and_running(h, launch)
    h.master.update(launch.task_id, "TASK_FINISHED")
    await h.wait_call("SHUTDOWN")


async def test_an_agent_removed_frees_the_run_to_go_elsewhere(harness: Harness) -> None:
    h = harness
    runtime = await h.start()
    first = make_launch(at_ms=1_000)
    await launched_and_running(h, first, agent_id="S1")
    h.master.update(first.task_id, "TASK_LOST")
    h.master.failure("S1")
    await h.events.wait(lambda: len(h.events.of(first.run_id)) == 2)
    second = make_launch(at_ms=2_000)
    call = asyncio.create_task(runtime.launch(second))
    await h.master.wait_for(lambda: runtime._waiting() != [])
    await asyncio.sleep(0.1)  # the FAILURE was handled before the offer
    h.master.offer("S2")
    await h.wait_call("ACCEPT", 2)
    assert h.launched()[1]["agent_id"] == {"value": "S2"}
    h.master.update(second.task_id, "TASK_RUNNING")
    await asyncio.wait_for(call, 5)


async def test_a_removed_framework_fails_queued_and_later_launches(harness: Harness) -> None:
    h = harness
    runtime = await h.start()
    call = asyncio.create_task(runtime.launch(make_launch(at_ms=1_000)))
    await h.master.wait_for(lambda: runtime._waiting() != [])
    h.master.error("Framework has been removed")
    with pytest.raises(LaunchFailed, match="Framework has been removed"):
        await asyncio.wait_for(call, 5)
    with pytest.raises(LaunchFailed, match="Framework has been removed"):
        await runtime.launch(make_launch(at_ms=2_000))


async def test_a_run_past_its_timeout_is_killed_and_ends_timed_out(harness: Harness) -> None:
    h = harness
    await h.start(timeout_grace=timedelta(seconds=2))
    launch = make_launch(timeout=timedelta(seconds=0.2))
    await launched_and_running(h, launch)
    (kill,) = await h.wait_call("KILL")
    assert kill.body["kill"]["task_id"] == {"value": launch.task_id}
    assert kill.body["kill"]["kill_policy"]["grace_period"]["nanoseconds"] == 2_000_000_000
    h.master.update(launch.task_id, "TASK_KILLED")
    await h.events.wait(lambda: len(h.events.of(launch.run_id)) == 2)
    end = h.events.of(launch.run_id)[1]
    assert isinstance(end, RunFinished) and end.kind is ExitKind.TIMED_OUT


async def test_a_run_that_ends_in_time_is_not_killed(harness: Harness) -> None:
    h = harness
    await h.start()
    launch = make_launch(timeout=timedelta(seconds=0.2))
    await launched_and_running(h, launch)
    h.master.update(launch.task_id, "TASK_FINISHED")
    await h.events.wait(lambda: len(h.events.of(launch.run_id)) == 2)
    await asyncio.sleep(0.4)
    assert h.master.of_type("KILL") == []


async def test_an_accept_the_master_refuses_puts_the_run_back_in_the_queue(harness: Harness) -> None:
    h = harness
    runtime = await h.start()
    launch = make_launch()
    call = asyncio.create_task(runtime.launch(launch))
    await h.master.wait_for(lambda: runtime._waiting() != [])
    h.master.no_leader = True  # the ACCEPT is answered 503
    h.master.offer("S1")
    await asyncio.sleep(0.3)
    assert h.master.of_type("ACCEPT") == [] and [q.launch for q in runtime._waiting()] == [launch]
    h.master.no_leader = False
    h.master.offer("S1")
    await h.wait_call("ACCEPT")
    h.master.update(launch.task_id, "TASK_RUNNING")
    await asyncio.wait_for(call, 5)


async def test_a_kill_while_disconnected_is_sent_after_resubscribing(harness: Harness) -> None:
    h = harness
    runtime = await h.start()
    launch = make_launch()
    await launched_and_running(h, launch)
    await h.wait_call("ACKNOWLEDGE")
    h.master.drop_stream()
    await h.master.wait_for(lambda: runtime.client is not None and not runtime.client.subscribed)
    await runtime.kill(launch.run_id)
    assert h.master.of_type("KILL") == []
    async with asyncio.timeout(5):
        while not h.master.of_type("KILL"):
            h.clock.advance(0.05)  # the re-subscription backoff runs on the fake clock
            await asyncio.sleep(0.01)
    (kill,) = h.master.of_type("KILL")
    assert kill.body["kill"]["task_id"] == {"value": launch.task_id}
