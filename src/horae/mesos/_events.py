"""Scheduler API events as typed values, parsed from the JSON records of the SUBSCRIBE stream.

Only what horae acts on is lifted into fields; every value keeps its `raw` JSON for the rest.
Unknown event types become `UnknownEvent` (Mesos may add types; they are logged and ignored).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

Json = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Attribute:
    """An agent attribute: `kind` is TEXT, SCALAR, SET or RANGES."""

    name: str
    kind: str
    text: str = ""
    scalar: float | None = None
    items: tuple[str, ...] = ()
    ranges: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Offer:
    id: str
    agent_id: str
    hostname: str
    scalars: Mapping[str, float]  # summed SCALAR resources by name: cpus, mem, disk, gpus …
    attributes: tuple[Attribute, ...] = ()
    executor_ids: tuple[str, ...] = ()  # this framework's executors already running on the agent
    raw: Json = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class TaskStatus:
    task_id: str
    state: str  # TASK_RUNNING, TASK_FINISHED … (the proto enum name)
    agent_id: str = ""
    executor_id: str = ""
    source: str = ""
    reason: str = ""
    message: str = ""
    uuid: str = ""  # base64 of 16 bytes on reliable updates, which must be acknowledged; "" otherwise
    data: bytes = b""
    timestamp: float | None = None
    raw: Json = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Subscribed:
    framework_id: str
    heartbeat_interval: float
    master: str  # the leading master's hostname:port as it reports itself


@dataclass(frozen=True, slots=True)
class Offers:
    offers: tuple[Offer, ...]


@dataclass(frozen=True, slots=True)
class Rescind:
    offer_id: str


@dataclass(frozen=True, slots=True)
class Update:
    status: TaskStatus


@dataclass(frozen=True, slots=True)
class Message:
    agent_id: str
    executor_id: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Failure:
    """An executor ended (`executor_id` and its wait `status` set), or the agent was removed (only `agent_id`)."""

    agent_id: str
    executor_id: str = ""
    status: int | None = None


@dataclass(frozen=True, slots=True)
class Error:
    message: str


@dataclass(frozen=True, slots=True)
class Heartbeat:
    pass


@dataclass(frozen=True, slots=True)
class UnknownEvent:
    type: str
    raw: Json


@dataclass(frozen=True, slots=True)
class Disconnected:
    """Not a Mesos event: the client lost its subscription and is re-subscribing. Offers are void."""

    reason: str


SchedulerEvent = (
    Subscribed
    | Offers
    | Rescind
    | Update
    | Message
    | Failure
    | Error
    | Heartbeat
    | UnknownEvent
    | Disconnected
)


def _value(obj: Json | None) -> str:
    return str(obj["value"]) if obj else ""


def _bytes(text: str | None) -> bytes:
    return base64.b64decode(text) if text else b""


def parse_attribute(raw: Json) -> Attribute:
    kind = raw.get("type", "TEXT")
    name = raw["name"]
    if kind == "SCALAR":
        return Attribute(name, kind, scalar=float(raw["scalar"]["value"]))
    if kind == "SET":
        return Attribute(name, kind, items=tuple(raw.get("set", {}).get("item", [])))
    if kind == "RANGES":
        spans = tuple((int(r["begin"]), int(r["end"])) for r in raw.get("ranges", {}).get("range", []))
        return Attribute(name, kind, ranges=spans)
    return Attribute(name, "TEXT", text=raw.get("text", {}).get("value", ""))


def parse_offer(raw: Json) -> Offer:
    scalars: dict[str, float] = {}
    for resource in raw.get("resources", []):
        if resource.get("type") == "SCALAR":
            scalars[resource["name"]] = scalars.get(resource["name"], 0.0) + float(
                resource["scalar"]["value"]
            )
    return Offer(
        id=_value(raw["id"]),
        agent_id=_value(raw["agent_id"]),
        hostname=raw.get("hostname", ""),
        scalars=scalars,
        attributes=tuple(parse_attribute(a) for a in raw.get("attributes", [])),
        executor_ids=tuple(_value(e) for e in raw.get("executor_ids", [])),
        raw=raw,
    )


def parse_status(raw: Json) -> TaskStatus:
    return TaskStatus(
        task_id=_value(raw["task_id"]),
        state=raw["state"],
        agent_id=_value(raw.get("agent_id")),
        executor_id=_value(raw.get("executor_id")),
        source=raw.get("source", ""),
        reason=raw.get("reason", ""),
        message=raw.get("message", ""),
        uuid=raw.get("uuid", ""),
        data=_bytes(raw.get("data")),
        timestamp=float(raw["timestamp"]) if "timestamp" in raw else None,
        raw=raw,
    )


def parse_event(raw: Json) -> SchedulerEvent:
    kind = raw.get("type", "")
    if kind == "SUBSCRIBED":
        body = raw["subscribed"]
        master = body.get("master_info", {})
        address = master.get("address", {})
        host = address.get("hostname") or address.get("ip") or master.get("hostname", "")
        port = address.get("port") or master.get("port", "")
        return Subscribed(
            framework_id=_value(body["framework_id"]),
            heartbeat_interval=float(body.get("heartbeat_interval_seconds", 15.0)),
            master=f"{host}:{port}" if host else "",
        )
    if kind == "OFFERS":
        return Offers(tuple(parse_offer(o) for o in raw["offers"].get("offers", [])))
    if kind == "RESCIND":
        return Rescind(_value(raw["rescind"]["offer_id"]))
    if kind == "UPDATE":
        return Update(parse_status(raw["update"]["status"]))
    if kind == "MESSAGE":
        body = raw["message"]
        return Message(_value(body["agent_id"]), _value(body["executor_id"]), _bytes(body.get("data")))
    if kind == "FAILURE":
        body = raw["failure"]
        status = body.get("status")
        return Failure(
            _value(body.get("agent_id")),
            _value(body.get("executor_id")),
            int(status) if status is not None else None,
        )
    if kind == "ERROR":
        return Error(raw["error"]["message"])
    if kind == "HEARTBEAT":
        return Heartbeat()
    return UnknownEvent(kind, raw)
