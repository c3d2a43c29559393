"""Runs: one occurrence of a job, identified by `(job, scheduled_for)`, with its attempts and outcome."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import UTC, datetime


class RunState(enum.StrEnum):
    # Not finished.
    PENDING = "pending"  # recorded, about to be launched
    QUEUED = "queued"  # waiting for an active run to end (concurrency policy queue/replace)
    RUNNING = "running"  # launched; the runtime reported it started (or will)
    RETRY_WAIT = "retry_wait"  # an attempt failed; the next attempt is due at `due_at`
    # Final outcomes.
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    KILLED = "killed"
    TIMED_OUT = "timed_out"
    OOM_KILLED = "oom_killed"
    LOST = "lost"
    SKIPPED = "skipped"
    MISSED = "missed"

    @property
    def is_final(self) -> bool:
        return self not in _OPEN


_OPEN = frozenset({RunState.PENDING, RunState.QUEUED, RunState.RUNNING, RunState.RETRY_WAIT})
FINAL_STATES = frozenset(s for s in RunState if s not in _OPEN)
OPEN_STATES = _OPEN


class Trigger(enum.StrEnum):
    """What created a run. A retry is another attempt of the same run, which keeps this trigger."""

    SCHEDULE = "schedule"
    MANUAL = "manual"
    DEPENDENCY = "dependency"


def epoch_ms(instant: datetime) -> int:
    """Milliseconds since the epoch of an aware datetime (floor, as Java's getMillis)."""
    delta = instant - _EPOCH
    return delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000


def from_epoch_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC).replace(microsecond=(ms % 1000) * 1000)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def run_id(job: str, scheduled_for: datetime) -> str:
    """The stable id of the run `(job, scheduled_for)`: `<job>:<scheduled_for epoch ms>`."""
    return f"{job}:{epoch_ms(scheduled_for)}"


@dataclass(frozen=True, slots=True)
class Run:
    """One occurrence of a job. `scheduled_for` is the occurrence instant for scheduled runs and the
    request instant for manual and dependent runs; `(job, scheduled_for)` is unique."""

    job: str
    scheduled_for: datetime
    trigger: Trigger
    state: RunState
    attempt: int = 0
    due_at: datetime | None = None  # when the current attempt is due (differs from scheduled_for for retries)
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    exit_code: int | None = None
    reason: str = ""
    arguments: tuple[str, ...] | None = None  # overrides the job's arguments (manual runs)
    environment: tuple[tuple[str, str], ...] = ()  # extra variables (manual runs)
    output_tail: str = ""  # the last few KiB of the output; the whole output is in the run's log file

    @property
    def id(self) -> str:
        return run_id(self.job, self.scheduled_for)

    def task_id(self, job_arguments: tuple[str, ...] = ()) -> str:
        """The Chronos task id `ct:<due ms>:<attempt>:<job>:<args>` (`;` removed from the arguments)."""
        args = self.arguments if self.arguments is not None else job_arguments
        return format_task_id(self.scheduled_for, self.attempt, self.job, " ".join(args))


_TASK_ID = re.compile(r"ct:(\d+):(\d+):([\w.-]+):?(.*)", re.ASCII | re.DOTALL)


@dataclass(frozen=True, slots=True)
class TaskId:
    due: datetime
    attempt: int
    job: str
    arguments: str


def format_task_id(due: datetime, attempt: int, job: str, arguments: str) -> str:
    return f"ct:{epoch_ms(due)}:{attempt}:{job}:{arguments.replace(';', '')}"


def parse_task_id(text: str) -> TaskId | None:
    """Parse a Chronos task id; None when it is not one (Chronos ignores such tasks)."""
    m = _TASK_ID.fullmatch(text)
    if m is None:
        return None
    return TaskId(from_epoch_ms(int(m[1])), int(m[2]), m[3], m[4] or "")
