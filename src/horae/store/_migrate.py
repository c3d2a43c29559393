"""Bring a database to the newest schema with the Alembic scripts shipped in horae.store.migrations."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from horae.store._engine import WRITE

_MIGRATION_LOCK = 0x686F726165  # "horae": one pg_advisory_xact_lock key for concurrent upgrades


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", "horae.store:migrations")
    return config


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Migrate to `revision` in one transaction; safe when several processes open the store at once."""
    with engine.connect().execution_options(**{WRITE: True}) as connection, connection.begin():
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
