"""A TEST DOUBLE of a Mesos master: a loopback ASGI app (served by uvicorn on 127.0.0.1) that speaks the
v1 scheduler HTTP API as the reference describes it, so the real client runs against real HTTP.

It is not Mesos. What it does faithfully: exact `Content-Type` (415 otherwise), SUBSCRIBE answered with a
chunked RecordIO stream that starts with SUBSCRIBED and carries a fresh `Mesos-Stream-Id`, 400 for a
missing or wrong stream id or an invalid call, 403 before SUBSCRIBED, 307 with a protocol-relative
`Location` when it is not the leader, 503 with no leader, one subscription per framework (a new one
closes the old stream), offers rescinded on re-subscription, reconciliation answers without uuid
(TASK_GONE for unknown tasks, as for a PARTITION_AWARE framework). Every call it receives is validated
against the official v1 protos (`tests.mesos.protos`) and the stateful rules of `CallLedger`; every
event it sends is validated too. Heartbeats, offers, updates and faults are sent when a test says so.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from horae.mesos._recordio import encode
from tests.mesos.loopback import Loopback, wait_until
from tests.mesos.protos import CallLedger, InvalidMessage, validate

TERMINAL = {
    "TASK_FINISHED",
    "TASK_FAILED",
    "TASK_KILLED",
    "TASK_ERROR",
    "TASK_LOST",
    "TASK_DROPPED",
    "TASK_GONE",
    "TASK_GONE_BY_OPERATOR",
}
_END = b""  # queued to end a stream cleanly


@dataclass
class ReceivedCall:
    body: dict[str, Any]
    headers: Mapping[str, str]

    @property
    def type(self) -> str:
        return str(self.body.get("type", ""))


@dataclass
class _Stream:
    stream_id: str
    queue: asyncio.Queue[bytes] = field(default_factory=asyncio.Queue)


class FakeMaster:
    """One test master. `leader` names where to redirect (another FakeMaster) when this one is not leading."""

    _ids = itertools.count(1)

    def __init__(self, name: str = "m1", *, heartbeat_interval: float = 15.0) -> None:
        self.name = name
        self.heartbeat_interval = heartbeat_interval
        self.leader: FakeMaster | None = None  # None: this master leads; else 307 to it
        self.no_leader = False  # answer 503 "No leader elected"
        self.credentials: tuple[str, str] | None = None  # when set, 401 without this HTTP basic auth
        self.calls: list[ReceivedCall] = []  # every call accepted (valid), in order
        self.rejected: list[str] = []  # every call refused, with why; tests assert it stays empty
        self.ledger = CallLedger()
        self.framework_id: str | None = None
        self.partition_aware = True
        self.tasks: dict[str, tuple[str, str]] = {}  # task id → (agent id, latest state)
        self.sent_uuids: dict[str, str] = {}  # uuid → task id, for updates that need an ACK
        self.acked: list[str] = []
        self.suppressed = False  # after SUPPRESS, until REVIVE or a new subscription
        self.on_call: Callable[[dict[str, Any]], None] | None = None  # sees every accepted call
        self._stream: _Stream | None = None
        self._changed = asyncio.Event()
        self.port = 0
        self._http: Loopback | None = None
        self.app = Starlette(
            routes=[
                Route("/api/v1/scheduler", self._endpoint, methods=["POST"]),
                Route("/master/api/v1/scheduler", self._endpoint, methods=["POST"]),
            ]
        )

    # --- serving ------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._http = Loopback(self.app)
        await self._http.start()
        self.port = self._http.port

    async def stop(self) -> None:
        self.drop_stream()
        if self._http is not None:
            await self._http.stop()

    # --- the API ------------------------------------------------------------------------------------

    async def _endpoint(self, request: Request) -> Response:
        if self.no_leader:
            return PlainTextResponse("No leader elected", status_code=503)
        if self.leader is not None:
            location = f"//127.0.0.1:{self.leader.port}/api/v1/scheduler"
            return Response(status_code=307, headers={"Location": location})
        if self.credentials is not None:
            expected = "Basic " + base64.b64encode(":".join(self.credentials).encode()).decode()
            if request.headers.get("authorization") != expected:
                return self._refuse(401, "authentication required")
        if request.headers.get("content-type") != "application/json":
            return self._refuse(
                415, f"Content-Type {request.headers.get('content-type')!r} is not application/json"
            )
        try:
            body = json.loads(await request.body())
        except ValueError as e:
            return self._refuse(400, f"malformed JSON: {e}")
        stream_id = request.headers.get("mesos-stream-id")
        if body.get("type") == "SUBSCRIBE":
            if stream_id is not None:
                return self._refuse(400, "SUBSCRIBE must not carry Mesos-Stream-Id")
            return self._subscribe(body, request)
        if self._stream is None or self.framework_id is None:
            return self._refuse(403, "Framework is not subscribed")
        if stream_id != self._stream.stream_id:
            return self._refuse(400, f"Mesos-Stream-Id {stream_id!r} is not the subscription's")
        try:
            self.ledger.check(body)
            if body["type"] == "ACKNOWLEDGE":
                self._check_ack(body["acknowledge"])
        except InvalidMessage as e:
            return self._refuse(400, str(e))
        if body["framework_id"]["value"] != self.framework_id:
            return self._refuse(400, "unknown framework id")
        self._record(body, request)
        self._react(body)
        if self.on_call is not None:
            self.on_call(body)
        return Response(status_code=202)

    def _refuse(self, status: int, why: str) -> Response:
        self.rejected.append(f"{status} {why}")
        self._changed.set()
        return PlainTextResponse(why, status_code=status)

    def _record(self, body: dict[str, Any], request: Request) -> None:
        self.calls.append(ReceivedCall(body, dict(request.headers)))
        self._changed.set()

    def _subscribe(self, body: dict[str, Any], request: Request) -> Response:
        try:
            validate("scheduler.Call", body)
        except InvalidMessage as e:
            return self._refuse(400, str(e))
        requested = body.get("framework_id", {}).get("value")
        if requested is not None and self.framework_id is not None and requested != self.framework_id:
            return self._refuse(400, f"unknown framework id {requested}")
        self.framework_id = requested or self.framework_id or f"fw-{next(self._ids)}"
        capabilities = {c["type"] for c in body["subscribe"]["framework_info"].get("capabilities", [])}
        self.partition_aware = "PARTITION_AWARE" in capabilities
        self._record(body, request)
        self.drop_stream()  # one subscription per framework: the old stream is closed
        self.ledger.offers.clear()  # outstanding offers are rescinded on re-subscription
        self.suppressed = bool(body["subscribe"].get("suppressed_roles"))
        stream = _Stream(str(uuid.uuid4()))
        self._stream = stream
        subscribed = {
            "type": "SUBSCRIBED",
            "subscribed": {
                "framework_id": {"value": self.framework_id},
                "heartbeat_interval_seconds": self.heartbeat_interval,
                "master_info": {
                    "id": self.name,
                    "ip": 16777343,
                    "port": self.port,
                    "hostname": "127.0.0.1",
                    "address": {"hostname": "127.0.0.1", "ip": "127.0.0.1", "port": self.port},
                },
            },
        }
        self._push_event(subscribed)
        return StreamingResponse(
            self._events(stream),
            media_type="application/json",
            headers={"Mesos-Stream-Id": stream.stream_id},
        )

    async def _events(self, stream: _Stream) -> AsyncIterator[bytes]:
        try:
            while True:
                chunk = await stream.queue.get()
                if chunk == _END:
                    return
                yield chunk
        finally:
            if self._stream is stream:
                self._stream = None
                self._changed.set()

    # --- what the master does in reaction to calls -------------------------------------------------

    def _check_ack(self, ack: Mapping[str, Any]) -> None:
        task_id = self.sent_uuids.get(ack["uuid"])
        if task_id is None:
            raise InvalidMessage(f"ACKNOWLEDGE of uuid {ack['uuid']}, which no update carried")
        if task_id != ack["task_id"]["value"] or self.tasks[task_id][0] != ack["agent_id"]["value"]:
            raise InvalidMessage(f"ACKNOWLEDGE of {ack['uuid']} does not echo its update's task and agent")

    def _react(self, body: dict[str, Any]) -> None:
        kind = body["type"]
        if kind == "ACCEPT":
            for operation in body["accept"].get("operations", []):
                for task in operation.get("launch", {}).get("task_infos", []):
                    self.tasks[task["task_id"]["value"]] = (task["agent_id"]["value"], "TASK_STAGING")
        elif kind == "ACKNOWLEDGE":
            self.acked.append(body["acknowledge"]["uuid"])
        elif kind in ("SUPPRESS", "REVIVE"):
            self.suppressed = kind == "SUPPRESS"
        elif kind == "RECONCILE":
            self._reconcile(body["reconcile"].get("tasks", []))
        elif kind == "TEARDOWN":
            self.framework_id = None
            self.drop_stream()

    def _reconcile(self, tasks: list[dict[str, Any]]) -> None:
        if not tasks:  # implicit: the latest state of every task the master knows
            for task_id, (agent_id, state) in self.tasks.items():
                if state not in TERMINAL:
                    self._push_update(
                        task_id, agent_id, state, reliable=False, reason="REASON_RECONCILIATION"
                    )
            return
        for task in tasks:
            task_id = task["task_id"]["value"]
            agent_id, state = self.tasks.get(task_id, (task.get("agent_id", {}).get("value", ""), ""))
            if not state:
                state = "TASK_GONE" if self.partition_aware else "TASK_LOST"
            self._push_update(task_id, agent_id, state, reliable=False, reason="REASON_RECONCILIATION")

    # --- what tests make the master send -----------------------------------------------------------

    @property
    def subscribed(self) -> bool:
        return self._stream is not None

    @property
    def stream_id(self) -> str | None:
        return self._stream.stream_id if self._stream else None

    def _push_event(self, event: dict[str, Any]) -> None:
        validate("scheduler.Event", event)  # the double sends only what a master could
        self.send_raw(encode(json.dumps(event).encode()))

    def send_raw(self, data: bytes) -> None:
        """Put bytes on the event stream as one HTTP chunk (fault injection: split or cut records)."""
        assert self._stream is not None, "no subscription"
        if data:
            self._stream.queue.put_nowait(data)

    def drop_stream(self) -> None:
        """End the current event stream (the TCP connection stays healthy; the client sees EOF)."""
        if self._stream is not None:
            self._stream.queue.put_nowait(_END)
            self._stream = None
            self._changed.set()

    def heartbeat(self) -> None:
        self._push_event({"type": "HEARTBEAT"})

    def error(self, message: str) -> None:
        self._push_event({"type": "ERROR", "error": {"message": message}})

    def failure(self, agent_id: str, executor_id: str = "", status: int | None = None) -> None:
        body: dict[str, Any] = {"agent_id": {"value": agent_id}}
        if executor_id:
            body["executor_id"] = {"value": executor_id}
        if status is not None:
            body["status"] = status
        self._push_event({"type": "FAILURE", "failure": body})

    def offer(
        self,
        agent_id: str = "S1",
        *,
        hostname: str = "agent1",
        cpus: float = 4.0,
        mem: float = 4096.0,
        disk: float = 10000.0,
        attributes: Mapping[str, str] | None = None,
        executor_ids: tuple[str, ...] = (),
    ) -> str:
        assert self.framework_id is not None
        offer_id = f"O{next(self._ids)}"
        self.ledger.offered(offer_id, agent_id)
        resources = [
            {"name": n, "type": "SCALAR", "scalar": {"value": v}, "role": "*"}
            for n, v in (("cpus", cpus), ("mem", mem), ("disk", disk))
        ]
        offer = {
            "id": {"value": offer_id},
            "framework_id": {"value": self.framework_id},
            "agent_id": {"value": agent_id},
            "hostname": hostname,
            "resources": resources,
            "attributes": [
                {"name": k, "type": "TEXT", "text": {"value": v}} for k, v in (attributes or {}).items()
            ],
            "executor_ids": [{"value": e} for e in executor_ids],
        }
        self._push_event({"type": "OFFERS", "offers": {"offers": [offer]}})
        return offer_id

    def rescind(self, offer_id: str) -> None:
        self.ledger.offers.pop(offer_id, None)
        self._push_event({"type": "RESCIND", "rescind": {"offer_id": {"value": offer_id}}})

    def update(
        self,
        task_id: str,
        state: str,
        *,
        message: str = "",
        reason: str = "",
        resend: str = "",
        data: bytes = b"",
    ) -> str:
        """A reliable update from the agent (with a uuid, to be acknowledged); `resend` repeats an earlier
        update's uuid, as an agent retrying an unacknowledged update does. Returns the uuid."""
        agent_id = self.tasks[task_id][0]
        return self._push_update(
            task_id, agent_id, state, reliable=True, message=message, reason=reason, resend=resend, data=data
        )

    def _push_update(
        self,
        task_id: str,
        agent_id: str,
        state: str,
        *,
        reliable: bool,
        message: str = "",
        reason: str = "",
        resend: str = "",
        data: bytes = b"",
    ) -> str:
        status: dict[str, Any] = {
            "task_id": {"value": task_id},
            "state": state,
            "source": "SOURCE_EXECUTOR" if reliable else "SOURCE_MASTER",
            "timestamp": 1724382123.42,
        }
        if agent_id:
            status["agent_id"] = {"value": agent_id}
        if message:
            status["message"] = message
        if reason:
            status["reason"] = reason
        if data:
            status["data"] = base64.b64encode(data).decode()
        token = ""
        if reliable:
            token = resend or base64.b64encode(uuid.uuid4().bytes).decode()
            status["uuid"] = token
            self.sent_uuids[token] = task_id
        if task_id in self.tasks:
            self.tasks[task_id] = (agent_id, state)
        self._push_event({"type": "UPDATE", "update": {"status": status}})
        return token

    # --- waiting ------------------------------------------------------------------------------------

    async def wait_for(self, predicate: Any, within: float = 5.0) -> None:
        """Until `predicate()` holds (re-checked whenever a call arrives or a stream opens or closes)."""
        await wait_until(self._changed, predicate, within)

    def of_type(self, kind: str) -> list[ReceivedCall]:
        return [c for c in self.calls if c.type == kind]
