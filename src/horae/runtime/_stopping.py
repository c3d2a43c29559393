"""Stopping an attempt, the same way in every runtime that supervises its own runs: TERM the run's group
now, KILL it once the grace is over. The stop is written to the attempt's directory before any signal,
so a restarted horae resumes the KILL on time (`resume`) and reads the run's end as the stop it asked
for rather than as a crash. How a signal reaches the group is the runtime's business (`send`)."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from horae.model import ExitKind
from horae.runtime import _attempt

Send = Callable[[signal.Signals], None]


class Stoppable(Protocol):
    """What a runtime keeps per watched attempt that stopping it needs."""

    directory: Path
    stopping: ExitKind | None
    timers: list[asyncio.TimerHandle]


def stop(loop: asyncio.AbstractEventLoop, watch: Stoppable, kind: ExitKind, grace: float, send: Send) -> None:
    """Record the stop (`kind`, KILL `grace` seconds from now), then carry it out. A second stop of an
    attempt already stopping changes nothing: the first one's kind and KILL time stand."""
    if watch.stopping is not None:
        return
    record = _attempt.Stop(kind, time.monotonic() + grace)
    _attempt.write_stop(watch.directory, record)
    resume(loop, watch, record, send)


def resume(loop: asyncio.AbstractEventLoop, watch: Stoppable, record: _attempt.Stop, send: Send) -> None:
    """Carry out a recorded stop: TERM now, KILL at its time (at once if that has passed)."""
    watch.stopping = record.kind
    send(signal.SIGTERM)
    delay = max(0.0, record.kill_at - time.monotonic())
    watch.timers.append(loop.call_later(delay, send, signal.SIGKILL))
