"""The real server with the Docker engine: a Chronos job with a container runs in one warm container.

Needs dockerd and the test images (tests/runtime/docker_images.py): skipped locally without them, failed
under CI.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from horae.runtime import ProcessRuntime, RoutedRuntime
from horae.server import Settings
from horae.server._serve import choose_runtime
from horae.store import SqlStore
from tests.conftest import service_missing
from tests.runtime.docker_images import BUSYBOX_IMAGE, engine_missing, ensure_images, remove_containers
from tests.server.test_real import free_port

T = TypeVar("T")


@pytest.fixture
def engine() -> None:
    reason = engine_missing()
    if reason is not None:
        service_missing(reason)
    ensure_images()


def containers(home: Path, job: str) -> list[str]:
    """Ids of every container, running or not, that the server with this data directory made for `job`."""
    filters = ["--filter", f"label=horae.home={home}", "--filter", f"label=horae.job={job}"]
    listed = subprocess.run(
        ["docker", "ps", "-aq", "--no-trunc", *filters],
        capture_output=True,
        text=True,
        check=True,
    )
    return listed.stdout.split()


def wait_for(what: str, probe: Callable[[], T | None], within: float = 30) -> T:
    deadline = time.monotonic() + within
    while True:
        found = probe()
        if found is not None:
            return found
        assert time.monotonic() < deadline, f"{what}: not within {within} s"
        time.sleep(0.1)


@contextmanager
def serving(data: Path) -> Iterator[str]:
    """`python -m horae.server` with runtime auto, SQLite in `data` and the real engine; its URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HORAE_")}
    cmd = [sys.executable, "-m", "horae.server", "--data-dir", str(data), "--port", str(port)]
    cmd += ["--runtime", "auto", "--log-level", "info"]
    url = f"http://127.0.0.1:{port}"
    with subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True) as process:
        try:

            def ready() -> bool | None:
                assert process.poll() is None, process.communicate()[1]
                try:
                    return httpx.get(f"{url}/ping", timeout=1).status_code == 200 or None
                except httpx.TransportError:
                    return None

            wait_for("the server answers /ping", ready)
            yield url
        finally:
            process.send_signal(signal.SIGTERM)
            _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "Traceback" not in err


@pytest.fixture
def server(engine: None, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A server (its URL) and the directory its containers are labelled with."""
    data = tmp_path / "data"
    try:
        with serving(data) as url:
            yield url, data / "containers"
    finally:
        remove_containers(str(data / "containers"))


def runs(url: str, job: str) -> list[dict[str, Any]]:
    reply = httpx.get(f"{url}/api/v1/jobs/{job}/runs", params={"limit": 100}, timeout=5)
    reply.raise_for_status()
    found: list[dict[str, Any]] = reply.json()["runs"]
    return found


def test_a_chronos_job_with_a_container_runs_every_time_in_one_warm_container_removed_with_the_job(
    server: tuple[str, Path],
) -> None:
    url, home = server
    job = {
        "name": "warm-echo",
        "command": "echo ran-in-$(hostname)",
        "schedule": "R/2020-01-01T00:00:00Z/PT1S",
        "container": {"type": "DOCKER", "image": BUSYBOX_IMAGE, "network": "BRIDGE"},
        "cpus": 0.1,
        "mem": 64,
    }
    created = httpx.post(f"{url}/v1/scheduler/iso8601", json=job, timeout=10)
    assert created.status_code == 204, created.text
    seen: set[str] = set()

    def several_done() -> list[dict[str, Any]] | None:
        seen.update(containers(home, "warm-echo"))
        done = [r for r in runs(url, "warm-echo") if r["state"] not in ("pending", "running", "skipped")]
        return done if len(done) >= 4 else None

    # (An occurrence that falls while the first run still waits for its new container is skipped: the
    # job's concurrency policy is Chronos's default, one run at a time.)
    done = wait_for("four finished runs", several_done, within=60)
    assert {r["state"] for r in done} == {"succeeded"}, done
    assert len(seen) == 1, f"containers seen across runs: {seen}"
    (container,) = seen
    for run in done:
        detail = httpx.get(f"{url}/api/v1/runs/{run['id']}", timeout=5).json()
        assert detail["output_tail"].strip() == f"ran-in-{container[:12]}", detail
    assert containers(home, "warm-echo") == [container]

    deleted = httpx.delete(f"{url}/v1/scheduler/job/warm-echo", timeout=10)
    assert deleted.status_code == 204, deleted.text
    wait_for("the container is removed", lambda: True if not containers(home, "warm-echo") else None)


def test_pausing_a_container_job_removes_its_container(server: tuple[str, Path]) -> None:
    url, home = server
    job = {"name": "paused", "command": "true", "container": {"type": "DOCKER", "image": BUSYBOX_IMAGE}}
    job["schedule"] = "R/2099-01-01T00:00:00Z/P1D"
    assert httpx.post(f"{url}/api/v1/jobs", json=job, timeout=10).status_code == 201
    run = httpx.post(f"{url}/api/v1/jobs/paused/runs", json={}, timeout=10).json()

    def finished() -> dict[str, Any] | None:
        current: dict[str, Any] = httpx.get(f"{url}/api/v1/runs/{run['id']}", timeout=5).json()
        return current if current["state"] not in ("pending", "running") else None

    assert wait_for("the manual run ends", finished)["state"] == "succeeded"
    assert len(containers(home, "paused")) == 1
    assert httpx.post(f"{url}/api/v1/jobs/paused/pause", timeout=10).status_code == 200
    wait_for("the container is removed", lambda: True if not containers(home, "paused") else None)


def test_a_restarted_server_removes_the_container_of_a_job_deleted_while_it_was_down(
    engine: None, tmp_path: Path
) -> None:
    data, home = tmp_path / "data", tmp_path / "data" / "containers"
    job = {"name": "left", "command": "true", "container": {"type": "DOCKER", "image": BUSYBOX_IMAGE}}
    job["schedule"] = "R/2099-01-01T00:00:00Z/P1D"
    try:
        with serving(data) as url:
            assert httpx.post(f"{url}/api/v1/jobs", json=job, timeout=10).status_code == 201
            run = httpx.post(f"{url}/api/v1/jobs/left/runs", json={}, timeout=10).json()
            wait_for(
                "the manual run ends",
                lambda: (
                    httpx.get(f"{url}/api/v1/runs/{run['id']}", timeout=5).json()["state"] == "succeeded"
                    or None
                ),
            )
        assert len(containers(home, "left")) == 1  # the warm container outlives the server
        store = SqlStore(f"sqlite:///{data / 'horae.db'}")
        assert store.delete_job("left")
        store.close()
        with serving(data):
            wait_for("the container is removed", lambda: True if not containers(home, "left") else None)
    finally:
        remove_containers(str(home))


async def test_auto_uses_docker_for_container_jobs_when_the_engine_answers(
    engine: None, tmp_path: Path
) -> None:
    runtime = await choose_runtime(Settings(data_dir=tmp_path, runtime="auto"))
    assert isinstance(runtime, RoutedRuntime)
    assert runtime.docker.run_dir == tmp_path / "containers"


async def test_auto_without_an_engine_runs_everything_as_processes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(data_dir=tmp_path, runtime="auto", docker_socket=tmp_path / "none.sock")
    runtime = await choose_runtime(settings)
    assert isinstance(runtime, ProcessRuntime)
    assert f"no Docker engine answers at {tmp_path / 'none.sock'}" in caplog.text
    assert isinstance(await choose_runtime(Settings(data_dir=tmp_path, runtime="process")), ProcessRuntime)
