"""The oracle every Mesos message horae sends is checked against: the official v1 `.proto` files.

Debian's `golang-github-mesos-mesos-go-dev` ships copies of the Mesos v1 protos (package `mesos`, with
gogoproto options from `golang-github-gogo-protobuf-dev`). They are compiled at test time with
`grpc_tools.protoc` into a descriptor set in a temporary directory (no generated code is committed; the
Go package path `mesos-go` is not a Python module name, so descriptors are loaded into a private pool
instead of importing generated modules), once per test session.

`validate(message_type, json_dict)` then checks a JSON body the way a real master or agent would, and
stricter:
- every key is the proto's snake_case field name (json_format also accepts lowerCamelCase, which Mesos
  silently ignores), enums are names, bytes are standard base64;
- strict `json_format.ParseDict` (unknown fields and enum names rejected) and every required field set;
- the semantic rules of the reference's §6.3 that protos cannot express (stateless ones here; the
  stateful ones — offer ids used once, the task's agent equal to the offer's, ExecutorInfo identical for
  one executor id — in `CallLedger`).
"""

from __future__ import annotations

import base64
import binascii
import functools
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf import (  # type: ignore[import-untyped]  # no stubs are installed
    descriptor_pb2,
    descriptor_pool,
    json_format,
    message_factory,
)
from google.protobuf.descriptor import (  # type: ignore[import-untyped]
    Descriptor,
    FieldDescriptor,
)
from google.protobuf.message import Message  # type: ignore[import-untyped]

MESOS_GO = "github.com/mesos/mesos-go/api/v1/lib"
GOGO = "github.com/gogo/protobuf/gogoproto/gogo.proto"
PROTO_FILES = (f"{MESOS_GO}/scheduler/scheduler.proto", f"{MESOS_GO}/executor/executor.proto")
GO_SOURCE_ROOTS = (os.environ.get("HORAE_MESOS_PROTO_ROOT", ""), "/usr/share/gocode/src")
MAX_REFUSE_SECONDS = 31_536_000.0


class ProtosMissing(Exception):
    """The Debian packages with the v1 protos (or grpcio-tools) are not installed."""


class InvalidMessage(AssertionError):
    """A message a real Mesos would reject, silently misread, or that breaks horae's own policy."""


def proto_root() -> Path:
    for root in GO_SOURCE_ROOTS:
        if root and all((Path(root) / name).is_file() for name in (*PROTO_FILES, GOGO)):
            return Path(root)
    raise ProtosMissing(
        "the Mesos v1 protos are not installed: apt-get install -y golang-github-mesos-mesos-go-dev "
        "golang-github-gogo-protobuf-dev"
    )


@functools.cache
def pool() -> descriptor_pool.DescriptorPool:
    """Compile the protos once per session into a descriptor pool of our own."""
    root = proto_root()
    try:
        import grpc_tools  # type: ignore[import-untyped]
    except ImportError as e:
        raise ProtosMissing("grpcio-tools is not installed (pip install -e '.[test]')") from e
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    with tempfile.TemporaryDirectory(prefix="horae-mesos-protos-") as out:
        descriptor_set = Path(out) / "mesos-v1.pb"
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "grpc_tools.protoc",
                f"-I{root}",
                f"-I{well_known}",
                "--include_imports",
                f"--descriptor_set_out={descriptor_set}",
                *PROTO_FILES,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"protoc failed on the Mesos v1 protos: {done.stderr}")
        files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())
    compiled = descriptor_pool.DescriptorPool()
    for proto in files.file:
        compiled.Add(proto)
    return compiled


def message_class(message_type: str) -> type[Message]:
    """`scheduler.Call`, `executor.Event`, `v1.MasterInfo` or a full name such as `mesos.TaskInfo`."""
    name = message_type.removeprefix("v1.")
    full = name if name.startswith("mesos.") else f"mesos.{name}"
    cls: type[Message] = message_factory.GetMessageClass(pool().FindMessageTypeByName(full))
    return cls


def parse(message_type: str, body: Mapping[str, Any]) -> Message:
    """Key walk, strict parse and required fields; no semantic rules."""
    cls = message_class(message_type)
    _walk_keys(cls.DESCRIPTOR, body, message_type)
    try:
        message = json_format.ParseDict(dict(body), cls(), ignore_unknown_fields=False)
    except json_format.ParseError as e:
        raise InvalidMessage(f"{message_type}: {e}") from e
    missing = message.FindInitializationErrors()
    if missing:
        raise InvalidMessage(f"{message_type}: missing required fields: {', '.join(missing)}")
    return message


def validate(message_type: str, body: Mapping[str, Any]) -> Message:
    """Raise `InvalidMessage` unless `body` is a message Mesos would read exactly as meant."""
    message = parse(message_type, body)
    check = _SEMANTIC.get(message_type.removeprefix("mesos."))
    if check is not None:
        check(body)
    return message


def _walk_keys(descriptor: Descriptor, body: Any, path: str) -> None:
    if not isinstance(body, Mapping):
        raise InvalidMessage(f"{path}: expected a JSON object for {descriptor.full_name}, got {body!r}")
    for key, value in body.items():
        fd = descriptor.fields_by_name.get(key)
        if fd is None:
            camel = {f.camelcase_name: f.name for f in descriptor.fields}
            hint = (
                f" (the proto field is {camel[key]!r}: Mesos ignores camelCase keys)" if key in camel else ""
            )
            raise InvalidMessage(f"{path}.{key}: not a field of {descriptor.full_name}{hint}")
        _walk_value(fd, value, f"{path}.{key}")


def _walk_value(fd: FieldDescriptor, value: Any, path: str) -> None:
    message_type = fd.message_type
    if message_type is not None and message_type.GetOptions().map_entry:
        if not isinstance(value, Mapping):
            raise InvalidMessage(f"{path}: a map is a JSON object")
        value_fd = message_type.fields_by_name["value"]
        for k, v in value.items():
            _walk_single(value_fd, v, f"{path}[{k!r}]")
        return
    if _repeated(fd):
        if not isinstance(value, list):
            raise InvalidMessage(f"{path}: a repeated field is a JSON array")
        for i, item in enumerate(value):
            _walk_single(fd, item, f"{path}[{i}]")
        return
    _walk_single(fd, value, path)


def _repeated(fd: FieldDescriptor) -> bool:
    # protobuf 6.31+ has `is_repeated`; older releases only `label`.
    flag = getattr(fd, "is_repeated", None)
    return bool(flag) if flag is not None else fd.label == FieldDescriptor.LABEL_REPEATED


def _walk_single(fd: FieldDescriptor, value: Any, path: str) -> None:
    if fd.type == FieldDescriptor.TYPE_MESSAGE:
        _walk_keys(fd.message_type, value, path)
    elif fd.type == FieldDescriptor.TYPE_ENUM:
        if not isinstance(value, str):
            raise InvalidMessage(f"{path}: enums are sent by name, got {value!r}")
    elif fd.type == FieldDescriptor.TYPE_BYTES:
        _standard_base64(value, path)


def _standard_base64(value: Any, path: str) -> bytes:
    if not isinstance(value, str):
        raise InvalidMessage(f"{path}: bytes are a base64 string, got {value!r}")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as e:
        raise InvalidMessage(f"{path}: not standard base64: {value!r}") from e


# --- semantic rules (reference §6.3), stateless ---------------------------------------------------------

_CALL_SUBMESSAGE = {
    "SUBSCRIBE": "subscribe",
    "ACCEPT": "accept",
    "DECLINE": "decline",
    "KILL": "kill",
    "SHUTDOWN": "shutdown",
    "ACKNOWLEDGE": "acknowledge",
    "RECONCILE": "reconcile",
    "MESSAGE": "message",
    "REQUEST": "request",
    "REVIVE": "revive",
    "SUPPRESS": "suppress",
}


def _fail(message: str) -> None:
    raise InvalidMessage(message)


def _check_scheduler_call(call: Mapping[str, Any]) -> None:
    kind = str(call.get("type") or "")
    if not kind or kind == "UNKNOWN":
        _fail("scheduler.Call: `type` must be set")
    sub = _CALL_SUBMESSAGE.get(kind)
    if sub is not None and sub not in call:
        _fail(f"scheduler.Call {kind}: the `{sub}` sub-message is required")
    for other in _CALL_SUBMESSAGE.values():
        if other != sub and other in call:
            _fail(f"scheduler.Call {kind}: unexpected `{other}` sub-message")
    if kind == "SUBSCRIBE":
        _check_subscribe(call)
    elif "framework_id" not in call:
        _fail(f"scheduler.Call {kind}: `framework_id` is required on every call but SUBSCRIBE")
    if kind == "ACCEPT":
        _check_accept(call["accept"])
    if kind in ("ACCEPT", "DECLINE"):
        refuse = call[sub or ""].get("filters", {}).get("refuse_seconds")
        if refuse is not None and not 0 <= float(refuse) <= MAX_REFUSE_SECONDS:
            _fail(f"scheduler.Call {kind}: refuse_seconds {refuse} outside [0, {MAX_REFUSE_SECONDS:.0f}]")
    if kind == "DECLINE" and not call["decline"].get("offer_ids"):
        _fail("scheduler.Call DECLINE: no offer_ids")
    # Project policy: REVIVE and SUPPRESS name their roles (an absent list means every role).
    if kind in ("REVIVE", "SUPPRESS") and not call[sub or ""].get("roles"):
        _fail(f"scheduler.Call {kind}: name the roles (`roles`, a list)")
    if kind == "ACKNOWLEDGE":
        raw = _standard_base64(call["acknowledge"]["uuid"], "acknowledge.uuid")
        if len(raw) != 16:
            _fail(f"scheduler.Call ACKNOWLEDGE: uuid must be 16 bytes, got {len(raw)}")
    if kind == "RECONCILE":
        for task in call["reconcile"].get("tasks", []):
            if "agent_id" not in task:
                _fail(
                    "scheduler.Call RECONCILE: give each task's agent_id (else a recovering agent stalls it)"
                )


def _check_subscribe(call: Mapping[str, Any]) -> None:
    info = call["subscribe"]["framework_info"]
    if call.get("framework_id") != info.get("id"):
        _fail("SUBSCRIBE: framework_id must equal framework_info.id (or both be absent)")
    if not info.get("user") or not info.get("name"):
        _fail("SUBSCRIBE: framework_info.user and .name must be non-empty")
    capabilities = {c.get("type") for c in info.get("capabilities", [])}
    if info.get("roles") and "MULTI_ROLE" not in capabilities:
        _fail("SUBSCRIBE: `roles` needs the MULTI_ROLE capability")
    if "role" in info:
        _fail("SUBSCRIBE: use `roles` (with MULTI_ROLE), not the deprecated `role`")
    if not float(info.get("failover_timeout", 0)) > 0:
        _fail("SUBSCRIBE: failover_timeout must be > 0 (0 kills every task when horae disconnects)")
    if info.get("checkpoint") is not True:
        _fail("SUBSCRIBE: checkpoint must be true (executors must survive an agent restart)")
    suppressed = set(call["subscribe"].get("suppressed_roles", []))
    if not suppressed <= set(info.get("roles", [])):
        _fail("SUBSCRIBE: suppressed_roles must be a subset of roles")


def _check_accept(accept: Mapping[str, Any]) -> None:
    offer_ids = [o["value"] for o in accept.get("offer_ids", [])]
    if not offer_ids:
        _fail("ACCEPT: no offer_ids")
    if len(set(offer_ids)) != len(offer_ids):
        _fail(f"ACCEPT: an offer id is listed twice: {offer_ids}")
    task_ids: set[str] = set()
    for operation in accept.get("operations", []):
        if operation.get("type") == "LAUNCH_GROUP":
            _fail("ACCEPT: horae launches with LAUNCH, never LAUNCH_GROUP")
        if operation.get("type") != "LAUNCH":
            continue
        if "id" in operation:
            _fail(
                "ACCEPT: `id` cannot be set on LAUNCH operations (the master turns the tasks into TASK_ERROR)"
            )
        for task in operation.get("launch", {}).get("task_infos", []):
            task_id = task["task_id"]["value"]
            if ("command" in task) == ("executor" in task):
                _fail(f"task {task_id}: exactly one of `command` or `executor`")
            if not task.get("resources"):
                _fail(f"task {task_id}: no resources (TASK_ERROR 'Task uses no resources')")
            if task_id in task_ids:
                _fail(f"ACCEPT: task id {task_id} launched twice")
            task_ids.add(task_id)
            executor = task.get("executor")
            if executor is not None and executor.get("type", "CUSTOM") != "CUSTOM":
                _fail(f"task {task_id}: horae's executor is CUSTOM")
            if executor is not None and "command" not in executor:
                _fail(f"task {task_id}: a CUSTOM executor needs a command")


def _check_executor_call(call: Mapping[str, Any]) -> None:
    kind = str(call.get("type") or "")
    if not kind or kind == "UNKNOWN":
        _fail("executor.Call: `type` must be set")
    if kind == "SUBSCRIBE":
        if "subscribe" not in call:
            _fail("executor.Call SUBSCRIBE: `subscribe` must be present, even if empty")
        for update in call["subscribe"].get("unacknowledged_updates", []):
            _check_executor_update(call, update)
    if kind == "UPDATE":
        _check_executor_update(call, call["update"])
    if kind == "MESSAGE" and "message" not in call:
        _fail("executor.Call MESSAGE: `message` is required")


def _check_executor_update(call: Mapping[str, Any], update: Mapping[str, Any]) -> None:
    status = update["status"]
    raw = _standard_base64(status.get("uuid", ""), "status.uuid")
    if len(raw) != 16:
        _fail(f"executor UPDATE: uuid must be 16 raw bytes, got {len(raw)}")
    parsed = uuid.UUID(bytes=raw)
    if parsed.variant != uuid.RFC_4122 or parsed.version != 4:
        _fail("executor UPDATE: uuid must be an RFC-4122 uuid4")
    if status.get("source") != "SOURCE_EXECUTOR":
        _fail("executor UPDATE: source must be SOURCE_EXECUTOR (the default SOURCE_MASTER is refused)")
    if status.get("state") == "TASK_STAGING":
        _fail("executor UPDATE: an executor must not send TASK_STAGING")
    if "executor_id" in status and status["executor_id"] != call["executor_id"]:
        _fail("executor UPDATE: status.executor_id differs from the call's executor_id")


_SEMANTIC = {"scheduler.Call": _check_scheduler_call, "executor.Call": _check_executor_call}


# --- semantic rules that need memory across calls ------------------------------------------------------


@dataclass
class CallLedger:
    """What a master remembers between calls: which offers exist (and on which agent), which were used,
    which tasks were launched, which ExecutorInfo each executor id was first launched with."""

    offers: dict[str, str] = field(default_factory=dict)  # offer id → agent id, for offers sent out
    used_offers: set[str] = field(default_factory=set)
    launched: dict[str, str] = field(default_factory=dict)  # task id → agent id
    executors: dict[str, Mapping[str, Any]] = field(default_factory=dict)  # executor id → ExecutorInfo

    def offered(self, offer_id: str, agent_id: str) -> None:
        self.offers[offer_id] = agent_id

    def check(self, call: Mapping[str, Any]) -> None:
        """Validate a scheduler call fully: stateless rules first, then the ones that need the ledger."""
        validate("scheduler.Call", call)
        kind = call["type"]
        if kind in ("ACCEPT", "DECLINE"):
            offer_ids = [o["value"] for o in call[kind.lower()]["offer_ids"]]
            agents = set()
            for offer_id in offer_ids:
                if offer_id in self.used_offers:
                    _fail(f"{kind}: offer {offer_id} was already used")
                if offer_id in self.offers:
                    agents.add(self.offers[offer_id])
            if len(agents) > 1:
                _fail(f"{kind}: offers from more than one agent: {sorted(agents)}")
            self.used_offers.update(offer_ids)
            if kind == "ACCEPT":
                self._check_launches(call["accept"], next(iter(agents), None))
        if kind == "ACKNOWLEDGE":
            ack = call["acknowledge"]
            if ack["task_id"]["value"] not in self.launched:
                _fail(f"ACKNOWLEDGE of task {ack['task_id']['value']}, which was never launched")

    def _check_launches(self, accept: Mapping[str, Any], agent_id: str | None) -> None:
        for operation in accept.get("operations", []):
            for task in operation.get("launch", {}).get("task_infos", []):
                task_id = task["task_id"]["value"]
                if agent_id is not None and task["agent_id"]["value"] != agent_id:
                    _fail(
                        f"task {task_id}: agent_id {task['agent_id']['value']} is not the offer's {agent_id}"
                    )
                if task_id in self.launched:
                    _fail(f"task {task_id}: task id reused")
                self.launched[task_id] = task["agent_id"]["value"]
                executor = task["executor"]
                executor_id = executor["executor_id"]["value"]
                known = self.executors.setdefault(executor_id, executor)
                if _compared(known) != _compared(executor):
                    _fail(
                        f"task {task_id}: ExecutorInfo is not compatible with existing ExecutorInfo "
                        f"with same ExecutorID {executor_id}"
                    )


def _compared(executor: Mapping[str, Any]) -> dict[str, Any]:
    # Mesos compares ExecutorInfos without labels and shutdown_grace_period (reference §3.2).
    return {k: v for k, v in executor.items() if k not in ("labels", "shutdown_grace_period")}
