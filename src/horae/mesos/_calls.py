"""Scheduler API calls as the JSON bodies Mesos reads: proto field names (snake_case) only, enums by name,
bytes as standard base64. Pure functions; `MesosSchedulerClient` sends what they build."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from horae.mesos._events import TaskStatus

Json = dict[str, Any]

ONE_WEEK = timedelta(weeks=1)
MAX_REFUSE = timedelta(days=365)  # Mesos caps refuse_seconds at 31536000
CAPABILITIES = ("MULTI_ROLE", "PARTITION_AWARE", "TASK_KILLING_STATE")


@dataclass(frozen=True, slots=True)
class FrameworkConfig:
    """The FrameworkInfo horae subscribes with. `checkpoint` is always true: executors are long-lived and
    must survive an agent restart. A `failover_timeout` of zero would kill every task on a disconnect."""

    user: str = "root"
    name: str = "horae"
    roles: tuple[str, ...] = ("*",)
    principal: str = ""
    hostname: str = ""
    webui_url: str = ""
    failover_timeout: timedelta = ONE_WEEK
    capabilities: tuple[str, ...] = CAPABILITIES

    def __post_init__(self) -> None:
        if not self.user or not self.name:
            raise ValueError("a framework needs a user and a name")
        if not self.roles:
            raise ValueError("a framework needs at least one role")
        if self.failover_timeout <= timedelta(0):
            raise ValueError(
                "failover_timeout must be positive: zero kills every task when horae disconnects"
            )

    def framework_info(self, framework_id: str | None) -> Json:
        info: Json = {
            "user": self.user,
            "name": self.name,
            "roles": list(self.roles),
            "capabilities": [{"type": c} for c in self.capabilities],
            "failover_timeout": self.failover_timeout.total_seconds(),
            "checkpoint": True,
        }
        if framework_id:
            info["id"] = {"value": framework_id}
        for key in ("principal", "hostname", "webui_url"):
            if getattr(self, key):
                info[key] = getattr(self, key)
        return info


def _id(value: str) -> Json:
    return {"value": value}


def _filters(refuse: timedelta | None) -> Json:
    if refuse is None:
        return {}
    seconds = min(max(refuse.total_seconds(), 0.0), MAX_REFUSE.total_seconds())
    return {"filters": {"refuse_seconds": seconds}}


def subscribe(
    config: FrameworkConfig, framework_id: str | None, suppressed_roles: Sequence[str] = ()
) -> Json:
    """First subscription without an id; every later one with the stored id, in both places Mesos checks."""
    call: Json = {"type": "SUBSCRIBE", "subscribe": {"framework_info": config.framework_info(framework_id)}}
    if framework_id:
        call["framework_id"] = _id(framework_id)
    if suppressed_roles:
        call["subscribe"]["suppressed_roles"] = list(suppressed_roles)
    return call


def accept(
    framework_id: str, offer_ids: Sequence[str], tasks: Sequence[Mapping[str, Any]], refuse: timedelta | None
) -> Json:
    """ACCEPT offers (all of one agent) with one LAUNCH of `tasks`; unused resources are declined with `refuse`."""
    operations = [{"type": "LAUNCH", "launch": {"task_infos": [dict(t) for t in tasks]}}] if tasks else []
    body: Json = {"offer_ids": [_id(o) for o in offer_ids], "operations": operations, **_filters(refuse)}
    return {"type": "ACCEPT", "framework_id": _id(framework_id), "accept": body}


def decline(framework_id: str, offer_ids: Sequence[str], refuse: timedelta | None) -> Json:
    body: Json = {"offer_ids": [_id(o) for o in offer_ids], **_filters(refuse)}
    return {"type": "DECLINE", "framework_id": _id(framework_id), "decline": body}


def revive(framework_id: str, roles: Sequence[str]) -> Json:
    return {"type": "REVIVE", "framework_id": _id(framework_id), "revive": {"roles": list(roles)}}


def suppress(framework_id: str, roles: Sequence[str]) -> Json:
    return {"type": "SUPPRESS", "framework_id": _id(framework_id), "suppress": {"roles": list(roles)}}


def kill(framework_id: str, task_id: str, agent_id: str, grace: timedelta | None = None) -> Json:
    body: Json = {"task_id": _id(task_id)}
    if agent_id:
        body["agent_id"] = _id(agent_id)
    if grace is not None:
        body["kill_policy"] = {"grace_period": {"nanoseconds": int(grace.total_seconds() * 1e9)}}
    return {"type": "KILL", "framework_id": _id(framework_id), "kill": body}


def acknowledge(framework_id: str, status: TaskStatus) -> Json:
    """Echo the update's agent, task and uuid. Only reliable updates (those with a uuid) are acknowledged."""
    if not status.uuid:
        raise ValueError(
            f"the update of {status.task_id} ({status.state}) has no uuid: it is never acknowledged"
        )
    if len(base64.b64decode(status.uuid)) != 16:
        raise ValueError(f"the update of {status.task_id} has a uuid that is not 16 bytes")
    body = {"agent_id": _id(status.agent_id), "task_id": _id(status.task_id), "uuid": status.uuid}
    return {"type": "ACKNOWLEDGE", "framework_id": _id(framework_id), "acknowledge": body}


def reconcile(framework_id: str, tasks: Sequence[tuple[str, str]]) -> Json:
    """Explicit for the given `(task_id, agent_id)` pairs; implicit (every task Mesos knows) when empty."""
    body: Json = {}
    if tasks:
        body["tasks"] = [{"task_id": _id(t), **({"agent_id": _id(a)} if a else {})} for t, a in tasks]
    return {"type": "RECONCILE", "framework_id": _id(framework_id), "reconcile": body}


def shutdown(framework_id: str, executor_id: str, agent_id: str) -> Json:
    body = {"executor_id": _id(executor_id), "agent_id": _id(agent_id)}
    return {"type": "SHUTDOWN", "framework_id": _id(framework_id), "shutdown": body}


def teardown(framework_id: str) -> Json:
    return {"type": "TEARDOWN", "framework_id": _id(framework_id)}


def scalar(name: str, value: float) -> Json:
    return {"name": name, "type": "SCALAR", "scalar": {"value": value}}
