"""Chronos's job JSON ⇄ `Job`, with Chronos 3.x's input rules and output bytes.

Reading follows Chronos's JobDeserializer (unknown keys ignored, numeric and boolean strings accepted, zero
resources replaced by defaults), except that where Chronos answers an HTML 500 or silently coerces garbage,
`InvalidJob(field, message)` names the JSON path at fault. Writing follows JobSerializer's key order, then
horae's own keys. Cross-field rules (schedule xor parents, parents exist, cycles) are `core`'s validation.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from horae.model._errors import InvalidJob
from horae.model._job import (
    DEFAULT_CPUS,
    DEFAULT_DISK,
    DEFAULT_MEM,
    DEFAULT_RETRIES,
    DEFAULT_RUN_AS_USER,
    BackoffKind,
    CatchUp,
    CatchUpMode,
    ConcurrencyPolicy,
    Container,
    ContainerMode,
    EnvironmentVariable,
    ExternalVolume,
    Fetch,
    Job,
    KeyValue,
    NetworkInfo,
    PortMapping,
    RetryBackoff,
    Volume,
)
from horae.model._limits import MAX_DURATION, check_container, check_limits
from horae.model._period import format_duration, parse_duration

__all__ = [
    "CONSTRAINT_OPERATORS",
    "container_from_chronos",
    "container_to_chronos",
    "job_from_chronos",
    "job_to_chronos",
    "jobs_from_document",
]

T = TypeVar("T")

CONSTRAINT_OPERATORS = ("EQUALS", "LIKE", "UNLIKE", "UNIQUE", "CLUSTER", "GROUP_BY")
OPTIONAL_VALUE_OPERATORS = ("UNIQUE", "CLUSTER", "GROUP_BY")  # written `[attribute, OP]` when the value is ""
CONTAINER_TYPES = ("DOCKER", "MESOS")
NETWORK_MODES = ("BRIDGE", "HOST", "USER")
VOLUME_MODES = ("RW", "RO")
NETWORK_PROTOCOLS = ("IPv4", "IPv6")
_DEFAULT_CATCH_UP_LIMIT = CatchUp().limit
_MAX_SECONDS = int(MAX_DURATION.total_seconds())  # a century: beyond it a limit means none

_MAX_DIGITS = 40
_INTEGER = re.compile(r"[+-]?\d+", re.ASCII)
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)


# reading values


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _as_string(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise InvalidJob(path, f"must be a string, got {_show(value)}")
    return value


def _as_bool(value: Any, path: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise InvalidJob(path, f"must be true or false, got {_show(value)}")


def _as_int(value: Any, path: str) -> int:
    if isinstance(value, bool):
        raise InvalidJob(path, f"must be an integer, got {_show(value)}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        if len(value.strip()) > _MAX_DIGITS:  # beyond every range; int() would refuse past 4300 digits
            raise InvalidJob(path, f"is out of range, got {_show(value)}")
        return int(value.strip())
    raise InvalidJob(path, f"must be an integer, got {_show(value)}")


def _as_float(value: Any, path: str) -> float:
    number: float | None = None
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
            number = float(value.strip())
    except OverflowError:
        number = None
    if number is None or not math.isfinite(number):
        raise InvalidJob(path, f"must be a number, got {_show(value)}")
    return number


def _as_object(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidJob(path or "job", f"must be an object, got {_show(value)}")
    return value


def _as_duration(value: Any, path: str) -> timedelta:
    if not isinstance(value, str):
        raise InvalidJob(path, f"must be an ISO 8601 duration such as PT30S, got {_show(value)}")
    try:
        return parse_duration(value)
    except (ValueError, OverflowError) as e:
        raise InvalidJob(path, str(e)) from None


def _as_instant(value: Any, path: str) -> datetime | None:
    if value == "":
        return None
    if isinstance(value, str):
        try:
            instant = datetime.fromisoformat(value)
            if instant.tzinfo is None:
                instant = instant.replace(tzinfo=UTC)
            instant = instant.astimezone(UTC)
        except (ValueError, OverflowError):
            pass
        else:
            # Chronos keeps milliseconds; so do we, so that what we write reads back equal.
            return instant.replace(microsecond=instant.microsecond // 1000 * 1000)
    raise InvalidJob(path, f'must be "" or an ISO 8601 timestamp, got {_show(value)}')


def _read(obj: Mapping[str, Any], key: str, path: str, convert: Callable[[Any, str], T], default: T) -> T:
    """The converted value of `obj[key]`; `default` when the key is missing or null."""
    value = obj.get(key)
    return default if value is None else convert(value, _at(path, key))


def _items(obj: Mapping[str, Any], key: str, path: str) -> list[tuple[Any, str]]:
    """The elements of the list `obj[key]` with their paths; `[]` when missing or null."""
    value = obj.get(key)
    if value is None:
        return []
    where = _at(path, key)
    if not isinstance(value, list | tuple):
        raise InvalidJob(where, f"must be a list, got {_show(value)}")
    return [(item, f"{where}[{i}]") for i, item in enumerate(value)]


def _required(obj: Mapping[str, Any], key: str, path: str) -> Any:
    value = obj.get(key)
    if value is None:
        raise InvalidJob(_at(path, key), "is required")
    return value


def _choice(value: Any, path: str, choices: tuple[str, ...], *, upper: bool = False) -> str:
    text = _as_string(value, path)
    if upper:
        text = text.upper()
    if text not in choices:
        raise InvalidJob(path, f"must be one of {', '.join(choices)}, got {_show(value)}")
    return text


def _enum_reader(enum_type: type[Any]) -> Callable[[Any, str], Any]:
    names = tuple(member.value for member in enum_type)

    def convert(value: Any, path: str) -> Any:
        text = _as_string(value, path).strip().lower()
        if text not in names:
            raise InvalidJob(path, f"must be one of {', '.join(names)}, got {_show(value)}")
        return enum_type(text)

    return convert


_as_policy = _enum_reader(ConcurrencyPolicy)
_as_catch_up_mode = _enum_reader(CatchUpMode)
_as_backoff_kind = _enum_reader(BackoffKind)
_as_container_mode = _enum_reader(ContainerMode)


# reading parts


def _key_value(value: Any, path: str) -> KeyValue:
    obj = _as_object(value, path)
    return KeyValue(
        key=_as_string(_required(obj, "key", path), _at(path, "key")),
        value=_as_string(_required(obj, "value", path), _at(path, "value")),
    )


def _fetch(value: Any, path: str) -> Fetch:
    obj = _as_object(value, path)
    return Fetch(
        uri=_as_string(_required(obj, "uri", path), _at(path, "uri")),
        executable=_read(obj, "executable", path, _as_bool, False),
        cache=_read(obj, "cache", path, _as_bool, False),
        extract=_read(obj, "extract", path, _as_bool, True),
        output_file=_read(obj, "output_file", path, _as_string, ""),
    )


def _environment_variable(value: Any, path: str) -> EnvironmentVariable:
    obj = _as_object(value, path)
    return EnvironmentVariable(
        name=_as_string(_required(obj, "name", path), _at(path, "name")),
        value=_as_string(_required(obj, "value", path), _at(path, "value")),
    )


def _constraint(value: Any, path: str) -> tuple[str, str, str]:
    """`[attribute, OP, value]`, or `[attribute, OP]` for the operators whose value is optional. Chronos
    drops an operator it does not know; horae refuses it, so no constraint is ever ignored unseen."""
    if not isinstance(value, list | tuple) or len(value) not in (2, 3):
        raise InvalidJob(path, f"must be a list [attribute, operator, value], got {_show(value)}")
    attribute, operator, *rest = (_as_string(part, f"{path}[{i}]") for i, part in enumerate(value))
    operand = rest[0] if rest else ""
    if operator not in CONSTRAINT_OPERATORS:
        raise InvalidJob(
            path, f"operator must be one of {', '.join(CONSTRAINT_OPERATORS)}, got {_show(operator)}"
        )
    if not rest and operator not in OPTIONAL_VALUE_OPERATORS:
        raise InvalidJob(path, f"{operator} needs a value: [attribute, operator, value]")
    if operator in ("LIKE", "UNLIKE"):
        try:
            re.compile(operand)
        except re.error as e:
            raise InvalidJob(f"{path}[2]", f"is not a valid regular expression: {e}") from None
    elif operator == "UNIQUE" and operand:
        raise InvalidJob(f"{path}[2]", f"UNIQUE takes no value, got {_show(operand)}")
    elif (
        operator == "GROUP_BY"
        and operand
        and not (operand.isascii() and operand.isdigit() and int(operand) > 0)
    ):
        raise InvalidJob(
            f"{path}[2]", f"must be a whole number of groups of at least 1, got {_show(operand)}"
        )
    return (attribute, operator, operand)


def _constraint_out(constraint: tuple[str, str, str]) -> list[str]:
    attribute, operator, operand = constraint
    if not operand and operator in OPTIONAL_VALUE_OPERATORS:
        return [attribute, operator]
    return [attribute, operator, operand]


def _port(value: Any, path: str) -> int:
    return _as_int(value, path)  # Chronos writes ports as strings and reads them as ints: take both


def _port_mapping(value: Any, path: str) -> PortMapping:
    obj = _as_object(value, path)
    return PortMapping(
        host_port=_port(_required(obj, "hostPort", path), _at(path, "hostPort")),
        container_port=_port(_required(obj, "containerPort", path), _at(path, "containerPort")),
        protocol=_read(obj, "protocol", path, _as_string, ""),
    )


def _network_info(value: Any, path: str) -> NetworkInfo:
    obj = _as_object(value, path)
    protocol = obj.get("protocol")
    return NetworkInfo(
        name=_as_string(_required(obj, "name", path), _at(path, "name")),
        protocol="" if protocol is None else _choice(protocol, _at(path, "protocol"), NETWORK_PROTOCOLS),
        labels=tuple(_key_value(v, p) for v, p in _items(obj, "labels", path)),
        port_mappings=tuple(_port_mapping(v, p) for v, p in _items(obj, "portMappings", path)),
    )


def _external_volume(value: Any, path: str) -> ExternalVolume:
    obj = _as_object(value, path)
    return ExternalVolume(
        name=_as_string(_required(obj, "name", path), _at(path, "name")),
        provider=_read(obj, "provider", path, _as_string, ""),
        options=tuple(_key_value(v, p) for v, p in _items(obj, "options", path)),
    )


def _volume(value: Any, path: str) -> Volume:
    obj = _as_object(value, path)
    mode = obj.get("mode")
    external = obj.get("external")
    return Volume(
        container_path=_as_string(_required(obj, "containerPath", path), _at(path, "containerPath")),
        host_path=_read(obj, "hostPath", path, _as_string, ""),
        mode="" if mode is None else _choice(mode, _at(path, "mode"), VOLUME_MODES, upper=True),
        external=None if external is None else _external_volume(external, _at(path, "external")),
    )


def _container(value: Any, path: str) -> Container | None:
    """The container, or None when it names no image (Chronos then ignores it entirely)."""
    obj = _as_object(value, path)
    image = _read(obj, "image", path, _as_string, "")
    if not image:
        return None
    return Container(
        image=image,
        type=_read(obj, "type", path, lambda v, p: _choice(v, p, CONTAINER_TYPES, upper=True), "DOCKER"),
        network=_read(obj, "network", path, lambda v, p: _choice(v, p, NETWORK_MODES), "HOST"),
        network_name=_read(obj, "networkName", path, _as_string, ""),
        network_infos=tuple(_network_info(v, p) for v, p in _items(obj, "networkInfos", path)),
        volumes=tuple(_volume(v, p) for v, p in _items(obj, "volumes", path)),
        force_pull_image=_read(obj, "forcePullImage", path, _as_bool, False),
        parameters=tuple(_key_value(v, p) for v, p in _items(obj, "parameters", path)),
        mode=_read(obj, "mode", path, _as_container_mode, None),
    )


def container_from_chronos(value: Any) -> Container | None:
    """The container a job's `container` object describes (None for null or no image), with the ranges
    `check_limits` gives a job's container; InvalidJob naming the `container.…` field otherwise. For a
    container that travels on its own, as a Mesos task carries it to the executor."""
    container = None if value is None else _container(value, "container")
    if container is not None:
        check_container(container)
    return container


def _catch_up(value: Any, path: str) -> CatchUp:
    if isinstance(value, str):
        return CatchUp(mode=_as_catch_up_mode(value, path))
    obj = _as_object(value, path)
    return CatchUp(
        mode=_read(obj, "mode", path, _as_catch_up_mode, CatchUpMode.LATEST),
        limit=_read(obj, "limit", path, _as_int, _DEFAULT_CATCH_UP_LIMIT),
    )


def _retry_backoff(value: Any, path: str) -> RetryBackoff:
    obj = _as_object(value, path)
    default = RetryBackoff()
    return RetryBackoff(
        kind=_read(obj, "kind", path, _as_backoff_kind, default.kind),
        first=_read(obj, "first", path, _as_duration, default.first),
        cap=_read(obj, "cap", path, _as_duration, default.cap),
        jitter=_read(obj, "jitter", path, _as_float, default.jitter),
    )


def _resource(doc: Mapping[str, Any], key: str, default: float) -> float:
    """cpus/mem/disk: missing, null or 0 means the default, as Chronos fills it in at deserialization."""
    return _read(doc, key, "", _as_float, 0.0) or default


def _counter(doc: Mapping[str, Any], key: str) -> int:
    count = _read(doc, key, "", _as_int, 0)
    if count < 0:
        raise InvalidJob(key, f"must be >= 0, got {count}")
    return count


def _dedupe(names: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))


def _concurrency_policy(doc: Mapping[str, Any]) -> ConcurrencyPolicy:
    concurrent: bool | None = _read(doc, "concurrent", "", _as_bool, None)
    policy: ConcurrencyPolicy | None = _read(doc, "concurrencyPolicy", "", _as_policy, None)
    if policy is None:
        return ConcurrencyPolicy.ALLOW if concurrent else ConcurrencyPolicy.FORBID
    if concurrent is not None and concurrent != (policy is ConcurrencyPolicy.ALLOW):
        raise InvalidJob(
            "concurrencyPolicy",
            f"'{policy}' contradicts concurrent: {str(concurrent).lower()} "
            "(concurrent: true is concurrencyPolicy 'allow'); give one of them, or make them agree",
        )
    return policy


def _timeout(doc: Mapping[str, Any]) -> timedelta | None:
    seconds: int | None = _read(doc, "maxCompletionTime", "", _as_int, None)
    if seconds is not None and not 0 <= seconds <= _MAX_SECONDS:
        raise InvalidJob(
            "maxCompletionTime", f"must be 0 (no limit) to {_MAX_SECONDS} seconds, got {seconds}"
        )
    timeout: timedelta | None = _read(doc, "timeout", "", _as_duration, None)
    if timeout is not None and timeout % timedelta(seconds=1):
        raise InvalidJob("timeout", f"must be a whole number of seconds, got {doc['timeout']!r}")
    from_seconds = timedelta(seconds=seconds) if seconds else None
    if timeout is None:
        return from_seconds
    if seconds is not None and from_seconds != timeout:
        raise InvalidJob(
            "timeout",
            f"{doc['timeout']!r} contradicts maxCompletionTime: {seconds}; "
            "give one of them, or make them agree",
        )
    return timeout


def _starting_deadline(doc: Mapping[str, Any]) -> timedelta | None:
    deadline: timedelta | None = _read(doc, "startingDeadline", "", _as_duration, None)
    epsilon: timedelta | None = _read(doc, "epsilon", "", _as_duration, None)  # Chronos 2.x's name
    if deadline is not None and epsilon is not None and deadline != epsilon:
        raise InvalidJob(
            "startingDeadline",
            f"{doc['startingDeadline']!r} contradicts epsilon: {doc['epsilon']!r} "
            "(epsilon is Chronos 2.x's name for it); give one of them, or make them agree",
        )
    return deadline if deadline is not None else epsilon


def job_from_chronos(doc: Mapping[str, Any]) -> Job:
    """The `Job` a Chronos job JSON object describes; InvalidJob naming the field when it cannot be read.

    A body with neither `schedule` nor `parents` gives schedule=None and parents=None: the caller decides.
    """
    doc = _as_object(doc, "")
    name = _as_string(_required(doc, "name", ""), "name")
    parents: tuple[str, ...] | None = None
    if doc.get("parents") is not None:
        parents = _dedupe([_as_string(v, p) for v, p in _items(doc, "parents", "")])
    schedule: str | None = _read(doc, "schedule", "", _as_string, None)
    if parents is not None and schedule == "":
        schedule = None  # Chronos's summary writes `"schedule": ""` for dependent jobs
    constraints = (_constraint(v, p) for v, p in _items(doc, "constraints", ""))
    container = doc.get("container")
    job = Job(
        name=name,
        command=_read(doc, "command", "", _as_string, ""),
        schedule=schedule,
        schedule_time_zone=_read(doc, "scheduleTimeZone", "", _as_string, ""),
        parents=parents,
        shell=_read(doc, "shell", "", _as_bool, True),
        arguments=tuple(_as_string(v, p) for v, p in _items(doc, "arguments", "")),
        environment_variables=tuple(
            _environment_variable(v, p) for v, p in _items(doc, "environmentVariables", "")
        ),
        executor=_read(doc, "executor", "", _as_string, ""),
        executor_flags=_read(doc, "executorFlags", "", _as_string, ""),
        task_info_data=_read(doc, "taskInfoData", "", _as_string, ""),
        retries=_read(doc, "retries", "", _as_int, DEFAULT_RETRIES),
        owner=_read(doc, "owner", "", _as_string, ""),
        owner_name=_read(doc, "ownerName", "", _as_string, ""),
        description=_read(doc, "description", "", _as_string, ""),
        cpus=_resource(doc, "cpus", DEFAULT_CPUS),
        disk=_resource(doc, "disk", DEFAULT_DISK),
        mem=_resource(doc, "mem", DEFAULT_MEM),
        disabled=_read(doc, "disabled", "", _as_bool, False),
        soft_error=_read(doc, "softError", "", _as_bool, False),
        data_processing_job_type=_read(doc, "dataProcessingJobType", "", _as_bool, False),
        high_priority=_read(doc, "highPriority", "", _as_bool, False),
        run_as_user=_read(doc, "runAsUser", "", _as_string, DEFAULT_RUN_AS_USER),
        fetch=tuple(_fetch(v, p) for v, p in _items(doc, "fetch", "")),
        uris=tuple(_as_string(v, p) for v, p in _items(doc, "uris", "")),
        constraints=tuple(constraints),
        container=None if container is None else _container(container, "container"),
        success_count=_counter(doc, "successCount"),
        error_count=_counter(doc, "errorCount"),
        last_success=_read(doc, "lastSuccess", "", _as_instant, None),
        last_error=_read(doc, "lastError", "", _as_instant, None),
        errors_since_last_success=_counter(doc, "errorsSinceLastSuccess"),
        concurrency_policy=_concurrency_policy(doc),
        starting_deadline=_starting_deadline(doc),
        catch_up=_read(doc, "catchUp", "", _catch_up, CatchUp()),
        retry_backoff=_read(doc, "retryBackoff", "", _retry_backoff, RetryBackoff()),
        timeout=_timeout(doc),
        disable_after_failures=_read(doc, "disableAfterFailures", "", _as_int, 0),
        jitter=_read(doc, "jitter", "", _as_duration, timedelta(0)),
    )
    check_limits(job)
    return job


def jobs_from_document(obj: Any) -> list[Job]:
    """The jobs of a job file: one job object or a list of them. Fields in errors are prefixed `[i].`."""
    if isinstance(obj, Mapping):
        return [job_from_chronos(obj)]
    if not isinstance(obj, list | tuple):
        raise InvalidJob("job", f"must be a job object or a list of job objects, got {_show(obj)}")
    jobs = []
    for i, item in enumerate(obj):
        try:
            jobs.append(job_from_chronos(_as_object(item, f"[{i}]")))
        except InvalidJob as e:
            field = e.field if e.field.startswith(f"[{i}]") else f"[{i}].{e.field}"
            raise InvalidJob(field, e.message) from None
    return jobs


# writing


def _format_instant(instant: datetime | None) -> str:
    """Joda's `DateTime.toString` in UTC: `2014-03-08T16:57:17.507Z`; `""` for never."""
    if instant is None:
        return ""
    t = instant.astimezone(UTC)
    return (
        f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}"
        f".{t.microsecond // 1000:03d}Z"
    )


def _key_value_out(kv: KeyValue) -> dict[str, Any]:
    return {"key": kv.key, "value": kv.value}


def _fetch_out(f: Fetch) -> dict[str, Any]:
    out: dict[str, Any] = {"uri": f.uri, "executable": f.executable, "cache": f.cache, "extract": f.extract}
    if f.output_file:
        out["output_file"] = f.output_file
    return out


def _network_info_out(n: NetworkInfo) -> dict[str, Any]:
    out: dict[str, Any] = {"name": n.name}
    if n.protocol:
        out["protocol"] = n.protocol
    out["labels"] = [_key_value_out(kv) for kv in n.labels]
    mappings = []
    for m in n.port_mappings:
        # Chronos serializes port numbers as strings.
        mapping: dict[str, Any] = {"hostPort": str(m.host_port), "containerPort": str(m.container_port)}
        if m.protocol:
            mapping["protocol"] = m.protocol
        mappings.append(mapping)
    out["portMappings"] = mappings
    return out


def _volume_out(v: Volume) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if v.host_path:
        out["hostPath"] = v.host_path
    out["containerPath"] = v.container_path
    if v.mode:
        out["mode"] = v.mode
    if v.external is not None:
        out["external"] = {
            "name": v.external.name,
            "provider": v.external.provider,
            "options": [_key_value_out(kv) for kv in v.external.options],
        }
    return out


def container_to_chronos(c: Container) -> dict[str, Any]:
    """The container as the `container` object of a job's Chronos JSON; `container_from_chronos` reads it back
    equal."""
    out: dict[str, Any] = {"type": c.type, "image": c.image, "network": c.network}
    if c.network_name:
        out["networkName"] = c.network_name
    out["networkInfos"] = [_network_info_out(n) for n in c.network_infos]
    out["volumes"] = [_volume_out(v) for v in c.volumes]
    out["forcePullImage"] = c.force_pull_image
    out["parameters"] = [_key_value_out(kv) for kv in c.parameters]
    if c.mode is not None:
        out["mode"] = str(c.mode)
    return out


def _catch_up_out(c: CatchUp) -> str | dict[str, Any]:
    if c.limit == _DEFAULT_CATCH_UP_LIMIT:
        return str(c.mode)
    return {"mode": str(c.mode), "limit": c.limit}


def job_to_chronos(job: Job) -> dict[str, Any]:
    """Chronos 3.x's job JSON (JobSerializer's keys, in its order), then horae's own keys.

    `job_from_chronos(job_to_chronos(job)) == job` for every valid job (`scheduled_through` is not part of
    the JSON). `timeout` is written as Chronos's `maxCompletionTime` only.
    """
    out: dict[str, Any] = {
        "name": job.name,
        "command": job.command,
        "shell": job.shell,
        "executor": job.executor,
        "executorFlags": job.executor_flags,
        "taskInfoData": job.task_info_data,
        "retries": job.retries,
        "owner": job.owner,
        "ownerName": job.owner_name,
        "description": job.description,
        "successCount": job.success_count,
        "errorCount": job.error_count,
        "lastSuccess": _format_instant(job.last_success),
        "lastError": _format_instant(job.last_error),
        "cpus": float(job.cpus),
        "disk": float(job.disk),
        "mem": float(job.mem),
        "disabled": job.disabled,
        "softError": job.soft_error,
        "dataProcessingJobType": job.data_processing_job_type,
        "errorsSinceLastSuccess": job.errors_since_last_success,
        "fetch": [_fetch_out(f) for f in job.fetch],
        "uris": list(job.uris),
        "environmentVariables": [{"name": v.name, "value": v.value} for v in job.environment_variables],
        "arguments": list(job.arguments),
        "highPriority": job.high_priority,
        "runAsUser": job.run_as_user,
        "concurrent": job.concurrent,
        "maxCompletionTime": 0 if job.timeout is None else int(job.timeout.total_seconds()),
    }
    if job.container is not None:
        out["container"] = container_to_chronos(job.container)
    out["constraints"] = [_constraint_out(c) for c in job.constraints]
    if job.parents is not None:
        out["parents"] = list(job.parents)
        if job.schedule_time_zone:  # Chronos writes none for a dependent job; horae keeps it to read it back
            out["scheduleTimeZone"] = job.schedule_time_zone
    elif job.schedule is not None:
        out["schedule"] = job.schedule
        out["scheduleTimeZone"] = job.schedule_time_zone
    out["concurrencyPolicy"] = str(job.concurrency_policy)
    if job.starting_deadline is not None:
        out["startingDeadline"] = format_duration(job.starting_deadline)
    out["catchUp"] = _catch_up_out(job.catch_up)
    out["retryBackoff"] = {
        "kind": str(job.retry_backoff.kind),
        "first": format_duration(job.retry_backoff.first),
        "cap": format_duration(job.retry_backoff.cap),
        "jitter": float(job.retry_backoff.jitter),
    }
    out["disableAfterFailures"] = job.disable_after_failures
    out["jitter"] = format_duration(job.jitter)
    return out
