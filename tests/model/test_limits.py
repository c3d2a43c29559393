"""Every value of a job has a range: what lies outside is refused when the JSON is read, naming the field."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from horae.model import (
    MAX_CATCH_UP,
    MAX_RETRIES,
    CatchUpMode,
    InvalidJob,
    Job,
    check_environment,
    job_from_chronos,
    job_to_chronos,
)

BASE = {"name": "hello", "command": "echo hi", "schedule": "R/2030-01-01T00:00:00Z/PT1H"}


def doc(**fields: Any) -> dict[str, Any]:
    return {**BASE, **fields}


def env(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in pairs]


@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [
        (doc(retries=10**30), "retries", f"must be at most {MAX_RETRIES}"),
        (doc(retries=MAX_RETRIES + 1), "retries", "at most"),
        (doc(retries="9" * 5000), "retries", "out of range"),
        (doc(retries=1e300), "retries", "at most"),
        (doc(retries=-1), "retries", "must be >= 0"),
        (doc(cpus=1e308), "cpus", "at most"),
        (doc(cpus=-1), "cpus", "must be > 0"),
        (doc(mem=1e12), "mem", "at most"),
        (doc(disk="1e12"), "disk", "at most"),
        (doc(successCount=2**63), "successCount", "at most"),
        (doc(errorCount=10**20), "errorCount", "at most"),
        (doc(errorsSinceLastSuccess=2**64), "errorsSinceLastSuccess", "at most"),
        (doc(disableAfterFailures=2**31), "disableAfterFailures", "at most"),
        (doc(disableAfterFailures=-1), "disableAfterFailures", "must be >= 0"),
        (doc(catchUp={"mode": "all", "limit": MAX_CATCH_UP + 1}), "catchUp.limit", f"at most {MAX_CATCH_UP}"),
        (doc(catchUp={"mode": "all", "limit": 0}), "catchUp.limit", "must be >= 1"),
        (doc(jitter="P36501D"), "jitter", "at most 36500 days"),
        (doc(startingDeadline="P99999D"), "startingDeadline", "at most"),
        (doc(timeout="P36501D"), "timeout", "at most"),
        (doc(retryBackoff={"first": "P36501D", "cap": "P36501D"}), "retryBackoff.first", "at most"),
        (doc(retryBackoff={"cap": "P999999D"}), "retryBackoff.cap", "at most"),
        (doc(retryBackoff={"jitter": 2}), "retryBackoff.jitter", "from 0 to 1"),
        (
            doc(
                container={
                    "image": "x",
                    "networkInfos": [
                        {"name": "n", "portMappings": [{"hostPort": 1, "containerPort": 70000}]}
                    ],
                }
            ),
            "container.networkInfos[0].portMappings[0].containerPort",
            "at most 65535",
        ),
        (doc(command="echo \0hi"), "command", "NUL"),
        (doc(arguments=["a", "b\0"]), "arguments[1]", "NUL"),
        (doc(owner="a\0b"), "owner", "NUL"),
        (doc(runAsUser="\0"), "runAsUser", "NUL"),
        (doc(container={"image": "busybox\0"}), "container.image", "NUL"),
        (doc(environmentVariables=env(("A", "1"), ("B", "x\0y"))), "environmentVariables[1].value", "NUL"),
        (
            doc(environmentVariables=env(("A", "1"), ("B", "2"), ("X=Y", "3"))),
            "environmentVariables[2].name",
            "variable name",
        ),
        (doc(environmentVariables=env(("A=B", "1"))), "environmentVariables[0].name", "variable name"),
        (doc(environmentVariables=env(("", "1"))), "environmentVariables[0].name", "variable name"),
        (doc(environmentVariables=env(("A\0", "1"))), "environmentVariables[0].name", "variable name"),
    ],
)
def test_out_of_range_values_are_refused_naming_the_field(
    body: dict[str, Any], field: str, fragment: str
) -> None:
    with pytest.raises(InvalidJob) as caught:
        job_from_chronos(body)
    assert caught.value.field == field
    assert fragment in caught.value.message
    assert len(caught.value.message) < 200  # a huge value is not echoed whole


def test_names_chronos_accepts_that_are_not_shell_names_are_kept() -> None:
    names = ("spring.profiles.active", "HOME-DIR", "1X", "ключ")
    job = job_from_chronos(doc(environmentVariables=env(*((n, "v") for n in names))))
    assert [v.name for v in job.environment_variables] == list(names)


def test_the_bounds_themselves_are_accepted() -> None:
    job = job_from_chronos(
        doc(
            retries=MAX_RETRIES,
            cpus=10_000,
            mem=1e9,
            disk=1e9,
            successCount=2**63 - 1,
            disableAfterFailures=2**31 - 1,
            catchUp={"mode": "all", "limit": MAX_CATCH_UP},
            jitter="P36500D",
            retryBackoff={"first": "P36500D", "cap": "P36500D"},
            environmentVariables=env(("_a1", "value with = and spaces"), ("PATH", "")),
        )
    )
    assert (job.retries, job.catch_up.mode, job.catch_up.limit) == (
        MAX_RETRIES,
        CatchUpMode.ALL,
        MAX_CATCH_UP,
    )
    assert job.jitter == timedelta(days=36_500)


def test_run_environment_overrides_can_be_checked_the_same_way() -> None:
    check_environment([("GOOD", "1"), ("spring.profiles.active", "x")], "environment")
    with pytest.raises(InvalidJob) as caught:
        check_environment([("GOOD", "1"), ("no=good", "2")], "environment")
    assert caught.value.field == "environment[1].name"


def test_a_dependent_job_keeps_its_time_zone_through_chronos_json() -> None:
    job = Job(name="child", command="true", parents=("parent",), schedule_time_zone="Europe/Paris")
    out = job_to_chronos(job)
    assert out["scheduleTimeZone"] == "Europe/Paris" and "schedule" not in out
    assert job_from_chronos(out) == job
    assert "scheduleTimeZone" not in job_to_chronos(
        Job(name="c", parents=("p",))
    )  # Chronos's bytes when unset
