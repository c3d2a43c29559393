"""A real horae server for CLI tests: `Host` with a real store and runtime, the real HTTP app, served by
uvicorn on a free 127.0.0.1 port from a background thread. Reusable: `live_server` gives SQLite + processes;
`start_server(...)` builds other combinations (several servers, MemoryStore, FakeRuntime, auth)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from typer.testing import CliRunner, Result

from horae.api import create_app
from horae.cli import app
from horae.cli._client import auth_headers
from horae.runtime import FakeRuntime, ProcessRuntime, Runtime
from horae.server import Host, Settings
from horae.store import MemoryStore, SqlStore, Store

T = TypeVar("T")


@dataclass
class LiveServer:
    """A running server: `url` for clients; `call` runs a coroutine on its loop (to reach `host`)."""

    url: str
    host: Host
    store: Store
    runtime: Runtime
    loop: asyncio.AbstractEventLoop
    _stop: Callable[[], None] = field(repr=False)
    headers: dict[str, str] = field(default_factory=dict)

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 10) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self._stop()

    def wait_for_run(self, run_id: str, *states: str, timeout: float = 15) -> dict[str, Any]:
        """The run's document (`GET /api/v1/runs/{id}`) once it is in one of `states`."""
        deadline = time.monotonic() + timeout
        while True:
            run: dict[str, Any] = httpx.get(f"{self.url}/api/v1/runs/{run_id}", headers=self.headers).json()
            if run.get("state") in states:
                return run
            if time.monotonic() > deadline:
                raise AssertionError(f"run {run_id} did not reach {states} in {timeout}s: {run}")
            time.sleep(0.05)


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def start_server(
    data_dir: Path,
    *,
    store: str = "sqlite",
    runtime: str = "process",
    auth: tuple[str, str] | None = None,
    token: str | None = None,
) -> LiveServer:
    """Start a server in a background thread; returns once it answers HTTP."""
    data_dir.mkdir(parents=True, exist_ok=True)
    the_store: Store = SqlStore(f"sqlite:///{data_dir / 'horae.db'}") if store == "sqlite" else MemoryStore()
    the_runtime: Runtime = ProcessRuntime(data_dir / "runs") if runtime == "process" else FakeRuntime()
    host = Host(the_store, the_runtime, settings=Settings(data_dir=data_dir))
    sock = _free_socket()
    port = sock.getsockname()[1]
    loop = asyncio.new_event_loop()
    ready: Future[uvicorn.Server] = Future()

    async def serve() -> None:
        try:
            await host.start()
            config = uvicorn.Config(
                create_app(host, auth=auth, token=token),
                log_level="warning",
                lifespan="off",
                access_log=False,
            )
            server = uvicorn.Server(config)
            task = asyncio.ensure_future(server.serve(sockets=[sock]))
            while not server.started and not task.done():  # noqa: ASYNC110 - uvicorn offers no event
                await asyncio.sleep(0.01)
            ready.set_result(server)
            await task
        except BaseException as e:
            if not ready.done():
                ready.set_exception(e)
            raise
        finally:
            await host.stop()

    def thread_main() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(serve())
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    thread = threading.Thread(target=thread_main, name=f"horae-test-server-{port}", daemon=True)
    thread.start()
    server = ready.result(timeout=30)

    def stop() -> None:
        if not thread.is_alive():
            return
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
        the_store.close()

    headers = auth_headers(":".join(auth) if auth else None, token)
    return LiveServer(f"http://127.0.0.1:{port}", host, the_store, the_runtime, loop, stop, headers)


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """A factory of servers, all stopped at the end of the test."""
    started: list[LiveServer] = []

    def make(name: str = "horae", **kwargs: Any) -> LiveServer:
        server = start_server(tmp_path / name, **kwargs)
        started.append(server)
        return server

    yield make
    for server in reversed(started):
        server.stop()


@pytest.fixture
def live_server(servers: Callable[..., LiveServer]) -> LiveServer:
    """A real server: SQLite store and the process runtime."""
    return servers()


@dataclass
class Horae:
    """Runs the `horae` command against one server, as a user would (`horae --server URL …`)."""

    server: str
    runner: CliRunner = field(default_factory=CliRunner)

    def __call__(self, *args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
        return self.runner.invoke(
            app, [*args, "--server", self.server], input=input, env={"COLUMNS": "250", **(env or {})}
        )

    def ok(self, *args: str, input: str | None = None) -> Result:
        result = self(*args, input=input)
        assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr, result.exception)
        return result


@pytest.fixture
def horae(live_server: LiveServer) -> Horae:
    return Horae(live_server.url)
