"""The ExecutorInfo of a job and the TaskInfo of one run, as the JSON the ACCEPT call carries.

The ExecutorInfo depends only on the job's container, user and how agents start the executor, never on
a run: Mesos compares it byte for byte (labels aside) with the executor already running under the same
id, so every run of an unchanged job produces the same one. It is always a plain command executor on
the agent, never in the job's image (so images need not carry Python or horae); the job's container
is in its `horae.container` label, so the executor id's hash changes with it. What the executor needs
for a run (argv, environment, the container it runs in) travels in `TaskInfo.data` as JSON, read on
LAUNCH.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from horae.mesos._calls import scalar
from horae.mesos._executor_id import with_executor_id
from horae.model import Launch, container_to_chronos

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ExecutorSpec:
    """How an agent starts horae's executor and what the executor itself is allocated (a fixed cost per
    job per agent while it lives). `uris` are fetched into the sandbox first, e.g. the executor zipapp:
    `command=("python3", "horae.pyz", "executor"), uris=("https://…/horae.pyz",)`."""

    command: tuple[str, ...] = ("horae", "executor")
    uris: tuple[str, ...] = ()
    cpus: float = 0.1
    mem: float = 64.0
    disk: float = 0.0
    shutdown_grace: timedelta = timedelta(seconds=5)

    def __post_init__(self) -> None:
        if not self.command:
            raise ValueError("the executor needs a command")
        if self.cpus <= 0 or self.mem <= 0:
            raise ValueError("the executor needs some cpus and mem")


def _resources(cpus: float, mem: float, disk: float) -> list[Json]:
    resources = [scalar("cpus", cpus), scalar("mem", mem)]
    if disk > 0:
        resources.append(scalar("disk", disk))
    return resources


def _canonical(doc: Any) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def executor_info(launch: Launch, spec: ExecutorSpec) -> Json:
    """The job's ExecutorInfo with its deterministic id (`horae.<job>.<config hash>`)."""
    command: Json = {"shell": False, "value": spec.command[0], "arguments": list(spec.command)}
    if spec.uris:
        command["uris"] = [{"value": u} for u in spec.uris]
    if launch.user:
        command["user"] = launch.user
    info: Json = {
        "type": "CUSTOM",
        "name": f"horae executor of {launch.job}",
        "command": command,
        "resources": _resources(spec.cpus, spec.mem, spec.disk),
        "shutdown_grace_period": {"nanoseconds": int(spec.shutdown_grace.total_seconds() * 1e9)},
    }
    if launch.container is not None:
        info["labels"] = {
            "labels": [
                {"key": "horae.container", "value": _canonical(container_to_chronos(launch.container))}
            ]
        }
    return with_executor_id(launch.job, info)


def task_payload(launch: Launch) -> bytes:
    """What the executor needs to start the run: the final argv and environment, and for a job with a
    container the job, that container, the run's user and its resources (the container's limits)."""
    body: Json = {
        "run_id": launch.run_id,
        "attempt": launch.attempt,
        "argv": list(launch.argv),
        "environment": [list(pair) for pair in launch.environment],
    }
    if launch.container is not None:
        body |= {
            "job": launch.job,
            "container": container_to_chronos(launch.container),
            "user": launch.user,
            "cpus": launch.cpus,
            "mem": launch.mem,
        }
    return json.dumps(body, separators=(",", ":")).encode()


def task_info(launch: Launch, agent_id: str, executor: Mapping[str, Any]) -> Json:
    """One run as a task on the job's executor; `task_id` is the Chronos task id of the attempt."""
    return {
        "name": f"{launch.job} {launch.task_id}",
        "task_id": {"value": launch.task_id},
        "agent_id": {"value": agent_id},
        "executor": dict(executor),
        "resources": _resources(launch.cpus, launch.mem, launch.disk),
        "data": base64.b64encode(task_payload(launch)).decode(),
        "labels": {
            "labels": [
                {"key": "horae.run_id", "value": launch.run_id},
                {"key": "horae.attempt", "value": str(launch.attempt)},
            ]
        },
    }
