"""Docker-specific behaviour of DockerRuntime against the real engine (the contract suite covers the rest)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from horae.model import Container, ContainerMode, ExitKind, KeyValue, Launch, RunFinished, RunLost, RunStarted
from horae.runtime import LaunchFailed, ProcessRuntime, RoutedRuntime
from horae.runtime.docker import DockerRuntime, host_limit_warnings
from horae.runtime.docker._spec import container_spec
from tests.conftest import IN_CI, service_missing
from tests.runtime.conftest import GRACE, Recorder, eventually
from tests.runtime.docker_images import (
    BUSYBOX_IMAGE,
    NOSHELL_IMAGE,
    DisposableDockerRuntime,
    engine_missing,
    ensure_images,
)

pytestmark = pytest.mark.timeout(60)

BUSYBOX = Container(image=BUSYBOX_IMAGE, network="NONE")


def run(
    run_id: str,
    *argv: str,
    container: Container = BUSYBOX,
    mem: float = 64.0,
    timeout: float | None = None,
    env: tuple[tuple[str, str], ...] = (),
) -> Launch:
    return Launch(
        run_id=run_id,
        job=run_id.rpartition(":")[0],
        attempt=1,
        task_id="t",
        argv=argv,
        environment=env,
        container=container,
        mem=mem,
        timeout=None if timeout is None else timedelta(seconds=timeout),
    )


def labelled(home: Path) -> list[str]:
    out = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=horae.home={home}"], capture_output=True, text=True
    )
    return out.stdout.split()


@pytest.fixture(scope="session")
def images() -> None:
    reason = engine_missing()
    if reason is not None:
        service_missing(reason)
    ensure_images()


@pytest.fixture
async def docker(images: None, tmp_path: Path) -> AsyncIterator[tuple[DockerRuntime, Recorder]]:
    runtime = DisposableDockerRuntime(tmp_path / "runs", timeout_grace=GRACE)
    events = Recorder()
    await runtime.start(events)
    try:
        yield runtime, events
    finally:
        await runtime.close()


async def test_one_warm_container_serves_every_run(docker: tuple[DockerRuntime, Recorder]) -> None:
    runtime, events = docker
    for i in range(30):
        await runtime.launch(run(f"warm:{i}", "/bin/sh", "-c", f"echo run {i}; exit {i % 3}"))
    for i in range(30):
        end = await events.end_of(f"warm:{i}")
        assert isinstance(end, RunFinished)
        assert (end.exit_code, end.output_tail) == (i % 3, f"run {i}\n")
    assert runtime.containers_created == 1
    assert len(labelled(runtime.run_dir)) == 1
    started = events.of("warm:0")[0]
    assert isinstance(started, RunStarted) and "image sha256:" in started.detail
    log = runtime.log_path("warm:7", 1)
    assert log is not None and log.read_text() == "run 7\n"


async def test_a_routed_reconcile_during_a_container_launch_leaves_it_to_the_launch(
    images: None, tmp_path: Path
) -> None:
    # The routed runtime decides by the attempt's directory, which a launch under way may not have yet.
    docker = DisposableDockerRuntime(tmp_path / "docker", timeout_grace=GRACE)
    runtime = RoutedRuntime(ProcessRuntime(tmp_path / "plain", timeout_grace=GRACE), docker)
    events = Recorder()
    await runtime.start(events)
    try:
        task = asyncio.create_task(runtime.launch(run("routed:1", "sleep", "30")))
        await asyncio.sleep(0)  # under way: its container is being created
        await runtime.reconcile([("routed:1", 1)])
        await task
        assert [type(e) for e in events.of("routed:1")] == [RunStarted]
        await runtime.kill("routed:1", grace=timedelta(0))
        assert isinstance(await events.end_of("routed:1", within=10), RunFinished)
    finally:
        await runtime.close()


async def test_lines_on_the_events_fifo_that_do_not_parse_are_skipped(
    docker: tuple[DockerRuntime, Recorder],
) -> None:
    # The FIFO lies in the job's directory, where a run may write: garbage must not lose real events.
    runtime, events = docker
    await runtime.launch(run("noisy:1", "/bin/sh", "-c", "sleep 0.3"))
    (fifo,) = (runtime.run_dir / "noisy" / ".launcher").glob("*/events")
    with fifo.open("w") as f:
        f.write("s 1/1 nonsense\np 1/1 -3\nx 1/1 ???\nready\n\n")
    end = await events.end_of("noisy:1", within=10)
    assert isinstance(end, RunFinished) and end.succeeded


async def test_a_mesos_container_runs_its_image_in_docker(docker: tuple[DockerRuntime, Recorder]) -> None:
    runtime, events = docker
    mesos = dataclasses.replace(BUSYBOX, type="MESOS")
    for i in range(2):
        await runtime.launch(run(f"mesos:{i}", "/bin/sh", "-c", "cat /etc/hostname", container=mesos))
        end = await events.end_of(f"mesos:{i}")
        assert isinstance(end, RunFinished) and end.succeeded
    assert runtime.containers_created == 1  # warm, like a DOCKER one


async def test_config_change_recreates_and_retire_removes(docker: tuple[DockerRuntime, Recorder]) -> None:
    runtime, events = docker
    await runtime.launch(run("conf:1", "true", mem=64))
    await events.end_of("conf:1")
    [first] = runtime.containers()
    await runtime.launch(run("conf:2", "true", mem=96))
    await events.end_of("conf:2")
    [second] = runtime.containers()
    assert first != second and runtime.containers_created == 2
    await eventually(lambda: labelled(runtime.run_dir) == [second[:12]], within=10)
    await runtime.retire("conf")
    # The engine removes it first; the runtime forgets it when the removal call returns.
    await eventually(lambda: labelled(runtime.run_dir) == [] and runtime.containers() == {}, within=10)


async def test_a_run_past_the_memory_limit_is_oom_killed(docker: tuple[DockerRuntime, Recorder]) -> None:
    runtime, events = docker
    await runtime.launch(run("oom:1", "dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1", mem=16))
    end = await events.end_of("oom:1", within=10)
    assert isinstance(end, RunFinished)
    assert (end.kind, end.signal) == (ExitKind.OOM_KILLED, 9)
    # The container survives its run's OOM kill and serves the next run.
    await runtime.launch(run("oom:2", "true", mem=16))
    assert isinstance(end := await events.end_of("oom:2"), RunFinished) and end.succeeded


async def test_image_without_a_shell_runs_through_the_mounted_busybox(
    docker: tuple[DockerRuntime, Recorder],
) -> None:
    runtime, events = docker
    noshell = Container(image=NOSHELL_IMAGE, network="NONE")
    await runtime.launch(run("noshell:1", "/tini", "--version", container=noshell))
    end = await events.end_of("noshell:1", within=10)
    assert isinstance(end, RunFinished) and end.succeeded
    assert end.output_tail.startswith("tini version")


async def test_missing_image_fails_the_launch_clearly(docker: tuple[DockerRuntime, Recorder]) -> None:
    runtime, _ = docker
    missing = Container(image="horae-test/never-built:1", network="NONE")
    with pytest.raises(LaunchFailed, match="cannot pull image horae-test/never-built:1"):
        await runtime.launch(run("missing:1", "true", container=missing))


async def test_timeout_in_a_container(docker: tuple[DockerRuntime, Recorder]) -> None:
    runtime, events = docker
    await runtime.launch(run("slow:1", "sleep", "30", timeout=0.3))
    end = await events.end_of("slow:1")
    assert isinstance(end, RunFinished) and end.kind is ExitKind.TIMED_OUT


@pytest.mark.parametrize("how", ["kill", "rm"])
async def test_a_container_that_goes_away_ends_its_runs_as_lost(
    docker: tuple[DockerRuntime, Recorder], how: str
) -> None:
    runtime, events = docker
    await runtime.launch(run("gone:1", "sleep", "30"))
    [container] = runtime.containers()
    command = ["docker", "kill", container] if how == "kill" else ["docker", "rm", "-f", container]
    await asyncio.to_thread(subprocess.run, command, capture_output=True, check=True)
    end = await events.end_of("gone:1", within=5)
    assert isinstance(end, RunLost) and container[:12] in end.reason
    # The next launch gets a new container.
    await runtime.launch(run("gone:2", "true"))
    assert isinstance(await events.end_of("gone:2"), RunFinished)
    assert runtime.containers_created == 2


async def test_a_new_instance_collects_runs_that_ended_and_adopts_running_ones(
    images: None, tmp_path: Path
) -> None:
    first = DockerRuntime(tmp_path / "runs", timeout_grace=GRACE)
    await first.start(Recorder())
    await first.launch(run("restart:1", "/bin/sh", "-c", "sleep 0.3; exit 7"))
    await first.launch(run("restart:2", "/bin/sh", "-c", "sleep 1.5; echo late; exit 5"))
    await first.close()  # horae goes away; the runs go on
    await asyncio.sleep(0.6)
    second = DisposableDockerRuntime(tmp_path / "runs", timeout_grace=GRACE)
    events = Recorder()
    await second.start(events)
    try:
        await second.reconcile([("restart:1", 1), ("restart:2", 1), ("restart:3", 1)])
        ended = await events.end_of("restart:1")
        assert isinstance(ended, RunFinished) and ended.exit_code == 7
        assert isinstance(events.of("restart:2")[0], RunStarted)
        late = await events.end_of("restart:2", within=5)
        assert isinstance(late, RunFinished) and (late.exit_code, late.output_tail) == (5, "late\n")
        assert isinstance(await events.end_of("restart:3"), RunLost)
        # The adopted warm container serves new runs.
        await second.launch(run("restart:4", "true"))
        assert isinstance(await events.end_of("restart:4"), RunFinished)
        assert second.containers_created == 0
    finally:
        await second.close()


@pytest.mark.parametrize("mode", [ContainerMode.EXEC, ContainerMode.FRESH])
async def test_exec_and_fresh_modes_keep_the_job_semantics(
    docker: tuple[DockerRuntime, Recorder], mode: ContainerMode
) -> None:
    runtime, events = docker
    container = Container(image=BUSYBOX_IMAGE, network="NONE", mode=mode)
    await runtime.launch(
        run(
            "mode:1",
            "/bin/sh",
            "-c",
            "echo $GREETING; exit 4",
            container=container,
            env=(("GREETING", "hi"),),
        )
    )
    end = await events.end_of("mode:1", within=10)
    assert isinstance(end, RunFinished)
    assert (end.exit_code, end.output_tail) == (4, "hi\n")
    await runtime.launch(run("mode:2", "sleep", "30", container=container))
    await runtime.kill("mode:2", grace=timedelta(seconds=1))
    killed = await events.end_of("mode:2", within=10)
    assert isinstance(killed, RunFinished) and killed.kind is ExitKind.KILLED
    if mode is ContainerMode.FRESH:
        assert runtime.containers_created == 2
        await eventually(lambda: labelled(runtime.run_dir) == [], within=10)
    else:
        assert runtime.containers_created == 1


@pytest.mark.skipif(
    not (IN_CI or os.environ.get("HORAE_TEST_RESTART_DOCKERD")),
    reason="restarts dockerd: only under CI or with HORAE_TEST_RESTART_DOCKERD=1",
)
async def test_a_restart_of_dockerd_is_survived(docker: tuple[DockerRuntime, Recorder]) -> None:
    runtime, events = docker
    await runtime.launch(run("daemon:1", "sleep", "60"))
    await asyncio.to_thread(_restart_dockerd)
    end = await events.end_of("daemon:1", within=30)
    assert isinstance(end, RunLost)
    await eventually(lambda: runtime.containers() == {}, within=10)
    await runtime.launch(run("daemon:2", "true"))
    assert isinstance(await events.end_of("daemon:2", within=10), RunFinished)


def _restart_dockerd() -> None:
    pid = int(Path("/var/run/docker.pid").read_text())
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    # The restarted dockerd outlives the test, on purpose: started through a shell that exits at once, so
    # it belongs to no Popen of this process (which would warn, at exit, that it is still running).
    subprocess.run(
        ["sh", "-c", '"$@" </dev/null >>/tmp/dockerd.log 2>&1 &', "sh", *[a.decode() for a in argv]],
        start_new_session=True,
        check=True,
    )
    while subprocess.run(["docker", "version"], capture_output=True).returncode != 0:
        if time.monotonic() > deadline + 30:
            raise TimeoutError("dockerd did not come back")
        time.sleep(0.2)


# -- without the engine ----------------------------------------------------------------------------------


def test_host_limit_warnings_name_the_sysctl(tmp_path: Path) -> None:
    (tmp_path / "kernel/keys").mkdir(parents=True)
    (tmp_path / "kernel/keys/root_maxkeys").write_text("200\n")
    (tmp_path / "kernel/keys/maxkeys").write_text("1000000\n")
    (tmp_path / "kernel/pid_max").write_text("32768\n")
    warnings = host_limit_warnings(tmp_path)
    assert len(warnings) == 2
    assert "sysctl -w kernel.keys.root_maxkeys=1000000" in warnings[0]
    assert "kernel.pid_max = 32768" in warnings[1] and "2621 warm containers" in warnings[1]


def test_config_hash_follows_what_needs_a_new_container() -> None:
    base = run("h:1", "true")
    key = container_spec(base, cpu_quota=False).key
    assert container_spec(run("h:2", "false", env=(("A", "1"),)), cpu_quota=False).key == key
    assert container_spec(run("h:1", "true", mem=65), cpu_quota=False).key != key
    other = Container(image=BUSYBOX_IMAGE, network="HOST")
    assert container_spec(run("h:1", "true", container=other), cpu_quota=False).key != key
    odd = Container(image=BUSYBOX_IMAGE, parameters=(KeyValue("volumes-from", "x"),))
    with pytest.raises(LaunchFailed, match="volumes-from"):
        container_spec(run("h:1", "true", container=odd), cpu_quota=False)
