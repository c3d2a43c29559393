"""The real executor (`python -m horae.mesos.executor`, a subprocess) against the agent double."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from horae.mesos._tasks import ExecutorSpec, executor_info, task_info
from horae.mesos.executor import parse_duration
from horae.model import Container, Launch
from tests.conftest import service_missing
from tests.mesos.fake_agent import FakeAgent
from tests.runtime.docker_images import BUSYBOX_IMAGE, engine_missing, ensure_images, remove_containers

pytestmark = pytest.mark.usefixtures("mesos_protos")

FRAMEWORK_ID = "fw-1"
EXECUTOR = ExecutorSpec(command=(sys.executable, "-m", "horae.mesos.executor"))


def task(
    n: int,
    command: str,
    job: str = "tick",
    container: Container | None = None,
    executor: ExecutorSpec = EXECUTOR,
) -> dict[str, Any]:
    launch = Launch(
        run_id=f"{job}:{n}",
        job=job,
        attempt=0,
        task_id=f"ct:{n}:0:{job}:",
        argv=("/bin/sh", "-c", command),
        environment=(("RUN", str(n)),),
        cpus=0.1,
        mem=32.0,
        disk=0.0,
        container=container,
    )
    return task_info(launch, "S1", executor_info(launch, executor))


def test_durations_in_the_agents_format() -> None:
    assert parse_duration("5secs") == 5.0
    assert parse_duration("15mins") == 900.0
    assert parse_duration("200ms") == pytest.approx(0.2)
    with pytest.raises(ValueError, match="duration"):
        parse_duration("5s")


async def test_runs_are_processes_of_one_executor(agent: FakeAgent) -> None:
    first = task(1, 'echo "run $RUN"')
    await agent.launch(FRAMEWORK_ID, first)
    await agent.wait_for(lambda: "TASK_FINISHED" in agent.states("ct:1:0:tick:"))
    second = task(2, "exit 3")
    await agent.launch(FRAMEWORK_ID, second)
    await agent.wait_for(lambda: "TASK_FAILED" in agent.states("ct:2:0:tick:"))
    assert agent.started_executors == [first["executor"]["executor_id"]["value"]]
    assert agent.states("ct:1:0:tick:") == ["TASK_RUNNING", "TASK_FINISHED"]
    assert agent.status_data("ct:2:0:tick:", "TASK_FAILED") == {"exit_code": 3}
    (slot,) = agent.executors.values()
    assert (slot.sandbox / "ct:1:0:tick:.log").read_text() == "run 1\n"
    assert slot.process.returncode is None, "the executor stays for the next run"


async def test_kill_stops_the_whole_process_group(agent: FakeAgent, tmp_path: Path) -> None:
    child_pid = tmp_path / "child.pid"
    await agent.launch(FRAMEWORK_ID, task(1, f"sleep 60 & echo $! > {child_pid}; wait"))
    await agent.wait_for(lambda: child_pid.exists() and child_pid.read_text().strip() != "")
    (slot,) = agent.executors.values()
    agent.kill(slot.executor_id, "ct:1:0:tick:", grace_ns=500_000_000)
    await agent.wait_for(lambda: "TASK_KILLED" in agent.states("ct:1:0:tick:"))
    pid = int(child_pid.read_text())
    await agent.wait_for(lambda: not _alive(pid), within=3)


async def test_shutdown_kills_runs_and_ends_the_executor(agent: FakeAgent) -> None:
    await agent.launch(FRAMEWORK_ID, task(1, "sleep 60"))
    await agent.wait_for(lambda: "TASK_RUNNING" in agent.states("ct:1:0:tick:"))
    (slot,) = agent.executors.values()
    agent.shutdown(slot.executor_id)
    await agent.wait_for(lambda: "TASK_KILLED" in agent.states("ct:1:0:tick:"))
    assert await asyncio.wait_for(slot.process.wait(), 10) == 0


async def test_after_an_agent_restart_it_resubscribes_with_what_was_not_acknowledged(
    agent: FakeAgent,
) -> None:
    agent.acknowledge = False
    await agent.launch(FRAMEWORK_ID, task(1, "sleep 0.5"))
    await agent.wait_for(lambda: "TASK_RUNNING" in agent.states("ct:1:0:tick:"))
    agent.restart()
    await asyncio.sleep(0.8)  # the run ends while the agent is down: its update cannot be delivered
    agent.acknowledge = True
    agent.recovered()
    (slot,) = agent.executors.values()
    await agent.wait_for(lambda: len(slot.subscribes) >= 2)
    resubscribe = slot.subscribes[-1]["subscribe"]
    assert [t["task_id"]["value"] for t in resubscribe["unacknowledged_tasks"]] == ["ct:1:0:tick:"]
    resent = {u["status"]["state"] for u in resubscribe["unacknowledged_updates"]}
    assert "TASK_RUNNING" in resent
    await agent.wait_for(lambda: "TASK_FINISHED" in agent.states("ct:1:0:tick:"))
    assert agent.states("ct:1:0:tick:") == ["TASK_RUNNING", "TASK_FINISHED"], "each update taken once"
    assert slot.process.returncode is None, "with checkpointing the executor survives the restart"


async def test_without_checkpointing_a_lost_agent_ends_the_executor_and_its_runs(tmp_path: Path) -> None:
    agent = FakeAgent("S1", tmp_path, checkpoint=False)
    await agent.start()
    try:
        child_pid = tmp_path / "pid"
        await agent.launch(FRAMEWORK_ID, task(1, f"echo $$ > {child_pid}; exec sleep 60"))
        await agent.wait_for(lambda: child_pid.exists() and child_pid.read_text().strip() != "")
        agent.restart()
        (slot,) = agent.executors.values()
        assert await asyncio.wait_for(slot.process.wait(), 15) == 1
        assert not _alive(int(child_pid.read_text()))
    finally:
        await agent.stop()
    assert agent.rejected == []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie is dead
        return f.read().split()[2] != "Z"


def _exists_here(path: str) -> bool:
    return Path(path).exists()


def _containers_of(job: str) -> list[str]:
    out = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=horae.job={job}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()


async def test_runs_of_a_container_job_are_spawned_in_its_one_warm_container(agent: FakeAgent) -> None:
    reason = engine_missing()
    if reason is not None:
        service_missing(reason)
    ensure_images()
    job = f"boxed-{secrets.token_hex(4)}"
    mark = f"/root/horae-mark-{job}"  # written inside the container only
    container = Container(image=BUSYBOX_IMAGE)
    first = task(1, f"echo $RUN > {mark}; echo ran $RUN", job=job, container=container)
    assert "container" not in first["executor"], "the executor is a plain process on the agent"
    try:
        await agent.launch(FRAMEWORK_ID, first)
        await agent.wait_for(lambda: "TASK_FINISHED" in agent.states(f"ct:1:0:{job}:"), within=60)
        (created,) = _containers_of(job)
        await agent.launch(FRAMEWORK_ID, task(2, f"cat {mark}; echo ran $RUN", job=job, container=container))
        await agent.wait_for(lambda: "TASK_FINISHED" in agent.states(f"ct:2:0:{job}:"), within=30)
        assert _containers_of(job) == [created], "both runs used the job's one container"
        assert agent.states(f"ct:1:0:{job}:") == ["TASK_RUNNING", "TASK_FINISHED"]
        (slot,) = agent.executors.values()
        assert (slot.sandbox / f"ct:1:0:{job}:.log").read_text() == "ran 1\n"
        assert (slot.sandbox / f"ct:2:0:{job}:.log").read_text() == "1\nran 2\n", "the first run's file"
        assert not _exists_here(mark), "the runs wrote inside the container, not on the agent"
        agent.shutdown(slot.executor_id)
        assert await asyncio.wait_for(slot.process.wait(), 30) == 0
        assert _containers_of(job) == [], "SHUTDOWN removes the job's container"
    finally:
        for slot in agent.executors.values():
            remove_containers(str(slot.sandbox / "containers"))
