"""Chronos job JSON ⇄ Job: Chronos's input rules, errors naming the field, exact output, round trips."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from horae.model import (
    DEFAULT_CPUS,
    DEFAULT_DISK,
    DEFAULT_MEM,
    BackoffKind,
    CatchUp,
    CatchUpMode,
    ConcurrencyPolicy,
    Container,
    ContainerMode,
    EnvironmentVariable,
    Fetch,
    InvalidJob,
    Job,
    KeyValue,
    NetworkInfo,
    PortMapping,
    RetryBackoff,
    Volume,
    container_from_chronos,
    container_to_chronos,
    job_from_chronos,
    job_to_chronos,
    jobs_from_document,
)
from tests.model.strategies import ALPHABET, jobs

HELLO = {"name": "hello", "command": "echo hi", "schedule": "R/2030-01-01T00:00:00Z/PT1H", "owner": "a@b.c"}

# Chronos 3.x's answer to GET /v1/scheduler/job/hello after POSTing HELLO (reference §2).
HELLO_GET = (
    '{"name":"hello","command":"echo hi","shell":true,"executor":"","executorFlags":"","taskInfoData":"",'
    '"retries":2,"owner":"a@b.c","ownerName":"","description":"","successCount":0,"errorCount":0,'
    '"lastSuccess":"","lastError":"","cpus":0.1,"disk":256.0,"mem":128.0,"disabled":false,"softError":false,'
    '"dataProcessingJobType":false,"errorsSinceLastSuccess":0,"fetch":[],"uris":[],"environmentVariables":[],'
    '"arguments":[],"highPriority":false,"runAsUser":"root","concurrent":false,"maxCompletionTime":0,'
    '"constraints":[],"schedule":"R/2030-01-01T00:00:00Z/PT1H","scheduleTimeZone":""}'
)

CHRONOS_KEYS = [
    "name",
    "command",
    "shell",
    "executor",
    "executorFlags",
    "taskInfoData",
    "retries",
    "owner",
    "ownerName",
    "description",
    "successCount",
    "errorCount",
    "lastSuccess",
    "lastError",
    "cpus",
    "disk",
    "mem",
    "disabled",
    "softError",
    "dataProcessingJobType",
    "errorsSinceLastSuccess",
    "fetch",
    "uris",
    "environmentVariables",
    "arguments",
    "highPriority",
    "runAsUser",
    "concurrent",
    "maxCompletionTime",
]
HORAE_KEYS = [
    "concurrencyPolicy",
    "startingDeadline",
    "catchUp",
    "retryBackoff",
    "disableAfterFailures",
    "jitter",
]


def doc(**fields: Any) -> dict[str, Any]:
    return {**HELLO, **fields}


def compact(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


# Output


def test_chronos_example_get_output_matches_byte_for_byte_in_its_chronos_keys() -> None:
    out = job_to_chronos(job_from_chronos(HELLO))
    chronos_part = {k: v for k, v in out.items() if k not in HORAE_KEYS}
    assert compact(chronos_part) == HELLO_GET


def test_horae_keys_follow_the_chronos_keys_in_order_and_timeout_is_not_written() -> None:
    out = job_to_chronos(job_from_chronos(doc(timeout="PT5M", startingDeadline="PT30S")))
    assert list(out) == [*CHRONOS_KEYS, "constraints", "schedule", "scheduleTimeZone", *HORAE_KEYS]
    assert "timeout" not in out
    assert out["maxCompletionTime"] == 300
    assert out["startingDeadline"] == "PT30S"
    assert out["concurrencyPolicy"] == "forbid"
    assert out["catchUp"] == "latest"
    assert out["retryBackoff"] == {"kind": "fixed", "first": "PT1M", "cap": "PT1H", "jitter": 0.0}
    assert out["disableAfterFailures"] == 0
    assert out["jitter"] == "PT0S"


def test_constraints_without_a_value_are_written_as_pairs_and_read_back_the_same() -> None:
    constraints = [
        ["hostname", "UNIQUE"],
        ["rack", "CLUSTER"],
        ["rack", "CLUSTER", "r1"],
        ["rack", "GROUP_BY"],
    ]
    out = job_to_chronos(job_from_chronos(doc(constraints=[*constraints, ["rack", "EQUALS", ""]])))
    assert out["constraints"] == [*constraints, ["rack", "EQUALS", ""]]


def test_dependent_job_writes_parents_after_container_and_constraints_and_omits_unset_deadline() -> None:
    job = Job(name="child", parents=("a", "b"), container=Container(image="busybox"))
    out = job_to_chronos(job)
    keys = list(out)
    assert keys[len(CHRONOS_KEYS) :] == [
        "container",
        "constraints",
        "parents",
        *HORAE_KEYS[:1],
        *HORAE_KEYS[2:],
    ]
    assert out["parents"] == ["a", "b"]
    assert "schedule" not in out and "startingDeadline" not in out


def test_container_output_has_chronos_shape_with_ports_as_strings_and_mode_when_set() -> None:
    container = Container(
        image="busybox",
        type="MESOS",
        network="BRIDGE",
        network_name="net",
        network_infos=(
            NetworkInfo(
                name="n1",
                protocol="IPv4",
                labels=(KeyValue("k", "v"),),
                port_mappings=(PortMapping(80, 8080, "tcp"), PortMapping(1, 2)),
            ),
            NetworkInfo(name="n2"),
        ),
        volumes=(Volume("/data", "/srv", "RO"), Volume("/tmp")),
        force_pull_image=True,
        parameters=(KeyValue("privileged", "true"),),
        mode=ContainerMode.WARM,
    )
    out = job_to_chronos(Job(name="c", schedule="R//PT1M", container=container))["container"]
    assert compact(out) == compact(
        {
            "type": "MESOS",
            "image": "busybox",
            "network": "BRIDGE",
            "networkName": "net",
            "networkInfos": [
                {
                    "name": "n1",
                    "protocol": "IPv4",
                    "labels": [{"key": "k", "value": "v"}],
                    "portMappings": [
                        {"hostPort": "80", "containerPort": "8080", "protocol": "tcp"},
                        {"hostPort": "1", "containerPort": "2"},
                    ],
                },
                {"name": "n2", "labels": [], "portMappings": []},
            ],
            "volumes": [
                {"hostPath": "/srv", "containerPath": "/data", "mode": "RO"},
                {"containerPath": "/tmp"},
            ],
            "forcePullImage": True,
            "parameters": [{"key": "privileged", "value": "true"}],
            "mode": "warm",
        }
    )
    without_mode = job_to_chronos(Job(name="c", schedule="R//PT1M", container=Container(image="i")))
    assert "mode" not in without_mode["container"]
    assert "networkName" not in without_mode["container"]


@pytest.mark.parametrize(
    ("instant", "text"),
    [
        (None, ""),
        (datetime(2014, 3, 8, 16, 57, 17, 507000, tzinfo=UTC), "2014-03-08T16:57:17.507Z"),
        (datetime(2014, 3, 8, 16, 57, 17, tzinfo=UTC), "2014-03-08T16:57:17.000Z"),
        (
            datetime(2014, 3, 8, 17, 57, 17, 5000, tzinfo=timezone(timedelta(hours=1))),
            "2014-03-08T16:57:17.005Z",
        ),
    ],
)
def test_timestamps_are_written_as_joda_utc_with_milliseconds(instant: datetime | None, text: str) -> None:
    out = job_to_chronos(Job(name="t", schedule="R//PT1M", last_success=instant, last_error=instant))
    assert out["lastSuccess"] == text and out["lastError"] == text


def test_fetch_output_omits_empty_output_file() -> None:
    job = Job(
        name="f", schedule="R//PT1M", fetch=(Fetch("http://x/a.tgz"), Fetch("u", True, True, False, "o"))
    )
    assert job_to_chronos(job)["fetch"] == [
        {"uri": "http://x/a.tgz", "executable": False, "cache": False, "extract": True},
        {"uri": "u", "executable": True, "cache": True, "extract": False, "output_file": "o"},
    ]


@pytest.mark.parametrize(
    ("catch_up", "written"),
    [
        (CatchUp(), "latest"),
        (CatchUp(CatchUpMode.NONE), "none"),
        (CatchUp(CatchUpMode.ALL), "all"),
        (CatchUp(CatchUpMode.ALL, 3), {"mode": "all", "limit": 3}),
    ],
)
def test_catch_up_is_written_as_a_word_unless_the_limit_differs(catch_up: CatchUp, written: Any) -> None:
    out = job_to_chronos(Job(name="c", schedule="R//PT1M", catch_up=catch_up))
    assert out["catchUp"] == written
    assert job_from_chronos(out).catch_up == catch_up


# Input: Chronos's rules


def test_minimal_body_gets_chronos_defaults() -> None:
    job = job_from_chronos({"name": "x", "schedule": "R//PT1M"})
    assert job == Job(name="x", schedule="R//PT1M")
    assert (job.cpus, job.mem, job.disk, job.retries, job.run_as_user) == (0.1, 128.0, 256.0, 2, "root")
    assert job.shell is True and job.concurrency_policy is ConcurrencyPolicy.FORBID


def test_neither_schedule_nor_parents_is_left_to_the_caller() -> None:
    job = job_from_chronos({"name": "x"})
    assert job.schedule is None and job.parents is None
    assert "schedule" not in job_to_chronos(job) and "parents" not in job_to_chronos(job)


@pytest.mark.parametrize(
    ("fields", "attribute", "expected"),
    [
        ({"cpus": "0.5"}, "cpus", 0.5),
        ({"mem": "512"}, "mem", 512.0),
        ({"disk": 1024}, "disk", 1024.0),
        ({"cpus": 0}, "cpus", DEFAULT_CPUS),
        ({"mem": "0"}, "mem", DEFAULT_MEM),
        ({"disk": None}, "disk", DEFAULT_DISK),
        ({"cpus": " 2.5e-1 "}, "cpus", 0.25),
        ({"retries": "3"}, "retries", 3),
        ({"retries": 4.0}, "retries", 4),
        ({"retries": None}, "retries", 2),
        ({"shell": "false"}, "shell", False),
        ({"shell": "TRUE"}, "shell", True),
        ({"shell": None}, "shell", True),
        ({"disabled": "true"}, "disabled", True),
        ({"highPriority": True}, "high_priority", True),
        ({"owner": None}, "owner", ""),
        ({"runAsUser": None}, "run_as_user", "root"),
        ({"successCount": "7"}, "success_count", 7),
        ({"lastSuccess": ""}, "last_success", None),
        (
            {"lastError": "2014-03-08T16:57:17.507Z"},
            "last_error",
            datetime(2014, 3, 8, 16, 57, 17, 507000, UTC),
        ),
        (
            {"lastError": "2014-03-08T17:57:17.507123+01:00"},
            "last_error",
            datetime(2014, 3, 8, 16, 57, 17, 507000, UTC),
        ),
        ({"lastError": "2014-03-08T16:57:17"}, "last_error", datetime(2014, 3, 8, 16, 57, 17, tzinfo=UTC)),
        ({"unknownKey": [1, 2], "async": True}, "name", "hello"),
        ({"parents": ["a", "b", "a", "c", "b"]}, "parents", ("a", "b", "c")),
        ({"parents": ["a"], "schedule": ""}, "schedule", None),
        ({"arguments": ["-v", "x"]}, "arguments", ("-v", "x")),
        ({"uris": ["http://a"]}, "uris", ("http://a",)),
        (
            {"environmentVariables": [{"name": "A", "value": "1"}]},
            "environment_variables",
            (EnvironmentVariable("A", "1"),),
        ),
        ({"fetch": [{"uri": "http://a"}]}, "fetch", (Fetch("http://a", False, False, True, ""),)),
        (
            {
                "fetch": [
                    {"uri": "u", "executable": "true", "cache": True, "extract": False, "output_file": "o"}
                ]
            },
            "fetch",
            (Fetch("u", True, True, False, "o"),),
        ),
        (
            {"constraints": [["rack", "EQUALS", "r1"], ["host", "LIKE", "h[0-9]+"]]},
            "constraints",
            (("rack", "EQUALS", "r1"), ("host", "LIKE", "h[0-9]+")),
        ),
        (
            {"constraints": [["rack", "GROUP_BY", "3"], ["a", "UNLIKE", "b"]]},
            "constraints",
            (("rack", "GROUP_BY", "3"), ("a", "UNLIKE", "b")),
        ),
        (
            {"constraints": [["hostname", "UNIQUE"], ["rack", "CLUSTER"], ["rack", "GROUP_BY"]]},
            "constraints",
            (("hostname", "UNIQUE", ""), ("rack", "CLUSTER", ""), ("rack", "GROUP_BY", "")),
        ),
        (
            {"constraints": [["hostname", "UNIQUE", ""], ["rack", "CLUSTER", "r1"]]},
            "constraints",
            (("hostname", "UNIQUE", ""), ("rack", "CLUSTER", "r1")),
        ),
        ({"container": {"type": "docker"}}, "container", None),
        ({"container": {"image": ""}}, "container", None),
        ({"container": None}, "container", None),
        ({"container": {"image": "busybox"}}, "container", Container(image="busybox")),
        (
            {
                "container": {
                    "image": "i",
                    "type": "mesos",
                    "network": "BRIDGE",
                    "forcePullImage": "true",
                    "mode": "EXEC",
                }
            },
            "container",
            Container(
                image="i", type="MESOS", network="BRIDGE", force_pull_image=True, mode=ContainerMode.EXEC
            ),
        ),
        (
            {
                "container": {
                    "image": "i",
                    "volumes": [{"containerPath": "/c", "hostPath": "/h", "mode": "ro"}],
                }
            },
            "container",
            Container(image="i", volumes=(Volume("/c", "/h", "RO"),)),
        ),
        (
            {
                "container": {
                    "image": "i",
                    "networkInfos": [
                        {"name": "n", "portMappings": [{"hostPort": "80", "containerPort": 8080}]}
                    ],
                }
            },
            "container",
            Container(image="i", network_infos=(NetworkInfo("n", port_mappings=(PortMapping(80, 8080),)),)),
        ),
    ],
)
def test_input_follows_chronos_deserializer(fields: dict[str, Any], attribute: str, expected: Any) -> None:
    assert getattr(job_from_chronos(doc(**fields)), attribute) == expected


# Input: horae's own fields and their Chronos counterparts


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, ConcurrencyPolicy.FORBID),
        ({"concurrent": True}, ConcurrencyPolicy.ALLOW),
        ({"concurrent": "false"}, ConcurrencyPolicy.FORBID),
        ({"concurrencyPolicy": "replace"}, ConcurrencyPolicy.REPLACE),
        ({"concurrencyPolicy": "Queue"}, ConcurrencyPolicy.QUEUE),
        ({"concurrent": True, "concurrencyPolicy": "allow"}, ConcurrencyPolicy.ALLOW),
        ({"concurrent": False, "concurrencyPolicy": "forbid"}, ConcurrencyPolicy.FORBID),
        ({"concurrent": False, "concurrencyPolicy": "queue"}, ConcurrencyPolicy.QUEUE),
        ({"concurrent": None, "concurrencyPolicy": "allow"}, ConcurrencyPolicy.ALLOW),
    ],
)
def test_concurrent_maps_to_concurrency_policy(fields: dict[str, Any], expected: ConcurrencyPolicy) -> None:
    job = job_from_chronos(doc(**fields))
    assert job.concurrency_policy is expected
    assert job_to_chronos(job)["concurrent"] is (expected is ConcurrencyPolicy.ALLOW)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, None),
        ({"maxCompletionTime": 0}, None),
        ({"maxCompletionTime": "90"}, timedelta(seconds=90)),
        ({"timeout": "PT1M30S"}, timedelta(seconds=90)),
        ({"timeout": "PT90S", "maxCompletionTime": 90}, timedelta(seconds=90)),
        ({"timeout": None, "maxCompletionTime": 5}, timedelta(seconds=5)),
    ],
)
def test_max_completion_time_is_timeout(fields: dict[str, Any], expected: timedelta | None) -> None:
    assert job_from_chronos(doc(**fields)).timeout == expected


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, None),
        ({"epsilon": "PT60S"}, timedelta(seconds=60)),
        ({"startingDeadline": "PT0.25S"}, timedelta(milliseconds=250)),
        ({"startingDeadline": "PT1M", "epsilon": "PT60S"}, timedelta(seconds=60)),
    ],
)
def test_epsilon_is_starting_deadline(fields: dict[str, Any], expected: timedelta | None) -> None:
    assert job_from_chronos(doc(**fields)).starting_deadline == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("latest", CatchUp()),
        ("none", CatchUp(CatchUpMode.NONE)),
        ("all", CatchUp(CatchUpMode.ALL, 10)),
        ({"mode": "all", "limit": 3}, CatchUp(CatchUpMode.ALL, 3)),
        ({"mode": "all"}, CatchUp(CatchUpMode.ALL)),
        ({}, CatchUp()),
        (None, CatchUp()),
    ],
)
def test_catch_up_forms(value: Any, expected: CatchUp) -> None:
    assert job_from_chronos(doc(catchUp=value)).catch_up == expected


def test_horae_fields_are_read() -> None:
    job = job_from_chronos(
        doc(
            retryBackoff={"kind": "exponential", "first": "PT10S", "cap": "PT5M", "jitter": "0.2"},
            disableAfterFailures="3",
            jitter="PT1.5S",
        )
    )
    assert job.retry_backoff == RetryBackoff(
        BackoffKind.EXPONENTIAL, timedelta(seconds=10), timedelta(minutes=5), 0.2
    )
    assert job.disable_after_failures == 3
    assert job.jitter == timedelta(seconds=1.5)
    assert job_from_chronos(doc(retryBackoff={"kind": "exponential"})).retry_backoff == RetryBackoff(
        kind=BackoffKind.EXPONENTIAL
    )


# Input: errors name the field and the problem


@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [
        ({"command": "x"}, "name", "is required"),
        (doc(name=None), "name", "is required"),
        (doc(name=5), "name", "must be a string, got 5"),
        (doc(cpus="abc"), "cpus", "must be a number, got 'abc'"),
        (doc(cpus="nan"), "cpus", "must be a number"),
        (doc(mem=[1]), "mem", "must be a number, got [1]"),
        (doc(retries=[1]), "retries", "must be an integer, got [1]"),
        (doc(retries=1.5), "retries", "must be an integer, got 1.5"),
        (doc(retries=True), "retries", "must be an integer"),
        (doc(shell="yes"), "shell", "must be true or false, got 'yes'"),
        (doc(shell=1), "shell", "must be true or false"),
        (doc(command=["ls"]), "command", "must be a string"),
        (doc(schedule=5), "schedule", "must be a string"),
        (doc(arguments="a b"), "arguments", "must be a list"),
        (doc(arguments=["a", 2]), "arguments[1]", "must be a string, got 2"),
        (doc(parents=["a", None]), "parents[1]", "must be a string"),
        (doc(parents="a"), "parents", "must be a list"),
        (doc(successCount=-1), "successCount", "must be >= 0"),
        (doc(lastSuccess="yesterday"), "lastSuccess", "ISO 8601 timestamp, got 'yesterday'"),
        (doc(lastError=0), "lastError", "ISO 8601 timestamp"),
        (doc(lastError="9999-12-31T23:00:00-05:00"), "lastError", "ISO 8601 timestamp"),
        (
            doc(
                environmentVariables=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}, {"name": "C"}]
            ),
            "environmentVariables[2].value",
            "is required",
        ),
        (doc(environmentVariables=[{"value": "1"}]), "environmentVariables[0].name", "is required"),
        (
            doc(environmentVariables=[{"name": "P", "value": 80}]),
            "environmentVariables[0].value",
            "must be a string",
        ),
        (doc(environmentVariables=["A=1"]), "environmentVariables[0]", "must be an object"),
        (doc(fetch=[{"executable": True}]), "fetch[0].uri", "is required"),
        (doc(fetch=[{"uri": "u", "extract": "maybe"}]), "fetch[0].extract", "must be true or false"),
        (doc(constraints=[["rack", "LIKE", "r[0-"]]), "constraints[0][2]", "not a valid regular expression"),
        (doc(constraints=[["rack", "EQUALS"]]), "constraints[0]", "[attribute, operator, value]"),
        (doc(constraints=[["rack", "EQUALS", 1]]), "constraints[0][2]", "must be a string"),
        (
            doc(constraints=[["rack", "EQUALS", "r1"], ["rack", "NEAR", "r1"]]),
            "constraints[1]",
            "operator must be one of EQUALS, LIKE, UNLIKE, UNIQUE, CLUSTER, GROUP_BY, got 'NEAR'",
        ),
        (doc(constraints=[["rack", "equals", "r1"]]), "constraints[0]", "got 'equals'"),
        (doc(constraints=[["rack", "LIKE"]]), "constraints[0]", "LIKE needs a value"),
        (doc(constraints=[["rack", "UNIQUE", "r1"]]), "constraints[0][2]", "UNIQUE takes no value"),
        (doc(constraints=[["rack", "GROUP_BY", "two"]]), "constraints[0][2]", "a whole number"),
        (doc(constraints=[["rack", "GROUP_BY", "0"]]), "constraints[0][2]", "a whole number"),
        (doc(constraints=[["rack"]]), "constraints[0]", "[attribute, operator, value]"),
        (doc(constraints=[["rack", "UNIQUE", "", "x"]]), "constraints[0]", "[attribute, operator, value]"),
        (doc(container="busybox"), "container", "must be an object"),
        (doc(container={"image": 5}), "container.image", "must be a string"),
        (doc(container={"image": "i", "type": "rkt"}), "container.type", "one of DOCKER, MESOS, got 'rkt'"),
        (doc(container={"image": "i", "network": "host"}), "container.network", "one of BRIDGE, HOST, USER"),
        (doc(container={"image": "i", "mode": "cold"}), "container.mode", "one of warm, exec, fresh"),
        (
            doc(container={"image": "i", "volumes": [{"hostPath": "/h"}]}),
            "container.volumes[0].containerPath",
            "is required",
        ),
        (
            doc(container={"image": "i", "volumes": [{"containerPath": "/c", "mode": "rx"}]}),
            "container.volumes[0].mode",
            "RW, RO",
        ),
        (
            doc(
                container={
                    "image": "i",
                    "networkInfos": [
                        {"name": "n", "portMappings": [{"hostPort": "http", "containerPort": 1}]}
                    ],
                }
            ),
            "container.networkInfos[0].portMappings[0].hostPort",
            "must be an integer, got 'http'",
        ),
        (
            doc(container={"image": "i", "networkInfos": [{"name": "n", "protocol": "IPv5"}]}),
            "container.networkInfos[0].protocol",
            "IPv4, IPv6",
        ),
        (
            doc(container={"image": "i", "parameters": [{"key": "k"}]}),
            "container.parameters[0].value",
            "is required",
        ),
        (
            doc(
                container={"image": "i", "volumes": [{"containerPath": "/c", "external": {"provider": "p"}}]}
            ),
            "container.volumes[0].external.name",
            "is required",
        ),
        (doc(concurrencyPolicy="sometimes"), "concurrencyPolicy", "one of allow, forbid, replace, queue"),
        (
            doc(concurrent=True, concurrencyPolicy="forbid"),
            "concurrencyPolicy",
            "contradicts concurrent: true",
        ),
        (
            doc(concurrent=False, concurrencyPolicy="allow"),
            "concurrencyPolicy",
            "contradicts concurrent: false",
        ),
        (doc(maxCompletionTime=-5), "maxCompletionTime", "must be 0 (no limit) to"),
        (doc(maxCompletionTime=10**18), "maxCompletionTime", "must be 0 (no limit) to"),
        (doc(cpus=10**400), "cpus", "must be a number"),
        (doc(retryBackoff={"jitter": 10**400}), "retryBackoff.jitter", "must be a number"),
        (doc(cpus="1e999"), "cpus", "must be a number"),
        (doc(maxCompletionTime=60, timeout="PT2M"), "timeout", "contradicts maxCompletionTime: 60"),
        (doc(maxCompletionTime=0, timeout="PT2M"), "timeout", "contradicts maxCompletionTime: 0"),
        (doc(timeout="PT1.5S"), "timeout", "whole number of seconds"),
        (doc(timeout=30), "timeout", "ISO 8601 duration such as PT30S, got 30"),
        (doc(timeout="P1M"), "timeout", "no fixed length"),
        (doc(startingDeadline="soon"), "startingDeadline", "not an ISO 8601 period"),
        (doc(startingDeadline="PT30S", epsilon="PT60S"), "startingDeadline", "contradicts epsilon"),
        (doc(epsilon="PT"), "epsilon", "not an ISO 8601 period"),
        (doc(catchUp="some"), "catchUp", "one of latest, all, none"),
        (doc(catchUp={"mode": "all", "limit": "many"}), "catchUp.limit", "must be an integer"),
        (doc(catchUp=3), "catchUp", "must be an object"),
        (doc(retryBackoff={"kind": "linear"}), "retryBackoff.kind", "one of fixed, exponential"),
        (doc(retryBackoff={"first": "1m"}), "retryBackoff.first", "not an ISO 8601 period"),
        (doc(retryBackoff={"jitter": "lots"}), "retryBackoff.jitter", "must be a number"),
        (doc(retryBackoff="PT1M"), "retryBackoff", "must be an object"),
        (doc(disableAfterFailures="x"), "disableAfterFailures", "must be an integer"),
        (doc(jitter=5), "jitter", "ISO 8601 duration"),
        ([HELLO], "job", "must be an object"),
    ],
)
def test_garbage_is_an_error_naming_the_field(body: Any, field: str, fragment: str) -> None:
    with pytest.raises(InvalidJob) as caught:
        job_from_chronos(body)
    assert caught.value.field == field
    assert fragment in caught.value.message


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(alphabet=ALPHABET, max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(alphabet=ALPHABET, max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
known_keys = st.sampled_from(
    [*CHRONOS_KEYS, "container", "constraints", "parents", "schedule", *HORAE_KEYS, "epsilon", "timeout"]
)


@given(st.dictionaries(known_keys, json_values, max_size=6))
def test_any_json_body_gives_a_job_or_invalid_job(fields: dict[str, Any]) -> None:
    try:
        job = job_from_chronos({"name": "x", **fields})
    except InvalidJob as e:
        assert e.field and e.message
    else:
        assert job_to_chronos(job_from_chronos(job_to_chronos(job))) == job_to_chronos(job)


def _as_job_reads(container: Any) -> Container | InvalidJob | None:
    """What `job_from_chronos` makes of a job's `container` value: the container or the error."""
    try:
        return job_from_chronos({**HELLO, "container": container}).container
    except InvalidJob as e:
        return e


def _alone_reads(container: Any) -> Container | InvalidJob | None:
    try:
        return container_from_chronos(container)
    except InvalidJob as e:
        return e


def _same(a: Container | InvalidJob | None, b: Container | InvalidJob | None) -> bool:
    if isinstance(a, InvalidJob) and isinstance(b, InvalidJob):
        return (a.field, a.message) == (b.field, b.message)
    return a == b


@pytest.mark.parametrize(
    "container",
    [
        None,
        "busybox",
        {"image": ""},
        {"image": "i\0"},
        {"image": "i", "type": "rkt"},
        {
            "image": "i",
            "networkInfos": [{"name": "n", "portMappings": [{"hostPort": 70000, "containerPort": 1}]}],
        },
        {
            "image": "i",
            "networkInfos": [{"name": "n", "portMappings": [{"hostPort": 1, "containerPort": -1}]}],
        },
        {
            "image": "i\0",
            "networkInfos": [{"name": "n", "portMappings": [{"hostPort": 1, "containerPort": 1e6}]}],
        },
    ],
)
def test_a_container_alone_reads_as_within_a_job(container: Any) -> None:
    assert _same(_alone_reads(container), _as_job_reads(container))


@given(
    st.dictionaries(
        st.sampled_from(["image", "type", "network", "networkInfos", "volumes", "mode"]), json_values
    )
)
def test_any_container_value_reads_alone_as_within_a_job(container: dict[str, Any]) -> None:
    assert _same(_alone_reads(container), _as_job_reads(container))


@given(jobs())
def test_a_container_survives_its_chronos_json(job: Job) -> None:
    if job.container is not None:
        assert container_to_chronos(job.container) == job_to_chronos(job)["container"]
        assert container_from_chronos(container_to_chronos(job.container)) == job.container


# Round trips


@given(jobs())
def test_a_job_survives_chronos_json(job: Job) -> None:
    assert job_from_chronos(job_to_chronos(job)) == job
    assert job_from_chronos(json.loads(json.dumps(job_to_chronos(job)))) == job


@given(jobs())
def test_writing_what_was_read_is_stable(job: Job) -> None:
    once = job_to_chronos(job_from_chronos(job_to_chronos(job)))
    assert job_to_chronos(job_from_chronos(once)) == once
    assert compact(once) == compact(job_to_chronos(job))


@pytest.mark.parametrize(
    "body",
    [
        HELLO,
        doc(
            cpus="0.5",
            mem="512",
            shell="false",
            parents=["a", "a"],
            container={"image": "i", "type": "docker"},
        ),
        doc(
            epsilon="PT60S",
            concurrent=True,
            maxCompletionTime="30",
            lastSuccess="2014-03-08T16:57:17.507123Z",
        ),
        doc(
            container={"image": "i", "volumes": [{"containerPath": "/c", "mode": "rw"}]},
            catchUp={"mode": "none"},
        ),
    ],
)
def test_reading_chronos_bodies_then_writing_is_stable(body: dict[str, Any]) -> None:
    once = job_to_chronos(job_from_chronos(body))
    assert job_to_chronos(job_from_chronos(once)) == once


# Job files


def test_jobs_from_document_takes_one_job_or_a_list() -> None:
    assert jobs_from_document(HELLO) == [job_from_chronos(HELLO)]
    both = jobs_from_document([HELLO, {"name": "b", "parents": ["hello"]}])
    assert [j.name for j in both] == ["hello", "b"]
    assert jobs_from_document([]) == []


@pytest.mark.parametrize(
    ("document", "field", "fragment"),
    [
        ([HELLO, {"name": "b", "cpus": "x"}], "[1].cpus", "must be a number"),
        ([HELLO, "b"], "[1]", "must be an object"),
        ([{"command": "x"}], "[0].name", "is required"),
        ("hello", "job", "a job object or a list of job objects"),
        (None, "job", "a job object or a list of job objects"),
    ],
)
def test_jobs_from_document_errors_name_the_item(document: Any, field: str, fragment: str) -> None:
    with pytest.raises(InvalidJob) as caught:
        jobs_from_document(document)
    assert caught.value.field == field
    assert fragment in caught.value.message
