"""The tables, as SQLAlchemy Core metadata. Alembic migrations must always produce exactly this schema
(tests/store checks it with `compare_metadata`)."""

from __future__ import annotations

import sqlalchemy as sa

from horae.model import OPEN_STATES

metadata = sa.MetaData()

# Names order the same everywhere (code points, as Python and SQLite do), not by the database's locale.
Name = sa.String().with_variant(sa.String(collation="C"), "postgresql")

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("name", Name, primary_key=True),
    sa.Column("document", sa.Text(), nullable=False),  # the Job as JSON (horae.store._codec)
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(), primary_key=True),  # "<job>:<scheduled_for>"
    sa.Column("job", Name, nullable=False),  # no foreign key: history outlives the job until pruned
    sa.Column("scheduled_for", sa.BigInteger(), nullable=False),  # instants: epoch milliseconds, UTC
    sa.Column("trigger", sa.String(16), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempt", sa.Integer(), nullable=False),
    sa.Column("due_at", sa.BigInteger()),
    sa.Column("created_at", sa.BigInteger()),
    sa.Column("started_at", sa.BigInteger()),
    sa.Column("finished_at", sa.BigInteger()),
    sa.Column("exit_code", sa.Integer()),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("arguments", sa.Text()),  # JSON array of strings; NULL: the job's own arguments
    sa.Column("environment", sa.Text(), nullable=False),  # JSON array of [name, value]
    sa.Column("output_tail", sa.Text(), nullable=False),
    sa.UniqueConstraint("job", "scheduled_for", name="uq_runs_job_scheduled_for"),
)

# Named documents (`Store.get_value`/`put_value`), each replaced whole.
named_values = sa.Table(
    "named_values",
    metadata,
    sa.Column("key", sa.String(), primary_key=True),
    sa.Column("value", sa.Text(), nullable=False),
)

# Literal values, not bound parameters: only then can SQLite and PostgreSQL's generic plans match the
# partial index below, which holds only the few open runs whatever the length of history.
OPEN_CLAUSE = runs.c.state.in_([sa.literal_column(f"'{s.value}'") for s in sorted(OPEN_STATES)])
SCHEDULE_CLAUSE = runs.c.trigger == sa.literal_column("'schedule'")

sa.Index("ix_runs_open", runs.c.state, sqlite_where=OPEN_CLAUSE, postgresql_where=OPEN_CLAUSE)
# schedule_cursors walks this index job by job (a loose index scan), never the history between.
sa.Index("ix_runs_schedule_cursor", runs.c.trigger, runs.c.job, runs.c.scheduled_for)
