"""The Chronos REST contract, endpoint by endpoint, in-process against a real Host."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from horae.api import create_app
from horae.runtime import FakeRuntime
from horae.server import Host
from horae.store import MemoryStore
from tests.api.conftest import JOB, assert_error, assert_no_content, client_for, running_host, wait_for

V1 = "/v1/scheduler"

# Reference §2: POST that body, GET /v1/scheduler/job/hello answers exactly this (then horae's own keys).
CHRONOS_EXAMPLE = {
    "name": "hello", "command": "echo hi", "shell": True, "executor": "", "executorFlags": "", "taskInfoData": "",
    "retries": 2, "owner": "a@b.c", "ownerName": "", "description": "", "successCount": 0, "errorCount": 0,
    "lastSuccess": "", "lastError": "", "cpus": 0.1, "disk": 256.0, "mem": 128.0, "disabled": False,
    "softError": False, "dataProcessingJobType": False, "errorsSinceLastSuccess": 0, "fetch": [], "uris": [],
    "environmentVariables": [], "arguments": [], "highPriority": False, "runAsUser": "root", "concurrent": False,
    "maxCompletionTime": 0, "constraints": [], "schedule": "R/2030-01-01T00:00:00Z/PT1H", "scheduleTimeZone": "",
}  # fmt: skip
HORAE_KEYS = ["concurrencyPolicy", "catchUp", "retryBackoff", "disableAfterFailures", "jitter"]
EMPTY_STAT = (
    '{"histogram":{"75thPercentile":0.0,"95thPercentile":0.0,"98thPercentile":0.0,"99thPercentile":0.0,'
    '"median":0.0,"mean":0.0,"count":0},"taskStatHistory":[]}'
)


def job(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "command": f"echo {name}", "schedule": "R/2030-01-01T00:00:00Z/PT1H", **fields}


async def post(client: httpx.AsyncClient, doc: dict[str, Any], path: str = "iso8601") -> None:
    assert_no_content(await client.post(f"{V1}/{path}", json=doc))


# ---- jobs ---------------------------------------------------------------------------------------------


async def test_get_job_answers_the_reference_example_then_horaes_own_keys(client: httpx.AsyncClient) -> None:
    assert_no_content(await client.post(f"{V1}/iso8601", json=JOB))
    response = await client.get(f"{V1}/job/hello")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body)[: len(CHRONOS_EXAMPLE)] == list(CHRONOS_EXAMPLE)
    assert {k: body[k] for k in CHRONOS_EXAMPLE} == CHRONOS_EXAMPLE
    assert list(body)[len(CHRONOS_EXAMPLE) :] == HORAE_KEYS
    # the float formatting Chronos clients see
    assert '"cpus":0.1,"disk":256.0,"mem":128.0' in response.text


async def test_list_jobs_mirrors_fetch_and_uris(client: httpx.AsyncClient) -> None:
    await post(client, job("with-uris", uris=["http://x/a.tgz"]))
    await post(client, job("with-fetch", fetch=[{"uri": "http://x/b.sh", "executable": True}]))
    response = await client.get(f"{V1}/jobs")
    assert response.status_code == 200
    jobs = {j["name"]: j for j in response.json()}
    assert jobs["with-uris"]["fetch"] == [
        {"uri": "http://x/a.tgz", "executable": False, "cache": False, "extract": True}
    ]
    assert jobs["with-uris"]["uris"] == ["http://x/a.tgz"]
    assert jobs["with-fetch"]["uris"] == ["http://x/b.sh"]
    # only the list mirrors: the job itself keeps what was stored
    single = (await client.get(f"{V1}/job/with-fetch")).json()
    assert single["uris"] == []


async def test_list_jobs_of_an_empty_server_is_an_empty_array(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{V1}/jobs")
    assert response.status_code == 200
    assert response.json() == []


async def test_search_follows_chronos_filter_including_its_quirks(client: httpx.AsyncClient) -> None:
    await post(client, job("alpha", command="run extract"))
    await post(client, job("beta", command="run load"))
    await post(client, job("gamma", command="backup"))

    async def names(**params: Any) -> list[str]:
        response = await client.get(f"{V1}/jobs/search", params=params)
        assert response.status_code == 200
        return [j["name"] for j in response.json()]

    assert await names(name="ALP") == ["alpha"]
    assert await names(command="run") == ["alpha", "beta"]
    assert await names(name="a", command="load") == ["beta"]
    assert await names(any="nothing-matches") == ["alpha", "beta", "gamma"]  # `any` alone never excludes
    assert await names(name="gamma", any="extract") == ["alpha", "gamma"]  # name OR any
    assert await names(command="backup", limit=5, offset=0) == ["gamma"]
    assert await names(limit=1, offset=1) == ["beta"]


async def test_search_returns_ten_jobs_unless_told_otherwise(client: httpx.AsyncClient) -> None:
    for i in range(12):
        await post(client, job(f"job-{i:02d}"))
    assert len((await client.get(f"{V1}/jobs/search")).json()) == 10
    assert len((await client.get(f"{V1}/jobs/search", params={"limit": 20})).json()) == 12
    assert len((await client.get(f"{V1}/jobs/search", params={"offset": 10})).json()) == 2
    assert_error(await client.get(f"{V1}/jobs/search", params={"limit": "ten"}), 400, "limit")


async def test_summary_has_the_uis_columns(client: httpx.AsyncClient) -> None:
    await post(client, job("parent"))
    await post(client, {"name": "child", "command": "true", "parents": ["parent"]}, "dependency")
    response = await client.get(f"{V1}/jobs/summary")
    assert response.status_code == 200
    assert response.json() == {
        "jobs": [
            {"name": "child", "status": "fresh", "state": "idle", "schedule": "", "parents": ["parent"], "disabled": False},
            {"name": "parent", "status": "fresh", "state": "idle", "schedule": job("p")["schedule"], "parents": [], "disabled": False},
        ]
    }  # fmt: skip


async def test_unknown_job_is_chronos_400(client: httpx.AsyncClient) -> None:
    expected = {"status": "Bad Request", "message": "Job 'nope' not found"}
    for method, path in [
        ("GET", "job/nope"),
        ("PUT", "job/nope"),
        ("DELETE", "job/nope"),
        ("GET", "job/stat/nope"),
        ("DELETE", "task/kill/nope"),
        ("POST", "job/nope/task/ct:1:0:nope:/progress"),
    ]:
        for prefix in (V1, "/scheduler"):
            response = await client.request(method, f"{prefix}/{path}")
            assert response.status_code == 400, (method, path)
            assert response.json() == expected


async def test_manual_run_is_204_and_strips_semicolons_from_arguments(
    client: httpx.AsyncClient, host: Host
) -> None:
    await post(client, JOB)
    assert_no_content(await client.put(f"{V1}/job/hello", params={"arguments": "-c 1 ; ./evil.sh"}))
    page = await wait_for(lambda: host.list_runs("hello").runs)
    run = page[0]
    assert run.arguments == ("-c 1  ./evil.sh",)
    assert run.task_id().endswith(":0:hello:-c 1  ./evil.sh")
    runs = (await client.get("/api/v1/jobs/hello/runs")).json()["runs"]
    assert runs[0]["trigger"] == "manual"
    assert runs[0]["task_id"] == run.task_id()


async def test_manual_run_without_arguments_uses_the_jobs(client: httpx.AsyncClient, host: Host) -> None:
    await post(client, job("args", arguments=["x", "y"]))
    assert_no_content(await client.put(f"{V1}/job/args"))
    run = (await wait_for(lambda: host.list_runs("args").runs))[0]
    assert run.arguments is None
    assert run.task_id(("x", "y")).endswith(":0:args:x y")


async def test_delete_is_204_then_the_job_is_gone(client: httpx.AsyncClient) -> None:
    await post(client, JOB)
    assert_no_content(await client.delete(f"{V1}/job/hello"))
    assert_error(await client.get(f"{V1}/job/hello"), 400, "Job 'hello' not found")


async def test_mark_success_answers_plain_text(client: httpx.AsyncClient) -> None:
    await post(client, JOB)
    response = await client.put(f"{V1}/job/success/hello")
    assert response.status_code == 200
    assert response.text == "marked job hello as successful: true"
    assert response.headers["content-type"].startswith("text/plain")
    assert (await client.get(f"{V1}/job/hello")).json()["successCount"] == 1
    unknown = await client.put(f"{V1}/job/success/nope")
    assert unknown.status_code == 200
    assert unknown.text == "marked job nope as successful: false"


async def test_job_stat_of_a_job_that_never_ran_is_the_exact_zero_payload(client: httpx.AsyncClient) -> None:
    await post(client, JOB)
    response = await client.get(f"{V1}/job/stat/hello")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.text == EMPTY_STAT


async def test_job_stat_counts_finished_runs(client: httpx.AsyncClient, host: Host) -> None:
    await post(client, JOB)
    assert_no_content(await client.put(f"{V1}/job/hello"))
    await wait_for(lambda: host.job_histogram("hello").count == 1)
    body = (await client.get(f"{V1}/job/stat/hello")).json()
    assert list(body["histogram"]) == ["75thPercentile", "95thPercentile", "98thPercentile", "99thPercentile", "median", "mean", "count"]  # fmt: skip
    assert body["histogram"]["count"] == 1
    assert body["taskStatHistory"] == []


async def test_progress_is_accepted_for_data_jobs_only(client: httpx.AsyncClient) -> None:
    await post(client, job("data", dataProcessingJobType=True))
    await post(client, job("plain"))
    url = f"{V1}/job/data/task/ct%3A1420843781398%3A0%3Adata%3A/progress"
    assert_no_content(await client.post(url, json={"numAdditionalElementsProcessed": 5}))
    assert_no_content(await client.post(url, json={"numAdditionalElementsProcessed": 0}))
    assert_error(
        await client.post(url, json={"numAdditionalElementsProcessed": -1}),
        400,
        "numAdditionalElementsProcessed",
    )
    assert_error(await client.post(f"{V1}/job/data/task/not-a-task/progress", json={}), 400, "taskId")
    plain = f"{V1}/job/plain/task/ct:1:0:plain:/progress"
    assert_error(
        await client.post(plain, json={"numAdditionalElementsProcessed": 1}), 400, "dataProcessingJobType"
    )


# ---- saving jobs ---------------------------------------------------------------------------------------


async def test_iso8601_replaces_a_job_wholesale(client: httpx.AsyncClient) -> None:
    await post(client, job("j", owner="first@x", description="keep?"))
    await post(client, job("j", command="echo second"))
    body = (await client.get(f"{V1}/job/j")).json()
    assert body["command"] == "echo second"
    assert body["owner"] == ""
    assert body["description"] == ""


async def test_neither_schedule_nor_parents_runs_once_now(client: httpx.AsyncClient, host: Host) -> None:
    before = datetime.now(UTC)
    await post(client, {"name": "once", "command": "true"})
    body = (await client.get(f"{V1}/job/once")).json()
    m = re.fullmatch(r"R1/(.+)/PT24H", body["schedule"])
    assert m, body["schedule"]
    start = datetime.fromisoformat(m[1])
    assert before - timedelta(seconds=1) <= start <= datetime.now(UTC) + timedelta(seconds=1)
    await wait_for(lambda: host.get_job("once").success_count == 1)  # type: ignore[union-attr]


async def test_a_body_with_parents_is_a_dependent_job_on_either_path(client: httpx.AsyncClient) -> None:
    await post(client, job("p"))
    await post(client, {"name": "c1", "command": "true", "parents": ["p"]}, "dependency")
    await post(client, {"name": "c2", "command": "true", "parents": ["p"]}, "iso8601")
    for name in ("c1", "c2"):
        body = (await client.get(f"{V1}/job/{name}")).json()
        assert body["parents"] == ["p"]
        assert "schedule" not in body


async def test_dependency_without_parents_names_the_field(client: httpx.AsyncClient) -> None:
    body = assert_error(
        await client.post(f"{V1}/dependency", json={"name": "c", "command": "true"}), 400, "parents"
    )
    assert body["field"] == "parents"


@pytest.mark.parametrize(
    ("body", "field", "needle"),
    [
        (b"{not json", None, "malformed JSON"),
        (b"", None, "empty"),
        (b"[1, 2]", "job", "object"),
        (b'{"command": "true", "schedule": "R/2030-01-01T00:00:00Z/PT1H"}', "name", "required"),
        (json.dumps(job("x", retries="many")).encode(), "retries", "integer"),
        (json.dumps(job("x", cpus=[1])).encode(), "cpus", "number"),
        (json.dumps(job("x", environmentVariables=[{"name": "A"}])).encode(), "environmentVariables[0].value", "required"),
        (json.dumps(job("x", schedule="every day")).encode(), "schedule", ""),
        (json.dumps(job("x", scheduleTimeZone="Mars/Olympus_Mons")).encode(), "scheduleTimeZone", ""),
        (json.dumps(job("bad name!")).encode(), "name", ""),
        (json.dumps({"name": "c", "command": "true", "parents": ["ghost"]}).encode(), "parents", "ghost"),
    ],
)  # fmt: skip
async def test_bad_bodies_are_400s_naming_the_field(
    client: httpx.AsyncClient, body: bytes, field: str | None, needle: str
) -> None:
    response = await client.post(f"{V1}/iso8601", content=body, headers={"content-type": "application/json"})
    error = assert_error(response, 400, needle)
    if field is not None:
        assert error["field"] == field
        assert error["message"].startswith(f"{field}: ")


async def test_a_cycle_is_a_400_naming_it(client: httpx.AsyncClient) -> None:
    await post(client, job("a"))
    await post(client, {"name": "b", "command": "true", "parents": ["a"]}, "dependency")
    await post(client, {"name": "c", "command": "true", "parents": ["b"]}, "dependency")
    # turning a into a child of c closes the loop a -> b -> c -> a
    response = await client.post(f"{V1}/dependency", json={"name": "a", "command": "true", "parents": ["c"]})
    error = assert_error(response, 400, "cycle")
    assert error["field"] == "parents"
    assert all(name in error["message"] for name in "abc")


async def test_v1_refuses_put_on_save_paths_as_chronos_3(client: httpx.AsyncClient) -> None:
    assert_error(await client.put(f"{V1}/iso8601", json=JOB), 405, "PUT")


# ---- legacy 2.x paths ----------------------------------------------------------------------------------


async def test_legacy_paths_serve_the_same_api(client: httpx.AsyncClient) -> None:
    assert_no_content(
        await client.put("/scheduler/iso8601", json={**JOB, "async": False, "epsilon": "PT30S"})
    )
    assert_no_content(
        await client.post(
            "/scheduler/dependency", json={"name": "kid", "command": "true", "parents": ["hello"]}
        )
    )
    assert_no_content(
        await client.put(
            "/scheduler/dependency", json={"name": "kid", "command": "false", "parents": ["hello"]}
        )
    )
    names = [j["name"] for j in (await client.get("/scheduler/jobs")).json()]
    assert names == ["hello", "kid"]
    assert (await client.get("/scheduler/job/kid")).json()["command"] == "false"
    assert (
        await client.get("/scheduler/graph/csv")
    ).text == "node,hello,fresh,idle\nnode,kid,fresh,idle\nlink,hello,kid\n"
    assert (await client.get("/scheduler/job/stat/hello")).text == EMPTY_STAT
    assert_no_content(await client.delete("/scheduler/job/kid"))


async def test_async_completion_finishes_a_running_task() -> None:
    runtime = FakeRuntime()  # runs stay running until told
    async with running_host(MemoryStore(), runtime) as host, client_for(host) as client:
        await post(client, JOB)
        assert_no_content(await client.put(f"{V1}/job/hello"))
        run = (
            await wait_for(lambda: [r for r in host.list_runs("hello").runs if r.state.value == "running"])
        )[0]
        task_id = run.task_id()
        response = await client.put(f"/scheduler/task/{task_id}", json={"statusCode": 0})
        assert_no_content(response)
        await wait_for(lambda: host.get_run(run.id).state.value == "succeeded")  # type: ignore[union-attr]
        assert_error(await client.put(f"/scheduler/task/{task_id}", json={"statusCode": 0}), 400, "not found")
        assert_error(
            await client.put(f"/scheduler/task/{task_id}", json={"statusCode": "zero"}), 400, "statusCode"
        )
        # 3.x removed it
        assert_error(await client.put(f"{V1}/task/{task_id}", json={"statusCode": 0}), 404)


async def test_purging_tasks_cancels_runs_not_yet_started_and_spares_running_ones() -> None:
    async with running_host(MemoryStore(), FakeRuntime()) as host, client_for(host) as client:
        await post(client, job("q", concurrencyPolicy="queue"))
        assert_no_content(await client.put(f"{V1}/job/q"))
        await wait_for(lambda: host.job_status("q").state == "1 running")
        await asyncio.sleep(0.002)  # the next manual run gets its own instant
        assert_no_content(await client.put(f"{V1}/job/q"))
        runs = await wait_for(lambda: len(host.list_runs("q").runs) == 2 and host.list_runs("q").runs)
        assert sorted(r.state.value for r in runs) == ["queued", "running"]
        assert_no_content(await client.delete("/scheduler/task/all"))
        await wait_for(
            lambda: sorted(r.state.value for r in host.list_runs("q").runs) == ["killed", "running"]
        )


async def test_kill_tasks_kills_the_running_run() -> None:
    runtime = FakeRuntime()
    async with running_host(MemoryStore(), runtime) as host, client_for(host) as client:
        await post(client, JOB)
        assert_no_content(await client.put(f"{V1}/job/hello"))
        await wait_for(lambda: host.job_status("hello").state == "1 running")
        assert_no_content(await client.delete(f"{V1}/task/kill/hello"))
        await wait_for(lambda: host.list_runs("hello").runs[0].state.value == "killed")
        assert runtime.kills


# ---- graph, stats, leader, ping, metrics -----------------------------------------------------------------


async def test_graph_dot_is_jgrapht_text(client: httpx.AsyncClient) -> None:
    await post(client, job("a"))
    await post(client, job("b"))
    await post(client, {"name": "c", "command": "true", "parents": ["a", "b"]}, "dependency")
    response = await client.get(f"{V1}/graph/dot")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text == (
        'digraph G {\n  1 [ label="a" ];\n  2 [ label="b" ];\n  3 [ label="c" ];\n  1 -> 3;\n  2 -> 3;\n}\n'
    )


async def test_graph_csv_lists_nodes_then_links(client: httpx.AsyncClient, host: Host) -> None:
    await post(client, job("a"))
    await post(client, {"name": "b", "command": "true", "parents": ["a"]}, "dependency")
    assert_no_content(await client.put(f"{V1}/job/a"))
    await wait_for(lambda: host.get_job("a").success_count == 1)  # type: ignore[union-attr]
    await wait_for(lambda: host.get_job("b").success_count == 1)  # type: ignore[union-attr]
    response = await client.get(f"{V1}/graph/csv")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text == "node,a,success,idle\nnode,b,success,idle\nlink,a,b\n"


async def test_an_empty_graph_is_204_not_an_empty_200(client: httpx.AsyncClient) -> None:
    assert_no_content(await client.get(f"{V1}/graph/csv"))
    dot = await client.get(f"{V1}/graph/dot")
    assert dot.text == "digraph G {\n}\n"


async def test_stats_list_every_job_slowest_first() -> None:
    offset = timedelta(0)
    clock = lambda: datetime.now(UTC) + offset  # noqa: E731
    runtime = FakeRuntime(clock=clock)  # a run is dated by the finish its runtime reports
    async with running_host(MemoryStore(), runtime, clock=clock) as host, client_for(host) as client:
        for name in ("never-ran", "ran"):
            await post(client, job(name))
        assert_no_content(await client.put(f"{V1}/job/ran"))
        await wait_for(lambda: runtime.running)
        offset = timedelta(seconds=2.5)  # the run takes 2.5 s
        runtime.finish(next(iter(runtime.running)), 0)
        await wait_for(lambda: host.job_histogram("ran").count == 1)
        assert host.job_histogram("ran").median >= 2500
        await check_stats(client, host)


async def check_stats(client: httpx.AsyncClient, host: Host) -> None:
    for key in ("99thPercentile", "98thPercentile", "95thPercentile", "75thPercentile", "median", "mean"):
        response = await client.get(f"{V1}/stats/{key}")
        assert response.status_code == 200
        rows = response.json()
        assert [set(r) for r in rows] == [{"jobNameLabel", "time"}] * 2
        assert rows[-1] == {"jobNameLabel": "never-ran", "time": 0.0}
        assert rows[0]["jobNameLabel"] == "ran"
        assert rows[0]["time"] == host.job_histogram("ran").as_chronos()[key] / 1000.0
    assert (await client.get(f"{V1}/stats/42ndPercentile")).json() == []


async def test_leader_ping_and_metrics(client: httpx.AsyncClient) -> None:
    assert (await client.get(f"{V1}/leader")).json() == {"leader": "127.0.0.1:4400"}
    ping = await client.get("/ping")
    assert (ping.status_code, ping.text) == (200, "pong\n")
    assert ping.headers["content-type"].startswith("text/plain")
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "# TYPE horae_" in metrics.text


# ---- plumbing ------------------------------------------------------------------------------------------


async def test_every_response_allows_any_origin(client: httpx.AsyncClient) -> None:
    await post(client, JOB)
    for response in [
        await client.get(f"{V1}/jobs"),
        await client.put(f"{V1}/job/hello"),
        await client.get(f"{V1}/job/nope"),
        await client.get("/no/such/path"),
        await client.get("/ping"),
    ]:
        assert response.headers["access-control-allow-origin"] == "*"


async def test_preflight_is_answered(client: httpx.AsyncClient) -> None:
    response = await client.options(
        f"{V1}/iso8601", headers={"Origin": "http://ui", "Access-Control-Request-Method": "POST"}
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert "POST" in response.headers["access-control-allow-methods"]


async def test_unknown_paths_and_methods_use_the_envelope(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/v1/scheduler/nothing"), 404, "/v1/scheduler/nothing")
    assert_error(await client.delete(f"{V1}/jobs"), 405, "DELETE")


class _Broken:
    """A service whose every read fails unexpectedly."""

    def list_jobs(self, **kwargs: Any) -> Any:
        raise RuntimeError("secret internal detail")

    def get_job(self, name: str) -> Any:
        raise KeyError("secret internal detail")


async def test_unexpected_errors_are_a_generic_500_envelope(caplog: pytest.LogCaptureFixture) -> None:
    app = create_app(_Broken())  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://horae") as client:
        for path in (f"{V1}/jobs", f"{V1}/job/x", "/api/v1/jobs/x"):
            response = await client.get(path)
            body = assert_error(response, 500)
            assert "secret" not in response.text
            assert body["message"] == "internal server error; see the server log"
            assert response.headers["access-control-allow-origin"] == "*"
    assert "secret internal detail" in caplog.text  # the trace is in the server log
