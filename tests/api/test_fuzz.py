"""Fuzz every operation of the OpenAPI spec with schemathesis against a real server: no input, however
odd, gets a 5xx, and every answer matches the spec's status codes, content types and schemas."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from horae.runtime import FakeRuntime
from tests.api.conftest import LiveServer

MAX_EXAMPLES = 25
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
SEEDED = {"name": "a", "command": "true", "schedule": "R/2030-01-01T00:00:00Z/PT1H"}


@pytest.fixture
def fuzz_server(tmp_path: Path) -> Iterator[LiveServer]:
    # SQLite as deployed, but a runtime that runs nothing: generated commands are not executed.
    server = LiveServer(tmp_path, runtime=lambda _settings: FakeRuntime(auto_finish=0))
    server.start()
    with httpx.Client(base_url=server.url) as client:
        assert client.post("/api/v1/jobs", json=SEEDED).status_code == 201
        assert client.post("/api/v1/jobs", json={**SEEDED, "name": "0"}).status_code == 201
        run = client.post("/api/v1/jobs/a/runs")
        assert run.status_code == 201
        server.run_id = run.json()["id"]  # type: ignore[attr-defined]
    yield server
    server.stop()


def steer(case: schemathesis.Case, existing: bool, valid_schedule: bool, run_id: str) -> schemathesis.Case:
    """Point some cases at things that exist and give some job bodies a schedule that parses, so the
    fuzzing gets past "not found" and "invalid" into the code that saves and runs."""
    if existing:
        if "name" in (case.path_parameters or {}):
            case.path_parameters["name"] = "a"
        if "run_id" in (case.path_parameters or {}):
            case.path_parameters["run_id"] = run_id
    if valid_schedule and isinstance(case.body, dict) and case.operation.path.endswith("/preview"):
        case.body.update(schedule="*/5 * * * *", timezone="Europe/Paris")
    elif valid_schedule and isinstance(case.body, dict) and "/jobs" in case.operation.path:
        case.body.pop("parents", None)
        case.body.update(schedule="R/2030-01-01T00:00:00Z/PT1H", scheduleTimeZone="")
    return case


@pytest.mark.slow
def test_native_api_survives_generated_requests(fuzz_server: LiveServer) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzz_server.url}/openapi.json")
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if not operation.path.startswith("/api/v1/") or operation.path.endswith("/log"):
            continue  # /log with follow=true streams until the run ends; it is tested directly
        operations += 1

        run_id = fuzz_server.run_id  # type: ignore[attr-defined]
        cases = st.builds(steer, operation.as_strategy(), st.booleans(), st.booleans(), st.just(run_id))

        @given(case=cases)
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=fuzz_server.url, checks=CHECKS)

        with httpx.Client(base_url=fuzz_server.url) as client:  # what the last operation deleted comes back
            for name in ("a", "0"):
                assert client.put(f"/api/v1/jobs/{name}", json={**SEEDED, "name": name}).status_code in (
                    200,
                    201,
                )
        try:
            fuzz()
        except Exception as e:  # assertion errors and schemathesis's failure groups: report them all at once
            failures.append(f"{operation.method.upper()} {operation.path}: {e}")
    assert operations >= 15
    assert not failures, "\n\n".join(failures)
