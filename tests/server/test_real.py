"""The host with real parts: SQLite in a temp dir, the process runtime, and a real server process."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from horae.model import ConcurrencyPolicy, Job, RetryBackoff, Run, RunState, Trigger
from horae.runtime import ProcessRuntime
from horae.server import Host, Settings
from horae.store import SqlStore

EXAMPLES = Path(__file__).parents[2] / "examples"


@pytest.fixture
async def real_host(tmp_path: Path) -> AsyncIterator[Host]:
    settings = Settings(data_dir=tmp_path)
    store = SqlStore(settings.store_url)
    host = Host(store, ProcessRuntime(settings.run_dir), settings=settings)
    await host.start()
    try:
        yield host
    finally:
        await host.stop()
        store.close()


async def wait_final(host: Host, run_id: str, within: float = 15) -> Run:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        run = host.get_run(run_id)
        if run is not None and run.state.is_final:
            return run
        await asyncio.sleep(0.05)
    raise AssertionError(f"{run_id} not final after {within}s: {host.get_run(run_id)}")


async def test_a_real_run_fails_is_retried_and_its_outcome_is_stored(real_host: Host) -> None:
    host = real_host
    job = Job(
        "real",
        command='echo "out-$HORAE_ATTEMPT"; exit 3',
        schedule="R/2099-01-01T00:00:00Z/P1D",
        retries=1,
        retry_backoff=RetryBackoff(first=timedelta(milliseconds=100)),
    )
    await host.save_job(job)
    run = await host.trigger("real")
    final = await wait_final(host, run.id)
    stored = host.store.get_run(run.id)
    assert stored == final
    assert (final.state, final.attempt, final.exit_code) == (RunState.FAILED, 1, 3)
    assert "out-1" in final.output_tail
    log = host.log_path(run.id)
    assert log is not None and "out-1" in log.read_text()
    stored_job = host.store.get_job("real")
    assert stored_job is not None and stored_job.error_count == 1 and stored_job.last_error is not None


async def test_a_real_scheduled_job_runs_every_second(real_host: Host, tmp_path: Path) -> None:
    host = real_host
    marker = tmp_path / "marker"
    await host.save_job(
        Job(
            "each-second",
            command=f'echo "$HORAE_RUN_ID" >> {marker}',
            schedule="* * * * * *",
            concurrency_policy=ConcurrencyPolicy.ALLOW,
        )
    )
    await asyncio.sleep(2.6)
    await host.set_paused("each-second", True)
    await host.settle()
    await asyncio.sleep(0.3)
    runs = host.list_runs("each-second").runs
    assert len(runs) >= 2
    for run in runs:
        final = await wait_final(host, run.id)
        assert final.state is RunState.SUCCEEDED and final.trigger is Trigger.SCHEDULE
        assert final.scheduled_for.microsecond == 0
    assert sorted(marker.read_text().split()) == sorted(r.id for r in runs)
    lateness = host.metrics_text().decode()
    assert "horae_dispatch_lateness_seconds_count" in lateness


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_server_process_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "HORAE_LOG_LEVEL": "warning"}
    cmd = [
        sys.executable,
        "-m",
        "horae.server",
        "--data-dir",
        str(tmp_path),
        "--port",
        str(port),
        "--apply",
        str(EXAMPLES),
    ]
    with subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True) as server:
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    reply = httpx.get(f"http://127.0.0.1:{port}/ping", timeout=1)
                    break
                except httpx.TransportError:
                    assert server.poll() is None, server.stderr.read() if server.stderr else ""
                    assert time.monotonic() < deadline, "no /ping within 20 s"
                    time.sleep(0.1)
            assert reply.text.strip() == "pong"
            jobs = httpx.get(f"http://127.0.0.1:{port}/v1/scheduler/jobs", timeout=5).json()
            assert {"heartbeat", "heartbeat-report", "flaky"} <= {j["name"] for j in jobs}
            server.send_signal(signal.SIGTERM)
            assert server.wait(timeout=15) == 0
        finally:
            if server.poll() is None:
                server.kill()
    assert (tmp_path / "horae.db").exists()


def test_the_docker_runtime_without_an_engine_fails_at_start_up_and_opens_nothing(tmp_path: Path) -> None:
    socket_path = tmp_path / "no-engine.sock"
    cmd = [sys.executable, "-m", "horae.server", "--data-dir", str(tmp_path / "data")]
    cmd += ["--runtime", "docker", "--docker-socket", str(socket_path)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert f"setting 'runtime': no Docker engine answers at {socket_path}" in done.stderr
    assert not (tmp_path / "data").exists()
