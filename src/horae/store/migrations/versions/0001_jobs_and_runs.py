"""Jobs and runs.

Revision ID: 0001
Revises:
Create Date: 2024-06-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

_NAME = sa.String().with_variant(sa.String(collation="C"), "postgresql")
_OPEN = sa.text("state IN ('pending', 'queued', 'retry_wait', 'running')")


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("name", _NAME, primary_key=True),
        sa.Column("document", sa.Text(), nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("job", _NAME, nullable=False),
        sa.Column("scheduled_for", sa.BigInteger(), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.BigInteger()),
        sa.Column("created_at", sa.BigInteger()),
        sa.Column("started_at", sa.BigInteger()),
        sa.Column("finished_at", sa.BigInteger()),
        sa.Column("exit_code", sa.Integer()),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("arguments", sa.Text()),
        sa.Column("environment", sa.Text(), nullable=False),
        sa.Column("output_tail", sa.Text(), nullable=False),
        sa.UniqueConstraint("job", "scheduled_for", name="uq_runs_job_scheduled_for"),
    )
    op.create_index("ix_runs_open", "runs", ["state"], sqlite_where=_OPEN, postgresql_where=_OPEN)
    op.create_index("ix_runs_schedule_cursor", "runs", ["trigger", "job", "scheduled_for"])


def downgrade() -> None:
    op.drop_table("runs")
    op.drop_table("jobs")
