"""A TEST DOUBLE of a Mesos agent's executor side: a loopback ASGI app (uvicorn on 127.0.0.1) that starts
the real horae executor as a subprocess, as an agent would, and speaks the v1 executor API to it.

It is not Mesos. What it does faithfully: exact `Content-Type` (415 otherwise), SUBSCRIBE answered with a
chunked RecordIO stream (SUBSCRIBED, then the LAUNCHes queued meanwhile), 403 for a call before
SUBSCRIBE, 503 while "recovering" after a restart, UPDATE → 202 then ACKNOWLEDGED on the stream (the
agent's own acknowledgement, independent of the framework's), duplicate updates (same uuid) dropped,
KILL and SHUTDOWN sent on request, an executor that does not come back within the re-registration
timeout after a restart counted as gone. Every call is validated against the v1 protos (executor.Call
with the semantic rules of `tests.mesos.protos`) and every event it sends against executor.Event.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from horae.mesos._recordio import encode
from tests.mesos.loopback import Loopback, wait_until
from tests.mesos.protos import InvalidMessage, validate

_END = b""
StatusSink = Callable[[str, dict[str, Any]], None]  # (agent id, TaskStatus JSON)


@dataclass
class ExecutorSlot:
    """One executor the agent started: its process, its subscription and what it has not ACKNOWLEDGED."""

    executor_id: str
    framework_id: str
    info: dict[str, Any]
    process: asyncio.subprocess.Process
    sandbox: Path
    queue: asyncio.Queue[bytes] | None = None  # the live subscription's stream
    pending: list[dict[str, Any]] = field(default_factory=list)  # LAUNCHes before SUBSCRIBED
    subscribes: list[dict[str, Any]] = field(default_factory=list)  # every SUBSCRIBE body received
    updates: list[dict[str, Any]] = field(default_factory=list)  # every UPDATE status accepted
    seen_uuids: set[str] = field(default_factory=set)


class FakeAgent:
    def __init__(
        self,
        agent_id: str,
        sandboxes: Path,
        *,
        hostname: str = "",
        on_status: StatusSink | None = None,
        checkpoint: bool = True,
        acknowledge: bool = True,
    ) -> None:
        self.agent_id = agent_id
        self.hostname = hostname or agent_id.lower()
        self.sandboxes = sandboxes
        self.on_status = on_status
        self.checkpoint = checkpoint
        self.acknowledge = acknowledge  # False: withhold ACKNOWLEDGED (the executor must resend)
        self.recovering = False  # answer 503 "Agent has not finished recovery"
        self.executors: dict[str, ExecutorSlot] = {}
        self.started_executors: list[str] = []  # every executor process started, in order
        self.rejected: list[str] = []
        self.port = 0
        self._http: Loopback | None = None
        self._changed = asyncio.Event()
        self.app = Starlette(routes=[Route("/api/v1/executor", self._endpoint, methods=["POST"])])

    # --- serving ----------------------------------------------------------------------------------------

    async def start(self) -> None:
        self._http = Loopback(self.app)
        await self._http.start()
        self.port = self._http.port

    async def stop(self) -> None:
        for slot in self.executors.values():
            self._close_stream(slot)
            with contextlib.suppress(ProcessLookupError):
                slot.process.kill()
            await slot.process.wait()
        if self._http is not None:
            await self._http.stop()

    # --- what the master asks of the agent ----------------------------------------------------------

    async def launch(self, framework_id: str, task: Mapping[str, Any]) -> None:
        """Run the task on its executor, starting the executor first if this agent does not run it."""
        info = task["executor"]
        executor_id = info["executor_id"]["value"]
        slot = self.executors.get(executor_id)
        if slot is None or slot.process.returncode is not None:
            slot = await self._start_executor(framework_id, info)
        event = {"type": "LAUNCH", "launch": {"task": dict(task)}}
        if slot.queue is None:
            slot.pending.append(event)
        else:
            self._push(slot, event)

    def kill(self, executor_id: str, task_id: str, grace_ns: int | None = None) -> None:
        body: dict[str, Any] = {"task_id": {"value": task_id}}
        if grace_ns is not None:
            body["kill_policy"] = {"grace_period": {"nanoseconds": grace_ns}}
        self._push(self.executors[executor_id], {"type": "KILL", "kill": body})

    def shutdown(self, executor_id: str) -> None:
        self._push(self.executors[executor_id], {"type": "SHUTDOWN"})

    def restart(self) -> None:
        """The agent process restarts: every subscription ends and calls get 503 until `recovered()`."""
        self.recovering = True
        for slot in self.executors.values():
            self._close_stream(slot)

    def recovered(self) -> None:
        self.recovering = False
        self._changed.set()

    def running(self) -> list[str]:
        """Executor ids whose process is alive (what `Offer.executor_ids` lists for this agent)."""
        return [e for e, s in self.executors.items() if s.process.returncode is None]

    # --- the executor API ---------------------------------------------------------------------------

    async def _start_executor(self, framework_id: str, info: Mapping[str, Any]) -> ExecutorSlot:
        executor_id = info["executor_id"]["value"]
        sandbox = self.sandboxes / self.agent_id / executor_id
        sandbox.mkdir(parents=True, exist_ok=True)
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "PYTHONPATH": ":".join(p for p in sys.path if p),
            "MESOS_AGENT_ENDPOINT": f"127.0.0.1:{self.port}",
            "MESOS_FRAMEWORK_ID": framework_id,
            "MESOS_EXECUTOR_ID": executor_id,
            "MESOS_SLAVE_ID": self.agent_id,
            "MESOS_DIRECTORY": str(sandbox),
            "MESOS_SANDBOX": str(sandbox),
            "MESOS_CHECKPOINT": "1" if self.checkpoint else "0",
            "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD": "5secs",
        }
        if self.checkpoint:
            env |= {"MESOS_RECOVERY_TIMEOUT": "15mins", "MESOS_SUBSCRIPTION_BACKOFF_MAX": "200ms"}
        command = info["command"]  # CUSTOM executors here are `shell: false`: `arguments` is the argv
        assert command.get("shell") is False, "horae's executor command is not a shell line"
        with (sandbox / "executor.log").open("ab") as log:
            process = await asyncio.create_subprocess_exec(
                command["value"],
                *command.get("arguments", [])[1:],
                env=env,
                cwd=sandbox,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )
        slot = ExecutorSlot(executor_id, framework_id, dict(info), process, sandbox)
        self.executors[executor_id] = slot
        self.started_executors.append(executor_id)
        return slot

    def _refuse(self, status: int, why: str) -> Response:
        self.rejected.append(f"{status} {why}")
        return PlainTextResponse(why, status_code=status)

    async def _endpoint(self, request: Request) -> Response:
        if self.recovering:
            return PlainTextResponse("Agent has not finished recovery", status_code=503)
        if request.headers.get("content-type") != "application/json":
            return self._refuse(415, f"Content-Type {request.headers.get('content-type')!r}")
        if "mesos-stream-id" in request.headers:
            return self._refuse(400, "the executor API has no Mesos-Stream-Id")
        body = json.loads(await request.body())
        try:
            validate("executor.Call", body)
        except InvalidMessage as e:
            return self._refuse(400, str(e))
        slot = self.executors.get(body["executor_id"]["value"])
        if slot is None or body["framework_id"]["value"] != slot.framework_id:
            return self._refuse(400, "Executor cannot be found")
        if body["type"] == "SUBSCRIBE":
            return self._subscribe(slot, body)
        if slot.queue is None:
            return self._refuse(403, "Executor is not subscribed")
        if body["type"] == "UPDATE":
            self._take_update(slot, body["update"])
        return Response(status_code=202)

    def _subscribe(self, slot: ExecutorSlot, body: dict[str, Any]) -> Response:
        slot.subscribes.append(body)
        self._close_stream(slot)
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        slot.queue = queue
        subscribed = {
            "type": "SUBSCRIBED",
            "subscribed": {
                "executor_info": {**slot.info, "framework_id": {"value": slot.framework_id}},
                "framework_info": {
                    "id": {"value": slot.framework_id},
                    "user": "cron",
                    "name": "horae",
                    "checkpoint": self.checkpoint,
                },
                "agent_info": {"hostname": self.hostname, "port": self.port, "id": {"value": self.agent_id}},
                "container_id": {"value": f"c-{slot.executor_id}"},
            },
        }
        self._push(slot, subscribed)
        for update in body["subscribe"].get("unacknowledged_updates", []):
            self._take_update(slot, update)  # resent updates the agent never took
        pending, slot.pending = slot.pending, []
        for event in pending:
            self._push(slot, event)
        self._changed.set()
        return StreamingResponse(self._events(slot, queue), media_type="application/json")

    def _take_update(self, slot: ExecutorSlot, update: Mapping[str, Any]) -> None:
        status = dict(update["status"])
        token = status["uuid"]
        if token not in slot.seen_uuids:
            slot.seen_uuids.add(token)
            slot.updates.append(status)
            if self.on_status is not None:
                self.on_status(self.agent_id, status)
        if self.acknowledge:
            event = {"type": "ACKNOWLEDGED", "acknowledged": {"task_id": status["task_id"], "uuid": token}}
            self._push(slot, event)
        self._changed.set()

    async def _events(self, slot: ExecutorSlot, queue: asyncio.Queue[bytes]) -> AsyncIterator[bytes]:
        try:
            while True:
                chunk = await queue.get()
                if chunk == _END:
                    return
                yield chunk
        finally:
            if slot.queue is queue:
                slot.queue = None

    def _push(self, slot: ExecutorSlot, event: dict[str, Any]) -> None:
        validate("executor.Event", event)
        if slot.queue is None:
            slot.pending.append(event)
            return
        slot.queue.put_nowait(encode(json.dumps(event).encode()))

    def _close_stream(self, slot: ExecutorSlot) -> None:
        if slot.queue is not None:
            slot.queue.put_nowait(_END)
            slot.queue = None

    # --- waiting ------------------------------------------------------------------------------------

    async def wait_for(self, predicate: Callable[[], bool], within: float = 10.0) -> None:
        await wait_until(self._changed, predicate, within)

    def states(self, task_id: str) -> list[str]:
        return [
            u["state"] for s in self.executors.values() for u in s.updates if u["task_id"]["value"] == task_id
        ]

    def status_data(self, task_id: str, state: str) -> dict[str, Any]:
        for slot in self.executors.values():
            for update in slot.updates:
                if update["task_id"]["value"] == task_id and update["state"] == state and "data" in update:
                    data: dict[str, Any] = json.loads(base64.b64decode(update["data"]))
                    return data
        return {}
