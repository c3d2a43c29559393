"""`SqlStore`: the store on SQLAlchemy Core, SQLite (WAL) by default, PostgreSQL for HA."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from horae.model import FINAL_STATES, Job, Run, RunState
from horae.store._abc import Store
from horae.store._checks import check_limit, check_prune, check_value
from horae.store._codec import decode_job, encode_job
from horae.store._engine import WRITE, create_engine
from horae.store._migrate import upgrade
from horae.store._runs import (
    ceil_ms,
    from_ms,
    normalize_run,
    page_cursor,
    parse_cursor,
    row_to_run,
    run_to_row,
)
from horae.store._schema import OPEN_CLAUSE, jobs, named_values, runs
from horae.store._writes import DeleteJob, InsertRun, PutJob, RunNotFound, UpdateRun, Write

_Insert = Callable[[sa.Table], Any]  # the dialect's insert() with on_conflict_* constructs
_UPDATABLE = [c.name for c in runs.c if c.name not in ("id", "job", "scheduled_for")]
_FINAL = [s.value for s in sorted(FINAL_STATES)]


class SqlStore(Store):
    """A store in the database at `url` (`sqlite:///path/horae.db`, `postgresql+psycopg://…`), migrated
    to the newest schema when opened."""

    def __init__(self, url: str) -> None:
        self._engine = create_engine(url)
        try:
            upgrade(self._engine)
        except BaseException:
            self._engine.dispose()
            raise
        dialect = self._engine.dialect.name
        if dialect not in ("sqlite", "postgresql"):
            self._engine.dispose()
            raise ValueError(f"unsupported database {dialect!r}: use SQLite or PostgreSQL")
        self._insert: _Insert = sqlite.insert if dialect == "sqlite" else postgresql.insert
        # Built once: building it took about a third of a one-run commit on SQLite.
        self._insert_runs_statement = self._insert(runs).on_conflict_do_nothing().returning(runs.c.id)

    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        """One transaction that commits on leaving (and only then returns) or rolls back on an error."""
        with self._engine.connect().execution_options(**{WRITE: True}) as connection, connection.begin():
            yield connection

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        with self._engine.connect() as connection:
            yield connection

    # Jobs.

    def load_jobs(self) -> list[Job]:
        with self._read() as c:
            return [decode_job(d) for d in c.scalars(sa.select(jobs.c.document).order_by(jobs.c.name))]

    def get_job(self, name: str) -> Job | None:
        with self._read() as c:
            document = c.scalar(sa.select(jobs.c.document).where(jobs.c.name == name))
        return None if document is None else decode_job(document)

    def list_jobs(self, *, name_contains: str = "", after: str = "", limit: int = 100) -> list[Job]:
        check_limit(limit)
        query = sa.select(jobs.c.document).where(jobs.c.name > after).order_by(jobs.c.name).limit(limit)
        if name_contains:
            query = query.where(sa.func.lower(jobs.c.name).contains(name_contains.lower(), autoescape=True))
        with self._read() as c:
            return [decode_job(d) for d in c.scalars(query)]

    def count_jobs(self) -> int:
        with self._read() as c:
            return c.scalar(sa.select(sa.func.count()).select_from(jobs)) or 0

    def put_job(self, job: Job) -> None:
        self.apply([PutJob(job)])

    def delete_job(self, name: str) -> bool:
        with self._write() as c:
            return c.execute(jobs.delete().where(jobs.c.name == name)).rowcount > 0

    # Runs.

    def apply(self, writes: Sequence[Write]) -> frozenset[str]:
        staged = [_stage(w) for w in writes]  # every value checked before the transaction starts
        skipped: set[str] = set()
        with self._write() as c:
            for kind, group in groupby(staged, key=lambda s: type(s[0])):
                items = list(group)
                if kind is InsertRun:
                    skipped |= self._insert_runs(c, [row for _, row in items])
                    continue
                if kind is UpdateRun and len(items) > 1 and c.dialect.supports_sane_multi_rowcount:
                    _update_runs(c, [row for _, row in items])
                    continue
                for write, row in items:
                    if kind is UpdateRun:
                        _update_run(c, row)
                    elif kind is PutJob:
                        upsert = self._insert(jobs).values(row)
                        c.execute(upsert.on_conflict_do_update(index_elements=[jobs.c.name], set_=row))
                    else:
                        assert isinstance(write, DeleteJob)
                        c.execute(jobs.delete().where(jobs.c.name == write.name))
        return frozenset(skipped)

    def _insert_runs(self, c: sa.Connection, rows: list[dict[str, Any]]) -> set[str]:
        """Insert in one multi-row statement; a row missing from RETURNING hit the unique key."""
        inserted = Counter(c.scalars(self._insert_runs_statement, rows).all())
        wanted = Counter(row["id"] for row in rows)
        return {run_id for run_id, n in wanted.items() if inserted[run_id] < n}

    def open_runs(self) -> list[Run]:
        query = sa.select(runs).where(OPEN_CLAUSE).order_by(runs.c.scheduled_for, runs.c.job)
        with self._read() as c:
            return [row_to_run(r) for r in c.execute(query)]

    def schedule_cursors(self) -> dict[str, datetime]:
        with self._read() as c:
            return {job: from_ms(ms) for job, ms in c.execute(_SCHEDULE_CURSORS) if ms is not None}  # type: ignore[misc]

    def get_run(self, run_id: str) -> Run | None:
        with self._read() as c:
            row = c.execute(sa.select(runs).where(runs.c.id == run_id)).first()
        return None if row is None else row_to_run(row)

    def list_runs(
        self,
        job: str,
        *,
        before: str | None = None,
        limit: int = 50,
        states: Collection[RunState] = (),
    ) -> tuple[list[Run], str | None]:
        check_limit(limit)
        query = sa.select(runs).where(runs.c.job == job)
        if before is not None:
            query = query.where(runs.c.scheduled_for < parse_cursor(before))
        if states:
            query = query.where(runs.c.state.in_(sorted(s.value for s in states)))
        query = query.order_by(runs.c.scheduled_for.desc()).limit(limit + 1)
        with self._read() as c:
            found = [row_to_run(r) for r in c.execute(query)]
        page = found[:limit]
        return page, page_cursor(page[-1]) if len(found) > limit else None

    def prune(self, job: str, *, keep: int, max_age: timedelta | None, now: datetime) -> int:
        check_prune(keep, now)
        final = sa.and_(runs.c.job == job, runs.c.state.in_(_FINAL))
        # The newest final run that is not kept; it and everything older go.
        first_doomed = (
            sa.select(runs.c.scheduled_for)
            .where(final)
            .order_by(runs.c.scheduled_for.desc())
            .limit(1)
            .offset(keep)
            .scalar_subquery()
        )
        doomed = runs.c.scheduled_for <= first_doomed
        if max_age is not None:
            doomed = sa.or_(doomed, runs.c.scheduled_for < ceil_ms(now - max_age))
        with self._write() as c:
            return c.execute(runs.delete().where(final, doomed)).rowcount

    def prune_deleted(self) -> int:
        known = sa.select(jobs.c.name).where(jobs.c.name == runs.c.job).exists()
        with self._write() as c:
            return c.execute(runs.delete().where(runs.c.state.in_(_FINAL), ~known)).rowcount

    # Values.

    def get_value(self, key: str) -> str | None:
        with self._read() as c:
            return c.scalar(sa.select(named_values.c.value).where(named_values.c.key == key))

    def put_value(self, key: str, value: str) -> None:
        check_value(key, value)
        upsert = self._insert(named_values).values(key=key, value=value)
        with self._write() as c:
            c.execute(
                upsert.on_conflict_do_update(index_elements=[named_values.c.key], set_={"value": value})
            )

    def close(self) -> None:
        self._engine.dispose()


_UPDATE_RUN = (
    runs.update()
    .where(runs.c.id == sa.bindparam("w_id"))
    .values({k: sa.bindparam(f"v_{k}") for k in _UPDATABLE})
)


def _update_runs(c: sa.Connection, rows: list[dict[str, Any]]) -> None:
    """Many updates in one executemany (several times faster than one statement each); any row missing
    is found and named, and the batch rolls back."""
    if c.execute(_UPDATE_RUN, [_update_params(row) for row in rows]).rowcount != len(rows):
        found = set(c.scalars(sa.select(runs.c.id).where(runs.c.id.in_([row["id"] for row in rows]))))
        raise RunNotFound(next(row["id"] for row in rows if row["id"] not in found))


def _update_run(c: sa.Connection, row: dict[str, Any]) -> None:
    if c.execute(_UPDATE_RUN, _update_params(row)).rowcount != 1:
        raise RunNotFound(row["id"])


def _update_params(row: dict[str, Any]) -> dict[str, Any]:
    return {"w_id": row["id"], **{f"v_{k}": row[k] for k in _UPDATABLE}}


def _stage(write: Write) -> tuple[Write, dict[str, Any]]:
    match write:
        case InsertRun(run) | UpdateRun(run):
            return write, run_to_row(normalize_run(run))
        case PutJob(job):
            return write, {"name": job.name, "document": encode_job(job)}
        case DeleteJob():
            return write, {}
    raise TypeError(f"not a store write: {write!r}")


def _schedule_cursors() -> sa.Select[tuple[str, int | None]]:
    """Per job, its newest scheduled run, by a loose index scan: one index seek per job for the next job
    name, one for its newest run; never a pass over the history in between."""
    scheduled = runs.alias("scheduled")
    first = sa.select(sa.func.min(scheduled.c.job).label("job")).where(_is_schedule(scheduled))
    names = first.cte("names", recursive=True)
    following = runs.alias("following")
    next_name = (
        sa.select(sa.func.min(following.c.job))
        .where(_is_schedule(following), following.c.job > names.c.job)
        .scalar_subquery()
    )
    names = names.union_all(sa.select(next_name).where(names.c.job.is_not(None)))
    newest = runs.alias("newest")
    latest = (
        sa.select(sa.func.max(newest.c.scheduled_for))
        .where(_is_schedule(newest), newest.c.job == names.c.job)
        .scalar_subquery()
    )
    return sa.select(names.c.job, latest).where(names.c.job.is_not(None))


def _is_schedule(table: sa.FromClause) -> sa.ColumnElement[bool]:
    return table.c.trigger == sa.literal_column("'schedule'")


_SCHEDULE_CURSORS = _schedule_cursors()
