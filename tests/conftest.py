"""Shared fixtures: databases (SQLite always, PostgreSQL when configured).

``CASSET_TEST_DATABASE_URL`` names a PostgreSQL server; when it is set, every test that
takes the ``engine`` fixture runs twice, once per database. Each pytest worker gets its
own PostgreSQL schema, and tables are emptied between tests. A PostgreSQL URL that does
not answer fails the run: it never falls back to SQLite silently.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from casset_rights.db.engine import make_engine
from casset_rights.db.tables import metadata

POSTGRES_URL = os.environ.get("CASSET_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("CASSET_TEST_REDIS_URL", "")

DATABASES = ["sqlite"] + (["postgres"] if POSTGRES_URL else [])


def _worker_schema() -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return f"test_{worker}_{os.getpid()}"


@pytest.fixture(scope="session")
def postgres_engine() -> Iterator[Engine]:
    if not POSTGRES_URL:
        pytest.skip("CASSET_TEST_DATABASE_URL is not set")
    schema = _worker_schema()
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(POSTGRES_URL, search_path=schema)
    metadata.create_all(engine)
    yield engine
    engine.dispose()
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


def _empty_tables(engine: Engine) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
            if names:
                conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(metadata.sorted_tables):
                conn.execute(table.delete())


@pytest.fixture(params=DATABASES)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine with every table created and empty: SQLite, then PostgreSQL if set."""
    if request.param == "postgres":
        pg = request.getfixturevalue("postgres_engine")
        _empty_tables(pg)
        yield pg
        return
    eng = make_engine(f"sqlite:///{tmp_path / 'casset.db'}")
    metadata.create_all(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:12]
