"""The writes a batch is made of: `Store.apply` runs them in order, in one transaction."""

from __future__ import annotations

from dataclasses import dataclass

from horae.model import Job, Run


@dataclass(frozen=True, slots=True)
class InsertRun:
    """Record a new run. Skipped (and reported by `apply`) when `(job, scheduled_for)` already exists."""

    run: Run


@dataclass(frozen=True, slots=True)
class UpdateRun:
    """Overwrite every field of an existing run, found by `run.id`; `RunNotFound` rolls the batch back."""

    run: Run


@dataclass(frozen=True, slots=True)
class PutJob:
    """Insert or replace a job definition, by name."""

    job: Job


@dataclass(frozen=True, slots=True)
class DeleteJob:
    """Remove a job definition (a no-op when there is none); its run history stays until pruned."""

    name: str


Write = InsertRun | UpdateRun | PutJob | DeleteJob


class RunNotFound(LookupError):
    """An `UpdateRun` named a run the store does not hold; the whole batch was rolled back."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"no run {run_id!r} to update")
        self.run_id = run_id
