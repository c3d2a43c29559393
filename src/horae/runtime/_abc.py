"""The one interface every runtime implements: launch attempts, kill them, report what happened."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import ClassVar

from horae.model import Launch, RunEvent

RunEventSink = Callable[[RunEvent], None]

DEFAULT_GRACE = timedelta(seconds=10)


class LaunchFailed(Exception):
    """The runtime could not start the attempt; nothing of it is running."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Runtime(ABC):
    """Where runs execute. A runtime turns a `Launch` into something running and reports what it
    observes through the sink; it never decides (no retries, no counting, no policy).

    Invariants every implementation keeps:
    - events are delivered to the sink on the event loop thread, `RunStarted` before `RunFinished`;
    - it never reports an outcome it did not observe, and reports each attempt's end at most once;
    - `close()` stops watching but leaves runs running; `reconcile()` on a new instance picks them up.
    """

    name: ClassVar[str]

    @abstractmethod
    async def start(self, sink: RunEventSink) -> None:
        """Begin; from now on events for runs are delivered to `sink`."""

    def prepare(self, launch: Launch) -> None:  # noqa: B027 - optional: most runtimes need no head start
        """The launch is decided and its record is being committed: begin whatever set-up may safely
        come before the record is durable (directories, say), so `launch` finds it done. Starts nothing
        and returns at once; harmless when `launch` never follows (a failed commit, a crash)."""

    @abstractmethod
    async def launch(self, launch: Launch) -> None:
        """Start one attempt. Returns once it is started, after `RunStarted` was delivered; raises
        `LaunchFailed(reason)` when nothing was started. An attempt is never started twice."""

    @abstractmethod
    async def kill(self, run_id: str, *, grace: timedelta = DEFAULT_GRACE) -> None:
        """Ask the run's current attempt to stop: TERM its whole process group, KILL after `grace`.
        Returns once asked; the end is reported as `RunFinished(kind=KILLED)`. Unknown or finished
        runs: no-op."""

    @abstractmethod
    async def reconcile(self, open_runs: Sequence[tuple[str, int]]) -> None:
        """After a (re)start, report the truth for each `(run_id, attempt)` the store says is open:
        `RunFinished` if it ended meanwhile, `RunStarted` and keep watching if it still runs, `RunLost`
        if nothing is known of it. Attempts this instance already watches are left alone."""

    @abstractmethod
    async def close(self) -> None:
        """Stop watching. Does not kill runs: they survive a restart of the server."""

    @abstractmethod
    def log_path(self, run_id: str, attempt: int) -> Path | None:
        """The file holding the full output of an attempt, if this runtime keeps one."""

    async def retire(self, job: str) -> None:  # noqa: B027 - optional: most runtimes keep nothing per job
        """The job was deleted, paused or no longer needs what this runtime keeps for it (a warm
        container): release it once the job's open runs have ended. Runtimes that keep nothing per job
        leave this as it is."""
