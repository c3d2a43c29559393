"""The v1 scheduler client against the loopback test master (a double, see fake_master.py) over real HTTP.

Every call the client makes is validated by the double against the official v1 protos and the reference's
semantic rules; `master.rejected` must stay empty, and the fixture checks it after every test.
"""

from __future__ import annotations

import asyncio
import base64
import types
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

import httpx
import pytest

from horae.mesos._calls import FrameworkConfig, scalar
from horae.mesos._events import (
    Disconnected,
    Failure,
    Heartbeat,
    Offers,
    Rescind,
    SchedulerEvent,
    Subscribed,
    Update,
)
from horae.mesos._scheduler_client import Backoff, MesosSchedulerClient, SchedulerError, master_base
from tests.mesos.clock import FakeClock
from tests.mesos.fake_master import FakeMaster

pytestmark = pytest.mark.usefixtures("mesos_protos")

E = TypeVar("E")
FRAMEWORK = FrameworkConfig(user="cron", name="horae-test", roles=("cron",))
EXECUTOR = {
    "executor_id": {"value": "horae.backup.5f2a9c"},
    "type": "CUSTOM",
    "command": {"shell": False, "value": "horae", "arguments": ["horae", "executor"]},
    "resources": [scalar("cpus", 0.1), scalar("mem", 64)],
}


def task(task_id: str, agent_id: str = "S1") -> dict[str, Any]:
    return {
        "name": f"backup {task_id}",
        "task_id": {"value": task_id},
        "agent_id": {"value": agent_id},
        "executor": EXECUTOR,
        "resources": [scalar("cpus", 0.5), scalar("mem", 128)],
    }


class Recorder:
    """The client's handler: records events; `on_update` lets a test react (acknowledge) like a framework."""

    def __init__(self) -> None:
        self.events: list[SchedulerEvent] = []
        self.on_update: Callable[[Update], Awaitable[None]] | None = None
        self._changed = asyncio.Event()

    async def __call__(self, event: SchedulerEvent) -> None:
        self.events.append(event)
        self._changed.set()
        if isinstance(event, Update) and self.on_update is not None:
            await self.on_update(event)

    def of(self, kind: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, kind)]

    async def wait(
        self, kind: type[E], count: int = 1, within: float = 5.0, clock: FakeClock | None = None
    ) -> list[E]:
        """Until `count` events of `kind` arrived; with a clock, time moves on while waiting (backoff)."""
        async with asyncio.timeout(within):
            while len(self.of(kind)) < count:
                self._changed.clear()
                try:
                    async with asyncio.timeout(0.02):
                        await self._changed.wait()
                except TimeoutError:
                    if clock is not None:
                        clock.advance(0.5)
        return self.of(kind)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def running(
    masters: tuple[FakeMaster, FakeMaster], clock: FakeClock
) -> AsyncIterator[tuple[MesosSchedulerClient, Recorder, FakeMaster]]:
    master = masters[0]
    recorder = Recorder()
    client = MesosSchedulerClient([master.url], FRAMEWORK, recorder, clock=clock, backoff=Backoff(0.5, 4))
    runner = asyncio.create_task(client.run())
    await recorder.wait(Subscribed)
    yield client, recorder, master
    await client.stop()
    await runner


async def test_subscribe_first_time(running: tuple[MesosSchedulerClient, Recorder, FakeMaster]) -> None:
    client, recorder, master = running
    (subscribe,) = master.of_type("SUBSCRIBE")
    assert "framework_id" not in subscribe.body
    info = subscribe.body["subscribe"]["framework_info"]
    assert info["checkpoint"] is True
    assert info["failover_timeout"] == 7 * 24 * 3600.0
    assert info["roles"] == ["cron"] and {"type": "MULTI_ROLE"} in info["capabilities"]
    assert subscribe.headers["content-type"] == "application/json"
    assert "mesos-stream-id" not in subscribe.headers
    (subscribed,) = recorder.of(Subscribed)
    assert subscribed.framework_id == master.framework_id == client.framework_id
    assert subscribed.heartbeat_interval == 15.0
    assert client.stream_id == master.stream_id


async def test_every_call_carries_the_stream_id_and_exact_content_type(
    running: tuple[MesosSchedulerClient, Recorder, FakeMaster],
) -> None:
    client, _, master = running
    await client.revive()
    await client.suppress(["cron"])
    await client.reconcile()
    for call in master.calls[1:]:
        assert call.headers["mesos-stream-id"] == master.stream_id
        assert call.headers["content-type"] == "application/json"
        assert call.body["framework_id"] == {"value": master.framework_id}
    assert [c.type for c in master.calls] == ["SUBSCRIBE", "REVIVE", "SUPPRESS", "RECONCILE"]
    assert master.calls[1].body["revive"] == {"roles": ["cron"]}


async def test_the_double_refuses_what_a_master_refuses(masters: tuple[FakeMaster, FakeMaster]) -> None:
    # The double is only worth testing against if it says no where Mesos says no.
    master = masters[0]
    revive = b'{"type":"REVIVE","framework_id":{"value":"fw"},"revive":{"roles":["cron"]}}'
    url = master.url + "/api/v1/scheduler"
    async with httpx.AsyncClient() as http:
        before = await http.post(url, content=revive, headers={"Content-Type": "application/json"})
        charset = await http.post(
            url, content=revive, headers={"Content-Type": "application/json; charset=utf-8"}
        )
    assert (before.status_code, charset.status_code) == (403, 415)
    recorder = Recorder()
    client = MesosSchedulerClient([master.url], FRAMEWORK, recorder)
    runner = asyncio.create_task(client.run())
    await recorder.wait(Subscribed)
    body = revive.replace(b"fw", (client.framework_id or "").encode())
    async with httpx.AsyncClient() as http:
        missing = await http.post(url, content=body, headers={"Content-Type": "application/json"})
        wrong = await http.post(
            url, content=body, headers={"Content-Type": "application/json", "Mesos-Stream-Id": "x"}
        )
        right = await http.post(
            url,
            content=body,
            headers={"Content-Type": "application/json", "Mesos-Stream-Id": client.stream_id or ""},
        )
        headers = {"Content-Type": "application/json", "Mesos-Stream-Id": client.stream_id or ""}
        camel = await http.post(url, content=body.replace(b"framework_id", b"frameworkId"), headers=headers)
    assert (missing.status_code, wrong.status_code, right.status_code, camel.status_code) == (
        400,
        400,
        202,
        400,
    )
    await client.stop()
    await runner
    assert len(master.rejected) == 5
    assert "camelCase" in master.rejected[-1]
    master.rejected.clear()


async def test_resubscribes_with_the_framework_id_after_a_dropped_connection(
    running: tuple[MesosSchedulerClient, Recorder, FakeMaster], clock: FakeClock
) -> None:
    client, recorder, master = running
    first_stream, framework_id = master.stream_id, client.framework_id
    master.drop_stream()
    (lost,) = await recorder.wait(Disconnected)
    assert "closed" in lost.reason
    await recorder.wait(Subscribed, 2, clock=clock)
    second = master.of_type("SUBSCRIBE")[1].body
    assert second["framework_id"] == {"value": framework_id}
    assert second["subscribe"]["framework_info"]["id"] == {"value": framework_id}
    assert master.stream_id != first_stream and client.stream_id == master.stream_id
    await client.revive()  # the double answers 400 to the old stream id
    assert master.calls[-1].headers["mesos-stream-id"] == master.stream_id


async def test_a_connection_dropped_mid_record_is_detected_and_survived(
    running: tuple[MesosSchedulerClient, Recorder, FakeMaster], clock: FakeClock
) -> None:
    _, recorder, master = running
    master.send_raw(b'120\n{"type":"HEARTB')
    master.drop_stream()
    (lost,) = await recorder.wait(Disconnected)
    assert "inside a record" in lost.reason
    await recorder.wait(Subscribed, 2, clock=clock)
    assert recorder.of(Heartbeat) == []


async def test_records_split_across_chunks_arrive_whole(
    running: tuple[MesosSchedulerClient, Recorder, FakeMaster],
) -> None:
    _, recorder, master = running
    stream = b'20\n{"type":"HEARTBEAT"}20\n{"type":"HEARTBEAT"}'
    for i in range(len(stream)):
        master.send_raw(stream[i : i + 1])
    await recorder.wait(Heartbeat, 2)


async def test_follows_a_scheme_less_307_to_the_leader(
    masters: tuple[FakeMaster, FakeMaster], clock: FakeClock
) -> None:
    follower, leader = masters
    follower.leader = leader
    recorder = Recorder()
    client = MesosSchedulerClient([follower.url], FRAMEWORK, recorder, clock=clock)
    runner = asyncio.create_task(client.run())
    await recorder.wait(Subscribed)
    assert client.master == leader.url and follower.calls == [] and leader.subscribed
    # Leader change: the old leader drops the stream and redirects to the new one, which knows the framework.
    follower.leader, leader.leader = None, follower
    follower.framework_id = client.framework_id
    leader.drop_stream()
    await recorder.wait(Subscribed, 2, clock=clock)
    assert client.master == follower.url
    assert follower.of_type("SUBSCRIBE")[0].body["framework_id"] == {"value": client.framework_id}
    await client.revive()
    assert follower.of_type("REVIVE")
    await client.stop()
    await runner


async def test_no_leader_means_try_the_next_master(
    masters: tuple[FakeMaster, FakeMaster], clock: FakeClock
) -> None:
    down, up = masters
    down.no_leader = True
    recorder = Recorder()
    client = MesosSchedulerClient([down.url, up.url], FRAMEWORK, recorder, clock=clock)
    runner = asyncio.create_task(client.run())
    await recorder.wait(Subscribed, clock=clock)
    assert client.master == up.url
    await client.stop()
    await runner


async def test_heartbeats_keep_the_subscription_and_silence_ends_it(
    running: tuple[MesosSchedulerClient, Recorder, FakeMaster], clock: FakeClock
) -> None:
    client, recorder, master = running
    for n in range(1, 9):  # two minutes of heartbeats every 15 s: nothing happens
        clock.advance(15)
        master.heartbeat()
        await recorder.wait(Heartbeat, n)
    assert recorder.of(Disconnected) == [] and len(master.of_type("SUBSCRIBE")) == 1
    clock.advance(74)  # silence just short of five intervals
    await asyncio.sleep(0.05)
    assert recorder.of(Disconnected) == []
    clock.advance(1.5)
    (lost,) = await recorder.wait(Disconnected)
    assert "no heartbeat for 75s" in lost.reason
    await recorder.wait(Subscribed, 2, clock=clock)
    assert master.of_type("SUBSCRIBE")[1].body["framework_id"] == {"value": client.framework_id}


async def test_offer_accept_launch_update_acknowledge(
    running: tuple[MesosSchedulerClient, Recorder, FakeMaster],
) -> None:
    client, recorder, master = running

    async def acknowledge(update: Update) -> None:
        if update.status.uuid:
            await client.acknowledge(update.status)

    recorder.on_update = acknowledge
    offer_id = master.offer("S1", hostname="agent1", attributes={"rack": "r1"})
    (offers,) = await recorder.wait(Offers)
    (offer,) = offers.offers
    assert (offer.id, offer.agent_id, offer.hostname) == (offer_id, "S1", "agent1")
    assert offer.scalars == {"cpus": 4.0, "mem": 4096.0, "disk": 10000.0}
    assert offer.attributes[0].text == "r1"
    await client.accept([offer.id], [task("ct:1:0:backup:")], refuse=timedelta(seconds=30))
    (accept,) = master.of_type("ACCEPT")
    assert accept.body["accept"]["filters"] == {"refuse_seconds": 30.0}
    running_uuid = master.update("ct:1:0:backup:", "TASK_RUNNING")
    finished_uuid = master.update("ct:1:0:backup:", "TASK_FINISHED", message="exit 0")
    updates = await recorder.wait(Update, 2)
    assert [u.status.state for u in updates] == ["TASK_RUNNING", "TASK_FINISHED"]
    assert updates[1].status.agent_id == "S1" and updates[1].status.message == "exit 0"
    await master.wait_for(lambda: len(master.acked) == 2)
    assert master.acked == [running_uuid, finished_uuid]
    # The same executor receives the next run: identical ExecutorInfo, a new task id (the ledger checks both).
    second = master.offer("S1", executor_ids=("horae.backup.5f2a9c",))
    (_, offers2) = await recorder.wait(Offers, 2)
    assert offers2.offers[0].executor_ids == ("horae.backup.5f2a9c",)
    await client.accept([second], [task("ct:2:0:backup:")])


async def test_duplicate_and_out_of_order_updates_are_delivered_and_acknowledged(
    running: tuple[MesosSchedulerClient, Recorder, FakeMaster],
) -> None:
    client, recorder, master = running
    recorder.on_update = lambda u: client.acknowledge(u.status)
    offer_id = master.offer()
    await recorder.wait(Offers)
    await client.accept([offer_id], [task("ct:1:0:backup:")])
    finished = master.update("ct:1:0:backup:", "TASK_FINISHED")
    master.update("ct:1:0:backup:", "TASK_RUNNING")  # late, after the terminal one
    master.update("ct:1:0:backup:", "TASK_FINISHED", resend=finished)  # the agent retries the same update
    updates = await recorder.wait(Update, 3)
    assert [u.status.state for u in updates] == ["TASK_FINISHED", "TASK_RUNNING", "TASK_FINISHED"]
    assert updates[0].status.uuid == updates[2].status.uuid
    await master.wait_for(lambda: len(master.acked) == 3)  # every delivery acknowledged, explicitly


async def test_reconciliation_explicit_and_implicit_is_never_acknowledged(
    running: tuple[MesosSchedulerClient, Recorder, FakeMaster],
) -> None:
    client, recorder, master = running
    offer_id = master.offer()
    await recorder.wait(Offers)
    await client.accept([offer_id], [task("ct:1:0:backup:")])
    master.update("ct:1:0:backup:", "TASK_RUNNING")
    (running_update,) = await recorder.wait(Update)
    await client.acknowledge(running_update.status)
    await client.reconcile([("ct:1:0:backup:", "S1"), ("ct:9:0:gone:", "S2")])
    _, known, unknown = await recorder.wait(Update, 3)
    assert (known.status.state, known.status.reason, known.status.uuid) == (
        "TASK_RUNNING",
        "REASON_RECONCILIATION",
        "",
    )
    assert (unknown.status.task_id, unknown.status.state) == ("ct:9:0:gone:", "TASK_GONE")
    with pytest.raises(ValueError, match="never acknowledged"):
        await client.acknowledge(unknown.status)
    await client.reconcile()
    implicit = (await recorder.wait(Update, 4))[3]
    assert (implicit.status.task_id, implicit.status.source) == ("ct:1:0:backup:", "SOURCE_MASTER")
    assert master.of_type("RECONCILE")[1].body["reconcile"] == {}


async def test_decline_kill_shutdown_rescind_failure(
    running: tuple[MesosSchedulerClient, Recorder, FakeMaster],
) -> None:
    client, recorder, master = running
    first, second = master.offer("S1"), master.offer("S2")
    await recorder.wait(Offers, 2)
    await client.decline([first], refuse=timedelta(days=400))  # capped at Mesos's one-year maximum
    assert master.of_type("DECLINE")[0].body["decline"]["filters"] == {"refuse_seconds": 31536000.0}
    master.rescind(second)
    assert (await recorder.wait(Rescind))[0].offer_id == second
    await client.kill("ct:1:0:backup:", "S1", grace=timedelta(seconds=5))
    assert master.of_type("KILL")[0].body["kill"]["kill_policy"] == {
        "grace_period": {"nanoseconds": 5000000000}
    }
    await client.shutdown("horae.backup.5f2a9c", "S1")
    master.failure("S1", "horae.backup.5f2a9c", 137)
    (failure,) = await recorder.wait(Failure)
    assert (failure.agent_id, failure.executor_id, failure.status) == ("S1", "horae.backup.5f2a9c", 137)


async def test_error_ends_the_subscription(masters: tuple[FakeMaster, FakeMaster]) -> None:
    master = masters[0]
    recorder = Recorder()
    client = MesosSchedulerClient([master.url], FRAMEWORK, recorder)
    runner = asyncio.create_task(client.run())
    await recorder.wait(Subscribed)
    master.error("Framework failed over")
    with pytest.raises(SchedulerError, match="failed over"):
        await runner
    assert len(master.of_type("SUBSCRIBE")) == 1  # no blind re-subscription


async def test_teardown_removes_the_framework_and_stops(masters: tuple[FakeMaster, FakeMaster]) -> None:
    master = masters[0]
    recorder = Recorder()
    client = MesosSchedulerClient([master.url], FRAMEWORK, recorder)
    runner = asyncio.create_task(client.run())
    await recorder.wait(Subscribed)
    await client.teardown()
    await runner
    assert master.of_type("TEARDOWN") and master.framework_id is None


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("//m2.example:5050/api/v1/scheduler", "http://m2.example:5050"),
        ("http://m3:5050/api/v1/scheduler", "http://m3:5050"),
        ("m4:5050", "http://m4:5050"),
    ],
)
def test_redirect_targets(location: str, expected: str) -> None:
    assert master_base(location, "http://m1:5050") == expected
    assert master_base("//m2:5050/x", "https://m1:5050") == "https://m2:5050"


def test_uuid_of_an_ack_is_echoed_verbatim() -> None:
    from horae.mesos._calls import acknowledge
    from horae.mesos._events import TaskStatus

    token = base64.b64encode(bytes(range(16))).decode()
    call = acknowledge("fw", TaskStatus("t", "TASK_RUNNING", agent_id="S1", uuid=token))
    assert call["acknowledge"] == {"agent_id": {"value": "S1"}, "task_id": {"value": "t"}, "uuid": token}


def test_public_api_is_pinned() -> None:
    import horae.mesos

    public = {
        n
        for n in dir(horae.mesos)
        if not n.startswith("_") and not isinstance(getattr(horae.mesos, n), types.ModuleType)
    }
    assert set(horae.mesos.__all__) == public
