"""Issue 5's end-to-end scenario through the real `horae serve --mesos` on a two-agent test cluster.

A job due every 2 s for 60 occurrences is posted over HTTP. Mid-way the server is killed with SIGKILL and
started again on the same data dir. The job's catch-up policy is `all`, so occurrences that fell due while
the server was down are run on restart rather than dropped. What is asserted: one executor launched for
the job (the restarted server reuses it), every one of the 60 occurrences has exactly one run and it
succeeded, the agents saw 60 tasks reach TASK_FINISHED, the second SUBSCRIBE carries the first framework
id, and a RECONCILE comes before any ACCEPT after the restart.
"""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.mesos.cluster import TestCluster
from tests.mesos.conftest import mesos_protos  # noqa: F401 - the proto oracle's fixture
from tests.server.test_mesos_serve import Server, cluster  # noqa: F401 - the test cluster's fixture

pytestmark = [pytest.mark.usefixtures("mesos_protos"), pytest.mark.slow, pytest.mark.timeout(180)]

RUNS = 60


async def _runs(client: httpx.AsyncClient, job: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/jobs/{job}/runs", params={"limit": 1000})
    assert response.status_code == 200, response.text
    runs: list[dict[str, Any]] = response.json()["runs"]
    return runs


async def _until(client: httpx.AsyncClient, job: str, finished: int, within: float) -> list[dict[str, Any]]:
    for _ in range(int(within / 0.5)):
        runs = await _runs(client, job)
        if sum(1 for r in runs if r.get("finished_at")) >= finished:
            return runs
        await asyncio.sleep(0.5)
    raise AssertionError(f"fewer than {finished} runs of {job} finished in {within} s")


async def test_sixty_runs_every_two_seconds_survive_a_killed_server(
    cluster: TestCluster,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    master = cluster.master
    start = (datetime.now(UTC) + timedelta(seconds=4)).replace(microsecond=0)
    job = {
        "name": "every-2s",
        "command": "true",
        "schedule": f"R{RUNS}/{start.strftime('%Y-%m-%dT%H:%M:%SZ')}/PT2S",
        "cpus": 0.1,
        "mem": 16,
        "retries": 0,
        "catchUp": "all",
        "owner": "ops@example.com",
    }
    first = Server(master.url, tmp_path / "data")
    await first.__aenter__()
    assert first.process is not None
    async with httpx.AsyncClient(base_url=first.url) as client:
        await master.wait_for(lambda: master.subscribed, within=15)
        created = await client.post("/v1/scheduler/iso8601", json=job)
        assert created.status_code in (200, 204), created.text
        await _until(client, "every-2s", 25, within=90)
    first.process.send_signal(signal.SIGKILL)
    await first.process.wait()
    framework_id = master.framework_id
    calls_before = len(master.calls)

    async with (
        Server(master.url, tmp_path / "data") as second,
        httpx.AsyncClient(base_url=second.url) as client,
    ):
        await master.wait_for(lambda: len(master.of_type("SUBSCRIBE")) == 2 and master.subscribed, within=15)
        runs = await _until(client, "every-2s", RUNS, within=150)
        await asyncio.sleep(2.5)  # nothing beyond the 60th occurrence
        runs = await _runs(client, "every-2s")

    again = master.of_type("SUBSCRIBE")[1].body
    assert again["framework_id"]["value"] == framework_id
    after = [c.type for c in master.calls[calls_before:]]
    assert "RECONCILE" in after and "ACCEPT" in after
    assert after.index("RECONCILE") < after.index("ACCEPT"), after

    expected = [(start + timedelta(seconds=2 * n)).strftime("%Y-%m-%dT%H:%M:%S") for n in range(RUNS)]
    scheduled = sorted(r["scheduled_for"][:19] for r in runs)
    assert scheduled == expected, "each occurrence has exactly one run"
    assert {r["state"] for r in runs} == {"succeeded"}, runs

    executors = {
        task["executor"]["executor_id"]["value"]
        for accept in master.of_type("ACCEPT")
        for operation in accept.body["accept"]["operations"]
        for task in operation["launch"]["task_infos"]
    }
    assert len(executors) == 1, executors
    assert sum(len(a.started_executors) for a in cluster.agents.values()) == 1
    states = [state for _, state in master.tasks.values()]
    assert states == ["TASK_FINISHED"] * RUNS, states
