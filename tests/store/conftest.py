"""The backends the contract suite runs against: MemoryStore, SqlStore on SQLite, SqlStore on PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from horae.store import MemoryStore, SqlStore, Store
from tests.conftest import service_missing

POSTGRES_URL_VAR = "HORAE_TEST_POSTGRES_URL"


def postgres_url() -> str:
    """The server's URL, or the test is skipped (locally) or failed (in CI) when it cannot be reached."""
    url = os.environ.get(POSTGRES_URL_VAR)
    if not url:
        service_missing(f"{POSTGRES_URL_VAR} is not set (source .ci/postgres.sh)")
    engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            pass
    except sa.exc.OperationalError as error:
        service_missing(f"PostgreSQL at {POSTGRES_URL_VAR} is unreachable: {error.orig}")
    finally:
        engine.dispose()
    return url


@pytest.fixture
def fresh_postgres() -> Iterator[str]:
    """A URL whose connections live in a schema of their own, dropped afterwards: tests stay independent."""
    url = postgres_url()
    schema = f"horae_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url)
    try:
        with admin.begin() as c:
            c.exec_driver_sql(f"CREATE SCHEMA {schema}")
        parsed = sa.make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield parsed.render_as_string(hide_password=False)
        with admin.begin() as c:
            c.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    finally:
        admin.dispose()


OpenStore = Callable[[], Store]

BACKENDS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.service)]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, OpenStore]]:
    """(name, open): `open()` opens another store on the same data (a new MemoryStore for the fake)."""
    opened: list[Store] = []
    url = {
        "memory": "",
        "sqlite": f"sqlite:///{tmp_path}/horae.db",
        "postgres": request.getfixturevalue("fresh_postgres") if request.param == "postgres" else "",
    }[request.param]

    def open_store() -> Store:
        store: Store = SqlStore(url) if url else MemoryStore()
        opened.append(store)
        return store

    yield request.param, open_store
    for store in opened:
        store.close()


@pytest.fixture
def store(backend: tuple[str, OpenStore]) -> Store:
    return backend[1]()
