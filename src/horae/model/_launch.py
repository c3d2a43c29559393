"""What crosses the runtime boundary: a launch going down, run events coming up.

The scheduler builds a `Launch`; a runtime turns it into a process or container and reports back with
`RunStarted`, `RunFinished` or `RunLost`. Runtimes never decide: no retries, counts or policies.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from horae.model._job import Container


@dataclass(frozen=True, slots=True)
class Launch:
    """Everything a runtime needs to start one attempt of a run.

    `argv` is final: `["/bin/sh", "-c", command]` for shell jobs, the command and its arguments otherwise.
    """

    run_id: str
    job: str
    attempt: int
    task_id: str
    argv: tuple[str, ...]
    environment: tuple[tuple[str, str], ...]
    user: str = ""
    container: Container | None = None
    cpus: float = 0.1
    mem: float = 128.0
    disk: float = 256.0
    timeout: timedelta | None = None


class ExitKind(enum.StrEnum):
    EXITED = "exited"  # exit_code is set
    SIGNALED = "signaled"  # signal is set (killed by a signal not sent by horae)
    KILLED = "killed"  # stopped on horae's request (kill or timeout)
    TIMED_OUT = "timed_out"  # the runtime's own timeout enforcement stopped it
    OOM_KILLED = "oom_killed"  # stopped by the memory limit


@dataclass(frozen=True, slots=True)
class RunStarted:
    run_id: str
    attempt: int
    at: datetime
    detail: str = ""  # pid, container id …


@dataclass(frozen=True, slots=True)
class RunFinished:
    run_id: str
    attempt: int
    at: datetime
    kind: ExitKind
    exit_code: int | None = None
    signal: int | None = None
    output_tail: str = ""

    @property
    def succeeded(self) -> bool:
        return self.kind is ExitKind.EXITED and self.exit_code == 0


@dataclass(frozen=True, slots=True)
class RunLost:
    """The runtime no longer knows the attempt (its process or container vanished without a recorded exit)."""

    run_id: str
    attempt: int
    at: datetime
    reason: str


RunEvent = RunStarted | RunFinished | RunLost
