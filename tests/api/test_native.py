"""The native API under /api/v1, in-process against a real Host."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from horae.runtime import FakeRuntime
from horae.server import Host
from horae.store import MemoryStore
from tests.api.conftest import LiveServer, assert_error, assert_no_content, client_for, running_host, wait_for

API = "/api/v1"
RUN_KEYS = {
    "id", "job", "scheduled_for", "attempt", "trigger", "state", "created_at", "due_at", "started_at",
    "finished_at", "exit_code", "reason", "task_id",
}  # fmt: skip


def job(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "command": f"echo {name}", "schedule": "R/2030-01-01T00:00:00Z/PT1H", **fields}


async def create(client: httpx.AsyncClient, doc: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(f"{API}/jobs", json=doc)
    assert response.status_code == 201, response.text
    return dict(response.json())


# ---- jobs ----------------------------------------------------------------------------------------------


async def test_create_get_replace_patch_delete(client: httpx.AsyncClient) -> None:
    created = await create(client, job("etl", owner="me@x"))
    assert created["owner"] == "me@x"
    assert created["status"] == {"last": "fresh", "state": "idle", "nextDue": "2030-01-01T00:00:00Z"}
    assert_error(await client.post(f"{API}/jobs", json=job("etl")), 409, "already exists")

    got = (await client.get(f"{API}/jobs/etl")).json()
    assert got == created

    # a fetched document goes back unchanged: `status` is read-only and ignored
    got["command"] = "echo replaced"
    replaced = await client.put(f"{API}/jobs/etl", json=got)
    assert replaced.status_code == 200
    assert replaced.json()["command"] == "echo replaced"
    fresh = await client.put(f"{API}/jobs/other", json={"command": "true", "schedule": "0 7 * * *"})
    assert fresh.status_code == 201
    assert fresh.json()["name"] == "other"
    assert_error(await client.put(f"{API}/jobs/etl", json=job("not-etl")), 400, "name")

    patched = await client.patch(f"{API}/jobs/etl", json={"description": "nightly load", "retries": 5})
    assert patched.status_code == 200
    body = patched.json()
    assert (body["description"], body["retries"], body["owner"]) == ("nightly load", 5, "me@x")
    # merge patch: null removes, so a scheduled job becomes a dependent one
    converted = await client.patch(f"{API}/jobs/etl", json={"schedule": None, "parents": ["other"]})
    assert converted.status_code == 200
    assert converted.json()["parents"] == ["other"]
    assert "schedule" not in converted.json()
    assert_error(await client.patch(f"{API}/jobs/etl", json={"retries": "x"}), 400, "retries")
    assert_error(await client.patch(f"{API}/jobs/etl", json=[1]), 400, "object")

    assert_no_content(await client.delete(f"{API}/jobs/etl"))
    assert_error(await client.get(f"{API}/jobs/etl"), 404, "Job 'etl' not found")
    assert_error(await client.delete(f"{API}/jobs/etl"), 404)
    assert_error(await client.patch(f"{API}/jobs/etl", json={}), 404)


async def test_invalid_jobs_name_the_field(client: httpx.AsyncClient) -> None:
    error = assert_error(
        await client.post(f"{API}/jobs", json=job("x", scheduleTimeZone="Nowhere/City")), 400
    )
    assert error["field"] == "scheduleTimeZone"
    error = assert_error(await client.post(f"{API}/jobs", json={"name": "x", "command": "true"}), 400)
    assert error["field"] == "schedule"  # no schedule, no parents: natively that is an error
    assert_error(
        await client.post(f"{API}/jobs", content=b"{", headers={"content-type": "application/json"}),
        400,
        "malformed JSON",
    )


async def test_job_list_pages_in_name_order(client: httpx.AsyncClient) -> None:
    for name in ("e", "a", "d", "b", "c", "x-a"):
        await create(client, job(name))
    seen: list[str] = []
    cursor: str | None = ""
    while cursor is not None:
        response = await client.get(f"{API}/jobs", params={"limit": 2, "after": cursor})
        assert response.status_code == 200
        page = response.json()
        assert len(page["jobs"]) <= 2
        seen += [j["name"] for j in page["jobs"]]
        assert all("status" in j for j in page["jobs"])
        cursor = page["next"]
    assert seen == ["a", "b", "c", "d", "e", "x-a"]
    filtered = (await client.get(f"{API}/jobs", params={"name_contains": "A"})).json()
    assert [j["name"] for j in filtered["jobs"]] == ["a", "x-a"]
    assert filtered["next"] is None
    assert_error(await client.get(f"{API}/jobs", params={"limit": 0}), 400, "limit")
    assert_error(await client.get(f"{API}/jobs", params={"limit": 1001}), 400, "limit")


async def test_pause_resume_next_and_success(client: httpx.AsyncClient) -> None:
    await create(client, job("hourly"))
    nxt = await client.get(f"{API}/jobs/hourly/next", params={"count": 3})
    times = ["2030-01-01T00:00:00Z", "2030-01-01T01:00:00Z", "2030-01-01T02:00:00Z"]
    assert nxt.json() == {"times": times, "paused": False}
    assert_error(await client.get(f"{API}/jobs/hourly/next", params={"count": 0}), 400, "count")
    paused = await client.post(f"{API}/jobs/hourly/pause")
    assert paused.status_code == 200
    assert paused.json()["disabled"] is True
    assert paused.json()["status"]["nextDue"] is None
    # a paused job runs at none of its schedule's times
    assert (await client.get(f"{API}/jobs/hourly/next")).json() == {"times": [], "paused": True}
    resumed = await client.post(f"{API}/jobs/hourly/resume")
    assert resumed.json()["disabled"] is False
    assert (await client.get(f"{API}/jobs/hourly/next", params={"count": 3})).json()["times"] == times
    assert_no_content(await client.post(f"{API}/jobs/hourly/success"))
    assert (await client.get(f"{API}/jobs/hourly")).json()["status"]["last"] == "success"
    for action in ("pause", "resume", "success", "kill"):
        assert_error(await client.post(f"{API}/jobs/ghost/{action}"), 404, "ghost")


# ---- runs ----------------------------------------------------------------------------------------------


async def test_manual_run_with_arguments_and_environment(client: httpx.AsyncClient, host: Host) -> None:
    await create(client, job("manual"))
    response = await client.post(
        f"{API}/jobs/manual/runs",
        json={"arguments": ["--day", "2030-01-01"], "environment": {"MODE": "full"}},
    )
    assert response.status_code == 201
    run = response.json()
    assert set(run) == RUN_KEYS | {"output_tail"}
    assert run["trigger"] == "manual"
    assert run["task_id"].endswith(":0:manual:--day 2030-01-01")
    assert run["scheduled_for"].endswith("Z")
    stored = await wait_for(lambda: (r := host.get_run(run["id"])) and r.state.is_final and r)
    assert stored.arguments == ("--day", "2030-01-01")
    assert stored.environment == (("MODE", "full"),)

    detail = (await client.get(f"{API}/runs/{run['id']}")).json()
    assert detail["state"] == "succeeded"
    assert detail["exit_code"] == 0
    assert detail["finished_at"].endswith("Z")

    # an empty body is a plain run now
    assert (await client.post(f"{API}/jobs/manual/runs")).status_code == 201
    assert_error(await client.post(f"{API}/jobs/manual/runs", json={"arguments": "x"}), 400, "arguments")
    for bad in ({"A=B": "1"}, {"": "1"}, {"OK": "nul\0"}):  # what a job's variables refuse too
        assert_error(
            await client.post(f"{API}/jobs/manual/runs", json={"environment": bad}), 400, "environment"
        )
    assert_error(await client.post(f"{API}/jobs/manual/runs", json={"bogus": 1}), 400, "bogus")
    assert_error(await client.post(f"{API}/jobs/ghost/runs"), 404, "ghost")


async def test_run_list_pages_newest_first_and_filters_by_state(
    client: httpx.AsyncClient, host: Host
) -> None:
    await create(client, job("many"))
    ids = []
    for _ in range(5):
        ids.append((await client.post(f"{API}/jobs/many/runs")).json()["id"])
        await wait_for(lambda: host.job_status("many").state == "idle")
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"before": cursor} if cursor else {})
        page = (await client.get(f"{API}/jobs/many/runs", params=params)).json()
        assert all(set(r) == RUN_KEYS for r in page["runs"])
        seen += [r["id"] for r in page["runs"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    succeeded = (await client.get(f"{API}/jobs/many/runs", params={"state": "succeeded,failed"})).json()
    assert len(succeeded["runs"]) == 5
    assert (await client.get(f"{API}/jobs/many/runs", params={"state": "running"})).json()["runs"] == []
    assert_error(await client.get(f"{API}/jobs/many/runs", params={"state": "sleeping"}), 400, "sleeping")
    assert_error(await client.get(f"{API}/jobs/ghost/runs"), 404)
    assert_error(await client.get(f"{API}/runs/ghost:1"), 404, "ghost:1")


async def test_killing_a_run_and_a_job() -> None:
    runtime = FakeRuntime()
    async with running_host(MemoryStore(), runtime) as host, client_for(host) as client:
        await create(client, job("slow", concurrencyPolicy="allow"))
        first = (await client.post(f"{API}/jobs/slow/runs")).json()
        await wait_for(lambda: host.job_status("slow").state == "1 running")
        assert_no_content(await client.post(f"{API}/runs/{first['id']}/kill"))
        await wait_for(lambda: host.get_run(first["id"]).state.value == "killed")  # type: ignore[union-attr]
        second = (await client.post(f"{API}/jobs/slow/runs")).json()
        await wait_for(lambda: host.job_status("slow").state == "1 running")
        assert_no_content(await client.post(f"{API}/jobs/slow/kill"))
        await wait_for(lambda: host.get_run(second["id"]).state.value == "killed")  # type: ignore[union-attr]
        assert_error(await client.post(f"{API}/runs/ghost:1/kill"), 404)


async def test_log_is_the_runs_whole_output(process_client: httpx.AsyncClient, process_host: Host) -> None:
    await create(process_client, job("talk", command="echo first line; echo second line >&2"))
    run = (await process_client.post(f"{API}/jobs/talk/runs")).json()
    await wait_for(lambda: process_host.get_run(run["id"]).state.is_final)  # type: ignore[union-attr]
    log = await process_client.get(f"{API}/runs/{run['id']}/log")
    assert log.status_code == 200
    assert log.headers["content-type"] == "text/plain; charset=utf-8"
    assert log.text == "first line\nsecond line\n"
    assert "second line" in (await process_client.get(f"{API}/runs/{run['id']}")).json()["output_tail"]
    assert_error(await process_client.get(f"{API}/runs/ghost:1/log"), 404)


async def test_log_follow_streams_until_the_run_ends(live_server: LiveServer) -> None:
    # over a real socket: the in-process transport would gather the whole body before returning it
    async with httpx.AsyncClient(base_url=live_server.url) as client:
        await create(client, job("drip", command="echo one; sleep 0.6; echo two; sleep 0.4; echo three"))
        run = (await client.post(f"{API}/jobs/drip/runs")).json()
        chunks: list[str] = []
        async with client.stream("GET", f"{API}/runs/{run['id']}/log", params={"follow": "true"}) as response:
            assert response.status_code == 200
            async for text in response.aiter_text():
                chunks.append(text)
        assert "".join(chunks) == "one\ntwo\nthree\n"
        assert len(chunks) >= 2  # it arrived while the run was going, not all at the end
        assert (await client.get(f"{API}/runs/{run['id']}")).json()["state"] == "succeeded"


# ---- schedule preview ----------------------------------------------------------------------------------


async def test_preview_of_cron_in_a_zone_across_dst(client: httpx.AsyncClient) -> None:
    body = {
        "schedule": "0 7 * * *",
        "timezone": "America/New_York",
        "after": "2030-03-09T00:00:00Z",
        "count": 3,
    }
    response = await client.post(f"{API}/schedules/preview", json=body)
    assert response.status_code == 200
    # US DST starts 2030-03-10: 07:00 local is 12:00Z before, 11:00Z after
    assert response.json() == {
        "times": ["2030-03-09T12:00:00Z", "2030-03-10T11:00:00Z", "2030-03-11T11:00:00Z"]
    }


async def test_preview_of_an_iso_schedule_runs_out(client: httpx.AsyncClient) -> None:
    body = {"schedule": "R2/2030-01-01T00:00:00Z/P1D", "after": "2029-01-01T00:00:00", "count": 10}
    response = await client.post(f"{API}/schedules/preview", json=body)
    assert response.json() == {"times": ["2030-01-01T00:00:00Z", "2030-01-02T00:00:00Z"]}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"schedule": "not a schedule"}, "schedule"),
        ({"schedule": "0 7 * * *", "timezone": "Atlantis/Capital"}, "timezone"),
        ({"schedule": "0 7 * * *", "count": 0}, "count"),
        ({"schedule": "0 7 * * *", "count": 1001}, "count"),
        ({"schedule": "0 7 * * *", "after": "yesterday"}, "after"),
        ({"timezone": "UTC"}, "schedule"),
    ],
)
async def test_preview_errors_name_the_field(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    error = assert_error(await client.post(f"{API}/schedules/preview", json=body), 400, field)
    assert error["field"] == field


async def test_openapi_describes_the_native_api(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    paths = spec["paths"]
    for path in (
        "/api/v1/jobs", "/api/v1/jobs/{name}", "/api/v1/jobs/{name}/runs", "/api/v1/runs/{run_id}",
        "/api/v1/runs/{run_id}/log", "/api/v1/schedules/preview", "/v1/scheduler/iso8601",
    ):  # fmt: skip
        assert path in paths, path
    assert {"JobOut", "RunDetail", "RunList", "JobList", "PreviewRequest", "ErrorOut"} <= set(
        spec["components"]["schemas"]
    )
    create = paths["/api/v1/jobs"]["post"]
    assert "name" in create["requestBody"]["content"]["application/json"]["schema"]["required"]
