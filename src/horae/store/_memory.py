"""`MemoryStore`: the in-memory fake, held to the same contract suite as `SqlStore`."""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from horae.model import Job, Run, RunState, Trigger, epoch_ms
from horae.store._abc import Store
from horae.store._checks import check_limit, check_prune, check_value
from horae.store._codec import decode_job, encode_job
from horae.store._runs import normalize_run, page_cursor, parse_cursor
from horae.store._writes import DeleteJob, InsertRun, PutJob, RunNotFound, UpdateRun, Write


class MemoryStore(Store):
    """Everything in dicts behind a lock. Jobs go through the same JSON codec as in `SqlStore`, so a job
    the fake accepts and returns is one the database accepts and returns."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, str] = {}  # name -> JSON document
        self._runs: dict[str, Run] = {}  # id -> normalised run
        self._values: dict[str, str] = {}

    def load_jobs(self) -> list[Job]:
        with self._lock:
            return [decode_job(self._jobs[name]) for name in sorted(self._jobs)]

    def get_job(self, name: str) -> Job | None:
        with self._lock:
            document = self._jobs.get(name)
        return None if document is None else decode_job(document)

    def list_jobs(self, *, name_contains: str = "", after: str = "", limit: int = 100) -> list[Job]:
        check_limit(limit)
        needle = name_contains.lower()
        with self._lock:
            names = sorted(n for n in self._jobs if n > after and needle in n.lower())[:limit]
            return [decode_job(self._jobs[n]) for n in names]

    def count_jobs(self) -> int:
        with self._lock:
            return len(self._jobs)

    def put_job(self, job: Job) -> None:
        document = encode_job(job)
        with self._lock:
            self._jobs[job.name] = document

    def delete_job(self, name: str) -> bool:
        with self._lock:
            return self._jobs.pop(name, None) is not None

    def apply(self, writes: Sequence[Write]) -> frozenset[str]:
        # Check everything first; the mutation pass below cannot fail, so a batch is all or nothing.
        staged: list[tuple[Write, str]] = []
        for write in writes:
            match write:
                case InsertRun(run):
                    staged.append((InsertRun(normalize_run(run)), ""))
                case UpdateRun(run):
                    staged.append((UpdateRun(normalize_run(run)), ""))
                case PutJob(job):
                    staged.append((write, encode_job(job)))
                case DeleteJob():
                    staged.append((write, ""))
                case _:
                    raise TypeError(f"not a store write: {write!r}")
        with self._lock:
            known = set(self._runs)
            for write, _ in staged:
                if isinstance(write, InsertRun):
                    known.add(write.run.id)
                elif isinstance(write, UpdateRun) and write.run.id not in known:
                    raise RunNotFound(write.run.id)
            skipped: set[str] = set()
            for write, document in staged:
                match write:
                    case InsertRun(run) if run.id in self._runs:
                        skipped.add(run.id)
                    case InsertRun(run) | UpdateRun(run):
                        self._runs[run.id] = run
                    case PutJob(job):
                        self._jobs[job.name] = document
                    case DeleteJob(name):
                        self._jobs.pop(name, None)
            return frozenset(skipped)

    def open_runs(self) -> list[Run]:
        with self._lock:
            runs = [r for r in self._runs.values() if not r.state.is_final]
        return sorted(runs, key=lambda r: (r.scheduled_for, r.job))

    def schedule_cursors(self) -> dict[str, datetime]:
        cursors: dict[str, datetime] = {}
        with self._lock:
            for run in self._runs.values():
                if run.trigger is Trigger.SCHEDULE and (
                    run.job not in cursors or run.scheduled_for > cursors[run.job]
                ):
                    cursors[run.job] = run.scheduled_for
        return cursors

    def get_run(self, run_id: str) -> Run | None:
        with self._lock:
            return self._runs.get(run_id)

    def list_runs(
        self,
        job: str,
        *,
        before: str | None = None,
        limit: int = 50,
        states: Collection[RunState] = (),
    ) -> tuple[list[Run], str | None]:
        check_limit(limit)
        bound = None if before is None else parse_cursor(before)
        wanted = frozenset(states)
        with self._lock:
            runs = [
                r
                for r in self._runs.values()
                if r.job == job
                and (bound is None or epoch_ms(r.scheduled_for) < bound)
                and (not wanted or r.state in wanted)
            ]
        runs.sort(key=lambda r: r.scheduled_for, reverse=True)
        page = runs[:limit]
        return page, page_cursor(page[-1]) if len(runs) > limit else None

    def prune(self, job: str, *, keep: int, max_age: timedelta | None, now: datetime) -> int:
        check_prune(keep, now)
        with self._lock:
            final = sorted(
                (r for r in self._runs.values() if r.job == job and r.state.is_final),
                key=lambda r: r.scheduled_for,
                reverse=True,
            )
            doomed = final[keep:]
            if max_age is not None:
                oldest_kept = now - max_age
                doomed += [r for r in final[:keep] if r.scheduled_for < oldest_kept]
            for run in doomed:
                del self._runs[run.id]
            return len(doomed)

    def prune_deleted(self) -> int:
        with self._lock:
            doomed = [r.id for r in self._runs.values() if r.job not in self._jobs and r.state.is_final]
            for run_id in doomed:
                del self._runs[run_id]
            return len(doomed)

    def get_value(self, key: str) -> str | None:
        with self._lock:
            return self._values.get(key)

    def put_value(self, key: str, value: str) -> None:
        check_value(key, value)
        with self._lock:
            self._values[key] = value

    def close(self) -> None:
        pass
