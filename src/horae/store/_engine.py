"""Engines for SqlStore: SQLite tuned for one writer and many readers, or PostgreSQL."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.pool import StaticPool

WRITE = "horae_write"  # execution option: this connection's transaction will write
BUSY_TIMEOUT_MS = 10_000
SYNCHRONOUS = ("normal", "full", "extra")  # `?synchronous=` of a SQLite URL; the first is the default


def create_engine(url: str) -> sa.Engine:
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(parsed, pool_pre_ping=True)
    synchronous = parsed.query.get("synchronous", SYNCHRONOUS[0])
    if not isinstance(synchronous, str) or synchronous.lower() not in SYNCHRONOUS:
        raise ValueError(f"synchronous: {synchronous!r} is not one of {', '.join(SYNCHRONOUS)}")
    parsed = parsed.difference_update_query(["synchronous"])
    database = parsed.database or ""
    options: dict[str, Any] = {}
    if database in ("", ":memory:") or database.startswith("file::memory:"):
        # One shared connection: otherwise each thread would see its own empty in-memory database.
        options = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
    else:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(parsed, **options)
    event.listen(engine, "connect", partial(_on_sqlite_connect, synchronous=synchronous.lower()))
    event.listen(engine, "begin", _on_sqlite_begin)
    return engine


def _on_sqlite_connect(dbapi_connection: Any, _record: Any, *, synchronous: str) -> None:
    # We emit BEGIN ourselves (see _on_sqlite_begin); the driver's implicit transactions would get in the way.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL (the default): a commit survives a crash of horae; only an OS crash or power loss
        # may lose the last commits, never corrupt the file. FULL (`?synchronous=full`) makes every commit
        # survive those too, at an fsync per commit.
        cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def _on_sqlite_begin(connection: sa.Connection) -> None:
    # A writer takes the write lock up front, so it waits (busy_timeout) instead of failing with SQLITE_BUSY
    # when it would otherwise upgrade a read snapshot another process has meanwhile written past.
    immediate = connection.get_execution_options().get(WRITE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
