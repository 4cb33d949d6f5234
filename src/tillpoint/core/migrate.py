"""Alembic, driven from code: ``tillpoint db upgrade`` and ``serve`` call ``upgrade``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from tillpoint.core.db import Database, is_sqlite
from tillpoint.core.errors import InvariantViolation

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@contextmanager
def _migrating(db: Database) -> Iterator[Connection]:
    """A connection to migrate on, in one transaction. On SQLite, foreign keys are off
    while it runs (batch mode rebuilds a table that others reference: dropping the old
    one would fail its rows' references) and checked in full before it commits."""
    with db.engine.connect() as conn:
        raw = conn.connection.driver_connection if is_sqlite(db.url) else None
        if raw is not None:  # outside any transaction, or SQLite ignores it
            raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with conn.begin():
                yield conn
                if raw is not None:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if broken:
                        raise InvariantViolation(
                            "db.foreign_keys", "A migration left broken references: {rows}",
                            rows=broken[:5],
                        )  # fmt: skip
        finally:
            if raw is not None:
                raw.execute("PRAGMA foreign_keys=ON")


def upgrade(db: Database, revision: str = "head") -> None:
    with _migrating(db) as conn:
        command.upgrade(alembic_config(conn), revision)


def downgrade(db: Database, revision: str) -> None:
    with _migrating(db) as conn:
        command.downgrade(alembic_config(conn), revision)


@cache
def head_revision() -> str | None:
    """The newest revision of the migrations shipped with this version: read once a
    process (Alembic compiles every migration's source to find it, ~50 ms)."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(db: Database) -> str | None:
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
