"""Harness for the runtime contract: every runtime runs the same tests through these fixtures.

A new runtime plugs in by adding a factory to `RUNTIMES` (and to `SPAWNING` when it runs real processes).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import pytest

from horae.model import Launch, RunEvent, RunFinished, RunLost, RunStarted
from horae.runtime import FakeRuntime, ProcessRuntime, Runtime
from tests.runtime.docker_images import contract_runtime

E = TypeVar("E", RunStarted, RunFinished, RunLost)

GRACE = timedelta(seconds=0.3)  # short grace periods keep the kill and timeout cases fast
PATH = "/usr/local/bin:/usr/bin:/bin"


class Recorder:
    """The sink: records every event and lets a test wait for one."""

    def __init__(self) -> None:
        self.events: list[RunEvent] = []
        self._changed = asyncio.Event()
        self._thread = threading.get_ident()

    def __call__(self, event: RunEvent) -> None:
        assert threading.get_ident() == self._thread, "events must arrive on the event loop thread"
        self.events.append(event)
        self._changed.set()

    def of(self, run_id: str) -> list[RunEvent]:
        return [e for e in self.events if e.run_id == run_id]

    async def wait_for(self, run_id: str, kind: type[E], within: float = 3.0) -> E:
        async with asyncio.timeout(within):
            while True:
                for event in self.events:
                    if isinstance(event, kind) and event.run_id == run_id:
                        return event
                self._changed.clear()
                await self._changed.wait()

    async def end_of(self, run_id: str, within: float = 3.0) -> RunFinished | RunLost:
        async with asyncio.timeout(within):
            while True:
                for event in self.events:
                    if isinstance(event, RunFinished | RunLost) and event.run_id == run_id:
                        return event
                self._changed.clear()
                await self._changed.wait()


@dataclass(frozen=True, slots=True)
class Harness:
    runtime: Runtime
    events: Recorder


RuntimeFactory = Callable[[Path], Runtime]

RUNTIMES: dict[str, RuntimeFactory] = {
    "fake": lambda _: FakeRuntime(),
    "process": lambda run_dir: ProcessRuntime(run_dir, timeout_grace=GRACE),
    "docker": lambda run_dir: contract_runtime(run_dir, GRACE),
}
SPAWNING = ["process", "docker"]  # runtimes that run real processes (the fake cannot)


async def _harness(factory: RuntimeFactory, run_dir: Path) -> AsyncIterator[Harness]:
    runtime = factory(run_dir)
    events = Recorder()
    await runtime.start(events)
    try:
        yield Harness(runtime, events)
    finally:
        await runtime.close()


@pytest.fixture(params=list(RUNTIMES))
async def any_runtime(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    async for harness in _harness(RUNTIMES[request.param], tmp_path / "runs"):
        yield harness


@pytest.fixture(params=SPAWNING)
async def spawning(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    async for harness in _harness(RUNTIMES[request.param], tmp_path / "runs"):
        yield harness


def launch(
    run_id: str,
    *argv: str,
    attempt: int = 1,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
    user: str = "",
) -> Launch:
    environment = {"PATH": PATH} if env is None else env
    return Launch(
        run_id=run_id,
        job=run_id.rpartition(":")[0] or run_id,
        attempt=attempt,
        task_id=f"ct:0:{attempt}:{run_id}:",
        argv=argv,
        environment=tuple(environment.items()),
        user=user,
        timeout=None if timeout is None else timedelta(seconds=timeout),
    )


def sh(run_id: str, script: str, **kwargs: object) -> Launch:
    """A shell job: argv is `/bin/sh -c <script>`, as the scheduler builds it."""
    return launch(run_id, "/bin/sh", "-c", script, **kwargs)  # type: ignore[arg-type]


async def eventually(check: Callable[[], bool], within: float = 2.0) -> None:
    async with asyncio.timeout(within):
        while not check():  # noqa: ASYNC110 (the state is another process's)
            await asyncio.sleep(0.01)


def gone(pid: int) -> bool:
    """Gone, or a zombie waiting for a parent outside the test to reap it."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] == "Z"
    except FileNotFoundError:
        return True


async def run_to_end(harness: Harness, launch_: Launch) -> RunFinished | RunLost:
    await harness.runtime.launch(launch_)
    return await harness.events.end_of(launch_.run_id)
