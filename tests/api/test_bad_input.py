"""Input at the edges of what the wire allows: huge numbers, malformed cursors and task ids, unknown keys.
Each is a 400 naming the field, over a real SQL store, and nothing stored changes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from horae.api._jobkeys import ACCEPTED_KEYS, JOB_KEYS
from horae.api._wire import NativeJobDocument
from horae.model import Container, Job, job_to_chronos
from horae.runtime import FakeRuntime
from horae.server import Host
from tests.api.conftest import (
    JOB,
    assert_error,
    assert_no_content,
    client_for,
    running_host,
    sqlite_host,
    wait_for,
)
from tests.server.test_host import FailingOnceStore  # its next commit fails: a full disk

API = "/api/v1"


@pytest.fixture
async def sql_host(tmp_path: Path) -> AsyncIterator[Host]:
    """A real Host over SQLite whose runs stay running until told, so tasks can be completed by id."""
    async with sqlite_host(tmp_path, FakeRuntime()) as h:
        yield h


@pytest.fixture
async def sql_client(sql_host: Host) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(sql_host) as c:
        yield c


async def running_task(client: httpx.AsyncClient, host: Host) -> str:
    assert (await client.post(f"{API}/jobs", json={**JOB, "retries": 0})).status_code == 201
    run = (await client.post(f"{API}/jobs/hello/runs")).json()
    await wait_for(lambda: host.job_status("hello").state == "1 running")
    return str(run["task_id"])


@pytest.mark.parametrize(
    "task_id",
    [
        "ct:" + "9" * 30 + ":0:hello:",  # milliseconds beyond any datetime
        "ct:" + "9" * 5000 + ":0:hello:",  # beyond Python's int parsing limit
        "ct:1:" + "9" * 5000 + ":hello:",
    ],
)
async def test_task_completion_with_an_out_of_range_task_id_names_it(
    sql_client: httpx.AsyncClient, sql_host: Host, task_id: str
) -> None:
    await running_task(sql_client, sql_host)
    assert_error(await sql_client.put(f"/scheduler/task/{task_id}", json={"statusCode": 0}), 400, "taskId")
    url = f"/v1/scheduler/job/hello/task/{task_id}/progress"
    assert_error(await sql_client.post(url, json={}), 400, "taskId")


@pytest.mark.parametrize("code", [2**31, -(2**31) - 1, 10**20])
async def test_task_completion_with_a_status_code_beyond_int32_is_refused(
    sql_client: httpx.AsyncClient, sql_host: Host, code: int
) -> None:
    task_id = await running_task(sql_client, sql_host)
    body = assert_error(await sql_client.put(f"/scheduler/task/{task_id}", json={"statusCode": code}), 400)
    assert body["field"] == "statusCode"
    assert (await sql_client.get(f"{API}/jobs/hello")).json()["status"]["state"] == "1 running"
    # the task is still open and completes with a code in range
    assert_no_content(await sql_client.put(f"/scheduler/task/{task_id}", json={"statusCode": 2**31 - 1}))
    runs = (await sql_client.get(f"{API}/jobs/hello/runs")).json()["runs"]
    await wait_for(lambda: sql_host.job_status("hello").state == "idle")
    run = (await sql_client.get(f"{API}/runs/{runs[0]['id']}")).json()
    assert (run["state"], run["exit_code"]) == ("failed", 2**31 - 1)


@pytest.mark.parametrize(
    "cursor", ["9" * 30, "-" + "9" * 30, "9" * 5000, "12abc", " 12", "1_000", "+5", "１２", "0x10"]
)
async def test_a_run_cursor_the_api_never_gave_out_names_before(
    sql_client: httpx.AsyncClient, cursor: str
) -> None:
    assert (await sql_client.post(f"{API}/jobs", json=JOB)).status_code == 201
    response = await sql_client.get(f"{API}/jobs/hello/runs", params={"before": cursor})
    body = assert_error(response, 400, "before")
    assert body["field"] == "before"


async def test_a_cursor_given_out_pages_on(sql_client: httpx.AsyncClient, sql_host: Host) -> None:
    assert (await sql_client.post(f"{API}/jobs", json=JOB)).status_code == 201
    first = (await sql_client.post(f"{API}/jobs/hello/runs")).json()
    page = (await sql_client.get(f"{API}/jobs/hello/runs", params={"limit": 1})).json()
    assert [r["id"] for r in page["runs"]] == [first["id"]]
    cursor = first["id"].rsplit(":", 1)[1]
    assert (await sql_client.get(f"{API}/jobs/hello/runs", params={"before": cursor})).json()["runs"] == []
    later = (await sql_client.get(f"{API}/jobs/hello/runs", params={"before": str(int(cursor) + 1)})).json()
    assert [r["id"] for r in later["runs"]] == [first["id"]]


async def test_a_number_too_long_to_parse_is_malformed_json(sql_client: httpx.AsyncClient) -> None:
    huge = b'{"name": "n", "retries": ' + b"9" * 5000 + b"}"
    assert_error(await sql_client.post(f"{API}/jobs", content=huge), 400, "malformed JSON", "digits")
    assert_error(await sql_client.put("/scheduler/task/ct:1:0:n:", content=huge), 400, "malformed JSON")
    assert_error(await sql_client.get(f"{API}/jobs/n"), 404)


# ---- unknown keys --------------------------------------------------------------------------------------


async def test_native_job_writes_refuse_unknown_keys_and_keep_the_job(sql_client: httpx.AsyncClient) -> None:
    stored = (await sql_client.post(f"{API}/jobs", json=JOB)).json()
    body = assert_error(await sql_client.post(f"{API}/jobs", json={**JOB, "name": "b", "comand": "x"}), 400)
    assert body["field"] == "comand"
    assert "comand" in body["message"]
    assert_error(await sql_client.get(f"{API}/jobs/b"), 404)
    replaced = await sql_client.put(
        f"{API}/jobs/hello", json={**JOB, "schedul": "R/2030-01-01T00:00:00Z/PT2H"}
    )
    assert assert_error(replaced, 400, "schedul")["field"] == "schedul"
    patched = await sql_client.patch(f"{API}/jobs/hello", json={"retires": 3})
    assert assert_error(patched, 400, "retires")["field"] == "retires"
    after = (await sql_client.get(f"{API}/jobs/hello")).json()
    assert {k: v for k, v in after.items() if k != "status"} == {
        k: v for k, v in stored.items() if k != "status"
    }


async def test_native_job_writes_accept_every_key_a_job_document_has(sql_client: httpx.AsyncClient) -> None:
    stored = (await sql_client.post(f"{API}/jobs", json=JOB)).json()
    assert (await sql_client.put(f"{API}/jobs/hello", json=stored)).status_code == 200  # status included
    legacy: dict[str, Any] = {**JOB, "name": "old", "epsilon": "PT1M", "timeout": "PT30S", "async": False}
    created = await sql_client.post(f"{API}/jobs", json=legacy)
    assert created.status_code == 201, created.text
    assert created.json()["startingDeadline"] == "PT1M"
    assert created.json()["maxCompletionTime"] == 30


async def test_chronos_routes_still_ignore_unknown_keys(sql_client: httpx.AsyncClient) -> None:
    assert_no_content(await sql_client.post("/v1/scheduler/iso8601", json={**JOB, "somethingNew": 1}))
    assert (await sql_client.get("/v1/scheduler/job/hello")).status_code == 200


def test_the_accepted_keys_are_the_documented_ones_and_every_key_a_job_is_written_with() -> None:
    schema = NativeJobDocument.model_json_schema()
    assert set(schema["properties"]) == ACCEPTED_KEYS
    assert schema["additionalProperties"] is False
    dependent = Job(
        name="d", parents=("a",), starting_deadline=timedelta(minutes=1), container=Container("x")
    )
    scheduled = Job(name="s", schedule="R/2030-01-01T00:00:00Z/PT1H")
    assert set(job_to_chronos(dependent)) | set(job_to_chronos(scheduled)) == JOB_KEYS


async def test_a_store_that_fails_to_commit_is_a_503_and_nothing_is_half_done() -> None:
    store = FailingOnceStore()
    async with running_host(store, FakeRuntime()) as host, client_for(host) as client:
        store.fail_next = True
        response = await client.post(f"{API}/jobs", json=JOB)
        assert_error(response, 503, "disk full")
        assert response.headers["retry-after"] == "1"
        assert store.load_jobs() == []
        # Once the server has restored its state from the store, the same request goes through.
        assert (await client.post(f"{API}/jobs", json=JOB)).status_code == 201
        assert [j.name for j in store.load_jobs()] == [JOB["name"]]
