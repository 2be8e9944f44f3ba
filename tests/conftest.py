"""Shared fixtures: databases (SQLite always, PostgreSQL when configured).

``CASSET_TEST_DATABASE_URL`` names a PostgreSQL server; when it is set, every test that
takes the ``engine`` fixture runs twice, once per database. Each pytest worker gets its
own PostgreSQL schema, and tables are emptied between tests. A PostgreSQL URL that does
not answer fails the run: it never falls back to SQLite silently.
"""

from __future__ import annotations

import logging
import os
import sys
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


def _stream_handlers() -> Iterator[logging.StreamHandler]:  # type: ignore[type-arg]
    """Every stream handler of every logger, those behind a queue listener included
    (Litestar's default logging config puts its console handler behind one)."""
    loggers = [logging.getLogger(), *(logging.getLogger(name)
                                      for name in list(logging.root.manager.loggerDict))]
    for logger in loggers:
        for handler in logger.handlers:
            listener = getattr(handler, "listener", None)
            for inner in (handler, *getattr(listener, "handlers", ())):
                if isinstance(inner, logging.StreamHandler):
                    yield inner


@pytest.fixture(autouse=True)
def _logging_outlives_captured_streams() -> Iterator[None]:
    """An app made during a test that captures output (``capsys``) configures logging
    with that test's stream, which pytest closes after it: the threads of services that
    later tests run (the rights index's refresh, say) then logged into a closed file
    ("--- Logging error ---"). After each test, handlers left on a closed stream write
    to the current ``sys.stderr`` again."""
    yield
    for handler in _stream_handlers():
        if getattr(handler.stream, "closed", False):
            handler.acquire()  # not setStream: it flushes the closed stream first
            try:
                handler.stream = sys.stderr
            finally:
                handler.release()


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


@pytest.fixture
def settings(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Settings for a service in a fresh data folder, examples on, limits generous."""
    from casset_rights.config import settings_from_env

    return settings_from_env({}, data_dir=tmp_path / "data", load_examples=True,
                             issuer="http://rights.test")


@pytest.fixture
def services(settings, engine: Engine):  # type: ignore[no-untyped-def]
    """Every service on the ``engine`` fixture's database (SQLite, then PostgreSQL)."""
    from casset_rights.services import load_examples, open_services

    container = open_services(settings, engine=engine, migrate=False)
    load_examples(container)
    yield container
    container.writer.close()


@pytest.fixture
def client(settings, services):  # type: ignore[no-untyped-def]
    """Litestar's test client on the real app, examples loaded."""
    from litestar.testing import TestClient

    from casset_rights.app import create_app

    app = create_app(msgspec_replace(settings, load_examples=False), services=services)
    with TestClient(app, base_url="http://rights.test") as test_client:
        yield test_client


def msgspec_replace(struct, **changes):  # type: ignore[no-untyped-def]
    import msgspec

    return msgspec.structs.replace(struct, **changes)
