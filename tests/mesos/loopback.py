"""What the test doubles share: serving an ASGI app on 127.0.0.1 with uvicorn (on a port the kernel picks),
and waiting until something they recorded holds."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable

import uvicorn
from starlette.types import ASGIApp


class Loopback:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._serve_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._serve_task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:  # noqa: ASYNC110 (uvicorn offers no event for it)
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._server is not None and self._serve_task is not None:
            self._server.should_exit = True
            await self._serve_task


async def wait_until(changed: asyncio.Event, predicate: Callable[[], bool], within: float) -> None:
    """Until `predicate()` holds, re-checked whenever `changed` is set (and every 50 ms); TimeoutError
    after `within` seconds."""
    async with asyncio.timeout(within):
        while not predicate():
            changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.05):
                    await changed.wait()
