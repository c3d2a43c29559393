"""What the HTTP layer needs from the running scheduler: one narrow protocol, implemented by `horae.server`.

Routes translate wire formats to these calls and back; they hold no scheduling logic. Mutations are
durable when the call returns (the job or run is stored before the scheduler acts on it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from horae.core import Histogram
from horae.model import Job, Run, RunState


class JobNotFound(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(f"Job '{name}' not found")
        self.name = name


class JobAlreadyExists(ValueError):
    """A create-only save named a job that exists."""

    def __init__(self, name: str) -> None:
        super().__init__(f"Job '{name}' already exists")
        self.name = name


class StoreUnavailable(RuntimeError):
    """The store failed to take a decision: nothing of it was done (no run launched), the server
    restores its state from the store, and the request may simply be sent again."""


class RunNotFound(LookupError):
    def __init__(self, run_id: str) -> None:
        super().__init__(f"run '{run_id}' not found")
        self.run_id = run_id


@dataclass(frozen=True, slots=True)
class JobStatus:
    """Chronos's summary view of a job: last outcome and what it is doing now."""

    last: str  # "success" | "failure" | "fresh"
    state: str  # "idle" | "queued" | "<n> running"
    next_due: datetime | None


@dataclass(frozen=True, slots=True)
class RunPage:
    runs: list[Run]
    next: str | None  # cursor of the following page, None on the last page


class Service(Protocol):
    """The running scheduler as the API sees it. Raises `JobNotFound`, `RunNotFound`, or
    `horae.model.InvalidJob` (naming the field) for bad input; never half-applies a change."""

    # Jobs
    def get_job(self, name: str) -> Job | None: ...
    def list_jobs(
        self, *, name_contains: str = "", after: str = "", limit: int | None = None
    ) -> list[Job]: ...
    async def save_job(self, job: Job, *, create_only: bool = False) -> Job:
        """Validate (schedule, time zone, parents, cycles …), pin an empty ISO start to now, store, then
        inform the scheduler. Returns the job as stored. `create_only`: JobAlreadyExists for an existing name."""
        ...

    async def delete_job(self, name: str) -> None: ...
    async def set_paused(self, name: str, paused: bool) -> Job: ...
    def job_status(self, name: str) -> JobStatus: ...
    def job_histogram(self, name: str) -> Histogram: ...
    def next_occurrences(self, name: str, count: int, after: datetime | None = None) -> list[datetime]: ...

    # Runs
    async def trigger(
        self,
        name: str,
        *,
        arguments: Sequence[str] | None = None,
        environment: Sequence[tuple[str, str]] = (),
    ) -> Run:
        """A manual run now; returns its record (possibly already `skipped` with the reason)."""
        ...

    async def kill_job(self, name: str) -> None: ...
    async def kill_run(self, run_id: str) -> None: ...
    async def mark_success(self, name: str) -> bool: ...
    async def complete_task(self, task_id: str, status_code: int) -> None:
        """Chronos 2.x asynchronous-job completion; raises RunNotFound for an unknown task."""
        ...

    def get_run(self, run_id: str) -> Run | None: ...
    def list_runs(
        self, job: str, *, before: str | None = None, limit: int = 50, states: Sequence[RunState] = ()
    ) -> RunPage: ...
    def log_path(self, run_id: str) -> Path | None:
        """The full output of the run's latest attempt, if the runtime keeps it in a file."""
        ...

    # The server
    def leader(self) -> str: ...
    def metrics_text(self) -> bytes:
        """Prometheus text exposition of the server's metrics."""
        ...
