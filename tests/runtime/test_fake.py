"""The fake runtime's own controls, and the package's public names."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import horae.runtime
from horae.model import ExitKind, RunFinished, RunLost, RunStarted
from horae.runtime import FakeRuntime
from tests.runtime.conftest import Recorder, launch

NOON = datetime(2024, 1, 1, 12, tzinfo=UTC)


def test_public_api_is_pinned() -> None:
    assert sorted(horae.runtime.__all__) == [
        "DEFAULT_GRACE",
        "DockerRuntime",
        "FakeRuntime",
        "LaunchFailed",
        "ProcessRuntime",
        "RoutedRuntime",
        "RunEventSink",
        "Runtime",
    ]
    assert {name for name in dir(horae.runtime) if not name.startswith("_")} >= set(horae.runtime.__all__)


async def test_the_test_decides_how_runs_end() -> None:
    fake = FakeRuntime(clock=lambda: NOON)
    events = Recorder()
    await fake.start(events)
    await fake.launch(launch("a:1", "x"))
    await fake.launch(launch("b:1", "x"))
    fake.finish("a:1", exit_code=2)
    fake.lose("b:1", "vanished")
    fake.finish("a:1")  # no longer running: no-op
    assert events.events == [
        RunStarted("a:1", 1, NOON, detail="fake"),
        RunStarted("b:1", 1, NOON, detail="fake"),
        RunFinished("a:1", 1, NOON, ExitKind.EXITED, exit_code=2),
        RunLost("b:1", 1, NOON, "vanished"),
    ]
    assert [x.run_id for x in fake.launches] == ["a:1", "b:1"]
    assert fake.running == {}
    await fake.close()


async def test_auto_finish_ends_each_run_after_launch_returns() -> None:
    fake = FakeRuntime(auto_finish=0, clock=lambda: NOON)
    events = Recorder()
    await fake.start(events)
    await fake.launch(launch("a:1", "x"))
    assert [type(e) for e in events.events] == [RunStarted]
    await asyncio.sleep(0)
    assert events.events[-1] == RunFinished("a:1", 1, NOON, ExitKind.EXITED, exit_code=0)
    await fake.kill("a:1")
    assert fake.kills == ["a:1"]
    assert len(events.events) == 2
    await fake.close()
