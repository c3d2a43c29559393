"""A TEST CLUSTER of doubles: one master double and agent doubles wired together, as Mesos would be.

- offers: while the framework is subscribed and not suppressed, each agent without an outstanding
  offer offers its resources, listing the framework's executors it runs (`Offer.executor_ids`);
- ACCEPT → the task goes to its agent, which starts the executor if it does not run it; KILL and
  SHUTDOWN are passed on;
- status updates from executors reach the framework through the master with a uuid, and are resent
  (same uuid) until the framework acknowledges them, also across its re-subscriptions — what the
  agent's status update manager does.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.mesos.fake_agent import FakeAgent
from tests.mesos.fake_master import FakeMaster

RESEND_AFTER = 0.5


@dataclass
class _Forward:
    task_id: str
    state: str
    message: str
    reason: str
    data: bytes
    uuid: str = ""  # as sent through the master; "" until first sent
    sent_at: float = 0.0


class TestCluster:
    __test__ = False  # not a pytest class

    def __init__(self, master: FakeMaster, agents: Sequence[FakeAgent]) -> None:
        self.master = master
        self.agents = {a.agent_id: a for a in agents}
        self._forwards: list[_Forward] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.Task[None] | None = None
        master.on_call = self._on_call
        for agent in agents:
            agent.on_status = self._on_status

    async def start(self) -> None:
        self._loop = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # --- master → agents -----------------------------------------------------------------------------

    def _on_call(self, body: dict[str, Any]) -> None:
        kind = body["type"]
        framework_id = body["framework_id"]["value"]
        if kind == "ACCEPT":
            for operation in body["accept"]["operations"]:
                for task in operation["launch"]["task_infos"]:
                    agent = self.agents[task["agent_id"]["value"]]
                    self._spawn(agent.launch(framework_id, task))
        elif kind == "KILL":
            kill = body["kill"]
            agent_id = kill.get("agent_id", {}).get("value") or self.master.tasks[kill["task_id"]["value"]][0]
            agent = self.agents[agent_id]
            for slot in agent.executors.values():
                grace = kill.get("kill_policy", {}).get("grace_period", {}).get("nanoseconds")
                agent_tasks = {u["task_id"]["value"] for u in slot.updates}
                if kill["task_id"]["value"] in agent_tasks:
                    agent.kill(slot.executor_id, kill["task_id"]["value"], grace)
        elif kind == "SHUTDOWN":
            body_ = body["shutdown"]
            agent = self.agents[body_["agent_id"]["value"]]
            if body_["executor_id"]["value"] in agent.running():
                agent.shutdown(body_["executor_id"]["value"])

    def _spawn(self, coroutine: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- agents → master ----------------------------------------------------------------------------

    def _on_status(self, agent_id: str, status: dict[str, Any]) -> None:
        data = base64.b64decode(status["data"]) if "data" in status else b""
        forward = _Forward(
            status["task_id"]["value"],
            status["state"],
            status.get("message", ""),
            status.get("reason", ""),
            data,
        )
        self._forwards.append(forward)
        self._flush()

    def _flush(self) -> None:
        """Send what was never sent and resend what is unacknowledged, per task in order."""
        if not self.master.subscribed:
            return
        now = time.monotonic()
        acked = set(self.master.acked)
        self._forwards = [f for f in self._forwards if not (f.uuid and f.uuid in acked)]
        blocked: set[str] = set()
        for forward in self._forwards:
            if forward.task_id in blocked:
                continue  # the agent sends a task's next update only after the previous one was acked
            blocked.add(forward.task_id)
            if forward.uuid and now - forward.sent_at < RESEND_AFTER:
                continue
            forward.uuid = self.master.update(
                forward.task_id,
                forward.state,
                message=forward.message,
                reason=forward.reason,
                data=forward.data,
                resend=forward.uuid,
            )
            forward.sent_at = now

    async def _run(self) -> None:
        while True:
            self._flush()
            master = self.master
            if master.subscribed and not master.suppressed:
                outstanding = {
                    master.ledger.offers[o]
                    for o in master.ledger.offers
                    if o not in master.ledger.used_offers
                }
                for agent in self.agents.values():
                    if agent.agent_id not in outstanding:
                        master.offer(
                            agent.agent_id, hostname=agent.hostname, executor_ids=tuple(agent.running())
                        )
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def two_agent_cluster(agents_dir: Path) -> AsyncIterator[TestCluster]:
    """A master double and two agent doubles (`S1` on `agent1`, `S2` on `agent2`) wired together and
    running; on the way out, checks that neither side received a call the real one would refuse."""
    master = FakeMaster("m1")
    agents = [FakeAgent(f"S{n}", agents_dir, hostname=f"agent{n}") for n in (1, 2)]
    await master.start()
    for agent in agents:
        await agent.start()
    c = TestCluster(master, agents)
    await c.start()
    yield c
    await c.stop()
    for agent in agents:
        await agent.stop()
    await master.stop()
    assert master.rejected == [], "a call the real master would refuse"
    assert all(a.rejected == [] for a in agents), "a call the real agent would refuse"
