"""Fixtures: the app in-process over a real `Host` (httpx ASGITransport), and a real uvicorn server on
127.0.0.1 in a thread, over SQLite and the process runtime, for clients that need a socket."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from horae.api import create_app
from horae.runtime import FakeRuntime, ProcessRuntime, Runtime
from horae.server import Host, Settings
from horae.store import MemoryStore, SqlStore, Store

JOB = {"name": "hello", "command": "echo hi", "schedule": "R/2030-01-01T00:00:00Z/PT1H", "owner": "a@b.c"}


@contextlib.asynccontextmanager
async def running_host(store: Store, runtime: Runtime, **kwargs: Any) -> AsyncIterator[Host]:
    host = Host(store, runtime, **kwargs)
    await host.start()
    try:
        yield host
    finally:
        await host.stop()


@contextlib.asynccontextmanager
async def client_for(host: Host, **kwargs: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(host, **kwargs)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://horae") as client:
        yield client


@pytest.fixture
async def host() -> AsyncIterator[Host]:
    """A real Host over the in-memory store; every run succeeds as soon as it is launched."""
    async with running_host(MemoryStore(), FakeRuntime(auto_finish=0)) as h:
        yield h


@pytest.fixture
async def client(host: Host) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(host) as c:
        yield c


@contextlib.asynccontextmanager
async def sqlite_host(data_dir: Path, runtime: Runtime) -> AsyncIterator[Host]:
    """A real Host over SQLite in `data_dir` and `runtime`; the store is closed after the host stops."""
    store = SqlStore(f"sqlite:///{data_dir / 'horae.db'}")
    try:
        async with running_host(store, runtime) as h:
            yield h
    finally:
        store.close()


@pytest.fixture
async def process_host(tmp_path: Path) -> AsyncIterator[Host]:
    """A real Host over SQLite and the process runtime: runs are real processes with real log files."""
    async with sqlite_host(tmp_path, ProcessRuntime(tmp_path / "runs")) as h:
        yield h


@pytest.fixture
async def process_client(process_host: Host) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(process_host) as c:
        yield c


@dataclass
class LiveServer:
    """horae as deployed: SQLite, the process runtime and uvicorn on 127.0.0.1, in its own thread."""

    data_dir: Path
    auth: tuple[str, str] | None = None
    token: str | None = None
    runtime: Callable[[Settings], Runtime] = lambda settings: ProcessRuntime(settings.run_dir)
    port: int = 0
    host: Host | None = None
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None
    _ready: threading.Event = field(default_factory=threading.Event)
    _error: BaseException | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self._thread = threading.Thread(
            target=self._serve, args=(sock,), name="horae-live-server", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the live server did not start within 30 s")
        if self._error is not None:
            raise RuntimeError("the live server failed to start") from self._error

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(30)

    def _serve(self, sock: socket.socket) -> None:
        try:
            asyncio.run(self._main(sock))
        except BaseException as e:
            self._error = e
            self._ready.set()
        finally:
            sock.close()

    async def _main(self, sock: socket.socket) -> None:
        settings = Settings(host="127.0.0.1", port=self.port, data_dir=self.data_dir)
        store = SqlStore(settings.store_url)
        try:
            async with running_host(store, self.runtime(settings), settings=settings) as h:
                self.host = h
                app = create_app(h, auth=self.auth, token=self.token)
                config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
                self._server = uvicorn.Server(config)
                serving = asyncio.create_task(self._server.serve(sockets=[sock]))
                while not self._server.started and not serving.done():  # noqa: ASYNC110 - uvicorn has no event
                    await asyncio.sleep(0.01)
                self._ready.set()
                await serving
        finally:
            store.close()


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def live_server_with_auth(tmp_path: Path) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path, auth=("chronos", "s3cret"), token="tok-123")
    server.start()
    yield server
    server.stop()


def assert_no_content(response: httpx.Response) -> None:
    assert response.status_code == 204, response.text
    assert response.content == b""


def assert_error(response: httpx.Response, status: int, *needles: str) -> dict[str, Any]:
    """The envelope: JSON, `status` the reason phrase, a message with every needle, no stack trace."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) <= {"status", "message", "field"}
    assert body["status"] == httpx.codes.get_reason_phrase(status)
    for needle in needles:
        assert needle in body["message"], body
    assert "Traceback" not in response.text and 'File "' not in response.text and "<html" not in response.text
    return body


async def wait_for(predicate: Callable[[], Any], within: float = 5.0) -> Any:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)
