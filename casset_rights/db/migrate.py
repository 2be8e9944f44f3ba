"""Running Alembic migrations from code (the CLI, the serve command and the tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, text

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def one_at_a_time(connection: Connection) -> None:
    """On PostgreSQL, wait in this transaction until no other process migrates this
    schema (a transaction-level advisory lock, keyed by the schema's name). Every API
    worker migrates as it starts: without the lock, two workers starting on a new
    database both created Alembic's version table, and the one that lost the race
    died at start, leaving the service one worker short. The one that waits then finds
    the schema at its revision and changes nothing. SQLite takes its write lock at the
    first write and needs nothing more."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(hashtextextended("
                                "'casset_rights.migrate:' || current_schema(), 0))"))


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database schema to ``revision`` (default: the newest)."""
    config = alembic_config(engine)
    with engine.begin() as connection:
        one_at_a_time(connection)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Take the database schema back to ``revision`` (``-1``: one step)."""
    config = alembic_config(engine)
    with engine.begin() as connection:
        one_at_a_time(connection)
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def revision(engine: Engine, message: str) -> None:
    """Autogenerate a new migration from the tables (a development command)."""
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.revision(config, message=message, autogenerate=True)
