"""An in-memory runtime for other packages' tests: records launches and kills; the test decides outcomes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

from horae.model import ExitKind, Launch, RunEvent, RunFinished, RunLost, RunStarted
from horae.runtime._abc import DEFAULT_GRACE, LaunchFailed, RunEventSink, Runtime


def _utcnow() -> datetime:
    return datetime.now(UTC)


class FakeRuntime(Runtime):
    """Runs nothing. `launches` and `kills` record what was asked; `finish()` and `lose()` end runs.

    With `auto_finish=<code>` every launch finishes with that exit code on the next loop iteration.
    A `Launch.timeout` is honoured (reported as TIMED_OUT); a kill ends the run at once (no grace).
    """

    name: ClassVar[str] = "fake"

    def __init__(self, *, auto_finish: int | None = None, clock: Callable[[], datetime] = _utcnow) -> None:
        self.auto_finish = auto_finish
        self.launches: list[Launch] = []
        self.kills: list[str] = []
        self.running: dict[str, Launch] = {}
        self._clock = clock
        self._sink: RunEventSink | None = None
        self._timers: dict[str, asyncio.Handle] = {}
        self._reconciled_lost: set[tuple[str, int]] = set()  # reported lost: never launched after that

    async def start(self, sink: RunEventSink) -> None:
        self._sink = sink

    async def launch(self, launch: Launch) -> None:
        key = (launch.run_id, launch.attempt)
        if key in self._reconciled_lost or any((x.run_id, x.attempt) == key for x in self.launches):
            raise LaunchFailed(f"attempt {launch.attempt} of {launch.run_id} was already launched")
        if launch.run_id in self.running:
            raise LaunchFailed(f"{launch.run_id} still has attempt {self.running[launch.run_id].attempt}")
        self.launches.append(launch)
        self.running[launch.run_id] = launch
        self._emit(RunStarted(launch.run_id, launch.attempt, self._clock(), detail="fake"))
        loop = asyncio.get_running_loop()
        if self.auto_finish is not None:
            code = self.auto_finish
            self._timers[launch.run_id] = loop.call_soon(lambda: self.finish(launch.run_id, code))
        elif launch.timeout is not None:
            self._timers[launch.run_id] = loop.call_later(
                launch.timeout.total_seconds(),
                lambda: self.finish(launch.run_id, None, kind=ExitKind.TIMED_OUT),
            )

    async def kill(self, run_id: str, *, grace: timedelta = DEFAULT_GRACE) -> None:
        self.kills.append(run_id)
        if run_id in self.running:
            self.finish(run_id, None, kind=ExitKind.KILLED)

    async def reconcile(self, open_runs: Sequence[tuple[str, int]]) -> None:
        for run_id, attempt in open_runs:
            known = self.running.get(run_id)
            if known is None or known.attempt != attempt:
                self._reconciled_lost.add((run_id, attempt))
                self._emit(RunLost(run_id, attempt, self._clock(), "unknown to the fake runtime"))

    async def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._sink = None

    def log_path(self, run_id: str, attempt: int) -> Path | None:
        return None

    def finish(self, run_id: str, exit_code: int | None = 0, *, kind: ExitKind = ExitKind.EXITED) -> None:
        """End a running run as the test says (no-op when it is not running)."""
        launch = self.running.pop(run_id, None)
        if launch is None:
            return
        self._cancel(run_id)
        self._emit(RunFinished(run_id, launch.attempt, self._clock(), kind, exit_code=exit_code))

    def lose(self, run_id: str, reason: str = "lost by the test") -> None:
        launch = self.running.pop(run_id, None)
        if launch is None:
            return
        self._cancel(run_id)
        self._emit(RunLost(run_id, launch.attempt, self._clock(), reason))

    def _cancel(self, run_id: str) -> None:
        timer = self._timers.pop(run_id, None)
        if timer is not None:
            timer.cancel()

    def _emit(self, event: RunEvent) -> None:
        if self._sink is None:
            raise RuntimeError("FakeRuntime used before start()")
        self._sink(event)
