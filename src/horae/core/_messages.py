"""What goes into the scheduler (events, past tense) and what comes out (commands, imperative).

Run events from runtimes (`RunStarted`, `RunFinished`, `RunLost`) are defined in `horae.model`, since the
runtimes produce them too.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from horae.model import Job, Launch, Run, RunFinished, RunLost, RunStarted

# Events ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StateRestored:
    """The durable state at start-up: job definitions, runs not yet final, and per job the latest
    scheduled occurrence that has a run record. Replaces whatever the scheduler held."""

    jobs: Sequence[Job]
    open_runs: Sequence[Run] = ()
    cursors: Mapping[str, datetime] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class JobSaved:
    """A job was created or replaced (already validated and durable)."""

    job: Job


@dataclass(frozen=True, slots=True)
class JobDeleted:
    name: str


@dataclass(frozen=True, slots=True)
class TimerFired:
    """The wake-up time asked for has come: process every timer due at `now`."""


@dataclass(frozen=True, slots=True)
class ManualRunRequested:
    job: str
    arguments: tuple[str, ...] | None = None
    environment: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class RunMarkedSucceeded:
    """Chronos's "mark job as successful": counts as a success and fires the job's children."""

    job: str


@dataclass(frozen=True, slots=True)
class KillRequested:
    """Stop every open run of a job (running ones are killed; waiting ones end as killed)."""

    job: str


@dataclass(frozen=True, slots=True)
class RunKillRequested:
    run_id: str


@dataclass(frozen=True, slots=True)
class TaskCompleted:
    """Chronos 2.x asynchronous-job completion report (`PUT /scheduler/task/{taskId}`)."""

    run_id: str
    attempt: int
    status_code: int


Event = (
    StateRestored
    | JobSaved
    | JobDeleted
    | TimerFired
    | ManualRunRequested
    | RunMarkedSucceeded
    | KillRequested
    | RunKillRequested
    | TaskCompleted
    | RunStarted
    | RunFinished
    | RunLost
)

# Commands --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreateRun:
    """Persist a new run record. Comes before any `LaunchRun` of the run, so a launch is always durable."""

    run: Run


@dataclass(frozen=True, slots=True)
class UpdateRun:
    run: Run


@dataclass(frozen=True, slots=True)
class LaunchRun:
    run: Run
    launch: Launch


@dataclass(frozen=True, slots=True)
class KillRun:
    run_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class UpdateJob:
    """Persist a new version of a job the scheduler changed (counters, disabled, parents, cursor)."""

    job: Job


class NoticeKind(enum.StrEnum):
    RETRIES_EXHAUSTED = "retries_exhausted"
    DISABLED = "disabled"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class Notify:
    job: str
    kind: NoticeKind
    subject: str
    message: str = ""


Command = CreateRun | UpdateRun | LaunchRun | KillRun | UpdateJob | Notify


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one event: commands to carry out in order, and when to call `tick` next."""

    commands: list[Command]
    wake_at: datetime | None
