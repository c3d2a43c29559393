"""What is particular to SqlStore: migrations, SQLite settings, query plans that never scan history."""

from __future__ import annotations

import re
import threading
from importlib import resources
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import horae.store
from horae.model import Job
from horae.store import SqlStore
from horae.store._engine import WRITE, create_engine
from horae.store._migrate import alembic_config, upgrade
from horae.store._schema import OPEN_CLAUSE, metadata, runs
from horae.store._sql import _SCHEDULE_CURSORS

URLS = ["sqlite", pytest.param("postgres", marks=pytest.mark.service)]


@pytest.fixture(params=URLS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("fresh_postgres"))
    return f"sqlite:///{tmp_path}/horae.db"


def test_public_names() -> None:
    public = {n for n in dir(horae.store) if not n.startswith("_")} - {"annotations"}
    assert set(horae.store.__all__) == public
    assert sorted(horae.store.__all__) == horae.store.__all__


def test_the_migrations_ship_inside_the_package() -> None:
    migrations = resources.files("horae.store") / "migrations"
    assert (migrations / "env.py").is_file()
    assert (migrations / "script.py.mako").is_file()
    assert any(p.name.endswith(".py") for p in (migrations / "versions").iterdir())


def test_the_migrated_schema_is_the_metadata(url: str) -> None:
    SqlStore(url).close()
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
            indexes = {i["name"] for i in sa.inspect(connection).get_indexes("runs")}
            assert {"ix_runs_open", "ix_runs_schedule_cursor"} <= indexes
    finally:
        engine.dispose()


def test_migrations_go_down_and_up_again(url: str) -> None:
    SqlStore(url).close()
    engine = create_engine(url)
    try:
        with engine.connect().execution_options(**{WRITE: True}) as connection, connection.begin():
            config = alembic_config()
            config.attributes["connection"] = connection
            command.downgrade(config, "base")
            assert set(sa.inspect(connection).get_table_names()) <= {"alembic_version"}
        upgrade(engine)
        with engine.connect() as connection:
            assert {"jobs", "runs", "named_values"} <= set(sa.inspect(connection).get_table_names())
    finally:
        engine.dispose()


def test_sqlite_runs_in_wal_mode_with_normal_sync(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path}/deep/er/horae.db")
    store.close()
    engine = create_engine(f"sqlite:///{tmp_path}/deep/er/horae.db")
    try:
        with engine.connect() as c:
            pragma = {p: c.exec_driver_sql(f"PRAGMA {p}").scalar() for p in ("journal_mode", "synchronous")}
            pragma["foreign_keys"] = c.exec_driver_sql("PRAGMA foreign_keys").scalar()
            pragma["busy_timeout"] = c.exec_driver_sql("PRAGMA busy_timeout").scalar()
    finally:
        engine.dispose()
    assert pragma == {"journal_mode": "wal", "synchronous": 1, "foreign_keys": 1, "busy_timeout": 10_000}


def test_sqlite_sync_can_be_full_and_a_bad_value_is_refused(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}/horae.db?synchronous=FULL")
    try:
        with engine.connect() as c:
            assert c.exec_driver_sql("PRAGMA synchronous").scalar() == 2
    finally:
        engine.dispose()
    with pytest.raises(ValueError, match="synchronous: 'off'"):
        SqlStore(f"sqlite:///{tmp_path}/other.db?synchronous=off")
    assert not (tmp_path / "other.db").exists()


def test_an_in_memory_sqlite_store_is_one_database_across_threads() -> None:
    store = SqlStore("sqlite://")
    try:
        store.put_job(Job("a"))
        seen: list[int] = []
        thread = threading.Thread(target=lambda: seen.append(store.count_jobs()))
        thread.start()
        thread.join()
        assert seen == [1]
    finally:
        store.close()


@pytest.mark.parametrize(
    "query",
    [
        _SCHEDULE_CURSORS,
        sa.select(runs).where(OPEN_CLAUSE).order_by(runs.c.scheduled_for),
        sa.select(runs)
        .where(runs.c.job == "a", runs.c.scheduled_for < 5)
        .order_by(runs.c.scheduled_for.desc()),
    ],
    ids=["schedule_cursors", "open_runs", "list_runs"],
)
def test_the_loop_queries_never_scan_the_runs_table(
    tmp_path: Path, query: sa.Select[tuple[object, ...]]
) -> None:
    SqlStore(f"sqlite:///{tmp_path}/horae.db").close()
    engine = create_engine(f"sqlite:///{tmp_path}/horae.db")
    try:
        sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
        with engine.connect() as c:
            plan = [row[3] for row in c.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")]
    finally:
        engine.dispose()
    touching_runs = [
        step for step in plan if re.match(r"(SCAN|SEARCH) (runs|scheduled|following|newest)\b", step)
    ]
    assert touching_runs
    assert all(step.startswith("SEARCH") and "INDEX" in step for step in touching_runs), plan
