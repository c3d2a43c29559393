"""`horae serve --mesos`: the real server, as a subprocess, on a TEST CLUSTER of doubles (a master double
and an agent double that starts the real executor through `horae executor`; see tests/mesos/cluster.py).

A job posted over HTTP and started over HTTP reaches the master as an ACCEPT of a task on the job's
executor, on the agent its constraint names, runs in the executor the agent double started, and its outcome comes back to the server's API.
A restarted server subscribes again as the same framework. Given a ZooKeeper URL, the server subscribes
to the master registered there. Every call the server and the executor sent
is validated against the Mesos v1 protos by the doubles; a test fails if they refused any.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shlex
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kazoo.client import KazooClient  # type: ignore[import-untyped]

from tests.mesos.cluster import TestCluster, two_agent_cluster
from tests.mesos.conftest import mesos_protos  # noqa: F401 - the proto oracle's fixture
from tests.mesos.test_zookeeper import ZOOKEEPER, master_info, zk  # noqa: F401 - the real ZooKeeper fixture

pytestmark = pytest.mark.usefixtures("mesos_protos")

# `horae executor`, spelled so that it runs from this interpreter wherever the agent double starts it.
EXECUTOR = shlex.join([sys.executable, "-c", "from horae.cli import main; main()", "executor"])
JOB = {
    "name": "on-mesos",
    "command": "echo ran on mesos; exit 3",
    "schedule": "R/2099-01-01T00:00:00Z/PT1H",
    "cpus": 0.2,
    "mem": 32,
    "retries": 0,
    "constraints": [["hostname", "EQUALS", "agent2"]],
    "owner": "ops@example.com",
}


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[TestCluster]:
    async with two_agent_cluster(tmp_path / "agents") as c:
        yield c


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`horae serve --mesos …` as a subprocess, answering on its own port."""

    def __init__(self, mesos: str, data_dir: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = [
            "serve",
            "--port",
            str(self.port),
            "--data-dir",
            str(data_dir),
            "--log-level",
            "warning",
            "--mesos",
            mesos,
            "--mesos-role",
            "cron",
            "--framework-name",
            "horae-e2e",
            "--failover-timeout",
            "P2D",
            "--mesos-executor",
            EXECUTOR,
        ]
        self.process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> Server:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HORAE_", "MESOS_"))}
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "from horae.cli import main; main()",
            *self.args,
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        async with httpx.AsyncClient() as client:
            for _ in range(300):
                assert self.process.returncode is None, await self._stderr()
                try:
                    if (await client.get(f"{self.url}/ping")).status_code == 200:
                        return self
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError("horae serve --mesos did not answer in 30 s")

    async def __aexit__(self, *exc: object) -> None:
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        err = await asyncio.wait_for(self._stderr(), 30)
        assert await self.process.wait() == 0, err
        assert "Traceback" not in err, err

    async def _stderr(self) -> str:
        assert self.process is not None and self.process.stderr is not None
        return (await self.process.stderr.read()).decode()


async def _runs(client: httpx.AsyncClient, job: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/jobs/{job}/runs")
    assert response.status_code == 200, response.text
    runs: list[dict[str, Any]] = response.json()["runs"]
    return runs


async def _until_finished(client: httpx.AsyncClient, job: str, within: float = 30.0) -> dict[str, Any]:
    for _ in range(int(within / 0.1)):
        runs = await _runs(client, job)
        if runs and runs[0].get("finished_at"):
            return runs[0]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no run of {job} finished in {within} s: {await _runs(client, job)}")


async def test_a_job_posted_over_http_runs_as_a_mesos_task(cluster: TestCluster, tmp_path: Path) -> None:
    master = cluster.master
    other, agent = cluster.agents["S1"], cluster.agents["S2"]  # the job's constraint picks agent2
    async with (
        Server(master.url, tmp_path / "data") as server,
        httpx.AsyncClient(base_url=server.url) as client,
    ):
        await master.wait_for(lambda: master.subscribed, within=15)
        (subscribe,) = master.of_type("SUBSCRIBE")
        info = subscribe.body["subscribe"]["framework_info"]
        assert (info["name"], info["roles"], info["failover_timeout"]) == ("horae-e2e", ["cron"], 2 * 86400)
        assert info["checkpoint"] is True

        created = await client.post("/v1/scheduler/iso8601", json=JOB)
        assert created.status_code in (200, 204), created.text
        assert not master.of_type("ACCEPT"), "nothing is due before 2099"
        started = await client.put("/v1/scheduler/job/on-mesos")
        assert started.status_code == 204, started.text

        run = await _until_finished(client, "on-mesos")
        assert (run["state"], run["exit_code"], run["trigger"]) == ("failed", 3, "manual"), run

        (accept,) = master.of_type("ACCEPT")
        (operation,) = accept.body["accept"]["operations"]
        (task,) = operation["launch"]["task_infos"]
        assert task["task_id"]["value"].startswith("ct:") and task["task_id"]["value"].endswith(":on-mesos:")
        assert task["executor"]["command"]["value"] == sys.executable
        assert task["executor"]["command"]["arguments"][-1] == "executor"  # the agent ran `horae executor`
        launched = json.loads(base64.b64decode(task["data"]))
        assert "echo ran on mesos" in json.dumps(launched)
        assert task["agent_id"]["value"] == "S2"
        assert agent.started_executors == [task["executor"]["executor_id"]["value"]]
        assert other.started_executors == []
        assert agent.states(task["task_id"]["value"])[-1] == "TASK_FAILED"
        sandbox_log = agent.executors[agent.started_executors[0]].sandbox / f"{task['task_id']['value']}.log"
        assert sandbox_log.read_text().strip() == "ran on mesos"
        framework_id = master.framework_id

    # A restarted server is the same framework: it subscribes with the id it was given and reconciles.
    async with Server(master.url, tmp_path / "data"):
        await master.wait_for(lambda: len(master.of_type("SUBSCRIBE")) == 2 and master.subscribed, within=15)
        again = master.of_type("SUBSCRIBE")[1].body
        assert again["framework_id"]["value"] == framework_id
        assert again["subscribe"]["framework_info"]["id"]["value"] == framework_id


async def test_with_a_zookeeper_url_the_server_finds_the_leading_master(
    cluster: TestCluster,
    zk: tuple[KazooClient, str],  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    client, path = zk
    master = cluster.master
    client.create(f"{path}/json.info_", master_info(master), ephemeral=True, sequence=True)
    async with Server(f"zk://{ZOOKEEPER}{path}", tmp_path / "data"):
        await master.wait_for(lambda: master.subscribed, within=15)
        (subscribe,) = master.of_type("SUBSCRIBE")
        assert subscribe.body["subscribe"]["framework_info"]["name"] == "horae-e2e"
