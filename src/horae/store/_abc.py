"""The one interface the server persists through. Every backend passes tests/store's contract suite."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from horae.model import Job, Run, RunState
from horae.store._writes import Write


class Store(ABC):
    """Job definitions and run history. Synchronous: the server calls it from one writer thread.

    Invariants every implementation keeps:
    - a run is identified by `(job, scheduled_for)` (its id `"<job>:<epoch ms>"`), and the store enforces it
      unique: a second insert of the same occurrence never overwrites the first;
    - `apply` returns only after its batch is durable, and never leaves a batch half-written;
    - instants go in as aware datetimes with millisecond precision and come back as UTC;
    - history never slows the scheduling loop: `open_runs` and `schedule_cursors` do not read final runs.
    """

    # Jobs: definitions, including the counters the scheduler maintains.

    @abstractmethod
    def load_jobs(self) -> list[Job]:
        """Every job, by name."""

    @abstractmethod
    def get_job(self, name: str) -> Job | None: ...

    @abstractmethod
    def list_jobs(self, *, name_contains: str = "", after: str = "", limit: int = 100) -> list[Job]:
        """Jobs by name (code point order), those named after `after` (the last name of the previous page),
        whose name contains `name_contains` ignoring ASCII case."""

    @abstractmethod
    def count_jobs(self) -> int: ...

    @abstractmethod
    def put_job(self, job: Job) -> None:
        """Insert or replace the job named `job.name`."""

    @abstractmethod
    def delete_job(self, name: str) -> bool:
        """Remove the job; False when there was none. Its run history stays until pruned."""

    # Runs: the hot path.

    @abstractmethod
    def apply(self, writes: Sequence[Write]) -> frozenset[str]:
        """Carry out `writes` in order, in one transaction, and return once it is committed.

        Returns the ids of the `InsertRun`s that were skipped because their `(job, scheduled_for)` already
        existed, before the batch or earlier in it; those rows are left untouched and the caller must not
        launch them. Anything else wrong (an invalid value, `RunNotFound` for an `UpdateRun`) raises and
        writes nothing of the batch.
        """

    @abstractmethod
    def open_runs(self) -> list[Run]:
        """Every run not in a final state, oldest `scheduled_for` first."""

    @abstractmethod
    def schedule_cursors(self) -> dict[str, datetime]:
        """Per job name: the latest `scheduled_for` among its runs with `trigger=schedule`."""

    @abstractmethod
    def get_run(self, run_id: str) -> Run | None: ...

    @abstractmethod
    def list_runs(
        self,
        job: str,
        *,
        before: str | None = None,
        limit: int = 50,
        states: Collection[RunState] = (),
    ) -> tuple[list[Run], str | None]:
        """A page of the job's runs, newest `scheduled_for` first, only in `states` when given.

        Returns the page and an opaque cursor to pass as `before` for the next one (None on the last page).
        """

    @abstractmethod
    def prune(self, job: str, *, keep: int, max_age: timedelta | None, now: datetime) -> int:
        """Delete the job's final runs beyond the newest `keep` final runs, and those scheduled before
        `now - max_age`. Open runs are never deleted nor counted. Returns how many runs were deleted."""

    @abstractmethod
    def prune_deleted(self) -> int:
        """Delete the final runs of jobs that have no record any more (deleted jobs' history, which no
        per-job pruning reaches). Open runs stay. Returns how many runs were deleted."""

    # Values: a few named documents other parts of horae must keep across restarts (the Mesos framework's
    # id and tasks in flight), so they live wherever the jobs do, replicated and backed up with them.

    @abstractmethod
    def get_value(self, key: str) -> str | None:
        """The value last put under `key`, or None."""

    @abstractmethod
    def put_value(self, key: str, value: str) -> None:
        """Insert or replace the value under `key`; durable when it returns. Keys are non-empty and
        neither holds NUL (PostgreSQL text cannot), so a value reads back exactly as it was put."""

    @abstractmethod
    def close(self) -> None:
        """Release connections; the store is unusable afterwards."""
